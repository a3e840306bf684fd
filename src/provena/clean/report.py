"""The clean report for data reviewers: one self-contained HTML page from the JSON report.

It shows counts per rule, what each rule measured on a few dropped records, and the largest
duplicate clusters (scrubbed text: this stage runs after scrub_pii). Every value is escaped.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Provena clean report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}td.l,th.l{text-align:left}
.bar{display:inline-block;height:.8rem;background:#4a78c2;vertical-align:middle}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.6rem;border-radius:4px;margin:.3rem 0}
.kept{border-left:4px solid #17692b}.dropped{border-left:4px solid #b00020}
</style></head><body>
<h1>Clean report</h1>
<p>{{ r.books.records_in }} records in, <b>{{ r.books.records_kept }}</b> kept
({{ "%.1f"|format(100 * r.summary.kept_share) }}%), {{ r.books.records_quarantined }} dropped:
{{ r.summary.filtered }} by quality filters and {{ r.summary.duplicates_dropped }} as duplicates
in {{ r.summary.duplicate_clusters }} clusters. Each dropped record is in the quarantine file with
its rule and reason; the ledger names each duplicate's cluster and the record kept.</p>
{% if r.gold_evaluation %}<p>Against the default dataset's planted defects and copies:
precision <b>{{ r.gold_evaluation.precision }}</b>, recall <b>{{ r.gold_evaluation.recall }}</b>
({{ r.gold_evaluation.false_positives }} clean records dropped).</p>{% endif %}

<h2>Dropped records by rule</h2>
<table><tr><th>rule</th><th>records</th><th></th></tr>
{% for rule in r.rules %}{% set n = r.books.quarantined_by_rule.get(rule, 0) %}<tr><td>{{ rule }}</td><td>{{ n }}</td>
<td style="text-align:left"><span class="bar" style="width:{{ (300 * n / max_rule)|round|int }}px"></span></td></tr>{% endfor %}
</table>

{% if r.filter_examples %}<h2>What the filters measured (first records per rule)</h2>
<table><tr><th>rule</th><th class="l">record</th><th class="l">reason</th></tr>
{% for rule, exs in r.filter_examples.items() %}{% for e in exs %}<tr><td>{{ rule }}</td><td class="l"><code>{{ e.id }}</code> (row {{ e.row }})</td>
<td class="l">{{ e.reason }}</td></tr>{% endfor %}{% endfor %}</table>{% endif %}

{% if r.gold_evaluation %}<h2>Planted defects (default dataset)</h2>
<table><tr><th>defect</th><th>planted</th><th>dropped</th><th>recall</th><th class="l">caught by</th></tr>
{% for d, v in r.gold_evaluation.per_defect.items() %}<tr><td>{{ d }}</td><td>{{ v.planted }}</td><td>{{ v.dropped }}</td>
<td>{{ v.recall }}</td><td class="l">{% for k, n in v.by_rule.items() %}{{ k }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>{% endfor %}
</table>{% endif %}

<h2>Duplicate clusters</h2>
<p>MinHash LSH on word {{ r.lsh.ngram }}-grams, {{ r.lsh.num_perm }} permutations,
{{ r.lsh.bands }} bands of {{ r.lsh.rows }} rows, threshold {{ r.lsh.threshold }} (estimated Jaccard).
Clusters: {% for k, n in r.cluster_sizes.items() %}{{ n }} of {{ k }} records{% if not loop.last %}, {% endif %}{% endfor %}.</p>
{% for c in r.largest_clusters %}<h3>{{ c.size }} records · kept <code>{{ c.kept.id }}</code> (row {{ c.kept.row }}, {{ c.kept.source }})</h3>
<pre class="kept">{{ c.kept.text }}</pre>
{% for d in c.dropped %}<p>dropped <code>{{ d.id }}</code> (row {{ d.row }}): {{ d.rule }}, similarity {{ d.similarity }}</p>
{% if d.rule != "exact_duplicate" %}<pre class="dropped">{{ d.text }}</pre>{% endif %}{% endfor %}
{% endfor %}
</body></html>
"""


def render_html(report: dict[str, Any]) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    max_rule = max(report["books"]["quarantined_by_rule"].values(), default=1) or 1
    return env.from_string(_TEMPLATE).render(r=report, max_rule=max_rule)
