"""The ``provena`` command: the pipeline's pieces for use outside DVC, on any files.

Each subcommand runs the same library code as its DVC stage, with the same params.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from provena import __version__
from provena.config import (
    AuditDataConfig,
    CardConfig,
    ConfigError,
    IngestConfig,
    Params,
    format_validation_error,
    load_params,
    section_names,
)
from provena.errors import UserError
from provena.progress import progress, setup_logging

log = logging.getLogger("provena")


def _params_or_default(path: Path | None) -> Params | None:
    """The given params file, else ./params.yaml if present, else None (library defaults)."""
    if path is not None:
        return load_params(path)
    if Path("params.yaml").is_file():
        return load_params("params.yaml")
    return None


def cmd_ingest(args: argparse.Namespace) -> int:
    from provena import ingest

    params = _params_or_default(args.params)
    cfg = params.ingest if params else IngestConfig()
    out: Path = args.out
    stem = out.with_suffix("")
    report = ingest.run(
        list(args.inputs),
        cfg,
        out=out,
        ledger=args.ledger or stem.with_name(stem.name + ".ledger.jsonl"),
        quarantine=args.quarantine or stem.with_name(stem.name + ".quarantine.jsonl"),
        metrics=args.metrics,
    )
    print(
        f"{report['records_in']} records in, {report['records_kept']} kept -> {out}, "
        f"{report['records_quarantined']} quarantined"
    )
    return 0


def _read_rows(path: Path) -> list[dict]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from provena.errors import UserError
    from provena.io import read_jsonl

    if not path.is_file():
        raise UserError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return list(read_jsonl(path))
    if suffix == ".csv":
        return pcsv.read_csv(path).to_pylist()
    if suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    raise UserError(f"{path}: unsupported file type '{path.suffix}'; use .jsonl, .csv or .parquet")


def _write_rows(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from provena.errors import UserError
    from provena.io import atomic_path, write_jsonl

    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        write_jsonl(path, rows)
        return
    if suffix not in (".csv", ".parquet"):
        raise UserError(
            f"{path}: unsupported output type '{path.suffix}'; use .jsonl, .csv or .parquet"
        )
    table = pa.Table.from_pylist(rows)
    with atomic_path(path) as tmp:
        (pcsv.write_csv if suffix == ".csv" else pq.write_table)(table, tmp)


def cmd_scrub(args: argparse.Namespace) -> int:
    from provena.config import ScrubPiiConfig
    from provena.errors import UserError
    from provena.scrub_pii import Scrubber, scrub_texts

    params = _params_or_default(args.params)
    cfg = params.scrub_pii if params else ScrubPiiConfig()
    rows = _read_rows(args.input)
    if not rows:
        raise UserError(f"{args.input}: file holds no rows")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if args.fields:
        fields = [f.strip() for f in args.fields.split(",") if f.strip()]
        missing = [f for f in fields if f not in columns]
        if missing:
            raise UserError(
                f"{args.input}: no column {', '.join(repr(m) for m in missing)}; "
                f"columns present: {', '.join(columns)}"
            )
    else:
        fields = [c for c in ("instruction", "input", "output") if c in columns] or [
            c for c in columns if all(isinstance(r.get(c), str | None) for r in rows)
        ]
    scrubber = Scrubber(cfg)
    changed = 0
    bar = progress(total=len(rows) * len(fields), desc="scrub", unit=" text", unit_scale=True)
    for f in fields:
        idx = [i for i, r in enumerate(rows) if isinstance(r.get(f), str) and r[f]]
        for start in range(0, len(idx), cfg.batch_size):
            part = idx[start : start + cfg.batch_size]
            for i, new in zip(part, scrub_texts([rows[i][f] for i in part], scrubber), strict=True):
                changed += new != rows[i][f]
                rows[i][f] = new
            bar.update(len(part))
    bar.close()
    _write_rows(args.output, rows)
    print(
        f"{len(rows)} rows, fields {', '.join(fields)}: {changed} values changed -> {args.output}"
    )
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    from provena.config import CleanConfig
    from provena.dedup import Deduplicator
    from provena.io import write_jsonl

    params = _params_or_default(args.params)
    cfg = (params.clean if params else CleanConfig()).dedup
    if args.threshold is not None:
        update = {"threshold": args.threshold, "bands": None, "rows": None}
        try:
            cfg = type(cfg).model_validate({**cfg.model_dump(), **update})
        except ValidationError as err:
            raise ConfigError("--threshold", format_validation_error(err, type(cfg))) from None
    rows = _read_rows(args.input)
    if not rows:
        raise UserError(f"{args.input}: file holds no rows")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    fields = [f.strip() for f in (args.fields or "").split(",") if f.strip()] or [
        c for c in ("instruction", "input", "output") if c in columns
    ]
    missing = [f for f in fields if f not in columns]
    if not fields or missing:
        raise UserError(
            f"{args.input}: no column {', '.join(repr(m) for m in missing) or 'to compare'}; "
            f"columns present: {', '.join(columns)} (choose with --fields)"
        )
    dd = Deduplicator(cfg)
    bar = progress(total=len(rows), desc="dedup", unit=" rec", unit_scale=True)
    for start in range(0, len(rows), cfg.chunk_size):
        part = rows[start : start + cfg.chunk_size]
        texts = ["\n\n".join(str(r.get(f) or "") for f in fields) for r in part]
        dd.add(range(start, start + len(part)), texts)
        bar.update(len(part))
    bar.close()
    clusters = dd.clusters()
    dropped = []
    for c in clusters:
        for r in c.members:
            if r != c.kept:
                dropped.append(
                    {
                        "line": r + 1,
                        "rule": "exact_duplicate" if r in c.exact else "near_duplicate",
                        "kept_line": c.kept + 1,
                        "similarity": c.similarity[r],
                        "cluster_size": len(c.members),
                        "row": rows[r],
                    }
                )
    gone = {d["line"] - 1 for d in dropped}
    _write_rows(args.output, [r for i, r in enumerate(rows) if i not in gone])
    sidecar = args.dropped or args.output.with_name(args.output.stem + ".dropped.jsonl")
    write_jsonl(sidecar, sorted(dropped, key=lambda d: d["line"]))
    print(
        f"{len(rows)} rows, fields {', '.join(fields)}: {len(clusters)} duplicate clusters, "
        f"{len(dropped)} rows dropped -> {args.output} (kept {len(rows) - len(dropped)}); "
        f"dropped rows with their cluster -> {sidecar}"
    )
    return 0


def cmd_signoff(args: argparse.Namespace) -> int:
    from provena import signoff

    root = Path.cwd()
    if args.check:
        st = signoff.status(args.report, root)
        if st["valid"]:
            who = ", ".join(f"{s['reviewer']} ({s['signed_at']})" for s in st["signoffs"])
            print(f"{args.report}: signed off by {who}")
            return 0
        print(f"{args.report}: NOT signed off: {st['reason']}")
        return 1
    if args.reviewer is None or args.note is None:
        raise UserError("provena signoff REPORT needs --reviewer NAME and --note TEXT (or --check)")
    entry = signoff.sign(args.report, args.reviewer, args.note, root)
    print(
        f"signed off {entry['report']} (sha256 {entry['sha256'][:12]}) by {entry['reviewer']} "
        f"-> {signoff.signoff_path(args.report, root / signoff.SIGNOFF_DIR).relative_to(root)}; "
        "commit it"
    )
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from provena.synth import generate, write_dataset

    params = load_params(args.params)
    cfg = params.synth
    if args.n is not None:
        cfg = cfg.model_copy(update={"n_clinical": args.n // 2, "n_support": args.n - args.n // 2})
    ds = generate(cfg)
    write_dataset(ds, args.out, args.metrics)
    print(f"{ds.stats['records']} records -> {args.out}")
    return 0


def cmd_check_params(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    print(f"{args.params}: OK ({', '.join(section_names())})")
    if args.show:
        print(json.dumps(params.model_dump(by_alias=True), indent=2))
    return 0


def cmd_report_diff(args: argparse.Namespace) -> int:
    from provena.report_diff import diff_revisions, render_html, render_text

    diff = diff_revisions(args.rev_a, args.rev_b)
    text = render_text(diff, show_unchanged=args.all)
    if args.text is None and args.html is None:
        sys.stdout.write(text)
        return 0
    from provena.io import atomic_open

    if args.text is not None:
        with atomic_open(args.text) as f:
            f.write(text)
    if args.html is not None:
        with atomic_open(args.html) as f:
            f.write(render_html(diff))
    print(diff.summary())
    print("wrote " + ", ".join(str(p) for p in (args.text, args.html) if p is not None))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from provena import lineage

    result = lineage.trace(args.adapter, root=args.root, code=args.code)
    sys.stdout.write(lineage.render_trace(result))
    return 0 if result.ok else 1


def cmd_trained_on(args: argparse.Namespace) -> int:
    from provena import lineage

    root = (args.root or Path.cwd()).resolve()
    adapters = lineage.find_manifests(args.models or [root / "models"])
    if not adapters:
        where = ", ".join(str(m) for m in args.models or [root / "models"])
        raise UserError(f"no adapter manifest.json under {where}; name adapters with --models")
    result = lineage.trained_on(args.query, adapters, root=root)
    sys.stdout.write(lineage.render_trained_on(result))
    return 0 if result.hits else 1


def cmd_bundle(args: argparse.Namespace) -> int:
    from provena import lineage

    digests = lineage.bundle(args.adapter, args.out, root=args.root)
    print(f"{len(digests)} files and MANIFEST.txt (their SHA-256) -> {args.out}; no data/ file")
    return 0


def cmd_review_export(args: argparse.Namespace) -> int:
    from provena import review

    params = _params_or_default(args.params)
    attributes = (params.audit_data if params else AuditDataConfig()).attributes
    result = review.export(
        args.predictions,
        args.splits,
        args.out,
        attributes=attributes,
        per_group=args.per_group,
        model=args.model,
        seed=args.seed,
    )
    print(f"{result.rows} {args.model} answers to rate -> {args.out}")
    for attr, groups in result.counts.items():
        shown = ", ".join(f"{g} {n} (of {result.available[attr][g]})" for g, n in groups.items())
        print(f"  {attr}: {shown}")
    print(f"fill in rating (1-5), comment and reviewer, then: provena review import {args.out}")
    return 0


def cmd_review_import(args: argparse.Namespace) -> int:
    from provena import review

    params = _params_or_default(args.params)
    out = args.out or Path((params.card if params else CardConfig()).review_ratings)
    result = review.import_ratings(
        args.ratings, out, reviewer=args.reviewer, predictions=args.predictions
    )
    s = result.ratings["summary"]
    if result.stale:
        log.warning(
            "%d row(s) of %s hold an answer %s no longer has (lines %s): the sheet is older "
            "than the last evaluation; their ratings are kept",
            len(result.stale),
            args.ratings,
            args.predictions,
            ", ".join(map(str, result.stale)),
        )
    if result.comment_only:
        log.warning(
            "lines %s of %s have a comment but no rating: not imported",
            ", ".join(map(str, result.comment_only)),
            args.ratings,
        )
    mean = "n/a" if s["mean_rating"] is None else f"{s['mean_rating']:.2f}"
    print(
        f"{result.rated} rated, {result.unrated} unrated in {args.ratings} -> {out}: "
        f"{s['rated']} rated in all (mean {mean}), {s['unrated']} still unrated"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provena",
        description="Data curation and quality audits for LLM fine-tuning. The full pipeline "
        "runs with `dvc repro`; these commands run its pieces on any files.",
    )
    parser.add_argument("--version", action="version", version=f"provena {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "ingest",
        help="normalize JSONL/CSV/Parquet/HF files into the record schema",
        description="Read files or folders (JSONL, JSON, CSV, TSV, Parquet, HF "
        "save_to_disk), map alpaca/dolly/chat shapes onto the record schema, "
        "normalize text and quarantine bad rows. Same code as the ingest stage.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    p.add_argument("--out", type=Path, required=True, help="output records (.parquet or .jsonl)")
    p.add_argument("--params", type=Path, help="params file (default: ./params.yaml if present)")
    p.add_argument("--ledger", type=Path, help="default: OUT.ledger.jsonl")
    p.add_argument("--quarantine", type=Path, help="default: OUT.quarantine.jsonl")
    p.add_argument("--metrics", type=Path, help="write counts as JSON here")
    p.set_defaults(fn=cmd_ingest)

    p = sub.add_parser(
        "scrub",
        help="detect and replace PII in the text columns of one file",
        description="Scrub PII in a JSONL, CSV or Parquet file with the same engine "
        "and params (scrub_pii section) as the pipeline stage.",
    )
    p.add_argument("input", type=Path, metavar="INPUT")
    p.add_argument("output", type=Path, metavar="OUTPUT")
    p.add_argument(
        "--fields",
        help="comma-separated columns to scrub (default: instruction, input, "
        "output if present, else every text column)",
    )
    p.add_argument("--params", type=Path, help="params file (default: ./params.yaml if present)")
    p.set_defaults(fn=cmd_scrub)

    p = sub.add_parser(
        "dedup",
        help="remove exact and near-duplicate rows from one file",
        description="Exact and MinHash LSH near-duplicate removal on a JSONL, CSV or Parquet "
        "file, with the clean stage's params (clean.dedup). The first row of each cluster is "
        "kept (or the longest, per params); dropped rows go to OUTPUT_STEM.dropped.jsonl with "
        "the line of the row kept and the estimated similarity.",
    )
    p.add_argument("input", type=Path, metavar="INPUT")
    p.add_argument("output", type=Path, metavar="OUTPUT")
    p.add_argument(
        "--fields",
        help="comma-separated columns compared (default: instruction, input, output present)",
    )
    p.add_argument("--threshold", type=float, help="Jaccard threshold (default: from params)")
    p.add_argument("--dropped", type=Path, help="where dropped rows go (JSONL)")
    p.add_argument("--params", type=Path, help="params file (default: ./params.yaml if present)")
    p.set_defaults(fn=cmd_dedup)

    p = sub.add_parser(
        "signoff",
        help="sign off a report (bound to its content hash), or check a sign-off",
        description="Record that a reviewer approved REPORT as it is now: the sign-off holds "
        "the report's SHA-256, so any later change to the report invalidates it. Sign-offs "
        "go to audits/signoffs/<report name>.json (commit them). --check exits 1 when the "
        "report has no valid sign-off.",
    )
    p.add_argument("report", type=Path, metavar="REPORT", help="e.g. audits/audit_after.json")
    p.add_argument("--reviewer", help="who signs off")
    p.add_argument("--note", help="what was reviewed and decided")
    p.add_argument("--check", action="store_true", help="only say whether a valid sign-off exists")
    p.set_defaults(fn=cmd_signoff)

    p = sub.add_parser("synth", help="write the synthetic default dataset (or a sample of it)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("-n", type=int, help="total base records (default: from params)")
    p.add_argument("--metrics", type=Path)
    p.set_defaults(fn=cmd_synth)

    p = sub.add_parser("check-params", help="validate a params file and list every problem")
    p.add_argument("params", type=Path, nargs="?", default=Path("params.yaml"))
    p.add_argument("--show", action="store_true", help="print the resolved params")
    p.set_defaults(fn=cmd_check_params)

    p = sub.add_parser(
        "report",
        help="reports on the pipeline's committed outputs (report diff REV_A REV_B)",
        description="Reports on the pipeline's outputs across git revisions.",
    )
    report = p.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    p = report.add_parser(
        "diff",
        help="compare the committed metrics, audits and reports of two git revisions",
        description="Compare metrics/*.json, audits/*.json and reports/*.json at two git "
        "revisions (read with git show, nothing is checked out): each stage's funnel, PII "
        "values by type, validation results (pass -> fail flagged) and every other number, "
        "with deltas. Run it in the project's checkout.",
    )
    p.add_argument("rev_a", metavar="REV_A", help="a commit, tag, branch, HEAD~N or WORKTREE")
    p.add_argument("rev_b", metavar="REV_B", help="the same; WORKTREE is the files on disk now")
    p.add_argument("--html", type=Path, help="write a self-contained HTML page here")
    p.add_argument("--text", type=Path, help="write the text here instead of to stdout")
    p.add_argument("--all", action="store_true", help="list unchanged values too (text)")
    p.set_defaults(fn=cmd_report_diff)

    p = sub.add_parser(
        "trace",
        help="follow an adapter back to its raw data and check every recorded hash",
        description="Print the adapter's lineage from its manifest and dvc.lock, stage by "
        "stage back to the raw data: each input and output with the hash recorded and the "
        "state of the file now (OK, CHANGED, MISSING), plus the split files, gate reports, "
        "params and base model files the manifest records and the manifest embedded in the "
        "weights. Exits 1 when anything differs, naming it.",
    )
    p.add_argument("adapter", type=Path, metavar="ADAPTER_DIR", help="e.g. models/adapter")
    p.add_argument(
        "--root", type=Path, help="project root (default: the folder above holding dvc.lock)"
    )
    p.add_argument("--code", action="store_true", help="check the stages' source deps too")
    p.set_defaults(fn=cmd_trace)

    p = sub.add_parser(
        "trained-on",
        help="list the adapters whose training data held a record (erasure requests)",
        description="Search the train split named in each adapter's manifest for a record: "
        "a 16-hex record id (augmented children whose parent_id leads to it count too), or "
        "else text found (case-insensitive) in instruction, input, output or messages. "
        "Exits 0 when found, 1 when not.",
    )
    p.add_argument("query", metavar="ID_OR_TEXT")
    p.add_argument(
        "--models",
        type=Path,
        action="append",
        help="an adapter folder, or a folder searched for manifest.json (repeatable; "
        "default: models/)",
    )
    p.add_argument("--root", type=Path, help="project root the manifests' paths are under")
    p.set_defaults(fn=cmd_trained_on)

    p = sub.add_parser(
        "bundle",
        help="zip dvc.lock, params, metrics, reports, audits, card and manifest for an auditor",
        description="Write a deterministic zip (same inputs, same bytes) of dvc.lock, "
        "dvc.yaml, params.yaml, metrics/*.json, reports/*.json and *.html, audits/ (with "
        "sign-offs) and the adapter's manifest, train and adapter config and card, with "
        "MANIFEST.txt listing each file's SHA-256. No data/ file goes in.",
    )
    p.add_argument("adapter", type=Path, metavar="ADAPTER_DIR")
    p.add_argument("out", type=Path, metavar="OUT.zip")
    p.add_argument(
        "--root", type=Path, help="project root (default: the folder above holding dvc.lock)"
    )
    p.set_defaults(fn=cmd_bundle)

    p = sub.add_parser(
        "review",
        help="human review of model answers (review export OUT.csv, review import RATINGS.csv)",
        description="People rate a sample of the model's answers in a spreadsheet; the ratings "
        "go into the model card.",
    )
    review = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    p = review.add_parser(
        "export",
        help="write a sample of the adapter's answers per group as a CSV to rate",
        description="Sample the model's answers from evaluate's predictions so that every group "
        "of each attribute in params' audit_data.attributes gets up to --per-group answers "
        "(rows already picked for one group count for the others, so a group may get more), "
        "the same sample on every run for one --seed, and write them as a CSV (UTF-8, opens in "
        "Excel and LibreOffice) with the prompt, the model's answer and the reference, and "
        "empty rating (1-5), comment and reviewer columns. See reviews/README.md.",
    )
    p.add_argument("out", type=Path, metavar="OUT.csv")
    p.add_argument(
        "--predictions", type=Path, default=Path("data/eval/predictions.jsonl"), help="%(default)s"
    )
    p.add_argument(
        "--splits",
        type=Path,
        nargs="+",
        default=[Path("data/processed/test.parquet"), Path("data/processed/gold.parquet")],
        help="split files with the prompts; only their splits (file stems) are sampled "
        "(default: test and gold)",
    )
    p.add_argument("--per-group", type=int, default=10, help="answers per group (default: 10)")
    p.add_argument("--model", default="adapter", help="adapter or base (default: adapter)")
    p.add_argument("--seed", type=int, default=0, help="another seed, another sample")
    p.add_argument("--params", type=Path, help="params file (default: ./params.yaml if present)")
    p.set_defaults(fn=cmd_review_export)

    p = review.add_parser(
        "import",
        help="check a rated CSV and merge its ratings into reviews/ratings.json",
        description="Check every row of a sheet from `provena review export` (review_id as "
        "exported, rating a whole number 1-5 or empty for not rated, reviewer on every rated "
        "row unless --reviewer is given) and report every problem at once with its line and "
        "column; nothing is written unless all rows are right. Ratings merge into --out by "
        "review_id: importing several reviewers' sheets one after another keeps them all, and "
        "a row rated again takes the newer rating. Rows whose answer is no longer in "
        "--predictions (evaluate ran again since the export) are imported with a warning.",
    )
    p.add_argument("ratings", type=Path, metavar="RATINGS.csv")
    p.add_argument("--out", type=Path, help="ratings file (default: card.review_ratings in params)")
    p.add_argument("--reviewer", help="reviewer of rated rows whose reviewer cell is empty")
    p.add_argument(
        "--predictions",
        type=Path,
        default=Path("data/eval/predictions.jsonl"),
        help="to flag stale rows, when present (default: %(default)s)",
    )
    p.add_argument("--params", type=Path, help="params file (default: ./params.yaml if present)")
    p.set_defaults(fn=cmd_review_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.fn(args)
    except UserError as err:
        log.error("%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["ConfigError", "build_parser", "main"]
