"""The chart functions: matplotlib draws, this module turns its SVG into one a page can inline.

Why the SVG is rewritten after matplotlib writes it:
- the portal's Content-Security-Policy (``style-src 'self'``) ignores inline ``style``
  attributes and ``<style>`` elements, which is how matplotlib colours everything; each
  declaration becomes the SVG presentation attribute of the same name, which CSP allows;
- ``svg.fonttype = "none"`` keeps every label as ``<text>``; its ``font-family`` is dropped
  so the browser uses the page's fonts (with Chinese ones), not a font we measured with;
- matplotlib's element ids (``figure_1``, ``axes_1``…) repeat in every chart, and a page
  may show several: only ids something refers to are kept, and those are hashed with a
  salt taken from the chart's content, so they differ between charts and not between runs;
- the fixed width and height go, so CSS scales the drawing to its container.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
import threading
import warnings
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.formats import number_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

# Drawing units (1 unit = 1 pt = 1/72 in). The drawing is scaled to its container: on a
# 375 px phone a chart box is about 343 px wide, so 17 units of text show at about 12 px;
# on a desk (at most 30rem) they show at 17 px.
WIDTH = 480
HEIGHT = 300
FONT = 17

# Distinguishable for common colour-vision deficiencies, and dark enough on white.
PALETTE = ["#0b4f8a", "#b35c00", "#11602c", "#a1150f", "#6a3d9a", "#00706e", "#5b4100", "#4a4f55"]
INK = "#1b1b1b"
MUTED = "#4a4f55"
GRID = "#c9ced4"
LIMIT = "#a1150f"
# Where lines overlap (two purposes both still at 0), the earlier, wider line shows on both
# sides of the later one instead of vanishing under it; dashes tell them apart in grey.
_STEP_WIDTHS = [8.0, 3.5, 2.0, 1.2]
_DASHES: list[Any] = ["-", (0, (8, 3)), (0, (2, 2, 8, 2)), (0, (12, 3))]

_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


@dataclass(frozen=True)
class Series:
    """One line, one set of stacked bars or one group of bars. ``lows``/``highs`` bound the
    95% interval at each point (``None`` where unknown); a forecast is drawn dashed with a
    lighter band, in the colour of the series before it (the one it continues)."""

    label: str
    # Sequence rather than list so that a list[float] is accepted as it is (list is invariant).
    values: Sequence[float | None]
    lows: Sequence[float | None] | None = None
    highs: Sequence[float | None] | None = None
    forecast: bool = False


@dataclass(frozen=True)
class Table:
    """The chart's numbers, for the table the page shows next to it (what a screen reader
    and a person who wants the exact value use)."""

    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Chart:
    svg: SafeString
    table: Table
    title: str
    description: str
    empty: bool = False  # nothing to draw: ``svg`` says so in words instead of showing axes


# --- matplotlib, imported once and only when a chart is drawn ------------------------------

_lock = threading.Lock()
_ready = False

# A drawing is a pure function of what reaches it, and the console and the portal draw the
# same charts again on every visit (0.1-0.4 s each in matplotlib). The finished SVG is kept
# per process, keyed by the chart's kind, its data and labels, the language and how that
# language writes numbers; a bounded number of them (tens of kB each), least recent out.
_drawn: OrderedDict[str, SafeString] = OrderedDict()
_DRAWN_KEPT = 64


def _matplotlib() -> None:
    """Import and configure matplotlib the first time a chart is drawn (about 0.4 s and
    50 MB, see docs/architecture.md), so processes that never draw one do not pay for it."""
    global _ready
    if _ready:
        return
    # matplotlib keeps a font cache in its config directory, by default under $HOME, which
    # CI and the production containers may not be able to write.
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), f"clearinghouse-matplotlib-{os.getuid()}"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "clearinghouse",
            "text.parse_math": False,  # a "$" in a label is a dollar sign, not TeX
            "font.size": FONT,
            "axes.labelsize": FONT,
            "xtick.labelsize": FONT,
            "ytick.labelsize": FONT,
            "legend.fontsize": FONT,
            "axes.edgecolor": MUTED,
            "axes.labelcolor": INK,
            "xtick.color": MUTED,
            "ytick.color": MUTED,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "axes.grid.axis": "y",
            "grid.color": GRID,
            "grid.linewidth": 1.0,
            "axes.axisbelow": True,
            "axes.formatter.useoffset": False,
            "legend.frameon": False,
            "figure.facecolor": "#ffffff",
            "axes.facecolor": "#ffffff",
        }
    )
    _ready = True


@contextmanager
def _quiet() -> Iterator[None]:
    """Chinese is missing from the font matplotlib measures text with; the browser draws it
    with the page's fonts (svg.fonttype "none"), so that warning says nothing useful."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        yield


