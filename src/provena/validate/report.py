"""The data-quality report: one self-contained HTML page for data reviewers.

Built by the validate stage from the curated table, the validation results and the JSON the
earlier stages wrote (their metrics, the PII report, the clean report). It shows the curation
funnel with every reason records left, length distributions, PII counts by entity type, the
largest duplicate clusters, the validation results, and the dataset's fingerprint. Charts are
inline SVG; there is no script and nothing loads from the network. Every value is escaped by
Jinja2's autoescaping; text shown is scrubbed text (the report reads the output of clean, which
reads the output of scrub_pii).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from provena.config import ValidateConfig

FUNNEL_STAGES = ("ingest", "scrub_pii", "clean")


def _load(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def histogram(values: list[float], bins: int, limit: float | None = None) -> dict[str, Any]:
    """Counts in equal-width bins, ready to draw as SVG bars."""
    if not values:
        return {"bins": [], "max": 0, "lo": 0, "hi": 0, "n": 0}
    lo, hi = min(values), max(values)
    if limit is not None:
        hi = max(hi, limit)
    width = (hi - lo) / bins or 1
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    peak = max(counts)
    out = []
    for i, c in enumerate(counts):
        out.append(
            {
                "x": i,
                "lo": round(lo + i * width),
                "hi": round(lo + (i + 1) * width),
                "count": c,
                "h": 0 if c == 0 else max(1.0, 100 * math.sqrt(c / peak)),
            }
        )
    marker = None if limit is None else (limit - lo) / (hi - lo or 1) * bins
    return {"bins": out, "max": peak, "lo": lo, "hi": hi, "n": len(values), "marker": marker}


def build_quality_report(
    df: Any,
    validation: dict[str, Any],
    inputs: dict[str, Path],
    cfg: ValidateConfig,
    root: Path,
) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data."""
    funnel = []
    for stage in FUNNEL_STAGES:
        m = _load(inputs.get(f"metrics_{stage}"))
        if m is None:
            continue
        funnel.append(
            {
                "stage": stage,
                "in": m["records_in"],
                "kept": m["records_kept"],
                "out": m["records_quarantined"],
                "by_rule": m.get("quarantined_by_rule", {}),
                "changed": m.get("changed_by_rule", {}),
            }
        )
    pii = _load(inputs.get("pii_report"))
    clean = _load(inputs.get("clean_report"))
    family_key = cfg.family_key
    lengths = []
    groups = sorted(df[family_key].dropna().unique()) if family_key in df else []
    for fam in groups or [None]:
        part = df if fam is None else df[df[family_key] == fam]
        lengths.append(
            {
                "family": fam or "all records",
                "records": len(part),
                "output_chars": histogram(part["output_chars"].tolist(), cfg.report_bins),
                "n_tokens": histogram(part["n_tokens"].tolist(), cfg.report_bins, cfg.max_seq_len),
                "median_tokens": float(part["n_tokens"].median()) if len(part) else 0.0,
                "max_tokens": int(part["n_tokens"].max()) if len(part) else 0,
            }
        )
    attributes = {}
    for key in cfg.columns_from_meta:
        if key in df and key != family_key:
            counts = df[key].fillna("(missing)").value_counts().sort_index()
            attributes[key] = {str(k): int(v) for k, v in counts.items()}
    return {
        "fingerprint": validation["dataset"],
        "suite": {
            "name": validation["suite"],
            "path": validation["suite_path"],
            "sha256": validation["suite_sha256"],
        },
        "verdict": validation["verdict"],
        "validation": validation["results"],
        "failed_critical": validation["failed_critical"],
        "failed_warning": validation["failed_warning"],
        "tokens": validation["tokens"],
        "max_seq_len": cfg.max_seq_len,
        "funnel": funnel,
        "lengths": lengths,
        "attributes": attributes,
        "pii": None
        if pii is None
        else {
            "summary": pii["summary"],
            "by_type": {
                t: sum(per.values()) for t, per in pii["entities_by_type_and_field"].items()
            },
            "gold": pii.get("gold_evaluation"),
        },
        "clean": None
        if clean is None
        else {
            "summary": clean["summary"],
            "clusters": clean["largest_clusters"],
            "lsh": clean["lsh"],
        },
    }


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Provena data-quality report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1080px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2.2rem;border-bottom:1px solid #ddd}h3{font-size:1rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.l,th.l{text-align:left}.pass{color:#17692b;font-weight:600}.fail{color:#b00020;font-weight:600}
.warning{color:#a15c00;font-weight:600}.muted{color:#666}.badge{font-size:1.3rem;padding:.2rem .7rem;border-radius:4px;color:#fff}
.badge.pass{background:#17692b}.badge.fail{background:#b00020}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.6rem;border-radius:4px;margin:.3rem 0;max-height:14rem;overflow:auto}
svg text{font:11px system-ui,sans-serif;fill:#444}.kv td:first-child{color:#555}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}.nw{white-space:nowrap}
</style></head><body>
<h1>Data-quality report</h1>
<p>Verdict of the <code>{{ r.suite.name }}</code> suite: <span class="badge {{ r.verdict }}" id="verdict">{{ r.verdict }}</span>
&nbsp;{{ r.validation|selectattr("success")|list|length }} of {{ r.validation|length }} expectations passed{% if r.failed_critical %};
critical failures: <b>{{ r.failed_critical|join(", ") }}</b>{% endif %}{% if r.failed_warning %}; warnings: {{ r.failed_warning|join(", ") }}{% endif %}.</p>
<table class="kv"><tr><td>dataset</td><td class="l"><code>{{ r.fingerprint.path }}</code></td></tr>
<tr><td>records</td><td class="l" id="records">{{ r.fingerprint.records }}</td></tr>
<tr><td>DVC hash (md5)</td><td class="l"><code id="md5">{{ r.fingerprint.md5 }}</code></td></tr>
<tr><td>suite</td><td class="l"><code>{{ r.suite.path }}</code> (sha256 {{ r.suite.sha256[:12] }})</td></tr></table>

<h2>Curation funnel</h2>
<table><tr><th>stage</th><th class="nw">records in</th><th>kept</th><th>removed</th><th class="l">removed by reason</th><th class="l">changed</th></tr>
{% for s in r.funnel %}<tr><td>{{ s.stage }}</td><td>{{ s["in"] }}</td><td>{{ s.kept }}</td><td>{{ s.out }}</td>
<td class="l">{% for k, n in s.by_rule.items() %}{{ k }} {{ n }}{% if not loop.last %}, {% endif %}{% else %}<span class="muted">none</span>{% endfor %}</td>
<td class="l">{% for k, n in s.changed.items() %}{{ k }} {{ n }}{% if not loop.last %}, {% endif %}{% else %}<span class="muted">none</span>{% endfor %}</td></tr>{% endfor %}
<tr><td>validate</td><td>{{ r.fingerprint.records }}</td><td>{{ r.fingerprint.records }}</td><td>0</td><td class="l muted">validation reads, it does not remove</td><td></td></tr>
</table>
{% if r.funnel %}{% set first = r.funnel[0] %}<p>{{ first["in"] }} raw rows became {{ r.fingerprint.records }} curated records
({{ "%.1f"|format(100 * r.fingerprint.records / first["in"]) if first["in"] else 0 }}%). Every removed record is in
<code>data/quarantine/&lt;stage&gt;.jsonl</code> with its rule and reason.</p>{% endif %}

<h2>Validation results</h2>
<table><tr><th>expectation</th><th>severity</th><th>result</th><th class="l">what it checks</th><th class="l">observed</th></tr>
{% for v in r.validation %}<tr><td><code>{{ v.name }}</code></td><td class="{{ v.severity }}">{{ v.severity }}</td>
<td class="{{ 'pass' if v.success else ('fail' if v.severity == 'critical' else 'warning') }}">{{ "pass" if v.success else "fail" }}</td>
<td class="l">{{ v.description }}</td><td class="l">{% if v.observed.unexpected_count is defined %}<span class="nw">{{ v.observed.unexpected_count }} / {{ v.observed.element_count }}</span> unexpected{% if v.observed.unexpected_ids %}: {{ v.observed.unexpected_ids[:3]|join(", ") }}{% endif %}{% elif v.observed.observed_value is defined %}{{ v.observed.observed_value if v.observed.observed_value is number or v.observed.observed_value is string else (v.observed.observed_value|length) ~ " values" }}{% endif %}{% if v.error %} <span class="fail">{{ v.error }}</span>{% endif %}</td></tr>{% endfor %}
</table>
<p class="muted">Great Expectations' own Data Docs for this run are in <code>reports/data_docs/index.html</code>.</p>

<h2>Lengths</h2>
<p>Tokens are {{ r.tokens }}; the dashed line is <code>validate.max_seq_len</code> = {{ r.max_seq_len }}. Bar heights are square-root scaled.</p>
{% for L in r.lengths %}<h3>{{ L.family }} ({{ L.records }} records; median {{ L.median_tokens|round|int }} tokens, longest {{ L.max_tokens }})</h3>
<div class="charts">{% for key, title in [("output_chars", "output characters"), ("n_tokens", "tokens per record")] %}{% set h = L[key] %}
<svg width="440" height="150" role="img" aria-label="{{ title }} histogram"><text x="0" y="12">{{ title }}</text>
{% for b in h.bins %}<rect x="{{ 10 + b.x * 400 / (h.bins|length) }}" y="{{ 125 - b.h }}" width="{{ 400 / (h.bins|length) - 1 }}" height="{{ b.h }}" fill="#4a78c2"><title>{{ b.lo }}-{{ b.hi }}: {{ b.count }}</title></rect>{% endfor %}
{% if h.marker is not none and key == "n_tokens" %}<line x1="{{ 10 + h.marker * 400 / (h.bins|length) }}" x2="{{ 10 + h.marker * 400 / (h.bins|length) }}" y1="20" y2="125" stroke="#b00020" stroke-dasharray="4 3"/>{% endif %}
<text x="10" y="142">{{ h.lo|round|int }}</text><text x="370" y="142">{{ h.hi|round|int }}</text></svg>{% endfor %}</div>{% endfor %}

{% if r.attributes %}<h2>Sensitive attributes</h2><div class="charts">
{% for key, counts in r.attributes.items() %}<table><tr><th>{{ key }}</th><th>records</th><th>share</th></tr>
{% set total = counts.values()|sum %}{% for k, n in counts.items() %}<tr><td>{{ k }}</td><td>{{ n }}</td><td>{{ "%.1f"|format(100 * n / total) }}%</td></tr>{% endfor %}</table>{% endfor %}
</div><p class="muted">The bias audit (audit_data) compares these shares with a reference and looks at outcomes per group.</p>{% endif %}

{% if r.pii %}<h2>PII found and replaced (scrub_pii)</h2>
<p>{{ r.pii.summary.pii_entities }} values in {{ r.pii.summary.records_with_pii }} records; residual rate
{{ r.pii.summary.residual_rate }} (limit {{ r.pii.summary.residual_max_rate }}: <span class="{{ r.pii.summary.residual_verdict }}">{{ r.pii.summary.residual_verdict }}</span>).
{% if r.pii.gold %}Against gold spans: precision {{ r.pii.gold.precision }}, recall {{ r.pii.gold.recall }}, F2 {{ r.pii.gold.f2 }}.{% endif %}</p>
<table><tr><th>entity type</th><th>values</th></tr>{% for t, n in r.pii.by_type|dictsort(by="value", reverse=true) %}<tr><td>{{ t }}</td><td>{{ n }}</td></tr>{% endfor %}</table>{% endif %}

{% if r.clean %}<h2>Largest duplicate clusters (clean)</h2>
<p>{{ r.clean.summary.duplicates_dropped }} duplicates dropped in {{ r.clean.summary.duplicate_clusters }} clusters (MinHash LSH, word {{ r.clean.lsh.ngram }}-grams, threshold {{ r.clean.lsh.threshold }}).</p>
{% for c in r.clean.clusters[:5] %}<h3>{{ c.size }} records; kept <code>{{ c.kept.id }}</code></h3><pre>{{ c.kept.text }}</pre>
{% for d in c.dropped %}<p class="muted">dropped <code>{{ d.id }}</code>: {{ d.rule }}, similarity {{ d.similarity }}</p>{% endfor %}{% endfor %}{% endif %}
</body></html>
"""


def render_html(report: dict[str, Any]) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(r=report)
