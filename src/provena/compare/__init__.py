"""``provena compare A B``: is model B better, worse or no different from model A?

Both models answer the same test and gold records, scored as the evaluate stage scores a model
(:func:`provena.evaluate.select`, :func:`~provena.evaluate.score_model`: training's prompts and
chat template, response-token perplexity, greedy answers, the task scores of
:mod:`provena.scores`). The records are paired by id, and every difference B - A gets a paired
bootstrap interval and a verdict (:mod:`.stats`):

- per split and family: each task score (exact match, micro-F1, ROUGE-L) and perplexity;
- per split and audited group (``audit_data.attributes``): the per-example quality evaluate's
  fairness check uses (:func:`provena.evaluate.fairness.per_example_quality`);
- per split and attribute: the quality gap between the best and the worst group large enough to
  judge (``evaluate.fairness.min_group_size``, the unknown group left out), lower is better;
- privacy probes (:func:`provena.evaluate.probes.privacy`, when the training split and the
  scrub_pii ledger are there): each probe's value for both models, and B ``worse`` where B fails a
  threshold A passes (a probe is one aggregate over its own prompts: no interval);
- the answers whose quality differs most, side by side (``compare.differing_answers``).

A and B are adapter folders (``adapter_model.safetensors``; the base from ``--base`` or the
adapter's ``train_config.json``), export folders (``export.json``, loaded by
``provena.export.load_export``) or plain Hugging Face model folders (``config.json``).

:func:`compare_answers` (``provena compare --answers``) compares two answer files instead, with
the human ratings ``provena review import`` wrote (:mod:`.answers`).

The result says "B is not worse" when no gated comparison (``compare.gate``) is ``worse``: the
command exits 0, else 1 (2 on bad input).
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provena import reports
from provena.compare.answers import compare_answers
from provena.compare.stats import (
    MICRO_F1,
    PERPLEXITY,
    WORSE,
    compare,
    gap_measure,
    gate,
    mean_of,
)
from provena.config import CompareConfig, EvaluateConfig
from provena.errors import UserError
from provena.evaluate import Selection, score_model, select, summarize_model
from provena.evaluate.fairness import UNKNOWN, per_example_quality
from provena.evaluate.groups import EXTRACTION, family_of, scoring
from provena.io import read_records
from provena.records import Record
from provena.review import prompt_text

log = logging.getLogger(__name__)
LABELS = ("A", "B")
EXTRACTION_SCORES = ("json_valid", "age_em", "sex_em")
ANSWER_CHARS = 600  # an answer shown side by side is cut here


# ------------------------------------------------------------------------------- the models


def model_kind(path: Path) -> str:
    """adapter, export or model: what the folder holds; a one-line error naming it else."""
    if not path.is_dir():
        raise UserError(f"{path}: no such folder (an adapter, export or model folder)")
    if (path / "export.json").is_file():
        return "export"
    if (path / "adapter_model.safetensors").is_file():
        return "adapter"
    if (path / "config.json").is_file():
        return "model"
    raise UserError(
        f"{path}: neither an adapter (adapter_model.safetensors), an export (export.json) nor "
        "a model folder (config.json)"
    )


def fetch_experiment(name: str, root: Path, dest: Path) -> tuple[Path, Path]:
    """(adapter, base) folders of the DVC experiment (or Git revision) ``name`` of the project
    at ``root``, copied out of DVC's cache into ``dest`` (dvc.api.DVCFileSystem takes an
    experiment name as its rev); a one-line error naming it where there is none."""
    from dvc.api import DVCFileSystem

    try:
        fs = DVCFileSystem(str(root), rev=name)
        parts = [p for p in ("models/adapter", "models/base") if not fs.isdir(p)]
    except Exception as err:  # dvc raises several kinds for an unknown revision
        raise UserError(
            f"{name}: no such folder, and no DVC experiment or revision of that name in "
            f"{root} ({type(err).__name__})"
        ) from None
    if parts:
        raise UserError(f"{name}: the experiment holds no {' or '.join(parts)}")
    out = dest / re.sub(r"[^\w.-]+", "_", name)
    for part in ("models/adapter", "models/base"):
        fs.get(part, str(out / part), recursive=True)
    return out / "models" / "adapter", out / "models" / "base"


def load_model(path: Path, base_dir: Path, quantization: str) -> tuple[Any, Any]:
    """(model, tokenizer) of an adapter, export or model folder, offline."""
    kind = model_kind(path)
    if kind == "adapter":
        from provena.evaluate import load_adapter

        return load_adapter(base_dir, path, quantization)
    if kind == "export":
        try:
            from provena.export import load_export  # type: ignore[import-not-found]
        except ImportError:
            raise UserError(
                f"{path}: an export folder, and this install has no provena.export to load it"
            ) from None
        return load_export(path)
    from provena.modeling import model

    lm, tok = model.load_base(path, model.resolve_precision(quantization))
    lm.config.use_cache = True
    return lm, tok


@dataclass
class Scored:
    """One model on one split: what was scored, NLL per perplexity example, answer rows."""

    sel: Selection
    nll: list[tuple[float, int]]
    rows: list[dict[str, Any]]


def read_split(path: Path) -> list[Record]:
    if not path.is_file():
        raise UserError(f"{path}: no such split file (run the split stage, or pass --test/--gold)")
    records = [r for batch in read_records(path) for r in batch]
    if not records:
        raise UserError(f"{path}: the split is empty")
    return records


def score_splits(
    lm: Any,
    tok: Any,
    splits: dict[str, list[Record]],
    ecfg: EvaluateConfig,
    *,
    label: str,
    max_seq_len: int,
    use_chat_template: bool,
) -> dict[str, Scored]:
    """One model on every split, as evaluate scores a model."""
    lm.eval()
    out = {}
    for split, records in splits.items():
        sel = select(
            records, tok, ecfg, max_seq_len=max_seq_len, use_chat_template=use_chat_template
        )
        nll, rows = score_model(lm, tok, sel, ecfg, split=split, name=label)
        out[split] = Scored(sel, nll, rows)
        log.info("%s / %s: %d answers, %d perplexity examples", label, split, len(rows), len(nll))
    return out


# ------------------------------------------------------------------------ the comparisons


def _group(rec: Record, attr: str) -> str:
    value = (rec.get("meta") or {}).get(attr)
    return UNKNOWN if value in (None, "") else str(value)


def _columns(rows: list[dict[str, Any]], names: Sequence[str]) -> dict[str, list[float]]:
    return {n: [float(r["metrics"][n]) for r in rows] for n in names}


def _paired_rows(
    a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(A's row, B's row) of each record both answered, in A's order."""
    by_id = {r["id"]: r for r in b}
    return [(r, by_id[r["id"]]) for r in a if r["id"] in by_id]


