"""The PII report for reviewers: one self-contained HTML page rendered from the JSON report.

Everything shown is counts, scores or scrubbed text, and every value is HTML-escaped.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Provena PII report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}.pass{color:#17692b;font-weight:600}.fail{color:#b00020;font-weight:600}
.bar{display:inline-block;height:.8rem;background:#4a78c2;vertical-align:middle}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.6rem;border-radius:4px}
</style></head><body>
<h1>PII report: scrub_pii</h1>
<p>{{ r.books.records_in }} records scanned; {{ r.summary.records_with_pii }} held PII
({{ r.summary.pii_entities }} values). Residual rate after scrubbing:
<b>{{ "%.4f"|format(r.summary.residual_rate) }}</b> (limit {{ r.summary.residual_max_rate }}):
<span class="{{ r.summary.residual_verdict }}">{{ r.summary.residual_verdict }}</span>.
Records quarantined for residual PII: {{ r.summary.residual_records }}.</p>

<h2>Detected values by entity type and field</h2>
<table><tr><th>entity type</th>{% for f in fields %}<th>{{ f }}</th>{% endfor %}<th>operator</th></tr>
{% for t, per in r.entities_by_type_and_field.items() %}<tr><td>{{ t }}</td>
{% for f in fields %}<td>{{ per.get(f, 0) }}</td>{% endfor %}<td>{{ r.operators.get(t, r.operators.default) }}</td></tr>{% endfor %}
</table>

<h2>Detection scores</h2>
<table><tr><th>score</th><th>values</th><th></th></tr>
{% for b, n in r.score_distribution.items() %}<tr><td>{{ b }}</td><td>{{ n }}</td>
<td style="text-align:left"><span class="bar" style="width:{{ (300 * n / max_bin)|round|int }}px"></span></td></tr>{% endfor %}
</table>

{% if r.gold_evaluation %}<h2>Quality against gold spans ({{ r.gold_records }} labelled records)</h2>
<p>Character level, entity-agnostic: precision {{ r.gold_evaluation.precision }}, recall
{{ r.gold_evaluation.recall }}, F2 <b>{{ r.gold_evaluation.f2 }}</b>; gold spans not touched at all:
<b>{{ "%.2f"|format(100 * r.gold_evaluation.missed_share) }}%</b> of {{ r.gold_evaluation.gold_spans }}.</p>
<table><tr><th>type</th><th>recall (by gold type)</th><th>precision (by detected type)</th><th>gold spans</th><th>missed</th></tr>
{% for t, v in r.gold_evaluation.per_type.items() %}<tr><td>{{ t }}</td><td>{{ v.recall if v.recall is not none else "—" }}</td><td>{{ v.precision if v.precision is not none else "—" }}</td>
<td>{{ v.gold_spans }}</td><td>{{ v.missed_spans }}</td></tr>{% endfor %}</table>{% endif %}

<h2>Recognizers</h2>
<table><tr><th>recognizer</th><th>values</th></tr>
{% for k, n in r.entities_by_recognizer.items() %}<tr><td>{{ k }}</td><td>{{ n }}</td></tr>{% endfor %}</table>

<h2>Examples (scrubbed text only)</h2>
<p>Outside the replacements, words with a capital letter, a digit or an @ are greyed out (▒), so a
value the detector missed can never be shown here.</p>
{% for e in r.examples %}<p><code>{{ e.id }}</code> · {{ e.field }}</p><pre>{{ e.scrubbed }}</pre>{% endfor %}
</body></html>
"""


def render_html(report: dict[str, Any]) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    fields = sorted(
        {f for per in report["entities_by_type_and_field"].values() for f in per},
        key=lambda f: (f.startswith("messages"), f),
    )
    max_bin = max(report["score_distribution"].values(), default=1) or 1
    return env.from_string(_TEMPLATE).render(r=report, fields=fields, max_bin=max_bin)