# --- numbers and text -----------------------------------------------------------------------


def _number(value: float | None, places: int = 4) -> str:
    """A number as the page's language writes it, to at most ``places`` decimals without
    trailing zeros (0.2, not 0.200); a dash where there is none."""
    if value is None or math.isnan(float(value)):
        return "–"
    text = f"{float(value):.{places}f}".rstrip("0").rstrip(".")
    return number_format(Decimal("0" if text == "-0" else text), force_grouping=True)


def _interval() -> str:
    # "95% i" reads to xgettext as a Python format ("% i"); it is plain text, and marked as
    # such so that makemessages does not turn its translation fuzzy (and the page English).
    # xgettext:no-python-format
    return _("95% interval")


def _text_width(text: str, size: float = FONT) -> float:
    """Roughly how wide ``text`` is drawn: CJK characters are square, Latin about 0.6 of
    the size. matplotlib measures with a font that has no Chinese; this decides how many x
    labels fit, which must hold in the browser's font."""
    return sum(size if ord(char) > 0x2E80 else size * 0.6 for char in text)


def _floats(values: Sequence[float | None] | None, length: int) -> list[float]:
    values = list(values or [])
    if len(values) != length:
        raise ValueError(f"expected {length} values, got {len(values)}")
    return [math.nan if value is None else float(value) for value in values]


def _has_data(*lists: Sequence[float | None]) -> bool:
    return any(value is not None and not math.isnan(float(value)) for values in lists for value in values)


# --- the drawing ---------------------------------------------------------------------------


def _figure(*, legend_entries: Sequence[str]):
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    columns = _legend_columns(legend_entries)
    rows = math.ceil(len(legend_entries) / columns) if legend_entries else 0
    layout = ConstrainedLayoutEngine(w_pad=4 / 72, h_pad=4 / 72)
    figure = Figure(figsize=(WIDTH / 72, (HEIGHT + rows * 26) / 72), dpi=72, layout=layout)
    return figure, figure.add_subplot(), columns


def _legend_columns(labels: Sequence[str]) -> int:
    """As many columns as fit across the drawing, judged by the widest entries."""
    widths = sorted((_text_width(label) + 2.8 * FONT for label in labels), reverse=True)
    for columns in range(len(widths), 1, -1):
        if sum(widths[:columns]) <= WIDTH - 16:
            return columns
    return 1


def _legend(figure, handles: list, labels: list[str], columns: int) -> None:
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=columns, handlelength=1.8, columnspacing=1.2, handletextpad=0.5)


def _y_axis(ax, *, value_label: str, include_zero: bool = True) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: _number(value, 3)))
    if value_label:
        ax.set_ylabel(value_label)
    low, high = ax.get_ylim()
    if include_zero and low > 0:
        ax.set_ylim(bottom=0)
    if include_zero and high <= 0.06 and low >= -0.06:  # every value is 0: 0..1, not a squashed axis around it
        ax.set_ylim(0, 1)


def _x_axis(ax, labels: Sequence[str], *, categorical: bool, x_label: str = "", turn: bool = True) -> None:
    """Every label when they fit side by side; a few categories with long names turn their
    labels; otherwise every n-th label, evenly spaced, so that they never overlap. Call it
    after the y axis is set: the room left for the plot decides."""
    count = len(labels)
    positions = list(range(count))
    if categorical:
        ax.set_xlim(-0.6, count - 0.4)
    elif count == 1:
        ax.set_xlim(-0.5, 0.5)
    else:
        ax.set_xlim(-0.2, count - 0.8)
    if x_label:
        ax.set_xlabel(x_label)
    ax.set_xticks(positions, list(labels))
    # Only the layout engine, not a whole draw: it places the axes (so the plot's width is
    # known) from the text extents alone, at about half the cost of drawing every artist.
    figure = ax.get_figure()
    figure.get_layout_engine().execute(figure)
    span = ax.get_xlim()[1] - ax.get_xlim()[0]
    slot = ax.get_window_extent().width / span  # drawing units per label (dpi 72: 1 unit = 1 point)
    widest = max((_text_width(label) for label in labels), default=0) + FONT * 0.6
    if widest <= slot:
        return
    if categorical and turn and count <= 12:
        ax.set_xticks(positions, list(labels), rotation=35, ha="right", rotation_mode="anchor")
        return
    every = math.ceil(widest / slot)
    shown = positions[::every]
    ax.set_xticks(shown, [labels[index] for index in shown])