def _quality(row: dict[str, Any]) -> float | None:
    return per_example_quality(row)


def family_comparisons(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
    ppl: dict[str, tuple[list[tuple[float, int]], list[tuple[float, int]]]],
    ecfg: EvaluateConfig,
    cfg: CompareConfig,
) -> dict[str, dict[str, Any]]:
    """family -> metric -> comparison (task scores of the answered pairs, perplexity of the
    paired references)."""
    out: dict[str, dict[str, Any]] = {}
    families = sorted({r["family"] for r, _ in pairs} | set(ppl))
    for fam in families:
        entry: dict[str, Any] = {}
        fam_pairs = [(x, y) for x, y in pairs if x["family"] == fam]
        if fam_pairs:
            ra, rb = [x for x, _ in fam_pairs], [y for _, y in fam_pairs]
            if scoring(fam, ecfg)[0] == EXTRACTION:
                for name in EXTRACTION_SCORES:
                    entry[name] = compare(
                        mean_of(name), _columns(ra, [name]), _columns(rb, [name]), cfg
                    )
                cols = MICRO_F1.columns
                entry[MICRO_F1.name] = compare(
                    MICRO_F1, _columns(ra, cols), _columns(rb, cols), cfg
                )
            else:
                entry["rouge_l"] = compare(
                    mean_of("rouge_l"), _columns(ra, ["rouge_l"]), _columns(rb, ["rouge_l"]), cfg
                )
        if fam in ppl:
            entry["perplexity"] = perplexity_comparison(*ppl[fam], cfg)
        out[fam] = entry
    return out


def perplexity_comparison(
    a: list[tuple[float, int]], b: list[tuple[float, int]], cfg: CompareConfig
) -> dict[str, Any]:
    def cols(x: list[tuple[float, int]]) -> dict[str, list[float]]:
        return {"nll": [s for s, _ in x], "tokens": [float(c) for _, c in x]}

    return compare(PERPLEXITY, cols(a), cols(b), cfg)


