"""evaluate: the adapter against its base on the test and gold splits, with deltas.

Both models are scored the same way. Perplexity is ``exp`` of the mean negative log-likelihood
over response tokens, with the prompts, chat template and labels of training
(:mod:`provena.modeling.data`). On at most ``max_examples`` examples per family and split, answers
are generated (batched, left padding, greedy by default) and scored: for the extraction
families, the answer is parsed as JSON (invalid JSON scores zero), age and sex are compared
exactly and the ICD-10 code sets by micro-F1; for the free-text families, ROUGE-L F1 against the
reference. Records without a family form the group ``(no family)``, scored like a family not
listed, as ``evaluate.unlisted_families`` says (free text by default; :mod:`.groups`). The base
is the same model with the adapter switched off (``disable_adapter``).

Each group's answers are measured first (:mod:`.answers`): where they are constant, empty or
nearly so, the group is not evaluable for that model, its task scores are withheld (its
perplexity, which scores the references, stays) and the probes over it are inconclusive.

The metric functions are pure and small; :func:`evaluate_records` is the core (models in,
metrics and per-example rows out, no files); :func:`run` reads and writes, and renders the
model page (``reports/model.html``, :mod:`.report`) from what it wrote.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from provena.config import EvaluateConfig, ScrubPiiConfig
from provena.errors import UserError
from provena.evaluate import probes as model_probes
from provena.evaluate.answers import SpreadRule, spread
from provena.evaluate.generation import generate, response_nll
from provena.evaluate.groups import EXTRACTION, METRICS, family_of, generated_groups, scoring
from provena.evaluate.report import render_model_page
from provena.io import atomic_open, read_jsonl, read_records, write_json, write_jsonl
from provena.modeling import data, model
from provena.pii.settings import detector, secret_key
from provena.records import Record, StageResult, stage_metrics
from provena.scores import extraction_scores, f1, perplexity, rouge_l

STAGE = "evaluate"
MODELS = ("base", "adapter")
log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ core


def pick(records: list[Record], families: Iterable[str], n: int) -> list[Record]:
    """At most ``n`` records per family, the first by id (ids are hashes: an even spread)."""
    out = []
    for fam in families:
        out += sorted((r for r in records if family_of(r) == fam), key=lambda r: r["id"])[:n]
    return out


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def _perplexity(nll: list[tuple[float, int]]) -> float | None:
    """Perplexity over ``nll``; None without a response token (nothing to measure)."""
    tokens = sum(c for _, c in nll)
    return round(perplexity(sum(n for n, _ in nll), tokens), 6) if tokens else None


#: the task scores of a group, withheld where its answers are not evaluable
TASK_SCORES = ("json_valid", "age_em", "sex_em", "icd10_micro_f1", "rouge_l")


def _summary(
    rows: list[dict[str, Any]],
    nll: list[tuple[float, int]],
    families: list[str],
    shape: Any,
    rule: SpreadRule,
) -> dict[str, Any]:
    """Overall and per-family metrics of one model on one split; a family's generated answers
    are measured (``answers``) and, when not evaluable, its task scores are withheld."""
    summ: dict[str, Any] = {"perplexity": _perplexity(nll), "families": {}}
    for fam in families:
        fam_nll = [x for x, f in zip(nll, shape["nll_families"], strict=True) if f == fam]
        fam_rows = [r for r in rows if r["family"] == fam]
        entry: dict[str, Any] = {
            "perplexity": _perplexity(fam_nll),
            "perplexity_examples": len(fam_nll),
            "generated": len(fam_rows),
        }
        ms = [r["metrics"] for r in fam_rows]
        if fam in shape["extraction"] and ms:
            tp, fp, fn = (sum(m[k] for m in ms) for k in ("icd10_tp", "icd10_fp", "icd10_fn"))
            entry |= {
                "json_valid": _mean([m["json_valid"] for m in ms]),
                "age_em": _mean([m["age_em"] for m in ms]),
                "sex_em": _mean([m["sex_em"] for m in ms]),
                "icd10_micro_f1": round(f1(tp, fp, fn), 6),
            }
        elif ms:
            entry["rouge_l"] = _mean([m["rouge_l"] for m in ms])
        if fam_rows:
            answers = spread(
                [r["prediction"] for r in fam_rows], [r["reference"] for r in fam_rows], rule
            )
            entry["answers"] = answers
            if answers["evaluable"] is False:
                withheld = [k for k in TASK_SCORES if k in entry]
                for k in withheld:
                    del entry[k]
                entry["not_evaluable"] = {"reason": answers["reason"], "withheld": withheld}
        summ["families"][fam] = entry
    return summ


def group_scoring(
    records: list[Record],
    families: list[str],
    shape: dict[str, Any],
    generated: dict[str, int],
    cfg: EvaluateConfig,
) -> dict[str, dict[str, Any]]:
    """Per group of one split: its records, how it is scored (``scored_as``, ``metrics``) and
    why; ``not_judged`` with the reason where a metric it should get has nothing to measure."""
    out: dict[str, dict[str, Any]] = {}
    for fam in families:
        kind, why = scoring(fam, cfg)
        entry: dict[str, Any] = {
            "records": sum(1 for r in records if family_of(r) == fam),
            "scored_as": kind,
            "metrics": list(METRICS[kind]),
            "why": why,
        }
        missing = []
        if fam not in shape["nll_families"]:
            missing.append(
                "perplexity: no example of the group is scored (perplexity_max_examples, or "
                "every prompt fills train.max_seq_len)"
            )
        if kind != "perplexity" and not generated.get(fam):
            missing.append("answers: every prompt of the group fills train.max_seq_len")
        if missing:
            entry["not_judged"] = "; ".join(missing)
        out[fam] = entry
    return out


def _delta(a: Any, b: Any) -> Any:
    """adapter - base for every number the two summaries share (nested like them)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _delta(a[k], b[k]) for k in a if k in b and _delta(a[k], b[k]) is not None}
    if isinstance(a, float) and isinstance(b, float) and math.isfinite(a) and math.isfinite(b):
        return round(a - b, 6)
    return None


