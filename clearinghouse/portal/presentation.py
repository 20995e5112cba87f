"""Turning domain objects into the plain words and pictures the portal shows.

Nothing here decides anything; it only translates codes into sentences a person who has
never heard of differential privacy can read, in the language of the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import segno
from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from clearinghouse.consent.taxonomy import taxonomy_index

FIELD_LABELS = {
    "category": gettext_lazy("which kind of product (for example office chairs)"),
    "attribute": gettext_lazy("which features you care about (for example lumbar support)"),
    "signal": gettext_lazy("what you did: viewed, wishlisted, added to cart, bought, rated or answered a survey"),
    "value": gettext_lazy("how much you liked it, as a score"),
    "age_band": gettext_lazy("your age band (for example 25–34), never your birthday"),
    "region": gettext_lazy("your province, never your address"),
    "occurred_at": gettext_lazy("roughly when it happened"),
}

SECTOR_LABELS = {
    "furniture": gettext_lazy("furniture"),
    "food": gettext_lazy("food"),
    "electronics": gettext_lazy("electronics"),
    "appliance": gettext_lazy("home appliances"),
    "apparel": gettext_lazy("clothing"),
    "flowers": gettext_lazy("flowers"),
    "beauty": gettext_lazy("beauty"),
    "watch": gettext_lazy("watches"),
    "baby": gettext_lazy("baby products"),
    "sports": gettext_lazy("sports"),
    "pet": gettext_lazy("pet supplies"),
}


def page_language() -> str:
    """The language the page is rendered in, as used by purposes' bilingual texts."""
    language = get_language() or settings.LANGUAGE_CODE
    return "en" if language.startswith("en") else "zh-hans"


def in_language(texts: dict | None, language: str | None = None) -> str:
    if not texts:
        return ""
    language = language or page_language()
    return texts.get(language) or texts.get(settings.LANGUAGE_CODE) or next(iter(texts.values()))


def field_label(code: str) -> str:
    return str(FIELD_LABELS.get(code, code))


def sector_label(code: str) -> str:
    if code in SECTOR_LABELS:
        return str(SECTOR_LABELS[code])
    # A sector deeper than the top level ("food/bird-nest") is named by its taxonomy label.

    index = taxonomy_index()
    term_id = index.categories.get(code)
    return in_language(index.labels.get(term_id)) if term_id is not None else code


def word_list(items: list[str]) -> str:
    separator = "、" if page_language() == "zh-hans" else ", "
    return separator.join(str(item) for item in items)


def paragraphs(text: str) -> list[str]:
    return [part.strip() for part in text.split("\n\n") if part.strip()]


def decimal_or_zero(value) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return Decimal(0)


def epsilon_text(value) -> str:
    """ε for people: two decimals, localised separators."""
    return number_format(decimal_or_zero(value).quantize(Decimal("0.01")), decimal_pos=2)


