from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db.models import Count, Max, Min

from clearinghouse.accounts.models import Consumer, Platform
from clearinghouse.consent.models import Purpose, TaxonomyTerm
from clearinghouse.core.errors import NotFound
from clearinghouse.intake.models import Erasure, Signal


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def consumer_signals_export(*, consumer: Consumer) -> list[dict[str, Any]]:
    """A consumer's signals as the codes the platform sent (every term, also retired ones)."""
    codes = dict(TaxonomyTerm.objects.values_list("id", "code"))
    purposes = {p.id: p for p in Purpose.objects.all()}
    platforms: dict[int, str] = {}
    rows = []
    for signal in Signal.objects.filter(consumer_id=consumer.pk).select_related("platform").order_by("id").iterator(chunk_size=2000):
        platforms.setdefault(signal.platform_id, signal.platform.slug)
        purpose = purposes[signal.purpose_id]
        rows.append(
            {
                "platform": platforms[signal.platform_id],
                "purpose": purpose.code,
                "purpose_version": purpose.version,
                "event_id": signal.event_id,
                "category": codes.get(signal.category),
                "attribute": codes.get(signal.attribute) if signal.attribute is not None else None,
                "signal": codes.get(signal.signal),
                "value": signal.value,
                "age_band": codes.get(signal.age_band) if signal.age_band is not None else None,
                "region": codes.get(signal.region) if signal.region is not None else None,
                "occurred_at": _iso(signal.occurred_at),
                "received_at": _iso(signal.received_at),
            }
        )
    return rows


def consumer_erasures_list(*, consumer: Consumer) -> list[Erasure]:
    return list(Erasure.objects.filter(consumer=consumer).select_related("platform").order_by("id"))


def consumer_intake_export(*, consumer: Consumer) -> dict[str, Any]:
    """The export's intake section (subjects.selectors.consumer_export): the signals held and the erasures done."""
    return {
        "signals": consumer_signals_export(consumer=consumer),
        "erasures": [
            {
                "reason": erasure.reason,
                "purpose": erasure.purpose_code or None,
                "platform": erasure.platform.slug if erasure.platform else None,
                "requested_at": _iso(erasure.requested_at),
                "completed_at": _iso(erasure.completed_at),
                "signals": erasure.signals,
                "certificate": erasure.certificate,  # the signed erasure certificate, if one was issued
            }
            for erasure in consumer_erasures_list(consumer=consumer)
        ],
    }


def platform_batches_list(*, platform):
    from clearinghouse.intake.models import IntakeBatch

    return IntakeBatch.objects.filter(platform=platform).defer("rejected").order_by("-id")


# --- What a person can see of what is held and what was deleted (the portal's "my data") ---


def consumer_certificates_list(*, consumer: Consumer) -> list[Erasure]:
    """This person's signed erasure certificates, newest first."""
    return list(
        Erasure.objects.filter(consumer=consumer, certificate__isnull=False).select_related("platform").order_by("-completed_at", "-id")
    )


def consumer_certificate_get(*, consumer: Consumer, certificate_id) -> Erasure:
    """One of this person's certificates; anyone else's is NotFound, exactly like a missing one."""
    try:
        wanted = uuid.UUID(str(certificate_id))
    except ValueError:
        raise NotFound() from None
    erasure = Erasure.objects.filter(consumer=consumer, certificate_id=wanted).first()
    if erasure is None:
        raise NotFound()
    return erasure


def consumer_signal_holdings(*, consumer: Consumer) -> list[dict[str, Any]]:
    """Per platform and purpose version: how many signals are held, the latest one, and
    the age range that decides when they are deleted (``occurred_at`` where the purpose
    collects it, else ``received_at``, as the retention purge counts it)."""
    purposes = {p.id: p for p in Purpose.objects.all()}
    rows = []
    groups = list(
        Signal.objects.filter(consumer_id=consumer.pk)
        .values("platform_id", "purpose_id")
        .annotate(
            count=Count("id"),
            latest_id=Max("id"),
            oldest_received=Min("received_at"),
            newest_received=Max("received_at"),
            oldest_occurred=Min("occurred_at"),
            newest_occurred=Max("occurred_at"),
        )
        .order_by("platform_id", "purpose_id")
    )
    latest = {s.id: s for s in Signal.objects.filter(id__in=[g["latest_id"] for g in groups])}
    platforms = {p.id: p for p in Platform.objects.filter(id__in={g["platform_id"] for g in groups})}
    for group in groups:
        purpose = purposes[group["purpose_id"]]
        by_occurrence = "occurred_at" in purpose.fields and group["oldest_occurred"] is not None
        oldest = group["oldest_occurred"] if by_occurrence else group["oldest_received"]
        newest = group["newest_occurred"] if by_occurrence else group["newest_received"]
        rows.append(
            {
                "platform": platforms[group["platform_id"]],
                "purpose": purpose,
                "count": group["count"],
                "latest": latest[group["latest_id"]],
                "first_deletion": oldest + timedelta(days=purpose.retention_days),
                "last_deletion": newest + timedelta(days=purpose.retention_days),
            }
        )
    return rows


def consumer_deliveries_list(*, consumer: Consumer) -> list[dict[str, Any]]:
    """Deliveries that included this person and are still held, as counts: one intake
    batch writes one ``received_at`` for all its rows, so (platform, purpose, received_at)
    is one batch. Batches whose signals were since deleted show on the erasure instead."""
    groups = (
        Signal.objects.filter(consumer_id=consumer.pk)
        .values("platform_id", "purpose_id", "received_at")
        .annotate(count=Count("id"))
        .order_by("-received_at")
    )
    return [dict(group) for group in groups]
