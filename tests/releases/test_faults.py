"""Faults: broker down, failures before the answer is committed, retries, a worker killed
mid-job, a purpose retired while a release waits."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.purposes import purpose_retire
from clearinghouse.core.actors import Actor
from clearinghouse.releases import services
from clearinghouse.releases.models import Allocation, ChargeChunk, PurposeBudget, Release
from clearinghouse.releases.services import release_compute, release_sweep
from clearinghouse.releases.tasks import release_compute_task
from tests.releases.conftest import PRODUCT

BODY = {"purpose": PRODUCT, "measure": "consumers", "group_by": ["category"], "epsilon": "0.5"}


def with_data(world, n=3):
    people = world.consumers(n)
    world.consent(people)
    world.signals(
        [
            {"consumer": p, "category": "furniture/sofa", "attribute": "fabric", "age_band": "25-34", "region": "CN-SH", "value": 2}
            for p in people
        ]
    )
    return people


def nothing_spent(world) -> None:
    assert Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT).spent == 0
    assert PurposeBudget.objects.get(purpose_code=PRODUCT).spent == 0
    assert not ChargeChunk.objects.exists()


def actions(release) -> list[str]:
    return list(AuditEvent.objects.filter(target=f"release:{release.id}").order_by("seq").values_list("action", flat=True))


@pytest.fixture
def unreachable_broker():
    """Point the Celery app at a port where nothing listens, as when Redis is down."""
    from clearinghouse.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool)
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app.conf.task_always_eager = False
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool = saved


def test_broker_down_answers_503_and_spends_nothing(transactional_db, world, unreachable_broker):
    with_data(world)
    started = time.monotonic()
    response = world.manufacturer.client().post("/api/v1/releases", BODY, format="json")
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "broker_unavailable"
    assert time.monotonic() - started < 10
    release = Release.objects.get()
    assert release.status == Release.FAILED and release.error_code == "broker_unavailable" and release.refunded_at
    nothing_spent(world)
    assert actions(release) == ["release.requested", "budget.reserved", "release.failed", "budget.refunded"]
    detail = world.manufacturer.client().get(f"/api/v1/releases/{release.id}").json()
    assert detail["status"] == "failed" and detail["error"]["refunded"] is True and detail["result"] is None


def test_the_same_request_works_once_the_broker_is_back(transactional_db, world, unreachable_broker):
    from clearinghouse.celery import app

    with_data(world)
    assert world.manufacturer.client().post("/api/v1/releases", BODY, format="json").status_code == 503
    app.conf.task_always_eager = True  # the broker is back (eager stands in for it here)
    response = world.manufacturer.client().post("/api/v1/releases", BODY, format="json")
    assert response.status_code == 202
    assert Release.objects.get(pk=response.json()["id"]).status == Release.DONE


def _request_without_job(world):
    sent = []
    original = services.release_publish
    services.release_publish = sent.append
    try:
        release, created = services.release_request(
            manufacturer=world.manufacturer.obj, body=BODY, actor=Actor(kind="manufacturer", id="chairco")
        )
    finally:
        services.release_publish = original
    assert created
    return release


def test_failure_before_noise_refunds_the_reservation(world, monkeypatch):
    with_data(world)
    release = _request_without_job(world)
    assert Allocation.objects.get(purpose_code=PRODUCT).spent == Decimal("0.5")

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "aggregate_compute", broken)
    release = release_compute(release_id=release.id)
    assert release.status == Release.FAILED and release.error_code == "internal_error" and release.result is None
    nothing_spent(world)
    assert actions(release) == ["release.requested", "budget.reserved", "release.failed", "budget.refunded"]


def test_a_failure_after_the_draw_but_before_the_commit_releases_nothing(world, monkeypatch):
    """The noisy values live only in the job's transaction: if signing fails, the draw is
    rolled back unseen, nobody is charged, and the reservation is refunded."""
    with_data(world)
    release = _request_without_job(world)
    drawn = []
    original = services.release_document

    def document_then_fail(**kwargs):
        drawn.append(original(**kwargs))
        raise RuntimeError("signing key unavailable")

    monkeypatch.setattr(services, "release_document", document_then_fail)
    release = release_compute(release_id=release.id)
    assert drawn and release.status == Release.FAILED and release.result is None
    nothing_spent(world)


def test_a_retry_after_completion_changes_nothing(world):
    people = with_data(world)
    release = _request_without_job(world)
    first = release_compute(release_id=release.id)
    assert first.status == Release.DONE
    chunks = list(ChargeChunk.objects.values_list("chunk", "bits"))
    for _ in range(2):
        again = release_compute(release_id=release.id)
        assert again.result == first.result  # the stored answer, not a second draw
    assert list(ChargeChunk.objects.values_list("chunk", "bits")) == chunks
    assert actions(release).count("release.completed") == 1
    assert Allocation.objects.get(purpose_code=PRODUCT).spent == Decimal("0.5")
    assert len(people) == 3


def test_a_live_attempt_is_not_duplicated(world):
    with_data(world)
    release = _request_without_job(world)
    Release.objects.filter(pk=release.pk).update(status=Release.RUNNING, attempts=1, lease_until=timezone.now() + timedelta(minutes=5))
    assert release_compute(release_id=release.id).status == Release.RUNNING
    assert not ChargeChunk.objects.exists()


def test_a_purpose_retired_while_queued_is_refused_and_refunded(world):
    with_data(world)
    release = _request_without_job(world)
    purpose_retire(purpose=world.purposes[PRODUCT], actor=Actor.operator())
    release = release_compute(release_id=release.id)
    assert release.status == Release.REFUSED and release.error_code == "purpose_not_approved"
    nothing_spent(world)
    refused = AuditEvent.objects.filter(action="release.refused", target=f"release:{release.id}").get()
    assert refused.details["code"] == "purpose_not_approved" and refused.details["release_id"] == str(release.id)


def test_sweeper_resends_lost_jobs_and_gives_up_with_a_refund(world, settings):
    with_data(world)
    lost = _request_without_job(world)
    assert release_sweep().resent == 0  # too recent to be lost
    report = release_sweep(now=timezone.now() + timedelta(seconds=settings.CH_RELEASE_RESEND_SECONDS + 1))
    assert report.resent == 1
    assert Release.objects.get(pk=lost.pk).status == Release.DONE
    other = services.release_request(
        manufacturer=world.manufacturer.obj, body=BODY | {"epsilon": "0.25"}, actor=Actor(kind="manufacturer", id="chairco")
    )[0]
    Release.objects.filter(pk=other.pk).update(
        status=Release.RUNNING, attempts=settings.CH_RELEASE_MAX_ATTEMPTS, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert release_sweep().failed == 1
    other.refresh_from_db()
    assert other.status == Release.FAILED and other.error_code == "too_many_attempts" and other.refunded_at
    assert Allocation.objects.get(purpose_code=PRODUCT).spent == Decimal("0.5")


@pytest.mark.postgres
@pytest.mark.redis
def test_worker_killed_after_drawing_noise_completes_once_with_one_answer(world, celery_worker_factory):
    """A real worker is stopped dead after it drew the noise and signed the answer, before
    its transaction committed: the test holds an uncommitted charge row with the key the
    job is about to write, so the job waits on it right after the draw. Nothing the job
    did survives; a second worker takes the release over and completes it once; a
    redelivered message finds it done."""
    people = with_data(world, 5)
    settings_dict = connection.settings_dict
    holder = psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"] or None,
    )
    try:
        response = world.manufacturer.client().post("/api/v1/releases", BODY, format="json")  # queued on Redis, no worker yet
        assert response.status_code == 202
        release_id = response.json()["id"]
        # The job's first charge bitmap is the chunk of the smallest contributor's id (ids
        # keep growing over the whole suite, so it is not always chunk 0).
        first_chunk = min(person.id for person in people) // ChargeChunk.CHUNK_BITS
        holder.execute("INSERT INTO releases_chargechunk (release_id, chunk, bits) VALUES (%s, %s, %s)", [release_id, first_chunk, b""])
        first = celery_worker_factory(extra_env={"CH_RELEASE_LEASE_SECONDS": "1"})
        deadline = time.monotonic() + 60
        while True:
            # The holder is inside its transaction, and PostgreSQL reads pg_stat_activity
            # once per transaction: without clearing that snapshot every poll would see the
            # first one's, and a job that blocked after it would never be seen (how this
            # test timed out in CI on a slower machine).
            holder.execute("SELECT pg_stat_clear_snapshot()")
            waiting = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            if waiting:
                break
            assert time.monotonic() < deadline, first.diagnosis()
            time.sleep(0.1)
        release = Release.objects.get(pk=release_id)
        assert release.status == Release.RUNNING and release.attempts == 1
        first.kill()
    finally:
        holder.rollback()
        holder.close()
    time.sleep(0.2)
    release = Release.objects.get(pk=release_id)
    assert release.status == Release.RUNNING and release.result is None
    assert not ChargeChunk.objects.exists()
    assert Allocation.objects.get(purpose_code=PRODUCT).spent == Decimal("0.5")  # still reserved, not spent twice

    second = celery_worker_factory(extra_env={"CH_RELEASE_LEASE_SECONDS": "1"})
    time.sleep(1.1)  # the dead worker's lease runs out
    assert release_sweep().resent == 1
    deadline = time.monotonic() + 60
    while Release.objects.get(pk=release_id).status != Release.DONE:
        assert time.monotonic() < deadline, second.diagnosis()
        time.sleep(0.1)
    done = Release.objects.get(pk=release_id)
    assert done.attempts == 2
    answer = done.result
    # The original message, redelivered, finds the release done and changes nothing.
    release_compute_task.delay(release_id)
    release_compute_task.delay(release_id)
    time.sleep(1.5)
    assert Release.objects.get(pk=release_id).result == answer
    assert actions(done).count("release.completed") == 1
    assert ChargeChunk.objects.filter(release_id=release_id).count() == 1
    assert Allocation.objects.get(purpose_code=PRODUCT).spent == Decimal("0.5")
    assert len(people) == 5
