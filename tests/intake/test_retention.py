"""The daily purge: signals older than their purpose's retention go, and the run is audited."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from clearinghouse.audit.models import AuditEvent
from clearinghouse.intake.erasure import signals_retention_purge
from clearinghouse.intake.models import Signal
from clearinghouse.intake.tasks import signals_retention_purge_task
from tests.intake.conftest import store_signals


def test_purge_uses_occurred_at_when_collected_and_received_at_otherwise(world):
    now = timezone.now()
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=3, prefix="design-old")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=2, prefix="design-new")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.forecast, count=4, prefix="forecast-old")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.forecast, count=1, prefix="forecast-new")
    # Product design keeps 365 days by arrival; demand forecast 180 days by occurrence.
    Signal.objects.filter(event_id__startswith="design-old").update(received_at=now - timedelta(days=366))
    Signal.objects.filter(event_id__startswith="design-new").update(received_at=now - timedelta(days=364))
    Signal.objects.filter(event_id__startswith="forecast-old").update(occurred_at=now - timedelta(days=181), received_at=now)
    Signal.objects.filter(event_id__startswith="forecast-new").update(
        occurred_at=now - timedelta(days=179), received_at=now - timedelta(days=200)
    )

    result = signals_retention_purge()

    assert result == {"c2m-demand-forecast@1": 4, "c2m-product-design@1": 3}
    assert sorted(Signal.objects.values_list("event_id", flat=True)) == ["design-new-0", "design-new-1", "forecast-new-0"]
    purged = {e.details["purpose"]: e.details for e in AuditEvent.objects.filter(action="retention.purged")}
    assert purged["c2m-product-design"]["signals"] == 3 and purged["c2m-product-design"]["retention_days"] == 365
    assert purged["c2m-demand-forecast"]["signals"] == 4
    assert all(e.actor_kind == "system" for e in AuditEvent.objects.filter(action="retention.purged"))


def test_a_run_with_nothing_due_is_still_audited(world):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=2, prefix="fresh")
    assert signals_retention_purge_task.delay().get() == {"c2m-demand-forecast@1": 0, "c2m-product-design@1": 0}
    assert Signal.objects.count() == 2
    assert AuditEvent.objects.filter(action="retention.purged").count() == 2


def test_purge_is_scheduled_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["intake-retention-purge"]
    assert entry["task"] == "clearinghouse.intake.tasks.signals_retention_purge_task"
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {30}