def group_comparisons(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
    records: dict[str, Record],
    attributes: Sequence[str],
    min_group_size: int,
    cfg: CompareConfig,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(attribute -> group -> comparison of the per-example quality, attribute -> comparison of
    the quality gap between the best and the worst group judged)."""
    scored = [
        (x, y, qa, qb)
        for x, y in pairs
        if (qa := _quality(x)) is not None and (qb := _quality(y)) is not None
    ]
    groups_out: dict[str, dict[str, Any]] = {}
    gaps: dict[str, Any] = {}
    for attr in attributes:
        labels = [_group(records[x["id"]], attr) for x, _, _, _ in scored]
        by_attr: dict[str, Any] = {}
        for g in sorted(set(labels)):
            qa = [s[2] for s, lab in zip(scored, labels, strict=True) if lab == g]
            qb = [s[3] for s, lab in zip(scored, labels, strict=True) if lab == g]
            by_attr[g] = compare(mean_of("quality"), {"quality": qa}, {"quality": qb}, cfg)
        groups_out[attr] = by_attr
        judged = [
            g for g in sorted(set(labels)) if g != UNKNOWN and labels.count(g) >= min_group_size
        ]
        if len(judged) < 2:
            gaps[attr] = {
                "metric": "quality_gap",
                "verdict": "not judged",
                "groups": judged,
                "reason": f"fewer than two groups with {min_group_size} or more paired answers "
                "(evaluate.fairness.min_group_size) and the attribute recorded",
            }
            continue
        keep = [i for i, lab in enumerate(labels) if lab in judged]
        code = [float(judged.index(labels[i])) for i in keep]
        measure = gap_measure([float(k) for k in range(len(judged))])
        gaps[attr] = compare(
            measure,
            {"quality": [scored[i][2] for i in keep], "group": code},
            {"quality": [scored[i][3] for i in keep], "group": code},
            cfg,
        ) | {"groups": judged}
    return groups_out, gaps


def differing_answers(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]], records: dict[str, Record], n: int
) -> list[dict[str, Any]]:
    """The ``n`` pairs whose answers' quality differs most (then differ at all), side by side;
    text from the scrubbed split files, cut at :data:`ANSWER_CHARS`."""

    def cut(text: str) -> str:
        return text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS] + "…"

    scored = []
    for x, y in pairs:
        if x["prediction"] == y["prediction"]:
            continue
        qa, qb = _quality(x), _quality(y)
        gap = abs(qb - qa) if qa is not None and qb is not None else 0.0
        scored.append((gap, x, y, qa, qb))
    scored.sort(key=lambda t: (-t[0], t[1]["split"], t[1]["id"]))
    return [
        {
            "split": x["split"],
            "id": x["id"],
            "family": x["family"],
            "prompt": cut(prompt_text(records[x["id"]])),
            "reference": cut(str(x["reference"] or "")),
            "a": cut(str(x["prediction"])),
            "b": cut(str(y["prediction"])),
            "quality_a": None if qa is None else round(qa, 6),
            "quality_b": None if qb is None else round(qb, 6),
        }
        for _, x, y, qa, qb in scored[:n]
    ]


def privacy_comparison(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Each privacy probe of both models (privacy_probes.json's findings): B is worse on a
    probe that fails its threshold where A's passes, better the other way round."""
    fa = {f["check"]: f for f in a.get("findings", [])}
    fb = {f["check"]: f for f in b.get("findings", [])}
    out = {}
    for check in sorted(fa.keys() & fb.keys()):
        va, vb = fa[check].get("verdict"), fb[check].get("verdict")
        v = "no difference"
        if vb == "fail" and va != "fail":
            v = WORSE
        elif va == "fail" and vb != "fail":
            v = "better"
        out[check] = {
            "metric": check,
            "a": fa[check].get("value"),
            "b": fb[check].get("value"),
            "threshold": fa[check].get("threshold"),
            "verdict_a": va,
            "verdict_b": vb,
            "verdict": v,
        }
    return {"verdict_a": a.get("verdict"), "verdict_b": b.get("verdict"), "checks": out}


def compare_scored(
    a: dict[str, Scored],
    b: dict[str, Scored],
    splits: dict[str, list[Record]],
    ecfg: EvaluateConfig,
    cfg: CompareConfig,
    *,
    attributes: Sequence[str],
) -> dict[str, Any]:
    """The comparison of two scored models (pure: no model, no file)."""
    out: dict[str, Any] = {"splits": {}, "models": {"A": {}, "B": {}}, "differing_answers": []}
    for split, records in splits.items():
        by_id = {r["id"]: r for r in records}
        sa, sb = a[split], b[split]
        pairs = _paired_rows(sa.rows, sb.rows)
        nll_b = {r["id"]: x for r, x in zip(sb.sel.kept, sb.nll, strict=True)}
        ppl_pairs = [
            (family_of(r), x, nll_b[r["id"]])
            for r, x in zip(sa.sel.kept, sa.nll, strict=True)
            if r["id"] in nll_b
        ]
        ppl: dict[str, tuple[list, list]] = {}
        for fam, x, y in ppl_pairs:
            ppl.setdefault(fam, ([], []))
            ppl[fam][0].append(x)
            ppl[fam][1].append(y)
        groups, gaps = group_comparisons(
            pairs, by_id, attributes, ecfg.fairness.min_group_size, cfg
        )
        out["splits"][split] = {
            "records": len(records),
            "paired_answers": len(pairs),
            "paired_perplexity": len(ppl_pairs),
            "perplexity": perplexity_comparison(
                [x for _, x, _ in ppl_pairs], [y for _, _, y in ppl_pairs], cfg
            ),
            "families": family_comparisons(pairs, ppl, ecfg, cfg),
            "groups": groups,
            "fairness_gaps": gaps,
        }
        for label, s in (("A", sa), ("B", sb)):
            out["models"][label][split] = summarize_model(s.rows, s.nll, s.sel, ecfg)
        out["differing_answers"] += differing_answers(pairs, by_id, cfg.differing_answers)
    out["differing_answers"] = sorted(
        out["differing_answers"],
        key=lambda d: -abs((d["quality_b"] or 0.0) - (d["quality_a"] or 0.0)),
    )[: cfg.differing_answers]
    return out


@dataclass(frozen=True)
class PrivacyInputs:
    """What the privacy probes read: the train split, scrub_pii's ledger rows, its key and the
    PII detector (as the evaluate stage builds them)."""

    train: list[Record]
    ledger: list[dict[str, Any]]
    key: bytes
    detect: Callable[[str], list[tuple[str, str]]]


def compare_models(
    path_a: Path,
    path_b: Path,
    split_files: dict[str, Path],
    ecfg: EvaluateConfig,
    cfg: CompareConfig,
    *,
    base_dir: Path | Mapping[str, Path],
    quantization: str,
    max_seq_len: int,
    use_chat_template: bool,
    attributes: Sequence[str],
    privacy: PrivacyInputs | None = None,
    privacy_skipped: str | None = None,
) -> dict[str, Any]:
    """Load A, score it, free it; the same for B; compare (see the module)."""
    for p in (path_a, path_b):
        model_kind(p)  # both folders checked before the long work
    splits = {name: read_split(p) for name, p in split_files.items()}
    if cfg.max_examples is not None:
        ecfg = ecfg.model_copy(update={"max_examples": cfg.max_examples})
    scored: dict[str, dict[str, Scored]] = {}
    probes: dict[str, dict[str, Any]] = {}
    for label, path in zip(LABELS, (path_a, path_b), strict=True):
        base = base_dir if isinstance(base_dir, Path) else base_dir[label]
        lm, tok = load_model(path, base, quantization)
        scored[label] = score_splits(
            lm, tok, splits, ecfg, label=label, max_seq_len=max_seq_len,
            use_chat_template=use_chat_template,
        )  # fmt: skip
        if privacy is not None:
            from provena.evaluate import probes as model_probes

            calls = model_probes.ModelCalls(
                lm, tok, batch_size=ecfg.batch_size, max_seq_len=max_seq_len,
                use_chat_template=use_chat_template,
            )  # fmt: skip
            probes[label] = model_probes.privacy(
                calls, privacy.train, privacy.ledger, privacy.key, privacy.detect, ecfg
            )
        del lm, tok
        gc.collect()
    result = {
        "mode": "models",
        "a": {"path": str(path_a), "kind": model_kind(path_a)},
        "b": {"path": str(path_b), "kind": model_kind(path_b)},
        "splits_files": {k: str(v) for k, v in split_files.items()},
        "params": cfg.model_dump(),
        **compare_scored(scored["A"], scored["B"], splits, ecfg, cfg, attributes=attributes),
    }
    if privacy is not None:
        result["privacy"] = privacy_comparison(probes["A"], probes["B"])
    else:
        result["privacy_skipped"] = privacy_skipped or "not asked for"
    result["outcome"] = gate(result, cfg)
    return result


# ------------------------------------------------------------------------------- the page


VERDICT_CLASS = {
    "better": "pass",
    "worse": "fail",
    "no difference": "",
    "not judged": "inconclusive",
}


def render_html(result: dict[str, Any]) -> str:
    """The self-contained page of a comparison (``compare.html.j2``)."""
    return reports.render("compare.html.j2", r=result, cls=VERDICT_CLASS)


def write(result: dict[str, Any], out: Path) -> Path:
    """``out`` (JSON) and the page next to it (same name, .html); returns the page's path."""
    from provena.io import atomic_open, write_json

    write_json(out, result)
    page = out.with_suffix(".html")
    with atomic_open(page) as fh:
        fh.write(render_html(result))
    return page


__all__ = [
    "PrivacyInputs",
    "compare_answers",
    "compare_models",
    "compare_scored",
    "gate",
    "render_html",
    "write",
]