def _svg(figure, *, key: str, title: str, description: str) -> SafeString:
    """The figure as an inline ``<svg role="img">`` named by its title and description."""
    import matplotlib

    digest = hashlib.sha256(key.encode()).hexdigest()
    chart_id = f"chart-{digest[:12]}"
    buffer = io.StringIO()
    matplotlib.rcParams["svg.hashsalt"] = digest  # under _lock: the ids differ per chart, not per run
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return mark_safe(_rewrite(buffer.getvalue(), chart_id=chart_id, title=title, description=description))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rewrite(raw: str, *, chart_id: str, title: str, description: str) -> str:
    root = ET.fromstring(raw)
    referenced = set(re.findall(r"url\(#([^)]+)\)", raw)) | set(re.findall(r'href="#([^"]+)"', raw))
    for parent in list(root.iter()):
        for child in list(parent):
            if _local(child.tag) in {"style", "metadata"}:
                parent.remove(child)
    for element in root.iter():
        element.tag = _local(element.tag)  # one namespace, written once on the root below
        for declaration in (element.attrib.pop("style", "") or "").split(";"):
            if ":" not in declaration:
                continue
            name, value = (part.strip() for part in declaration.split(":", 1))
            if name != "font-family":
                element.set(name, value)
        if element.get("id") and element.get("id") not in referenced:
            del element.attrib["id"]
        href = element.attrib.pop(_XLINK_HREF, None)
        if href is not None:
            element.set("href", href)
        if element.get("transform", "").startswith("rotate(-0 "):
            del element.attrib["transform"]
        if "d" in element.attrib:
            element.set("d", " ".join(element.get("d", "").split()))
        if element.text is not None and not element.text.strip() and _local(element.tag) != "text":
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    for name in ("width", "height", "version"):
        root.attrib.pop(name, None)
    root.set("class", "chart")
    root.set("role", "img")
    root.set("aria-labelledby", f"{chart_id}-title {chart_id}-desc")
    # What matplotlib's <style> set for every element.
    root.set("stroke-linejoin", "round")
    root.set("stroke-linecap", "butt")
    root.set("xmlns", _SVG_NS)
    title_element = ET.Element("title", {"id": f"{chart_id}-title"})
    title_element.text = title
    desc_element = ET.Element("desc", {"id": f"{chart_id}-desc"})
    desc_element.text = description
    root.insert(0, desc_element)
    root.insert(0, title_element)
    return ET.tostring(root, encoding="unicode")


def _draw(*, kind: str, key_data: Any, title: str, description: str, legend: Sequence[str], paint: Callable) -> SafeString:
    key = json.dumps([title, description, key_data], sort_keys=True, default=str, ensure_ascii=False)
    # The ids inside the SVG are salted by `key` alone (so the bytes do not change); what
    # else shapes the drawing goes into the cache's key: the tick labels follow the active
    # language's number format, and two kinds of chart can share the same data.
    kept_as = json.dumps([kind, get_language(), _number(-1234567.125, 3), list(legend), key], ensure_ascii=False)
    with _lock:
        if kept_as in _drawn:
            _drawn.move_to_end(kept_as)
            return _drawn[kept_as]
        with _quiet():
            _matplotlib()
            figure, ax, columns = _figure(legend_entries=legend)
            handles, labels = paint(ax)
            _legend(figure, handles, labels, columns)
            svg = _svg(figure, key=key, title=title, description=description)
        _drawn[kept_as] = svg
        while len(_drawn) > _DRAWN_KEPT:
            _drawn.popitem(last=False)
        return svg


