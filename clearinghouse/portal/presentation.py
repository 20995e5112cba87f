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

from clearinghouse import charts
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


# The demo's placeholders for the operator's address and the person responsible for personal-
# information protection (settings.CH_OPERATOR without CH_OPERATOR_ADDRESS or
# CH_PROTECTION_OFFICER_NAME), in the page's language. A deployment's own are shown as given.
DEMO_OPERATOR_WORDS = {
    "1 Example Road, Shanghai (demo)": gettext_lazy("1 Example Road, Shanghai (demo)"),
    "Example Officer (demo)": gettext_lazy("Example Officer (demo)"),
}


def operator_in_language(details: dict) -> dict:
    """settings.CH_OPERATOR for the trust page: the demo's placeholders in the page's language."""
    return details | {
        key: str(DEMO_OPERATOR_WORDS[details[key]]) for key in ("address", "protection_officer") if details.get(key) in DEMO_OPERATOR_WORDS
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


def privacy_loss_chart(*, series: list[ChartSeries], window_days: int, now: datetime | None = None) -> charts.Chart:
    """Cumulative ε per purpose, one step a day, against each purpose's limit.

    Zoomed to the active range (issue 14): from a little before the first charge in the
    window to today, at least two weeks; a fixed 365-day axis squeezed a month of activity
    into a two-pixel stub. Before the first charge every line is flat at 0 anyway. One
    point per day keeps the axis to scale: two charges a week apart are a week apart."""
    now = now or timezone.now()
    window_start = now - timedelta(days=window_days)
    first = min((moment for s in series for moment, _value in s.points if moment >= window_start), default=None)
    if first is None:
        start = now - timedelta(days=min(window_days, 30))
    else:
        start = max(window_start, first - max((now - first) / 10, timedelta(days=1)))
    start = max(window_start, min(start, now - timedelta(days=14)))
    today = timezone.localdate(now)
    days = [timezone.localdate(start) + timedelta(days=offset) for offset in range((today - timezone.localdate(start)).days + 1)]
    # Within one year the day and month say enough; across a new year the year is needed.
    label_format = "MONTH_DAY_FORMAT" if days[0].year == days[-1].year else "SHORT_DATE_FORMAT"
    lines = []
    for item in series:
        values, running, pending = [], Decimal(0), [(timezone.localdate(m), v) for m, v in item.points if m >= window_start]
        for day in days:
            while pending and pending[0][0] <= day:
                running = pending.pop(0)[1]
            values.append(float(running))
        lines.append(charts.Series(label=item.label, values=values))
    caps = list(dict.fromkeys(item.cap for item in series))  # purposes sharing a limit share one line
    limits = [(float(cap), _("limit %(value)s") % {"value": epsilon_text(cap)}) for cap in caps]
    return charts.step_lines(
        title=_("Your cumulative privacy loss (ε) over the last %(days)s days") % {"days": window_days},
        description=_("%(count)s charges shown; the same numbers are in the table below.") % {"count": sum(len(s.points) for s in series)},
        x_labels=[date_format(day, label_format) for day in days],
        series=lines,
        value_label="ε",
        limit=limits[0][0] if limits else None,
        limit_label=limits[0][1] if limits else "",
        extra_limits=limits[1:],
        x_label=_("Date"),
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
