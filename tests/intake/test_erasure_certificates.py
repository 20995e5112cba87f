"""Signed erasure certificates: issued in the transaction that deleted, after a withdrawal,
after the service ended a consent (purpose retired) and after an account erasure; they say
what was deleted (per platform and purpose), when and why, name the person only by their
pseudonym, verify against the published receipts key, and are served only to their owner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from clearinghouse.audit.models import AuditEvent
from clearinghouse.core.crypto import public_key_for, verify_signature
from clearinghouse.intake.models import Erasure
from tests.conftest import module_world
from tests.intake.conftest import store_signals


# Every test here uses ``db``: the world is built once for the module (tests/conftest.py's
# module_db) and each test gets its own copy of it.
@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_receipt.py"


def _genuine(envelope: dict) -> bool:
    key = public_key_for(envelope["key_id"])
    return key is not None and verify_signature(public_key_raw=key, document=envelope["payload"], signature_b64=envelope["signature"])


def test_a_withdrawal_gives_a_signed_certificate_of_what_was_deleted(world, django_capture_on_commit_callbacks):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=5, prefix="a-p-d")
    with django_capture_on_commit_callbacks(execute=True):
        receipt = (
            world.alice.client()
            .post(
                "/api/v1/me/consents",
                {"purpose": world.design.code, "platform": world.p.slug, "action": "withdraw", "language": "zh-hans"},
                format="json",
            )
            .json()["receipt"]
        )
    erasure = Erasure.objects.get()
    envelope = erasure.certificate
    payload = envelope["payload"]
    assert _genuine(envelope)
    assert payload["schema_version"] == "clearinghouse-erasure-certificate/1"
    assert payload["deleted"] == [{"platform": "shop-p", "purpose": "c2m-product-design", "signals": 5}]
    assert payload["total_signals"] == 5
    assert payload["reason"] == {"code": "consent_withdrawn", "text": "你撤回了同意"}
    assert payload["consent_receipt_id"] == receipt["payload"]["receipt_id"]
    assert payload["subject"] == {"pseudonym": str(world.alice.consumer.pseudonym)}
    # Nothing personal: no username, no platform subject reference.
    text = json.dumps(envelope, ensure_ascii=False)
    assert world.alice.username not in text and "alice-at-p" not in text
    assert AuditEvent.objects.get(action="erasure.completed").details["certificate_id"] == payload["certificate_id"]

    # A changed count is caught.
    forged = json.loads(json.dumps(envelope))
    forged["payload"]["total_signals"] = 0
    assert not _genuine(forged)


def test_an_english_withdrawal_gets_an_english_certificate_and_the_offline_tool_checks_it(
    world, tmp_path, django_capture_on_commit_callbacks
):
    store_signals(consumer=world.alice, platform=world.q, purpose=world.design, count=2, prefix="a-q-d")
    with django_capture_on_commit_callbacks(execute=True):
        response = world.alice.client().post(
            "/api/v1/me/consents",
            {"purpose": world.design.code, "platform": world.q.slug, "action": "withdraw"},
            format="json",
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert response.status_code == 201
    listing = world.alice.client().get("/api/v1/me/erasure-certificates")
    assert listing.status_code == 200 and len(listing.json()) == 1
    envelope = listing.json()[0]
    certificate_id = envelope["payload"]["certificate_id"]
    assert world.alice.client().get(f"/api/v1/me/erasure-certificates/{certificate_id}").json() == envelope
    # Someone else's certificate answers exactly like a missing one.
    assert world.bob.client().get(f"/api/v1/me/erasure-certificates/{certificate_id}").status_code == 404
    assert world.bob.client().get("/api/v1/me/erasure-certificates").json() == []

    (tmp_path / "certificate.json").write_text(json.dumps(envelope, ensure_ascii=False))
    (tmp_path / "keys.json").write_text(json.dumps(APIClient().get("/api/v1/keys").json()))
    checked = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "certificate.json"), str(tmp_path / "keys.json")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "erasure certificate" in checked.stdout and "2 signals deleted (2 on shop-q for c2m-product-design)" in checked.stdout

    envelope["payload"]["deleted"][0]["signals"] = 1
    (tmp_path / "certificate.json").write_text(json.dumps(envelope, ensure_ascii=False))
    forged = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "certificate.json"), str(tmp_path / "keys.json")], capture_output=True, text=True
    )
    assert forged.returncode == 1 and "does not match" in forged.stdout


def test_a_retired_purpose_gives_certificates_naming_the_retirement(world, django_capture_on_commit_callbacks):
    from clearinghouse.consent.purposes import purpose_retire
    from clearinghouse.core.actors import Actor

    store_signals(consumer=world.alice, platform=world.p, purpose=world.forecast, count=3, prefix="a-p-f")
    with django_capture_on_commit_callbacks(execute=True):
        purpose_retire(purpose=world.forecast, actor=Actor(kind="compliance", id="officer:1"))
    erasure = Erasure.objects.get(consumer=world.alice.consumer)
    payload = erasure.certificate["payload"]
    assert payload["reason"]["code"] == "purpose_retired" and payload["total_signals"] == 3
    assert payload["deleted"] == [{"platform": "shop-p", "purpose": "c2m-demand-forecast", "signals": 3}]
    assert _genuine(erasure.certificate)


def test_account_erasure_certifies_every_platform_and_purpose_and_returns_the_certificate(world):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=4, prefix="a-p-d")
    store_signals(consumer=world.alice, platform=world.p, purpose=world.forecast, count=1, prefix="a-p-f")
    store_signals(consumer=world.alice, platform=world.q, purpose=world.design, count=2, prefix="a-q-d")
    response = world.alice.client().delete("/api/v1/me", {"password": world.alice.password}, format="json")
    assert response.status_code == 200, response.content
    envelope = response.json()["certificate"]
    payload = envelope["payload"]
    assert _genuine(envelope)
    assert payload["reason"]["code"] == "account_erased" and payload["total_signals"] == 7
    assert payload["deleted"] == [
        {"platform": "shop-p", "purpose": "c2m-demand-forecast", "signals": 1},
        {"platform": "shop-p", "purpose": "c2m-product-design", "signals": 4},
        {"platform": "shop-q", "purpose": "c2m-product-design", "signals": 2},
    ]
    # The withdrawals inside the erasure make no certificates of their own, and the audit
    # event carries the certificate's id, not the certificate.
    assert Erasure.objects.filter(consumer=world.alice.consumer, certificate__isnull=False).count() == 1
    audit = AuditEvent.objects.get(action="erasure.completed", details__reason="account_deletion")
    assert audit.details["certificate_id"] == payload["certificate_id"] and "certificate" not in audit.details
