"""card: the model card (Hugging Face README format) and the auditor's bundle for one adapter.

The card answers "what is this model, and what was it trained on" from the files the pipeline
wrote, never from memory: the adapter's lineage manifest (base model, split hashes, gate checks,
waivers, sign-offs), the train split it names (its records counted by source, each source with
the licence ``card.licenses`` declares for it), each stage's metrics (records in and out),
the PII report, the validation verdict, the data audits before and after augmentation, the
evaluation with its fairness and privacy probes, and the human ratings brought in by
``provena review import``. Its name, description and intended use are params
(``card``), neutral unless a project sets them.

Data first: :func:`build_card` turns the loaded reports into ``card.json`` (no file I/O);
:func:`render_readme` renders the README from that JSON, with YAML metadata written by
``huggingface_hub.ModelCardData`` (so the Hub reads it: base model, licence, tags, and a
``model-index`` with the evaluation results). :func:`run` reads, writes, and bundles.

A group whose answers evaluate found not evaluable (constant, empty or nearly so) has no task
score in the ``model-index`` (a number that holds because the model says nothing is no result),
and the card says so, with the reason, in its evaluation section and its limitations; an
"inconclusive" fairness or privacy verdict is shown as such, never as a pass.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from provena import lineage, reports, signoff
from provena.canary import CANARY_SOURCE
from provena.card import sections
from provena.config import CardConfig
from provena.errors import UserError
from provena.io import atomic_open, display_path, write_json
from provena.manifest import sha256_file
from provena.records import NO_FAMILY, StageResult

STAGE = "card"
log = logging.getLogger(__name__)

#: curation stages in pipeline order, with the metrics file each keeps its books in
STAGE_METRICS = ("ingest", "scrub_pii", "clean", "validate", "augment", "split")
#: reports whose sign-offs the card shows (as they stand when the card is written)
SIGNED_REPORTS = (
    "audits/pii_report.json",
    "reports/validation_verdict.json",
    "audits/audit_before.json",
    "audits/audit_after.json",
    "audits/model_fairness.json",
    "audits/privacy_probes.json",
)
RATING_KEYS = ("source", "sha256", "imported_at", "imports", "summary", "scale")
#: task metrics of the model-index, per family: (key in metrics/evaluate.json, shown name)
EVAL_METRICS = (
    ("icd10_micro_f1", "ICD-10 micro F1"),
    ("rouge_l", "ROUGE-L"),
    ("age_em", "Age exact match"),
    ("sex_em", "Sex exact match"),
)
LORA_KEYS = ("peft_type", "r", "lora_alpha", "lora_dropout", "bias", "task_type")
#: the licence of a source no ``card.licenses`` glob matches
UNKNOWN_LICENCE = "unknown"
#: the licence of the privacy canaries split plants: Provena's random strings, not data
CANARY_LICENCE = "not applicable: random strings planted by the split stage (privacy canaries)"


@dataclass(frozen=True)
class CardPaths:
    """Every file the stage reads or writes (from dvc.yaml)."""

    adapter_dir: Path
    metrics_dir: Path  # metrics/<stage>.json
    pii_report: Path
    validation_verdict: Path
    audit_before: Path
    audit_after: Path
    evaluate_metrics: Path
    model_fairness: Path
    privacy_probes: Path
    ratings: Path  # may be absent: no human review yet
    out_dir: Path  # README.md, card.json, audit_bundle.zip
    signoffs: Path | None = None  # the sign-off folder (default: audits/signoffs)
    train: Path | None = None  # the train split (default: the one the manifest names)


def _load(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no {what} (run the pipeline up to the evaluate stage first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


# ------------------------------------------------------------------------------------- core


def licence_of(source: str, licences: dict[str, str]) -> tuple[str, str | None]:
    """(licence, the glob that gave it) of the records of ``source``: the first
    ``card.licenses`` glob that matches the source or its file name (as
    ``scrub_pii.profiles`` match), else "unknown"."""
    if source == CANARY_SOURCE:
        return CANARY_LICENCE, None
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    for pattern, licence in licences.items():
        if fnmatch.fnmatchcase(source, pattern) or fnmatch.fnmatchcase(name, pattern):
            return licence, pattern
    return UNKNOWN_LICENCE, None


def count_sources(path: Path) -> dict[str, dict[str, int]]:
    """Records of a record file by ``source``: all of them, and those made from another record
    (``parent_id`` set: augment's children, which keep their parent's source)."""
    table = pq.read_table(path, columns=["source", "parent_id"])
    sources = table.column("source").to_pylist()
    derived = [p is not None for p in table.column("parent_id").to_pylist()]
    total, made = Counter(sources), Counter(s for s, d in zip(sources, derived, strict=True) if d)
    return {s: {"records": total[s], "derived": made[s]} for s in sorted(total)}


def data_sources(
    counts: dict[str, dict[str, int]], split: dict[str, Any], cfg: CardConfig
) -> dict[str, Any]:
    """The train split's sources: records (and how many augment made) and declared licence."""
    rows = []
    for source, n in counts.items():
        licence, glob = licence_of(source, cfg.licenses)
        rows.append({"source": source, **n, "licence": licence, "licence_glob": glob})
    by_licence: Counter[str] = Counter()
    for r in rows:
        by_licence[r["licence"]] += r["records"]
    return {
        "split": "train",
        "path": split.get("path"),
        "sha256": split.get("sha256"),
        "records": sum(r["records"] for r in rows),
        "sources": rows,
        "by_licence": dict(sorted(by_licence.items())),
    }


