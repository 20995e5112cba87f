import time

import pytest

from clearinghouse.accounts.models import LinkCode
from clearinghouse.accounts.tasks import link_codes_purge_task
from clearinghouse.audit.models import AuditEvent


@pytest.mark.redis
def test_real_worker_on_redis_runs_a_task_against_the_test_database(celery_worker_factory, consumer_a, platform_p):
    from datetime import timedelta

    from django.utils import timezone

    LinkCode.objects.create(
        code_hash="x" * 64, consumer=consumer_a.consumer, platform=platform_p.obj, expires_at=timezone.now() - timedelta(minutes=1)
    )
    celery_worker_factory()
    link_codes_purge_task.delay()
    deadline = time.monotonic() + 30
    while LinkCode.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not LinkCode.objects.exists()
    assert AuditEvent.objects.filter(action="link.codes_purged", actor_kind="system").exists()
