"""Withdrawal erases that consumer's signals for that (purpose, platform), nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clearinghouse.audit.models import AuditEvent
from clearinghouse.intake.erasure import erasure_run, erasures_resend
from clearinghouse.intake.models import Erasure, Signal
from tests.conftest import module_world
from tests.intake.conftest import grant, store_signals, withdraw


# Every test here uses ``db``: the world is built once for the module (tests/conftest.py's
# module_db) and each test gets its own copy of it.
@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


def _count(consumer, platform, purpose) -> int:
    return Signal.objects.filter(consumer=consumer.consumer, platform=platform.obj, purpose=purpose).count()


def test_withdrawal_erases_exactly_that_purpose_on_that_platform(world, django_capture_on_commit_callbacks):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=5, prefix="a-p-d")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.forecast, count=4, prefix="a-p-f")
    store_signals(consumer=world.alice, platform=world.q, purpose=world.design, count=3, prefix="a-q-d")
    store_signals(consumer=world.bob, platform=world.p, purpose=world.design, count=2, prefix="b-p-d")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        withdraw(world.alice, world.design, world.p)

    assert len(callbacks) == 1  # the task is sent only once the withdrawal committed
    assert _count(world.alice, world.p, world.design) == 0
    assert _count(world.alice, world.p, world.forecast) == 4
    assert _count(world.alice, world.q, world.design) == 3
    assert _count(world.bob, world.p, world.design) == 2
    erasure = Erasure.objects.get()
    assert (erasure.reason, erasure.purpose_code, erasure.platform_id, erasure.signals) == (
        "withdrawal",
        "c2m-product-design",
        world.p.obj.pk,
        5,
    )
    audit = AuditEvent.objects.get(action="erasure.completed")
    assert audit.details["reason"] == "withdrawal" and audit.details["signals"] == 5
    assert audit.details["subject"] == str(world.alice.consumer.pseudonym) and audit.target == "platform:shop-p"


def test_the_task_is_not_sent_when_the_withdrawal_rolls_back(world, django_capture_on_commit_callbacks):
    from django.db import transaction

    from clearinghouse.consent.services import ConsentRequest, consent_change
    from clearinghouse.core.actors import Actor

    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=5, prefix="a")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                consent_change(
                    consumer=world.alice.consumer,
                    request=ConsentRequest(purpose_code=world.design.code, platform_slug=world.p.slug, action="withdraw"),
                    channel="api",
                    actor=Actor(kind="consumer", id=str(world.alice.consumer.pseudonym)),
                )
                raise RuntimeError("something later in the same transaction failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not Erasure.objects.exists()
    assert _count(world.alice, world.p, world.design) == 5


def test_a_retried_erasure_does_nothing_twice(world, django_capture_on_commit_callbacks):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=5, prefix="a")
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(world.alice, world.design, world.p)
    erasure = Erasure.objects.get()

    assert erasure_run(erasure_id=erasure.pk) is None
    assert AuditEvent.objects.filter(action="erasure.completed").count() == 1


def test_signals_sent_after_consent_was_given_again_survive_a_late_erasure(world, django_capture_on_commit_callbacks):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=5, prefix="old")
    # The task is lost (not executed): the erasure stays pending.
    with django_capture_on_commit_callbacks(execute=False):
        withdraw(world.alice, world.design, world.p)
    grant(world.alice, world.design, world.p)
    Signal.objects.filter(event_id__startswith="old").update(received_at=timezone.now() - timedelta(minutes=1))
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=2, prefix="new")

    erasure = Erasure.objects.get()
    Erasure.objects.filter(pk=erasure.pk).update(requested_at=timezone.now() - timedelta(seconds=30))
    assert erasure_run(erasure_id=erasure.pk) == 5
    assert set(Signal.objects.values_list("event_id", flat=True)) == {"new-0", "new-1"}


def test_pending_erasures_are_sent_again(world, django_capture_on_commit_callbacks):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=5, prefix="a")
    with django_capture_on_commit_callbacks(execute=False):
        withdraw(world.alice, world.design, world.p)
    assert _count(world.alice, world.p, world.design) == 5

    assert erasures_resend(older_than=timedelta(minutes=5)) == 0  # too fresh to be called lost
    Erasure.objects.update(requested_at=timezone.now() - timedelta(minutes=10))
    assert erasures_resend(older_than=timedelta(minutes=5)) == 1  # eager Celery runs it here
    assert _count(world.alice, world.p, world.design) == 0
    assert Erasure.objects.get().completed_at is not None