def evaluation_records(split: dict[str, Any] | None) -> dict[str, Any] | None:
    """What split did with augment's records (``augmented`` of metrics/split.json): how many
    went to train, how many were dropped because their parent is in an evaluation split, and
    how many the evaluation splits hold (0: original records only). None where the metrics
    do not say (a split run older than the rule)."""
    aug = (split or {}).get("augmented")
    if not isinstance(aug, dict) or "dropped_with_eval_parent" not in aug:
        return None
    by_split = aug.get("by_split") or {}
    return {
        "augmented": aug.get("records"),
        "to_train": aug.get("to_train"),
        "dropped_with_eval_parent": aug.get("dropped_with_eval_parent"),
        "in_evaluation": sum(n for s, n in by_split.items() if s != "train"),
    }


def stage_books(metrics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Records in and out of each curation stage, in pipeline order, from its metrics."""
    rows = []
    for name in STAGE_METRICS:
        m = metrics.get(name)
        if m is None:
            continue
        if name == "validate":  # validates, drops nothing
            rows.append(
                {
                    "stage": name,
                    "records_in": m.get("records"),
                    "records_out": m.get("records"),
                    "quarantined": 0,
                    "added": 0,
                    "verdict": m.get("verdict"),
                }
            )
            continue
        rows.append(
            {
                "stage": name,
                "records_in": m.get("records_in"),
                "records_out": m.get("records_out", m.get("records_kept")),
                "quarantined": m.get("records_quarantined", 0),
                "added": m.get("records_added", 0),
            }
        )
    return rows


def pii_counts(report: dict[str, Any]) -> dict[str, Any]:
    """Entities found per type (all fields together) and the summary of the PII report."""
    by_type = {
        kind: sum(fields.values()) if isinstance(fields, dict) else int(fields)
        for kind, fields in report.get("entities_by_type_and_field", {}).items()
    }
    return {"summary": report.get("summary", {}), "by_type": dict(sorted(by_type.items()))}


def audit_summary(audit: dict[str, Any]) -> dict[str, Any]:
    """An audit's verdict and findings; for augmented data also the verdict on the original
    records alone and the audit's one line per attribute."""
    out = {
        "verdict": audit.get("verdict"),
        "records": audit.get("records"),
        "findings": [
            {
                "check": f.get("check"),
                "verdict": f.get("verdict"),
                "text": f.get("text"),
                **({"status": f["status"]} if f.get("status") else {}),
            }
            for f in audit.get("findings", [])
        ],
    }
    if audit.get("original_records"):
        out["verdict_scope"] = audit.get("verdict_scope")
        out["original_verdict"] = audit["original_records"].get("verdict")
        out["original_records"] = audit["original_records"].get("records")
        out["synthetic_share"] = (audit.get("synthetic") or {}).get("share")
        out["by_attribute"] = audit.get("attribute_summary") or {}
    return out


def not_evaluable(splits: dict[str, Any]) -> list[dict[str, Any]]:
    """(split, model, family, reason) of every group whose answers are not evaluable (its
    entry in metrics/evaluate.json holds ``not_evaluable``)."""
    return [
        {
            "split": split,
            "model": model,
            "family": family,
            "reason": (e["not_evaluable"] or {}).get("reason"),
            "withheld": (e["not_evaluable"] or {}).get("withheld", []),
        }
        for split, res in splits.items()
        for model in ("base", "adapter")
        for family, e in (res.get(model) or {}).get("families", {}).items()
        if "not_evaluable" in e
    ]


def evaluation_summary(ev: dict[str, Any]) -> dict[str, Any]:
    """The evaluation's numbers without its timings (the card must not change between runs of
    the same data and model), and the groups whose answers are not evaluable."""

    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in ("seconds", "wall_seconds")}
        return obj

    splits = ev.get("splits", {})
    return strip(
        {"splits": splits, "generated": ev.get("generated"), "not_evaluable": not_evaluable(splits)}
    )


