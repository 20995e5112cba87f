"""DELETE /api/v1/me: the person's data goes, the pseudonymous ledger and audit stay."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from clearinghouse.accounts.models import Consumer, Credential, LinkCode, PlatformLink
from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.selectors import audit_chain_verify
from clearinghouse.consent.models import ConsentEvent, ConsentState
from clearinghouse.intake.models import Erasure, Signal
from tests.conftest import PASSWORD, module_world
from tests.intake.conftest import store_signals


# Every test here uses ``db``: the world is built once for the module (tests/conftest.py's
# module_db) and each test gets its own copy of it.
@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


@pytest.fixture
def stored(world):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=30, prefix="a-p")
    store_signals(consumer=world.alice, platform=world.q, purpose=world.design, count=20, prefix="a-q")
    store_signals(consumer=world.bob, platform=world.p, purpose=world.design, count=10, prefix="b-p")
    # An unused link code: it points at alice too.
    assert world.alice.client().post("/api/v1/me/links", {"platform": world.q.slug}, format="json").status_code == 201
    return world


def test_delete_me_erases_signals_links_and_account_but_keeps_the_pseudonymous_ledger(stored):
    alice = stored.alice
    consumer_id, pseudonym = alice.consumer.pk, str(alice.consumer.pseudonym)
    events_before = ConsentEvent.objects.filter(consumer_id=consumer_id).count()

    response = alice.client().delete("/api/v1/me", {"password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subject"] == pseudonym
    assert (body["signals"], body["links"], body["link_codes"], body["consents_withdrawn"]) == (
        50,
        2,
        3,
        3,
    )  # two used codes and one unused
    assert body["credentials"] == 1

    assert not Signal.objects.filter(consumer_id=consumer_id).exists()
    assert Signal.objects.filter(consumer=stored.bob.consumer).count() == 10  # bob untouched
    assert not PlatformLink.objects.filter(consumer_id=consumer_id).exists()
    assert PlatformLink.objects.filter(consumer=stored.bob.consumer).count() == 1
    assert not LinkCode.objects.filter(consumer_id=consumer_id).exists()
    assert not User.objects.filter(username="alice").exists()
    assert not Credential.objects.filter(user__username="alice").exists()

    consumer = Consumer.objects.get(pk=consumer_id)
    assert consumer.user is None and consumer.erased_at is not None
    assert str(consumer.pseudonym) == pseudonym
    # The ledger keeps every grant and gains one withdrawal per consent that was active.
    assert ConsentEvent.objects.filter(consumer_id=consumer_id).count() == events_before + 3
    assert not ConsentState.objects.filter(consumer_id=consumer_id, granted=True).exists()

    erasure = Erasure.objects.get(consumer_id=consumer_id, reason=Erasure.ACCOUNT_DELETION)
    assert erasure.signals == 50 and erasure.completed_at is not None

    erased = AuditEvent.objects.get(action="consumer.erased")
    assert erased.target == f"consumer:{pseudonym}" and erased.actor_id == pseudonym
    assert erased.details["signals"] == 50 and erased.details["links"] == 2
    completed = AuditEvent.objects.get(action="erasure.completed")
    assert completed.details["reason"] == "account_deletion" and completed.details["signals"] == 50
    assert completed.details["subject"] == pseudonym
    # No personal data in the log, and the chain still verifies.
    everything = json.dumps(list(AuditEvent.objects.values("actor_id", "target", "details")))
    assert "alice" not in everything
    assert audit_chain_verify().ok


def test_after_deletion_the_token_and_password_stop_working_and_the_username_is_free(stored, make_consumer):
    client = stored.alice.client()
    assert client.delete("/api/v1/me", {"password": PASSWORD}, format="json").status_code == 200

    assert client.get("/api/v1/me/consents").status_code == 401
    assert client.delete("/api/v1/me", {"password": PASSWORD}, format="json").status_code == 401
    login = stored.alice.client().post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    assert login.status_code == 400
    # A new account under the same name is a different, unlinked person.
    again = make_consumer("alice")
    assert again.consumer.pk != stored.alice.consumer.pk
    assert again.client().get("/api/v1/me/links").json() == []


def test_platform_can_no_longer_address_an_erased_subject(stored):
    assert stored.alice.client().delete("/api/v1/me", {"password": PASSWORD}, format="json").status_code == 200
    response = stored.p.client().get("/api/v1/platform/subjects/alice-at-p/consent", {"purpose": "c2m-product-design"})
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "platform", "officer"])
def test_only_a_consumer_can_delete_their_account(who, stored, officer):
    from rest_framework.test import APIClient

    client = {"anonymous": APIClient(), "platform": stored.p.client(), "officer": officer.client()}[who]
    response = client.delete("/api/v1/me", {"password": PASSWORD}, format="json")
    assert response.status_code == (401 if who == "anonymous" else 403)
    assert Signal.objects.filter(consumer=stored.alice.consumer).count() == 50
