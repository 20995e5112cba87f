from celery import shared_task

from clearinghouse.accounts.services import link_codes_purge


@shared_task
def link_codes_purge_task() -> int:
    return link_codes_purge()
