"""Compare the pipeline's committed outputs at two git revisions: ``provena report diff A B``.

The outputs compared are the JSON files that are committed beside the code so that revisions
can be compared: ``metrics/*.json``, ``audits/*.json`` and ``reports/*.json``. They are read
with ``git show REV:path`` (never by checking out), or from disk for the revision ``WORKTREE``.

``diff_outputs`` is pure: two ``{path: parsed JSON or None}`` dicts in, a ``ReportDiff`` out,
in sections:

- the funnel of each stage (``metrics/<stage>.json``): records in, kept, quarantined and the
  count of each quarantine rule;
- PII values by entity type (``audits/pii_report.json``, summed over fields);
- validation (``reports/validation.json``): the verdict and each expectation, with a change
  from pass to fail flagged ``regressed`` (and fail to pass ``fixed``);
- every other scalar of each file, flattened to dotted keys (lists are skipped, they hold
  examples, except lists of objects named by a ``source`` or ``name`` key);
- the findings of each file with a ``findings`` list (the audits, the model and privacy
  probes): a finding (verdict fail or inconclusive) at A that is not one at B is
  ``resolved``, one at B that was not at A ``added``.

What is not a change (params ``report_diff``, :class:`provena.config.ReportDiffConfig`): a
value whose key's last name matches ``ignore_keys`` (timings, throughput, memory,
timestamps) is left out and counted; two numbers, one a float, within ``abs_tolerance`` or
``rel_tolerance`` of each other are the same (run-to-run jitter), counted apart. A section
with nothing to show is one line, never an empty table.

A file absent at a revision is shown as absent, its values as "—". ``render_text`` and
``render_html`` render the same ``ReportDiff``; the HTML page (template
``provena/reports/templates/report_diff.html.j2``) is self-contained (no scripts, no external
resources) and every value is escaped.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from provena import reports
from provena.config import ReportDiffConfig
from provena.errors import UserError
from provena.records import STAGES

WORKTREE = "WORKTREE"
"""The revision name for the files on disk now, committed or not."""

OUTPUT_DIRS = ("metrics", "audits", "reports")
"""Folders whose top-level ``*.json`` files are compared."""

STAGE_ORDER = STAGES
"""Pipeline order, for the funnel; stages not listed follow in name order."""

FUNNEL_KEYS = ("records", "records_in", "records_kept", "records_quarantined")
PII_REPORT = "audits/pii_report.json"
VALIDATION = "reports/validation.json"
ABSENT = "—"
_MAX_STR = 32  # longer strings (hashes, notes, text examples) are not compared
_LIST_KEYS = ("source", "name")  # a list of objects each named by one of these is compared
FINDING_VERDICTS = ("fail", "inconclusive")
"""The verdicts that make a ``findings`` entry a finding (pass, too_small, not_judged: not)."""
_FINDING_NAME = ("check", "attribute", "group", "model", "split")  # what names a finding

Scalar = int | float | str | bool | None


@dataclass(frozen=True)
class DiffRow:
    """One compared value; ``a`` or ``b`` is None where the value (or its file) is absent."""

    key: str
    a: Scalar
    b: Scalar
    detail: str = ""  # e.g. an expectation's severity, column and observed values
    #: (absolute, relative): two numbers, one a float, this close are the same
    tolerance: tuple[float, float] = (0.0, 0.0)
    label: str = ""  # a flag that replaces the computed one when changed (resolved, added)

    @property
    def within_tolerance(self) -> bool:
        """Two different numbers, one of them a float, within the tolerance of each other."""
        if not (_is_number(self.a) and _is_number(self.b)) or self.a == self.b:
            return False
        if isinstance(self.a, int) and isinstance(self.b, int):
            return False  # counts are exact
        a, b = float(self.a), float(self.b)  # type: ignore[arg-type]
        absolute, relative = self.tolerance
        return abs(b - a) <= max(absolute, relative * max(abs(a), abs(b)))

    @property
    def changed(self) -> bool:
        if self.within_tolerance:
            return False
        if _is_number(self.a) and _is_number(self.b):
            return self.a != self.b  # 1 and 1.0 are the same number
        return type(self.a) is not type(self.b) or self.a != self.b

    @property
    def flag(self) -> str:
        """'' when unchanged, else added, removed, regressed (pass -> fail), fixed or changed
        (or the row's own label: resolved, added, for findings)."""
        if not self.changed:
            return ""
        if self.label:
            return self.label
        if self.a is None:
            return "added"
        if self.b is None:
            return "removed"
        if (self.a, self.b) == ("pass", "fail"):
            return "regressed"
        if (self.a, self.b) == ("fail", "pass"):
            return "fixed"
        return "changed"

    @property
    def delta(self) -> Decimal | None:
        """b - a, exact in decimal (0.8318 -> 0.8317 is -0.0001), when both are numbers."""
        if not (_is_number(self.a) and _is_number(self.b)):
            return None
        try:
            return Decimal(repr(self.b)) - Decimal(repr(self.a))
        except InvalidOperation:  # inf or nan
            return None

    @property
    def percent(self) -> float | None:
        """Relative change in percent, for counts and amounts; None for rates and shares
        (both values in [0, 1], one a float), where the delta in points says more."""
        if self.delta is None or self.a == 0:
            return None
        a, b = float(self.a), float(self.b)  # type: ignore[arg-type]
        if (isinstance(self.a, float) or isinstance(self.b, float)) and 0 <= a <= 1 and 0 <= b <= 1:
            return None
        return (b - a) / abs(a) * 100


@dataclass(frozen=True)
class DiffSection:
    """A table of rows from one file; ``kind`` is funnel, pii, validation, findings or
    numbers."""

    kind: str
    title: str
    path: str
    in_a: bool
    in_b: bool
    rows: list[DiffRow] = field(default_factory=list)

    @property
    def changed_rows(self) -> list[DiffRow]:
        return [r for r in self.rows if r.changed]


@dataclass(frozen=True)
class ReportDiff:
    label_a: str
    label_b: str
    sections: list[DiffSection]
    ignored: int = 0  # values left out by report_diff.ignore_keys (timings), at A or B

    @property
    def tolerated(self) -> int:
        """Numbers that differ within the tolerance, not counted as changes."""
        return sum(r.within_tolerance for s in self.sections for r in s.rows)

    def findings(self, flag: str) -> list[DiffRow]:
        """The findings rows flagged ``flag`` (resolved, added, changed)."""
        return [r for s in self.sections if s.kind == "findings" for r in s.rows if r.flag == flag]

    @property
    def regressions(self) -> list[DiffRow]:
        """Validation results that went from pass to fail (the verdict is ``verdict``)."""
        return [r for r in self._validation_rows() if r.flag == "regressed" and r.key != "verdict"]

    @property
    def verdict(self) -> DiffRow | None:
        """The validation verdict at both revisions, if either has one."""
        return next((r for r in self._validation_rows() if r.key == "verdict"), None)

    def _validation_rows(self) -> list[DiffRow]:
        return [r for s in self.sections if s.kind == "validation" for r in s.rows]

    def summary(self) -> str:
        files = {s.path for s in self.sections}
        changed = sum(len(s.changed_rows) for s in self.sections)
        only_a = sorted({s.path for s in self.sections if s.in_a and not s.in_b})
        only_b = sorted({s.path for s in self.sections if s.in_b and not s.in_a})
        parts = [f"{len(files)} files compared, {changed} values changed"]
        resolved, added = len(self.findings("resolved")), len(self.findings("added"))
        if resolved or added:
            parts.append(f"findings: {resolved} resolved, {added} added")
        left_out = []
        if self.ignored:
            left_out.append(f"{_plural(self.ignored, 'timing value')} ignored")
        if self.tolerated:
            left_out.append(f"{_plural(self.tolerated, 'number')} within tolerance")
        if left_out:
            parts.append(" and ".join(left_out) + " (params report_diff)")
        if only_b:
            parts.append(f"new in {self.label_b}: {', '.join(only_b)}")
        if only_a:
            parts.append(f"absent from {self.label_b}: {', '.join(only_a)}")
        if (v := self.verdict) and v.changed:
            was = "" if v.a is None else f"{fmt_value(v.a)} -> "
            parts.append(f"validation verdict {was}{fmt_value(v.b)}")
        if self.regressions:
            parts.append(f"REGRESSED validation: {', '.join(r.key for r in self.regressions)}")
        return "; ".join(parts)


# ------------------------------------------------------------------------------ the diff


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_scalar(v: Any) -> bool:
    if isinstance(v, str):
        return len(v) <= _MAX_STR and "\n" not in v
    return v is None or isinstance(v, bool | int | float)


def flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Scalar]]:
    """Scalar leaves of nested JSON as (dotted key, value); see the module docstring for
    which lists and strings are kept."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        if obj and all(isinstance(x, dict) for x in obj):
            for name_key in _LIST_KEYS:
                names = [x.get(name_key) for x in obj]
                if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
                    for n, x in zip(names, obj, strict=True):
                        rest = {k: v for k, v in x.items() if k != name_key}
                        yield from flatten(rest, f"{prefix}[{n}]")
                    return
    elif _is_scalar(obj) and prefix:  # a file that is absent (None) has no leaves
        yield prefix, obj


def _rows(
    a: Mapping[str, Scalar], b: Mapping[str, Scalar], tolerance: tuple[float, float] = (0.0, 0.0)
) -> list[DiffRow]:
    """Rows for the union of keys, in A's order, then keys only in B."""
    keys = list(dict.fromkeys([*a, *b]))
    return [DiffRow(k, a.get(k), b.get(k), tolerance=tolerance) for k in keys]