def _empty(*, title: str, description: str, headers: list[str]) -> Chart:
    """No data: a drawing that says so, in place of empty axes or a broken chart."""
    message = _("No data to show for this range.")
    with _lock, _quiet():
        _matplotlib()
        from matplotlib.figure import Figure

        figure = Figure(figsize=(WIDTH / 72, 96 / 72), dpi=72)
        figure.text(0.5, 0.5, message, ha="center", va="center", color=MUTED, fontsize=FONT)
        svg = _svg(
            figure, key=json.dumps(["empty", title, description], ensure_ascii=False), title=title, description=f"{description} {message}"
        )
    return Chart(svg=svg, table=Table(headers=headers, rows=[]), title=title, description=description, empty=True)


# --- the charts -----------------------------------------------------------------------------


def bars_with_intervals(
    *,
    title: str,
    description: str,
    categories: Sequence[str],
    values: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    value_label: str,
    x_label: str = "",
) -> Chart:
    """One bar per category with its 95% interval as an error bar; the interval may reach
    below zero (a noisy count), and the axis follows it there."""
    count = len(categories)
    points, low_points, high_points = _floats(values, count), _floats(lows, count), _floats(highs, count)
    headers = [x_label or _("Category"), value_label, _("Lower bound (95%)"), _("Upper bound (95%)")]
    if not count or not _has_data(values):
        return _empty(title=title, description=description, headers=headers)

    def paint(ax):
        below = [max(value - low, 0.0) if not math.isnan(low) else 0.0 for value, low in zip(points, low_points)]
        above = [max(high - value, 0.0) if not math.isnan(high) else 0.0 for value, high in zip(points, high_points)]
        bars = ax.bar(
            range(count),
            points,
            width=0.62,
            color=PALETTE[0],
            yerr=[below, above],
            error_kw={"ecolor": INK, "elinewidth": 1.8, "capsize": 6, "capthick": 1.8},
        )
        ax.axhline(0, color=INK, linewidth=1)
        _y_axis(ax, value_label=value_label)
        _x_axis(ax, categories, categorical=True, x_label=x_label)
        return [bars.patches[0], bars.errorbar], [value_label, _interval()]

    svg = _draw(
        kind="bars_with_intervals",
        key_data=[categories, values, lows, highs, value_label, x_label],
        title=title,
        description=description,
        legend=[value_label, _interval()],
        paint=paint,
    )
    rows = [[category, _number(v), _number(lo), _number(hi)] for category, v, lo, hi in zip(categories, values, lows, highs)]
    return Chart(svg=svg, table=Table(headers=headers, rows=rows), title=title, description=description)


def _series_colours(series: Sequence[Series]) -> list[str]:
    """A forecast continues the series before it, so it takes that series' colour."""
    colours: list[str] = []
    next_colour = 0
    for item in series:
        if item.forecast and colours:
            colours.append(colours[-1])
        else:
            colours.append(PALETTE[next_colour % len(PALETTE)])
            next_colour += 1
    return colours


def _series_table(*, first: str, x_labels: Sequence[str], series: Sequence[Series]) -> Table:
    headers = [first]
    for item in series:
        headers.append(item.label)
        if item.lows is not None and item.highs is not None:
            headers += [
                _("%(series)s, lower bound (95%%)") % {"series": item.label},
                _("%(series)s, upper bound (95%%)") % {"series": item.label},
            ]
    rows = []
    for index, label in enumerate(x_labels):
        row = [label]
        for item in series:
            row.append(_number(item.values[index]))
            if item.lows is not None and item.highs is not None:
                row += [_number(item.lows[index]), _number(item.highs[index])]
        rows.append(row)
    return Table(headers=headers, rows=rows)


def _check_series(series: Sequence[Series], count: int) -> None:
    for item in series:
        _floats(item.values, count)
        if item.lows is not None:
            _floats(item.lows, count)
        if item.highs is not None:
            _floats(item.highs, count)


