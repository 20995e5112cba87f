"""Issue 12, item 1: password guessing through any door meets one lockout policy."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from clearinghouse.accounts import lockout
from clearinghouse.api.addresses import client_address
from clearinghouse.audit.models import AuditEvent
from tests.conftest import PASSWORD

WRONG = "wrong-password-1"


# --- The client address ---------------------------------------------------------------------


def _request(remote: str, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_a_forwarded_header_is_ignored_unless_the_peer_is_a_trusted_proxy(settings):
    settings.CH_TRUSTED_PROXIES = []
    assert client_address(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"
    settings.CH_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_address(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


def test_behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client(settings):
    settings.CH_TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]
    # The client forged "6.6.6.6"; the proxy appended the real peer it saw.
    assert client_address(_request("10.1.1.1", "6.6.6.6, 198.51.100.7")) == "198.51.100.7"
    assert client_address(_request("10.1.1.1", "6.6.6.6, 198.51.100.7, 192.0.2.1")) == "198.51.100.7"
    assert client_address(_request("10.1.1.1", "not-an-address")) == "10.1.1.1"


def test_spoofed_forwarded_for_does_not_escape_the_address_throttle(consumer_a):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = dict(api_settings.DEFAULT_THROTTLE_RATES, credentials="3/min")
    try:
        statuses = [
            APIClient(HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
            .post("/api/v1/auth/token", {"username": f"u{n}", "password": WRONG}, format="json")
            .status_code
            for n in range(4)
        ]
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
    assert statuses == [400, 400, 400, 429]


# --- One lock, every door -------------------------------------------------------------------


def _enable_admin(settings, username: str) -> User:
    settings.CH_ADMIN_ENABLED = True
    user = User.objects.get(username=username)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def _try(door: str, username: str, password: str, address: str = "127.0.0.1"):
    if door == "api":
        return APIClient(REMOTE_ADDR=address).post("/api/v1/auth/token", {"username": username, "password": password}, format="json")
    if door == "portal":
        return Client(REMOTE_ADDR=address).post(reverse("portal:login"), {"username": username, "password": password})
    return Client(REMOTE_ADDR=address).post(reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"})


def _succeeded(door: str, response) -> bool:
    if door == "api":
        return response.status_code == 200 and "token" in response.json()
    return response.status_code == 302


@pytest.mark.parametrize("fail_door", ["api", "portal", "admin"])
@pytest.mark.parametrize("try_door", ["api", "portal", "admin"])
def test_a_username_locked_at_one_door_is_locked_at_every_door(fail_door, try_door, consumer_a, settings):
    _enable_admin(settings, "alice")
    limit = settings.CH_LOGIN_FAILURES_PER_USERNAME
    for n in range(limit):
        # Each guess from a different address: the username's limit does not care.
        assert not _succeeded(fail_door, _try(fail_door, "alice", WRONG, address=f"198.51.100.{n + 1}"))
    response = _try(try_door, "alice", PASSWORD, address="203.0.113.50")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= settings.CH_LOGIN_FAILURE_WINDOW_SECONDS
    if try_door == "api":
        assert response.json()["error"]["code"] == "login_locked"
    assert not AuditEvent.objects.filter(action="auth.token_issued").exists()
    locked = AuditEvent.objects.get(action="auth.locked")
    assert locked.details["scope"] == "username" and locked.target == f"consumer:{consumer_a.consumer.pseudonym}"


def test_a_guessing_run_gets_at_most_the_limit_of_password_checks_per_username(consumer_a, settings, monkeypatch):
    """Thirty guesses, then the right password: only the first five reach the hasher."""
    _enable_admin(settings, "alice")
    checks = []
    real = lockout.authenticate
    monkeypatch.setattr(lockout, "authenticate", lambda **kw: checks.append(1) or real(**kw))
    doors = ["api", "portal", "admin"]
    for n in range(30):
        _try(doors[n % 3], "alice", f"guess-{n}-xyz")
    statuses = [_try(door, "alice", PASSWORD).status_code for door in doors]
    assert len(checks) == settings.CH_LOGIN_FAILURES_PER_USERNAME
    assert statuses == [429, 429, 429]


def test_usernames_are_counted_whatever_their_case(consumer_a, settings):
    for n in range(settings.CH_LOGIN_FAILURES_PER_USERNAME):
        _try("api", ["Alice", "ALICE", "alice "][n % 3], WRONG)
    assert _try("api", "alice", PASSWORD).status_code == 429


def test_an_unknown_username_locks_like_a_real_one(db, settings):
    for _ in range(settings.CH_LOGIN_FAILURES_PER_USERNAME):
        assert _try("api", "nobody-here", WRONG).status_code == 400
    response = _try("api", "nobody-here", WRONG)
    assert response.status_code == 429 and response.json()["error"]["code"] == "login_locked"


def test_one_address_cannot_lock_out_people_who_signed_in_from_it_before(make_consumer, settings):
    settings.CH_LOGIN_FAILURES_PER_ADDRESS = 3
    regular, newcomer = make_consumer("regular"), make_consumer("newcomer")
    shared = "192.0.2.77"  # a NAT: everyone in the office comes from here
    assert _try("portal", regular.username, PASSWORD, address=shared).status_code == 302
    for n in range(3):  # someone sprays guesses at other names
        _try("api", f"victim{n}", WRONG, address=shared)
    # The address is locked for names new to it...
    assert _try("portal", newcomer.username, PASSWORD, address=shared).status_code == 429
    assert _try("api", newcomer.username, PASSWORD, address=shared).status_code == 429
    # ...but not for someone who signed in from it before, at any door,
    assert _try("portal", regular.username, PASSWORD, address=shared).status_code == 302
    assert _try("api", regular.username, PASSWORD, address=shared).status_code == 200
    # and not for the newcomer elsewhere.
    assert _try("api", newcomer.username, PASSWORD, address="198.51.100.3").status_code == 200
    assert AuditEvent.objects.filter(action="auth.locked", details__scope="address").count() == 1


def test_an_officer_can_lift_a_lock(consumer_a, officer, settings):
    for _ in range(settings.CH_LOGIN_FAILURES_PER_USERNAME):
        _try("api", "alice", WRONG)
    assert _try("portal", "alice", PASSWORD).status_code == 429
    response = officer.client().post("/api/v1/auth/unlock", {"username": "Alice"}, format="json")
    assert response.status_code == 200 and response.json() == {"was_locked": True}
    assert _try("portal", "alice", PASSWORD).status_code == 302
    unlocked = AuditEvent.objects.get(action="auth.unlocked")
    assert unlocked.actor_kind == "compliance" and unlocked.target == f"consumer:{consumer_a.consumer.pseudonym}"
    assert "alice" not in str(unlocked.details).lower()
    # A consumer may not unlock anyone, not even themselves.
    assert consumer_a.client().post("/api/v1/auth/unlock", {"username": "bob"}, format="json").status_code == 403
    assert officer.client().post("/api/v1/auth/unlock", {}, format="json").status_code == 400


def test_the_erase_confirmation_counts_towards_the_same_lock(consumer_a, settings):
    client = consumer_a.client()
    for _ in range(settings.CH_LOGIN_FAILURES_PER_USERNAME):
        response = client.delete("/api/v1/me", {"password": WRONG}, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "wrong_password"
    assert client.delete("/api/v1/me", {"password": PASSWORD}, format="json").status_code == 429
    assert _try("portal", "alice", PASSWORD).status_code == 429
    assert User.objects.filter(username="alice").exists()


def test_hammering_a_lock_writes_a_sampled_trace_not_a_flood(consumer_a, settings):
    for _ in range(settings.CH_LOGIN_FAILURES_PER_USERNAME):
        _try("api", "alice", WRONG)
    for _ in range(20):
        assert _try("api", "alice", WRONG).status_code == 429
    throttled = AuditEvent.objects.filter(action="auth.token_refused", details__reason="throttled")
    assert sorted(throttled.values_list("details__count", flat=True)) == [1, 2, 4, 8, 16]


def test_a_spray_with_new_usernames_at_a_locked_address_is_sampled_per_address(db, settings):
    settings.CH_LOGIN_FAILURES_PER_ADDRESS = 3
    for n in range(3):
        _try("api", f"first{n}", WRONG, address="192.0.2.5")
    for n in range(20):
        assert _try("api", f"spray{n}", WRONG, address="192.0.2.5").status_code == 429
    throttled = AuditEvent.objects.filter(action="auth.token_refused", details__reason="throttled")
    assert sorted(throttled.values_list("details__count", flat=True)) == [1, 2, 4, 8, 16]
    assert set(throttled.values_list("details__scope", flat=True)) == {"address"}
