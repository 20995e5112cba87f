"""Concurrent writers on PostgreSQL: nobody waits for the seal lock, and still every
committed event ends up in one unforked chain, in an order consistent with its commit."""

import threading

import pytest
from django.db import connection, connections, transaction

from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.selectors import audit_chain_verify, audit_pending_count
from clearinghouse.audit.services import audit_append, audit_record, audit_seal
from clearinghouse.core.actors import Actor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
SYSTEM = Actor.system("tests")


def in_thread(target):
    errors = []

    def run():
        try:
            target()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_many_concurrent_writers_leave_nothing_unsealed():
    def writer(number):
        return lambda: [audit_record(actor=SYSTEM, action="test.concurrent", details={"writer": number, "n": n}) for n in range(40)]

    started = [in_thread(writer(number)) for number in range(8)]
    for thread, errors in started:
        thread.join(60)
        assert not errors
    # No explicit seal: the last lock holder must have picked up everything.
    assert audit_pending_count() == 0
    result = audit_chain_verify()
    assert result.ok, result.reason
    assert result.checked == 320
    # Each writer's events appear in the order it wrote them.
    for number in range(8):
        ns = [event.details["n"] for event in AuditEvent.objects.filter(details__writer=number).order_by("seq")]
        assert ns == list(range(40))


def test_events_committed_while_another_transaction_holds_the_lock_are_sealed_when_it_commits():
    holder_sealed = threading.Event()
    release = threading.Event()

    def holder():
        with transaction.atomic():
            event = audit_append(actor=SYSTEM, action="test.holder")
            assert event.seq == 1  # sealed at once: the lock was free
            holder_sealed.set()
            release.wait(30)

    thread, errors = in_thread(holder)
    assert holder_sealed.wait(30)
    waiting = audit_record(actor=SYSTEM, action="test.waiter")
    assert waiting.seq is None  # the lock was taken; nobody waited for it
    assert audit_pending_count() == 1
    release.set()
    thread.join(30)
    assert not errors
    assert list(AuditEvent.objects.order_by("seq").values_list("action", "seq")) == [("test.holder", 1), ("test.waiter", 2)]


def test_if_the_lock_holder_rolls_back_the_backstop_seals_what_waited():
    holder_ready = threading.Event()
    release = threading.Event()

    def holder():
        try:
            with transaction.atomic():
                audit_append(actor=SYSTEM, action="test.holder")
                holder_ready.set()
                release.wait(30)
                raise RuntimeError("the holder's action failed")
        except RuntimeError:
            pass

    thread, errors = in_thread(holder)
    assert holder_ready.wait(30)
    audit_record(actor=SYSTEM, action="test.waiter")
    release.set()
    thread.join(30)
    assert not errors
    assert audit_pending_count() == 1  # nobody committed after it: the beat task's job
    assert audit_seal() == 1
    assert list(AuditEvent.objects.values_list("action", "seq")) == [("test.waiter", 1)]
    assert audit_chain_verify().ok


def test_later_events_of_a_transaction_do_not_overtake_an_earlier_one_that_waited():
    holder_ready = threading.Event()
    release = threading.Event()

    def holder():
        with transaction.atomic():
            audit_append(actor=SYSTEM, action="test.holder")
            holder_ready.set()
            release.wait(30)

    thread, errors = in_thread(holder)
    assert holder_ready.wait(30)
    with transaction.atomic():
        first = audit_append(actor=SYSTEM, action="test.first")
        assert first.seq is None
        release.set()
        thread.join(30)
        second = audit_append(actor=SYSTEM, action="test.second")  # the lock is free by now
        assert second.seq is None
    assert not errors
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == ["test.holder", "test.first", "test.second"]


def test_sealing_inside_a_repeatable_read_transaction_is_left_to_the_sealer():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        event = audit_append(actor=SYSTEM, action="test.event")
    # The connection's configured level is what audit_append can see; it must not seal
    # from a stale snapshot either way, and the chain must stay intact.
    assert audit_pending_count() == 0 or audit_seal() == 1
    assert AuditEvent.objects.get(pk=event.pk).seq == 1
    assert audit_chain_verify().ok


