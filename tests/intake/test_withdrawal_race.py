"""A withdrawal that arrives while a batch with that consumer's signals is being ingested must
not leave any of them behind. Real PostgreSQL, real concurrent transactions, and a pause
injected at the two moments that matter."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from clearinghouse.consent.services import ConsentRequest, consent_change
from clearinghouse.core.actors import Actor
from clearinghouse.intake import services as intake_services
from clearinghouse.intake.models import Erasure, Signal
from clearinghouse.intake.services import signals_ingest
from tests.intake.conftest import design_item

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _advisory_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


def _wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Thread(threading.Thread):
    def __init__(self, target):
        super().__init__(daemon=True)
        self._target_fn = target
        self.result = None
        self.error: BaseException | None = None

    def run(self):
        try:
            self.result = self._target_fn()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connections.close_all()


@pytest.mark.parametrize(
    "pause_in",
    [
        # The batch has read consent (granted) and is about to write when the withdrawal commits.
        "signals_write",
        # The batch holds its lock but has not read consent yet when the withdrawal commits.
        "_active_consents",
    ],
)
def test_no_signal_survives_a_withdrawal_racing_a_batch(world, monkeypatch, pause_in):
    alice, platform = world.alice, world.p
    items = [design_item(f"race-{i}", "alice-at-p") for i in range(3000)] + [design_item(f"bob-{i}", "bob-at-p") for i in range(50)]
    paused, resume = threading.Event(), threading.Event()
    original = getattr(intake_services, pause_in)

    def pausing(*args, **kwargs):
        paused.set()
        assert resume.wait(30), "the test never resumed the batch"
        return original(*args, **kwargs)

    monkeypatch.setattr(intake_services, pause_in, pausing)

    batch = Thread(lambda: signals_ingest(platform=platform.obj, items=items, actor=Actor(kind="platform", id=platform.slug)))
    batch.start()
    assert paused.wait(20), "the batch never reached the pause"

    # The withdrawal commits while the batch is in flight; eager Celery runs the erasure right
    # after that commit, in the same thread, and it has to wait for the batch's lock.
    withdrawal = Thread(
        lambda: consent_change(
            consumer=alice.consumer,
            request=ConsentRequest(purpose_code="c2m-product-design", platform_slug=platform.slug, action="withdraw"),
            channel="api",
            actor=Actor(kind="consumer", id=str(alice.consumer.pseudonym)),
        )
    )
    withdrawal.start()
    _wait_for(lambda: Erasure.objects.filter(consumer=alice.consumer).exists(), "the withdrawal to commit")
    _wait_for(lambda: _advisory_waiters() >= 1 or not withdrawal.is_alive(), "the erasure to wait or finish")
    erasure_waited_for_the_batch = withdrawal.is_alive()

    resume.set()
    batch.join(30)
    withdrawal.join(30)
    assert batch.error is None and withdrawal.error is None, (batch.error, withdrawal.error)

    outcome = batch.result
    assert not Signal.objects.filter(consumer=alice.consumer, platform=platform.obj).exists()
    assert erasure_waited_for_the_batch
    assert Signal.objects.filter(consumer=world.bob.consumer).count() == 50
    erasure = Erasure.objects.get(consumer=alice.consumer)
    if pause_in == "signals_write":
        # The batch read the consent before the withdrawal: it stored alice's items, and the
        # erasure, which waited for it, removed every one.
        assert outcome.accepted == 3050 and erasure.signals == 3000
    else:
        # The batch read the consent after the withdrawal committed: it refused alice's items.
        assert outcome.accepted == 50 and erasure.signals == 0
        assert {r.code for r in outcome.rejected} == {"consent_required"} and len(outcome.rejected) == 3000


def test_batches_of_one_platform_do_not_wait_for_each_other(world, monkeypatch):
    """Two batches hold the shared lock at once; only an erasure is exclusive."""
    paused, resume = threading.Event(), threading.Event()
    original = intake_services.signals_write

    def pausing(*args, **kwargs):
        if threading.current_thread().name == "first":
            paused.set()
            assert resume.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(intake_services, "signals_write", pausing)
    actor = Actor(kind="platform", id=world.p.slug)
    first = Thread(lambda: signals_ingest(platform=world.p.obj, items=[design_item("one", "alice-at-p")], actor=actor))
    first.name = "first"
    first.start()
    assert paused.wait(20)
    second = Thread(lambda: signals_ingest(platform=world.p.obj, items=[design_item("two", "bob-at-p")], actor=actor))
    second.start()
    second.join(20)
    assert not second.is_alive() and second.error is None and second.result.accepted == 1
    resume.set()
    first.join(20)
    assert first.error is None and first.result.accepted == 1
