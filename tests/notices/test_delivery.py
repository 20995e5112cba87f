"""A job's end reaches the manufacturer's callback as a signed notice: delivered, retried with
backoff, given up, each attempt audited, never before the job may be seen."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent
from clearinghouse.notices.models import Notice
from clearinghouse.notices.services import notice_deliver, notices_resend
from clearinghouse.releases.models import Release
from clearinghouse.releases.services import release_close
from tests.notices.conftest import PRODUCT, client_notices
from tests.releases.test_flow import request as release_post

TREND_WEEKS = {"since": "2026-01-05", "until": "2026-03-01"}
BODIES = {
    "release": ("/api/v1/releases", {"purpose": PRODUCT, "measure": "consumers", "epsilon": "0.5"}),
    "report": ("/api/v1/reports", {"purpose": PRODUCT, "measure": "consumers", "marginals": [["age_band"]], "epsilon": "0.5"}),
    "trend": ("/api/v1/trends", {"purpose": "c2m-demand-forecast", "measure": "consumers", "filters": TREND_WEEKS, "epsilon": "0.5"}),
}


def register(client, url: str):
    response = client.put("/api/v1/callback", {"url": url}, format="json")
    assert response.status_code in (200, 201), response.content
    return response


def queued_job(client, kind: str) -> str:
    """A job of ``kind`` requested through the API; its task is never run (no on-commit)."""
    path, body = BODIES[kind]
    response = client.post(path, body, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def ended_job(client, kind: str = "release", status: str = Release.FAILED) -> str:
    job_id = queued_job(client, kind)
    release_close(release_id=job_id, status=status, code="internal_error", message="The job failed; nothing was spent.")
    return job_id


def attempts_audited(notice: Notice) -> list[AuditEvent]:
    actions = [AuditAction.NOTICE_DELIVERED, AuditAction.NOTICE_ATTEMPT_FAILED, AuditAction.NOTICE_GIVEN_UP]
    return list(AuditEvent.objects.filter(action__in=actions, details__notice_id=str(notice.id)).order_by("id"))


def keys(client) -> list[dict]:
    return client.get("/api/v1/keys").json()["keys"]


def test_a_done_release_is_notified_with_a_signed_notice_the_client_verifies(world, receiver, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    register(client, receiver.url)
    people = world.consumers(2)
    world.consent(people)
    world.signals([{"consumer": p, "category": "furniture/office-chair", "attribute": "lumbar-support"} for p in people])
    response = release_post(client, {"purpose": PRODUCT, "measure": "consumers", "epsilon": "0.5"}, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    release_id = response.json()["id"]
    notice = Notice.objects.get(job_id=release_id)
    # The eager task ran at commit; if the (0.001 s) visible time was not reached yet, the
    # next attempt after it delivers. Either way exactly one POST arrives.
    notice_deliver(notice_id=notice.pk, now=timezone.now() + timedelta(seconds=1))
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.path == "/hooks/clearinghouse"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Clearinghouse-Attempt"] == "1"
    verified = client_notices().verify_notice(body=got.body, headers=got.headers, keys=keys(client))
    detail = client.get(f"/api/v1/releases/{release_id}").json()
    assert detail["status"] == "done"
    assert verified == {
        "notice_id": str(notice.id),
        "kind": "release",
        "id": release_id,
        "status": "done",
        "manufacturer": "chairco",
        "url": f"/api/v1/releases/{release_id}",
        "occurred_at": verified["occurred_at"],
    }
    assert verified["occurred_at"].endswith("Z")
    assert datetime.fromisoformat(verified["occurred_at"]) == datetime.fromisoformat(detail["completed_at"])
    # The body is the canonical JSON of the notice, byte for byte.
    assert got.body == json.dumps(verified, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    published = {k["id"]: k for k in keys(client)}[got.headers["Clearinghouse-Key-Id"]]
    assert published["use"] == "notifications" and published["status"] == "current"
    # The manufacturer can see it was delivered; the attempt is in the audit log.
    listed = client.get("/api/v1/notices").json()["results"]
    assert [(n["id"], n["state"], n["attempts"], n["last_outcome"]) for n in listed] == [(str(notice.id), "delivered", 1, "http_204")]
    (event,) = attempts_audited(notice)
    assert event.action == AuditAction.NOTICE_DELIVERED and event.target == f"release:{release_id}"
    assert event.details["attempt"] == 1 and event.details["outcome"] == "http_204" and event.details["host"] == "127.0.0.1"


@pytest.mark.parametrize("kind", ["report", "trend"])
def test_reports_and_trends_that_end_are_notified_with_their_own_url(world, receiver, kind):
    client = world.manufacturer.client()
    register(client, receiver.url)
    job_id = ended_job(client, kind, status=Release.REFUSED)
    notice_deliver(notice_id=Notice.objects.get(job_id=job_id).pk)
    (got,) = receiver.received
    notice = client_notices().verify_notice(body=got.body, headers=got.headers, keys=keys(client))
    assert (notice["kind"], notice["id"], notice["status"]) == (kind, job_id, "refused")
    assert notice["url"] == f"/api/v1/{kind}s/{job_id}"
    assert client.get(notice["url"]).json()["status"] == "refused"


def test_a_receiver_that_is_down_is_retried_with_backoff_then_given_up(world, dead_url):
    client = world.manufacturer.client()
    register(client, dead_url)
    notice = Notice.objects.get(job_id=ended_job(client))
    schedule = settings.CH_NOTICE_RETRY_SCHEDULE
    assert len(schedule) + 1 == 8 and 3000 <= sum(schedule) <= 4000  # 8 attempts over about an hour
    moment = notice.next_attempt_at
    waits = []
    for attempt in range(1, len(schedule) + 2):
        # Not before it is due: nothing is claimed, nothing is sent.
        assert notice_deliver(notice_id=notice.pk, now=moment - timedelta(seconds=1)) is None
        assert Notice.objects.get(pk=notice.pk).attempts == attempt - 1
        retry_in = notice_deliver(notice_id=notice.pk, now=moment)
        notice.refresh_from_db()
        assert notice.attempts == attempt and notice.last_outcome == "connection_refused"
        if retry_in is None:
            break
        waits.append(retry_in)
        assert notice.state == Notice.PENDING and notice.next_attempt_at == moment + timedelta(seconds=retry_in)
        moment = notice.next_attempt_at
    assert waits == [float(wait) for wait in schedule]
    assert waits == sorted(waits) and waits[-1] > 10 * waits[0]  # backing off
    assert notice.state == Notice.GIVEN_UP and notice.attempts == 8
    # Given up is final: a late task or the resend job changes nothing.
    assert notice_deliver(notice_id=notice.pk, now=moment + timedelta(days=1)) is None
    assert Notice.objects.get(pk=notice.pk).attempts == 8
    events = attempts_audited(notice)
    assert [e.details["attempt"] for e in events] == list(range(1, 9))
    assert [e.action for e in events] == [AuditAction.NOTICE_ATTEMPT_FAILED] * 7 + [AuditAction.NOTICE_GIVEN_UP]
    assert {e.details["outcome"] for e in events} == {"connection_refused"} and {e.outcome for e in events} == {"error"}
    assert "retry_at" in events[0].details and "retry_at" not in events[-1].details
    shown = client.get(f"/api/v1/notices/{notice.pk}").json()
    assert (shown["state"], shown["attempts"], shown["last_outcome"]) == ("given_up", 8, "connection_refused")


def test_a_receiver_that_answers_500_gets_the_same_notice_again_and_then_has_it(world, receiver):
    receiver.statuses[:] = [500, 200]
    client = world.manufacturer.client()
    register(client, receiver.url)
    notice = Notice.objects.get(job_id=ended_job(client))
    first = notice.next_attempt_at
    assert notice_deliver(notice_id=notice.pk, now=first) == settings.CH_NOTICE_RETRY_SCHEDULE[0]
    assert notice_deliver(notice_id=notice.pk, now=first + timedelta(seconds=5)) is None  # not due yet
    assert notice_deliver(notice_id=notice.pk, now=first + timedelta(seconds=settings.CH_NOTICE_RETRY_SCHEDULE[0])) is None
    notice.refresh_from_db()
    assert (notice.state, notice.attempts, notice.last_outcome) == (Notice.DELIVERED, 2, "http_200")
    assert [r.headers["Clearinghouse-Attempt"] for r in receiver.received] == ["1", "2"]
    assert receiver.received[0].body == receiver.received[1].body  # one notice_id to deduplicate on
    for got in receiver.received:
        assert client_notices().verify_notice(body=got.body, headers=got.headers, keys=keys(client))["notice_id"] == str(notice.pk)
    events = attempts_audited(notice)
    assert [(e.action, e.details["attempt"], e.details["outcome"]) for e in events] == [
        (AuditAction.NOTICE_ATTEMPT_FAILED, 1, "http_500"),
        (AuditAction.NOTICE_DELIVERED, 2, "http_200"),
    ]


def test_a_done_job_is_not_notified_before_it_may_be_seen(world, receiver, settings, django_capture_on_commit_callbacks):
    settings.CH_RELEASE_VISIBLE_STEP_SECONDS = 60
    client = world.manufacturer.client()
    register(client, receiver.url)
    response = release_post(client, {"purpose": PRODUCT, "measure": "signals", "epsilon": "0.5"}, django_capture_on_commit_callbacks)
    release = Release.objects.get(pk=response.json()["id"])
    assert release.status == Release.DONE
    notice = Notice.objects.get(job_id=release.pk)
    assert notice.next_attempt_at == release.created_at + timedelta(seconds=60)
    assert notice_deliver(notice_id=notice.pk, now=release.completed_at + timedelta(seconds=1)) is None
    assert receiver.received == []  # the eager task at commit sent nothing either
    assert client.get(f"/api/v1/releases/{release.pk}").json()["status"] == "running"
    # Nor does the list of notices tell it before then.
    assert client.get("/api/v1/notices").json()["count"] == 0
    assert client.get(f"/api/v1/notices/{notice.pk}").status_code == 404
    notice_deliver(notice_id=notice.pk, now=notice.next_attempt_at)
    (got,) = receiver.received
    assert json.loads(got.body)["occurred_at"] == notice.next_attempt_at.isoformat(timespec="microseconds").replace("+00:00", "Z")


def test_no_callback_no_notice_and_the_job_ends_as_before(world):
    client = world.manufacturer.client()
    job_id = ended_job(client)
    assert Release.objects.get(pk=job_id).status == Release.FAILED
    assert not Notice.objects.exists()


def test_an_address_refused_at_connect_time_gets_nothing(world, receiver, settings):
    client = world.manufacturer.client()
    register(client, receiver.url)  # allowed when registered (loopback allowed for tests)
    settings.CH_NOTICE_ALLOW_LOOPBACK = False  # as in production
    notice = Notice.objects.get(job_id=ended_job(client))
    notice_deliver(notice_id=notice.pk)
    notice.refresh_from_db()
    assert notice.last_outcome == "loopback_address" and notice.state == Notice.PENDING
    assert receiver.received == []


def test_the_resend_job_sends_a_notice_whose_task_was_lost(world, receiver):
    client = world.manufacturer.client()
    register(client, receiver.url)
    notice = Notice.objects.get(job_id=ended_job(client))
    Notice.objects.filter(pk=notice.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))  # the broker was down
    assert notices_resend() == 1  # eager in tests: the task runs now
    assert Notice.objects.get(pk=notice.pk).state == Notice.DELIVERED
    assert len(receiver.received) == 1
    assert notices_resend() == 0


def test_replacing_the_callback_redirects_waiting_notices_and_removing_it_cancels_them(world, receiver, dead_url):
    client = world.manufacturer.client()
    register(client, dead_url)
    waiting = Notice.objects.get(job_id=ended_job(client))
    notice_deliver(notice_id=waiting.pk, now=waiting.next_attempt_at)  # fails: nobody listens
    assert register(client, receiver.url).status_code == 200
    waiting.refresh_from_db()
    notice_deliver(notice_id=waiting.pk, now=waiting.next_attempt_at)
    assert Notice.objects.get(pk=waiting.pk).state == Notice.DELIVERED and len(receiver.received) == 1
    other = Notice.objects.get(job_id=ended_job(client))
    assert client.delete("/api/v1/callback").status_code == 204
    assert Notice.objects.get(pk=other.pk).state == Notice.CANCELLED
    assert notice_deliver(notice_id=other.pk, now=timezone.now() + timedelta(days=1)) is None
    assert len(receiver.received) == 1
    assert ended_job(client) and Notice.objects.count() == 2  # no callback, no new notice


def test_a_notice_that_cannot_be_recorded_never_undoes_the_jobs_end(world, receiver, monkeypatch):
    from clearinghouse.notices import services

    client = world.manufacturer.client()
    register(client, receiver.url)

    def broken(document):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "canonical_json", broken)
    job_id = ended_job(client)
    assert Release.objects.get(pk=job_id).status == Release.FAILED
    assert Release.objects.get(pk=job_id).refunded_at is not None
    assert not Notice.objects.exists()


def test_a_last_attempt_whose_worker_died_is_given_up_by_the_resend_job(world, dead_url, settings):
    from clearinghouse.notices.services import notice_claim

    settings.CH_NOTICE_RETRY_SCHEDULE = [30]  # two attempts
    client = world.manufacturer.client()
    register(client, dead_url)
    notice = Notice.objects.get(job_id=ended_job(client))
    start = notice.next_attempt_at
    assert notice_deliver(notice_id=notice.pk, now=start) == 30
    assert notice_claim(notice_id=notice.pk, now=start + timedelta(seconds=30)) == 2  # ... and the worker dies
    assert notices_resend(now=start + timedelta(seconds=45)) == 0  # its lease still runs: nothing to do
    assert Notice.objects.get(pk=notice.pk).state == Notice.PENDING
    assert notices_resend(now=start + timedelta(minutes=10)) == 0  # nothing left to try...
    notice.refresh_from_db()
    assert (notice.state, notice.attempts, notice.last_outcome) == (Notice.GIVEN_UP, 2, "attempt_lost")
    assert [(e.action, e.details["attempt"], e.details["outcome"]) for e in attempts_audited(notice)] == [
        (AuditAction.NOTICE_ATTEMPT_FAILED, 1, "connection_refused"),
        (AuditAction.NOTICE_GIVEN_UP, 2, "attempt_lost"),
    ]


def test_a_broker_that_is_down_loses_no_notice(world, receiver, monkeypatch, django_capture_on_commit_callbacks):
    import kombu.exceptions

    from clearinghouse.notices import tasks

    def down(*args, **kwargs):
        raise kombu.exceptions.OperationalError("connection refused")

    client = world.manufacturer.client()
    register(client, receiver.url)
    with monkeypatch.context() as patched:
        patched.setattr(tasks.notice_deliver_task, "apply_async", down)
        with django_capture_on_commit_callbacks(execute=True):
            job_id = ended_job(client)  # the job's end commits; sending its notice's task fails
    assert Release.objects.get(pk=job_id).status == Release.FAILED
    notice = Notice.objects.get(job_id=job_id)
    assert notice.state == Notice.PENDING and notice.attempts == 0 and receiver.received == []
    Notice.objects.filter(pk=notice.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    assert notices_resend() == 1  # the broker is back
    assert Notice.objects.get(pk=notice.pk).state == Notice.DELIVERED and len(receiver.received) == 1
