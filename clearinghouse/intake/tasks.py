from celery import shared_task

from clearinghouse.intake.erasure import erasure_run, erasures_resend, signals_retention_purge


@shared_task
def erasure_run_task(erasure_id: int) -> int | None:
    return erasure_run(erasure_id=erasure_id)


@shared_task
def erasures_resend_task() -> int:
    return erasures_resend()


@shared_task
def signals_retention_purge_task() -> dict[str, int]:
    return signals_retention_purge()
