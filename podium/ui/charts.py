"""Charts drawn on the server as SVG: no script, no library, nothing fetched, every label escaped.

SVG attributes (not `style`) place and colour everything, so the page's Content-Security-Policy
needs no inline styles for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

from podium.ui.runs import money

# colour-blind-safe (Okabe-Ito), then greys: one per workflow, in the legend's order
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
OTHER = "#999999"


def colour(index: int) -> str:
    return PALETTE[index] if index < len(PALETTE) else OTHER


def daily_bars(
    days: Sequence[date],
    workflows: Sequence[str],
    cost: Mapping[tuple[str, date], Decimal],
    *,
    height: int = 220,
) -> Markup:
    """Cost per workflow per day: a bar a day, stacked by workflow, with a dollar axis and a legend."""
    left, bottom, top = 64, 28, 12
    bar = max(6, min(36, 720 // max(len(days), 1)))
    gap = max(2, bar // 4)
    width = left + len(days) * (bar + gap) + 12
    totals = [sum((cost.get((w, d), Decimal(0)) for w in workflows), Decimal(0)) for d in days]
    most = max(totals, default=Decimal(0)) or Decimal(1)
    plot = height - bottom - top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="daily-chart" role="img" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>cost per workflow per day, {escape(str(days[0]))} to {escape(str(days[-1]))}</title>"
        if days
        else "<title>no days</title>",
    ]
    for tick in range(5):  # the dollar axis: 0, a quarter, … the busiest day
        value = most * tick / 4
        y = top + plot - plot * tick / 4
        parts.append(f'<line x1="{left - 4}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">${_tick(value)}</text>'
        )
    for i, day in enumerate(days):
        x = left + i * (bar + gap)
        y = top + plot
        for j, workflow in enumerate(workflows):
            value = cost.get((workflow, day), Decimal(0))
            if not value:
                continue
            h = float(value / most) * plot
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{max(h, 0.5):.1f}" fill="{colour(j)}"'
                f' data-workflow="{escape(workflow)}" data-day="{day}"><title>{escape(workflow)}, {day}:'
                f" ${money(value)}</title></rect>"
            )
        if len(days) <= 31 or i % 7 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle" font-size="10">'
                f"{day.day}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _tick(value: Decimal) -> str:
    """An axis label: cents from a dollar up, else four decimals (`0.0073`), never a long tail."""
    return f"{value:,.2f}" if value == 0 or abs(value) >= 1 else f"{value:.4f}"


def share_bar(value: Decimal | None, most: Decimal | None, *, width: int = 160) -> Markup:
    """A horizontal bar for one row of a table: its share of the largest row."""
    if not value or not most:
        return Markup(f'<svg class="bar" width="{width}" height="10" aria-hidden="true"></svg>')
    w = max(1.0, float(value / most) * width)
    return Markup(
        f'<svg class="bar" width="{width}" height="10" aria-hidden="true">'
        f'<rect x="0" y="0" width="{w:.1f}" height="10" fill="{PALETTE[0]}"/></svg>'
    )
