"""Who may open which portal page: anonymous people are sent to log in, non-consumers are
turned away, and another consumer's objects answer 404 exactly like missing ones."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from clearinghouse.consent.models import ConsentEvent
from tests.conftest import grant_body

# Every consumer page: (url name, kwargs, method).
CONSUMER_PAGES = [
    ("portal:dashboard", {}, "get"),
    ("portal:consent-update", {}, "post"),
    ("portal:history", {}, "get"),
    ("portal:receipt", {"receipt_id": str(uuid.uuid4())}, "get"),
    ("portal:platforms", {}, "get"),
    ("portal:link-code", {}, "post"),
    ("portal:link-remove", {"platform_slug": "shop-p"}, "post"),
    ("portal:privacy-loss", {}, "get"),
    ("portal:my-data", {}, "get"),
    ("portal:export", {}, "get"),
    ("portal:erase", {}, "get"),
    ("portal:erase", {}, "post"),
]
PUBLIC_PAGES = ["portal:login", "portal:signup", "portal:verify", "portal:erased"]


@pytest.mark.django_db
@pytest.mark.parametrize("name,kwargs,method", CONSUMER_PAGES)
def test_anonymous_is_sent_to_login(name, kwargs, method):
    url = reverse(name, kwargs=kwargs)
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('portal:login')}?next={url}"


@pytest.mark.django_db
@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_open_to_anyone(name):
    assert Client().get(reverse(name)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("name,kwargs,method", CONSUMER_PAGES)
def test_non_consumer_accounts_are_turned_away(officer, name, kwargs, method):
    client = Client()
    client.force_login(officer.consumer)
    response = getattr(client, method)(reverse(name, kwargs=kwargs))
    try:
        console = reverse("compliance:home")
    except NoReverseMatch:
        console = None
    if console:
        assert response.status_code == 302 and response["Location"] == console
    else:
        assert response.status_code == 403
        assert b"These pages are for consumers" in response.content or "这些页面供消费者使用".encode() in response.content


@pytest.mark.django_db
def test_operator_account_without_role_is_turned_away(django_user_model):
    user = django_user_model.objects.create_user(username="operator", password="x" * 12)
    client = Client()
    client.force_login(user)
    assert client.get(reverse("portal:dashboard")).status_code == 403


@pytest.mark.django_db
def test_receipt_of_another_consumer_is_404_like_a_missing_one(linked_consumer, consumer_b, purposes, portal_client):
    purpose = purposes["c2m-product-design"]
    response = linked_consumer.client().post("/api/v1/me/consents", grant_body(purpose, "shop-p"), format="json")
    receipt_id = response.json()["receipt_id"]

    own = portal_client(linked_consumer).get(reverse("portal:receipt", kwargs={"receipt_id": receipt_id}))
    assert own.status_code == 200

    other = portal_client(consumer_b)
    assert other.get(reverse("portal:receipt", kwargs={"receipt_id": receipt_id})).status_code == 404
    assert other.get(reverse("portal:receipt", kwargs={"receipt_id": str(uuid.uuid4())})).status_code == 404
    assert other.get(reverse("portal:receipt", kwargs={"receipt_id": "not-a-uuid"})).status_code == 404


@pytest.mark.django_db
def test_dashboard_confirmation_never_shows_another_consumers_receipt(linked_consumer, consumer_b, purposes, portal_client):
    purpose = purposes["c2m-product-design"]
    receipt_id = linked_consumer.client().post("/api/v1/me/consents", grant_body(purpose, "shop-p"), format="json").json()["receipt_id"]
    page = portal_client(consumer_b, language="en").get(reverse("portal:dashboard") + f"?done={receipt_id}")
    assert page.status_code == 200
    assert f"/receipts/{receipt_id}.json".encode() not in page.content
    assert b"consent-done" not in page.content


@pytest.mark.django_db
def test_removing_a_link_that_is_not_yours_is_404_and_changes_nothing(linked_consumer, consumer_b, portal_client):
    from clearinghouse.accounts.models import PlatformLink

    before = PlatformLink.objects.filter(consumer=linked_consumer.consumer).count()
    response = portal_client(consumer_b).post(reverse("portal:link-remove", kwargs={"platform_slug": "shop-p"}))
    assert response.status_code == 404
    assert PlatformLink.objects.filter(consumer=linked_consumer.consumer).count() == before == 2


@pytest.mark.django_db
def test_consent_for_unknown_purpose_or_platform_is_404(linked_consumer, portal_client):
    client = portal_client(linked_consumer)
    for data in (
        {"purpose": "no-such-purpose", "platform": "shop-p", "action": "withdraw"},
        {"purpose": "c2m-product-design", "platform": "no-such-shop", "action": "withdraw"},
        {"purpose": "c2m-product-design", "platform": "shop-p", "action": "delete-everything"},
    ):
        assert client.post(reverse("portal:consent-update"), data).status_code == 404
    assert not ConsentEvent.objects.exists()


@pytest.mark.django_db
def test_link_code_for_unknown_platform_is_404(linked_consumer, portal_client):
    assert portal_client(linked_consumer).post(reverse("portal:link-code"), {"platform": "nowhere"}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,kwargs",
    [("portal:consent-update", {}), ("portal:link-code", {}), ("portal:link-remove", {"platform_slug": "shop-p"}), ("portal:erase", {})],
)
def test_state_changes_need_the_csrf_token(linked_consumer, portal_client, name, kwargs):
    from clearinghouse.accounts.models import PlatformLink

    client = portal_client(linked_consumer, enforce_csrf_checks=True)
    data = {
        "purpose": "c2m-product-design",
        "platform": "shop-p",
        "action": "withdraw",
        "password": linked_consumer.password,
        "understood": "on",
    }
    response = client.post(reverse(name, kwargs=kwargs), data)
    assert response.status_code == 403
    assert "表单已失效" in response.content.decode()  # a plain explanation, not Django's technical page
    assert not ConsentEvent.objects.exists()
    assert PlatformLink.objects.filter(consumer=linked_consumer.consumer).count() == 2
    assert linked_consumer.consumer.user.is_active


@pytest.mark.django_db
def test_logout_needs_post(linked_consumer, portal_client):
    client = portal_client(linked_consumer)
    assert client.get(reverse("portal:logout")).status_code == 405
    assert client.get(reverse("portal:dashboard")).status_code == 200
    assert client.post(reverse("portal:logout")).status_code == 302
    assert client.get(reverse("portal:dashboard")).status_code == 302


@pytest.mark.django_db
def test_expired_session_goes_back_to_login(linked_consumer, portal_client, settings):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    client = portal_client(linked_consumer)
    assert client.get(reverse("portal:dashboard")).status_code == 200
    Session.objects.update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))


@pytest.mark.django_db
def test_session_is_short_lived_and_renewed_by_activity(linked_consumer, settings):
    client = Client()
    response = client.post(reverse("portal:login"), {"username": linked_consumer.username, "password": linked_consumer.password})
    assert response.status_code == 302
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    # Ends when the browser closes (no max-age) and after SESSION_COOKIE_AGE of inactivity.
    assert not cookie["max-age"] and not cookie["expires"]
    assert settings.SESSION_COOKIE_AGE <= 60 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_unknown_pages_get_a_portal_404_and_the_api_keeps_json(linked_consumer, portal_client):
    client = portal_client(linked_consumer)
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and "页面不存在" in page.content.decode()
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
