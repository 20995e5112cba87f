from celery import shared_task

from clearinghouse.reports.services import report_compute, report_sweep


@shared_task(acks_late=True)
def report_compute_task(release_id: str) -> None:
    """Idempotent: a report that is done, failed or owned by a live attempt is left as it is."""
    report_compute(release_id=release_id)


@shared_task
def report_sweep_task() -> None:
    report_sweep()