@dataclass(frozen=True)
class Selection:
    """The examples of one split every model is scored on, chosen once (as :func:`pick` and
    training's prompts decide), so that two models are scored on the same ones."""

    families: list[str]  # every group of the split, sorted
    kept: list[Record]  # the records scored for perplexity ...
    examples: list[data.Example]  # ... and their tokenized examples
    dropped: int  # records left out of perplexity: the prompt fills max_seq_len
    generate: list[tuple[Record, str]]  # records whose answers are generated, with prompts
    extraction: set[str]  # the families scored as JSON extraction

    @property
    def shape(self) -> dict[str, Any]:
        return {"nll_families": [family_of(r) for r in self.kept], "extraction": self.extraction}

    def generated(self) -> dict[str, int]:
        """Generated examples per family."""
        out: dict[str, int] = {}
        for rec, _ in self.generate:
            out[family_of(rec)] = out.get(family_of(rec), 0) + 1
        return out


def select(
    records: list[Record],
    tokenizer: Any,
    cfg: EvaluateConfig,
    *,
    max_seq_len: int,
    use_chat_template: bool,
) -> Selection:
    """The perplexity examples (the first ``perplexity_max_examples`` by id) and the prompts to
    answer (:func:`pick`) of one split; a prompt that fills ``max_seq_len`` is left out, as in
    training."""
    ppl_records = sorted(records, key=lambda r: r["id"])[: cfg.perplexity_max_examples]
    examples, kept = [], []
    for rec in ppl_records:
        prompt, response, _ = data.format_example(rec, tokenizer, use_chat_template)
        ex = data.tokenize_example(prompt, response, tokenizer, max_seq_len)
        if ex is not None:
            examples.append(ex)
            kept.append(rec)
    families = sorted({family_of(r) for r in records})
    gen_records = []
    for rec in pick(records, generated_groups(families, cfg), cfg.max_examples):
        prompt, _, _ = data.format_example(rec, tokenizer, use_chat_template)
        n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if n_prompt < max_seq_len:  # as in training: a prompt that fills the row is left out
            gen_records.append((rec, prompt))
    extraction = {f for f in families if scoring(f, cfg)[0] == EXTRACTION}
    return Selection(
        families, kept, examples, len(ppl_records) - len(examples), gen_records, extraction
    )


def score_model(
    lm: Any, tokenizer: Any, sel: Selection, cfg: EvaluateConfig, *, split: str, name: str
) -> tuple[list[tuple[float, int]], list[dict[str, Any]]]:
    """One model on one split's selection: (NLL sum, response tokens) per perplexity example,
    and one prediction row per generated answer (its scores, and its NLL where scored)."""
    device = str(next(lm.parameters()).device)
    torch.manual_seed(cfg.seed)
    nll = response_nll(lm, sel.examples, tokenizer.pad_token_id, cfg.batch_size, device)
    answers = generate(
        lm,
        tokenizer,
        [p for _, p in sel.generate],
        max_new_tokens=cfg.max_new_tokens,
        batch_size=cfg.batch_size,
        do_sample=cfg.do_sample,
        temperature=cfg.temperature,
    )
    nll_by_id = {r["id"]: x for r, x in zip(sel.kept, nll, strict=True)}
    rows = []
    for (rec, _), answer in zip(sel.generate, answers, strict=True):
        fam = family_of(rec)
        if fam in sel.extraction:
            metrics = extraction_scores(answer, rec["output"])
        else:
            metrics = {"rouge_l": rouge_l(answer, rec["output"])}
        if rec["id"] in nll_by_id:
            s, c = nll_by_id[rec["id"]]
            metrics |= {"nll": round(s, 6), "tokens": c, "perplexity": perplexity(s, c)}
        rows.append(
            {
                "split": split,
                "model": name,
                "id": rec["id"],
                "family": fam,
                "gender": rec["meta"].get("gender"),
                "age_band": rec["meta"].get("age_band"),
                "prediction": answer,
                "reference": rec["output"],
                "metrics": metrics,
            }
        )
    return nll, rows


