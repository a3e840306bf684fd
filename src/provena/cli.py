"""The ``provena`` command: the pipeline's pieces for use outside DVC, on any files.

Each subcommand parses its options, calls the same library code as its DVC stage (with the
same params) and prints what it did. ``cli`` is the click group (the docs render its
reference); ``main`` is the console script and returns the exit status: 0 done, 1 a failing
result (``trace``, ``trained-on``, ``signoff --check``), 2 bad input or usage (the message on
stderr, without a traceback), 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from provena import __version__
from provena.config import (
    AuditDataConfig,
    CardConfig,
    CleanConfig,
    DriftConfig,
    EvaluateConfig,
    IngestConfig,
    PiiProfile,
    ScrubPiiConfig,
    ValidateConfig,
    load_params,
    section_names,
)
from provena.errors import UserError
from provena.progress import setup_logging

log = logging.getLogger("provena")

#: ``provena --help`` lists the commands under these headings, in this order.
JOBS = (
    ("Curate data", ("synth", "ingest", "scrub", "dedup")),
    ("Review and sign off", ("review", "signoff")),
    ("Compare models", ("compare",)),
    ("Trace lineage", ("trace", "trained-on", "bundle")),
    ("Use the model", ("generate",)),
    ("Deploy", ("export",)),
    ("Reports and params", ("report", "check-params", "suite")),
    ("Watch new data", ("drift",)),
)
PATH = click.Path(path_type=Path)
#: the PII detection profiles (the choices of ScrubPiiConfig.profile)
PII_PROFILES = typing.get_args(PiiProfile)


class JobGroup(click.Group):
    """A click group that lists its commands under one heading per job (click itself has one
    "Commands" list), and turns a :class:`UserError` into its message and exit status 2."""

    def __init__(self, *args: Any, jobs: Sequence[tuple[str, Sequence[str]]] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.jobs = [(heading, list(names)) for heading, names in jobs]

    def list_commands(self, ctx: click.Context) -> list[str]:
        listed = [name for _, names in self.jobs for name in names]
        return [n for n in listed if n in self.commands] + sorted(set(self.commands) - {*listed})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = {
            name: cmd
            for name in self.list_commands(ctx)
            if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden
        }
        if not commands:
            return
        width = max(map(len, commands))
        listed = {name for _, names in self.jobs for name in names}
        others = [name for name in commands if name not in listed]
        for heading, names in [*self.jobs, ("Other commands", others)]:
            rows = [
                # padded alike, so that every section's help column starts at the same place
                (name.ljust(width), commands[name].get_short_help_str(formatter.width - 6 - width))
                for name in names
                if name in commands
            ]
            if rows:
                with formatter.section(heading):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as err:
            log.error("%s", err)
            ctx.exit(2)


#: where :func:`params_section` leaves the whole params file it loaded (``ctx.meta``)
PARAMS_KEY = "provena.params"


def params_section(section: str, default: Callable[[], Any]) -> Callable[[Any], Any]:
    """The ``--params`` option, passing the command the ``section`` of the params file named,
    else of ./params.yaml if present, else ``default()`` (the library defaults) as ``cfg``."""

    def load(ctx: click.Context, param: click.Parameter, path: Path | None) -> Any:
        if path is None and Path("params.yaml").is_file():
            path = Path("params.yaml")
        if path is None:
            return default()
        params = load_params(path)
        ctx.meta[PARAMS_KEY] = params  # the whole file, for a command that reads other sections
        return getattr(params, section)

    return click.option(
        "--params",
        "cfg",
        type=PATH,
        callback=load,
        help="params file (default: ./params.yaml if present)",
    )


def comma_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    return [f.strip() for f in (value or "").split(",") if f.strip()]


def fail_unless(ok: bool) -> None:
    """Exit with status 1 when what the command printed is a failing result."""
    if not ok:
        click.get_current_context().exit(1)


@click.group(
    cls=JobGroup,
    jobs=JOBS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="provena", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def cli(verbose: bool) -> None:
    """Data curation and quality audits for LLM fine-tuning. The full pipeline runs with
    `dvc repro`; these commands run its pieces on any files."""
    setup_logging(verbose)


# ------------------------------------------------------------------------------- curate data


@cli.command("synth", short_help="write the synthetic default dataset (or a sample of it)")
@click.option("--out", type=PATH, required=True, help="output folder")
@click.option(
    "--params", type=PATH, default=Path("params.yaml"), show_default=True, help="params file"
)
@click.option("-n", type=int, help="total base records (default: from params)")
@click.option("--metrics", type=PATH, help="write the dataset's stats as JSON here")
def synth_cmd(out: Path, params: Path, n: int | None, metrics: Path | None) -> None:
    """Write the synthetic default dataset (the synth stage's params), or a sample of N base
    records, with its ground truth (gold PII spans, defect labels)."""
    from provena import synth

    cfg = load_params(params).synth
    ds = synth.generate(cfg if n is None else synth.with_total(cfg, n))
    synth.write_dataset(ds, out, metrics)
    click.echo(f"{ds.stats['records']} records -> {out}")


@cli.command("ingest", short_help="normalize JSONL/CSV/Parquet/HF files into the record schema")
@click.argument("inputs", nargs=-1, required=True, type=PATH, metavar="INPUT...")
@click.option("--out", type=PATH, required=True, help="output records (.parquet or .jsonl)")
@params_section("ingest", IngestConfig)
@click.option("--ledger", type=PATH, help="default: OUT.ledger.jsonl")
@click.option("--quarantine", type=PATH, help="default: OUT.quarantine.jsonl")
@click.option("--metrics", type=PATH, help="write counts as JSON here")
def ingest_cmd(
    inputs: tuple[Path, ...],
    out: Path,
    cfg: IngestConfig,
    ledger: Path | None,
    quarantine: Path | None,
    metrics: Path | None,
) -> None:
    """Read files or folders (JSONL, JSON, CSV, TSV, Parquet, HF save_to_disk), map
    alpaca/dolly/chat shapes onto the record schema, normalize text and quarantine bad rows.
    Same code as the ingest stage."""
    from provena import ingest

    report = ingest.run(
        list(inputs), cfg, out=out, ledger=ledger, quarantine=quarantine, metrics=metrics
    )
    click.echo(
        f"{report['records_in']} records in, {report['records_kept']} kept -> {out}, "
        f"{report['records_quarantined']} quarantined"
    )


@cli.command("scrub", short_help="detect and replace PII in the text columns of one file")
@click.argument("inp", type=PATH, metavar="INPUT")
@click.argument("output", type=PATH, metavar="OUTPUT")
@click.option(
    "--fields",
    callback=comma_list,
    help="comma-separated columns scrubbed whole (default: instruction, input, output if "
    "present, else every text column); in the other columns, and in a `meta` column, free-text "
    "values are scrubbed as the stage scrubs meta",
)
@click.option(
    "--keep",
    callback=comma_list,
    help="comma-separated other columns or meta keys left as they are (added to "
    "scrub_pii.meta.keep; id, source and the labels the params declare are kept anyway)",
)
@click.option(
    "--profile",
    type=click.Choice(PII_PROFILES),
    help="what counts as PII, for every row (default: per row, the scrub_pii.profiles glob "
    "matching its `source` column, else scrub_pii.profile); see docs/pii-profiles.md",
)
@click.option(
    "--spans",
    type=PATH,
    help="write one JSON line per replaced detection here (row, id, field, start, end, "
    "entity_type, score, recognizer, operator; never the value)",
)
@params_section("scrub_pii", ScrubPiiConfig)
def scrub_cmd(
    inp: Path,
    output: Path,
    fields: list[str],
    keep: list[str],
    profile: str | None,
    spans: Path | None,
    cfg: ScrubPiiConfig,
) -> None:
    """Scrub PII in a JSONL, CSV or Parquet file with the same engine and params (scrub_pii
    section) as the pipeline stage."""
    from provena.config import meta_labels
    from provena.scrub_pii import scrub_file

    if keep:
        cfg = cfg.model_copy(
            update={"meta": cfg.meta.model_copy(update={"keep": [*cfg.meta.keep, *keep]})}
        )
    params = click.get_current_context().meta.get(PARAMS_KEY)
    labels = params.meta_labels() if params is not None else meta_labels()
    r = scrub_file(inp, output, cfg, profile=profile, fields=fields, spans=spans, labels=labels)
    others = f" and {r.free_text} free-text values of other columns" if r.free_text else ""
    declared = f"; {r.dropped} dropped, {r.hashed} hashed" if r.dropped or r.hashed else ""
    click.echo(
        f"{r.rows} rows, fields {', '.join(r.fields)}{others}: {r.changed} values changed"
        f"{declared} -> {output}" + (f"; {r.spans} spans -> {spans}" if spans is not None else "")
    )


@cli.command("dedup", short_help="remove exact and near-duplicate rows from one file")
@click.argument("inp", type=PATH, metavar="INPUT")
@click.argument("output", type=PATH, metavar="OUTPUT")
@click.option(
    "--fields",
    callback=comma_list,
    help="comma-separated columns compared (default: the clean stage's fields present)",
)
@click.option("--threshold", type=float, help="Jaccard threshold (default: from params)")
@click.option("--dropped", type=PATH, help="where dropped rows go (JSONL)")
@params_section("clean", CleanConfig)
def dedup_cmd(
    inp: Path,
    output: Path,
    fields: list[str],
    threshold: float | None,
    dropped: Path | None,
    cfg: CleanConfig,
) -> None:
    """Exact and MinHash LSH near-duplicate removal on a JSONL, CSV or Parquet file, with the
    clean stage's code and params (clean.dedup). The first row of each cluster is kept (or the
    longest, per params); dropped rows go to OUTPUT_STEM.dropped.jsonl with the line of the row
    kept and the estimated similarity."""
    from provena.clean import dedup_file

    r = dedup_file(inp, output, cfg, fields=fields, threshold=threshold, dropped=dropped)
    click.echo(
        f"{r.rows} rows, fields {', '.join(r.fields)}: {r.clusters} duplicate clusters, "
        f"{r.dropped} rows dropped -> {output} (kept {r.rows - r.dropped}); "
        f"dropped rows with their cluster -> {r.dropped_to}"
    )


# ----------------------------------------------------------------------- review and sign off


@cli.group(
    "review",
    short_help="rate a sample of model answers: export a CSV, import ratings",
)
def review_group() -> None:
    """People rate a sample of the model's answers in a spreadsheet; the ratings go into the
    model card."""


@review_group.command(
    "export", short_help="write a sample of the adapter's answers per group as a CSV to rate"
)
@click.argument("out", type=PATH, metavar="OUT.csv")
@click.option(
    "--predictions",
    type=PATH,
    default=Path("data/eval/predictions.jsonl"),
    show_default=True,
    help="evaluate's predictions",
)
@click.option(
    "--splits",
    type=PATH,
    multiple=True,
    default=[Path("data/processed/test.parquet"), Path("data/processed/gold.parquet")],
    help="a split file with the prompts (repeatable); only these splits (file stems) are "
    "sampled (default: test and gold)",
)
@click.option("--per-group", type=int, default=10, show_default=True, help="answers per group")
@click.option("--model", default="adapter", show_default=True, help="adapter or base")
@click.option("--seed", type=int, default=0, show_default=True, help="another seed, another sample")
@params_section("audit_data", AuditDataConfig)
def review_export_cmd(
    out: Path,
    predictions: Path,
    splits: tuple[Path, ...],
    per_group: int,
    model: str,
    seed: int,
    cfg: AuditDataConfig,
) -> None:
    """Sample the model's answers from evaluate's predictions so that every group of each
    attribute in params' audit_data.attributes gets up to --per-group answers (rows already
    picked for one group count for the others, so a group may get more), the same sample on
    every run for one --seed, and write them as a CSV (UTF-8, opens in Excel and LibreOffice)
    with the prompt, the model's answer and the reference, and empty rating (1-5), comment and
    reviewer columns. See reviews/README.md."""
    from provena import review

    result = review.export(
        predictions,
        list(splits),
        out,
        attributes=cfg.attributes,
        per_group=per_group,
        model=model,
        seed=seed,
    )
    click.echo(f"{result.rows} {model} answers to rate -> {out}")
    for attr, groups in result.counts.items():
        shown = ", ".join(f"{g} {n} (of {result.available[attr][g]})" for g, n in groups.items())
        click.echo(f"  {attr}: {shown}")
    click.echo(f"fill in rating (1-5), comment and reviewer, then: provena review import {out}")


@review_group.command(
    "import", short_help="check a rated CSV and merge its ratings into reviews/ratings.json"
)
@click.argument("ratings", type=PATH, metavar="RATINGS.csv")
@click.option("--out", type=PATH, help="ratings file (default: card.review_ratings in params)")
@click.option("--reviewer", help="reviewer of rated rows whose reviewer cell is empty")
@click.option(
    "--predictions",
    type=PATH,
    default=Path("data/eval/predictions.jsonl"),
    show_default=True,
    help="to flag stale rows, when present",
)
@params_section("card", CardConfig)
def review_import_cmd(
    ratings: Path,
    out: Path | None,
    reviewer: str | None,
    predictions: Path,
    cfg: CardConfig,
) -> None:
    """Check every row of a sheet from `provena review export` (review_id as exported, rating a
    whole number 1-5 or empty for not rated, reviewer on every rated row unless --reviewer is
    given) and report every problem at once with its line and column; nothing is written unless
    all rows are right. Ratings merge into --out by review_id: importing several reviewers'
    sheets one after another keeps them all, and a row rated again takes the newer rating. Rows
    whose answer is no longer in --predictions (evaluate ran again since the export) are
    imported with a warning."""
    from provena import review

    out = out or Path(cfg.review_ratings)
    result = review.import_ratings(ratings, out, reviewer=reviewer, predictions=predictions)
    if result.stale:
        log.warning(
            "%d row(s) of %s hold an answer %s no longer has (lines %s): the sheet is older "
            "than the last evaluation; their ratings are kept",
            len(result.stale),
            ratings,
            predictions,
            ", ".join(map(str, result.stale)),
        )
    if result.comment_only:
        log.warning(
            "lines %s of %s have a comment but no rating: not imported",
            ", ".join(map(str, result.comment_only)),
            ratings,
        )
    s = result.ratings["summary"]
    mean = "n/a" if s["mean_rating"] is None else f"{s['mean_rating']:.2f}"
    click.echo(
        f"{result.rated} rated, {result.unrated} unrated in {ratings} -> {out}: "
        f"{s['rated']} rated in all (mean {mean}), {s['unrated']} still unrated"
    )


@cli.command("signoff", short_help="sign off a report (bound to its hash), or check a sign-off")
@click.argument("report", type=PATH, metavar="REPORT")
@click.option("--reviewer", help="who signs off")
@click.option("--note", help="what was reviewed and decided")
@click.option("--check", is_flag=True, help="only say whether a valid sign-off exists")
@click.option(
    "--accept",
    "accept",
    multiple=True,
    metavar="CHECK",
    help="a failing or inconclusive finding the sign-off accepts, by its check (repeat for each)",
)
def signoff_cmd(
    report: Path, reviewer: str | None, note: str | None, check: bool, accept: tuple[str, ...]
) -> None:
    """Record that a reviewer approved REPORT (e.g. audits/audit_after.json) as it is now: the
    sign-off holds the report's SHA-256, so any later change to the report invalidates it.
    Sign-offs go to audits/signoffs/<report name>.json (commit them). A report whose verdict is
    fail or inconclusive needs --accept CHECK for each of its failing or inconclusive findings
    (the error lists those missing). --check exits 1 when the report has no valid sign-off."""
    from provena import signoff

    root = Path.cwd()
    if check:
        st = signoff.status(report, root)
        if st["valid"]:
            who = ", ".join(f"{s['reviewer']} ({s['signed_at']})" for s in st["signoffs"])
            click.echo(f"{report}: signed off by {who}")
        else:
            click.echo(f"{report}: NOT signed off: {st['reason']}")
        fail_unless(st["valid"])
        return
    if reviewer is None or note is None:
        raise UserError("provena signoff REPORT needs --reviewer NAME and --note TEXT (or --check)")
    entry = signoff.sign(report, reviewer, note, root, accept=accept)
    saved = signoff.signoff_path(report, root / signoff.SIGNOFF_DIR).relative_to(root)
    click.echo(
        f"signed off {entry['report']} (sha256 {entry['sha256'][:12]}) by {entry['reviewer']} "
        f"-> {saved}; commit it"
    )


# ---------------------------------------------------------------------------- trace lineage

ROOT_HELP = "project root (default: the folder above holding dvc.lock)"


@cli.command("trace", short_help="follow an adapter to its raw data, checking every hash")
@click.argument("adapter", type=PATH, metavar="ADAPTER_DIR")
@click.option("--root", type=PATH, help=ROOT_HELP)
@click.option("--code", is_flag=True, help="check the stages' source deps too")
def trace_cmd(adapter: Path, root: Path | None, code: bool) -> None:
    """Print the lineage of the adapter in ADAPTER_DIR (e.g. models/adapter) from its manifest
    and dvc.lock, stage by stage back to the raw data: each input and output with the hash
    recorded and the state of the file now (OK, CHANGED, MISSING), plus the split files, gate
    reports, params and base model files the manifest records and the manifest embedded in the
    weights. Exits 1 when anything differs, naming it."""
    from provena import lineage

    result = lineage.trace(adapter, root=root, code=code)
    click.echo(lineage.render_trace(result), nl=False)
    fail_unless(result.ok)


@cli.command(
    "trained-on",
    short_help="list adapters whose training data held a record (erasure)",
)
@click.argument("query", metavar="ID_OR_VALUE")
@click.option(
    "--models",
    type=PATH,
    multiple=True,
    help="an adapter folder, or a folder searched for manifest.json (repeatable; default: models/)",
)
@click.option("--root", type=PATH, help="project root the manifests' paths are under")
@click.option(
    "--pii-ledger",
    type=PATH,
    help="scrub_pii's ledger of keyed hashes (default: data/ledger/scrub_pii.jsonl under the root)",
)
def trained_on_cmd(
    query: str, models: tuple[Path, ...], root: Path | None, pii_ledger: Path | None
) -> None:
    """Search the train split named in each adapter's manifest for a record: a 16-hex record id
    (augmented children whose parent_id leads to it count too), or else a raw value (a name, an
    e-mail, a record number): the records whose scrub_pii ledger holds its keyed hash (the
    value normalised as the ledger's are: case, accents, punctuation, a name's word order; the
    key from the salt variable, PROVENA_PII_SALT by default), and those whose text holds it
    (case-insensitive). A split file that changed since training or cannot be read is an
    error naming it. Exits 0 when found, 1 when not."""
    from provena import lineage

    result = lineage.search_trained_on(query, models, root=root, pii_ledger=pii_ledger)
    click.echo(lineage.render_trained_on(result), nl=False)
    fail_unless(bool(result.hits))


@cli.command(
    "bundle",
    short_help="zip an adapter's lineage and reports for an auditor (no data)",
)
@click.argument("adapter", type=PATH, metavar="ADAPTER_DIR")
@click.argument("out", type=PATH, metavar="OUT.zip")
@click.option("--root", type=PATH, help=ROOT_HELP)
def bundle_cmd(adapter: Path, out: Path, root: Path | None) -> None:
    """Write a deterministic zip (same inputs, same bytes) of dvc.lock, dvc.yaml, params.yaml,
    metrics/*.json, reports/*.json and *.html, audits/ (with sign-offs) and the adapter's
    manifest, train and adapter config and card, with MANIFEST.txt listing each file's SHA-256.
    No data/ file goes in."""
    from provena import lineage

    digests = lineage.bundle(adapter, out, root=root)
    click.echo(f"{len(digests)} files and MANIFEST.txt (their SHA-256) -> {out}; no data/ file")


# ----------------------------------------------------------------------------------- compare


def _compare_defaults() -> Any:
    from provena.config import CompareConfig

    return CompareConfig()


@cli.command("compare", short_help="model B against model A on the same records: exit 1 if worse")
@click.argument("a", type=PATH, metavar="A")
@click.argument("b", type=PATH, metavar="B")
@click.option(
    "--answers",
    is_flag=True,
    help="A and B are answer files (JSONL, rows of evaluate's predictions), not model folders",
)
@click.option(
    "--ratings", type=PATH, help="with --answers: the ratings file of `provena review import`"
)
@click.option(
    "--out",
    type=PATH,
    default=Path("reports/compare.json"),
    show_default=True,
    help="the JSON; the HTML page goes next to it (.html)",
)
@click.option("--test", type=PATH, default=Path("data/processed/test.parquet"), show_default=True)
@click.option("--gold", type=PATH, default=Path("data/processed/gold.parquet"), show_default=True)
@click.option(
    "--base",
    "base_dir",
    type=PATH,
    default=Path("models/base"),
    show_default=True,
    help="base of an adapter folder (else the one its train_config.json names)",
)
@click.option(
    "--privacy/--no-privacy",
    default=True,
    show_default=True,
    help="run the privacy probes on both models (when --train and --pii-ledger exist)",
)
@click.option("--train", type=PATH, default=Path("data/processed/train.parquet"), show_default=True)
@click.option(
    "--pii-ledger", type=PATH, default=Path("data/ledger/scrub_pii.jsonl"), show_default=True
)
@params_section("compare", _compare_defaults)
def compare_cmd(
    a: Path,
    b: Path,
    answers: bool,
    ratings: Path | None,
    out: Path,
    test: Path,
    gold: Path,
    base_dir: Path,
    privacy: bool,
    train: Path,
    pii_ledger: Path,
    cfg: Any,
) -> None:
    """Compare model B with model A on the same test and gold records, scored as evaluate
    scores a model: per family, audited group and fairness gap, each difference B - A with a
    paired bootstrap interval and a verdict (better, worse, no difference), perplexity, the
    privacy probes, and the answers that differ most side by side. A and B are adapter, export
    or model folders, or DVC experiment names (`dvc exp show`: each one's models/adapter and
    models/base come out of DVC's cache, the workspace untouched). With --answers, A and B are
    answer files paired by split and id, scored against their references and, with --ratings,
    by the human ratings `provena review import` wrote. Writes --out and the HTML page next to
    it; exits 0 when B is not worse on any gated comparison (compare.gate), 1 when it is, 2 on
    bad input."""
    from provena import compare
    from provena.config import AuditDataConfig, EvaluateConfig, ScrubPiiConfig, TrainConfig

    params = click.get_current_context().meta.get(PARAMS_KEY)
    ecfg = params.evaluate if params else EvaluateConfig()
    attributes = params.audit_data.attributes if params else AuditDataConfig().attributes
    split_files = {"test": test, "gold": gold}
    if answers:
        records = {
            r["id"]: r for p in split_files.values() if p.is_file() for r in compare.read_split(p)
        }
        result = compare.compare_answers(
            a, b, ecfg, cfg, attributes=attributes, ratings=ratings, records=records
        )
    else:
        if ratings is not None:
            raise UserError("--ratings goes with --answers (ratings are of answer files)")
        t = TrainConfig.model_fields
        train_cfg = params.train if params else None
        scrub = params.scrub_pii if params else ScrubPiiConfig()
        probe_inputs, skipped = None, None
        if not privacy:
            skipped = "--no-privacy"
        elif not (train.is_file() and pii_ledger.is_file()):
            skipped = f"no {train if not train.is_file() else pii_ledger}"
        else:
            from provena.evaluate import pii_detector
            from provena.io import read_jsonl
            from provena.pii.settings import secret_key

            probe_inputs = compare.PrivacyInputs(
                compare.read_split(train),
                list(read_jsonl(pii_ledger)),
                secret_key(scrub)[0],
                pii_detector(scrub),
            )
        with tempfile.TemporaryDirectory(prefix="provena-compare-") as tmp:
            # A or B that is no folder here is a DVC experiment (or Git revision) name: its
            # adapter and base come out of DVC's cache, each side with its own base
            paths, bases = [], {}
            for label, given in zip(compare.LABELS, (a, b), strict=True):
                if given.exists():
                    paths.append(given)
                    bases[label] = base_dir
                else:
                    adapter, base = compare.fetch_experiment(str(given), Path("."), Path(tmp))
                    paths.append(adapter)
                    bases[label] = base
            result = compare.compare_models(
                paths[0],
                paths[1],
                split_files,
                ecfg,
                cfg,
                base_dir=bases,
                quantization=train_cfg.quantization if train_cfg else t["quantization"].default,
                max_seq_len=train_cfg.max_seq_len if train_cfg else t["max_seq_len"].default,
                use_chat_template=(
                    train_cfg.use_chat_template if train_cfg else t["use_chat_template"].default
                ),
                attributes=attributes,
                privacy=probe_inputs,
                privacy_skipped=skipped,
            )
        for side, given in (("a", a), ("b", b)):
            if not given.exists():  # name the experiment, not the temporary folder
                result[side].update(path=str(given), experiment=True)
    page = compare.write(result, out)
    outcome = result["outcome"]
    counts = ", ".join(f"{v} {n}" for v, n in outcome["verdicts"].items())
    click.echo(f"{outcome['text']} ({counts}) -> {out}, {page}")
    for where in outcome["worse"]:
        click.echo(f"  worse: {where}")
    fail_unless(outcome["b_not_worse"])


# ---------------------------------------------------------------------------- use the model


@cli.command("generate", short_help="answer prompts with an adapter or export, guardrail on")
@click.argument("model_dir", type=PATH, metavar="MODEL_DIR")
@click.option("--input", "inp", type=PATH, help="JSONL records with instruction (and input)")
@click.option("--out", type=PATH, help="JSONL: each input line with answer and guardrail added")
@click.option("--prompt", help="one instruction, answered on stdout (instead of --input/--out)")
@click.option("--max-new-tokens", type=int, help="default: evaluate.max_new_tokens")
@click.option("--batch-size", type=int, help="default: evaluate.batch_size")
@click.option("--sample", is_flag=True, help="sample instead of greedy decoding")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="with --sample")
@click.option("--no-guardrail", is_flag=True, help="return answers unchecked")
@click.option(
    "--policy", type=PATH, help="guardrail policy (default: ROOT/guardrail.yaml, else packaged)"
)
@click.option("--classifier", type=PATH, help="a local text-classification model folder")
@click.option("--ledger", type=PATH, help="default: ROOT/data/ledger/scrub_pii.jsonl")
@click.option("--train", type=PATH, help="the train split (default: ROOT/data/processed/train)")
@click.option(
    "--log", "log_path", type=PATH, help="blocked, flagged answers (default: OUT.guardrail.jsonl)"
)
@click.option("--root", type=PATH, default=Path("."), help="project root (default: here)")
@params_section("evaluate", EvaluateConfig)
def generate_cmd(
    model_dir: Path,
    inp: Path | None,
    out: Path | None,
    prompt: str | None,
    max_new_tokens: int | None,
    batch_size: int | None,
    sample: bool,
    temperature: float,
    no_guardrail: bool,
    policy: Path | None,
    classifier: Path | None,
    ledger: Path | None,
    train: Path | None,
    log_path: Path | None,
    root: Path,
    cfg: EvaluateConfig,
) -> None:
    """Answer prompts with MODEL_DIR (an adapter folder such as models/adapter, an export
    folder, or a merged model folder), prompted with training's chat template, in batches. Every
    answer goes through the guardrail (docs/guardrail.md) unless --no-guardrail: PII the prompt
    did not give (blocked or flagged by entity type, as the policy says), the training data's
    scrubbed values and canaries, the policy's rules and an optional classifier; a blocked
    answer is replaced by a refusal with the reasons; blocked and flagged answers are logged
    without the value. --input lines are records with `instruction` and an optional `input`;
    each line of --out is the input line with `answer` and `guardrail` added."""
    from provena import generate
    from provena.guardrail import Guardrail

    if (prompt is None) == (inp is None) or (inp is not None) != (out is not None):
        raise UserError("provena generate needs either --input FILE and --out FILE, or --prompt")
    if prompt is not None:
        rows = [{"instruction": prompt, "input": ""}]
    else:
        assert inp is not None
        rows = generate.read_inputs(inp)
    guard = None
    if not no_guardrail:
        if log_path is None and out is not None:
            log_path = out.with_name(out.stem + ".guardrail.jsonl")
        guard = Guardrail.from_project(
            root,
            params=click.get_current_context().meta.get(PARAMS_KEY),
            policy=policy,
            ledger=ledger,
            train=train,
            classifier=classifier,
            log=log_path,
        )
    loaded = generate.load_model(model_dir, root)
    result = generate.generate_rows(
        loaded,
        rows,
        guard,
        max_new_tokens=max_new_tokens or cfg.max_new_tokens,
        batch_size=batch_size or cfg.batch_size,
        do_sample=sample,
        temperature=temperature,
    )
    if prompt is not None:
        row = result.rows[0]
        click.echo(row["answer"] if row.get("answer") is not None else row["error"])
        verdict = row.get("guardrail")
        if verdict and not verdict["allowed"]:
            log.warning("guardrail: blocked (%s)", guard.policy.label if guard else "")
        elif verdict and verdict["flags"]:
            types = ", ".join(
                dict.fromkeys(f.get("entity_type", f["check"]) for f in verdict["flags"])
            )
            log.warning("guardrail: flagged %s (%s)", types, guard.policy.label if guard else "")
        return
    assert out is not None
    generate.write_rows(out, result.rows)
    checked = (
        f"guardrail {guard.policy.label}: {result.blocked} blocked, {result.flagged} flagged"
        + (f" (logged to {log_path})" if (result.blocked or result.flagged) and log_path else "")
        if guard is not None
        else "guardrail off"
    )
    long = f", {result.too_long} prompts too long (error in their line)" if result.too_long else ""
    click.echo(f"{len(result.rows)} answers ({loaded.kind}) -> {out}; {checked}{long}")


# ------------------------------------------------------------------------------------ export


def _evaluate_defaults() -> Any:
    from provena.config import EvaluateConfig

    return EvaluateConfig()


@cli.command("export", short_help="merge an adapter into its base, quantize it, keep its lineage")
@click.argument("adapter", type=PATH, metavar="ADAPTER_DIR")
@click.argument("out", type=PATH, metavar="OUT_DIR")
@click.option("--merge", is_flag=True, help="the merged model in fp32 (a Hugging Face folder)")
@click.option(
    "--quantize",
    type=click.Choice(["none", "int8", "nf4"]),
    default="none",
    show_default=True,
    help="int8: torch INT8 for CPU; nf4: bitsandbytes 4-bit, CUDA only (both merge first)",
)
@click.option(
    "--force", is_flag=True, help="write it even if its task scores fall outside the tolerance"
)
@click.option("--test", type=PATH, help="test split (default: data/processed/test.parquet)")
@click.option("--max-examples", type=int, help="answers per family (default: evaluate's)")
@click.option("--bootstrap", type=int, default=1000, show_default=True, help="bootstrap resamples")
@click.option("--card", "card_dir", type=PATH, help="model card folder (default: models/card)")
@click.option("--root", type=PATH, help=ROOT_HELP)
@params_section("evaluate", _evaluate_defaults)
def export_cmd(
    adapter: Path,
    out: Path,
    merge: bool,
    quantize: str,
    force: bool,
    test: Path | None,
    max_examples: int | None,
    bootstrap: int,
    card_dir: Path | None,
    root: Path | None,
    cfg: Any,
) -> None:
    """Merge the adapter into its base (peft merge_and_unload) and write OUT_DIR: with --merge
    the fp32 merged model (safetensors, tokenizer, chat template; AutoModelForCausalLM loads it
    offline), with --quantize int8 torch INT8 weights for CPU, with --quantize nf4 bitsandbytes
    4-bit (CUDA). The export is first scored against the unmerged adapter on the test split
    (perplexity and task scores, bootstrap 95% intervals, evaluate's params): an export with a
    task score outside the adapter's interval is refused (exit 1, nothing written) unless
    --force. OUT_DIR gets export.json, the adapter's manifest with the export step (for
    `provena trace OUT_DIR` and `provena trained-on`) and the card with an Export section."""
    from provena.export import ExportRefused, export_adapter

    if max_examples is not None:
        cfg = cfg.model_copy(update={"max_examples": max_examples})
    try:
        result = export_adapter(
            adapter,
            out,
            merge=merge,
            quantize=quantize,
            force=force,
            cfg=cfg,
            test=test,
            root=root,
            card_dir=card_dir,
            bootstrap=bootstrap,
        )
    except ExportRefused as err:
        log.error("%s", err)
        fail_unless(False)
        return
    q = result.quality
    for fam, entry in q["families"].items():
        for name, s in entry.get("task_scores", {}).items():
            lo, hi = s["adapter_interval"]
            click.echo(
                f"  {fam} {name}: adapter {s['adapter']:.3f} [{lo:.3f}, {hi:.3f}], "
                f"export {s['export']:.3f} {'within' if s['within'] else 'OUTSIDE'}"
            )
        if "perplexity" in entry:
            p = entry["perplexity"]
            click.echo(f"  {fam} perplexity: adapter {p['adapter']:.3f}, export {p['export']:.3f}")
    forced = " (forced: outside the tolerance)" if result.forced else ""
    click.echo(
        f"{result.kind} export -> {out} ({result.bytes / 1e6:.1f} MB, {len(result.files)} files); "
        f"quality {q['verdict']}{forced}"
    )


# ----------------------------------------------------------------------- reports and params


@cli.group("report", short_help="compare committed outputs across git revisions (report diff)")
def report_group() -> None:
    """Reports on the pipeline's outputs across git revisions."""


@report_group.command(
    "diff", short_help="compare the committed metrics, audits and reports of two git revisions"
)
@click.argument("rev_a", metavar="REV_A")
@click.argument("rev_b", metavar="REV_B")
@click.option("--html", type=PATH, help="write a self-contained HTML page here")
@click.option("--text", type=PATH, help="write the text here instead of to stdout")
@click.option("--all", "show_all", is_flag=True, help="list unchanged values too (text)")
@click.option(
    "--params",
    "params_path",
    type=PATH,
    default=Path("params.yaml"),
    show_default=True,
    help="its report_diff section: timing keys ignored, tolerance (defaults where absent)",
)
def report_diff_cmd(
    rev_a: str,
    rev_b: str,
    html: Path | None,
    text: Path | None,
    show_all: bool,
    params_path: Path,
) -> None:
    """Compare metrics/*.json, audits/*.json and reports/*.json at two git revisions (read with
    git show, nothing is checked out): each stage's funnel, PII values by type, validation
    results (pass -> fail flagged), audit findings resolved and added, and every other number,
    with deltas; timings (report_diff.ignore_keys) are left out and numbers within
    report_diff.abs_tolerance / rel_tolerance are the same. REV_A and REV_B are each a commit,
    tag, branch, HEAD~N or WORKTREE (the files on disk now). Run it in the project's
    checkout."""
    from pydantic import ValidationError

    from provena.config import ReportDiffConfig, read_params
    from provena.io import atomic_open
    from provena.report_diff import diff_revisions, render_html, render_text

    section = (read_params(params_path).get("report_diff") if params_path.is_file() else None) or {}
    try:
        cfg = ReportDiffConfig.model_validate(section)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise UserError(f"{params_path}: report_diff.{where}: {first['msg']}") from None
    diff = diff_revisions(rev_a, rev_b, cfg=cfg)
    rendered = render_text(diff, show_unchanged=show_all)
    if text is None and html is None:
        click.echo(rendered, nl=False)
        return
    if text is not None:
        with atomic_open(text) as f:
            f.write(rendered)
    if html is not None:
        with atomic_open(html) as f:
            f.write(render_html(diff))
    click.echo(diff.summary())
    click.echo("wrote " + ", ".join(str(p) for p in (text, html) if p is not None))


@cli.group("suite", short_help="write a starting validation suite from your curated data")
def suite_group() -> None:
    """Great Expectations suites for the validate stage (validate.suite)."""


@suite_group.command(
    "init", short_help="profile the curated table and write a suite that fits it, to edit"
)
@click.option(
    "--data",
    type=PATH,
    default=Path("data/interim/clean.parquet"),
    show_default=True,
    help="the curated table (.parquet or .jsonl records): the validate stage's input",
)
@click.option(
    "--out",
    type=PATH,
    default=Path("expectations/mine.json"),
    show_default=True,
    help="where the suite goes",
)
@click.option("--force", is_flag=True, help="overwrite --out if it exists")
@params_section("validate_", ValidateConfig)
def suite_init_cmd(data: Path, out: Path, force: bool, cfg: ValidateConfig) -> None:
    """Profile the curated table as the validate stage sees it and write a Great Expectations
    suite that fits it: the record's shape (columns, types, no nulls, unique ids, no empty
    output, the sequence length, no residual PII shape) as critical expectations; the record
    count, lengths (quantile bounds with a margin), languages, duplicate shares, attribute
    values and, when records name task families, the families and their shares as warnings
    with bounds from the data, each explained in its description. The suite is then run on the
    same table. Edit it, and use it with `validate.suite: <OUT>` in params.yaml."""
    from provena.validate.profile import init_suite

    result = init_suite(data, out, cfg, root=Path("."), force=force)
    exps = result.suite["expectations"]
    click.echo(f"wrote {out}: {len(exps)} expectations from {result.records:,} records of {data}")
    for e in exps:
        click.echo(f"  {e['severity']:<8} {e['meta']['name']}: {e['description']}")
    for note in result.notes:
        click.echo(f"  (left out: {note})")
    v = result.verdict
    judged = v["expectations"] - len(v["not_judged"])
    click.echo(f"on {data}: verdict {v['verdict']}, {v['passed']} of {judged} judged passed")
    for name in v["failed_critical"] + v["failed_warning"]:
        click.echo(f"  failed: {name} (the data already breaks it: look before you train)")
    click.echo(
        f"use it: set `validate.suite: {out.as_posix()}` in params.yaml (commit the file; "
        "the validate stage depends on it), then `dvc repro validate`"
    )


@cli.command("check-params", short_help="validate a params file and list every problem")
@click.argument("params", type=PATH, default=Path("params.yaml"), required=False)
@click.option("--show", is_flag=True, help="print the resolved params")
def check_params_cmd(params: Path, show: bool) -> None:
    """Validate PARAMS (default: params.yaml) against the pipeline's config models and list
    every problem at once, each with its line."""
    resolved = load_params(params)
    click.echo(f"{params}: OK ({', '.join(section_names())})")
    if show:
        click.echo(json.dumps(resolved.model_dump(by_alias=True), indent=2))


# ------------------------------------------------------------------------------ watch new data


@cli.command("drift", short_help="compare a new batch of raw data with the training split")
@click.argument("new_data", nargs=-1, required=True, type=PATH, metavar="NEW_DATA...")
@params_section("drift", DriftConfig)
@click.option(
    "--reference",
    type=PATH,
    default=Path("data/processed/train.parquet"),
    show_default=True,
    help="the training split (its augmented children and canaries are left out)",
)
@click.option(
    "--reference-ledger",
    type=PATH,
    default=Path("data/ledger/scrub_pii.jsonl"),
    show_default=True,
    help="scrub_pii's ledger of the reference's run (its PII rate)",
)
@click.option(
    "--out", type=PATH, default=Path("reports/drift.json"), show_default=True, help="JSON report"
)
@click.option("--html", type=PATH, help="HTML page (default: OUT with .html)")
def drift_cmd(
    new_data: tuple[Path, ...],
    cfg: DriftConfig,
    reference: Path,
    reference_ledger: Path,
    out: Path,
    html: Path | None,
) -> None:
    """Run NEW_DATA (files or folders of any shape ingest reads) through ingest and scrub_pii
    in a scratch folder, with the params' sections, and compare it with the training split's
    original records: lengths, word frequencies, languages, task families, PII rate, audited
    group shares, out-of-vocabulary words and near-copies of training records, each with a
    statistic and a threshold (the params' drift section). Exits 0 without drift, 1 with drift
    (the features named), 2 on bad input."""
    import tempfile

    from provena import drift, ingest, scrub_pii
    from provena.io import read_records

    params = click.get_current_context().meta.get(PARAMS_KEY)
    for p in new_data:
        if not p.exists():
            raise UserError(f"{p}: no such file or folder")
    if not reference_ledger.is_file():
        raise UserError(f"{reference_ledger}: no such file (scrub_pii's ledger of the reference)")
    ref = drift.load_reference(reference, str(reference))
    with tempfile.TemporaryDirectory(prefix="provena-drift-") as tmp:
        scratch = Path(tmp)
        got = ingest.run(
            list(new_data),
            params.ingest if params else IngestConfig(),
            out=scratch / "ingest.parquet",
        )
        scrubbed = scrub_pii.run(
            scratch / "ingest.parquet",
            params.scrub_pii if params else ScrubPiiConfig(),
            out=scratch / "scrub_pii.parquet",
            ledger=scratch / "scrub_pii.jsonl",
            quarantine=scratch / "scrub_pii.quarantine.jsonl",
            metrics=None,
            report_json=None,
            report_html=None,
            labels=params.meta_labels() if params else None,
        )
        new = [r for batch in read_records(scratch / "scrub_pii.parquet") for r in batch]
        new_pii = drift.pii_ids(scratch / "scrub_pii.jsonl")
    shown = ", ".join(map(str, new_data))
    report = drift.compare(
        ref,
        drift.pii_ids(reference_ledger),
        new,
        new_pii,
        cfg,
        audit=params.audit_data if params else AuditDataConfig(),
        dedup=(params.clean if params else CleanConfig()).dedup,
        root=Path.cwd(),
        new_info={
            "inputs": shown,
            "rows": got["records_in"],
            "ingest_quarantined": got["records_quarantined"],
            "scrub_pii_quarantined": scrubbed["books"]["records_quarantined"],
            "records": len(new),
        },
    )
    html = html or out.with_suffix(".html")
    drift.write(report, out, html)
    if report["drift"]:
        click.echo(f"drift in {', '.join(report['drifted'])}: {shown} -> {out}, {html}")
    else:
        click.echo(f"no drift: {shown} -> {out}, {html}")
    fail_unless(not report["drift"])


def main(argv: list[str] | None = None) -> int:
    """The console script: run :data:`cli` on ``argv`` (default: the command line) and return
    the exit status."""
    try:
        return cli.main(args=argv, prog_name="provena", standalone_mode=False) or 0
    except click.ClickException as err:  # bad usage: unknown option, missing argument, ...
        err.show()
        return err.exit_code
    except click.Abort as err:
        if isinstance(err.__cause__, EOFError):  # click turns it into Abort: show the bug
            raise err.__cause__ from None
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["cli", "main"]
