"""Geometry of the reports' inline SVG charts, computed here so the templates only draw it.

Conventions (docs/reports.md): every chart has a labelled value axis with ticks starting at 0;
charts that compare runs (before and after) put both on one axis, 0 to the largest value or
interval end of either, so the same value is drawn at the same place; a label column is as
wide as its longest label (never cut); an intersection of two attributes is a heatmap with a
colour scale shared by the runs compared. Widths of text are estimated from its characters
(:data:`CHAR_W` a generous average of an 11 px sans-serif font), so they err wide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

CHAR_W = 6.8  # px per character at 11 px: wider than the average letter, digit or '&'
PLOT_W = 320  # px of the value axis of a comparison chart
ROW_H = 14  # px per bar or dot line
MAX_LABEL_W = 420  # px: a label wider than this wraps onto further lines (never cut)


def text_width(text: str) -> float:
    """Estimated width in px of ``text`` at the charts' 11 px font."""
    return len(text) * CHAR_W


def label_width(labels: Sequence[str]) -> float:
    """Width in px of the widest of ``labels`` (0 for none): a label column's width."""
    return max((text_width(str(x)) for x in labels), default=0.0)


def wrap(label: str, width: float = MAX_LABEL_W) -> list[str]:
    """``label`` in lines of at most ``width`` px, broken at spaces (a word longer than a
    line is broken inside); every character kept."""
    per = max(1, int(width // CHAR_W))
    lines: list[str] = []
    line = ""
    for word in label.split(" "):
        cand = f"{line} {word}" if line else word
        if len(cand) <= per:
            line = cand
            continue
        if line:
            lines.append(line)
        while len(word) > per:
            lines.append(word[:per])
            word = word[per:]
        line = word
    lines.append(line)
    return lines


def nice_step(top: float, n: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 x 10^k) giving about ``n`` intervals up to ``top``."""
    if top <= 0:
        return 1.0
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag  # pragma: no cover - the loop always returns


def axis(top: float, length: float, pct: bool) -> dict[str, Any]:
    """A value axis from 0 to the first tick at or above ``top``: its max and ticks, each with
    its position in px along ``length`` and its label."""
    step = nice_step(top)
    end = step * math.ceil(top / step - 1e-9) if top > 0 else step
    ticks = []
    for i in range(round(end / step) + 1):
        v = i * step
        ticks.append({"value": v, "pos": round(length * v / end, 2), "label": _fmt(v, pct)})
    return {"max": end, "ticks": ticks}


def _fmt(v: float, pct: bool) -> str:
    if pct:
        p = 100 * v
        return f"{p:.0f}%" if abs(p - round(p)) < 1e-9 else f"{p:.1f}%"
    return f"{v:,.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


def value_text(v: float | None, pct: bool) -> str:
    if v is None:
        return "—"
    return f"{100 * v:.1f}%" if pct else f"{v:,.0f}"


def compare(
    groups: Sequence[str],
    series: Sequence[dict[str, Any]],
    *,
    pct: bool,
    title: str,
    axis_title: str,
) -> dict[str, Any]:
    """A dot chart with interval whiskers of ``groups`` for every run in ``series`` on ONE
    axis. ``series``: [{"name": "before", "points": {group: {value, ci?, ref?, verdict}}}]; a
    group a run lacks is left out of that run. Returns the geometry the macro draws."""
    ends = [0.0]
    for s in series:
        for p in s["points"].values():
            ends += [p["value"], *(p.get("ci") or []), p.get("ref") or 0.0]
    top = max(ends)
    ax = axis(top, PLOT_W, pct)
    label_lines = {g: wrap(g) for g in groups}
    label_w = max((text_width(line) for ls in label_lines.values() for line in ls), default=0)
    x0 = round(label_w + 10, 1)
    n_series = len(series)
    rows = []
    y = 22  # legend above
    for g in groups:
        lines = label_lines[g]
        h = max(n_series * ROW_H, len(lines) * ROW_H) + 6
        points = []
        for i, s in enumerate(series):
            p = s["points"].get(g)
            if p is None:
                continue
            ci = p.get("ci")
            points.append(
                {
                    "series": s["name"],
                    "index": i,
                    "y": y + 3 + ROW_H * i + ROW_H / 2,
                    "x": x0 + _pos(p["value"], ax),
                    "lo": None if not ci else x0 + _pos(ci[0], ax),
                    "hi": None if not ci else x0 + _pos(ci[1], ax),
                    "verdict": p.get("verdict", "pass"),
                    "title": f"{g}, {s['name']}: {value_text(p['value'], pct)}"
                    + (f" [{value_text(ci[0], pct)}–{value_text(ci[1], pct)}]" if ci else "")
                    + (
                        f", reference {value_text(p['ref'], pct)}"
                        if p.get("ref") is not None
                        else ""
                    )
                    + f" ({p.get('verdict', 'pass').replace('_', ' ')})",
                }
            )
        refs = [p["ref"] for s in series if (p := s["points"].get(g)) and p.get("ref") is not None]
        rows.append(
            {
                "label": lines,
                "y": y,
                "h": h,
                "ref_x": x0 + _pos(refs[-1], ax) if refs else None,
                "points": points,
            }
        )
        y += h
    plot_bottom = y + 2
    return {
        "title": title,
        "axis_title": axis_title,
        "x0": x0,
        "plot_w": PLOT_W,
        "ticks": [{**t, "x": round(x0 + t["pos"], 2)} for t in ax["ticks"]],
        "rows": rows,
        "series": [s["name"] for s in series],
        "top": 18,
        "bottom": plot_bottom,
        "width": round(x0 + PLOT_W + 24, 1),
        "height": plot_bottom + 36,
        "has_ref": any(r["ref_x"] is not None for r in rows),
    }


def _pos(v: float, ax: dict[str, Any]) -> float:
    return round(PLOT_W * v / ax["max"], 2)


def heatmap(
    cells: dict[tuple[str, str], dict[str, Any]],
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    top: float,
    pct: bool,
    title: str,
    row_title: str,
    col_title: str,
) -> dict[str, Any]:
    """A heatmap of ``cells`` ({(row, col): {value, sub?, verdict, title}}): the fill's
    strength is value / ``top`` (pass the same ``top`` to heatmaps compared); a failing or
    inconclusive cell gets a coloured border. Every cell shows its value; a missing one is
    drawn empty with "no records"."""
    row_w = max((text_width(r) for r in [*rows, row_title]), default=0) + 12
    cell_w = max(
        [60.0]
        + [text_width(c) + 12 for c in cols]
        + [text_width(value_text(c["value"], pct)) + 12 for c in cells.values()]
        + [text_width(c.get("sub", "")) + 12 for c in cells.values()]
    )
    cell_h = 34
    x0, y0 = round(row_w, 1), 40
    out_cells = []
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            cell = cells.get((r, c))
            base = {"x": round(x0 + j * cell_w, 1), "y": y0 + i * cell_h, "row": r, "col": c}
            if cell is None:
                out_cells.append(
                    {
                        **base,
                        "text": "",
                        "sub": "no records",
                        "opacity": 0,
                        "verdict": "none",
                        "title": f"{r} & {c}: no records",
                    }
                )
                continue
            v = cell["value"]
            out_cells.append(
                {
                    **base,
                    "text": value_text(v, pct),
                    "sub": cell.get("sub", ""),
                    "opacity": round(0.08 + 0.72 * (v / top if top else 0), 3),
                    "verdict": cell.get("verdict", "pass"),
                    "title": cell["title"],
                }
            )
    scale = value_text(top, pct)
    caption = f"fill: 0 (pale) to {scale} (dark)"
    grid_w = x0 + len(cols) * cell_w + 4
    return {
        "title": title,
        "caption": caption,
        "row_title": row_title,
        "col_title": col_title,
        "x0": x0,
        "y0": y0,
        "cell_w": round(cell_w, 1),
        "cell_h": cell_h,
        "rows": [{"label": r, "y": y0 + i * cell_h + cell_h / 2 + 4} for i, r in enumerate(rows)],
        "cols": [
            {"label": c, "x": round(x0 + j * cell_w + cell_w / 2, 1)} for j, c in enumerate(cols)
        ],
        "cells": out_cells,
        "width": round(max(grid_w, x0 + text_width(caption), x0 + text_width(col_title) + 20), 1),
        "height": y0 + len(rows) * cell_h + 22,
    }


def histogram_axis(h: dict[str, Any]) -> list[dict[str, Any]]:
    """Ticks of the y axis of a histogram (validate.report.histogram, bar heights 100 x
    sqrt(count / peak)): counts 0, about a quarter of the peak and the peak, each with its
    height in px on that square-root scale."""
    peak = h.get("max") or 0
    if not peak:
        return []
    counts = sorted({0, max(1, round(peak / 4)), peak})
    return [{"count": c, "h": round(100 * math.sqrt(c / peak), 2)} for c in counts]
