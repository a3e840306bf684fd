"""The bias-audit report for audit teams: one self-contained HTML page from the audit JSON.

The page opens with what needs attention (every failing and inconclusive finding, each linked
to its section, with the ids of its group's records and a sample of them where the audit JSON
holds them (:mod:`provena.audit_data.drill`), and a filter by attribute, group or text: the
script of ``drill.js``), then all findings, then one section per attribute, intersection and outcome
(ids ``rep-...`` and ``out-...``; the layout's table of contents lists them). Given the
"before" audit too, each section has the before and after tables and ONE chart of both: a dot
chart on a shared axis (provena.reports.charts.compare) per attribute, a heatmap per run with a
shared colour scale for an intersection. Outcomes that are not checked (``check: false``),
not judged or with every group too small are collapsed at the end, the reason in their
summary line. The reference shares and where they come from (``audit_data.reference`` and
``reference_source``) close the page.
An audit of augmented data adds a banner with the machine-made share per group, splits every
row into original and augmented records, marks each sampled record original or augmented (with
its parent's id), and shows the verdict on the original records beside the verdict on the
training distribution. One inline script (the filter), nothing loaded from the network, every
value escaped. Template: ``provena/reports/templates/bias_audit.html.j2``.
"""

from __future__ import annotations

import re
from typing import Any

from provena import reports
from provena.reports import charts

ATTENTION = ("fail", "inconclusive")
#: outcome verdicts whose sections are collapsed (<details>), the reason in the summary line
COLLAPSED = ("not_checked", "not_judged", "too_small")


