"""The model card's sections on evaluate's reports, as Markdown (template
``provena/reports/templates/card/sections.md.j2``, which the card's README includes)."""

from __future__ import annotations

from typing import Any

from provena import reports

TEMPLATE = "card/sections.md.j2"


def _fmt(x: float | None) -> str:
    return reports.fixed(x, 3, none="–")


def fairness_tables(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The tables of ``audits/model_fairness.json``, one per split and attribute, as a title, a
    header and rows of cells: per group its size, then quality and perplexity per model (base
    and adapter first), then the difference and worst/best ratio rows."""
    out = []
    for split, models in result["splits"].items():
        names = [m for m in ("base", "adapter") if m in models] + sorted(
            m for m in models if m not in ("base", "adapter")
        )
        attrs = list(next(iter(models.values())).keys()) if models else []
        for attr in attrs:
            tables = [models[m][attr] for m in names if attr in models[m]]
            used = [m for m in names if attr in models[m]]
            header = ["group", "n"]
            header += [f"quality ({m})" for m in used] + [f"perplexity ({m})" for m in used]
            rows = []
            for g in sorted({g for t in tables for g in t["by_group"]}):
                # the adapter's entry first: it is the judged one (both models see the same rows)
                e = next(t["by_group"][g] for t in reversed(tables) if g in t["by_group"])
                cells = [g if e.get("judged", True) else f"{g} (not judged)", str(e.get("n", "–"))]
                cells += [_fmt(t["by_group"].get(g, {}).get("quality")) for t in tables]
                cells += [_fmt(t["by_group"].get(g, {}).get("perplexity")) for t in tables]
                rows.append(cells)
            for label, key in (("difference", "difference"), ("ratio (worst / best)", "ratio")):
                cells = [f"*{label}*", ""]
                cells += [_fmt(t[key]["quality"]) for t in tables]
                cells += [_fmt(t[key]["perplexity"]) for t in tables]
                rows.append(cells)
            out.append({"title": f"{split}: {attr}", "header": header, "rows": rows})
    return out


def model_fairness_markdown(result: dict[str, Any]) -> str:
    """The "Model fairness" section of ``audits/model_fairness.json``."""
    return reports.render_macro(TEMPLATE, "model_fairness", result, fairness_tables(result))


def privacy_probes_markdown(result: dict[str, Any]) -> str:
    """The "Privacy probes" section of ``audits/privacy_probes.json``."""
    return reports.render_macro(TEMPLATE, "privacy_probes", result)