def is_ignored(key: str, patterns: list[str]) -> bool:
    """Whether a dotted key's last name (``splits.test.adapter.seconds``: ``seconds``;
    ``a[x].wall_seconds``: ``wall_seconds``) matches one of the shell patterns."""
    last = key.rsplit(".", 1)[-1].rsplit("]", 1)[-1] or key
    return any(fnmatch.fnmatchcase(last, p) for p in patterns)


def _findings(d: Any) -> tuple[dict[str, Scalar], dict[str, str]]:
    """``{name: verdict}`` of a file's ``findings`` entries and ``{name: text}``; a name is
    the entry's check with its attribute, group, model and split where it has them."""
    items = d.get("findings") if isinstance(d, dict) else None
    verdicts: dict[str, Scalar] = {}
    texts: dict[str, str] = {}
    for f in items if isinstance(items, list) else []:
        if not isinstance(f, dict) or not isinstance(f.get("verdict"), str):
            continue
        name = " · ".join(str(f[k]) for k in _FINDING_NAME if f.get(k) not in (None, ""))
        name = name or "?"
        while name in verdicts:
            name += "'"
        verdicts[name] = f["verdict"]
        texts[name] = str(f.get("text") or f.get("message") or "")
    return verdicts, texts


def _finding_rows(a: Any, b: Any) -> list[DiffRow]:
    """A row for each finding at A or at B, labelled resolved (a finding at A, not at B),
    added (at B, not at A) or left to the usual flag (fail -> inconclusive: changed)."""
    (va, ta), (vb, tb) = _findings(a), _findings(b)
    rows = []
    for row in _rows(va, vb):
        at_a, at_b = row.a in FINDING_VERDICTS, row.b in FINDING_VERDICTS
        if not (at_a or at_b):
            continue
        label = "resolved" if at_a and not at_b else "added" if at_b and not at_a else ""
        rows.append(
            DiffRow(row.key, row.a, row.b, tb.get(row.key) or ta.get(row.key, ""), label=label)
        )
    return rows