def test_parallel_verification_in_worker_processes_agrees_and_names_the_break():
    from clearinghouse.audit.services import audit_checkpoint_sign
    from tests.audit.conftest import make_events
    from tests.audit.test_verify import tamper

    make_events(700)
    audit_checkpoint_sign()
    make_events(200)
    audit_checkpoint_sign()
    sequential = audit_chain_verify(workers=1, chunk=256)
    parallel = audit_chain_verify(workers=3, chunk=256)
    assert sequential.ok and parallel.ok
    assert (parallel.checked, parallel.root_hash, parallel.head_hash, parallel.checkpoints_checked) == (
        sequential.checked,
        sequential.root_hash,
        sequential.head_hash,
        2,
    )
    with transaction.atomic():
        tamper("UPDATE audit_auditevent SET outcome = 'error' WHERE seq = 600")
    broken = audit_chain_verify(workers=3, chunk=256)
    assert not broken.ok and broken.first_bad_seq == 600 and "leaf hash" in broken.reason


def test_a_long_transaction_in_another_database_does_not_hold_the_sealer_back():
    import psycopg

    from clearinghouse.audit.models import AuditSealHorizon

    db = connection.settings_dict
    other = psycopg.connect(dbname="postgres", host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or None)
    try:
        other_xid = int(other.execute("SELECT pg_current_xact_id()::text").fetchone()[0])  # stays open, with an id
        for n in range(3):
            audit_record(actor=SYSTEM, action="test.event", details={"n": n})
        audit_seal()
        horizon = AuditSealHorizon.objects.get(pk=1).xid
        assert horizon > other_xid
        assert audit_pending_count() == 0 and audit_chain_verify().ok
    finally:
        other.rollback()
        other.close()


def test_the_sweep_seals_an_event_below_the_horizon():
    from clearinghouse.audit.models import AuditSealHorizon

    audit_record(actor=SYSTEM, action="test.event")
    audit_seal()
    with transaction.atomic(), connection.cursor() as cursor:
        # An unsealed row the horizon search cannot see (as if written by a transaction
        # invisible to pg_stat_activity): only the sweep finds it.
        cursor.execute(
            "INSERT INTO audit_auditevent (xid, time, actor_kind, actor_id, action, target, outcome, details, leaf_hash) "
            "VALUES (1, now(), 'system', 'x', 'test.hidden', '', 'ok', '{}', %s)",
            ["ab" * 32],
        )
    assert AuditSealHorizon.objects.get(pk=1).xid > 1
    audit_seal()
    assert audit_pending_count() == 1
    assert audit_seal(sweep=True) == 1
    assert audit_pending_count() == 0


def test_with_a_dedicated_sealer_writers_do_nothing_after_commit_and_the_sealer_seals(settings):
    from clearinghouse.audit.services import audit_sealer_run

    settings.CH_AUDIT_SEALER = "process"
    holder_ready, release = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():
            audit_append(actor=SYSTEM, action="test.holder")
            holder_ready.set()
            release.wait(30)

    thread, errors = in_thread(holder)
    assert holder_ready.wait(30)
    audit_record(actor=SYSTEM, action="test.waiter")
    release.set()
    thread.join(30)
    assert not errors
    assert audit_pending_count() == 2  # writers leave every event to the dedicated sealer

    stop = threading.Event()
    sealer, sealer_errors = in_thread(lambda: audit_sealer_run(stop=stop.is_set, idle_seconds=0.2))
    try:
        writers = [
            in_thread(lambda n=n: [audit_record(actor=SYSTEM, action="test.concurrent", details={"w": n, "i": i}) for i in range(20)])
            for n in range(6)
        ]
        for writer, writer_errors in writers:
            writer.join(60)
            assert not writer_errors
        import time

        deadline = time.monotonic() + 20
        while audit_pending_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert audit_pending_count() == 0
    finally:
        stop.set()
        sealer.join(30)
    assert not sealer_errors
    result = audit_chain_verify()
    assert result.ok and result.checked == 122
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)[:2]) == ["test.holder", "test.waiter"]


def test_the_sealer_command_stops_on_sigterm(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    db = connection.settings_dict
    env = dict(
        os.environ,
        CH_ENV="test",
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"postgres://{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    )
    env.pop("DATABASE_TEST_NAME", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "audit_sealer", "--idle-seconds", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT * FROM audit_append_event(now(), 'system', 'x', 'test.event', '', 'ok', '{}', %s, false, 0)",
                [__import__("clearinghouse.audit.chain", fromlist=["entry_leaf_hash"]).entry_leaf_hash({"x": 1})],
            )
        deadline = time.monotonic() + 20
        while audit_pending_count() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert audit_pending_count() == 0  # the sealer found the event and sealed it
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped after sealing 1 events" in output
