"""Issue 15 item 3: a person proves their own consent receipt is in the audit log: the
receipt's audit event with its inclusion proof against a (witnessed) checkpoint, through
the API and the portal, verifiable with tools/audit_verify.py; nobody else's receipt."""

import json
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from clearinghouse.audit.models import AuditCheckpoint, AuditCosignature
from clearinghouse.audit.services import audit_checkpoint_sign, audit_seal
from tests.audit.conftest import TOOL_PATH
from tests.conftest import grant_body


@pytest.fixture
def granted(purposes, consumer_a, platform_p):
    response = consumer_a.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], platform_p.slug), format="json")
    assert response.status_code == 201
    audit_seal()
    return response.json()


@pytest.fixture
def receipt(granted):
    return granted["receipt"]["payload"]["receipt_id"]


def test_a_person_fetches_and_verifies_their_receipts_proof(receipt, consumer_a, tmp_path):
    url = f"/api/v1/me/receipts/{receipt}/proof"
    waiting = consumer_a.client().get(url)
    assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "not_yet_witnessed"
    audit_checkpoint_sign()
    document = consumer_a.client().get(url).json()
    event = document["event"]
    assert event["details"]["receipt_id"] == receipt and event["action"] == "consent.granted"
    assert event["details"]["subject"] == str(consumer_a.consumer.pseudonym)
    (tmp_path / "keys.json").write_text(json.dumps(APIClient().get("/api/v1/keys").json()))

    def verify(document):
        (tmp_path / "proof.json").write_text(json.dumps(document))
        return subprocess.run(
            [sys.executable, str(TOOL_PATH), "inclusion", "--proof", str(tmp_path / "proof.json"), "--keys", str(tmp_path / "keys.json")],
            capture_output=True,
            text=True,
        )

    result = verify(document)
    assert result.returncode == 0, result.stderr
    assert f"event seq {document['proof']['seq']} is in log" in result.stdout
    # The file as downloaded checks the event is the receipt's and is the proven leaf.
    other = json.loads(json.dumps(document))
    other["event"]["details"]["channel"] = "portal" if event["details"]["channel"] != "portal" else "api"
    assert verify(other).returncode == 1
    swapped = json.loads(json.dumps(document))
    swapped["receipt_id"] = "00000000-0000-4000-8000-000000000000"
    result = verify(swapped)
    assert result.returncode == 1 and "does not record that receipt" in result.stderr


def test_nobody_else_gets_the_proof(receipt, consumer_b, platform_p, officer):
    audit_checkpoint_sign()
    assert consumer_b.client().get(f"/api/v1/me/receipts/{receipt}/proof").status_code == 404
    assert APIClient().get(f"/api/v1/me/receipts/{receipt}/proof").status_code in (401, 403)
    assert platform_p.client().get(f"/api/v1/me/receipts/{receipt}/proof").status_code == 403


def test_with_witnesses_configured_only_a_cosigned_checkpoint_counts(receipt, consumer_a, settings):
    settings.CH_AUDIT_WITNESSES = ["w.example+00000000+BA==@http://127.0.0.1:9"]  # never reached here
    checkpoint, _ = audit_checkpoint_sign()
    url = f"/api/v1/me/receipts/{receipt}/proof"
    assert consumer_a.client().get(url).json()["error"]["code"] == "not_yet_witnessed"
    AuditCosignature.objects.create(checkpoint=checkpoint, witness="w.example", line="\u2014 w.example AAAA")
    document = consumer_a.client().get(url).json()
    assert document["proof"]["tree_size"] == checkpoint.tree_size and "\u2014 w.example AAAA" in document["checkpoint_note"]
    assert AuditCheckpoint.objects.count() == 1


def test_the_portal_offers_the_proof_next_to_the_receipt(receipt, consumer_a, client):
    client.login(username=consumer_a.username, password=consumer_a.password)
    history = client.get("/history/").content.decode()
    assert f"/receipts/{receipt}/audit-proof.json" in history
    assert client.get(f"/receipts/{receipt}/audit-proof.json").status_code == 302  # no checkpoint yet: back with a note
    audit_checkpoint_sign()
    response = client.get(f"/receipts/{receipt}/audit-proof.json")
    assert response.status_code == 200 and json.loads(response.content)["event"]["details"]["receipt_id"] == receipt


def _run_verifier(tmp_path, *args):
    return subprocess.run([sys.executable, str(TOOL_PATH), "inclusion", *map(str, args)], capture_output=True, text=True)


