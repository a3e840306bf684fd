"""MkDocs hooks: the reference pages that are generated from the code at every build.

- ``reference/params.md``: every key of ``params.yaml``, from the typed models in
  :mod:`provena.config` (``Params`` is the root): type, default, allowed values, the field's
  description (or its model's docstring), and the value ``params.yaml`` sets where it differs.
- ``reference/benchmarks.md``: one section per ``bench/results/<bench>.json``: what the bench
  compares (its script's docstring), its ``targets`` table, then its key figures.

``reference/cli.md`` is a written page: the ``mkdocs-click`` extension renders the click group
``provena.cli:cli`` into it. Nothing here is written to disk: the pages exist only in the build.
"""

from __future__ import annotations

import ast
import json
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from provena import config as provena_config
from provena.config import Params

ROOT = Path(__file__).resolve().parents[1]
PARAMS_PAGE = "reference/params.md"
BENCH_PAGE = "reference/benchmarks.md"
#: the stages with a docs page (docs/stages/<name>.md); a params section of that name links it
STAGE_PAGES = ROOT / "docs" / "stages"


# ------------------------------------------------------------------------------ MkDocs hooks


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the build, as if they were files under docs/."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PARAMS_PAGE, content=params_reference()))
    files.append(File.generated(config, BENCH_PAGE, content=benchmarks_page()))
    return files


def on_post_build(config: Any) -> None:
    """Fail the build when a page would load anything from the network (a font, a script, a
    stylesheet): the site must read offline, from a clone or a copied folder."""
    from mkdocs.exceptions import PluginError

    problems = external_assets(Path(config["site_dir"]))
    if problems:
        raise PluginError("the site loads assets from the network:\n" + "\n".join(problems))


#: an element that loads what its src/href names, pointing off the site
_ASSET_TAG = re.compile(
    r"<(?:script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?"
    r"\b(?:src|href|data)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)",
    re.IGNORECASE,
)
#: a stylesheet's url(...) or @import off the site (in .css files and inline styles)
_CSS_URL = re.compile(
    r"(?:url\(\s*[\"']?|@import\s+[\"'])((?:https?:)?//[^\"')\s]+)", re.IGNORECASE
)


