"""Appending, sealing and the stored tree, as the rest of the system uses them."""

import pytest
from django.db import IntegrityError, connection, transaction

from clearinghouse.audit import merkle
from clearinghouse.audit.chain import GENESIS_HASH, chain_hash, entry_leaf_hash, event_entry
from clearinghouse.audit.models import AuditEvent, AuditTreeNode
from clearinghouse.audit.selectors import audit_chain_verify, audit_consistency_proof, audit_inclusion_proof
from clearinghouse.audit.services import audit_append, audit_record, audit_seal
from clearinghouse.audit.tree import TreeReader
from clearinghouse.core.actors import Actor
from tests.audit.conftest import make_events

SYSTEM = Actor.system("tests")


def test_events_get_consecutive_positions_and_link_into_a_chain(db):
    make_events(5)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [event.seq for event in events] == [1, 2, 3, 4, 5]
    prev = GENESIS_HASH
    for event in events:
        assert event.leaf_hash == entry_leaf_hash(event_entry(event))
        assert event.prev_hash == prev
        assert event.hash == chain_hash(bytes.fromhex(prev), bytes.fromhex(event.leaf_hash)).hex()
        prev = event.hash


def test_an_event_rolled_back_with_its_action_leaves_no_gap(db):
    audit_record(actor=SYSTEM, action="test.kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_append(actor=SYSTEM, action="test.lost")
        raise RuntimeError("the action failed")
    audit_record(actor=SYSTEM, action="test.kept")
    audit_seal()
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", "action")) == [(1, "test.kept"), (2, "test.kept")]
    assert audit_chain_verify().ok


def test_append_outside_a_transaction_is_refused(db):
    # pytest-django's db fixture wraps the test in a transaction; leave it for this check.
    connection.in_atomic_block, saved = False, connection.in_atomic_block
    try:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            audit_append(actor=SYSTEM, action="test.event")
    finally:
        connection.in_atomic_block = saved


@pytest.mark.parametrize(
    "details, message",
    [
        ({"username": "alice"}, "personal data"),
        ({"nested": [{"subject_ref": "x"}]}, "personal data"),
        ({"epsilon": 0.5}, "decimal strings"),
        ({"big": 2**70}, "64 bits"),
        ({"text": "a\x00b"}, "NUL"),
        ({"when": object()}, "cannot hold"),
    ],
)
def test_details_that_could_break_erasure_or_verification_are_refused(db, details, message):
    with pytest.raises(ValueError, match=message):
        audit_record(actor=SYSTEM, action="test.event", details=details)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("action", ["Test.event", "event", "test.", "test..event", "test.évent"])
def test_malformed_actions_are_refused(db, action):
    with pytest.raises(ValueError, match="dotted lower-case"):
        audit_record(actor=SYSTEM, action=action)


def test_subtree_hashes_are_stored_as_the_log_grows(db):
    make_events(600)
    stored = {(node.level, node.index): node.hash for node in AuditTreeNode.objects.all()}
    assert set(stored) == {(8, 0), (8, 1)}
    leaves = [bytes.fromhex(value) for value in AuditEvent.objects.order_by("seq").values_list("leaf_hash", flat=True)]
    assert stored[(8, 0)] == merkle.root_of(leaves[:256]).hex()
    assert stored[(8, 1)] == merkle.root_of(leaves[256:512]).hex()
    assert TreeReader(600).root() == merkle.root_of(leaves)


def test_proofs_from_stored_hashes_verify_for_every_event(db):
    make_events(530)
    leaves = [bytes.fromhex(value) for value in AuditEvent.objects.order_by("seq").values_list("leaf_hash", flat=True)]
    for size in (1, 255, 256, 257, 511, 512, 530):
        root = merkle.root_of(leaves[:size])
        reader = TreeReader(size)
        assert reader.root() == root
        for index in range(0, size, 7 if size > 300 else 1):
            merkle.verify_inclusion(index, size, leaves[index], reader.inclusion(index), root)
        for first in (1, 2, 100, 255, 256, 257, size):
            if first <= size:
                merkle.verify_consistency(first, size, merkle.root_of(leaves[:first]), root, reader.consistency(first))


def test_a_proof_reads_a_handful_of_blocks_not_the_log(db):
    make_events(600)
    reader = TreeReader(600)
    reader.inclusion(300)
    assert reader.reads <= 4


def test_proof_requests_outside_the_log_are_refused(db):
    from clearinghouse.core.errors import Invalid, NotFound

    make_events(3)
    with pytest.raises(NotFound):
        audit_inclusion_proof(seq=1, tree_size=4)
    with pytest.raises(Invalid):
        audit_inclusion_proof(seq=3, tree_size=2)
    with pytest.raises(Invalid):
        audit_inclusion_proof(seq=0, tree_size=2)
    with pytest.raises(Invalid):
        audit_consistency_proof(first=3, second=2)
    with pytest.raises(NotFound):
        audit_consistency_proof(first=1, second=9)


@pytest.mark.postgres
def test_the_database_refuses_to_change_or_remove_an_event(db):
    make_events(257)  # one stored subtree hash too
    for statement in (
        "UPDATE audit_auditevent SET target = 'forged' WHERE seq = 1",
        "UPDATE audit_auditevent SET seq = 7 WHERE seq = 1",
        "UPDATE audit_auditevent SET hash = repeat('0', 64) WHERE seq = 2",
        "DELETE FROM audit_auditevent WHERE seq = 1",
        "TRUNCATE audit_auditevent",
        "DELETE FROM audit_audittreenode",
        "UPDATE audit_audittreenode SET hash = repeat('0', 64)",
    ):
        with pytest.raises(Exception, match="append-only|refused"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert audit_chain_verify().ok


@pytest.mark.postgres
def test_sealing_happens_once_and_only_sets_the_position(db):
    with transaction.atomic():
        # Simulate a writer that found the lock taken: the event is left unsealed.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO audit_auditevent (time, actor_kind, actor_id, action, target, outcome, details, leaf_hash) "
                "VALUES (now(), 'system', 'x', 'test.event', '', 'ok', '{}', %s) RETURNING id",
                ["ab" * 32],
            )
            event_id = cursor.fetchone()[0]
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET seq = 1, prev_hash = %s, hash = %s, target = 'forged' WHERE id = %s",
            [GENESIS_HASH, "cd" * 32, event_id],
        )
    audit_seal()
    event = AuditEvent.objects.get(id=event_id)
    assert event.seq == 1
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET seq = 2 WHERE id = %s", [event_id])


