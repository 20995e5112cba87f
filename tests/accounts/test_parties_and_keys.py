from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from clearinghouse.accounts.models import Credential, Manufacturer
from clearinghouse.audit.models import AuditEvent

CONSENT_CHECK = "/api/v1/platform/subjects/anyone/consent?purpose=c2m-product-design"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def run(*args) -> str:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip()


def test_register_platform_prints_a_key_once_and_stores_only_its_hash(db):
    key = run("register_platform", "shop-x", "--name", "Shop X")
    assert key.startswith("chp_")
    credential = Credential.objects.get(platform__slug="shop-x")
    assert key.split("_", 2)[2] not in credential.secret_hash
    assert len(credential.secret_hash) == 64
    # Authenticated but the subject is unknown: 404, not 401.
    assert bearer(key).get(CONSENT_CHECK).status_code == 404


def test_rotate_key_stops_the_old_key_at_once(db):
    old = run("register_platform", "shop-x", "--name", "Shop X")
    new = run("rotate_key", "shop-x")
    assert new != old
    assert bearer(old).get(CONSENT_CHECK).status_code == 401
    assert bearer(new).get(CONSENT_CHECK).status_code == 404
    assert AuditEvent.objects.filter(action="credential.rotated", target="platform:shop-x").exists()


def test_revoke_key(db):
    key = run("register_manufacturer", "chairs", "--name", "Chairs", "--sectors", "furniture")
    run("revoke_key", "chairs")
    response = bearer(key).get("/api/v1/me/purposes")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "token",
    ["chp_nothing", "chp_abc_def", "chx_abcdefghijkm_secret", "", "Bearer", "chc_" + "a" * 12 + "_wrong"],
)
def test_malformed_or_unknown_tokens_are_401(db, token):
    response = bearer(token).get("/api/v1/me/purposes")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_register_manufacturer_validates_sectors_against_the_taxonomy(db):
    with pytest.raises(CommandError, match="'toys' matches no category"):
        run("register_manufacturer", "toyco", "--name", "Toy Co", "--sectors", "furniture,toys")
    assert not Manufacturer.objects.exists()
    run("register_manufacturer", "foodco", "--name", "Food Co", "--sectors", "food/bird-nest, food")
    assert Manufacturer.objects.get().sectors == ["food", "food/bird-nest"]


def test_slugs_are_one_namespace(db):
    run("register_platform", "acme", "--name", "Acme")
    with pytest.raises(CommandError, match="already registered"):
        run("register_manufacturer", "acme", "--name", "Acme", "--sectors", "furniture")


def test_rotate_unknown_slug_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no platform or manufacturer 'ghost'"):
        run("rotate_key", "ghost")


def test_compliance_officer_gets_the_compliance_role(db, monkeypatch):
    monkeypatch.setenv("CH_OFFICER_PASSWORD", "officer-passphrase-long")
    run("create_compliance_officer", "olga")
    user = User.objects.get(username="olga")
    assert user.groups.filter(name="compliance").exists()
    token = APIClient().post("/api/v1/auth/token", {"username": "olga", "password": "officer-passphrase-long"}, format="json")
    assert token.status_code == 200
    # An officer is not a consumer.
    assert bearer(token.json()["token"]).get("/api/v1/me/purposes").status_code == 403


def test_a_weak_officer_password_is_refused_in_english(db, monkeypatch):
    # LANGUAGE_CODE is the portal's Chinese; the command line speaks English.
    monkeypatch.setenv("CH_OFFICER_PASSWORD", "12345")
    with pytest.raises(CommandError) as refused:
        run("create_compliance_officer", "olga")
    assert "This password is too short. It must contain at least 10 characters." in str(refused.value)
    assert refused.value.returncode == 2
    assert not User.objects.filter(username="olga").exists()


def test_consumer_registration_and_token(db):
    client = APIClient()
    created = client.post(
        "/api/v1/consumers", {"username": "carol", "password": "long-enough-secret", "age_confirmed": True}, format="json"
    )
    assert created.status_code == 201
    assert set(created.json()) == {"id", "token"}
    assert bearer(created.json()["token"]).get("/api/v1/me/consents").status_code == 200
    token = client.post("/api/v1/auth/token", {"username": "carol", "password": "long-enough-secret"}, format="json")
    assert token.status_code == 200
    assert bearer(token.json()["token"]).get("/api/v1/me/consents").status_code == 200
    event = AuditEvent.objects.get(action="consumer.registered")
    assert "carol" not in str(event.details) and "carol" not in event.target


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"username": "dave", "password": "long-enough-secret"}, 400, "14 or older"),
        ({"username": "dave", "password": "long-enough-secret", "age_confirmed": False}, 400, "14 or older"),
        ({"username": "dave", "password": "short", "age_confirmed": True}, 400, "password"),
        ({"username": "dave", "password": "12345678901234", "age_confirmed": True}, 400, "password"),
        ({"username": "da ve", "password": "long-enough-secret", "age_confirmed": True}, 400, "username"),
        ({"password": "long-enough-secret", "age_confirmed": True}, 400, "username"),
    ],
)
def test_registration_errors_are_clear(db, body, status, fragment):
    response = APIClient().post("/api/v1/consumers", body, format="json")
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]
    assert not User.objects.filter(username="dave").exists()


def test_duplicate_username_is_a_conflict(consumer_a):
    response = APIClient().post(
        "/api/v1/consumers", {"username": "alice", "password": "long-enough-secret", "age_confirmed": True}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "username_taken"


def test_wrong_password_is_refused_and_audited_without_the_username(consumer_a):
    response = APIClient().post("/api/v1/auth/token", {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_credentials"
    refused = AuditEvent.objects.get(action="auth.token_refused")
    assert "alice" not in str(refused.details) + refused.target + refused.actor_id


def test_expired_consumer_token_is_401(consumer_a):
    from django.utils import timezone

    Credential.objects.filter(user=consumer_a.consumer.user).update(expires_at=timezone.now())
    assert consumer_a.client().get("/api/v1/me/consents").status_code == 401


def test_token_endpoint_is_throttled(consumer_a, settings):
    from django.core.cache import cache
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    rates = dict(api_settings.DEFAULT_THROTTLE_RATES, credentials="3/min")
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        client = APIClient()
        statuses = [
            client.post("/api/v1/auth/token", {"username": "alice", "password": "nope"}, format="json").status_code for _ in range(4)
        ]
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert statuses == [400, 400, 400, 429]
