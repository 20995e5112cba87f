"""A given-up notice can be sent again on the manufacturer's request: a new round of
attempts to the callback registered now, the same signed body, audited; anything else is
refused with a clear 409 or 404 and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent
from clearinghouse.notices.models import Notice
from clearinghouse.notices.services import notice_deliver
from tests.notices.conftest import client_notices
from tests.notices.test_delivery import ended_job, keys, register


def given_up(client, url: str) -> Notice:
    """A notice whose every attempt at ``url`` failed."""
    register(client, url)
    notice = Notice.objects.get(job_id=ended_job(client))
    moment = notice.next_attempt_at
    while (retry_in := notice_deliver(notice_id=notice.pk, now=moment)) is not None:
        moment += timedelta(seconds=retry_in)
    notice.refresh_from_db()
    assert notice.state == Notice.GIVEN_UP and notice.attempts == 8
    return notice


def snapshot(notice: Notice) -> tuple:
    row = Notice.objects.get(pk=notice.pk)
    return (row.state, row.attempts, row.url, row.next_attempt_at, row.last_outcome, row.body)


def resend_events(notice: Notice) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.NOTICE_RESEND_REQUESTED, details__notice_id=str(notice.id)))


def test_a_given_up_notice_is_sent_again_to_the_callback_registered_now(world, dead_url, receiver, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    notice = given_up(client, dead_url)
    first_body = notice.body
    # The receiver is fixed and registered again at a new URL; then the manufacturer asks.
    register(client, receiver.url)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        response = client.post(f"/api/v1/notices/{notice.pk}/resend")
    assert response.status_code == 202, response.content
    shown = response.json()
    assert (shown["id"], shown["state"], shown["attempts"]) == (str(notice.pk), "pending", 0)
    assert len(sent) == 1  # the delivery task, sent after commit
    # The eager task may have run already; a due attempt now delivers if it did not.
    notice_deliver(notice_id=notice.pk, now=timezone.now() + timedelta(seconds=1))
    (got,) = receiver.received
    assert got.headers["Clearinghouse-Attempt"] == "1"
    assert got.body == first_body.encode()  # the same notice_id and body: a receiver deduplicates
    verified = client_notices().verify_notice(body=got.body, headers=got.headers, keys=keys(client))
    assert verified["notice_id"] == str(notice.pk)
    after = client.get(f"/api/v1/notices/{notice.pk}").json()
    assert (after["state"], after["attempts"], after["last_outcome"]) == ("delivered", 1, "http_204")
    (event,) = resend_events(notice)
    assert event.actor_kind == "manufacturer" and event.target == f"release:{notice.job_id}"
    assert event.details["given_up_after"] == 8 and event.details["host"] == "127.0.0.1"
    assert receiver.url not in str(event.details)  # the host and a digest, never the URL


def test_a_resent_notice_that_fails_again_is_given_up_again_after_a_full_round(world, dead_url):
    client = world.manufacturer.client()
    notice = given_up(client, dead_url)
    assert client.post(f"/api/v1/notices/{notice.pk}/resend").status_code == 202
    moment = Notice.objects.get(pk=notice.pk).next_attempt_at
    attempts = 0
    while True:
        attempts += 1
        retry_in = notice_deliver(notice_id=notice.pk, now=moment)
        if retry_in is None:
            break
        moment += timedelta(seconds=retry_in)
    row = Notice.objects.get(pk=notice.pk)
    assert (row.state, row.attempts, attempts) == (Notice.GIVEN_UP, 8, 8)


@pytest.mark.parametrize("state", [Notice.PENDING, Notice.DELIVERED, Notice.CANCELLED])
def test_only_a_given_up_notice_can_be_sent_again(world, dead_url, state):
    client = world.manufacturer.client()
    register(client, dead_url)
    notice = Notice.objects.get(job_id=ended_job(client))
    Notice.objects.filter(pk=notice.pk).update(state=state)
    before = snapshot(notice)
    response = client.post(f"/api/v1/notices/{notice.pk}/resend")
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "not_given_up" and error["details"] == {"state": state}
    assert state.replace("_", " ") in error["message"] and "given-up" in error["message"]
    assert snapshot(notice) == before and resend_events(notice) == []


def test_without_a_callback_the_resend_is_refused_and_the_notice_stays_given_up(world, dead_url):
    client = world.manufacturer.client()
    notice = given_up(client, dead_url)
    assert client.delete("/api/v1/callback").status_code == 204
    before = snapshot(notice)
    response = client.post(f"/api/v1/notices/{notice.pk}/resend")
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "no_callback" and "PUT /api/v1/callback" in error["message"]
    assert snapshot(notice) == before and resend_events(notice) == []


def test_another_manufacturers_notice_answers_like_a_missing_one_and_stays_given_up(world, make_manufacturer, dead_url):
    notice = given_up(world.manufacturer.client(), dead_url)
    theirs = make_manufacturer("otherco", ["furniture"]).client()
    register(theirs, "https://otherco.example/n")
    before = snapshot(notice)
    foreign = theirs.post(f"/api/v1/notices/{notice.pk}/resend")
    missing = theirs.post("/api/v1/notices/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11/resend")
    assert foreign.status_code == missing.status_code == 404 and foreign.json() == missing.json()
    assert snapshot(notice) == before and resend_events(notice) == []


def test_two_requests_start_one_round(world, dead_url):
    client = world.manufacturer.client()
    notice = given_up(client, dead_url)
    first = client.post(f"/api/v1/notices/{notice.pk}/resend")
    second = client.post(f"/api/v1/notices/{notice.pk}/resend")
    assert (first.status_code, second.status_code) == (202, 409)
    assert second.json()["error"]["details"] == {"state": "pending"}
    assert len(resend_events(notice)) == 1
