from celery import shared_task

from clearinghouse.notices.services import notice_deliver, notices_resend


@shared_task(acks_late=True)
def notice_deliver_task(notice_id: str) -> None:
    """Idempotent: a notice that is not due, held by a live attempt or finished is left as it is."""
    notice_deliver(notice_id=notice_id)


@shared_task
def notices_resend_task() -> int:
    return notices_resend()
