"""clean: quality filters, then exact and near-duplicate removal, with every drop explained.

Two streaming passes over the input, so memory stays flat in the number of records except for
the deduplication index (a digest and a signature per distinct text):

1. every record goes through the filters (:mod:`provena.clean.filters`), in this process or on Ray
   (:mod:`provena.executor`); survivors are indexed by the :class:`~provena.dedup.Deduplicator`
   here, since deduplication is global. Only decisions are kept: row -> rule and reason.
2. the input is read again, a batch at a time through :func:`apply_plan` (pure: it returns a
   :class:`~provena.records.StageResult`); kept records go to the output, dropped ones to the
   quarantine file (the whole record, its rule and reason) and the ledger (rule, reason, and for
   duplicates the cluster, the record kept and the estimated similarity to it).

Where the input carries the synthetic dataset's labels (``_gold/labels.jsonl``), the drops are
scored against them: a planted defect or copy dropped is a true positive, a clean record
dropped a false positive (see :func:`score_against_labels`).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import ValidationError

from provena.clean.filters import Filters
from provena.config import (
    CleanConfig,
    ConfigError,
    DedupConfig,
    ExecutorConfig,
    format_validation_error,
)
from provena.dedup import Cluster, Deduplicator
from provena.errors import UserError
from provena.executor import LOCAL, map_batches
from provena.io import (
    LinesWriter,
    RecordWriter,
    atomic_open,
    read_jsonl,
    read_records,
    read_rows,
    table_columns,
    write_json,
    write_jsonl,
    write_rows,
)
from provena.progress import progress
from provena.records import (
    NO_GOLD,
    Record,
    StageResult,
    StageStats,
    ledger_line,
    quarantine_entry,
    stage_metrics,
)

STAGE = "clean"
DUP_RULES = ("exact_duplicate", "near_duplicate")
log = logging.getLogger(__name__)


@dataclass
class Drop:
    rule: str
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """What pass 1 decided: the rows to drop and why, and the duplicate clusters."""

    n: int
    drops: dict[int, Drop]
    clusters: list[Cluster]
    ids: list[str]
    lsh: dict[str, Any]
    rules: list[str]


def scrubbed_outputs(pii_ledger: Path | None) -> frozenset[str]:
    """Ids of the records whose output scrub_pii changed (an entity in field ``output`` with an
    operator other than ``keep``), from its ledger: their outputs' lengths are not the ones
    they had, so no length rule may judge them. Empty without a ledger."""
    if pii_ledger is None:
        return frozenset()
    if not Path(pii_ledger).is_file():
        raise UserError(f"{pii_ledger}: no scrub_pii ledger (run the scrub_pii stage first)")
    ids: set[str] = set()
    for line in read_jsonl(pii_ledger):
        if any(
            e.get("field") == "output" and e.get("operator") != "keep"
            for e in line.get("entities") or ()
        ):
            ids.add(str(line["id"]))
    return frozenset(ids)


def _flagged(
    batches: Iterable[list[Record]], scrubbed: frozenset[str]
) -> Iterable[tuple[list[Record], list[bool]]]:
    for batch in batches:
        yield batch, [rec["id"] in scrubbed for rec in batch]


def plan(
    inp: Path,
    cfg: CleanConfig,
    *,
    root: Path | None = None,
    total: int | None = None,
    executor: ExecutorConfig = LOCAL,
    scrubbed: frozenset[str] = frozenset(),
) -> Plan:
    """Pass 1: the per-record filters run where ``executor`` says (they are pure, one batch at a
    time); deduplication needs every survivor at once, so its index is built here, in the
    driver, from the batches' results in input order. ``scrubbed``: ids of the records whose
    output scrub_pii changed (:func:`scrubbed_outputs`)."""
    # built here for every kind: a bad tokenizer path fails before any work is sent out
    filters = Filters(cfg, root)
    dd = Deduplicator(cfg.dedup) if (cfg.dedup.exact or cfg.dedup.near) else None
    drops: dict[int, Drop] = {}
    ids: list[str] = []
    bar = progress(total=total, desc=f"{STAGE}: filter+index", unit=" rec", unit_scale=True)
    row = 0
    results = map_batches(
        _flagged(read_records(inp, batch_size=cfg.chunk_size), scrubbed),
        functools.partial(check_batch, filters)
        if executor.kind == "local"
        # a Ray worker's current folder is not ours: relative paths resolve against root
        else functools.partial(_check_remote, cfg, Path(root or Path.cwd()).resolve()),
        cfg=executor,
        records_per_batch=cfg.chunk_size,
    )
    with contextlib.closing(results), bar:
        for checked in results:
            rows, texts = [], []
            for rid, failed, text in checked:
                ids.append(rid)
                if failed:
                    drops[row] = Drop(*failed)
                else:
                    rows.append(row)
                    texts.append(text)
                row += 1
            if dd is not None:
                for start in range(0, len(rows), cfg.dedup.chunk_size):
                    end = start + cfg.dedup.chunk_size
                    dd.add(rows[start:end], texts[start:end])
            bar.update(len(checked))
    clusters = dd.clusters() if dd is not None else []
    for c in clusters:
        for r in c.members:
            if r == c.kept:
                continue
            exact = r in c.exact
            sim = c.similarity[r]
            drops[r] = Drop(
                "exact_duplicate" if exact else "near_duplicate",
                f"same text as row {c.kept} (kept)"
                if exact
                else f"near-duplicate of row {c.kept} (kept), estimated Jaccard {sim:.2f} "
                f"on word {cfg.dedup.ngram}-grams",
                {
                    "cluster": ids[c.kept],
                    "kept_id": ids[c.kept],
                    "kept_row": c.kept,
                    "similarity": sim,
                    "cluster_size": len(c.members),
                },
            )
    lsh = {}
    if dd is not None:
        lsh = {"bands": dd.bands, "rows": dd.rows, "num_perm": cfg.dedup.num_perm}
    rules = filters.names + [r for r in DUP_RULES if _dedup_on(cfg, r)]
    return Plan(n=row, drops=drops, clusters=clusters, ids=ids, lsh=lsh, rules=rules)


def check_batch(
    filters: Filters, batch: tuple[list[Record], list[bool]]
) -> list[tuple[str, tuple[str, str] | None, str | None]]:
    """(id, first failed rule as (rule, reason) or None, text to deduplicate or None) for each
    record of a batch of (records, whether scrub_pii changed each one's output), in order.
    Pure: no file I/O."""
    records, scrubbed = batch
    return [
        (rec["id"], failed, None if failed else text)
        for rec, (failed, text) in zip(records, filters.check_many(records, scrubbed), strict=True)
    ]


_FILTERS: dict[tuple[str, str], Filters] = {}


def _check_remote(
    cfg: CleanConfig, root: Path, batch: tuple[list[Record], list[bool]]
) -> list[tuple[str, tuple[str, str] | None, str | None]]:
    """:func:`check_batch` in a Ray worker: the filters (and the tokenizer) are compiled once
    per worker process, which Ray reuses from task to task."""
    key = (cfg.model_dump_json(), str(root))
    if key not in _FILTERS:
        _FILTERS[key] = Filters(cfg, root)
    return check_batch(_FILTERS[key], batch)


def apply_plan(records: list[Record], p: Plan, start: int) -> StageResult:
    """Pass 2 for one batch, rows ``start``, ``start + 1``, ...: the records the plan keeps,
    and for each one it drops a ledger line (rule, reason, and for a duplicate its cluster,
    the record kept and the similarity) and a quarantine entry (the same, with the whole
    record). Pure: no file I/O."""
    result = StageResult()
    stats = result.stats
    for row, rec in enumerate(records, start):
        stats.records_in += 1
        drop = p.drops.get(row)
        if drop is None:
            result.kept.append(rec)
            stats.records_kept += 1
            continue
        stats.records_quarantined += 1
        stats.quarantined_by_rule[drop.rule] += 1
        line = ledger_line(
            id=rec["id"],
            stage=STAGE,
            action="quarantined",
            rule=drop.rule,
            reason=drop.reason,
            source=rec["source"],
            row=row,
            **drop.extra,
        )
        result.ledger.append(line)
        result.rejected.append(quarantine_entry(**line, record=rec))
    return result


#: the record fields a sample of dropped records shows (scrubbed text: clean runs after scrub_pii)
SAMPLE_FIELDS = ("instruction", "input", "output")


def _cut(text: str, n: int) -> tuple[str, int]:
    """The first ``n`` characters of ``text``, and how many were left out."""
    return text[:n], max(0, len(text) - n)


def _top_clusters(p: Plan, n: int) -> list[Cluster]:
    """The ``n`` largest clusters; among equally large ones, the least similar pair first (the
    near duplicates a reviewer most wants to check), then by the row kept."""
    return sorted(
        p.clusters,
        key=lambda c: (-len(c.members), min(c.similarity.values(), default=1.0), c.kept),
    )[:n]


def _sample_rows(p: Plan, n: int) -> set[int]:
    """Rows of the dropped records the report shows per filter rule: the first ``n`` of each."""
    seen: collections.Counter[str] = collections.Counter()
    rows: set[int] = set()
    for row in sorted(p.drops):
        rule = p.drops[row].rule
        if rule not in DUP_RULES and seen[rule] < n:
            seen[rule] += 1
            rows.add(row)
    return rows


def run(
    inp: Path,
    cfg: CleanConfig,
    *,
    out: Path,
    ledger: Path,
    quarantine: Path,
    metrics: Path | None = None,
    report_json: Path | None = None,
    report_html: Path | None = None,
    labels: Iterable[Path] = (),
    root: Path | None = None,
    executor: ExecutorConfig = LOCAL,
    pii_ledger: Path | None = None,
) -> dict[str, Any]:
    """Clean a record file; write records, ledger, quarantine, metrics and the clean report.

    ``executor`` runs the per-record filters (:mod:`provena.executor`); exact and near-duplicate
    removal is global and stays in this process. ``pii_ledger``: scrub_pii's ledger, which says
    whose outputs scrubbing changed (never dropped for their length)."""
    total = pq.ParquetFile(inp).metadata.num_rows if inp.suffix == ".parquet" else None
    scrubbed = scrubbed_outputs(pii_ledger)
    p = plan(inp, cfg, root=root, total=total, executor=executor, scrubbed=scrubbed)
    top = _top_clusters(p, cfg.report_clusters)
    wanted = {r for c in top for r in [c.kept, *_pairs_shown(c, cfg)]}
    sampled = _sample_rows(p, cfg.report_examples)
    shown: dict[int, dict[str, Any]] = {}
    samples: dict[int, dict[str, Any]] = {}
    gold_of: dict[int, str] = {}
    stats = StageStats()
    bar = progress(total=p.n, desc=f"{STAGE}: write", unit=" rec", unit_scale=True)
    filters = Filters(cfg, root)
    start = 0
    with RecordWriter(out) as rw, LinesWriter(ledger) as lw, LinesWriter(quarantine) as qw:
        for batch in read_records(inp, batch_size=cfg.chunk_size):
            for row, rec in enumerate(batch, start):
                gid = rec["meta"].get(cfg.gold_key)
                if gid is not None:
                    gold_of[row] = str(gid)
                if row in wanted:
                    text, left = _cut(filters.text(rec), cfg.report_text_chars)
                    shown[row] = {"id": rec["id"], "source": rec["source"], "row": row}
                    shown[row].update(text=text, chars_left_out=left)
                if row in sampled:
                    samples[row] = {"source": rec["source"], "fields": _fields(rec, cfg)}
            res = apply_plan(batch, p, start)
            rw.write(res.kept)
            lw.write(res.ledger)
            qw.write(res.rejected)
            stats.merge(res.stats)
            start += len(batch)
            bar.update(len(batch))
    bar.close()
    stats.check_balance(STAGE)
    report = build_report(stats, p, top, shown, cfg, samples)
    gold = score_against_labels(p, gold_of, labels)
    if gold is not None:
        report["gold_evaluation"] = gold
        report["summary"].update(
            {
                "gold_precision": gold["precision"],
                "gold_recall": gold["recall"],
                "gold_false_positives": gold["false_positives"],
            }
        )
    else:  # only then, so that a scored run's report and metrics keep their bytes
        report["gold_evaluation"] = None
        report["summary"]["gold_status"] = NO_GOLD
    if metrics is not None:
        write_json(metrics, stage_metrics(STAGE, stats, **report["summary"]))
    if report_json is not None:
        write_json(report_json, report)
    if report_html is not None:
        from provena.clean.report import render_html

        with atomic_open(report_html) as fh:
            fh.write(render_html(report))
    return report


def build_report(
    stats: StageStats,
    p: Plan,
    top: list[Cluster],
    shown: dict[int, dict[str, Any]],
    cfg: CleanConfig,
    samples: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The clean report. ``shown``: row -> id, source, row and cut text of the records of the
    clusters in ``top``; ``samples``: row -> source and cut fields of the dropped records
    sampled per filter rule (:func:`_sample_rows`)."""
    samples = samples or {}
    dropped_dups = sum(len(c.members) - 1 for c in p.clusters)
    sizes = collections.Counter(len(c.members) for c in p.clusters)
    examples: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    ids: dict[str, list[str]] = collections.defaultdict(list)
    for row in sorted(p.drops):
        d = p.drops[row]
        ids[d.rule].append(p.ids[row])
        if row in samples:
            examples[d.rule].append({"row": row, "id": p.ids[row], "reason": d.reason})
            examples[d.rule][-1].update(samples[row])
    summary = {
        "duplicate_clusters": len(p.clusters),
        "duplicates_dropped": dropped_dups,
        "filtered": sum(1 for d in p.drops.values() if d.rule not in DUP_RULES),
        "kept_share": round(stats.records_kept / stats.records_in, 4) if stats.records_in else 0.0,
    }
    return {
        "stage": STAGE,
        "books": stats.as_dict(),
        "summary": summary,
        "rules": p.rules,
        "lsh": {**p.lsh, "threshold": cfg.dedup.threshold, "ngram": cfg.dedup.ngram},
        "cluster_sizes": {str(k): v for k, v in sorted(sizes.items())},
        "params": {
            k: getattr(cfg, k)
            for k in ("report_clusters", "report_examples", "report_ids", "report_text_chars")
        },
        "filter_examples": dict(examples),
        "dropped_ids": {
            rule: {"count": len(v), "ids": v[: cfg.report_ids]} for rule, v in sorted(ids.items())
        },
        "largest_clusters": [
            {
                "size": len(c.members),
                "ids": [p.ids[r] for r in c.members[: cfg.report_ids]],
                "kept": shown[c.kept],
                "dropped": [
                    {
                        **shown[r],
                        "rule": p.drops[r].rule,
                        "similarity": c.similarity[r],
                    }
                    for r in _pairs_shown(c, cfg)
                ],
            }
            for c in top
        ],
    }


def _pairs_shown(c: Cluster, cfg: CleanConfig) -> list[int]:
    """The dropped rows of a cluster the report compares with the kept one: the least similar
    first (ties by row), ``report_examples`` of them."""
    rows = sorted((r for r in c.members if r != c.kept), key=lambda r: (c.similarity[r], r))
    return rows[: cfg.report_examples]


def _fields(rec: Record, cfg: CleanConfig) -> list[dict[str, Any]]:
    """A sampled record's fields, each cut to ``report_text_chars`` (name, text, left out)."""
    out = []
    for name in SAMPLE_FIELDS:
        text, left = _cut(rec.get(name) or "", cfg.report_text_chars)
        out.append({"field": name, "text": text, "chars_left_out": left})
    return out


def _dedup_on(cfg: CleanConfig, rule: str) -> bool:
    return cfg.dedup.exact if rule == "exact_duplicate" else cfg.dedup.near


def load_labels(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """synth_id -> label, for labels that expect the clean stage to drop the record."""
    labels: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not Path(path).is_file():
            continue
        for row in read_jsonl(path):
            if row.get("expect") == f"drop:{STAGE}" and "synth_id" in row:
                labels[str(row["synth_id"])] = row
    return labels


def score_against_labels(
    p: Plan, gold_of: dict[int, str], label_paths: Iterable[Path]
) -> dict[str, Any] | None:
    """Precision and recall of the drops against planted defects and copies.

    A planted copy (label with ``of``: the original's id) and its original form a group of
    which exactly one should survive: dropping either one counts for the copy, so the keep rule
    does not decide the score. Any other record dropped is a false positive.
    """
    labels = load_labels(label_paths)
    if not labels or not gold_of:
        return None
    row_of = {g: r for r, g in gold_of.items()}
    dropped = set(p.drops)
    expected = correct = 0
    per_defect: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    credited: set[int] = set()
    for gid, lab in sorted(labels.items()):
        row = row_of.get(gid)
        if row is None:  # quarantined by an earlier stage: not this stage's to judge
            continue
        expected += 1
        defect = lab.get("defect", "unknown")
        per_defect[defect]["planted"] += 1
        hit = None
        if row in dropped:
            hit = row
        elif "of" in lab:
            orig = row_of.get(str(lab["of"]))
            if orig is not None and orig in dropped and orig not in credited:
                hit = orig
        if hit is not None:
            credited.add(hit)
            correct += 1
            per_defect[defect]["dropped"] += 1
            per_defect[defect][f"by:{p.drops[hit].rule}"] += 1
    labelled_rows = {r for r, g in gold_of.items() if g in labels}
    fp_rows = sorted(r for r in dropped if r not in credited and r not in labelled_rows)
    fp_rules = collections.Counter(p.drops[r].rule for r in fp_rows)
    n_dropped = len(credited) + len(fp_rows)
    return {
        "labelled_records": expected,
        "dropped_correctly": correct,
        "precision": round(correct / n_dropped, 4) if n_dropped else 1.0,
        "recall": round(correct / expected, 4) if expected else 1.0,
        "false_positives": len(fp_rows),
        "false_positives_by_rule": dict(sorted(fp_rules.items())),
        "false_positive_examples": [
            {"row": r, "id": p.ids[r], "rule": p.drops[r].rule, "reason": p.drops[r].reason}
            for r in fp_rows[:10]
        ],
        "per_defect": {
            d: {
                "planted": c["planted"],
                "dropped": c["dropped"],
                "recall": round(c["dropped"] / c["planted"], 4) if c["planted"] else 1.0,
                "by_rule": {k[3:]: v for k, v in sorted(c.items()) if k.startswith("by:")},
            }
            for d, c in sorted(per_defect.items())
        },
    }


# ------------------------------------------------------------------- ``provena dedup`` on a file


@dataclass(frozen=True)
class FileDedup:
    rows: int
    fields: list[str]  # the columns compared
    clusters: int  # groups of two or more duplicate rows
    dropped: int
    dropped_to: Path  # the dropped rows, each with its cluster


def with_threshold(cfg: DedupConfig, threshold: float | None) -> DedupConfig:
    """``cfg`` with another Jaccard threshold (``--threshold``); the LSH bands and rows are then
    datasketch's optimum for it, not the ones in params."""
    if threshold is None:
        return cfg
    update = {"threshold": threshold, "bands": None, "rows": None}
    try:
        return type(cfg).model_validate({**cfg.model_dump(), **update})
    except ValidationError as err:
        raise ConfigError("--threshold", format_validation_error(err, type(cfg))) from None


def dedup_text(row: dict[str, Any], fields: Sequence[str]) -> str:
    """The text compared: the row's non-empty ``fields`` joined by a blank line, as the clean
    stage joins a record's (:meth:`Filters.text`)."""
    return "\n\n".join(str(v) for f in fields if (v := row.get(f)) not in (None, ""))


def dedup_rows(
    rows: Sequence[dict[str, Any]], fields: Sequence[str], cfg: DedupConfig
) -> tuple[list[Cluster], list[dict[str, Any]]]:
    """The duplicate clusters of ``rows`` compared on ``fields``, and an entry per row dropped
    (in line order): its 1-based line, rule, the line of the row kept, the estimated
    similarity to it, the cluster's size and the row itself."""
    dd = Deduplicator(cfg)
    bar = progress(total=len(rows), desc="dedup", unit=" rec", unit_scale=True)
    for start in range(0, len(rows), cfg.chunk_size):
        part = rows[start : start + cfg.chunk_size]
        dd.add(range(start, start + len(part)), [dedup_text(r, fields) for r in part])
        bar.update(len(part))
    bar.close()
    clusters = dd.clusters()
    dropped = [
        {
            "line": r + 1,
            "rule": "exact_duplicate" if r in c.exact else "near_duplicate",
            "kept_line": c.kept + 1,
            "similarity": c.similarity[r],
            "cluster_size": len(c.members),
            "row": rows[r],
        }
        for c in clusters
        for r in c.members
        if r != c.kept
    ]
    return clusters, sorted(dropped, key=lambda d: d["line"])


def dedup_file(
    inp: Path,
    out: Path,
    cfg: CleanConfig,
    *,
    fields: Sequence[str] | None = None,
    threshold: float | None = None,
    dropped: Path | None = None,
) -> FileDedup:
    """Drop the exact and near-duplicate rows of one JSONL, CSV or Parquet file with the clean
    stage's dedup params (``threshold`` overrides theirs), comparing ``fields`` (default: the
    clean stage's fields that the file has). The rows dropped go to ``dropped`` (default:
    ``OUT_STEM.dropped.jsonl``) with their cluster."""
    dedup_cfg = with_threshold(cfg.dedup, threshold)
    rows = read_rows(inp)
    columns = table_columns(rows)
    fields = list(fields or [f for f in cfg.fields if f in columns])
    missing = [f for f in fields if f not in columns]
    if not fields or missing:
        raise UserError(
            f"{inp}: no column {', '.join(repr(m) for m in missing) or 'to compare'}; "
            f"columns present: {', '.join(columns)} (choose with --fields)"
        )
    clusters, gone = dedup_rows(rows, fields, dedup_cfg)
    drop = {d["line"] - 1 for d in gone}
    write_rows(out, [r for i, r in enumerate(rows) if i not in drop])
    dropped = dropped or out.with_name(out.stem + ".dropped.jsonl")
    write_jsonl(dropped, gone)
    return FileDedup(len(rows), fields, len(clusters), len(gone), dropped)