def _stage_key(path: str) -> tuple[int, str]:
    stage = Path(path).stem
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), stage)


def _funnel(d: Any) -> dict[str, Scalar]:
    if not isinstance(d, dict):
        return {}
    out: dict[str, Scalar] = {k: d[k] for k in FUNNEL_KEYS if k in d and _is_scalar(d[k])}
    rules = d.get("quarantined_by_rule")
    if isinstance(rules, dict):
        out.update({f"quarantined_by_rule.{r}": n for r, n in rules.items() if _is_scalar(n)})
    return out


def _pii_by_type(d: Any) -> dict[str, Scalar]:
    per = d.get("entities_by_type_and_field") if isinstance(d, dict) else None
    if not isinstance(per, dict):
        return {}
    out: dict[str, Scalar] = {}
    for t, fields in per.items():
        if isinstance(fields, dict):
            out[t] = sum(n for n in fields.values() if _is_number(n))
    return dict(sorted(out.items()))


def _short(v: Any, width: int = 40) -> str:
    s = json.dumps(v, ensure_ascii=False, sort_keys=True) if not isinstance(v, str) else v
    return s if len(s) <= width else s[: width - 1] + "…"


def _validation(d: Any) -> tuple[dict[str, Scalar], dict[str, dict[str, Any]]]:
    """'verdict' and one entry per expectation ('pass', 'fail' or 'not judged'), keyed by name
    (and column where a name repeats), plus each expectation's result for the detail column."""
    if not isinstance(d, dict):
        return {}, {}
    status: dict[str, Scalar] = {}
    results: dict[str, dict[str, Any]] = {}
    if "verdict" in d:
        status["verdict"] = d["verdict"]
    for res in d.get("results") or []:
        if not isinstance(res, dict):
            continue
        key = str(res.get("name") or res.get("expectation_type") or "?")
        if key in status and res.get("column"):
            key = f"{key} [{res['column']}]"
        while key in status:
            key += "'"
        results[key] = res
        if res.get("success") is None and res.get("not_judged"):
            status[key] = "not judged"
        else:
            status[key] = "pass" if res.get("success") else "fail"
    return status, results


