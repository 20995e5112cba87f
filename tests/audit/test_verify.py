"""Verification trusts nothing stored: each kind of tampering is caught and named.

Tampering needs to get past the database's append-only triggers, as an attacker with
superuser access would: ``session_replication_role = replica`` switches triggers off.
"""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from clearinghouse.audit.chain import chain_hash, entry_leaf_hash, format_time
from clearinghouse.audit.models import AuditCheckpoint, AuditEvent
from clearinghouse.audit.selectors import audit_chain_verify
from clearinghouse.audit.services import audit_checkpoint_sign
from clearinghouse.core.crypto import canonical_json
from tests.audit.conftest import make_events

pytestmark = pytest.mark.postgres


def tamper(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def rewrite_from(seq: int, target: str):
    """A careful attacker: edit event ``seq`` and recompute its leaf hash and every chain
    hash after it, so that the chain alone looks intact."""
    events = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq"))
    prev = bytes.fromhex(events[0].prev_hash)
    for event in events:
        if event.seq == seq:
            event.target = target
        entry = {
            "time": format_time(event.time),
            "actor_kind": event.actor_kind,
            "actor_id": event.actor_id,
            "action": event.action,
            "target": event.target,
            "outcome": event.outcome,
            "details": event.details,
        }
        leaf = entry_leaf_hash(entry)
        current = chain_hash(prev, bytes.fromhex(leaf)).hex()
        tamper(
            "UPDATE audit_auditevent SET target = %s, leaf_hash = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            [event.target, leaf, prev.hex(), current, event.seq],
        )
        prev = bytes.fromhex(current)


def test_an_intact_log_verifies_completely(db):
    make_events(300)
    audit_checkpoint_sign()
    make_events(20)
    audit_checkpoint_sign()
    result = audit_chain_verify()
    assert result.ok, result.reason
    assert (result.checked, result.head_seq, result.checkpoints_checked, result.first_bad_seq) == (320, 320, 2, None)
    assert result.head_hash == AuditEvent.objects.get(seq=320).hash


def test_empty_log_verifies(db):
    result = audit_chain_verify()
    assert result.ok and result.checked == 0 and result.head_seq is None


TAMPERING = {
    "edited row": (
        lambda: tamper("UPDATE audit_auditevent SET target = 'forged' WHERE seq = 3"),
        3,
        "row content does not match its leaf hash",
    ),
    "edited details": (
        lambda: tamper("""UPDATE audit_auditevent SET details = '{"n": 99}' WHERE seq = 4"""),
        4,
        "row content does not match its leaf hash",
    ),
    "edited time": (
        lambda: tamper("UPDATE audit_auditevent SET time = time + interval '1 second' WHERE seq = 5"),
        5,
        "row content does not match its leaf hash",
    ),
    "edited row with recomputed leaf hash": (
        lambda: tamper(
            "UPDATE audit_auditevent SET target = 'forged', leaf_hash = %s WHERE seq = 3",
            [
                entry_leaf_hash(
                    {
                        "time": "x",
                        "actor_kind": "system",
                        "actor_id": "tests",
                        "action": "test.event",
                        "target": "forged",
                        "outcome": "ok",
                        "details": {},
                    }
                )
            ],
        ),
        3,
        "row content does not match its leaf hash",
    ),
    "deleted row": (lambda: tamper("DELETE FROM audit_auditevent WHERE seq = 6"), 6, "sequence number 6 is missing"),
    "reordered rows": (
        lambda: (
            tamper("UPDATE audit_auditevent SET seq = -7 WHERE seq = 7"),
            tamper("UPDATE audit_auditevent SET seq = 7 WHERE seq = 8"),
            tamper("UPDATE audit_auditevent SET seq = 8 WHERE seq = -7"),
        ),
        7,
        "previous-hash link does not match",
    ),
    "broken link": (lambda: tamper("UPDATE audit_auditevent SET prev_hash = repeat('a', 64) WHERE seq = 9"), 9, "previous-hash link"),
    "first link not even hex": (
        lambda: tamper("UPDATE audit_auditevent SET prev_hash = repeat('z', 64) WHERE seq = 1"),
        1,
        "previous-hash link",
    ),
    "forged chain hash": (
        lambda: tamper("UPDATE audit_auditevent SET hash = repeat('b', 64) WHERE seq = 10"),
        10,
        "chain hash does not match",
    ),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_tampering_with_rows_is_named_at_its_sequence_number(db, name):
    make_events(12)
    change, first_bad, reason = TAMPERING[name]
    change()
    result = audit_chain_verify()
    assert not result.ok
    assert result.first_bad_seq == first_bad
    assert reason in result.reason


def test_a_rewritten_history_with_a_recomputed_chain_is_caught_by_the_checkpoint(db):
    make_events(12)
    audit_checkpoint_sign()
    rewrite_from(5, "forged")
    result = audit_chain_verify()
    assert not result.ok
    assert "root does not match" in result.reason
    assert result.bad_checkpoint == AuditCheckpoint.objects.get().pk


def test_a_rewritten_history_is_caught_by_the_stored_subtree_hashes_even_without_a_checkpoint(db):
    make_events(300)
    rewrite_from(100, "forged")
    result = audit_chain_verify()
    assert not result.ok
    assert result.first_bad_seq == 1  # the first subtree covering the rewritten event
    assert "subtree hash (level 8, index 0)" in result.reason


def test_a_truncated_tail_is_caught_by_the_checkpoint_that_covered_it(db):
    make_events(12)
    audit_checkpoint_sign()
    tamper("DELETE FROM audit_auditevent WHERE seq > 10")
    result = audit_chain_verify()
    assert not result.ok
    assert "vouches for 12 events but the log holds 10" in result.reason
    assert result.first_bad_seq == 11


@pytest.mark.parametrize(
    "change, reason",
    [
        ("UPDATE audit_auditcheckpoint SET signature = %s", "invalid signature"),
        ("UPDATE audit_auditcheckpoint SET key_id = 'ed25519:0000000000000000'", "unknown key"),
        ("UPDATE audit_auditcheckpoint SET log_id = '00000000-0000-0000-0000-000000000000'", "not this log"),
        ("UPDATE audit_auditcheckpoint SET root_hash = repeat('c', 64)", "invalid signature"),
        ("UPDATE audit_auditcheckpoint SET tree_size = 11", "invalid signature"),
    ],
)
def test_a_tampered_checkpoint_is_named(db, change, reason):
    make_events(12)
    checkpoint, _ = audit_checkpoint_sign()
    tamper(change, ["A" * 86 + "=="] if "%s" in change else [])
    result = audit_chain_verify()
    assert not result.ok
    assert reason in result.reason
    assert result.bad_checkpoint == checkpoint.pk


def test_a_validly_signed_checkpoint_over_another_root_is_caught(db):
    from clearinghouse.core.crypto import signer_get

    make_events(12)
    checkpoint, _ = audit_checkpoint_sign()
    payload = checkpoint.payload() | {"root_hash": "d" * 64}
    tamper(
        "UPDATE audit_auditcheckpoint SET root_hash = %s, signature = %s WHERE id = %s",
        [payload["root_hash"], signer_get("checkpoints").sign(payload), checkpoint.pk],
    )
    result = audit_chain_verify()
    assert not result.ok and "root does not match" in result.reason


def test_a_later_checkpoint_for_a_smaller_log_is_caught(db):
    make_events(12)
    audit_checkpoint_sign()
    make_events(4)
    later, _ = audit_checkpoint_sign()
    # A validly signed, correct-for-its-size checkpoint, but signed after a bigger one.
    from clearinghouse.audit.tree import TreeReader
    from clearinghouse.core.crypto import signer_get

    smaller = AuditCheckpoint(
        log_id=later.log_id, tree_size=10, root_hash=TreeReader(10).root().hex(), time=later.time, key_id=later.key_id
    )
    smaller.signature = signer_get("checkpoints").sign(smaller.payload())
    smaller.save()
    result = audit_chain_verify()
    assert not result.ok and "the log shrank" in result.reason


def test_a_tampered_stored_subtree_hash_is_caught(db):
    make_events(260)
    tamper("UPDATE audit_audittreenode SET hash = repeat('e', 64)")
    result = audit_chain_verify()
    assert not result.ok and "does not match the events it covers" in result.reason


def test_erasing_a_person_leaves_the_log_intact_and_free_of_their_identity(db, make_consumer, platform_p, purposes):
    from clearinghouse.audit.selectors import EventFilter, audit_export_lines
    from tests.conftest import grant_body, link_subject

    alice = make_consumer("alice-erasure-test")
    link_subject(alice, platform_p, "shop-p-customer-8841")
    response = alice.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], platform_p.slug), format="json")
    assert response.status_code == 201, response.content
    audit_checkpoint_sign()
    from clearinghouse.core.actors import Actor
    from clearinghouse.subjects.services import consumer_erase

    consumer = alice.consumer
    consumer_erase(consumer=consumer, actor=Actor(kind="consumer", id=str(consumer.pseudonym)))
    consumer.refresh_from_db()
    assert consumer.erased_at is not None and consumer.user_id is None
    assert AuditEvent.objects.filter(action="consumer.erased", target=f"consumer:{consumer.pseudonym}").exists()
    result = audit_chain_verify()
    assert result.ok, result.reason
    export = b"".join(audit_export_lines(filters=EventFilter(), upto=result.checked)).decode()
    assert str(consumer.pseudonym) in export  # events point to the person pseudonymously
    for personal in ("alice-erasure-test", "shop-p-customer-8841", alice.password):
        assert personal not in export


