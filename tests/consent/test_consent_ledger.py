from __future__ import annotations

import base64
import copy
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.models import ConsentEvent, ConsentState
from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
from clearinghouse.consent.selectors import consent_fold
from clearinghouse.consent.services import ConsentRequest, consent_change
from clearinghouse.core.actors import Actor
from tests.conftest import grant_body

DESIGN = "c2m-product-design"


def post(client, body):
    return client.post("/api/v1/me/consents", body, format="json")


def withdraw_body(platform: str, purpose: str = DESIGN) -> dict:
    return {"purpose": purpose, "platform": platform, "action": "withdraw"}


def current_state(handle) -> dict:
    return {(s["purpose"], s["platform"]): s["granted"] for s in handle.client().get("/api/v1/me/consents").json()}


def test_grant_withdraw_regrant_and_the_history(consumer_a, platform_p, purposes):
    client = consumer_a.client()
    purpose = purposes[DESIGN]

    granted = post(client, grant_body(purpose, platform_p.slug))
    assert granted.status_code == 201
    assert granted.json()["receipt"]["payload"]["state"] == "granted"
    assert current_state(consumer_a) == {(DESIGN, "shop-p"): True}

    withdrawn = post(client, withdraw_body(platform_p.slug))
    assert withdrawn.status_code == 201
    payload = withdrawn.json()["receipt"]["payload"]
    assert payload["state"] == "withdrawn"
    assert payload["supersedes"] == granted.json()["receipt_id"]
    assert current_state(consumer_a) == {(DESIGN, "shop-p"): False}

    regranted = post(client, grant_body(purpose, platform_p.slug, language="zh-hans"))
    assert regranted.status_code == 201
    assert regranted.json()["receipt"]["payload"]["language"] == "zh-hans"
    assert current_state(consumer_a) == {(DESIGN, "shop-p"): True}

    history = client.get("/api/v1/me/consents/history").json()
    assert [e["action"] for e in history] == ["grant", "withdraw", "grant"]
    assert [e["receipt_id"] for e in history] == [r.json()["receipt_id"] for r in (granted, withdrawn, regranted)]
    actions = list(AuditEvent.objects.filter(action__startswith="consent.").values_list("action", flat=True))
    assert actions == ["consent.granted", "consent.withdrawn", "consent.granted"]


def test_consent_is_per_platform(consumer_a, platform_p, platform_q, purposes):
    client = consumer_a.client()
    assert post(client, grant_body(purposes[DESIGN], platform_p.slug)).status_code == 201
    assert current_state(consumer_a) == {(DESIGN, "shop-p"): True}
    overview = client.get("/api/v1/me/purposes").json()
    design = next(p for p in overview if p["code"] == DESIGN)
    assert {p["platform"]: p["active"] for p in design["platforms"]} == {"shop-p": True, "shop-q": False}


def test_a_wrong_version_is_refused_as_notice_changed_and_nothing_is_recorded(consumer_a, platform_p, purposes):
    body = grant_body(purposes[DESIGN], platform_p.slug) | {"version": 2}
    response = post(consumer_a.client(), body)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "notice_changed"
    assert error["details"]["current_version"] == 1
    assert error["details"]["notice_digests"] == purposes[DESIGN].notice_digests
    assert not ConsentEvent.objects.exists() and not ConsentState.objects.exists()
    assert AuditEvent.objects.filter(action="consent.refused", outcome="denied").count() == 1


def test_a_stale_digest_is_refused(consumer_a, platform_p, purposes):
    body = grant_body(purposes[DESIGN], platform_p.slug) | {"notice_digest": "0" * 64}
    response = post(consumer_a.client(), body)
    assert response.status_code == 409 and response.json()["error"]["code"] == "notice_changed"
    assert not ConsentEvent.objects.exists()


def test_a_new_version_needs_new_consent(consumer_a, platform_p, purposes):
    client = consumer_a.client()
    assert post(client, grant_body(purposes[DESIGN], platform_p.slug)).status_code == 201
    document = purpose_file_read(f"clearinghouse/consent/purposes/{DESIGN}.json") | {"version": 2}
    document["notice"] = dict(document["notice"], en=document["notice"]["en"] + " We now also keep data 30 days longer.")
    v2, _ = purpose_publish(document=document, actor=Actor.operator(), approve=True)

    # The old consent names version 1, which is retired: it is not active for version 2.
    design = next(p for p in client.get("/api/v1/me/purposes").json() if p["code"] == DESIGN)
    shop_p = next(p for p in design["platforms"] if p["platform"] == "shop-p")
    assert shop_p == shop_p | {"active": False, "needs_renewal": True}
    stale = post(client, grant_body(purposes[DESIGN], platform_p.slug))
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "notice_changed"
    assert post(client, grant_body(v2, platform_p.slug)).status_code == 201


def test_only_approved_purposes_accept_grants_but_withdrawal_is_always_accepted(consumer_a, platform_p, purposes):
    document = purpose_file_read(f"clearinghouse/consent/purposes/{DESIGN}.json") | {"code": "draft-purpose"}
    draft, _ = purpose_publish(document=document, actor=Actor.operator())
    client = consumer_a.client()
    response = post(client, grant_body(draft, platform_p.slug))
    assert response.status_code == 409 and response.json()["error"]["code"] == "purpose_not_approved"
    assert not ConsentEvent.objects.exists()
    # Withdrawing from something never granted is still recorded: the person's intent counts.
    response = post(client, withdraw_body(platform_p.slug, purpose="draft-purpose"))
    assert response.status_code == 201
    assert response.json()["receipt"]["payload"]["state"] == "withdrawn"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"platform": "no-such-shop"}, "platform", "unknown_platform"),
        ({"purpose": "no-such-purpose"}, "purpose", "unknown_purpose"),
        ({"action": "maybe"}, "action", "invalid"),
        ({"notice_digest": "not-hex"}, "notice_digest", "invalid"),
        ({"version": "one"}, "version", "invalid"),
    ],
)
def test_bad_input_gets_a_clear_error_naming_the_field(consumer_a, platform_p, purposes, change, field, code):
    response = post(consumer_a.client(), grant_body(purposes[DESIGN], platform_p.slug) | change)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["message"]
    assert not ConsentEvent.objects.exists()


