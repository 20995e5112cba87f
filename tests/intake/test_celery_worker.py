"""Erasure and retention through a real Celery worker on Redis, against PostgreSQL."""

from __future__ import annotations

import time

import pytest

from clearinghouse.audit.models import AuditEvent
from clearinghouse.core.actors import Actor
from clearinghouse.intake.models import Erasure, Signal
from clearinghouse.intake.services import signals_ingest
from clearinghouse.intake.tasks import signals_retention_purge_task
from tests.intake.conftest import design_item, withdraw

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def _until(predicate, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError("the worker did not finish in time")
        time.sleep(0.02)
    return time.monotonic() - started


def test_withdrawal_erasure_runs_on_a_real_worker_and_survives_a_worker_that_was_down(celery_worker_factory, world):
    actor_p, actor_q = Actor(kind="platform", id=world.p.slug), Actor(kind="platform", id=world.q.slug)
    big = signals_ingest(platform=world.p.obj, items=[design_item(f"a-{i}", "alice-at-p") for i in range(10_000)], actor=actor_p)
    assert big.accepted == 10_000
    assert signals_ingest(platform=world.q.obj, items=[design_item(f"q-{i}", "alice-at-q") for i in range(7)], actor=actor_q).accepted == 7
    assert signals_ingest(platform=world.p.obj, items=[design_item(f"b-{i}", "bob-at-p") for i in range(5)], actor=actor_p).accepted == 5

    # No worker yet: the withdrawal commits, its erasure waits in Redis.
    withdraw(world.alice, world.design, world.q)
    time.sleep(0.5)
    assert Signal.objects.filter(platform=world.q.obj).count() == 7
    assert Erasure.objects.get().completed_at is None

    celery_worker_factory()
    _until(lambda: not Signal.objects.filter(platform=world.q.obj).exists())
    assert Erasure.objects.get(platform=world.q.obj).signals == 7

    # With the worker up: 10,000 signals, measured from the withdrawal's commit.
    withdraw(world.alice, world.design, world.p)
    elapsed = _until(lambda: not Signal.objects.filter(consumer=world.alice.consumer, platform=world.p.obj).exists())
    erasure = Erasure.objects.get(platform=world.p.obj)
    assert erasure.signals == 10_000 and erasure.completed_at is not None
    assert Signal.objects.filter(consumer=world.bob.consumer).count() == 5
    audit = AuditEvent.objects.filter(action="erasure.completed", details__signals=10_000).get()
    assert audit.actor_kind == "system" and audit.details["reason"] == "withdrawal"
    print(f"erasure of 10,000 signals: {elapsed:.2f} s after the withdrawal returned, {audit.details['latency_ms']} ms from commit to done")

    signals_retention_purge_task.delay()
    _until(lambda: AuditEvent.objects.filter(action="retention.purged").count() == 2)
    assert set(AuditEvent.objects.filter(action="retention.purged").values_list("actor_id", flat=True)) == {"intake.retention"}