def lines_with_band(
    *, title: str, description: str, x_labels: Sequence[str], series: Sequence[Series], value_label: str, x_label: str = ""
) -> Chart:
    """One line per series with its 95% interval as a shaded band; a forecast is dashed
    with a lighter band. Gaps (``None``) stay gaps."""
    count = len(x_labels)
    _check_series(series, count)
    table = _series_table(first=x_label or _("Period"), x_labels=x_labels, series=series)
    if not count or not _has_data(*(item.values for item in series)):
        return _empty(title=title, description=description, headers=table.headers)
    colours = _series_colours(series)
    banded = any(item.lows is not None and item.highs is not None for item in series)

    def paint(ax):
        from matplotlib.patches import Patch

        handles, labels = [], []
        positions = list(range(count))
        for item, colour in zip(series, colours):
            if item.lows is not None and item.highs is not None:
                ax.fill_between(
                    positions,
                    _floats(item.lows, count),
                    _floats(item.highs, count),
                    color=colour,
                    alpha=0.12 if item.forecast else 0.28,
                    linewidth=0,
                )
            (line,) = ax.plot(
                positions,
                _floats(item.values, count),
                color=colour,
                linewidth=2.5,
                linestyle=(0, (6, 3)) if item.forecast else "-",
                marker="o" if count <= 31 else None,
                markersize=4,
            )
            handles.append(line)
            labels.append(item.label)
        if banded:
            handles.append(Patch(facecolor=MUTED, alpha=0.28, linewidth=0))
            labels.append(_interval())
        lowest = min((v for item in series for v in _floats(item.lows or item.values, count) if not math.isnan(v)), default=0)
        _y_axis(ax, value_label=value_label, include_zero=lowest >= 0)
        _x_axis(ax, x_labels, categorical=False, x_label=x_label)
        return handles, labels

    legend = [item.label for item in series] + ([_interval()] if banded else [])
    svg = _draw(
        kind="lines_with_band",
        key_data=[x_labels, _plain(series), value_label, x_label],
        title=title,
        description=description,
        legend=legend,
        paint=paint,
    )
    return Chart(svg=svg, table=table, title=title, description=description)


def step_lines(
    *,
    title: str,
    description: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    value_label: str,
    limit: float | None = None,
    limit_label: str = "",
    extra_limits: Sequence[tuple[float, str]] = (),
    x_label: str = "",
) -> Chart:
    """Cumulative lines against a limit drawn as a dotted horizontal line; the axis runs up
    to the limit, or to the data if it passed it. Each point is a slot (a day, a week) and
    its value holds across it, so evenly spaced labels give a time axis to scale.
    ``extra_limits`` are further (value, label) lines, for series with limits of their own.
    The table lists the points where a line steps, with the first and the last: between
    them every value is the one above it."""
    count = len(x_labels)
    _check_series(series, count)
    table = _series_table(first=x_label or _("Period"), x_labels=x_labels, series=series)
    table = Table(
        headers=table.headers,
        rows=[row for index, row in enumerate(table.rows) if index in {0, count - 1} or row[1:] != table.rows[index - 1][1:]],
    )
    if not count or not _has_data(*(item.values for item in series)):
        return _empty(title=title, description=description, headers=table.headers)
    limits = ([(float(limit), limit_label)] if limit is not None else []) + [(float(value), label) for value, label in extra_limits]

    def paint(ax):
        handles, labels = [], []
        # Slot i spans i - 0.5 .. i + 0.5; the last value is repeated to close its slot.
        edges = [index - 0.5 for index in range(count + 1)]
        for number, item in enumerate(series):
            values = _floats(item.values, count)
            (line,) = ax.step(
                edges,
                values + values[-1:],
                where="post",
                color=PALETTE[number % len(PALETTE)],
                linewidth=_STEP_WIDTHS[min(number, len(_STEP_WIDTHS) - 1)],
                linestyle=_DASHES[number % len(_DASHES)],
            )
            handles.append(line)
            labels.append(item.label)
        for number, (value, label) in enumerate(limits):
            line = ax.axhline(
                value, color=LIMIT if number == 0 else PALETTE[(number + 3) % len(PALETTE)], linewidth=2.2, linestyle=(0, (1, 3))
            )
            line.set_dash_capstyle("round")
            if label:
                handles.append(line)
                labels.append(label)
        highest = max(
            [value for value, _label in limits] + [v for item in series for v in _floats(item.values, count) if not math.isnan(v)]
        )
        lowest = min([0.0] + [v for item in series for v in _floats(item.values, count) if not math.isnan(v)])
        top = highest or 1.0
        # A little room below the lowest value, so that a line at 0 is not cut in half by
        # the plot's edge (a person with nothing spent must still see both lines).
        ax.set_ylim(lowest - 0.03 * (top - lowest), top * 1.04)
        _y_axis(ax, value_label=value_label)
        _x_axis(ax, x_labels, categorical=True, x_label=x_label, turn=False)
        return handles, labels

    legend = [item.label for item in series] + [label for _value, label in limits if label]
    svg = _draw(
        kind="step_lines",
        key_data=[x_labels, _plain(series), value_label, limits, x_label],
        title=title,
        description=description,
        legend=legend,
        paint=paint,
    )
    return Chart(svg=svg, table=table, title=title, description=description)