def _observed(v: Any) -> str:
    """An expectation's observation, short: Great Expectations' result dicts give their
    ``observed_value`` or their count of unexpected values."""
    if isinstance(v, dict) and "observed_value" in v:
        v = v["observed_value"]
    elif isinstance(v, dict) and _is_number(v.get("unexpected_count")):
        total = v.get("element_count")
        of = f" of {total:,}" if _is_number(total) else ""
        return f"{v['unexpected_count']:,}{of} unexpected"
    return _short(v)


def _validation_detail(ra: dict[str, Any] | None, rb: dict[str, Any] | None) -> str:
    ref = rb or ra or {}
    parts = [str(ref.get("severity") or ""), str(ref.get("expectation_type") or "")]
    if ref.get("column"):
        parts.append(f"column {ref['column']}")
    oa = _observed(ra.get("observed")) if ra else None
    ob = _observed(rb.get("observed")) if rb else None
    if oa is None or ob is None or oa == ob:
        parts.append(f"observed {oa if ob is None else ob}")
    else:
        parts.append(f"observed {oa} → {ob}")
    return " · ".join(p for p in parts if p)


def _numbers_excluded(path: str, key: str) -> bool:
    """Keys already shown in a dedicated section."""
    top = key.split(".", 1)[0].split("[", 1)[0]
    if path.startswith("metrics/"):
        return top in FUNNEL_KEYS or top == "quarantined_by_rule"
    if path == VALIDATION:
        return top in ("verdict", "results")
    if path == PII_REPORT and top == "sample":
        return True  # scrubbed text of sampled records, not values to compare
    # reports repeat their stage's books, which the funnel of metrics/<stage>.json shows
    return top == "books"


def diff_outputs(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    *,
    label_a: str = "A",
    label_b: str = "B",
    cfg: ReportDiffConfig | None = None,
) -> ReportDiff:
    """Compare two sets of outputs, ``{path: parsed JSON, or None where absent}``, leaving
    out timings and treating numbers within the tolerance as the same (``cfg``, default: the
    defaults of params ``report_diff``)."""
    cfg = cfg or ReportDiffConfig()
    tol = (cfg.abs_tolerance, cfg.rel_tolerance)
    paths = [p for p in dict.fromkeys([*a, *b]) if a.get(p) is not None or b.get(p) is not None]
    sections: list[DiffSection] = []
    ignored: set[tuple[str, str]] = set()

    def section(kind: str, title: str, path: str, rows: list[DiffRow]) -> None:
        sections.append(
            DiffSection(kind, title, path, a.get(path) is not None, b.get(path) is not None, rows)
        )

    for p in sorted((p for p in paths if p.startswith("metrics/")), key=_stage_key):
        rows = _rows(_funnel(a.get(p)), _funnel(b.get(p)))
        if rows:  # a stage that keeps no books (train, evaluate) has no funnel
            section("funnel", f"Funnel: {Path(p).stem}", p, rows)
    if PII_REPORT in paths:
        rows = _rows(_pii_by_type(a.get(PII_REPORT)), _pii_by_type(b.get(PII_REPORT)))
        if rows:
            section("pii", "PII values by entity type", PII_REPORT, rows)
    if VALIDATION in paths:
        (sa, ra), (sb, rb) = _validation(a.get(VALIDATION)), _validation(b.get(VALIDATION))
        rows = [
            DiffRow(
                r.key,
                r.a,
                r.b,
                "" if r.key == "verdict" else _validation_detail(ra.get(r.key), rb.get(r.key)),
            )
            for r in _rows(sa, sb)
        ]
        if rows:
            section("validation", "Validation", VALIDATION, rows)
    for p in paths:
        if _findings(a.get(p))[0] or _findings(b.get(p))[0]:
            section("findings", "Findings", p, _finding_rows(a.get(p), b.get(p)))
    for p in sorted(
        paths,
        key=lambda p: (
            OUTPUT_DIRS.index(p.split("/")[0]) if p.split("/")[0] in OUTPUT_DIRS else 9,
            _stage_key(p),
        ),
    ):
        fa = {k: v for k, v in flatten(a.get(p)) if not _numbers_excluded(p, k)}
        fb = {k: v for k, v in flatten(b.get(p)) if not _numbers_excluded(p, k)}
        ignored |= {(p, k) for k in [*fa, *fb] if is_ignored(k, cfg.ignore_keys)}
        fa = {k: v for k, v in fa.items() if (p, k) not in ignored}
        fb = {k: v for k, v in fb.items() if (p, k) not in ignored}
        if fa or fb:
            section("numbers", "Other values", p, _rows(fa, fb, tol))
    return ReportDiff(label_a, label_b, sections, ignored=len(ignored))


