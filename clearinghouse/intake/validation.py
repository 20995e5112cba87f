"""Checking a batch of signals: the body's shape (a 400 for the whole batch) and each item's
lawfulness and necessity (a rejection of that item with a code and a message).

This is the hot path of intake (10,000 items per request), so the per-item work is plain
dict and set look-ups against rules prepared once per batch; nothing here touches the
database. Links and consent are resolved for the whole batch by the ingest service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from clearinghouse.consent.models import Purpose
from clearinghouse.consent.taxonomy import TaxonomyIndex
from clearinghouse.core.errors import Invalid, TooLarge

# The order in which fields are reported when more than one is at fault.
FIELD_ORDER = ("category", "attribute", "signal", "value", "age_band", "region", "occurred_at")
IDENTITY_KEYS = ("event_id", "subject_ref", "purpose")
STRING_FIELDS = ("category", "attribute", "signal", "age_band", "region", "occurred_at")
MAX_EVENT_ID = 128
MAX_SUBJECT_REF = 256

UNKNOWN_PURPOSE = "unknown_purpose"
NOT_NECESSARY = "not_necessary"
INVALID_VALUE = "invalid_value"
UNKNOWN_SUBJECT = "unknown_subject"
CONSENT_REQUIRED = "consent_required"
ITEM_CODES = (UNKNOWN_PURPOSE, NOT_NECESSARY, INVALID_VALUE, UNKNOWN_SUBJECT, CONSENT_REQUIRED)

UNKNOWN_SUBJECT_MESSAGE = (
    "subject_ref is not linked to your platform. The person links their account by giving you a link code "
    "from the clearinghouse portal, which you redeem with POST /api/v1/platform/links."
)


def malformed(message: str, **details: Any) -> Invalid:
    return Invalid(f"{message} Nothing in this batch was stored.", code="malformed_body", details=details)


def _clip(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class PurposeRule:
    """What one approved purpose lets a platform send, prepared once per batch."""

    purpose_id: int
    code: str
    version: int
    fields: frozenset[str]
    allowed_keys: frozenset[str]
    value_min: int | None
    value_max: int | None
    oldest: datetime  # occurred_at before this is past retention
    retention_days: int
    label: str
    needs_attribute: bool
    needs_occurred_at: bool

    @classmethod
    def of(cls, purpose: Purpose, *, now: datetime) -> PurposeRule:
        fields = frozenset(purpose.fields)
        return cls(
            purpose_id=purpose.pk,
            code=purpose.code,
            version=purpose.version,
            fields=fields,
            allowed_keys=fields | frozenset(IDENTITY_KEYS),
            value_min=purpose.value_min,
            value_max=purpose.value_max,
            oldest=now - timedelta(days=purpose.retention_days),
            retention_days=purpose.retention_days,
            label=f"{purpose.code} v{purpose.version}",
            needs_attribute="attribute" in fields,
            needs_occurred_at="occurred_at" in fields,
        )


@dataclass(frozen=True)
class Rejection:
    index: int
    event_id: str
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body = {"index": self.index, "event_id": self.event_id, "code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


# An item that passed every check not needing the database, as a plain tuple (this runs
# 10,000 times per batch): (index, event_id, subject_ref, rule, category, attribute,
# signal, value, age_band, region, occurred_at), domain values as term ids.
Candidate = tuple


def batch_items_parse(body: bytes, *, max_items: int) -> list:
    """The list of items of a request body, or a 400 that names what is wrong (413 when
    there are too many items; counted right after parsing, before any item is looked at)."""

    if not body:
        raise malformed('The body is empty; send {"signals": [...]} as JSON.')
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise malformed(f"The body is not valid JSON ({exc}).") from None
    if not isinstance(document, dict):
        raise malformed('The body must be a JSON object {"signals": [...]}.')
    unknown = sorted(set(document) - {"signals"})
    if unknown:
        raise malformed(f'Unknown top-level field {_clip(unknown[0])!r}; the body is {{"signals": [...]}}.', field=_clip(unknown[0]))
    items = document.get("signals")
    if not isinstance(items, list):
        raise malformed('"signals" must be a list of signal objects.', field="signals")
    if len(items) > max_items:
        raise TooLarge(
            f"A batch holds at most {max_items:,} signals; this one has {len(items):,}. Split it into smaller batches.",
            code="batch_too_large",
            details={"max_items": max_items, "items": len(items)},
        )
    return items


def _shape_error(index: int, field: str, expected: str) -> Invalid:
    return malformed(f"signals[{index}].{field}: {expected}.", index=index, field=field)


def items_check(
    items: list, *, rules: dict[str, PurposeRule], taxonomy: TaxonomyIndex, now: datetime, skew: timedelta
) -> tuple[list[Candidate], list[Rejection]]:
    """Check every item's shape (raising a 400 for the whole batch) and everything about it
    that needs no database: purpose, necessity, values, times.

    One pass: an item rejected for its content is still checked for shape, so a batch is
    refused whole whenever any item is malformed, whatever else is wrong with the others.
    """
    categories, attributes, signals = taxonomy.categories, taxonomy.attributes, taxonomy.signals
    age_bands, regions = taxonomy.age_bands, taxonomy.regions
    latest = now + skew
    candidates: list[Candidate] = []
    rejections: list[Rejection] = []
    accept, reject = candidates.append, rejections.append
    fromisoformat = datetime.fromisoformat

    for index, item in enumerate(items):
        if type(item) is not dict:
            raise malformed(f"signals[{index}] must be an object.", index=index)
        get = item.get
        event_id = get("event_id")
        if type(event_id) is not str or not 0 < len(event_id) <= MAX_EVENT_ID or not event_id.isprintable():
            raise _shape_error(index, "event_id", f"required, 1 to {MAX_EVENT_ID} printable characters")
        subject_ref = get("subject_ref")
        if type(subject_ref) is not str or not 0 < len(subject_ref) <= MAX_SUBJECT_REF:
            raise _shape_error(index, "subject_ref", f"required, 1 to {MAX_SUBJECT_REF} characters")
        purpose = get("purpose")
        category, attribute, kind = get("category"), get("attribute"), get("signal")
        value, age_band, region, text = get("value"), get("age_band"), get("region"), get("occurred_at")
        if type(purpose) is not str:
            raise _shape_error(index, "purpose", "required, a purpose code such as c2m-product-design")
        if not (
            (category is None or type(category) is str)
            and (attribute is None or type(attribute) is str)
            and (kind is None or type(kind) is str)
            and (age_band is None or type(age_band) is str)
            and (region is None or type(region) is str)
            and (text is None or type(text) is str)
        ):
            field = next(f for f in STRING_FIELDS if get(f) is not None and type(get(f)) is not str)
            raise _shape_error(
                index, field, "must be an ISO 8601 time string" if field == "occurred_at" else "must be a string (a code from the taxonomy)"
            )
        if value is not None and type(value) is not int:
            raise _shape_error(index, "value", "must be a whole number")

        rule = rules.get(purpose)
        if rule is None:
            approved = ", ".join(sorted(rules)) or "none"
            reject(
                Rejection(
                    index, event_id, UNKNOWN_PURPOSE, f"purpose {_clip(purpose)!r} is not an approved purpose (approved: {approved})."
                )
            )
            continue
        if not rule.allowed_keys.issuperset(item):
            extra = [key for key in item.keys() - rule.allowed_keys if item[key] is not None]
            if extra:
                field = min(extra, key=lambda k: (FIELD_ORDER.index(k) if k in FIELD_ORDER else len(FIELD_ORDER), k))
                reject(
                    Rejection(
                        index,
                        event_id,
                        NOT_NECESSARY,
                        f"{_clip(field)}: not necessary for purpose {rule.label}, which collects only "
                        f"{', '.join(f for f in FIELD_ORDER if f in rule.fields)}. Leave it out.",
                        _clip(field),
                    )
                )
                continue

        category_id = categories.get(category) if category is not None else None
        if category_id is None:
            reject(
                _invalid(
                    index,
                    event_id,
                    "category",
                    "required" if category is None else f"{_clip(category)!r} is not a category of the taxonomy",
                )
            )
            continue
        if attribute is not None:
            attribute_id = attributes.get((category_id, attribute))
            if attribute_id is None:
                reject(_invalid(index, event_id, "attribute", f"{_clip(attribute)!r} is not an attribute of {category!r}"))
                continue
        elif rule.needs_attribute:
            reject(_invalid(index, event_id, "attribute", f"required by purpose {rule.label}"))
            continue
        else:
            attribute_id = None
        signal_id = signals.get(kind) if kind is not None else None
        if signal_id is None:
            reject(
                _invalid(
                    index,
                    event_id,
                    "signal",
                    "required" if kind is None else f"{_clip(kind)!r} is not a signal kind ({', '.join(signals)})",
                )
            )
            continue
        if value is not None:
            # A value got past the key check, so the purpose collects values, and every such purpose has bounds.
            assert rule.value_min is not None and rule.value_max is not None
            if not rule.value_min <= value <= rule.value_max:
                reject(
                    _invalid(
                        index,
                        event_id,
                        "value",
                        f"{value} is outside {rule.value_min}..{rule.value_max}, the bounds of purpose {rule.label}",
                    )
                )
                continue
        if age_band is not None:
            age_band_id = age_bands.get(age_band)
            if age_band_id is None:
                reject(_invalid(index, event_id, "age_band", f"{_clip(age_band)!r} is not an age band ({', '.join(age_bands)})"))
                continue
        else:
            age_band_id = None
        if region is not None:
            region_id = regions.get(region)
            if region_id is None:
                reject(_invalid(index, event_id, "region", f"{_clip(region)!r} is not a region code (ISO 3166-2:CN, e.g. CN-GD)"))
                continue
        else:
            region_id = None
        if text is not None:
            try:
                occurred_at = fromisoformat(text)
            except ValueError:
                reject(_invalid(index, event_id, "occurred_at", f"{_clip(text)!r} is not an ISO 8601 time"))
                continue
            if occurred_at.tzinfo is None:
                reject(_invalid(index, event_id, "occurred_at", "needs a time zone, e.g. 2026-03-01T12:00:00+08:00"))
                continue
            if occurred_at > latest:
                reject(_invalid(index, event_id, "occurred_at", "is in the future"))
                continue
            if occurred_at < rule.oldest:
                reject(
                    _invalid(
                        index, event_id, "occurred_at", f"is older than the {rule.retention_days}-day retention of purpose {rule.label}"
                    )
                )
                continue
        elif rule.needs_occurred_at:
            reject(_invalid(index, event_id, "occurred_at", f"required by purpose {rule.label}"))
            continue
        else:
            occurred_at = None
        accept((index, event_id, subject_ref, rule, category_id, attribute_id, signal_id, value, age_band_id, region_id, occurred_at))
    return candidates, rejections


def _invalid(index: int, event_id: str, field: str, problem: str) -> Rejection:
    return Rejection(index, event_id, INVALID_VALUE, f"{field}: {problem}.", field)
