"""The client's typed errors, each carrying the API's code, status and details, and wait()'s
backoff, timeout and refused jobs."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import pytest
import requests
from clearinghouse_client import (
    AccuracyUnreachable,
    AuthError,
    BudgetExhausted,
    ClearinghouseError,
    Client,
    ConflictError,
    JobError,
    JobRefused,
    NotFoundError,
    SignatureError,
    UnavailableError,
    ValidationError,
    WaitTimeout,
)

from clearinghouse.consent.models import Purpose
from clearinghouse.core.actors import Actor
from clearinghouse.releases import services as release_services
from clearinghouse.releases.budgets import budget_allocate
from clearinghouse.releases.models import Release
from tests.clients.conftest import TWO_TABLES, chair_release, flower_trend, spent
from tests.releases.conftest import PRODUCT

pytestmark = pytest.mark.django_db(transaction=True)


# --- Typed errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("release", chair_release(measure="median"), "measure"),
        ("report", TWO_TABLES | {"epsilon": "0.5", "marginals": []}, "marginals"),
        ("trend", flower_trend(forecast_weeks=27), "forecast_weeks"),
    ],
)
def test_bad_bodies_are_validation_errors_and_spend_nothing(connect, market, kind, body, field):
    client = connect("en")
    with pytest.raises(ValidationError) as caught:
        getattr(client, kind)(**body)
    error = caught.value
    assert isinstance(error, ClearinghouseError) and error.status == 400
    assert error.detail.get("field", "").startswith(field)
    assert error.code and error.message
    assert f"400 {error.code}" in str(error)
    assert not Release.objects.exists()


def test_accuracy_out_of_reach_is_its_own_error(connect):
    with pytest.raises(AccuracyUnreachable) as caught:
        connect("en").report(**TWO_TABLES, accuracy=1)
    assert isinstance(caught.value, ValidationError)
    assert caught.value.code == "accuracy_unreachable" and caught.value.status == 400
    assert Decimal(caught.value.detail["epsilon_needed"]) > Decimal(caught.value.detail["max_epsilon_per_release"])
    assert caught.value.detail["field"] == "accuracy.half_width"


def test_a_wrong_key_and_a_key_of_another_kind_are_auth_errors(connect, market):
    with pytest.raises(AuthError) as unknown:
        connect("en", key="chm_not-a-key").budget()
    assert unknown.value.status == 401 and unknown.value.code == "unauthenticated"
    with pytest.raises(AuthError) as platform:
        connect("en", key=market.platform.key).catalog()  # a platform's key may not read a catalogue
    assert platform.value.status == 403 and platform.value.code == "forbidden"


def test_not_found_for_a_missing_job_and_for_another_manufacturers(connect, make_manufacturer):
    client = connect("en")
    with pytest.raises(NotFoundError) as caught:
        client.job("release", str(uuid.uuid4()))
    assert caught.value.status == 404 and caught.value.code == "not_found"

    mine = client.release(**chair_release()).wait(timeout=60)
    rival = make_manufacturer("rivalchairs", ["furniture"])
    with pytest.raises(NotFoundError):
        connect("en", key=rival.key).job("release", mine.id)


def test_budget_exhausted_is_a_409_with_what_is_left_and_nothing_queued(connect, market):
    client = connect("en")
    budget_allocate(manufacturer_slug=market.manufacturer.slug, purpose_code=PRODUCT, epsilon="0.3", period=None, actor=Actor.operator())
    row = next(b for b in client.budget()["budgets"] if b["purpose"] == PRODUCT and b["period"] == client.budget()["period"])
    assert Decimal(row["remaining"]) == Decimal("0.3")
    with pytest.raises(BudgetExhausted) as caught:
        client.release(**chair_release(epsilon="0.5"))
    error = caught.value
    assert isinstance(error, ConflictError) and error.status == 409 and error.code == "budget_exhausted"
    assert Decimal(error.detail["remaining"]) == Decimal("0.3") and error.detail["scope"] == "allocation"
    assert not Release.objects.exists() and spent(market) == 0


# --- Waiting -----------------------------------------------------------------------------------


def test_wait_gives_up_after_its_timeout_while_the_job_is_not_yet_shown(connect, settings, monkeypatch):
    # The job is computed at once, but shown as running until the next 10-minute step.
    settings.CH_RELEASE_VISIBLE_STEP_SECONDS = 600
    job = connect("en").release(**chair_release())
    # The client's clock, stood still except for its own pauses: the deadline it keeps is then
    # exact, whatever the machine's load does to the HTTP round trips.
    from types import SimpleNamespace

    import clearinghouse_client.client as client_module

    clock = {"now": 1000.0}
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(client_module, "time", SimpleNamespace(monotonic=lambda: clock["now"], sleep=pause))
    with pytest.raises(WaitTimeout) as caught:
        job.wait(timeout=1.5, first_delay=0.1, sleep=pause)
    elapsed = clock["now"] - 1000.0
    assert elapsed == pytest.approx(1.5)  # it waited the whole timeout and not a moment more
    caps = [min(0.1 * 2**n, 5.0) for n in range(len(pauses))]
    assert all(cap / 2 <= paused <= cap for paused, cap in zip(pauses[:-1], caps, strict=False))  # jittered backoff
    assert pauses[-1] <= caps[-1] and len(pauses) >= 4
    assert caught.value.code == "timeout" and caught.value.last_status == "running" and caught.value.job is job
    assert Release.objects.get(pk=job.id).status == Release.DONE  # it goes on regardless
    with pytest.raises(SignatureError) as unsigned:
        job.verify()  # nothing shown yet, nothing to verify
    assert unsigned.value.code == "no_result"


def test_wait_backs_off_exponentially_with_jitter(connect, settings):
    settings.CH_RELEASE_VISIBLE_STEP_SECONDS = 600
    job = connect("en").release(**chair_release())
    pauses: list[float] = []
    with pytest.raises(WaitTimeout):
        job.wait(timeout=0.6, first_delay=0.01, max_delay=0.08, sleep=lambda s: (pauses.append(s), time.sleep(s)))
    assert len(pauses) >= 4
    ceilings = [min(0.01 * 2**n, 0.08) for n in range(len(pauses))]
    assert all(ceiling / 2 <= pause <= ceiling for pause, ceiling in zip(pauses[:-1], ceilings))
    assert len({round(p, 6) for p in pauses}) > 1  # jittered, not a fixed beat


class OutageOnce(requests.Session):
    """A session whose first GET of a job answers 503 with Retry-After, as the API does while
    Redis or the broker is down; every other request reaches the live server."""

    def __init__(self):
        super().__init__()
        self.outages = 0

    def request(self, method, url, *args, **kwargs):
        if method == "GET" and "/releases/" in url and not self.outages:
            self.outages += 1
            response = requests.Response()
            response.status_code = 503
            response.headers["Retry-After"] = "0.2"
            response._content = json.dumps({"error": {"code": "unavailable", "message": "down", "details": {}}}).encode()
            return response
        return super().request(method, url, *args, **kwargs)


def test_wait_rides_out_a_503_and_plain_calls_raise_it(connect):
    session = OutageOnce()
    client = connect("en", session=session)
    job = client.release(**chair_release())
    pauses: list[float] = []
    job.wait(timeout=30, first_delay=0.05, sleep=lambda s: (pauses.append(s), time.sleep(s)))
    assert job.done and session.outages == 1
    assert 0.2 in pauses  # waited for the server's Retry-After

    session.outages = 0
    with pytest.raises(UnavailableError) as caught:
        client.job("release", job.id)
    assert caught.value.status == 503 and caught.value.retry_after == 0.2 and caught.value.code == "unavailable"


def test_a_refused_job_raises_with_its_code(connect, monkeypatch):
    # Hold the job back from the (eager) queue, retire the purpose, then let it run.
    monkeypatch.setattr(release_services, "release_publish", lambda release_id: None)
    job = connect("en").release(**chair_release())
    Purpose.objects.filter(code=PRODUCT).update(status=Purpose.RETIRED)
    release_services.release_compute(release_id=job.id)
    with pytest.raises(JobRefused) as caught:
        job.wait(timeout=10, first_delay=0.05)
    assert isinstance(caught.value, JobError)
    assert caught.value.code == "purpose_not_approved" and caught.value.detail["refunded"] is True
    assert caught.value.job.status == "refused"


def test_base_url_may_name_the_api_and_language_is_checked(live_server, market):
    client = Client(live_server.url + "/api/v1/", market.manufacturer.key, "en")
    assert client.catalog()["purposes"]
    with pytest.raises(ValueError, match="zh-hans, en"):
        Client(live_server.url, market.manufacturer.key, "fr")


def test_a_rejected_key_file_is_not_silently_used(connect, tmp_path):
    bad = tmp_path / "keys.json"
    bad.write_text('{"not": "keys"}')
    with pytest.raises(ValueError, match="GET /api/v1/keys"):
        connect("en", keys=bad)


def test_a_given_up_notice_is_sent_again_as_the_readme_shows_and_twice_is_a_conflict(connect, market):
    """clients/python/README.md, Notifications: the loop that asks for given-up notices again."""
    from datetime import timedelta

    from django.utils import timezone

    from clearinghouse.notices.models import Callback, Notice

    client = connect("en")
    # A receiver on the discard port, which refuses connections: every attempt fails.
    Callback.objects.create(manufacturer=market.manufacturer.obj, url="http://127.0.0.1:9/hooks")
    job = client.release(**chair_release()).wait(timeout=60)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Notice.objects.filter(job_id=job.id).update(
        state=Notice.GIVEN_UP, attempts=8, occurred_at=an_hour_ago, next_attempt_at=an_hour_ago, last_outcome="connection_refused"
    )

    for notice in client.get("/notices")["results"]:
        if notice["state"] == "given_up":
            client.post(f"/notices/{notice['id']}/resend", None)

    (notice,) = client.get("/notices")["results"]
    # A new round: pending again, its first attempt (run eagerly here) refused once at most.
    assert notice["state"] == "pending" and notice["attempts"] in (0, 1)
    with pytest.raises(ConflictError) as caught:
        client.post(f"/notices/{notice['id']}/resend", None)
    assert caught.value.status == 409 and caught.value.code == "not_given_up"
