"""Issue 12, item 5: case-insensitive usernames, sign-up that is no username oracle,
no-store answers, and a password before DELETE /api/v1/me."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from clearinghouse.accounts.usernames import DROP_INDEX_SQL, username_index_create
from clearinghouse.audit.models import AuditEvent
from tests.conftest import PASSWORD


def _register(username: str, address: str = "127.0.0.1"):
    body = {"username": username, "password": "a-long-passphrase-1", "age_confirmed": True}
    return APIClient(REMOTE_ADDR=address).post("/api/v1/consumers", body, format="json")


def test_a_username_differing_only_in_case_is_taken(consumer_a):
    for name in ("Alice", "ALICE"):
        response = _register(name)
        assert response.status_code == 409 and response.json()["error"]["code"] == "username_taken"
    assert User.objects.filter(username__iexact="alice").count() == 1
    # And the database refuses it too, whatever code path tries.
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="aLiCe")


def test_login_ignores_the_case_of_the_username(consumer_a):
    response = APIClient().post("/api/v1/auth/token", {"username": "ALICE", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    assert Client().post(reverse("portal:login"), {"username": "Alice", "password": PASSWORD}).status_code == 302


def test_old_duplicates_are_reported_by_a_command(db, capsys):
    with connection.cursor() as cursor:
        cursor.execute(DROP_INDEX_SQL)
    try:
        first = User.objects.create(username="mei")
        second = User.objects.create(username="Mei")
        with pytest.raises(CommandError) as failure:
            call_command("usernames_duplicates")
        assert failure.value.returncode == 1
        out = capsys.readouterr().out
        assert f"id={first.pk} 'mei'" in out and f"id={second.pk} 'Mei'" in out
        # Once the pair is resolved, the index the migration left out can be created.
        second.username = "mei-2"
        second.save()
        call_command("usernames_duplicates", "--index")
        assert "index: present" in capsys.readouterr().err
    finally:
        username_index_create()


def test_sign_up_tells_whether_a_name_is_taken_only_a_few_times_per_address(consumer_a, settings):
    settings.CH_SIGNUP_TAKEN_PER_ADDRESS = 3
    statuses = [_register("alice", address="198.51.100.9").status_code for _ in range(4)]
    assert statuses == [409, 409, 409, 429]
    refused = _register("fresh-name-1", address="198.51.100.9")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert not User.objects.filter(username="fresh-name-1").exists()
    # Another client is unaffected, and the portal's door is the same door.
    assert _register("fresh-name-2", address="198.51.100.10").status_code == 201
    form = {"username": "alice", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1", "age": "14-or-over"}
    page = Client(REMOTE_ADDR="198.51.100.9").post(reverse("portal:signup"), form)
    assert page.status_code == 429 and "请稍等几分钟" in page.content.decode()
    assert AuditEvent.objects.filter(action="signup.refused", details__reason="username_taken").count() == 3


@pytest.mark.parametrize("path", ["/api/v1/me/consents", "/api/v1/me/export", "/api/v1/keys"])
def test_api_answers_are_not_stored_by_caches(consumer_a, path):
    response = consumer_a.client().get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_personal_pages_and_login_pages_are_not_stored_by_caches(consumer_a):
    client = Client()
    client.force_login(consumer_a.consumer.user)
    for name in ("portal:dashboard", "portal:history", "portal:my-data", "portal:privacy-loss"):
        assert "no-store" in client.get(reverse(name))["Cache-Control"], name
    assert "no-store" in Client().get(reverse("portal:login"))["Cache-Control"]


def test_delete_me_needs_the_password(consumer_a):
    client = consumer_a.client()
    missing = client.delete("/api/v1/me")
    assert missing.status_code == 400 and "password" in missing.json()["error"]["message"]
    wrong = client.delete("/api/v1/me", {"password": "not-my-password-1"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_password"
    assert wrong.json()["error"]["details"] == {"field": "password"}
    assert User.objects.filter(username="alice").exists()
    assert client.delete("/api/v1/me", {"password": PASSWORD}, format="json").status_code == 200
    assert not User.objects.filter(username="alice").exists()
