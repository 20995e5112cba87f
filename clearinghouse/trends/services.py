"""Trend requests and the trend job, on the release engine's one lifecycle.

Request (web process): validate (trends/spec.py) -> ``release_queue`` reserves the ε the
trend states from the allocation and the purpose's period cap and queues a Release of kind
"trend" in one transaction; the task is sent after commit. A repeat of the same request in
the same period answers with the stored trend and spends nothing.

Job (worker): claim, take the ledger lock, leave out the people the individual filter
excludes (at this trend's ρ), run the release engine's exact bounded aggregation grouped by
week (and ``by``) over the request's weeks (``aggregate_compute``: exact counts per cell and
the contributors, from one snapshot), measure once through the continual plan, estimate,
sum and forecast (trends/document.py), then ``release_finish`` signs, charges every
contributor once in the one ledger, marks it done and audits, all in one transaction.
Refusals and failures close the trend with a refund (``release_close``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_record
from clearinghouse.consent.models import Purpose
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import DomainError, Invalid
from clearinghouse.releases.compute import aggregate_compute, bounding_seed
from clearinghouse.releases.ledger import consumers_over
from clearinghouse.releases.models import Release
from clearinghouse.releases.services import (
    QueueOrder,
    SweepReport,
    ledger_lock,
    publish_with,
    release_claim,
    release_close,
    release_finish,
    release_queue,
    release_statement_tune,
    release_sweep,
)
from clearinghouse.trends.document import trend_document
from clearinghouse.trends.spec import TrendSpec, trend_spec_parse, trend_spec_stored

logger = logging.getLogger(__name__)

MAX_ATTEMPTS_MESSAGE = "The job was interrupted too often; nothing was spent."


def trend_publish(release_id) -> None:
    from clearinghouse.trends.tasks import trend_compute_task  # tasks import this module

    publish_with(trend_compute_task, release_id)


def _given(value: Any) -> str | None:  # what the manufacturer sent, cut short: the audit log is no dump
    return value[:64] if isinstance(value, str) else None


def _refusal_details(*, manufacturer: Manufacturer, body: Any) -> dict[str, Any]:
    return {
        "kind": Release.TREND,
        "manufacturer": manufacturer.slug,
        "purpose": _given(body.get("purpose")) if isinstance(body, dict) else None,
        "measure": _given(body.get("measure")) if isinstance(body, dict) else None,
    }


def trend_spec_validate(*, manufacturer: Manufacturer, body: Any, actor: Actor) -> TrendSpec:
    """Validate a trend body; a refusal is audited (release.refused, kind trend) and raised."""
    try:
        return trend_spec_parse(manufacturer=manufacturer, body=body)
    except Invalid as exc:
        audit_record(
            actor=actor,
            action=AuditAction.RELEASE_REFUSED,
            target=f"manufacturer:{manufacturer.slug}",
            outcome="denied",
            details=_refusal_details(manufacturer=manufacturer, body=body) | {"code": exc.code, "field": exc.details.get("field")},
        )
        raise


def trend_request(*, manufacturer: Manufacturer, body: Any, actor: Actor) -> tuple[Release, bool]:
    """Validate, reserve, queue. Returns (trend, created); a repeat of a live trend of this
    period returns it and spends nothing. Raises Invalid (400, incl. accuracy_unreachable),
    Conflict (409 budget_exhausted) or Unavailable (503) before anything is queued."""
    spec = trend_spec_validate(manufacturer=manufacturer, body=body, actor=actor)
    return release_queue(
        manufacturer=manufacturer,
        order=QueueOrder(
            purpose=spec.purpose,
            kind=Release.TREND,
            measure=spec.measure,
            group_by=spec.group_by,
            filters=spec.filters,
            epsilon=spec.epsilon,
            rho=spec.rho,
            spec=spec.stored(),
            digest=spec.request_digest(),
        ),
        refusal_details=_refusal_details(manufacturer=manufacturer, body=body),
        actor=actor,
        publish=trend_publish,
    )


def trend_spec_for(release: Release) -> TrendSpec:
    """The spec of a stored trend (purpose version as requested, its own ρ and strategy)."""
    return trend_spec_stored(
        manufacturer=release.manufacturer,
        purpose=release.purpose,
        measure=release.measure,
        filters=release.filters,
        spec=release.spec,
        rho=release.rho,
    )


class _Refusal(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def trend_compute(*, release_id) -> Release | None:
    """The job (idempotent): a trend that is done, closed or owned by a live attempt is
    left as it is."""
    attempt = release_claim(release_id)
    if attempt is None:
        return Release.objects.filter(pk=release_id).first()
    if attempt > settings.CH_RELEASE_MAX_ATTEMPTS:
        return release_close(release_id=release_id, status=Release.FAILED, code="too_many_attempts", message=MAX_ATTEMPTS_MESSAGE)
    try:
        return _compute(release_id=release_id, attempt=attempt)
    except _Refusal as refusal:
        return release_close(release_id=release_id, status=Release.REFUSED, code=refusal.code, message=refusal.message)
    except Exception:
        logger.exception("trend %s failed before its answer was committed", release_id)
        return release_close(
            release_id=release_id,
            status=Release.FAILED,
            code="internal_error",
            message="The job failed before any result was released; nothing was spent.",
        )


def _compute(*, release_id, attempt: int) -> Release:
    with transaction.atomic():
        release_statement_tune()
        release = Release.objects.select_related("manufacturer", "purpose").get(pk=release_id, kind=Release.TREND)
        # Planning (pure numpy, data-independent) happens before the ledger lock is taken.
        try:
            spec = trend_spec_for(release)
        except DomainError as exc:
            raise _Refusal(exc.code, f"The request is no longer valid: {exc.message}") from None
        ledger_lock()
        release = Release.objects.select_for_update().select_related("manufacturer", "purpose").get(pk=release_id, kind=Release.TREND)
        if release.status != Release.RUNNING or release.attempts != attempt:
            return release  # another attempt took over (or finished) meanwhile
        if release.purpose.status != Purpose.APPROVED:
            raise _Refusal(
                "purpose_not_approved",
                f"{release.purpose_code} version {release.purpose.version} is no longer approved; nothing was spent.",
            )
        snapshot_at = timezone.now()
        excluded = consumers_over(
            purpose_code=release.purpose_code,
            moment=snapshot_at,
            purpose_cap=release.purpose.consumer_epsilon_cap,
            epsilon=release.epsilon,
            rho=release.rho,
        )
        aggregate = aggregate_compute(spec.release_plan, seed=bounding_seed(release.id), excluded=excluded, now=snapshot_at)
        payload = trend_document(release=release, spec=spec, counts=aggregate.counts, snapshot_at=snapshot_at)
        release_finish(release=release, attempt=attempt, payload=payload, contributors=aggregate.contributors, snapshot_at=snapshot_at)
    release.refresh_from_db()
    return release


def trend_sweep() -> SweepReport:
    """Beat: re-send lost trend jobs (release_sweep for kind "trend")."""
    return release_sweep(kind=Release.TREND, publish=trend_publish)
