"""``provena compare --answers A.jsonl B.jsonl``: two answer files, paired by split and id.

An answer file has the rows of evaluate's predictions file (``data/eval/predictions.jsonl``):
``split``, ``model``, ``id``, ``family``, ``prediction``, ``reference`` (null where there is
none, as for live traffic), and optionally the audited attributes (``gender``, ...). Two runs
of evaluate, or the answers two deployed models gave the same prompts in a live A/B test, are
such files. Where a row has a reference, its answer is scored as evaluate scores it (JSON
extraction or ROUGE-L, by family); with ``--ratings`` (the ``reviews/ratings.json`` that
``provena review import`` writes), the human ratings of both answers to one prompt are paired:
a rating is found by its ``review_id``, the hash of (split, model, id), so each file's rows
must name their own model (the ``--model`` of ``provena review export``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provena.compare.stats import compare, gate, mean_of
from provena.config import CompareConfig, EvaluateConfig
from provena.errors import UserError
from provena.evaluate.groups import EXTRACTION, scoring
from provena.records import Record
from provena.review import load_ratings, read_predictions, review_id
from provena.scores import extraction_scores, rouge_l

#: ratings are 1-5: the margin (on 0-1) is this many rating points per unit
RATING_SPAN = 4


def read_answers(path: Path, ecfg: EvaluateConfig) -> dict[tuple[str, str], dict[str, Any]]:
    """(split, id) -> the row, with ``metrics`` scored against its reference (none without
    one); an id twice in one split is an error naming the file and line."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    lines: dict[tuple[str, str], int] = {}
    for line, row in read_predictions(path):
        key = (str(row["split"]), str(row["id"]))
        if key in out:
            raise UserError(
                f"{path}, line {line}: id {key[1]!r} of split {key[0]!r} again (first on line "
                f"{lines[key]}); one answer per prompt"
            )
        ref = row.get("reference")
        fam = str(row["family"])
        metrics: dict[str, Any] = {}
        if isinstance(ref, str) and ref.strip():
            pred = str(row["prediction"] or "")
            if scoring(fam, ecfg)[0] == EXTRACTION:
                metrics = extraction_scores(pred, ref)
            else:
                metrics = {"rouge_l": rouge_l(pred, ref)}
        out[key] = {**row, "family": fam, "metrics": metrics}
        lines[key] = line
    if not out:
        raise UserError(f"{path}: no answers")
    return out


def _ratings_by_id(path: Path) -> dict[str, int]:
    data = load_ratings(path)
    if data is None:
        raise UserError(f"{path}: no such ratings file (run `provena review import` first)")
    return {r["review_id"]: int(r["rating"]) for r in data["rows"] if r.get("rating") is not None}


def rating_comparisons(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
    ratings: dict[str, int],
    cfg: CompareConfig,
    paths: tuple[Path, Path],
) -> dict[str, Any]:
    """Mean rating of B - A over the prompts both answers of which are rated, overall and
    per family; the margin is ``compare.margin`` on the 1-5 scale rescaled to 0-1."""
    both, only = [], {"A": 0, "B": 0}
    for x, y in pairs:
        if str(x["model"]) == str(y["model"]):
            raise UserError(
                f"{paths[1]}: the answer to id {x['id']!r} names model {x['model']!r}, as "
                f"{paths[0]} does: ratings are keyed by (split, model, id) and cannot tell the "
                "two apart; give each file its own model name before `provena review export "
                "--model NAME`"
            )
        ra = ratings.get(review_id(x["split"], x["model"], x["id"]))
        rb = ratings.get(review_id(y["split"], y["model"], y["id"]))
        if ra is not None and rb is not None:
            both.append((x, float(ra), float(rb)))
        elif ra is not None:
            only["A"] += 1
        elif rb is not None:
            only["B"] += 1
    margin = cfg.margin * RATING_SPAN

    def cmp(part: list[tuple[dict[str, Any], float, float]]) -> dict[str, Any]:
        return compare(
            mean_of("rating"),
            {"rating": [a for _, a, _ in part]},
            {"rating": [b for _, _, b in part]},
            cfg,
            margin=margin,
        )

    families = sorted({x["family"] for x, _, _ in both})
    return {
        "rated_pairs": len(both),
        "rated_only": only,
        "overall": cmp(both),
        "by_family": {f: cmp([t for t in both if t[0]["family"] == f]) for f in families},
    }


def compare_answers(
    path_a: Path,
    path_b: Path,
    ecfg: EvaluateConfig,
    cfg: CompareConfig,
    *,
    attributes: Sequence[str],
    ratings: Path | None = None,
    records: dict[str, Record] | None = None,
) -> dict[str, Any]:
    """Compare two answer files (see the module); ``records`` (id -> record, from split files)
    give the prompts and the attributes a row lacks."""
    from provena.compare import differing_answers, family_comparisons, group_comparisons

    a, b = read_answers(path_a, ecfg), read_answers(path_b, ecfg)
    keys = [k for k in a if k in b]
    if not keys:
        raise UserError(f"{path_b}: no (split, id) in common with {path_a}: nothing to pair")
    known = dict(records or {})
    for key in keys:  # the attributes of a row the split files do not hold
        row = a[key]
        meta = {
            **{t: row.get(t) for t in attributes},
            **(known.get(row["id"], {}).get("meta") or {}),
        }
        known[row["id"]] = {**known.get(row["id"], {"instruction": "", "input": ""}), "meta": meta}
    result: dict[str, Any] = {
        "mode": "answers",
        "a": {"path": str(path_a), "answers": len(a)},
        "b": {"path": str(path_b), "answers": len(b)},
        "paired": len(keys),
        "unpaired": {"A": len(a) - len(keys), "B": len(b) - len(keys)},
        "params": cfg.model_dump(),
        "splits": {},
        "differing_answers": [],
    }
    for split in sorted({s for s, _ in keys}):
        pairs = [(a[k], b[k]) for k in keys if k[0] == split]
        scored = [(x, y) for x, y in pairs if x["metrics"] and y["metrics"]]
        groups, gaps = group_comparisons(
            scored, known, attributes, ecfg.fairness.min_group_size, cfg
        )
        result["splits"][split] = {
            "paired_answers": len(pairs),
            "scored_against_a_reference": len(scored),
            "families": family_comparisons(scored, {}, ecfg, cfg),
            "groups": groups,
            "fairness_gaps": gaps,
        }
        result["differing_answers"] += differing_answers(pairs, known, cfg.differing_answers)
    result["differing_answers"] = result["differing_answers"][: cfg.differing_answers]
    if ratings is not None:
        pairs = [(a[k], b[k]) for k in keys]
        result["ratings"] = rating_comparisons(
            pairs, _ratings_by_id(ratings), cfg, (path_a, path_b)
        )
        result["ratings_file"] = str(ratings)
    result["outcome"] = gate(result, cfg)
    return result