def test_model_instances_cannot_be_saved_again_or_deleted(db):
    event = audit_record(actor=SYSTEM, action="test.event")
    with pytest.raises(RuntimeError, match="append-only"):
        event.save()
    with pytest.raises(RuntimeError, match="append-only"):
        event.delete()


@pytest.mark.postgres
def test_seq_is_unique_so_a_fork_is_impossible(db):
    make_events(1)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, time, actor_kind, actor_id, action, target, outcome, details, leaf_hash, prev_hash, hash) "
            "VALUES (1, now(), 'system', 'x', 'test.fork', '', 'ok', '{}', %s, %s, %s)",
            ["ab" * 32, GENESIS_HASH, "cd" * 32],
        )


@pytest.mark.postgres
def test_a_verification_chunk_reads_the_stored_hashes_of_every_level_inside_it(db):
    from clearinghouse.audit.verifier import stored_nodes_within

    # Synthetic rows (verification would reject them, which is not the point here): which
    # stored levels and indexes belong to the second chunk of 2^20 leaves.
    chunk = 1 << 20
    rows = [(8, 4095), (8, 4096), (8, 8191), (8, 8192), (16, 15), (16, 16), (16, 31), (16, 32), (24, 0)]
    AuditTreeNode.objects.bulk_create([AuditTreeNode(level=level, index=index, hash=f"{level:02d}{index:062d}") for level, index in rows])
    with connection.cursor() as cursor:
        found = stored_nodes_within(cursor, chunk, 2 * chunk)
    assert set(found) == {(8, 4096), (8, 8191), (16, 16), (16, 31)}


def test_the_sealer_command_on_sqlite_says_it_needs_postgresql_without_a_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, CH_ENV="test", DJANGO_SETTINGS_MODULE="tests.settings", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.pop("DATABASE_TEST_NAME", None)
    root = Path(__file__).resolve().parents[2]
    finished = subprocess.run([sys.executable, "manage.py", "audit_sealer"], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert finished.returncode != 0
    assert "Traceback" not in finished.stderr and "audit sealer running" not in finished.stdout
    assert "the dedicated audit sealer needs PostgreSQL" in finished.stderr
