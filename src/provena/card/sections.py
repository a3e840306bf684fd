"""Markdown sections of the model card rendered from evaluate's JSON reports."""

from __future__ import annotations

from typing import Any


def _fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.3f}"


def model_fairness_markdown(result: dict[str, Any]) -> str:
    """A short Markdown section of ``audits/model_fairness.json`` for the model card."""
    lines = [
        "## Model fairness",
        "",
        f"**Verdict: {result['verdict']}** (the adapter is judged; the base is shown for "
        "comparison). Quality is the task score per example (extraction: mean of age and sex "
        "exact match and ICD-10 F1; replies: ROUGE-L); perplexity is per group, token-weighted.",
        "",
    ]
    for split, models in result["splits"].items():
        names = [m for m in ("base", "adapter") if m in models] + sorted(
            m for m in models if m not in ("base", "adapter")
        )
        attrs = list(next(iter(models.values())).keys()) if models else []
        for attr in attrs:
            tables = {m: models[m][attr] for m in names if attr in models[m]}
            head = ["group", "n"]
            head += [f"quality ({m})" for m in tables] + [f"perplexity ({m})" for m in tables]
            lines += [f"### {split}: {attr}", "", "| " + " | ".join(head) + " |"]
            lines.append("|" + "---|" * len(head))
            groups = sorted({g for t in tables.values() for g in t["by_group"]})
            for g in groups:
                # the adapter's entry first: it is the judged one (both models see the same rows)
                e = next(t["by_group"][g] for t in reversed(tables.values()) if g in t["by_group"])
                label = g if e.get("judged", True) else f"{g} (not judged)"
                cells = [label, str(e.get("n", "–"))]
                cells += [_fmt(t["by_group"].get(g, {}).get("quality")) for t in tables.values()]
                cells += [_fmt(t["by_group"].get(g, {}).get("perplexity")) for t in tables.values()]
                lines.append("| " + " | ".join(cells) + " |")
            for row, key in (("difference", "difference"), ("ratio (worst / best)", "ratio")):
                cells = [f"*{row}*", ""]
                cells += [_fmt(t[key]["quality"]) for t in tables.values()]
                cells += [_fmt(t[key]["perplexity"]) for t in tables.values()]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    cf = result.get("counterfactual") or {}
    if cf:
        lines += [f"### Counterfactual probe ({cf.get('attribute', 'gender')} swap)", ""]
        if cf.get("n"):
            lines += [
                f"{cf['n']} prompts swapped; answers changed: {_fmt(cf['changed_share'])}; "
                f"mean output change (1 - ROUGE-L): {_fmt(cf['output_change'])}; mean score "
                f"difference: {_fmt(cf['score_difference'])}.",
                "",
                "| family | n | changed | output change | score difference |",
                "|---|---|---|---|---|",
            ]
            for fam, s in cf.get("families", {}).items():
                lines.append(
                    f"| {fam} | {s['n']} | {_fmt(s['changed_share'])} | "
                    f"{_fmt(s['output_change'])} | {_fmt(s['score_difference'])} |"
                )
        else:
            lines.append("No prompt was swapped.")
        lines.append("")
    lines += ["### Findings", ""]
    for f in result["findings"]:
        lines.append(f"- **{f['verdict']}**: {f['message']}")
    return "\n".join(lines) + "\n"


def privacy_probes_markdown(result: dict[str, Any]) -> str:
    """A short Markdown section of ``audits/privacy_probes.json`` for the model card."""
    lines = [
        "## Privacy probes",
        "",
        f"Verdict: **{result['verdict']}**",
        "",
        "| probe | result | verdict |",
        "|---|---|---|",
    ]
    for f in result["findings"]:
        lines.append(f"| {f['check']} | {f['text']} | {f['verdict']} |")
    a = result.get("adversarial") or {}
    if a.get("by_category"):
        lines += ["", "Adversarial prompts by category:", ""]
        for cat, k in a["by_category"].items():
            lines.append(f"- {cat}: {k['passed']} of {k['prompts']} passed")
        for fail in a.get("failures", [])[:10]:
            checks = "; ".join(f"{x['check']} ({x['detail']})" for x in fail["failed"])
            lines.append(f"- failed `{fail['id']}`: {checks}")
    c = result.get("canaries") or {}
    if c.get("canaries"):
        lines += [
            "",
            f"Canaries: {c['canaries']} secrets of the train split, {c['repeats']} copies each; "
            f"exposure (Carlini et al. 2019) mean {c['mean_exposure']}, max {c['max_exposure']} "
            f"of {c['max_possible_exposure']} bits possible ({c['candidates']} candidates).",
        ]
    return "\n".join(lines) + "\n"