def stacked_bars(
    *, title: str, description: str, categories: Sequence[str], stacks: Sequence[Series], value_label: str, x_label: str = ""
) -> Chart:
    """One bar per category made of the stacks' values on top of each other; the table
    adds each category's total."""
    count = len(categories)
    _check_series(stacks, count)
    headers = [x_label or _("Period"), *(item.label for item in stacks), _("Total")]
    rows = [
        [category, *(_number(item.values[index]) for item in stacks), _number(sum(item.values[index] or 0 for item in stacks))]
        for index, category in enumerate(categories)
    ]
    if not count or not stacks or not _has_data(*(item.values for item in stacks)):
        return _empty(title=title, description=description, headers=headers)

    def paint(ax):
        handles, labels = [], []
        positive = [0.0] * count
        negative = [0.0] * count
        for number, item in enumerate(stacks):
            values = [0.0 if math.isnan(v) else v for v in _floats(item.values, count)]
            bottoms = [negative[i] if value < 0 else positive[i] for i, value in enumerate(values)]
            bars = ax.bar(range(count), values, bottom=bottoms, width=0.7, color=PALETTE[number % len(PALETTE)], linewidth=0)
            for i, value in enumerate(values):
                if value < 0:
                    negative[i] += value
                else:
                    positive[i] += value
            handles.append(bars.patches[0])
            labels.append(item.label)
        _y_axis(ax, value_label=value_label)
        _x_axis(ax, categories, categorical=True, x_label=x_label)
        return handles, labels

    svg = _draw(
        kind="stacked_bars",
        key_data=[categories, _plain(stacks), value_label, x_label],
        title=title,
        description=description,
        legend=[item.label for item in stacks],
        paint=paint,
    )
    return Chart(svg=svg, table=Table(headers=headers, rows=rows), title=title, description=description)


def grouped_bars(
    *, title: str, description: str, categories: Sequence[str], groups: Sequence[Series], value_label: str, x_label: str = ""
) -> Chart:
    """Side-by-side bars, one per series in each category (grants beside withdrawals; a
    budget's cap, allocation and spending)."""
    count = len(categories)
    _check_series(groups, count)
    headers = [x_label or _("Period"), *(item.label for item in groups)]
    rows = [[category, *(_number(item.values[index]) for item in groups)] for index, category in enumerate(categories)]
    if not count or not groups or not _has_data(*(item.values for item in groups)):
        return _empty(title=title, description=description, headers=headers)

    def paint(ax):
        handles, labels = [], []
        width = 0.8 / len(groups)
        for number, item in enumerate(groups):
            offset = (number - (len(groups) - 1) / 2) * width
            bars = ax.bar(
                [index + offset for index in range(count)],
                _floats(item.values, count),
                width=width * 0.92,
                color=PALETTE[number % len(PALETTE)],
                linewidth=0,
            )
            handles.append(bars.patches[0])
            labels.append(item.label)
        _y_axis(ax, value_label=value_label)
        _x_axis(ax, categories, categorical=True, x_label=x_label)
        return handles, labels

    svg = _draw(
        kind="grouped_bars",
        key_data=[categories, _plain(groups), value_label, x_label],
        title=title,
        description=description,
        legend=[item.label for item in groups],
        paint=paint,
    )
    return Chart(svg=svg, table=Table(headers=headers, rows=rows), title=title, description=description)


def _plain(series: Sequence[Series]) -> list:
    return [[item.label, item.values, item.lows, item.highs, item.forecast] for item in series]