def parse_moment(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


# --- The privacy-loss chart -------------------------------------------------------------


@dataclass(frozen=True)
class ChartSeries:
    label: str
    cap: Decimal
    points: list[tuple[datetime, Decimal]]  # cumulative ε after each charge, in time order


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    font_size: int
    plot: tuple[int, int, int, int]  # left, top, right, bottom
    lines: list[dict]
    y_ticks: list[dict]
    x_ticks: list[dict]
    caps: list[dict]
    y_label: str
    title: str
    description: str


_COLOURS = ["#0b4f8a", "#a1150f", "#11602c", "#6b3fa0"]
_DASHES = ["", "9 4", "3 3 9 3", "14 4"]
# Each later line is drawn narrower on top of the earlier ones, so where two purposes have
# spent the same (both still at 0, say) the earlier line shows as a border on both sides of
# the later one, and through its gaps, instead of vanishing under it.
_WIDTHS = [8, 3.5, 2, 1]
_TICK_STEPS = [Decimal(v) for v in ("0.1", "0.2", "0.25", "0.5", "1", "2", "2.5", "5", "10", "20", "25", "50", "100")]


def _tick_step(value: Decimal) -> Decimal:
    """The smallest round step that marks 0..value in at most five intervals."""
    for step in _TICK_STEPS:
        if value / step <= 5:
            return step
    return (value / 500).to_integral_value(rounding="ROUND_CEILING") * 100


def cumulative_chart(*, series: list[ChartSeries], window_days: int, now: datetime | None = None) -> Chart:
    """An inline-SVG step chart of cumulative ε over the rolling window, one line per
    purpose, with each purpose's cap as a dotted horizontal line. Server-rendered so it
    needs no script and no chart library; the table next to it carries the same numbers
    for screen readers."""
    now = now or timezone.now()
    window_start = now - timedelta(days=window_days)
    # Zoomed to the active range (issue 14): from a little before the first charge in the
    # window to today, at least two weeks; a fixed 365-day axis squeezed a month of activity
    # into a two-pixel stub. Before the first charge every line is flat at 0 anyway.
    first = min((moment for s in series for moment, _value in s.points if moment >= window_start), default=None)
    if first is None:
        start = now - timedelta(days=min(window_days, 30))
    else:
        start = max(window_start, first - max((now - first) / 10, timedelta(days=1)))
    start = max(window_start, min(start, now - timedelta(days=14)))
    # The drawing is scaled to its column (at most 30rem wide, see portal.css). On a 375 px
    # phone the column is 343 px, so text of 18 units shows at about 12.9 px; at full width
    # it is 18 px.
    width, height, font_size = 480, 280, 18
    left, top, right, bottom = 60, 36, width - 16, height - 40
    # The axis ends at the limit (or at the spending, should it ever pass the limit): the
    # chart is about how much of the limit is spent, and a round number above it only
    # squashed the spending into the bottom of the picture.
    highest = max([s.cap for s in series] + [p[1] for s in series for p in s.points] + [Decimal(0)])
    if highest <= 0:
        highest = Decimal(1)
    step = _tick_step(highest)
    top_value = (highest / step).to_integral_value(rounding="ROUND_CEILING") * step
    span = (now - start).total_seconds() or 1

    def x_of(moment: datetime) -> float:
        fraction = min(max((moment - start).total_seconds() / span, 0.0), 1.0)
        return round(left + fraction * (right - left), 1)

    def y_of(value: Decimal) -> float:
        fraction = float(value / top_value) if top_value else 0.0
        return round(bottom - min(fraction, 1.0) * (bottom - top), 1)

    lines, caps, cap_values = [], [], set()
    for index, item in enumerate(series):
        colour = _COLOURS[index % len(_COLOURS)]
        path = [f"M{x_of(start)},{y_of(Decimal(0))}"]
        previous = Decimal(0)
        for moment, value in item.points:
            x = x_of(moment)
            path.append(f"L{x},{y_of(previous)}")
            path.append(f"L{x},{y_of(value)}")
            previous = value
        path.append(f"L{x_of(now)},{y_of(previous)}")
        lines.append(
            {
                "d": " ".join(path),
                "colour": colour,
                "dash": _DASHES[index % len(_DASHES)],
                "width": _WIDTHS[min(index, len(_WIDTHS) - 1)],
                "label": item.label,
            }
        )
        if item.cap not in cap_values:  # purposes sharing a limit share one line
            cap_values.add(item.cap)
            caps.append({"y": y_of(item.cap), "colour": colour, "label": _("limit %(value)s") % {"value": epsilon_text(item.cap)}})

    y_ticks = []
    value = Decimal(0)
    while value <= top_value:
        y_ticks.append({"y": y_of(value), "label": epsilon_text(value)})
        value += step
    # Two dates, where the window starts and today: three did not fit side by side at a
    # readable size ("November 2025" is about 7 em).
    # Within one year and a few months, the day matters more than the year.
    tick_format = "MONTH_DAY_FORMAT" if (now - start).days <= 120 else "YEAR_MONTH_FORMAT"
    x_ticks = [
        {"x": x_of(moment), "anchor": anchor, "label": date_format(timezone.localtime(moment), tick_format)}
        for moment, anchor in ((start, "start"), (now, "end"))
    ]

    total_points = sum(len(s.points) for s in series)
    return Chart(
        width=width,
        height=height,
        font_size=font_size,
        plot=(left, top, right, bottom),
        lines=lines,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        caps=caps,
        y_label="ε",
        title=_("Your cumulative privacy loss (ε) over the last %(days)s days") % {"days": window_days},
        description=_("%(count)s charges shown; the same numbers are in the table below.") % {"count": total_points},
    )


# --- What changed between two versions of a purpose ------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference: for lists, ``before`` holds what is no longer there and ``after``
    what is new; for a single value, the old and the new value."""

    what: str
    before: list[str]
    after: list[str]


def purpose_changes(old, new, language: str) -> list[Change]:
    """What a person would notice between the version they agreed to and the new one, in
    plain words: the data collected, who receives statistics, how long data is kept, the
    privacy limit, and the notice text (the paragraphs that differ). [] when only the
    version number moved."""
    changes = []

    def compare(what, before: list[str], after: list[str]) -> None:
        if before != after:
            changes.append(Change(what=str(what), before=before, after=after))

    compare(
        gettext_lazy("Which data"),
        [field_label(code) for code in old.fields if code not in new.fields],
        [field_label(code) for code in new.fields if code not in old.fields],
    )
    compare(
        gettext_lazy("Who gets statistics"),
        [sector_label(code) for code in old.recipient_sectors if code not in new.recipient_sectors],
        [sector_label(code) for code in new.recipient_sectors if code not in old.recipient_sectors],
    )
    if old.retention_days != new.retention_days:
        compare(
            gettext_lazy("How long"),
            [_("%(days)s days") % {"days": old.retention_days}],
            [_("%(days)s days") % {"days": new.retention_days}],
        )
    if decimal_or_zero(old.consumer_epsilon_cap) != decimal_or_zero(new.consumer_epsilon_cap):
        compare(
            gettext_lazy("Your privacy limit"),
            [f"ε = {epsilon_text(old.consumer_epsilon_cap)}"],
            [f"ε = {epsilon_text(new.consumer_epsilon_cap)}"],
        )
    old_text, new_text = paragraphs(in_language(old.notice, language)), paragraphs(in_language(new.notice, language))
    compare(
        gettext_lazy("The notice"),
        [p for p in old_text if p not in new_text],
        [p for p in new_text if p not in old_text],
    )
    return changes


# --- QR codes on printed receipts and certificates -----------------------------------------


def signed_qr_svg(envelope: dict, *, id_field: str) -> SafeString:
    """An inline SVG QR code (segno) carrying a signed document's id, key id and signature,
    so a printed receipt or certificate can be matched to its signed file by a phone. The
    content is ours (a UUID, a key id, base64), never anything typed by anyone."""
    content = json.dumps(
        {id_field: envelope["payload"][id_field], "key_id": envelope.get("key_id"), "signature": envelope.get("signature")},
        separators=(",", ":"),
        sort_keys=True,
    )
    svg = segno.make(content, error="m", micro=False).svg_inline(scale=4, omitsize=True, dark="#000", light="#fff", svgclass="qr")
    return mark_safe(svg)  # noqa: S308 - generated by segno from the fields above
