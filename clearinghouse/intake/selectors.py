from __future__ import annotations

from typing import Any

from clearinghouse.accounts.models import Consumer
from clearinghouse.consent.models import Purpose, TaxonomyTerm
from clearinghouse.intake.models import Erasure, Signal


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def consumer_signals_export(*, consumer: Consumer) -> list[dict[str, Any]]:
    """A consumer's signals as the codes the platform sent (every term, also retired ones)."""
    codes = dict(TaxonomyTerm.objects.values_list("id", "code"))
    purposes = {p.id: p for p in Purpose.objects.all()}
    platforms = {}
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
            }
            for erasure in consumer_erasures_list(consumer=consumer)
        ],
    }


def platform_batches_list(*, platform):
    from clearinghouse.intake.models import IntakeBatch

    return IntakeBatch.objects.filter(platform=platform).defer("rejected").order_by("-id")
