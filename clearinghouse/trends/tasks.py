from celery import shared_task

from clearinghouse.trends.services import trend_compute, trend_sweep


@shared_task(acks_late=True)
def trend_compute_task(release_id: str) -> None:
    """Idempotent: a trend that is done, failed or owned by a live attempt is left as it is."""
    trend_compute(release_id=release_id)


@shared_task
def trend_sweep_task() -> None:
    trend_sweep()
