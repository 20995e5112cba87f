from celery import shared_task

from clearinghouse.releases.budgets import budget_roll_over
from clearinghouse.releases.services import release_compute, release_sweep


@shared_task(acks_late=True)
def release_compute_task(release_id: str) -> None:
    """Idempotent: a release that is done, failed or owned by a live attempt is left as it is."""
    release_compute(release_id=release_id)


@shared_task
def release_sweep_task() -> None:
    release_sweep()


@shared_task
def budget_roll_over_task() -> None:
    budget_roll_over()