def test_grant_requires_version_and_digest(consumer_a, platform_p, purposes):
    response = post(consumer_a.client(), {"purpose": DESIGN, "platform": platform_p.slug, "action": "grant"})
    assert response.status_code == 400
    assert "required" in response.json()["error"]["message"]


# --- Receipts --------------------------------------------------------------------------


def _canonical(document) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _verify(receipt: dict, keys: list[dict]) -> bool:
    key = next((k for k in keys if k["id"] == receipt["key_id"]), None)
    if key is None:
        return False
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    try:
        public_key.verify(base64.b64decode(receipt["signature"]), _canonical(receipt["payload"]))
    except Exception:
        return False
    return True


def _leaf_paths(document, prefix=()):
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaf_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _leaf_paths(value, (*prefix, index))
    else:
        yield prefix


def _altered(value):
    if value is None:
        return "x"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return str(value) + "x"


def test_receipt_verifies_offline_with_the_published_key_and_fails_when_any_field_changes(consumer_a, platform_p, purposes):
    receipt = post(consumer_a.client(), grant_body(purposes[DESIGN], platform_p.slug)).json()["receipt"]
    keys = APIClient().get("/api/v1/keys").json()["keys"]
    assert receipt["alg"] == "Ed25519"
    assert _verify(receipt, keys)

    payload = receipt["payload"]
    for field in (
        "receipt_id",
        "schema_version",
        "jurisdiction",
        "controller",
        "subject",
        "purpose",
        "lawful_basis",
        "data_categories",
        "recipients",
        "retention_days",
        "state",
        "issued_at",
        "language",
        "withdrawal_method",
        "supersedes",
        "notice_digest",
        "collection_platform",
    ):
        assert field in payload, field
    assert payload["subject"] == {"pseudonym": str(consumer_a.consumer.pseudonym)}
    assert consumer_a.username not in json.dumps(payload)

    paths = list(_leaf_paths(payload))
    assert len(paths) > 20
    for path in paths:
        tampered = copy.deepcopy(receipt)
        node = tampered["payload"]
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = _altered(node[path[-1]])
        assert not _verify(tampered, keys), f"altering {'.'.join(map(str, path))} went unnoticed"
    assert not _verify(receipt | {"key_id": "ed25519:0000000000000000"}, keys)
    assert not _verify(receipt | {"signature": base64.b64encode(b"\0" * 64).decode()}, keys)


# --- The state table always equals the fold of the events ------------------------------

operations = st.lists(
    st.tuples(
        st.sampled_from(["alice", "bob"]),
        st.sampled_from([DESIGN, "c2m-demand-forecast"]),
        st.sampled_from(["shop-p", "shop-q"]),
        st.sampled_from(["grant", "withdraw"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=operations)
def test_state_table_equals_the_fold_of_events(consumer_a, consumer_b, platform_p, platform_q, purposes, sequence):
    from django.db import transaction

    consumers = {"alice": consumer_a.consumer, "bob": consumer_b.consumer}
    # Each example runs in a savepoint rolled back at the end, so examples are independent.
    with transaction.atomic():
        savepoint = transaction.savepoint()
        expected: dict = {}
        for who, code, platform, action in sequence:
            purpose = purposes[code]
            consent_change(
                consumer=consumers[who],
                request=ConsentRequest(
                    purpose_code=code,
                    platform_slug=platform,
                    action=action,
                    version=purpose.version,
                    notice_digest=purpose.notice_digests["en"],
                ),
                channel="api",
                actor=Actor(kind="consumer", id=str(consumers[who].pseudonym)),
            )
            expected[(consumers[who].pk, code, platform)] = action == "grant"

        folded = consent_fold(ConsentEvent.objects.select_related("purpose"))
        table = {
            (s.consumer_id, s.purpose_code, s.platform_id): (s.version, s.granted, s.last_event_id) for s in ConsentState.objects.all()
        }
        assert table == {key: (f.version, f.granted, f.last_event_id) for key, f in folded.items()}
        slugs = {platform_p.obj.pk: "shop-p", platform_q.obj.pk: "shop-q"}
        assert {(c, p, slugs[pl]): granted for (c, p, pl), (_, granted, _) in table.items()} == expected
        transaction.savepoint_rollback(savepoint)


def test_consent_events_cannot_be_changed_through_the_orm(consumer_a, platform_p, purposes):
    post(consumer_a.client(), grant_body(purposes[DESIGN], platform_p.slug))
    event = ConsentEvent.objects.get()
    event.action = "withdraw"
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_of_consent_events(consumer_a, platform_p, purposes):
    from django.db import DatabaseError, connection, transaction

    post(consumer_a.client(), grant_body(purposes[DESIGN], platform_p.slug))
    for statement in ("UPDATE consent_consentevent SET action = 'withdraw'", "DELETE FROM consent_consentevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert ConsentEvent.objects.get().action == "grant"