def summarize_model(
    rows: list[dict[str, Any]],
    nll: list[tuple[float, int]],
    sel: Selection,
    cfg: EvaluateConfig,
) -> dict[str, Any]:
    """Overall and per-family metrics of one model on one split, as metrics/evaluate.json
    holds them for the base and the adapter (answers measured, scores withheld where the
    answers are not evaluable)."""
    return _summary(rows, nll, sel.families, sel.shape, SpreadRule.of(cfg))


def evaluate_records(
    peft_model: Any,
    tokenizer: Any,
    records: list[Record],
    cfg: EvaluateConfig,
    *,
    split: str,
    max_seq_len: int,
    use_chat_template: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics of the base (adapter off) and the adapter on one split, with their deltas, and
    one row per generated example and model."""
    sel = select(
        records, tokenizer, cfg, max_seq_len=max_seq_len, use_chat_template=use_chat_template
    )
    results: dict[str, Any] = {
        "records": len(records),
        "perplexity_examples": len(sel.examples),
        "perplexity_dropped_prompt_too_long": sel.dropped,
        "scoring": group_scoring(records, sel.families, sel.shape, sel.generated(), cfg),
    }
    rows: list[dict[str, Any]] = []
    peft_model.eval()
    for name in MODELS:
        started = time.perf_counter()
        with peft_model.disable_adapter() if name == "base" else nullcontext():
            nll, model_rows = score_model(peft_model, tokenizer, sel, cfg, split=split, name=name)
        results[name] = summarize_model(model_rows, nll, sel, cfg)
        results[name]["seconds"] = round(time.perf_counter() - started, 2)
        rows += model_rows
        log.info("%s / %s: perplexity %s", split, name, results[name]["perplexity"])
    results["delta"] = _delta(
        {k: v for k, v in results["adapter"].items() if k != "seconds"}, results["base"]
    )
    return results, rows


# -------------------------------------------------------------------------------------- I/O


@dataclass(frozen=True)
class EvaluatePaths:
    """Every file the stage reads or writes (from dvc.yaml)."""

    splits: dict[str, Path]  # split name -> record file (test, gold)
    base_dir: Path
    adapter_dir: Path
    predictions: Path
    metrics: Path
    train: Path  # the train split: canaries, PII probe prompts, verbatim-overlap index
    pii_ledger: Path  # scrub_pii's ledger: keyed hashes of the raw values it replaced
    model_fairness: Path  # audits/model_fairness.json
    privacy_probes: Path  # audits/privacy_probes.json
    model_page: Path | None = None  # reports/model.html, rendered from the four outputs above


def base_folder(base_dir: Path, adapter_dir: Path) -> Path:
    """The base's weights: models/base for the tiny base, else the folder training used."""
    if (base_dir / "config.json").is_file():
        return base_dir
    cfg_file = adapter_dir / "train_config.json"
    if cfg_file.is_file():
        path = Path(json.loads(cfg_file.read_text())["resolved"]["base_model_path"])
        if (path / "config.json").is_file():
            return path
    raise UserError(f"{base_dir}: no base model (run the train stage first)")


def load_adapter(base_dir: Path, adapter_dir: Path, quantization: str) -> tuple[Any, Any]:
    """(base wrapped in the trained adapter, tokenizer), from local folders, safetensors only."""
    from peft import PeftModel

    if not (adapter_dir / "adapter_model.safetensors").is_file():
        raise UserError(f"{adapter_dir}: no adapter_model.safetensors (run the train stage)")
    precision = model.resolve_precision(quantization)
    base, tokenizer = model.load_base(base_folder(base_dir, adapter_dir), precision)
    base.config.use_cache = True  # training turned it off; generation wants it
    lm = PeftModel.from_pretrained(
        base, adapter_dir, is_trainable=False, local_files_only=True, use_safetensors=True
    )
    return lm, tokenizer


def _read_split(path: Path, split: str) -> list[Record]:
    if not path.is_file():
        raise UserError(f"{path}: no such split file (run the split stage first)")
    records = [r for batch in read_records(path) for r in batch]
    if not records:
        raise UserError(f"{path}: the {split} split is empty")
    return records


def not_evaluable(splits: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (split, model, family) whose answers are not evaluable, with their spread."""
    out = []
    for split, res in splits.items():
        for name in MODELS:
            for fam, e in res.get(name, {}).get("families", {}).items():
                if "not_evaluable" in e:
                    a = e["answers"]
                    out.append(
                        {
                            "split": split,
                            "model": name,
                            "family": fam,
                            "distinct_share": a["distinct_share"],
                            "empty_share": a["empty_share"],
                            "reason": e["not_evaluable"]["reason"],
                        }
                    )
    return out


def pii_detector(scrub_pii: ScrubPiiConfig) -> Any:
    """text -> (entity type, value) of each PII span, with scrub_pii's settings and the strict
    profile whatever the data's profiles: the widest net for any PII the model emits."""
    det = detector(scrub_pii, "strict")
    return lambda text: [(d.entity_type, text[d.start : d.end]) for d in det.detect([text])[0]]


def run(
    cfg: EvaluateConfig,
    paths: EvaluatePaths,
    *,
    quantization: str,
    max_seq_len: int,
    use_chat_template: bool,
    scrub_pii: ScrubPiiConfig,
    attributes: list[str],
    intersections: list[list[str]],
) -> StageResult:
    """Run the stage; returns its ``metrics``, and as its ``report`` the model fairness and
    privacy probe reports by name (evaluation keeps no records: the books are empty).

    Borrowed settings, named: ``quantization``, ``max_seq_len`` and ``use_chat_template`` from
    train (the model is loaded and prompted as training did); the ``scrub_pii`` section (its
    detector and key, for the PII probe); the audit's ``attributes`` and ``intersections``
    (the groups model fairness compares)."""
    started = time.perf_counter()
    if not paths.pii_ledger.is_file():  # checked before the long work, not after it
        raise UserError(f"{paths.pii_ledger}: no scrub_pii ledger (run the scrub_pii stage first)")
    lm, tokenizer = load_adapter(paths.base_dir, paths.adapter_dir, quantization)
    splits: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    split_records: dict[str, list[Record]] = {}
    for split, path in paths.splits.items():
        records = split_records[split] = _read_split(path, split)
        result, split_rows = evaluate_records(
            lm,
            tokenizer,
            records,
            cfg,
            split=split,
            max_seq_len=max_seq_len,
            use_chat_template=use_chat_template,
        )
        splits[split] = result
        rows += split_rows
    calls = model_probes.ModelCalls(
        lm,
        tokenizer,
        batch_size=cfg.batch_size,
        max_seq_len=max_seq_len,
        use_chat_template=use_chat_template,
    )
    silent = not_evaluable(splits)
    for g in silent:
        log.warning(
            "%s / %s / %s: not evaluable: %s", g["split"], g["model"], g["family"], g["reason"]
        )
    log.info("model fairness: quality by group, counterfactual gender swaps")
    fairness = model_probes.fairness(
        calls,
        rows,
        split_records.get("test", []),
        cfg,
        attributes=attributes,
        intersections=intersections,
        not_evaluable={(g["split"], g["model"], g["family"]): g["reason"] for g in silent},
    )
    log.info("privacy probes: canaries, scrubbed PII, adversarial prompts")
    privacy = model_probes.privacy(
        calls,
        _read_split(paths.train, "train"),
        list(read_jsonl(paths.pii_ledger)),
        secret_key(scrub_pii)[0],
        pii_detector(scrub_pii),
        cfg,
    )
    metrics = stage_metrics(
        STAGE,
        splits=splits,
        generated=len(rows),
        not_evaluable=silent,
        answer_thresholds=SpreadRule.of(cfg).asdict(),
        model_fairness=fairness["verdict"],
        privacy_probes=privacy["verdict"],
        wall_seconds=round(time.perf_counter() - started, 2),
    )
    write_jsonl(paths.predictions, rows)
    write_json(paths.model_fairness, fairness)
    write_json(paths.privacy_probes, privacy)
    write_json(paths.metrics, metrics)
    if paths.model_page is not None:
        page = render_model_page(
            paths.metrics,
            paths.model_fairness,
            paths.privacy_probes,
            paths.predictions,
            ci=cfg.fairness.ci,
        )
        with atomic_open(paths.model_page) as fh:
            fh.write(page)
        log.info("model page: %s", paths.model_page)
    for name, report in (("model fairness", fairness), ("privacy probes", privacy)):
        failed = [f for f in report["findings"] if f.get("verdict") == "fail"]
        log.info(
            "%s: %s%s", name, report["verdict"], f" ({len(failed)} findings)" if failed else ""
        )
    return StageResult(
        metrics=metrics, report={"model_fairness": fairness, "privacy_probes": privacy}
    )
