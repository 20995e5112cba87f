from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from clearinghouse.accounts.models import Consumer, PlatformLink
from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.models import ConsentState
from tests.conftest import grant_body

pytestmark = pytest.mark.django_db


def test_export_downloads_everything_as_json_and_is_audited(linked_consumer, purposes, portal_client):
    linked_consumer.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], "shop-p"), format="json")
    response = portal_client(linked_consumer).get(reverse("portal:export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="clearinghouse-my-data-')
    assert response["Cache-Control"] == "no-store"
    document = json.loads(response.content)
    assert document["account"]["username"] == "alice"
    assert [c["platform"] for c in document["consents"]] == ["shop-p"]
    assert sorted(link["platform"] for link in document["links"]) == ["shop-p", "shop-q"]
    event = AuditEvent.objects.get(action="export.completed")
    assert event.details["channel"] == "portal" and "alice" not in json.dumps(event.details)


def test_erase_asks_for_an_explicit_confirmation_first(linked_consumer, portal_client):
    client = portal_client(linked_consumer, language="en")
    page = client.get(reverse("portal:erase")).content.decode()
    assert "This cannot be undone." in page and "checked" not in page

    not_ticked = client.post(reverse("portal:erase"), {"password": linked_consumer.password})
    assert not_ticked.status_code == 400 and "Tick this box to confirm." in not_ticked.content.decode()
    wrong_password = client.post(reverse("portal:erase"), {"password": "not-my-password", "understood": "on"})
    assert wrong_password.status_code == 400 and "That is not your password." in wrong_password.content.decode()

    consumer = Consumer.objects.get(pk=linked_consumer.consumer.pk)
    assert consumer.erased_at is None and consumer.user is not None
    assert PlatformLink.objects.filter(consumer=consumer).count() == 2
    assert not AuditEvent.objects.filter(action="consumer.erased").exists()


def test_erase_deletes_the_account_logs_out_and_keeps_only_the_pseudonym(linked_consumer, purposes, portal_client):
    linked_consumer.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], "shop-p"), format="json")
    client = portal_client(linked_consumer, language="en")
    response = client.post(reverse("portal:erase"), {"password": linked_consumer.password, "understood": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:erased")
    goodbye = client.get(response["Location"]).content.decode()
    assert "Your account was erased" in goodbye

    consumer = Consumer.objects.get(pk=linked_consumer.consumer.pk)
    assert consumer.erased_at is not None and consumer.user is None
    assert not User.objects.filter(username="alice").exists()
    assert not PlatformLink.objects.filter(consumer=consumer).exists()
    assert not ConsentState.objects.filter(consumer=consumer, granted=True).exists()
    assert AuditEvent.objects.get(action="consumer.erased").details["channel"] == "portal"

    assert client.get(reverse("portal:dashboard")).status_code == 302
    login = Client().post(reverse("portal:login"), {"username": "alice", "password": linked_consumer.password})
    assert login.status_code == 200 and "用户名或密码不对" in login.content.decode()


def test_repeated_wrong_passwords_on_the_erase_form_are_throttled(linked_consumer, portal_client, settings):
    client = portal_client(linked_consumer, language="en")
    for _ in range(settings.CH_LOGIN_FAILURES_PER_USERNAME):
        client.post(reverse("portal:erase"), {"password": "guess-guess-1", "understood": "on"})
    response = client.post(reverse("portal:erase"), {"password": linked_consumer.password, "understood": "on"})
    assert response.status_code == 429 and "Too many failed attempts" in response.content.decode()
    assert Consumer.objects.get(pk=linked_consumer.consumer.pk).erased_at is None
