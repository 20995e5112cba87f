"""GET /api/v1/me/export: everything held about me, nothing about anyone else."""

from __future__ import annotations

import json

import pytest

from clearinghouse.accounts.models import PlatformLink
from clearinghouse.audit.models import AuditEvent
from clearinghouse.core.crypto import public_key_for, verify_signature
from clearinghouse.subjects.selectors import consumer_export
from tests.conftest import module_world
from tests.intake.conftest import store_signals, withdraw


# Every test here uses ``db``: the world is built once for the module (tests/conftest.py's
# module_db) and each test gets its own copy of it.
@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


def test_export_holds_account_consents_with_receipts_links_and_signals_as_codes(world):
    store_signals(consumer=world.alice, platform=world.p, purpose=world.design, count=3, prefix="a-p")
    store_signals(consumer=world.bob, platform=world.p, purpose=world.design, count=2, prefix="b-p")

    response = world.alice.client().get("/api/v1/me/export")

    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].startswith('attachment; filename="clearinghouse-export-')
    export = response.json()
    assert export["format"] == "clearinghouse-export/1"
    assert export["account"]["username"] == "alice"
    assert export["account"]["pseudonym"] == str(world.alice.consumer.pseudonym)
    assert {(c["purpose"], c["platform"], c["granted"]) for c in export["consents"]} == {
        ("c2m-product-design", "shop-p", True),
        ("c2m-demand-forecast", "shop-p", True),
        ("c2m-product-design", "shop-q", True),
    }
    assert len(export["consent_history"]) == 3
    receipt = export["consent_history"][0]["receipt"]
    assert verify_signature(
        public_key_raw=public_key_for(receipt["key_id"]), document=receipt["payload"], signature_b64=receipt["signature"]
    )
    assert [link["platform"] for link in export["links"]] == ["shop-p", "shop-q"]
    assert all(set(link) == {"platform", "platform_name", "linked_at"} for link in export["links"])
    assert len(export["signals"]) == 3
    signal = export["signals"][0]
    assert signal["category"] == "furniture/office-chair" and signal["attribute"] == "lumbar-support"
    assert signal["signal"] == "view" and signal["platform"] == "shop-p" and signal["purpose"] == "c2m-product-design"
    assert signal["event_id"] == "a-p-0"

    text = json.dumps(export)
    for pseudonym in PlatformLink.objects.values_list("subject_pseudonym", flat=True):
        assert pseudonym not in text  # per-platform keys never leave
    # Quoted, so that a chance "bob" inside a base64 signature cannot fail the test.
    assert '"bob"' not in text and '"b-p-' not in text

    audit = AuditEvent.objects.get(action="export.completed")
    assert audit.actor_id == str(world.alice.consumer.pseudonym)
    assert audit.details["items"]["signals"] == 3


def test_export_lists_erasures_after_a_withdrawal(world, django_capture_on_commit_callbacks):
    store_signals(consumer=world.alice, platform=world.q, purpose=world.design, count=4, prefix="a-q")
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the erasure runs on commit
        withdraw(world.alice, world.design, world.q)

    export = consumer_export(consumer=world.alice.consumer)

    assert export["signals"] == []
    assert [(e["reason"], e["platform"], e["purpose"], e["signals"]) for e in export["erasures"]] == [
        ("withdrawal", "shop-q", "c2m-product-design", 4)
    ]
    # With its signed certificate, as the portal and the API serve it.
    certificate = export["erasures"][0]["certificate"]
    assert certificate["payload"]["deleted"] == [{"platform": "shop-q", "purpose": "c2m-product-design", "signals": 4}]


def test_the_export_carries_the_privacy_ledger_beside_the_signals(world):
    export = consumer_export(consumer=world.alice.consumer)

    assert export["privacy_loss"]["window_days"] == 365
    assert export["privacy_loss"]["charges"] == []
    assert "signals" in export and "erasures" in export


def test_only_the_consumer_reads_their_export(world):
    assert world.p.client().get("/api/v1/me/export").status_code == 403
