"""Small server-rendered SVG charts for the compliance console.

No script and no inline style (the portal's Content-Security-Policy forbids both): colours
are SVG presentation attributes. Every chart has a <title> and <desc>, and every page
that shows one also shows the numbers in a table, which is what a screen reader uses.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Text in drawing units. The drawing is 640 units wide and scales with the page: 16 units
# stay 12 px on a 480-px-wide chart box, and larger on a desk (issue 15: 11 units in a
# 760-unit drawing came out at 8 px on a phone).
FONT = 16
WIDTH = 640


def _text_width(text: str, size: float = FONT) -> float:
    """Roughly how wide ``text`` is drawn: CJK characters are square, Latin about 0.6 of
    the size."""
    return sum(size if ord(char) > 0x2E80 else size * 0.6 for char in text)


# Distinguishable for common colour-vision deficiencies, and dark enough for white text.
PALETTE = ["#0b4f8a", "#b35c00", "#11602c", "#a1150f", "#6a3d9a", "#00706e", "#5b4100", "#4a4f55"]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def _tick(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _legend_rows(legend: Sequence[Series], width: int) -> int:
    x, rows = 8.0, 1
    for item in legend:
        item_width = 40 + _text_width(item.name)
        if x + item_width > width and x > 8:
            x, rows = 8, rows + 1
        x += item_width
    return rows


def _frame(*, title: str, description: str, width: int, height: int, body: list[str], legend: Sequence[Series]) -> SafeString:
    """``height`` is the plot's; the legend's rows are added below it."""
    chart_id = "chart-" + hashlib.sha256(f"{title}|{description}".encode()).hexdigest()[:10]
    legend_items = []
    x, row = 8.0, 0
    legend_top = height
    height = height + _legend_rows(legend, width) * 24 + 8
    for number, item in enumerate(legend):
        colour = PALETTE[number % len(PALETTE)]
        # Wide enough for Latin and CJK text alike; wrap to a second row when full.
        item_width = 40 + _text_width(item.name)
        if x + item_width > width and x > 8:
            x, row = 8, row + 1
        y = legend_top + 14 + row * 24
        legend_items.append(
            f'<rect x="{x}" y="{y - 13}" width="16" height="16" fill="{colour}"/>'
            f'<text x="{x + 22}" y="{y}" font-size="{FONT}" fill="#1b1b1b">{escape(item.name)}</text>'
        )
        x += item_width
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(description)}</desc>'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "".join(legend_items) + "</svg>"
    )


def _axes(*, labels: Sequence[str], top: float, left: int, right: int, plot_top: int, plot_bottom: int, unit: str) -> list[str]:
    parts = []
    for step in range(5):
        value = top * step / 4
        y = plot_bottom - (plot_bottom - plot_top) * step / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#c9ced4" stroke-width="1"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 5:.1f}" font-size="{FONT}" text-anchor="end" fill="#4a4f55">{_tick(value)}{escape(unit)}</text>'
        )
    count = max(len(labels), 1)
    width = (right - left) / count
    # As many x labels as fit side by side with a gap, evenly spaced: every bucket of a week,
    # every few of a quarter, so that labels never overlap whatever range was chosen.
    widest = max((_text_width(label) for label in labels), default=0) + FONT
    every = max(1, math.ceil(widest / width))
    for index, label in enumerate(labels):
        if index % every == 0:
            x = left + width * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{plot_bottom + FONT + 6}" font-size="{FONT}" text-anchor="middle" fill="#4a4f55">{escape(label)}</text>'
            )
    parts.append(f'<line x1="{left}" y1="{plot_bottom}" x2="{right}" y2="{plot_bottom}" stroke="#1b1b1b" stroke-width="1"/>')
    return parts


def _margins(series: Sequence[Series], unit: str, width: int, height: int) -> tuple[int, int, int, int]:
    """Room on the left for the widest y tick, below the plot for the x labels."""
    # The stacked total bounds every single value, so its tick is the widest either way.
    length = max((len(item.values) for item in series), default=0)
    peak = _nice_max(float(max((sum(float(item.values[i]) for item in series if i < len(item.values)) for i in range(length)), default=0)))
    tick = max(_text_width(_tick(peak * step / 4) + unit) for step in range(5))  # "18.75" is wider than "25"
    left = int(max(48, tick + 14))
    return left, width - 12, 12, height - FONT - 14


def bar_chart(
    *,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    stacked: bool = False,
    width: int = WIDTH,
    height: int = 280,
) -> SafeString:
    left, right, plot_top, plot_bottom = _margins(series, unit, width, height)
    if stacked:
        peak = max((sum(item.values[index] for item in series) for index in range(len(labels))), default=0)
    else:
        peak = max((value for item in series for value in item.values), default=0)
    top = _nice_max(float(peak))
    body = _axes(labels=labels, top=top, left=left, right=right, plot_top=plot_top, plot_bottom=plot_bottom, unit=unit)
    slot = (right - left) / max(len(labels), 1)
    group = slot * 0.8
    scale = (plot_bottom - plot_top) / top
    for index, label in enumerate(labels):
        base = plot_bottom
        for number, item in enumerate(series):
            value = float(item.values[index])
            if value <= 0:
                continue
            colour = PALETTE[number % len(PALETTE)]
            bar_height = value * scale
            if stacked:
                x, bar_width, y = left + slot * index + (slot - group) / 2, group, base - bar_height
                base = y
            else:
                bar_width = group / len(series)
                x, y = left + slot * index + (slot - group) / 2 + bar_width * number, plot_bottom - bar_height
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_width - 1, 1):.1f}" height="{bar_height:.1f}" fill="{colour}">'
                f"<title>{escape(item.name)}, {escape(label)}: {_tick(value)}{escape(unit)}</title></rect>"
            )
    return _frame(title=title, description=description, width=width, height=height, body=body, legend=series)


def line_chart(
    *, title: str, description: str, labels: Sequence[str], series: Sequence[Series], unit: str = "", width: int = WIDTH, height: int = 280
) -> SafeString:
    left, right, plot_top, plot_bottom = _margins(series, unit, width, height)
    top = _nice_max(float(max((value for item in series for value in item.values), default=0)))
    body = _axes(labels=labels, top=top, left=left, right=right, plot_top=plot_top, plot_bottom=plot_bottom, unit=unit)
    slot = (right - left) / max(len(labels), 1)
    scale = (plot_bottom - plot_top) / top
    for number, item in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        points = [(left + slot * (index + 0.5), plot_bottom - float(value) * scale) for index, value in enumerate(item.values)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for (x, y), value, label in zip(points, item.values, labels):
            if value == 0 and len(points) > 31:
                continue  # a dot on every empty day of a long period is only noise
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(item.name)}, {escape(label)}: {_tick(float(value))}{escape(unit)}</title></circle>'
            )
    return _frame(title=title, description=description, width=width, height=height, body=body, legend=series)
