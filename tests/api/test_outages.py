"""Redis (cache and broker) down: 503 in the error format with Retry-After, never 500.

Decision (README, docs/architecture.md): throttling fails closed. Every request that
must consult a throttle counter (login, token, sign-up, link redemption, the public audit
endpoints) answers 503 while Redis is unreachable, rather than letting guesses through
unthrottled. Sessions live in PostgreSQL, so people already logged in keep working. A
change that committed still answers with its success (a withdrawal returns its receipt)
and its follow-up work waits in the database for the broker to come back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from clearinghouse.consent.models import ConsentState
from clearinghouse.intake.erasure import erasures_resend
from clearinghouse.intake.models import Erasure, Signal
from tests.conftest import PASSWORD
from tests.intake.conftest import store_signals

DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DOWN,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.fixture
def unreachable_broker():
    """Point the Celery app at a port where nothing listens, as when Redis is down."""
    from clearinghouse.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool)
    app.conf.broker_url = DOWN
    app.conf.task_always_eager = False
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool = saved


def assert_503(response) -> None:
    assert response.status_code == 503, (response.status_code, response.content[:300])
    assert response["Retry-After"] == "30"
    error = response.json()["error"]
    assert error["code"] == "unavailable" and error["details"] == {"retry_after_seconds": 30}


def test_token_answers_503_when_the_throttle_store_is_down(consumer_a, redis_down):
    assert_503(APIClient().post("/api/v1/auth/token", {"username": consumer_a.username, "password": PASSWORD}, format="json"))


def test_registration_answers_503(db, redis_down):
    body = {"username": "newcomer", "password": "a-long-passphrase-1", "age_confirmed": True}
    assert_503(APIClient().post("/api/v1/consumers", body, format="json"))


def test_link_redemption_answers_503(platform_p, redis_down):
    assert_503(platform_p.client().post("/api/v1/platform/links", {"code": "ABCDE-FGHJK", "subject_ref": "x"}, format="json"))


def test_public_checkpoint_answers_503(db, redis_down):
    assert_503(APIClient().get("/api/v1/audit/checkpoints/latest"))


def test_portal_login_answers_a_bilingual_503_page(consumer_a, redis_down):
    response = Client(raise_request_exception=False).post("/login/", {"username": consumer_a.username, "password": PASSWORD})
    assert response.status_code == 503 and response["Retry-After"] == "30"
    page = response.content.decode()
    assert "暂时无法使用" in page and "Temporarily unavailable" in page


def test_logged_in_people_keep_working_because_sessions_are_in_the_database(consumer_a, purposes, redis_down):
    client = Client(raise_request_exception=False)
    client.force_login(consumer_a.consumer.user)
    assert client.get("/").status_code == 200
    assert consumer_a.client().get("/api/v1/me/consents").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_with_the_broker_down_returns_its_receipt_and_its_erasure_runs_when_it_is_back(
    consumer_a, platform_p, purposes, unreachable_broker
):
    from tests.conftest import grant_body, link_subject

    design = purposes["c2m-product-design"]
    link_subject(consumer_a, platform_p, "alice-at-p")
    assert consumer_a.client().post("/api/v1/me/consents", grant_body(design, platform_p.slug), format="json").status_code == 201
    store_signals(consumer=consumer_a, platform=platform_p, purpose=design, count=3, prefix="a")

    response = consumer_a.client().post(
        "/api/v1/me/consents", {"purpose": design.code, "platform": platform_p.slug, "action": "withdraw"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["receipt"]["payload"]["state"] == "withdrawn"
    assert not ConsentState.objects.get(consumer=consumer_a.consumer, platform=platform_p.obj).granted
    erasure = Erasure.objects.get()
    assert erasure.completed_at is None  # queued durably, not lost
    assert Signal.objects.count() == 3


def test_the_outbox_resend_runs_a_pending_erasure_once_the_broker_is_back(consumer_a, platform_p, purposes, settings):
    from clearinghouse.intake.erasure import erasure_request

    design = purposes["c2m-product-design"]
    store_signals(consumer=consumer_a, platform=platform_p, purpose=design, count=2, prefix="b")
    erasure = erasure_request(consumer_id=consumer_a.consumer.pk, purpose_code=design.code, platform_id=platform_p.obj.pk)
    assert settings.CH_ERASURE_RESEND_SECONDS == 30
    assert erasures_resend() == 0  # younger than the resend delay
    Erasure.objects.filter(pk=erasure.pk).update(requested_at=erasure.requested_at - timedelta(seconds=31))
    assert erasures_resend() == 1  # eager Celery runs it here, as a worker would
    erasure.refresh_from_db()
    assert erasure.completed_at is not None and erasure.signals == 2
    assert not Signal.objects.exists()


def test_resend_and_release_sweep_run_often_enough_to_recover_within_a_minute(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    resend = schedule["intake-erasures-resend"]["schedule"].total_seconds()
    assert resend + settings.CH_ERASURE_RESEND_SECONDS <= 60
    sweep = schedule["releases-sweep"]["schedule"].total_seconds()
    assert sweep + settings.CH_RELEASE_LEASE_SECONDS <= 60