def test_verify_audit_command_exits_0_when_intact_and_1_naming_the_break(db, capsys):
    make_events(5)
    audit_checkpoint_sign()
    call_command("verify_audit")
    assert "audit log intact: 5 events" in capsys.readouterr().out
    tamper("UPDATE audit_auditevent SET outcome = 'denied' WHERE seq = 2")
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit")
    assert failure.value.returncode == 1
    assert "BROKEN at sequence number 2" in str(failure.value)
    # The command only reads: checking the log adds nothing to it.
    assert not AuditEvent.objects.filter(action="audit.verified").exists()


def test_canonical_encoding_is_what_is_hashed(db):
    (event,) = make_events(1)
    event = AuditEvent.objects.get(pk=event.pk)
    import hashlib

    entry = {
        "action": "test.event",
        "actor_id": "tests",
        "actor_kind": "system",
        "details": {"n": 0},
        "outcome": "ok",
        "target": "",
        "time": format_time(event.time),
    }
    assert canonical_json(entry) == (
        b'{"action":"test.event","actor_id":"tests","actor_kind":"system","details":{"n":0},"outcome":"ok","target":"","time":"'
        + format_time(event.time).encode()
        + b'"}'
    )
    assert event.leaf_hash == hashlib.sha256(b"\x00" + canonical_json(entry)).hexdigest()
    assert event.hash == hashlib.sha256(bytes(32) + bytes.fromhex(event.leaf_hash)).hexdigest()


@pytest.mark.postgres
def test_an_unexpected_error_mid_stream_fails_verification_instead_of_hanging_it(db, monkeypatch):
    from types import SimpleNamespace

    import orjson

    from clearinghouse.audit import verifier

    make_events(5)

    def unreadable(_data):
        raise RuntimeError("details unreadable")

    monkeypatch.setattr(verifier, "orjson", SimpleNamespace(dumps=orjson.dumps, loads=unreadable, OPT_SORT_KEYS=orjson.OPT_SORT_KEYS))
    with pytest.raises(RuntimeError, match="details unreadable"):
        audit_chain_verify()
    monkeypatch.undo()
    assert audit_chain_verify().ok  # the connection is usable again: the COPY was ended