def external_assets(site_dir: Path) -> list[str]:
    """``path: url`` for every asset a built page or stylesheet loads from another host.
    Links people may follow (``<a href>``) are not assets and are allowed."""
    found = []
    for path in sorted(site_dir.rglob("*")):
        if path.suffix == ".html":
            text = path.read_text(encoding="utf-8", errors="replace")
            urls = _ASSET_TAG.findall(text) + _CSS_URL.findall(text)
        elif path.suffix == ".css":
            urls = _CSS_URL.findall(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        found += [f"{path.relative_to(site_dir)}: {url}" for url in sorted(set(urls))]
    return found


# -------------------------------------------------------------------------- params reference


@dataclass(frozen=True)
class ParamRow:
    """One key of the params reference."""

    key: str  # dotted, as in params.yaml; `[]` marks the items of a list of mappings
    type: str
    default: str
    allowed: str
    description: str
    params_yaml: str  # the value params.yaml sets, where it differs from the default; else ""


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return None


def _is_project_path(metadata: Any) -> bool:
    return any(getattr(m, "func", None) is provena_config._project_path for m in metadata)


def type_text(tp: Any, metadata: Any = ()) -> str:
    """A readable type: ``int``, ``list of str``, ``path``, ``mapping``, ``str or null``."""
    if typing.get_origin(tp) is Annotated:
        inner, *meta = typing.get_args(tp)
        return type_text(inner, [*metadata, *meta])
    if tp is str and _is_project_path(metadata):
        return "path"
    args = _union_args(tp)
    if args is not None:
        parts = [type_text(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    origin = typing.get_origin(tp)
    if origin is Literal:
        kinds = sorted({type(a).__name__ for a in typing.get_args(tp)})
        return " or ".join(kinds)
    if origin in (list, tuple):
        return f"list of {_inner_type_text(typing.get_args(tp)[0])}"
    if origin is dict:
        key, value = typing.get_args(tp)
        return f"mapping of {_inner_type_text(key)} to {_inner_type_text(value)}"
    if _is_model(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _inner_type_text(tp: Any) -> str:
    text = type_text(tp)
    return f"({text})" if " or " in text else text


def _num(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    decimals = max(0, 3 - math.floor(math.log10(abs(v))))
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _bounds_text(found: dict[str, Any]) -> list[str]:
    out = []
    if "ge" in found and "le" in found:
        out.append(f"{_num(found['ge'])} to {_num(found['le'])}")
    else:
        signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        out += [f"{signs[b]} {_num(found[b])}" for b in ("ge", "gt", "le", "lt") if b in found]
    if "pattern" in found:
        out.append(f"matches `{found['pattern']}`")
    lo, hi = found.get("min_length"), found.get("max_length")
    if lo is not None and hi is not None:
        out.append(f"length {lo} to {hi}")
    elif lo is not None:
        out.append(f"length >= {lo}")
    elif hi is not None:
        out.append(f"length <= {hi}")
    return out


def _metadata_bounds(metadata: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    stack = list(metadata)
    while stack:
        item = stack.pop()
        stack += list(getattr(item, "metadata", None) or [])
        for attr in ("ge", "gt", "le", "lt", "pattern", "min_length", "max_length"):
            value = getattr(item, attr, None)
            if value is not None and not isinstance(item, type):
                found.setdefault(attr, value)
    return found


def allowed_text(tp: Any, metadata: Any = (), where: str = "") -> list[str]:
    """What a value may be: bounds, patterns, lengths and Literal choices, found wherever the
    annotation declares them (``each item:`` inside a list, ``each value:`` inside a mapping)."""
    out = []
    if typing.get_origin(tp) is Annotated:
        inner, *meta = typing.get_args(tp)
        return allowed_text(inner, [*metadata, *meta], where)
    out += [where + t for t in _bounds_text(_metadata_bounds(metadata))]
    args = _union_args(tp)
    if args is not None:
        for a in args:
            out += allowed_text(a, (), where)
        return out
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = ", ".join(f"`{json.dumps(a)}`" for a in typing.get_args(tp))
        out.append(f"{where}one of {choices}")
    elif origin in (list, tuple):
        out += allowed_text(typing.get_args(tp)[0], (), "each item: ")
    elif origin is dict:
        out += allowed_text(typing.get_args(tp)[1], (), "each value: ")
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _value_text(value: Any) -> str:
    return f"`{json.dumps(_jsonable(value), ensure_ascii=False)}`"


def _doc(cls: Any) -> str:
    """A class's own docstring (not one inherited from BaseModel), on one line."""
    doc = cls.__dict__.get("__doc__") if isinstance(cls, type) else None
    return _rst_to_md(" ".join(doc.split())) if doc else ""


def _rst_to_md(text: str) -> str:
    """Docstrings' reStructuredText roles and literals as Markdown code."""
    return re.sub(r":\w+:`~?([^`]+)`", r"``\1``", text).replace("``", "`")


def _model_of(tp: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds (directly, optionally, or as list items), and the key suffix
    of its nested keys: ``""`` for a mapping, ``"[]"`` for a list of mappings."""
    tp = _strip(tp)
    args = _union_args(tp)
    if args is not None:
        models = [_model_of(a) for a in args if a is not type(None)]
        return models[0] if len(models) == 1 else (None, "")
    if typing.get_origin(tp) in (list, tuple):
        inner, _ = _model_of(typing.get_args(tp)[0])
        return (inner, "[]") if inner else (None, "")
    return (tp, "") if _is_model(tp) else (None, "")


def _fields(model: type[BaseModel]) -> list[tuple[str, str, Any]]:
    """(key in params files, attribute name, field) of each field, in declaration order."""
    return [(f.alias or name, name, f) for name, f in model.model_fields.items()]


def param_rows(
    model: type[BaseModel] = Params, values: Any = None, prefix: str = ""
) -> list[ParamRow]:
    """Every key of ``model`` and of the models inside it, depth first, in declaration order.

    ``values`` is a validated instance (the project's params) to compare defaults against, or
    None inside lists of mappings, where no single value applies."""
    rows = []
    for key, attr, field in _fields(model):
        name = f"{prefix}{key}"
        nested, suffix = _model_of(field.annotation)
        required = field.default is PydanticUndefined and field.default_factory is None
        default = None if required else field.get_default(call_default_factory=True)
        current = None if values is None else getattr(values, attr)
        if nested is not None and suffix == "":
            default_text = "" if required else "see below"
        else:
            default_text = "required" if required else _value_text(default)
        differs = values is not None and (required or _jsonable(current) != _jsonable(default))
        show_value = differs and not (nested is not None and suffix == "")
        rows.append(
            ParamRow(
                key=name,
                type=type_text(field.annotation, field.metadata),
                default=default_text,
                allowed="; ".join(allowed_text(field.annotation, field.metadata)),
                description=" ".join((field.description or "").split())
                or (_doc(nested) if nested is not None else ""),
                params_yaml=_value_text(current) if show_value else "",
            )
        )
        if nested is not None:
            inner_values = current if suffix == "" and values is not None else None
            rows += param_rows(nested, inner_values, f"{name}{suffix}.")
    return rows


def _cell(text: str) -> str:
    """A table cell: one line, pipes escaped outside code spans (inside them Python-Markdown's
    tables already keep them, and an escape would show)."""
    parts = re.split(r"(`[^`]*`)", text.replace("\n", " "))
    return "".join(p if p.startswith("`") else p.replace("|", "\\|") for p in parts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def params_reference(params_file: Path = ROOT / "params.yaml") -> str:
    """The params reference page, from :class:`provena.config.Params` and ``params_file``."""
    values = provena_config.load_params(params_file)
    shown = params_file.relative_to(ROOT) if params_file.is_relative_to(ROOT) else params_file
    out = [
        "# Parameters",
        "",
        "Generated at build time from the typed models in `src/provena/config.py` "
        f"(`Params` is the root) and from `{shown}`. Every stage validates the whole file "
        "before it does any work: an unknown key is refused with the keys allowed, and every "
        "problem is listed at once with its line (`provena check-params` does the same "
        "without running anything). Keys are dotted paths; `[]` marks the items of a list.",
        "",
        "The last column shows the value `params.yaml` sets where it differs from the "
        "default (a section without a default must be set there).",
        "",
    ]
    for key, attr, field in _fields(Params):
        nested, _ = _model_of(field.annotation)
        section_values = getattr(values, attr)
        out += [f"## `{key}`", ""]
        text = " ".join((field.description or "").split()) or _doc(nested)
        if text:
            out += [text, ""]
        if (STAGE_PAGES / f"{key}.md").is_file():
            out += [f"What the stage does with them: [{key}](../stages/{key}.md).", ""]
        rows = param_rows(nested, section_values, f"{key}.") if nested else []
        out.append(
            _table(
                ["key", "type", "default", "allowed", "description", "params.yaml"],
                [
                    [f"`{r.key}`", r.type, r.default, r.allowed, r.description, r.params_yaml]
                    for r in rows
                ],
            )
        )
    return "\n".join(out)


# ------------------------------------------------------------------------------- benchmarks

#: pipeline order first; a bench not named here follows, alphabetically
BENCH_ORDER = ["ingest", "pii", "dedup", "validate", "stages", "train", "generate"]


def _bench_doc(bench: str, bench_dir: Path) -> str:
    """The bench script's docstring as Markdown: its usage line as a code block."""
    script = bench_dir / f"bench_{bench}.py"
    if not script.is_file():
        return ""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    doc = _rst_to_md(doc)
    out = []
    for para in doc.split("\n\n"):
        if para.startswith("    "):
            code = "\n".join(line[4:] for line in para.splitlines())
            out.append(f"```bash\n{code}\n```")
        else:
            out.append(para.strip())
    return "\n\n".join(out)


def _met(met: Any) -> str:
    return {True: "met", False: "**not met**"}.get(met, "not measured")


def targets_table(targets: list[dict[str, Any]]) -> str:
    return _table(
        ["target", "goal", "measured", "met"],
        [
            [
                t["name"],
                t["goal"],
                "—" if t["measured"] is None else _num(t["measured"]),
                _met(t["met"]),
            ]
            for t in targets
        ],
    )


def _detail_ingest(d: dict) -> str:
    rows = []
    for side, label in (("provena", "Provena"), ("baseline_pandas_ftfy", "pandas + ftfy")):
        r = d[side]
        per_s = r["records"] / r["seconds"]
        rows.append([label, _num(r["records"]), _num(per_s), _num(r["peak_rss_mb"])])
    return _table(["side", "records", "records/s", "peak RSS MB"], rows)


def _detail_pii(d: dict) -> str:
    """Per set, one column per tool (bare Presidio, the strict profile, the set's profile)."""
    out = []
    metrics = [
        "char_precision",
        "char_recall",
        "f2",
        "missed_share",
        "records_changed_share",
        "words_kept_share",
        "records_per_s",
    ]
    for name, s in d["sets"].items():
        tools = list(s["tools"])
        out += [f"**{name}**: {_num(s['records'])} records, profile `{s['profile']}`", ""]
        rows = [
            [m, *("—" if s["tools"][t].get(m) is None else _num(s["tools"][t][m]) for t in tools)]
            for m in metrics
            if any(m in s["tools"][t] for t in tools)
        ]
        out += [_table(["", *tools], rows), ""]
    return "\n".join(out)


def _detail_dedup(d: dict) -> str:
    rows = []
    for r in d["runs"]:
        p, b = r["provena"], r["baseline_datasketch"]
        rows.append(
            [
                _num(r["records"]),
                f"{_num(r['records_per_s']['provena'])} / {_num(r['records_per_s']['baseline'])}",
                f"{_num(p['peak_rss_mb'])} / {_num(b['peak_rss_mb'])}",
                f"{_num(p['peak_above_loaded_mb'])} / {_num(b['peak_above_loaded_mb'])}",
                f"{_num(r['pairs']['provena'])} / {_num(r['pairs']['baseline'])}",
                _num(r["pair_agreement"]),
            ]
        )
    params = ", ".join(f"{k} {v}" for k, v in d.get("params", {}).items())
    return _table(
        [
            "records",
            "records/s (Provena / datasketch)",
            "peak RSS MB",
            "above the loaded texts MB",
            "pairs",
            "agreement",
        ],
        rows,
    ) + (f"\nParameters: {params}.\n" if params else "")


def _detail_validate(d: dict) -> str:
    rows = []
    for r in d["runs"]:
        gx, pd_ = r["great_expectations"], r["pandas"]
        rows.append(
            [
                _num(r["records"]),
                _num(gx["import_s"]),
                f"{_num(gx['validate_s'])} / {_num(gx['validate_cpu_s'])}",
                f"{_num(gx['validate_with_docs_s'])} / {_num(gx['validate_with_docs_cpu_s'])}",
                f"{_num(pd_['validate_s'])} / {_num(pd_['validate_cpu_s'])}",
                f"{_num(r['gx_over_pandas_cpu'])}x",
            ]
        )
    return _table(
        [
            "records",
            "GX import s",
            "GX validate s (wall / CPU)",
            "GX with Data Docs s (wall / CPU)",
            "pandas s (wall / CPU)",
            "GX / pandas (CPU)",
        ],
        rows,
    )


def _stage_label(r: dict) -> str:
    ex = r.get("executor", "local")
    return r["stage"] if ex == "local" else f"{r['stage']} ({ex})"


def _detail_stages(d: dict) -> str:
    sizes = sorted({r["size"] for r in d["runs"]})
    labels = list(dict.fromkeys(_stage_label(r) for r in d["runs"]))
    by = {(_stage_label(r), r["size"]): r for r in d["runs"]}

    def memory(r: dict | None) -> str:
        if r is None:
            return "—"
        for k in ("failed", "partial", "not_run"):
            if k in r:
                return k.replace("_", " ")
        pss = r.get("tree_peak_pss_mb")
        return _num(r["peak_rss_mb"]) + (f" / {_num(pss)}" if pss else "")

    def speed(r: dict | None) -> str:
        if r is None or not r.get("records_per_s"):
            return "—"
        cpu = r.get("records_per_cpu_s")
        per_core = f", {_num(cpu)}/s per core" if cpu else ""
        return (
            f"{_num(r['records_in'])} in {_num(r['seconds'])} s "
            f"({_num(r['records_per_s'])}/s{per_core})"
        )

    head = [f"{s:,}" for s in sizes]
    return "\n".join(
        [
            "Peak memory, MB: largest process / tree PSS (the largest process alone where "
            "PSS was not read):",
            "",
            _table(
                ["stage", *head], [[s] + [memory(by.get((s, z))) for z in sizes] for s in labels]
            ),
            "Records in, seconds, records/s and records/s per core used (records per CPU "
            "second; rows from before CPU seconds were recorded have none):",
            "",
            _table(
                ["stage", *head], [[s] + [speed(by.get((s, z))) for z in sizes] for s in labels]
            ),
            _stage_notes(d),
        ]
    )


def _stage_notes(d: dict) -> str:
    """Where rows were measured under other code or load: their ``code`` note, once per note
    with the rows it covers."""
    notes: dict[str, list[str]] = {}
    for r in d["runs"]:
        if r.get("code"):
            notes.setdefault(r["code"], []).append(f"{_stage_label(r)} at {r['size']:,}")
    lines = [f"- {', '.join(rows)}: {note}" for note, rows in notes.items()]
    return "\n".join(["", "Rows measured under other code:", "", *lines, ""]) if lines else ""


#: a page may carry generated figures: the marker is replaced by the bench's tables
BENCH_MARKER = re.compile(r"<!-- bench:(\w+) -->")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace ``<!-- bench:NAME -->`` in a written page (the scaling page) by the figures
    of ``bench/results/NAME.json``, its targets first, and ``<!-- metrics:evaluate -->`` by the
    committed run's scores (``metrics/evaluate.json``), so a page never quotes stale figures
    by hand."""
    return inline_metrics(inline_bench(markdown))


#: a page may carry the committed run's evaluation: the marker is replaced by its tables
METRICS_MARKER = re.compile(r"<!-- metrics:evaluate -->")
#: the task scores of metrics/evaluate.json, in the order a table shows them
TASK_SCORES = (
    ("json_valid", "JSON valid"),
    ("sex_em", "sex exact"),
    ("age_em", "age exact"),
    ("icd10_micro_f1", "ICD-10 F1"),
    ("rouge_l", "ROUGE-L"),
)


def inline_metrics(markdown: str, path: Path = ROOT / "metrics" / "evaluate.json") -> str:
    def one(_: re.Match) -> str:
        if not path.is_file():
            return "*(no metrics/evaluate.json yet: run `dvc repro evaluate`)*"
        return evaluate_tables(json.loads(path.read_text(encoding="utf-8")))

    return METRICS_MARKER.sub(one, markdown)


def evaluate_tables(d: dict) -> str:
    """The scores of each split, model and family (a score evaluate withheld reads "not
    evaluable", one a family does not have "–"), the answers' distinct share, then the
    verdicts."""
    rows = []
    for split, s in d.get("splits", {}).items():
        for model in ("base", "adapter"):
            for fam, f in sorted(s.get(model, {}).get("families", {}).items()):
                withheld = (f.get("not_evaluable") or {}).get("withheld", [])
                cells = [split, model, fam.replace("_", " ")]
                for key, _ in TASK_SCORES:
                    if key in withheld:
                        cells.append("not evaluable")
                    else:
                        cells.append(_num(f[key]) if f.get(key) is not None else "–")
                a = f.get("answers") or {}
                cells.append(f"{a['distinct']} of {a['answers']}" if "distinct" in a else "–")
                cells.append(_num(f["perplexity"]) if f.get("perplexity") is not None else "–")
                rows.append(cells)
    header = ["split", "model", "family", *(label for _, label in TASK_SCORES)]
    table = _table([*header, "distinct answers", "perplexity"], rows)
    lines = [
        "From `metrics/evaluate.json`, the committed run's.",
        "",
        table,
        "",
        f"Model fairness: **{d.get('model_fairness', 'not judged')}**; privacy probes: "
        f"**{d.get('privacy_probes', 'not judged')}**.",
    ]
    if d.get("not_evaluable"):
        lines.append("")
    for ne in d.get("not_evaluable", []):
        lines.append(
            f"- Not evaluable: {ne['split']} {ne['model']} {ne['family'].replace('_', ' ')}: "
            f"{ne['reason']}."
        )
    return "\n".join(lines) + "\n"


def inline_bench(markdown: str, results: Path = ROOT / "bench" / "results") -> str:
    def one(m: re.Match) -> str:
        path = results / f"{m.group(1)}.json"
        if not path.is_file():
            return f"*(no bench/results/{m.group(1)}.json yet: run bench/bench_{m.group(1)}.py)*"
        d = json.loads(path.read_text(encoding="utf-8"))
        return "\n".join(
            [
                f"From `bench/results/{path.name}` (machine: {_machine(d)}).",
                "",
                targets_table(d.get("targets", [])),
                DETAIL.get(m.group(1), _detail_generic)(d),
            ]
        )

    return BENCH_MARKER.sub(one, markdown)


def _machine(d: dict) -> str:
    m = d.get("machine") or {}
    if not m:
        return "not recorded"
    return f"{m.get('cpus')} cores, {m.get('memory_gb')} GB, Python {m.get('python')}"


def _detail_train(d: dict) -> str:
    rows = []
    for side, label in (("provena", "Provena"), ("trainer", "Trainer + peft")):
        r = d[side]
        rows.append(
            [
                label,
                r["mode"],
                _num(r["tokens"]),
                _num(r["tokens_per_s"]),
                f"{_num(r['peak_memory_mb'])} ({r['memory_kind']})",
                _num(r["final_loss"]),
            ]
        )
    setup = ", ".join(f"{k} {v}" for k, v in d.get("setup", {}).items())
    return _table(["side", "mode", "tokens", "tokens/s", "peak memory MB", "final loss"], rows) + (
        f"\nSetup: {setup}.\n" if setup else ""
    )


def _detail_generate(d: dict) -> str:
    rows = [
        [label, _num(d[k]["seconds"]), _num(d[k]["tokens_per_s"])]
        for k, label in (
            ("batched", f"batches of {d['batch_size']}"),
            ("one_at_a_time", "one at a time"),
        )
    ]
    facts = (
        f"{d['prompts']} prompts x {d['new_tokens_per_prompt']} new tokens, base {d['base']}, "
        f"{d['device']}, {d['threads']} threads"
    )
    return _table(["", "seconds", "tokens/s"], rows) + f"\n{facts}.\n"


def _flat(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return [kv for k, v in obj.items() for kv in _flat(v, f"{prefix}{k}.")]
    return [(prefix[:-1], obj)] if not isinstance(obj, list) else []


def _detail_generic(d: dict) -> str:
    rest = {k: v for k, v in d.items() if k != "targets"}
    rows = [[f"`{k}`", _num(v)] for k, v in _flat(rest) if not isinstance(v, str)]
    return _table(["key", "value"], rows) if rows else ""


def _detail_export(d: dict) -> str:
    """Formats side by side (speed model), then each export's scores against the adapter."""
    rows = [
        [f"`{k}`", _num(f["file_mb"]), _num(f["load_s"]), _num(f["peak_rss_mb"]),
         _num(f["tokens_per_s"])]
        for k, f in d["formats"].items()
    ]  # fmt: skip
    out = _table(["format", "weights MB", "load s", "peak RSS MB", "tokens/s"], rows)
    qrows = []
    for kind, q in (d.get("quality") or {}).items():
        if not isinstance(q, dict):
            continue
        for fam, entry in q.get("families", {}).items():
            for name, s in (entry.get("task_scores") or {}).items():
                lo, hi = s["adapter_interval"]
                qrows.append(
                    [kind, fam, name, _num(s["adapter"]), f"[{_num(lo)}, {_num(hi)}]",
                     _num(s["export"]), "yes" if s["within"] else "**no**"]
                )  # fmt: skip
            if entry.get("perplexity"):
                p = entry["perplexity"]
                lo, hi = p["adapter_interval"]
                qrows.append(
                    [kind, fam, "perplexity", _num(p["adapter"]), f"[{_num(lo)}, {_num(hi)}]",
                     _num(p["export"]), "(not judged)"]
                )  # fmt: skip
    if qrows:
        out += "\n" + _table(
            ["export", "family", "score", "adapter", "adapter 95% interval", "export", "within"],
            qrows,
        )
    return out


DETAIL = {
    "ingest": _detail_ingest,
    "pii": _detail_pii,
    "dedup": _detail_dedup,
    "validate": _detail_validate,
    "stages": _detail_stages,
    "train": _detail_train,
    "generate": _detail_generate,
    "export": _detail_export,
}


def _notes(d: dict) -> str:
    """The words a result file carries about itself: what its seconds include, and notes."""
    lines = [f"- {k.replace('_', ' ')}: {v}" for k, v in d.items() if isinstance(v, str)]
    lines += [f"- {n}" for n in d.get("notes", []) if isinstance(n, str)]
    machine = d.get("machine")
    if isinstance(machine, dict):
        lines.append("- machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))
    return "\n".join(lines) + "\n" if lines else ""


def benchmarks_page(
    results: Path = ROOT / "bench" / "results", bench_dir: Path = ROOT / "bench"
) -> str:
    """The benchmarks page: one section per ``results/<bench>.json``, targets first."""
    found = {p.stem: p for p in sorted(results.glob("*.json"))}
    order = [b for b in BENCH_ORDER if b in found] + sorted(set(found) - set(BENCH_ORDER))
    out = [
        "# Benchmarks",
        "",
        "Generated at build time from `bench/results/*.json`. Each script in `bench/` runs "
        "Provena side by side with the tool a user would otherwise pick, on the same input, and "
        "writes `bench/results/<bench>.json` with a `targets` list (`name`, `goal`, `measured`, "
        "`met`) beside its figures. Timings depend on the machine and on what else ran on it: "
        "each file says where it was measured.",
        "",
    ]
    for bench in order:
        d = json.loads(found[bench].read_text(encoding="utf-8"))
        out += [f"## {bench}", "", f"`bench/results/{bench}.json`", ""]
        out += ["### Targets", "", targets_table(d.get("targets", [])), "### Figures", ""]
        out.append(DETAIL.get(bench, _detail_generic)(d))
        notes = _notes(d)
        if notes:
            out += ["", notes]
        doc = _bench_doc(bench, bench_dir)
        if doc:
            out += ["### How it is measured", "", doc, ""]
    return "\n".join(out)
