"""Purpose documents: validation (the necessity rules live here) and the registry services."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append
from clearinghouse.consent.models import LAWFUL_BASES, ConsentEvent, Purpose
from clearinghouse.consent.services import consents_expire
from clearinghouse.consent.taxonomy import LANGS, taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import sha256_hex
from clearinghouse.core.errors import Conflict, Invalid, NotFound
from clearinghouse.core.files import json_file_read

SIGNAL_FIELDS = ("category", "attribute", "signal", "value", "age_band", "region", "occurred_at")
DIMENSION_FIELD = {
    "category": "category",
    "attribute": "attribute",
    "signal": "signal",
    "age_band": "age_band",
    "region": "region",
    "week": "occurred_at",
}
MEASURES = ("consumers", "signals", "sum_value", "mean_value", "top_k")
DOCUMENT_KEYS = {
    "code",
    "version",
    "title",
    "notice",
    "legitimate_interest",
    "lawful_basis",
    "fields",
    "dimensions",
    "measures",
    "value_bounds",
    "value_meaning",
    "retention_days",
    "recipient_sectors",
    "epsilon",
    "contribution_bounds",
    "impact_assessment",
}
REQUIRED_KEYS = DOCUMENT_KEYS - {"value_bounds", "value_meaning", "impact_assessment"}
_CODE = re.compile(r"^[a-z0-9][a-z0-9\-]{1,62}$")
MAX_EPSILON = Decimal("100")


def notice_digest(text: str) -> str:
    """What a consumer's client sends back with a grant: SHA-256 of the notice text it showed."""
    return sha256_hex(text.encode("utf-8"))


