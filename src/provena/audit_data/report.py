"""The bias-audit report for audit teams: one self-contained HTML page from the audit JSON.

Plain-language findings come first, then per-attribute tables and charts (shares and outcome
values per group, with their confidence intervals as whiskers and the reference as a tick).
Given the "before" audit too, every section shows before and after side by side. No script,
nothing loaded from the network, every value escaped.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

_TEMPLATE = """{% macro bars(rows, maxv, pct) -%}
<svg width="360" height="{{ 22 * rows|length + 8 }}" role="img">
{% for r in rows %}{% set y = 4 + 22 * loop.index0 %}
<text x="0" y="{{ y + 13 }}">{{ r.label[:16] }}</text>
<rect x="120" y="{{ y + 3 }}" width="{{ (200 * r.value / maxv)|round(1) }}" height="12" fill="{{ '#b00020' if r.verdict == 'fail' else ('#999' if r.verdict == 'too_small' else '#4a78c2') }}"><title>{{ r.label }}: {{ r.value }}</title></rect>
{% if r.ci %}<line x1="{{ 120 + 200 * r.ci[0] / maxv }}" x2="{{ 120 + 200 * r.ci[1] / maxv }}" y1="{{ y + 9 }}" y2="{{ y + 9 }}" stroke="#222"/>
<line x1="{{ 120 + 200 * r.ci[0] / maxv }}" x2="{{ 120 + 200 * r.ci[0] / maxv }}" y1="{{ y + 5 }}" y2="{{ y + 13 }}" stroke="#222"/>
<line x1="{{ 120 + 200 * r.ci[1] / maxv }}" x2="{{ 120 + 200 * r.ci[1] / maxv }}" y1="{{ y + 5 }}" y2="{{ y + 13 }}" stroke="#222"/>{% endif %}
{% if r.ref is not none %}<line x1="{{ 120 + 200 * r.ref / maxv }}" x2="{{ 120 + 200 * r.ref / maxv }}" y1="{{ y }}" y2="{{ y + 18 }}" stroke="#17692b" stroke-width="2"/>{% endif %}
<text x="{{ 326 }}" y="{{ y + 13 }}">{{ ("%.1f%%"|format(100 * r.value)) if pct else ("%.0f"|format(r.value)) }}</text>{% endfor %}
</svg>{%- endmacro %}
{% macro rep_table(block) -%}
<table><tr><th>group</th><th>records</th><th>share [{{ ci_pct }}% CI]</th><th>reference</th><th>ratio</th><th>verdict</th></tr>
{% for g, e in block.groups.items() %}<tr><td>{{ g }}</td><td>{{ e.n }}</td><td>{{ "%.1f"|format(100 * e.share) }}% [{{ "%.1f"|format(100 * e.ci[0]) }}–{{ "%.1f"|format(100 * e.ci[1]) }}]</td>
<td>{{ "%.1f"|format(100 * e.reference) }}%</td><td>{{ e.ratio if e.ratio is not none else "—" }}</td><td class="{{ e.verdict }}">{{ e.verdict|replace("_", " ") }}</td></tr>{% endfor %}</table>
{{ bars(rep_rows(block), rep_max(block), true) }}{%- endmacro %}
{% macro comp_table(c, pct) -%}
<table><tr><th>group</th><th>records</th><th>value{% if c.by_group.values()|selectattr("ci", "defined")|list %} [{{ ci_pct }}% CI]{% endif %}</th></tr>
{% for g, e in c.by_group.items() %}<tr><td>{{ g }}</td><td>{{ e.n }}</td><td>{{ fmt(e.value, pct) }}{% if e.ci %} [{{ fmt(e.ci[0], pct) }}–{{ fmt(e.ci[1], pct) }}]{% endif %}{% if g in c.too_small %} <span class="too_small">too small</span>{% endif %}</td></tr>{% endfor %}
<tr><td colspan="2">difference / ratio</td><td>{{ fmt(c.difference, pct) if c.difference is not none else "—" }} / {{ c.ratio if c.ratio is not none else "—" }}{% if c.ratio_ci %} [{{ c.ratio_ci[0] }}–{{ c.ratio_ci[1] }}]{% endif %}
· <span class="{{ c.verdict }}">{{ c.verdict|replace("_", " ") }}</span></td></tr></table>
{{ bars(comp_rows(c), comp_max(c), pct) }}{%- endmacro %}
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Provena bias audit</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #ddd}h3{font-size:1rem;margin-bottom:.2rem}
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}.pass{color:#17692b;font-weight:600}.fail{color:#b00020;font-weight:600}
.too_small,.not_checked,.no_reference{color:#777}.badge{font-size:1.2rem;padding:.15rem .6rem;border-radius:4px;color:#fff}
.badge.pass{background:#17692b}.badge.fail{background:#b00020}.cols{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}
.cols.one{grid-template-columns:1fr}ul.findings li{margin:.3rem 0}svg text{font:11px system-ui,sans-serif;fill:#333}
.muted{color:#666}
</style></head><body>
<h1>Bias audit</h1>
<p>{% for a in audits %}<b>{{ a.when }}</b> ({{ a.dataset.records }} records, <code>{{ a.dataset.path }}</code>, md5 <code>{{ a.dataset.md5[:12] }}</code>):
<span class="badge {{ a.verdict }}" id="verdict-{{ a.when }}">{{ a.verdict }}</span>{% if not loop.last %}<br>{% endif %}{% endfor %}</p>
<p class="muted">A group's share is compared with its reference share (ratio at least {{ t.min_representation_ratio }});
an outcome is compared between the best and the worst group (ratio at least {{ t.min_outcome_ratio }}; for shares, a
finding also needs a gap above {{ t.max_outcome_difference }}). Groups under {{ t.min_group_size }} records are shown
but not judged. Intervals: {{ ci_pct }}% (Wilson for shares of records; {{ t.bootstrap }} bootstrap resamples of
fairlearn's MetricFrame for outcomes).</p>

<h2>Findings</h2>
<div class="cols {{ 'one' if audits|length == 1 }}">{% for a in audits %}<div><h3>{{ a.when }}</h3><ul class="findings">
{% for f in a.findings %}<li class="{{ f.verdict }}">{{ f.text }}</li>{% endfor %}</ul></div>{% endfor %}</div>

<h2>Representation</h2>
{% for name in audits[-1].representation %}<h3>{{ name }}</h3><div class="cols {{ 'one' if audits|length == 1 }}">
{% for a in audits %}<div><p class="muted">{{ a.when }}</p>{{ rep_table(a.representation[name]) }}</div>{% endfor %}</div>{% endfor %}
{% for name in audits[-1].intersections %}<h3>{{ name }}</h3><div class="cols {{ 'one' if audits|length == 1 }}">
{% for a in audits %}<div><p class="muted">{{ a.when }}</p>{{ rep_table(a.intersections[name]) }}</div>{% endfor %}</div>{% endfor %}

<h2>Outcomes by group</h2>
{% for oname, o in audits[-1].outcomes.items() %}{% for attr, res in o.by_attribute.items() %}
{% if res.kind == "mean" %}<h3>{{ oname }}: mean {{ o.field }}{% if o.family %} ({{ o.family }}){% endif %} by {{ attr }}</h3>
<div class="cols {{ 'one' if audits|length == 1 }}">{% for a in audits %}<div><p class="muted">{{ a.when }}</p>{{ comp_table(a.outcomes[oname].by_attribute[attr].value, false) }}</div>{% endfor %}</div>
{% else %}{% for v in res["values"] %}<h3>{{ oname }}: share with {{ o.field }} = {{ v }}{% if o.family %} ({{ o.family }}){% endif %} by {{ attr }}</h3>
<div class="cols {{ 'one' if audits|length == 1 }}">{% for a in audits %}{% set c = a.outcomes[oname].by_attribute[attr]["values"].get(v) %}<div><p class="muted">{{ a.when }}</p>{% if c %}{{ comp_table(c, true) }}{% else %}—{% endif %}</div>{% endfor %}</div>
{% endfor %}{% endif %}{% endfor %}{% endfor %}

<h2>Inferred and missing attributes</h2>
<div class="cols {{ 'one' if audits|length == 1 }}">{% for a in audits %}<div><p class="muted">{{ a.when }}</p>
<table><tr><th>attribute</th><th>missing</th><th>inferred from text</th></tr>{% for attr, n in a.missing.items() %}
<tr><td>{{ attr }}</td><td>{{ n }}</td><td>{% for g, k in a.inferred[attr].items() %}{{ g }} {{ k }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}</td></tr>{% endfor %}</table></div>{% endfor %}</div>
<p class="muted">Inferred values (pronouns and gendered terms; a stated age) are reported here only; the checks above use recorded attributes.</p>
</body></html>
"""


def _fmt(value: float, pct: bool) -> str:
    return f"{100 * value:.1f}%" if pct else f"{value:.0f}"


def _rep_rows(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": g,
            "value": e["share"],
            "ci": e["ci"],
            "ref": e["reference"],
            "verdict": e["verdict"],
        }
        for g, e in block["groups"].items()
    ]


def _rep_max(block: dict[str, Any]) -> float:
    vals = [max(e["share"], e["ci"][1], e["reference"]) for e in block["groups"].values()]
    return max(vals, default=1.0) or 1.0


def _comp_rows(c: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": g,
            "value": e["value"],
            "ci": e.get("ci"),
            "ref": None,
            "verdict": "too_small" if g in c["too_small"] else "pass",
        }
        for g, e in c["by_group"].items()
    ]


def _comp_max(c: dict[str, Any]) -> float:
    vals = [max(e["value"], *(e.get("ci") or [0])) for e in c["by_group"].values()]
    return max(vals, default=1.0) or 1.0


def render_html(report: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.globals.update(
        fmt=_fmt, rep_rows=_rep_rows, rep_max=_rep_max, comp_rows=_comp_rows, comp_max=_comp_max
    )
    audits = [before, report] if before is not None else [report]
    return env.from_string(_TEMPLATE).render(
        audits=audits, t=report["thresholds"], ci_pct=round(100 * report["thresholds"]["ci"])
    )