def derived_limitations(card: dict[str, Any]) -> list[str]:
    """Limitations the reports themselves show (added after the ones people wrote)."""
    out = []
    base = card["model"]["base_model"]
    if base.get("name") == "tiny":
        pre = base.get("pretraining") or {}
        how = (
            f"pretrained for {pre['steps']} steps on the train split's text"
            if pre.get("steps")
            else "randomly initialised"
        )
        out.append(
            f"The base model is Provena's built-in tiny Llama ({base.get('parameters'):,} "
            f"parameters, {how}, tokenizer trained on the curated data): it shows "
            "the pipeline end to end and is not a usable assistant. Point train.base_model at "
            "a real local model for a usable adapter."
        )
    training = card["model"]["training"]
    if training.get("mode") != "qlora":
        out.append(f"Trained as {training.get('mode')}: {training.get('note')}.")
    pii = card["data"]["pii"]["summary"]
    if pii.get("gold_missed_share") is not None:
        out.append(
            f"PII scrubbing is automatic: on the planted gold spans it missed "
            f"{pii['gold_missed_share']:.2%} (recall {pii.get('gold_recall')}, precision "
            f"{pii.get('gold_precision')}); residual scan rate {pii.get('residual_rate')}."
        )
    before, after = card["data"]["audit_before"], card["data"]["audit_after"]
    if before.get("verdict") == "fail":
        n = sum(1 for f in before["findings"] if f.get("verdict") == "fail")
        said = f"to '{after.get('verdict')}'"
        if after.get("original_verdict"):
            share = after.get("synthetic_share")
            made = f" ({share:.1%} of its records machine-made)" if share is not None else ""
            said += (
                f" on the training distribution{made}; on the original records alone it is "
                f"'{after['original_verdict']}'"
            )
        out.append(
            f"The raw data failed its bias audit ({n} findings); augmentation brought the "
            f"audit {said}. Counterfactual records are machine-made."
        )
    unknown = [s for s in card["data"]["sources"]["sources"] if s["licence"] == UNKNOWN_LICENCE]
    if unknown:
        names = ", ".join(s["source"] for s in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        out.append(
            f"No licence is declared for {len(unknown)} of the "
            f"{len(card['data']['sources']['sources'])} data sources "
            f"({sum(s['records'] for s in unknown):,} training records: {names}{more}): "
            "whether the data may be used to train and share this adapter is not known. "
            "Declare each source's licence in card.licenses."
        )
    for waiver in card["gate"]["waivers"]:
        out.append(
            f"Trained under a waiver of the '{waiver['check']}' check: {waiver['reason']} "
            f"(approved by {waiver['approved_by']})."
        )
    for c in card["gate"]["checks"]:
        if c.get("passed") and c.get("verdict") == "not_judged":
            out.append(
                f"Trained although the '{c['check']}' check judged nothing (verdict "
                f"'not_judged', allowed by train.allow_not_judged_audit): {c.get('detail')}"
            )
        if c.get("passed") and c.get("verdict") == "inconclusive":
            out.append(
                f"Trained although the '{c['check']}' check was inconclusive (a confidence "
                f"interval crosses its threshold; allowed by train.allow_inconclusive_audit): "
                f"{c.get('detail')}"
            )
    for g in card["evaluation"].get("not_evaluable") or []:
        if g["model"] == "adapter":
            out.append(
                f"The adapter's answers on the {g['split']} split's {_group(g['family'])} are "
                f"not evaluable: {g['reason']}. Its task scores are left out of this card and "
                "its model-index, and the probes over them are inconclusive."
            )
    for name in ("model_fairness", "privacy_probes"):
        section = card["evaluation"].get(name) or {}
        if section.get("verdict") == "inconclusive":
            out.append(
                f"The {name.replace('_', ' ')} check is inconclusive, not passed: a "
                "confidence interval crosses a threshold, or the model's answers are constant "
                "or empty where no change and no leak prove nothing; see its findings below."
            )
        if section.get("verdict") == "fail":
            out.append(f"The {name.replace('_', ' ')} check failed: see its findings below.")
        elif section.get("verdict") == "not_judged":
            out.append(
                f"The {name.replace('_', ' ')} check judged nothing (verdict 'not_judged'): "
                "no group was large enough to compare; see its findings below."
            )
    if not (card.get("human_review") or {}).get("summary", {}).get("rated"):
        out.append("No human ratings of the model's answers have been imported.")
    return out


def build_card(
    *,
    cfg: CardConfig,
    manifest: dict[str, Any],
    adapter_config: dict[str, Any],
    adapter_sha256: str,
    metrics: dict[str, dict[str, Any]],
    pii_report: dict[str, Any],
    validation: dict[str, Any],
    audit_before: dict[str, Any],
    audit_after: dict[str, Any],
    evaluation: dict[str, Any],
    fairness: dict[str, Any],
    privacy: dict[str, Any],
    ratings: dict[str, Any] | None,
    signoffs: dict[str, dict[str, Any]],
    adapter_path: str,
    sources: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """card.json: everything the README shows, as data. ``sources``: the train split's records
    by source (:func:`count_sources`)."""
    gate = manifest.get("gate", {})
    training = dict(manifest.get("training", {}))
    for k in ("seconds", "wall_seconds", "tokens_per_s", "peak_memory_mb", "peak_memory_kind"):
        training.pop(k, None)  # timings: they differ run to run and say nothing of the model
    card: dict[str, Any] = {
        "kind": "provena.model_card",
        "name": cfg.name,
        "description": cfg.description,
        "intended_use": cfg.intended_use,
        "out_of_scope": list(cfg.out_of_scope),
        "model": {
            "adapter": {
                "path": adapter_path,
                "adapter_model_sha256": adapter_sha256,
                "config": {k: adapter_config.get(k) for k in LORA_KEYS},
                "target_modules": sorted(
                    {m.rsplit(".", 1)[-1] for m in adapter_config.get("target_modules") or []}
                ),
            },
            "base_model": {
                k: manifest.get("base_model", {}).get(k)
                for k in (
                    "name",
                    "path",
                    "sha256",
                    "architectures",
                    "model_type",
                    "parameters",
                    "pretraining",
                )
            },
            "training": training,
            "libraries": manifest.get("libraries", {}),
            "git": manifest.get("git", {}),
        },
        "data": {
            "splits": manifest.get("split", {}),
            "sources": data_sources(sources, manifest.get("split", {}).get("train", {}), cfg),
            "stages": stage_books(metrics),
            "evaluation_records": evaluation_records(metrics.get("split")),
            "pii": pii_counts(pii_report),
            "validation": {
                k: validation.get(k)
                for k in (
                    "verdict",
                    "expectations",
                    "passed",
                    "failed_critical",
                    "failed_warning",
                    "suite_path",
                    "suite_sha256",
                )
            },
            "audit_before": audit_summary(audit_before),
            "audit_after": audit_summary(audit_after),
        },
        "gate": {
            "passed": gate.get("passed"),
            "checks": [
                {k: c.get(k) for k in ("check", "passed", "verdict", "detail", "waived", "report")}
                for c in gate.get("checks", [])
            ],
            "waivers": list(manifest.get("waivers") or gate.get("waivers_applied") or []),
            "signoffs_at_training": manifest.get("signoffs", []),
        },
        "signoffs": signoffs,
        "evaluation": {
            **evaluation_summary(evaluation),
            "model_fairness": fairness,
            "privacy_probes": privacy,
        },
        # the summary only: reviewers' comments are free text about the answers
        "human_review": {k: ratings[k] for k in RATING_KEYS if k in ratings} if ratings else None,
    }
    card["limitations"] = [*cfg.limitations, *derived_limitations(card)]
    return card


def _group(family: str) -> str:
    return "records without a family" if family == NO_FAMILY else f"family {family}"


def card_metadata(card: dict[str, Any], cfg: CardConfig) -> Any:
    """The README's YAML header, as ``huggingface_hub.ModelCardData`` writes it. A family
    whose answers are not evaluable gives the model-index no task score (the card's text says
    why); perplexity, which scores the references, stays."""
    from huggingface_hub import EvalResult, ModelCardData

    results = []
    for split, res in card["evaluation"]["splits"].items():
        adapter = res.get("adapter", {})
        found = [("perplexity", "Perplexity", adapter.get("perplexity"))]
        for family, m in adapter.get("families", {}).items():
            if "not_evaluable" in m or (m.get("answers") or {}).get("evaluable") is False:
                continue
            shown = "no family" if family == NO_FAMILY else family
            found += [(key, f"{name} ({shown})", m.get(key)) for key, name in EVAL_METRICS]
        results += [
            EvalResult(
                task_type="text-generation",
                dataset_type="provena-split",
                dataset_name=f"Provena {split} split",
                dataset_split=split,
                metric_type=key,
                metric_name=name,
                metric_value=value,
            )
            for key, name, value in found
            if value is not None
        ]
    base = card["model"]["base_model"]
    return ModelCardData(
        model_name=card["name"],
        base_model=base.get("name") if base.get("name") != "tiny" else base.get("path"),
        library_name="peft",
        pipeline_tag="text-generation",
        license=cfg.license,
        language=list(cfg.language),
        tags=list(cfg.tags),
        eval_results=results or None,
    )


_fmt = reports.md_cell  # how the card writes a value in a table cell


def render_readme(card: dict[str, Any], cfg: CardConfig) -> str:
    """The Hugging Face README: YAML metadata, then the card's sections in Markdown (template
    ``provena/reports/templates/card/README.md.j2``)."""
    return reports.render(
        "card/README.md.j2",
        metadata=card_metadata(card, cfg).to_yaml(),
        card=card,
        fairness_tables=sections.fairness_tables(card["evaluation"]["model_fairness"]),
    )


# -------------------------------------------------------------------------------------- I/O


def train_split(manifest: dict[str, Any], path: Path | None, root: Path) -> Path:
    """The train split the adapter was trained on: ``path`` (default: the manifest's), checked
    against the manifest's SHA-256, so the sources the card lists are the ones that went in."""
    entry = manifest.get("split", {}).get("train") or {}
    if path is None:
        if not entry.get("path"):
            raise UserError("the adapter's manifest names no train split (run the train stage)")
        path = root / entry["path"]
    if not path.is_file():
        raise UserError(f"{path}: no train split (run the split stage, then train)")
    digest = sha256_file(path)
    if entry.get("sha256") and digest != entry["sha256"]:
        raise UserError(
            f"{path}: not the train split the adapter was trained on (sha256 {digest[:12]}, the "
            f"manifest says {entry['sha256'][:12]}): run the train stage again"
        )
    return path


def run(cfg: CardConfig, paths: CardPaths, *, root: Path) -> StageResult:
    """Write README.md, card.json and audit_bundle.zip into ``paths.out_dir``; returns the card
    (``report``: card.json's content; the card keeps no records and writes no metrics)."""
    manifest = lineage.load_manifest(paths.adapter_dir)
    adapter_config = _load(paths.adapter_dir / "adapter_config.json", "adapter config")
    weights = paths.adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        raise UserError(f"{weights}: no adapter weights (run the train stage first)")
    sources = count_sources(train_split(manifest, paths.train, root))
    metrics = {}
    for name in STAGE_METRICS:
        p = paths.metrics_dir / f"{name}.json"
        if p.is_file():
            metrics[name] = _load(p, f"{name} metrics")
    ratings = _load(paths.ratings, "ratings") if paths.ratings.is_file() else None
    signoffs = {}
    for rel in SIGNED_REPORTS:
        st = signoff.status(root / rel, root, paths.signoffs)
        signoffs[rel] = {
            "valid": st["valid"],
            "reason": st.get("reason"),
            "signoffs": [
                {k: s[k] for k in ("reviewer", "signed_at", "note")} for s in st["signoffs"]
            ],
        }
    card = build_card(
        cfg=cfg,
        manifest=manifest,
        adapter_config=adapter_config,
        adapter_sha256=signoff.sha256_of(weights),
        metrics=metrics,
        pii_report=_load(paths.pii_report, "PII report"),
        validation=_load(paths.validation_verdict, "validation verdict"),
        audit_before=_load(paths.audit_before, "audit before augmentation"),
        audit_after=_load(paths.audit_after, "audit after augmentation"),
        evaluation=_load(paths.evaluate_metrics, "evaluation metrics"),
        fairness=_load(paths.model_fairness, "model fairness report"),
        privacy=_load(paths.privacy_probes, "privacy probe report"),
        ratings=ratings,
        signoffs=signoffs,
        adapter_path=display_path(paths.adapter_dir, root),
        sources=sources,
    )
    write_json(paths.out_dir / "card.json", card)
    with atomic_open(paths.out_dir / "README.md") as fh:
        fh.write(render_readme(card, cfg))
    digests = lineage.bundle(
        paths.adapter_dir,
        paths.out_dir / "audit_bundle.zip",
        root=root,
        card_dir=paths.out_dir,
        exclude_stages=(STAGE,),
    )
    log.info(
        "card: %s (%d files in the audit bundle)",
        display_path(paths.out_dir / "README.md", root),
        len(digests),
    )
    return StageResult(report=card)