def _fail(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", details={"field": field})


def _bilingual(document: dict, key: str) -> dict[str, str]:
    value = document[key]
    if not isinstance(value, dict) or set(value) != set(LANGS):
        return_langs = ", ".join(LANGS)
        raise _fail(key, f"must give exactly these languages: {return_langs}")
    for lang, text in value.items():
        if not isinstance(text, str) or not text.strip():
            raise _fail(f"{key}.{lang}", "must be non-empty text")
    return value


def _string_list(document: dict, key: str, allowed: tuple[str, ...] | None) -> list[str]:
    value = document[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(key, "must be a non-empty list of strings")
    if len(set(value)) != len(value):
        raise _fail(key, "lists an entry twice")
    if allowed is not None:
        for item in value:
            if item not in allowed:
                raise _fail(key, f"{item!r} is not one of {', '.join(allowed)}")
    return value


# No purpose keeps signals longer than the privacy ledger's rolling window
# (releases.ledger.WINDOW_DAYS): a release never reads a signal older than its purpose's
# retention, so once a charge leaves the window the facts it paid for are gone too, and
# nothing can be charged twice.
MAX_RETENTION_DAYS = 365


def _positive_int(value: Any, field: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise _fail(field, f"must be a whole number from 1 to {maximum}")
    return value


def _epsilon(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _fail(field, "must be a positive number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _fail(field, "must be a positive number") from None
    if not number.is_finite() or number <= 0 or number > MAX_EPSILON:
        raise _fail(field, f"must be greater than 0 and at most {MAX_EPSILON}")
    if number != number.quantize(Decimal("0.0001")):
        raise _fail(field, "may have at most 4 decimal places")
    return number


def purpose_document_validate(document: Any) -> dict[str, Any]:
    """Check a purpose document completely; the error names the first problem found."""
    if not isinstance(document, dict):
        raise Invalid("a purpose must be a JSON object")
    unknown = sorted(set(document) - DOCUMENT_KEYS)
    if unknown:
        raise _fail(unknown[0], f"unknown field (allowed: {', '.join(sorted(DOCUMENT_KEYS))})")
    missing = sorted(REQUIRED_KEYS - set(document))
    if missing:
        raise _fail(missing[0], "is required")

    code = document["code"]
    if not isinstance(code, str) or not _CODE.match(code):
        raise _fail("code", "must be 2-63 lower-case letters, digits and hyphens")
    version = _positive_int(document["version"], "version", 10_000)
    title = _bilingual(document, "title")
    notice = _bilingual(document, "notice")
    legitimate_interest = _bilingual(document, "legitimate_interest")
    if document["lawful_basis"] not in LAWFUL_BASES:
        raise _fail("lawful_basis", f"must be one of {', '.join(LAWFUL_BASES)}")

    fields = _string_list(document, "fields", SIGNAL_FIELDS)
    for needed in ("category", "signal"):
        if needed not in fields:
            raise _fail("fields", f"must include {needed!r}: every signal names a category and a signal kind")
    dimensions = _string_list(document, "dimensions", tuple(DIMENSION_FIELD))
    for dimension in dimensions:
        if DIMENSION_FIELD[dimension] not in fields:
            raise _fail("dimensions", f"{dimension!r} needs the field {DIMENSION_FIELD[dimension]!r}, which the purpose does not collect")
    if "attribute" in dimensions and "category" not in dimensions:
        raise _fail("dimensions", "'attribute' values belong to a category, so 'category' must be a dimension too")
    measures = _string_list(document, "measures", MEASURES)
    for measure in measures:
        if measure in ("sum_value", "mean_value") and "value" not in fields:
            raise _fail("measures", f"{measure!r} needs the field 'value', which the purpose does not collect")
        if measure == "top_k" and "attribute" not in fields:
            raise _fail("measures", "'top_k' needs the field 'attribute', which the purpose does not collect")

    value_min = value_max = None
    value_meaning: dict[str, str] = {}
    if "value" in fields:
        bounds = document.get("value_bounds")
        if not isinstance(bounds, dict) or set(bounds) != {"min", "max"}:
            raise _fail("value_bounds", 'must be {"min": integer, "max": integer} when \'value\' is collected')
        value_min, value_max = bounds["min"], bounds["max"]
        for name, bound in (("min", value_min), ("max", value_max)):
            if isinstance(bound, bool) or not isinstance(bound, int) or abs(bound) > 10**12:
                raise _fail(f"value_bounds.{name}", "must be an integer within ±10^12")
        if value_min >= value_max:
            raise _fail("value_bounds", f"min ({value_min}) must be less than max ({value_max})")
        if "value_meaning" not in document:
            raise _fail("value_meaning", "is required when 'value' is collected: say what the number means")
        value_meaning = _bilingual(document, "value_meaning")
    elif "value_bounds" in document or "value_meaning" in document:
        raise _fail("value_bounds", "only applies when the purpose collects 'value'")

    retention_days = _positive_int(document["retention_days"], "retention_days", MAX_RETENTION_DAYS)

    sectors = _string_list(document, "recipient_sectors", None)
    index = taxonomy_index()
    for sector in sectors:
        if not index.categories_with_prefix(sector):
            raise _fail("recipient_sectors", f"{sector!r} matches no category of the taxonomy")

    epsilon = document["epsilon"]
    if not isinstance(epsilon, dict) or set(epsilon) != {"per_release_max", "per_period_cap", "per_consumer_cap"}:
        raise _fail("epsilon", "must be {per_release_max, per_period_cap, per_consumer_cap}")
    per_release = _epsilon(epsilon["per_release_max"], "epsilon.per_release_max")
    per_period = _epsilon(epsilon["per_period_cap"], "epsilon.per_period_cap")
    per_consumer = _epsilon(epsilon["per_consumer_cap"], "epsilon.per_consumer_cap")
    if per_release > per_period:
        raise _fail("epsilon.per_release_max", "cannot exceed epsilon.per_period_cap")
    if per_release > per_consumer:
        raise _fail("epsilon.per_release_max", "cannot exceed epsilon.per_consumer_cap")

    bounds = document["contribution_bounds"]
    if not isinstance(bounds, dict) or set(bounds) != {"max_cells", "max_signals_per_cell"}:
        raise _fail("contribution_bounds", "must be {max_cells, max_signals_per_cell}")
    max_cells = _positive_int(bounds["max_cells"], "contribution_bounds.max_cells", 1000)
    max_signals = _positive_int(bounds["max_signals_per_cell"], "contribution_bounds.max_signals_per_cell", 1000)

    impact = document.get("impact_assessment", "")
    if not isinstance(impact, str):
        raise _fail("impact_assessment", "must be text")

    return {
        "code": code,
        "version": version,
        "title": title,
        "notice": notice,
        "notice_digests": {lang: notice_digest(text) for lang, text in notice.items()},
        "legitimate_interest": legitimate_interest,
        "lawful_basis": document["lawful_basis"],
        "fields": fields,
        "dimensions": dimensions,
        "measures": measures,
        "value_min": value_min,
        "value_max": value_max,
        "value_meaning": value_meaning,
        "retention_days": retention_days,
        "recipient_sectors": sectors,
        "max_epsilon_per_release": per_release,
        "period_epsilon_cap": per_period,
        "consumer_epsilon_cap": per_consumer,
        "max_cells_per_consumer": max_cells,
        "max_signals_per_cell": max_signals,
        "impact_assessment": impact.strip(),
    }


purpose_file_read = json_file_read


def purpose_publish(*, document: Any, actor: Actor, approve: bool = False) -> tuple[Purpose, bool]:
    """Register a purpose version as a draft (optionally approve it at once).

    Returns (purpose, created). Publishing the identical document again is a no-op, so
    set-up scripts can run repeatedly; a different document under an existing version is
    refused: a changed notice needs a new version and therefore new consent.
    """
    cleaned = purpose_document_validate(document)
    with transaction.atomic():
        existing = Purpose.objects.select_for_update().filter(code=cleaned["code"]).order_by("-version")
        latest = existing.first()
        same = existing.filter(version=cleaned["version"]).first()
        if same is not None:
            assert latest is not None  # same is one of them
            if same.source != document:
                raise Conflict(
                    f"{cleaned['code']} version {cleaned['version']} is already published with different content; publish version {latest.version + 1}",
                    code="version_exists",
                    details={"field": "version"},
                )
            purpose, created = same, False
        else:
            if latest is not None and cleaned["version"] < latest.version:
                raise Invalid(
                    f"version: must be greater than the latest published version ({latest.version})",
                    details={"field": "version"},
                )
            purpose = Purpose.objects.create(status=Purpose.DRAFT, source=document, **cleaned)
            created = True
            audit_append(
                actor=actor,
                action=AuditAction.PURPOSE_PUBLISHED,
                target=f"purpose:{purpose.code}@{purpose.version}",
                details={"fields": purpose.fields, "retention_days": purpose.retention_days},
            )
        if approve and purpose.status == Purpose.DRAFT:
            purpose = purpose_approve(purpose=purpose, actor=actor, impact_assessment=cleaned["impact_assessment"])
    return purpose, created


def purpose_approve(*, purpose: Purpose, actor: Actor, impact_assessment: str) -> Purpose:
    """draft → approved. The previously approved version of the same code is retired:
    consent given to it does not carry over (a new version needs new consent)."""
    impact_assessment = (impact_assessment or "").strip()
    if len(impact_assessment) < 20:
        raise Invalid(
            "impact_assessment: a personal-information impact assessment summary (PIPL Art. 55-56) of at least 20 characters is required to approve",
            details={"field": "impact_assessment"},
        )
    with transaction.atomic():
        purpose = Purpose.objects.select_for_update().get(pk=purpose.pk)
        if purpose.status != Purpose.DRAFT:
            raise Conflict(f"only a draft can be approved; this version is {purpose.status}", code="invalid_state")
        now = timezone.now()
        for previous in Purpose.objects.select_for_update().filter(code=purpose.code, status=Purpose.APPROVED):
            previous.status, previous.retired_at = Purpose.RETIRED, now
            previous.save(update_fields=["status", "retired_at"])
            # Every consent to the old version ends now, each with a receipt naming why,
            # and what it let in is erased; the person is asked again for the new version.
            ended = consents_expire(purpose=previous, reason=ConsentEvent.PURPOSE_SUPERSEDED, by_version=purpose.version, actor=actor)
            audit_append(
                actor=actor,
                action=AuditAction.PURPOSE_RETIRED,
                target=f"purpose:{previous.code}@{previous.version}",
                details={"reason": "superseded", "by_version": purpose.version, "consents_ended": ended},
            )
        purpose.status = Purpose.APPROVED
        purpose.approved_by = actor.id
        purpose.approved_at = now
        purpose.impact_assessment = impact_assessment
        purpose.save(update_fields=["status", "approved_by", "approved_at", "impact_assessment"])
        audit_append(actor=actor, action=AuditAction.PURPOSE_APPROVED, target=f"purpose:{purpose.code}@{purpose.version}")
    return purpose


def purpose_retire(*, purpose: Purpose, actor: Actor) -> Purpose:
    with transaction.atomic():
        purpose = Purpose.objects.select_for_update().get(pk=purpose.pk)
        if purpose.status == Purpose.RETIRED:
            raise Conflict("this purpose version is already retired", code="invalid_state")
        was_approved = purpose.status == Purpose.APPROVED
        purpose.status, purpose.retired_at = Purpose.RETIRED, timezone.now()
        purpose.save(update_fields=["status", "retired_at"])
        ended = consents_expire(purpose=purpose, reason=ConsentEvent.PURPOSE_RETIRED, actor=actor) if was_approved else 0
        audit_append(
            actor=actor,
            action=AuditAction.PURPOSE_RETIRED,
            target=f"purpose:{purpose.code}@{purpose.version}",
            details={"reason": "retired", "consents_ended": ended},
        )
    return purpose


def purpose_current(*, code: str) -> Purpose | None:
    return Purpose.objects.filter(code=code, status=Purpose.APPROVED).first()


def purposes_approved() -> list[Purpose]:
    return list(Purpose.objects.filter(status=Purpose.APPROVED).order_by("code"))


def purpose_get(*, code: str, version: int) -> Purpose:
    purpose = Purpose.objects.filter(code=code, version=version).first()
    if purpose is None:
        raise NotFound(f"no purpose {code} version {version}")
    return purpose
