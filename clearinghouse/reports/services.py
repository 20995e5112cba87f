"""Report requests and the report job, on the release engine's one lifecycle.

Request (web process): validate (reports/spec.py) -> ``release_queue`` reserves the ε the
report states from the allocation and the purpose's period cap and queues a Release of kind
"report" in one transaction; the task is sent after commit. A repeat of the same request in
the same period answers with the stored report and spends nothing.

Job (worker): claim, take the ledger lock, leave out the people the individual filter
excludes (at this report's ρ), run the release engine's exact bounded aggregation over the
full product of the marginals' dimensions (``aggregate_compute``: exact counts per cell and
the contributors, from one snapshot), measure, reconstruct and post-process
(reports/document.py), then ``release_finish`` signs, charges every contributor once in the
one ledger, marks it done and audits, all in one transaction. Refusals and failures close
the report with a refund (``release_close``).
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
from clearinghouse.reports.document import report_document
from clearinghouse.reports.spec import ReportSpec, report_spec_parse, report_spec_stored


def report_publish(release_id) -> None:
    from clearinghouse.reports.tasks import report_compute_task  # tasks import this module

    publish_with(report_compute_task, release_id)


def report_spec_validate(*, manufacturer: Manufacturer, body: Any, actor: Actor) -> ReportSpec:
    """Validate a report body; a refusal is audited (release.refused, kind report) and raised."""
    with refusals_audited(manufacturer=manufacturer, body=body, actor=actor, kind=Release.REPORT):
        return report_spec_parse(manufacturer=manufacturer, body=body)


def report_request(*, manufacturer: Manufacturer, body: Any, actor: Actor) -> tuple[Release, bool]:
    """Validate, reserve, queue. Returns (report, created); a repeat of a live report of this
    period returns it and spends nothing. Raises Invalid (400, incl. accuracy_unreachable),
    Conflict (409 budget_exhausted) or Unavailable (503) before anything is queued."""
    spec = report_spec_validate(manufacturer=manufacturer, body=body, actor=actor)
    return release_queue(
        manufacturer=manufacturer,
        order=QueueOrder(
            purpose=spec.purpose,
            kind=Release.REPORT,
            measure=spec.measure,
            group_by=spec.group_by,
            filters=spec.filters,
            epsilon=spec.epsilon,
            rho=spec.rho,
            spec=spec.stored(),
            digest=spec.request_digest(),
        ),
        refusal_details=job_refusal_details(manufacturer=manufacturer, body=body, kind=Release.REPORT),
        actor=actor,
        publish=report_publish,
    )


def report_spec_for(release: Release) -> ReportSpec:
    """The spec of a stored report (purpose version as requested, its own ρ)."""
    return report_spec_stored(
        manufacturer=release.manufacturer,
        purpose=release.purpose,
        measure=release.measure,
        filters=release.filters,
        spec=release.spec,
        rho=release.rho,
    )


def _answer(*, release: Release, prepared: ReportSpec, aggregate, snapshot_at) -> dict:
    return report_document(release=release, spec=prepared, counts=aggregate.counts, firsts=aggregate.firsts, snapshot_at=snapshot_at)


ENGINE = JobEngine(name="report", prepare=report_spec_for, plan=lambda spec: spec.release_plan, answer=_answer)


def report_compute(*, release_id) -> Release | None:
    """The job (idempotent), run by releases.services.job_run like every kind of job."""
    return job_run(release_id=release_id, engine=ENGINE)


def report_sweep() -> SweepReport:
    """Beat: re-send lost report jobs (release_sweep for kind "report")."""
    return release_sweep(kind=Release.REPORT, publish=report_publish)
