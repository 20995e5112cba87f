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
def receipt(purposes, consumer_a, platform_p):
    response = consumer_a.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], platform_p.slug), format="json")
    assert response.status_code == 201
    audit_seal()
    return response.json()["receipt"]["payload"]["receipt_id"]


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
