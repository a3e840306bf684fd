"""The headline numbers of each stage: what DVC declares as metrics, for `dvc exp show`.

Each stage writes its detail to ``metrics/<stage>.json`` (every count, per rule, per group,
per file: what the reports and `provena report diff` read). DVC tracks that file as a plain
output; its *metric* is ``metrics/<stage>.headline.json``, a handful of values from it that a
user compares across experiments: records in and out of curation, the verdicts of validation,
the audits, the residual-PII check, the fairness and privacy checks, the final losses, and the
adapter's perplexity and task scores per family. :func:`write_headline` writes it from the
detail (the ``--headline`` flag every stage script takes, :mod:`provena.stage`), so a stage
never computes a number twice; :func:`score_rows` gives evaluate's task scores as rows for the
bar chart `dvc plots diff` draws per experiment (``--headline-plot``).

Verdicts stay strings ("pass", "fail", "inconclusive"): `dvc metrics show` and `dvc exp show`
print them as they are. A key the detail lacks (no gold labels, a family not scored) is left
out, never written as zero.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provena.errors import UserError
from provena.io import write_json

Detail = dict[str, Any]

#: the models evaluate scores whose numbers are headlines: the adapter (the base is its
#: reference, in the detail)
HEADLINE_MODEL = "adapter"
#: per-family entries of metrics/evaluate.json that are counts, not scores
_COUNTS = frozenset({"generated", "perplexity_examples"})


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _pick(detail: Detail, keys: tuple[str, ...]) -> dict[str, Any]:
    """The top-level ``keys`` of ``detail`` that are present and scalar (dotted keys reach
    into a mapping: ``records.train``), nested as they were."""
    out: dict[str, Any] = {}
    for key in keys:
        value: Any = detail
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if _scalar(value):
            node = out
            *parents, last = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
    return out


def _picker(*keys: str) -> Callable[[Detail], dict[str, Any]]:
    return lambda detail: _pick(detail, keys)


_FUNNEL = ("records_in", "records_kept", "records_quarantined")


def _evaluate(detail: Detail) -> dict[str, Any]:
    """The fairness and privacy verdicts; per split, the adapter's perplexity, and per family
    its perplexity and task scores (JSON validity, exact match, F1, ROUGE-L, as scored)."""
    out: dict[str, Any] = _pick(detail, ("model_fairness", "privacy_probes"))
    not_evaluable = detail.get("not_evaluable")
    if isinstance(not_evaluable, list):
        out["not_evaluable"] = sum(1 for n in not_evaluable if n.get("model") == HEADLINE_MODEL)
    for split, models in (detail.get("splits") or {}).items():
        res = (models or {}).get(HEADLINE_MODEL) or {}
        row: dict[str, Any] = _pick(res, ("perplexity",))
        for family, scores in (res.get("families") or {}).items():
            picked = {k: v for k, v in (scores or {}).items() if k not in _COUNTS and _scalar(v)}
            if picked:
                row[family] = picked
        if row:
            out[split] = row
    return out


#: the stage (as stage scripts name themselves) -> its headline from its detail
HEADLINES: dict[str, Callable[[Detail], dict[str, Any]]] = {
    "synth": _picker("records"),
    "ingest": _picker(*_FUNNEL),
    "scrub_pii": _picker(*_FUNNEL, "residual_rate", "residual_verdict", "gold_recall"),
    "clean": _picker(*_FUNNEL, "gold_precision", "gold_recall"),
    "validate": _picker("verdict", "failed_critical", "failed_warning", "records"),
    "audit_data": _picker("verdict", "failed_checks", "inconclusive_checks", "records"),
    "augment": _picker("records_in", "records_added", "records_out"),
    "split": _picker(
        "records_in",
        "records_quarantined",
        "records.train",
        "records.validation",
        "records.test",
        "records.gold",
    ),
    "train": _picker("final_loss", "eval_loss", "steps"),
    "evaluate": _evaluate,
}


def headline(stage: str, detail: Detail) -> dict[str, Any]:
    """The headline of ``stage`` from its detail (the content of ``metrics/<stage>.json``)."""
    if stage not in HEADLINES:
        raise UserError(f"no headline metrics are defined for stage '{stage}'")
    return HEADLINES[stage](detail)


def score_rows(evaluate_headline: dict[str, Any]) -> list[dict[str, Any]]:
    """evaluate's task scores (not perplexity, on another scale) as rows ``{"score":
    "<split>/<family>/<metric>", "value": v}``: the bars of `dvc plots diff`, one colour per
    experiment."""
    rows = []
    for split, row in evaluate_headline.items():
        if not isinstance(row, dict):
            continue
        for family, scores in row.items():
            if isinstance(scores, dict):
                rows += [
                    {"score": f"{split}/{family}/{metric}", "value": value}
                    for metric, value in scores.items()
                    if metric != "perplexity" and isinstance(value, int | float)
                ]
    return rows


def write_headline(
    stage: str, metrics: Path, out: Path, plot: Path | None = None
) -> dict[str, Any]:
    """Read the stage's detail (``metrics``), write its headline to ``out`` and, for evaluate,
    the task scores' rows to ``plot``."""
    try:
        detail = json.loads(Path(metrics).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"{metrics}: cannot read the stage's metrics: {err}") from err
    if not isinstance(detail, dict):
        raise UserError(f"{metrics}: the stage's metrics are not a JSON object")
    head = headline(stage, detail)
    write_json(out, head)
    if plot is not None:
        write_json(plot, score_rows(head))
    return head