def test_the_signed_receipt_names_its_audit_event_and_the_verifier_ties_them(granted, consumer_a, tmp_path):
    """A new receipt carries, inside its signature, the leaf hash of the audit event that
    records it; the offline verifier checks the receipt is genuine, that its event is the
    proven leaf, and refuses a proof of another event or a receipt whose words changed."""
    from clearinghouse.audit.models import AuditEvent

    payload = granted["receipt"]["payload"]
    event = AuditEvent.objects.get(details__receipt_id=payload["receipt_id"])
    assert payload["audit_event"] == {"log_id": str(event_log_id()), "leaf_hash": event.leaf_hash}
    assert granted["audit_proof"] == f"/api/v1/me/receipts/{payload['receipt_id']}/proof"
    audit_checkpoint_sign()
    document = consumer_a.client().get(granted["audit_proof"]).json()
    assert document["proof"]["leaf_hash"] == event.leaf_hash and document["proof"]["leaf_index"] == event.seq - 1
    (tmp_path / "keys.json").write_text(json.dumps(APIClient().get("/api/v1/keys").json()))
    (tmp_path / "proof.json").write_text(json.dumps(document))
    (tmp_path / "receipt.json").write_text(json.dumps(granted))
    keys = ("--keys", tmp_path / "keys.json")
    result = _run_verifier(tmp_path, "--proof", tmp_path / "proof.json", "--receipt", tmp_path / "receipt.json", *keys)
    assert result.returncode == 0, result.stderr
    assert "the signed receipt names this event" in result.stdout

    # Another of the person's own events, presented as this receipt's: refused.
    second = consumer_a.client().post(
        "/api/v1/me/consents", {"purpose": "c2m-product-design", "platform": "shop-p", "action": "withdraw"}, format="json"
    )
    assert second.status_code == 201
    audit_checkpoint_sign()
    other = consumer_a.client().get(second.json()["audit_proof"]).json()
    other["receipt_id"] = payload["receipt_id"]
    other["event"]["details"]["receipt_id"] = payload["receipt_id"]
    (tmp_path / "other.json").write_text(json.dumps(other))
    result = _run_verifier(tmp_path, "--proof", tmp_path / "other.json", "--receipt", tmp_path / "receipt.json", *keys)
    assert result.returncode == 1  # the edited event no longer hashes to the proven leaf
    # A receipt edited after signing: refused.
    edited = json.loads(json.dumps(granted))
    edited["receipt"]["payload"]["audit_event"]["leaf_hash"] = "0" * 64
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    result = _run_verifier(tmp_path, "--proof", tmp_path / "proof.json", "--receipt", tmp_path / "edited.json", *keys)
    assert result.returncode == 1 and "bad_signature" in result.stderr


def event_log_id():
    from clearinghouse.audit.services import audit_log_identity

    return audit_log_identity()


def test_an_expiry_receipt_names_its_audit_event_too(purposes, consumer_a, platform_p):
    from django.db import transaction

    from clearinghouse.audit.models import AuditEvent
    from clearinghouse.consent.models import ConsentEvent
    from clearinghouse.consent.services import consents_expire
    from clearinghouse.core.actors import Actor

    purpose = purposes["c2m-product-design"]
    assert consumer_a.client().post("/api/v1/me/consents", grant_body(purpose, platform_p.slug), format="json").status_code == 201
    with transaction.atomic():
        assert consents_expire(purpose=purpose, reason=ConsentEvent.PURPOSE_RETIRED, actor=Actor.operator("tests")) == 1
    expired = ConsentEvent.objects.get(action=ConsentEvent.EXPIRE)
    audited = AuditEvent.objects.get(action="consent.expired")
    assert audited.details["receipt_id"] == str(expired.receipt_id)
    assert expired.receipt["payload"]["audit_event"]["leaf_hash"] == audited.leaf_hash


def test_not_yet_covered_says_when_to_come_back(receipt, consumer_a, client, settings):
    settings.CH_AUDIT_WITNESSES = ["w.example+00000000+BA==@http://127.0.0.1:9"]  # never reached here
    response = consumer_a.client().get(f"/api/v1/me/receipts/{receipt}/proof")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "not_yet_witnessed" and "come back after" in error["message"]
    assert int(response["Retry-After"]) >= 1 and error["details"]["retry_after"] and error["details"]["seq"] >= 1
    client.login(username=consumer_a.username, password=consumer_a.password)
    client.cookies["django_language"] = "en"
    page = client.get(f"/receipts/{receipt}/").content.decode()
    assert "Not yet covered by a witnessed checkpoint." in page and "Come back after" in page
    assert f"/receipts/{receipt}/audit-proof.json" not in page
    follow = client.get(f"/receipts/{receipt}/audit-proof.json", follow=True)
    assert "Come back after" in follow.content.decode()


def test_the_receipt_page_links_the_proof_once_covered(receipt, consumer_a, client):
    from clearinghouse.audit.models import AuditEvent

    audit_checkpoint_sign()
    event = AuditEvent.objects.get(details__receipt_id=receipt)
    client.login(username=consumer_a.username, password=consumer_a.password)
    client.cookies["django_language"] = "en"
    page = client.get(f"/receipts/{receipt}/").content.decode()
    assert f"/receipts/{receipt}/audit-proof.json" in page and event.leaf_hash in page
    assert f"number {event.seq}" in page and "Not yet covered" not in page
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(f"/receipts/{receipt}/").content.decode()
    assert "已写入审计日志" in chinese and f"第 {event.seq} 号" in chinese
