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

from typing import Any

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.core.actors import Actor
from clearinghouse.releases.models import Release
from clearinghouse.releases.services import (
    JobEngine,
    QueueOrder,
    SweepReport,
    job_refusal_details,
    job_run,
    publish_with,
    refusals_audited,
    release_queue,
    release_sweep,
)
from clearinghouse.trends.document import trend_document
from clearinghouse.trends.spec import TrendSpec, trend_spec_parse, trend_spec_stored


def trend_publish(release_id) -> None:
    from clearinghouse.trends.tasks import trend_compute_task  # tasks import this module

    publish_with(trend_compute_task, release_id)


def trend_spec_validate(*, manufacturer: Manufacturer, body: Any, actor: Actor) -> TrendSpec:
    """Validate a trend body; a refusal is audited (release.refused, kind trend) and raised."""
    with refusals_audited(manufacturer=manufacturer, body=body, actor=actor, kind=Release.TREND):
        return trend_spec_parse(manufacturer=manufacturer, body=body)


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
        refusal_details=job_refusal_details(manufacturer=manufacturer, body=body, kind=Release.TREND),
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


def _answer(*, release: Release, prepared: TrendSpec, aggregate, snapshot_at) -> dict:
    return trend_document(release=release, spec=prepared, counts=aggregate.counts, snapshot_at=snapshot_at)


ENGINE = JobEngine(name="trend", prepare=trend_spec_for, plan=lambda spec: spec.release_plan, answer=_answer)


def trend_compute(*, release_id) -> Release | None:
    """The job (idempotent), run by releases.services.job_run like every kind of job."""
    return job_run(release_id=release_id, engine=ENGINE)


def trend_sweep() -> SweepReport:
    """Beat: re-send lost trend jobs (release_sweep for kind "trend")."""
    return release_sweep(kind=Release.TREND, publish=trend_publish)