# ------------------------------------------------------------------------------ reading


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60)
    except FileNotFoundError:
        raise UserError(
            "git is not installed; `provena report diff` reads revisions with git"
        ) from None


def resolve_revision(rev: str, root: Path = Path(".")) -> str:
    """The commit sha of ``rev``, or ``WORKTREE``; UserError naming ``rev`` if unknown."""
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0 or inside.stdout.strip() != b"true":
        raise UserError(
            f"{root.resolve()}: not inside a git repository; cannot read revision '{rev}' "
            "(run `provena report diff` in the project's checkout)"
        )
    if rev == WORKTREE:
        return WORKTREE
    out = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if out.returncode != 0:
        raise UserError(
            f"unknown revision '{rev}': not a commit, tag or branch of this repository "
            f"(or use {WORKTREE} for the files on disk)"
        )
    return out.stdout.decode().strip()


def _parse(text: bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{where}: not valid JSON ({err})") from None


def read_outputs(rev: str, root: Path = Path(".")) -> dict[str, Any]:
    """``{path: parsed JSON}`` of every ``*.json`` directly in OUTPUT_DIRS at ``rev`` (a
    commit sha from ``resolve_revision``, or ``WORKTREE``), paths relative to ``root``."""
    if rev == WORKTREE:
        return {
            f.relative_to(root).as_posix(): _parse(f.read_bytes(), str(f))
            for d in OUTPUT_DIRS
            for f in sorted((root / d).glob("*.json"))
            if f.is_file()
        }
    # paths relative to root (git lists them relative to the working directory it runs in)
    listing = _git(root, "ls-tree", "-r", "--name-only", "-z", rev, "--", *OUTPUT_DIRS)
    if listing.returncode != 0:
        raise UserError(f"revision '{rev}': {listing.stderr.decode().strip()}")
    paths = [
        p
        for p in listing.stdout.decode().split("\0")
        if p.endswith(".json") and p.count("/") == 1 and p.split("/")[0] in OUTPUT_DIRS
    ]
    out = {}
    for p in sorted(paths):
        shown = _git(root, "show", f"{rev}:./{p}")
        if shown.returncode != 0:
            raise UserError(f"{rev[:12]}:{p}: {shown.stderr.decode().strip()}")
        out[p] = _parse(shown.stdout, f"{rev[:12]}:{p}")
    return out


def diff_revisions(
    rev_a: str, rev_b: str, root: Path = Path("."), cfg: ReportDiffConfig | None = None
) -> ReportDiff:
    """Read both revisions' outputs and compare them; labels name the revision and commit."""
    sha_a, sha_b = resolve_revision(rev_a, root), resolve_revision(rev_b, root)

    def label(rev: str, sha: str) -> str:
        return rev if sha == WORKTREE or sha.startswith(rev) else f"{rev} ({sha[:7]})"

    return diff_outputs(
        read_outputs(sha_a, root),
        read_outputs(sha_b, root),
        label_a=label(rev_a, sha_a),
        label_b=label(rev_b, sha_b),
        cfg=cfg,
    )


# ------------------------------------------------------------------------------ rendering


def fmt_value(v: Scalar) -> str:
    if v is None:
        return ABSENT
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def fmt_delta(row: DiffRow) -> str:
    d = row.delta
    if d is None or d == 0:
        return ""
    if isinstance(row.a, int) and isinstance(row.b, int):
        return f"{int(d):+,}"
    return f"{d.normalize():+f}"


def fmt_percent(row: DiffRow) -> str:
    p = row.percent
    if p is None or p == 0:
        return ""
    if abs(p) < 0.01:
        return f"{'+' if p > 0 else '-'}<0.01%"
    return f"{p:+.2f}%" if abs(p) < 1 else f"{p:+.1f}%"


def fmt_flag(row: DiffRow) -> str:
    """The flag as shown: 'changed' goes without saying where a delta is shown."""
    if row.flag == "changed" and row.delta is not None:
        return ""
    return row.flag.upper() if row.flag in ("regressed", "fixed") else row.flag


def fmt_note(row: DiffRow) -> str:
    """The last column: the flag, then the detail."""
    return " · ".join(x for x in (fmt_flag(row), row.detail) if x)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _presence(s: DiffSection, diff: ReportDiff) -> str:
    if s.in_a and s.in_b:
        return ""
    return f"absent at {diff.label_a}" if not s.in_a else f"absent at {diff.label_b}"


def render_text(diff: ReportDiff, *, show_unchanged: bool = False) -> str:
    """Aligned tables, one per section. The funnel, PII and validation sections show every
    row; the findings and other-values sections show only changed rows unless
    ``show_unchanged``. A section with no row to show is one line, never an empty table."""
    lines = [f"Provena outputs: {diff.label_a} -> {diff.label_b}", diff.summary(), ""]
    head = ("", diff.label_a, diff.label_b, "delta", "%", "")
    for s in diff.sections:
        rows = s.rows if show_unchanged or s.kind not in _CHANGES_ONLY else s.changed_rows
        title = f"{s.title}  ({s.path})"
        if presence := _presence(s, diff):
            title += f"  [{presence}]"
        hidden = len(s.rows) - len(rows)
        if not rows:
            lines += [title, f"  {_none_changed(s, hidden)}", ""]
            continue
        table = [head] + [
            (
                r.key,
                fmt_value(r.a),
                fmt_value(r.b),
                fmt_delta(r),
                fmt_percent(r),
                fmt_note(r),
            )
            for r in rows
        ]
        widths = [max(len(t[i]) for t in table) for i in range(5)]
        lines.append(title)
        for t in table:
            cells = [t[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(t[1:5], widths[1:], strict=True)
            ]
            lines.append(("  " + "  ".join(cells) + ("  " + t[5] if t[5] else "")).rstrip())
        if hidden:
            lines.append(f"  ({_plural(hidden, 'unchanged value')} not shown; --all shows them)")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_ROW_CLASS = {"regressed": "regressed", "fixed": "fixed", "resolved": "fixed", "added": "regressed"}
_CHANGES_ONLY = ("numbers", "findings")  # sections that list their changed rows only


def _none_changed(s: DiffSection, n: int) -> str:
    """The one line of a section with no changed row (``n`` rows unchanged)."""
    if s.kind == "findings":
        return f"{_plural(n, 'finding')} at both, none resolved or added"
    return f"{_plural(n, 'value')}, none changed" if n else "no values"


def _html_rows(rows: list[DiffRow]) -> list[dict[str, Any]]:
    return [
        {
            # a resolved finding is styled as a fixed expectation, an added one as regressed
            "cls": _ROW_CLASS.get(r.flag, "changed" if r.changed else "same"),
            "key": r.key,
            "a": fmt_value(r.a),
            "b": fmt_value(r.b),
            "a_absent": r.a is None,
            "b_absent": r.b is None,
            "delta": fmt_delta(r),
            "percent": fmt_percent(r),
            "note": fmt_note(r),
        }
        for r in rows
    ]


def render_html(diff: ReportDiff) -> str:
    """The same sections as ``render_text``; the other-values sections show their changed rows,
    with the unchanged ones folded below."""
    sections = []
    for s in diff.sections:
        same = [r for r in s.rows if not r.changed]
        sections.append(
            {
                "title": s.title,
                "path": s.path,
                "presence": _presence(s, diff),
                "numbers": s.kind in _CHANGES_ONLY,
                "none_changed": _none_changed(s, len(same)),
                "rows": _html_rows(s.rows),
                "changed": _html_rows(s.changed_rows),
                "same": _html_rows(same),
                "same_label": _plural(len(same), "unchanged value"),
            }
        )
    return reports.render(
        "report_diff.html.j2",
        label_a=diff.label_a,
        label_b=diff.label_b,
        summary=diff.summary(),
        regressions=[r.key for r in diff.regressions],
        resolved=[r.key for r in diff.findings("resolved")],
        added=[r.key for r in diff.findings("added")],
        sections=sections,
    )