def slug(*parts: str) -> str:
    """A section id from its parts: lower case, runs of other characters as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")


def rep_id(name: str) -> str:
    return slug("rep", name)


def out_id(oname: str, attr: str, value: str | None = None) -> str:
    return slug("out", oname, attr, *([value] if value is not None else ["mean"]))


def section_of(check: str) -> str | None:
    """The section id a finding's check ("representation:gender:female",
    "outcome:resolution:gender:resolution = refund", "outcome:reply_length:age_band:mean")
    points to; None for the summary ("all") or a check of another shape."""
    parts = check.split(":")
    if parts[0] == "representation" and len(parts) >= 2:
        return rep_id(parts[1])
    if parts[0] == "outcome" and len(parts) >= 4:
        last = ":".join(parts[3:])
        if last == "mean":
            return out_id(parts[1], parts[2])
        return out_id(parts[1], parts[2], last.split(" = ", 1)[-1])
    return None


def _order(*keyed: dict[str, Any]) -> list[str]:
    """Keys in their order of first appearance over the mappings (the latest run's first)."""
    seen: dict[str, None] = {}
    for d in keyed:
        seen.update(dict.fromkeys(d))
    return list(seen)


def _rep_point(e: dict[str, Any]) -> dict[str, Any]:
    return {"value": e["share"], "ci": e["ci"], "ref": e["reference"], "verdict": e["verdict"]}


def _comp_point(g: str, e: dict[str, Any], c: dict[str, Any]) -> dict[str, Any]:
    verdict = (
        "too_small" if g in c["too_small"] else (e.get("vs_highest") or {}).get("verdict", "pass")
    )
    return {"value": e["value"], "ci": e.get("ci"), "verdict": verdict}


def _split(group: str, n_attrs: int) -> tuple[str, str]:
    """An intersection group "female & 18-29" as (row, column): the first attribute's value,
    the rest's."""
    parts = group.split(" & ")
    return parts[0], " & ".join(parts[1:]) if n_attrs > 1 else ""


def _heatmaps(
    runs: list[tuple[str, dict[str, dict[str, Any]]]],
    attrs: list[str],
    *,
    pct: bool,
    what: str,
) -> list[dict[str, Any]]:
    """One heatmap per run of an intersection's groups ({group: cell}), on one colour scale."""
    groups = _order(*(cells for _, cells in reversed(runs)))
    rows = list(dict.fromkeys(_split(g, len(attrs))[0] for g in groups))
    cols = list(dict.fromkeys(_split(g, len(attrs))[1] for g in groups))
    top = max((c["value"] for _, cells in runs for c in cells.values()), default=0) or 1.0
    out = []
    for when, cells in runs:
        out.append(
            {
                "when": when,
                "chart": charts.heatmap(
                    {_split(g, len(attrs)): c for g, c in cells.items()},
                    rows,
                    cols,
                    top=top,
                    pct=pct,
                    title=f"{what} by {' x '.join(attrs)}, {when}: heatmap",
                    row_title=attrs[0],
                    col_title=" x ".join(attrs[1:]),
                ),
            }
        )
    return out


def _rep_section(kind: str, name: str, audits: list[dict[str, Any]], ci_pct: int) -> dict:
    blocks = [(a["when"], a[kind].get(name)) for a in audits]
    latest = blocks[-1][1]
    sec: dict[str, Any] = {
        "id": rep_id(name),
        "title": name,
        "note": None,
        "kind": kind,
        "name": name,
        "verdict": latest["verdict"],
        "chart": None,
        "heatmaps": [],
    }
    judged = [(w, b) for w, b in blocks if b and b.get("verdict") != "not_judged"]
    if not judged:
        return sec
    if kind == "intersections":
        runs = [
            (
                w,
                {
                    g: {
                        "value": e["share"],
                        "sub": "too small"
                        if e["verdict"] == "too_small"
                        else (f"ratio {e['ratio']}" if e.get("ratio") is not None else ""),
                        "verdict": e["verdict"],
                        "title": f"{g}: {charts.value_text(e['share'], True)} of records "
                        f"[{ci_pct}% CI {charts.value_text(e['ci'][0], True)}–"
                        f"{charts.value_text(e['ci'][1], True)}], reference "
                        f"{charts.value_text(e['reference'], True)}, ratio {e.get('ratio')}: "
                        f"{e['verdict'].replace('_', ' ')} ({w})",
                    }
                    for g, e in b["groups"].items()
                },
            )
            for w, b in judged
        ]
        sec["heatmaps"] = _heatmaps(runs, latest["attributes"], pct=True, what="share of records")
    else:
        groups = _order(*(b["groups"] for _, b in reversed(judged)))
        sec["chart"] = charts.compare(
            groups,
            [
                {"name": w, "points": {g: _rep_point(e) for g, e in b["groups"].items()}}
                for w, b in judged
            ],
            pct=True,
            title=f"share of records by {name}"
            + (
                ", " + " and ".join(w for w, _ in judged) + " on one axis"
                if len(judged) > 1
                else ""
            ),
            axis_title=f"share of records (whiskers: {ci_pct}% CI)",
        )
    return sec


def _comp_section(
    audits: list[dict[str, Any]], oname: str, o: dict[str, Any], attr: str, value: str | None
) -> dict[str, Any]:
    """A section of one outcome comparison (a mean, or the share of one label value)."""
    res = o["by_attribute"][attr]
    family = f" in {o['family']} records" if o.get("family") else ""
    if value is None:
        title, note = f"{oname}: mean {o['field']} by {attr}", f"mean{family}"
    else:
        title, note = f"{oname}: {o['field']} = {value} by {attr}", f"share{family}"
    sec: dict[str, Any] = {
        "id": out_id(oname, attr, value),
        "title": title,
        "note": note,
        "oname": oname,
        "attr": attr,
        "value": value,
        "kind": "mean" if value is None else "share",
        "verdict": res["verdict"],
        "reason": res.get("reason"),
        "chart": None,
        "heatmaps": [],
    }
    comps = []
    for a in audits:
        r = a["outcomes"].get(oname, {}).get("by_attribute", {}).get(attr)
        if not r or r.get("verdict") == "not_judged":
            continue
        c = r.get("value") if value is None else r.get("values", {}).get(value)
        if c:
            comps.append((a["when"], c))
    if comps and res["verdict"] != "not_checked":
        sec["verdict"] = comps[-1][1]["verdict"]
    pct = value is not None
    what = f"mean {o['field']}" if value is None else f"share with {o['field']} = {value}"
    if not comps:
        return sec
    if " x " in attr:
        runs = [
            (
                w,
                {
                    g: {
                        "value": e["value"],
                        "sub": f"n={e['n']}",
                        "verdict": p["verdict"],
                        "title": f"{g}: {charts.value_text(e['value'], pct)} of {e['n']} records"
                        f" ({p['verdict'].replace('_', ' ')}, {w})",
                    }
                    for g, e in c["by_group"].items()
                    for p in [_comp_point(g, e, c)]
                },
            )
            for w, c in comps
        ]
        sec["heatmaps"] = _heatmaps(runs, attr.split(" x "), pct=pct, what=what)
    else:
        groups = _order(*(c["by_group"] for _, c in reversed(comps)))
        sec["chart"] = charts.compare(
            groups,
            [
                {"name": w, "points": {g: _comp_point(g, e, c) for g, e in c["by_group"].items()}}
                for w, c in comps
            ],
            pct=pct,
            title=f"{what} by {attr}"
            + (", " + " and ".join(w for w, _ in comps) + " on one axis" if len(comps) > 1 else ""),
            axis_title=what
            + (
                " (whiskers: bootstrap interval)"
                if any(e.get("ci") for _, c in comps for e in c["by_group"].values())
                else ""
            ),
        )
    return sec


def build_sections(audits: list[dict[str, Any]], ci_pct: int) -> dict[str, list[dict]]:
    """The page's sections in order: representation (attributes, then intersections), the
    outcomes that are checked, and those collapsed (not checked or not judged), each with its
    id, title, verdict and chart(s)."""
    latest = audits[-1]
    rep = [
        _rep_section(kind, name, audits, ci_pct)
        for kind in ("representation", "intersections")
        for name in latest[kind]
    ]
    checked, collapsed = [], []
    for oname, o in latest["outcomes"].items():
        for attr, res in o["by_attribute"].items():
            values = (
                [None]
                if res.get("kind") == "mean" or res["verdict"] == "not_judged"
                else (list(res["values"]))
            )
            for v in values:
                sec = _comp_section(audits, oname, o, attr, v)
                if res["verdict"] == "not_judged":
                    sec["title"] = f"{oname}: {o['field']} by {attr}"
                    sec["id"] = slug("out", oname, attr)
                if res["verdict"] == "too_small" and not sec["reason"]:
                    sec["reason"] = (
                        f"every group has fewer than {latest['thresholds']['min_group_size']} "
                        "records (audit_data.min_group_size)"
                    )
                (collapsed if res["verdict"] in COLLAPSED else checked).append(sec)
    return {"representation": rep, "outcomes": checked, "collapsed": collapsed}


def attr_key(attr: str) -> str:
    """The filter key of an attribute or intersection ("gender x age_band")."""
    return slug("a", attr)


def group_key(attr: str, group: str) -> str:
    """The filter key of a group of an attribute ("--" never occurs inside a slug)."""
    return f"{slug('g', attr)}--{slug(group) or 'x'}"


def filter_keys(f: dict[str, Any]) -> list[str]:
    """The filter keys of a finding about a group: its attribute's, its group's and, for an
    intersection's group ("female & 45-64" of "gender x age_band"), each part's group's
    ("female" of "gender", "45-64" of "age_band"); none for a finding without a group."""
    if f.get("group") is None or f.get("attribute") is None:
        return []
    attr, group = f["attribute"], f["group"]
    keys = [attr_key(attr), group_key(attr, group)]
    attrs, parts = attr.split(" x "), group.split(" & ")
    if len(attrs) > 1 and len(parts) == len(attrs):
        keys += [group_key(a, g) for a, g in zip(attrs, parts, strict=True)]
    return keys


def attention(audit: dict[str, Any], ids: set[str]) -> list[dict[str, Any]]:
    """The failing and inconclusive findings of ``audit`` (not the summary), in its order
    (failing first), each with the id of its section when the page has it and its filter keys
    (:func:`filter_keys`)."""
    out = []
    for f in audit["findings"]:
        if f["verdict"] in ATTENTION and f["check"] != "all":
            sec = section_of(f["check"])
            out.append({**f, "section": sec if sec in ids else None, "filter_on": filter_keys(f)})
    return out


def filters(items: list[dict[str, Any]], attributes: list[str]) -> dict[str, list]:
    """The options of the page's finding filter: {"attributes": [(key, label)], "groups":
    [(key, label)]}, attributes in the audit's order (``attributes``, then intersections in
    their order of appearance), groups by attribute then name; a group of an intersection's
    part is an option too (it shows every finding about that group, intersections included)."""
    attrs: dict[str, None] = dict.fromkeys(attributes)
    groups: set[tuple[str, str]] = set()
    for f in items:
        if not f["filter_on"]:
            continue
        attr, group = f["attribute"], f["group"]
        attrs.setdefault(attr)
        groups.add((attr, group))
        parts, names = group.split(" & "), attr.split(" x ")
        if len(names) > 1 and len(parts) == len(names):
            groups.update(zip(names, parts, strict=True))
    used_attrs = {f["attribute"] for f in items if f["filter_on"]}
    order = {a: i for i, a in enumerate(attrs)}
    return {
        "attributes": [(attr_key(a), a) for a in attrs if a in used_attrs],
        "groups": [
            (group_key(a, g), f"{g} ({a})")
            for a, g in sorted(groups, key=lambda ag: (order.get(ag[0], len(order)), ag[1]))
        ],
    }


def render_html(report: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    audits = [before, report] if before is not None else [report]
    ci_pct = round(100 * report["thresholds"]["ci"])
    secs = build_sections(audits, ci_pct)
    ids = {s["id"] for part in secs.values() for s in part}
    items = attention(report, ids)
    return reports.render(
        "bias_audit.html.j2",
        audits=audits,
        sections=secs,
        attention=items,
        filters=filters(items, list(report.get("representation", {}))),
        drill=report.get("drill"),
        sources=report.get("reference_sources"),
        t=report["thresholds"],
        ci_pct=ci_pct,
    )
