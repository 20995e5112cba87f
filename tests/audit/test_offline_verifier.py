"""tools/audit_verify.py, the auditor's verifier: given a good export, checkpoint and
proofs it accepts them, and every alteration of any of them is rejected and named."""

import ast
import copy
import json
import subprocess
import sys
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearinghouse.audit.selectors import EventFilter, audit_consistency_proof, audit_export_lines, audit_inclusion_proof
from clearinghouse.audit.services import audit_checkpoint_sign
from clearinghouse.core.crypto import b64encode, canonical_json, key_id_for, published_keys
from tests.audit.conftest import TOOL_PATH, make_events
from tests.conftest import module_build, module_world


@pytest.fixture(scope="module")
def world_of_module(module_db, django_db_blocker, offline):
    """A real log of 40 events with checkpoints at 30 and 40, its export and proofs, built
    once for the module (tests/conftest.py's module_db): every test here uses ``db``."""
    with module_build(django_db_blocker):
        return world_build(offline)


@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


def world_build(offline) -> dict:
    make_events(30)
    old, _ = audit_checkpoint_sign()
    make_events(10)
    new, _ = audit_checkpoint_sign()
    lines = b"".join(audit_export_lines(filters=EventFilter(), upto=new.tree_size)).decode().splitlines()
    return {
        "keys_document": {"keys": published_keys()},
        "keys": offline.load_keys({"keys": published_keys()}),
        "old": old.envelope(),
        "new": new.envelope(),
        "lines": lines,
        "inclusion": audit_inclusion_proof(seq=17),
        "event": json.loads(lines[16]),
        "consistency": audit_consistency_proof(first=old.tree_size, second=new.tree_size),
    }


def foreign_signer():
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = key_id_for(raw)

    def sign(payload):
        payload = dict(payload, key_id=key_id)
        return {"payload": payload, "signature": b64encode(key.sign(canonical_json(payload))), "key_id": key_id, "alg": "Ed25519"}

    return sign, {"id": key_id, "use": "checkpoints", "algorithm": "Ed25519", "public_key": b64encode(raw)}


def real_sign(payload):
    from clearinghouse.core.crypto import signer_get

    return signer_get("checkpoints").envelope(payload)


def rejects(offline, call) -> str:
    with pytest.raises(offline.VerificationError) as failure:
        call()
    return failure.value.code


def test_good_material_verifies(world, offline):
    assert offline.verify_log(world["lines"], [world["old"], world["new"]], world["keys"])["checkpoints_verified"] == 2
    assert offline.verify_inclusion_proof(world["inclusion"], world["new"], world["keys"], world["event"])["seq"] == 17
    assert offline.verify_consistency_proof(world["consistency"], world["old"], world["new"], world["keys"], pinned=world["old"])


# --- The export ---------------------------------------------------------------------------------


def edit(lines, index, **changes):
    row = json.loads(lines[index])
    row.update(changes)
    return [*lines[:index], json.dumps(row), *lines[index + 1 :]]


FIELD_EDITS = {
    "seq": 99,
    "time": "2020-01-01T00:00:00.000000Z",
    "actor_kind": "operator",
    "actor_id": "someone-else",
    "action": "test.other",
    "target": "forged",
    "outcome": "denied",
    "details": {"n": 999},
    "leaf_hash": "0" * 64,
    "prev_hash": "1" * 64,
    "hash": "2" * 64,
}


@pytest.mark.parametrize("field", sorted(FIELD_EDITS))
def test_every_field_of_a_row_edited_is_rejected(world, offline, field):
    lines = edit(world["lines"], 11, **{field: FIELD_EDITS[field]})
    code = rejects(offline, lambda: offline.verify_log(lines, [world["new"]], world["keys"]))
    assert code in {"content_mismatch", "broken_link", "sequence_gap", "root_mismatch"}


def test_export_mutations_are_each_named(world, offline):
    lines, new, old = world["lines"], world["new"], world["old"]
    foreign_sign, foreign_key = foreign_signer()
    truncated = lines[:35]
    tree = offline.CompactRange()
    for line in truncated:
        tree.append(bytes.fromhex(json.loads(line)["leaf_hash"]))
    # The attacker computes the right root for the truncated log, but cannot sign with our key.
    resigned_by_unknown_key = foreign_sign(dict(new["payload"], tree_size=35, root_hash=tree.root().hex()))
    table = {
        "edited row": (edit(lines, 5, target="forged"), [new], None, "content_mismatch"),
        "edited row, leaf hash recomputed": (
            edit(lines, 5, target="forged", leaf_hash=offline.entry_leaf_hash(dict(json.loads(lines[5]), target="forged")).hex()),
            [new],
            None,
            "broken_link",
        ),
        "deleted row": ([*lines[:7], *lines[8:]], [new], None, "sequence_gap"),
        "deleted first row": (lines[1:], [new], None, "sequence_gap"),
        "reordered rows": ([*lines[:9], lines[10], lines[9], *lines[11:]], [new], None, "sequence_gap"),
        "reordered rows, renumbered": (
            [*lines[:9], *edit([lines[10]], 0, seq=10), *edit([lines[9]], 0, seq=11), *lines[11:]],
            [new],
            None,
            "broken_link",
        ),
        "inserted row": ([*lines[:4], lines[4], *lines[4:]], [new], None, "sequence_gap"),
        "truncated tail": (truncated, [new], None, "truncated"),
        "truncated tail, checkpoint re-signed under an unknown key": (truncated, [resigned_by_unknown_key], None, "unknown_key"),
        "valid signature, root not matching": (lines, [real_sign(dict(new["payload"], root_hash="ab" * 32))], None, "root_mismatch"),
        "checkpoint beyond the export": (lines[:30], [new], None, "truncated"),
        "checkpoints from two logs": (lines, [old, real_sign(dict(new["payload"], log_id=str(uuid.uuid4())))], None, "different_log"),
        "a new log presented to a verifier that pinned the old one": (
            lines,
            [real_sign(dict(new["payload"], log_id=str(uuid.uuid4())))],
            old,
            "different_log",
        ),
        "the same log id, a different history, against the pinned checkpoint": (
            _rewritten_history(offline, lines),
            [],
            old,
            "root_mismatch",
        ),
        "no checkpoint at all": (lines, [], None, "malformed"),
        "unknown field in a row": (edit(lines, 3, note="trust me"), [new], None, "malformed"),
        "a line that is not JSON": ([*lines[:3], "{not json", *lines[4:]], [new], None, "malformed"),
    }
    failures = {}
    for name, (mutated, checkpoints, pinned, expected) in table.items():
        code = rejects(offline, lambda: offline.verify_log(mutated, checkpoints, world["keys"], pinned))
        if code != expected:
            failures[name] = (code, expected)
    assert failures == {}


def _rewritten_history(offline, lines):
    """A consistent-looking log with the same id but another history: every hash recomputed."""
    rows = [json.loads(line) for line in lines]
    rows[2]["target"] = "rewritten"
    prev = bytes(32)
    for row in rows:
        leaf = offline.entry_leaf_hash(row)
        row["leaf_hash"], row["prev_hash"] = leaf.hex(), prev.hex()
        prev = offline.chain_hash(prev, leaf)
        row["hash"] = prev.hex()
    return [json.dumps(row) for row in rows]


# --- Checkpoints ------------------------------------------------------------------------------


CHECKPOINT_EDITS = {
    "payload.log_id": lambda cp: cp["payload"].update(log_id=str(uuid.uuid4())),
    "payload.tree_size": lambda cp: cp["payload"].update(tree_size=cp["payload"]["tree_size"] - 1),
    "payload.root_hash": lambda cp: cp["payload"].update(root_hash="f" * 64),
    "payload.time": lambda cp: cp["payload"].update(time="2030-01-01T00:00:00.000000Z"),
    "payload.key_id": lambda cp: cp["payload"].update(key_id="ed25519:" + "0" * 16),
    "payload extra field": lambda cp: cp["payload"].update(note="x"),
    "payload missing field": lambda cp: cp["payload"].pop("time"),
    "signature": lambda cp: cp.update(signature="A" * 86 + "=="),
    "signature not base64": lambda cp: cp.update(signature="!!"),
    "envelope key_id": lambda cp: cp.update(key_id="ed25519:" + "1" * 16),
    "alg": lambda cp: cp.update(alg="RS256"),
}


@pytest.mark.parametrize("field", sorted(CHECKPOINT_EDITS))
def test_every_field_of_a_checkpoint_altered_is_rejected(world, offline, field):
    checkpoint = copy.deepcopy(world["new"])
    CHECKPOINT_EDITS[field](checkpoint)
    rejects(offline, lambda: offline.verify_checkpoint(checkpoint, world["keys"]))
    rejects(offline, lambda: offline.verify_log(world["lines"], [checkpoint], world["keys"]))


def test_keys_whose_id_does_not_match_the_key_are_refused(world, offline):
    document = copy.deepcopy(world["keys_document"])
    _, stranger = foreign_signer()
    for entry in document["keys"]:
        if entry["use"] == "checkpoints":
            entry["public_key"] = stranger["public_key"]
    assert rejects(offline, lambda: offline.load_keys(document)) == "malformed"


# --- Inclusion proofs -------------------------------------------------------------------------


INCLUSION_EDITS = {
    "log_id": lambda p: p.update(log_id=str(uuid.uuid4())),
    "seq": lambda p: p.update(seq=p["seq"] + 1),
    "leaf_index": lambda p: p.update(leaf_index=p["leaf_index"] + 1),
    "seq and leaf_index (a proof for a different index)": lambda p: p.update(seq=p["seq"] + 1, leaf_index=p["leaf_index"] + 1),
    "tree_size": lambda p: p.update(tree_size=p["tree_size"] - 1),
    "leaf_hash": lambda p: p.update(leaf_hash="a" * 64),
    "path element removed": lambda p: p["audit_path"].pop(),
    "path element added": lambda p: p["audit_path"].append("b" * 64),
    "unknown field": lambda p: p.update(trust="me"),
}


@pytest.mark.parametrize("field", sorted(INCLUSION_EDITS))
def test_every_field_of_an_inclusion_proof_altered_is_rejected(world, offline, field):
    proof = copy.deepcopy(world["inclusion"])
    INCLUSION_EDITS[field](proof)
    rejects(offline, lambda: offline.verify_inclusion_proof(proof, world["new"], world["keys"]))


def test_each_path_element_of_an_inclusion_proof_matters(world, offline):
    for position in range(len(world["inclusion"]["audit_path"])):
        proof = copy.deepcopy(world["inclusion"])
        item = proof["audit_path"][position]
        proof["audit_path"][position] = ("0" if item[0] != "0" else "1") + item[1:]
        assert rejects(offline, lambda: offline.verify_inclusion_proof(proof, world["new"], world["keys"])) == "bad_proof"


def test_inclusion_proof_against_another_size_or_for_another_event_is_rejected(world, offline):
    assert rejects(offline, lambda: offline.verify_inclusion_proof(world["inclusion"], world["old"], world["keys"])) == "wrong_size"
    other_event = json.loads(world["lines"][17])
    assert (
        rejects(offline, lambda: offline.verify_inclusion_proof(world["inclusion"], world["new"], world["keys"], other_event))
        == "wrong_index"
    )
    edited = dict(world["event"], target="forged")
    assert (
        rejects(offline, lambda: offline.verify_inclusion_proof(world["inclusion"], world["new"], world["keys"], edited))
        == "content_mismatch"
    )


# --- Consistency proofs -----------------------------------------------------------------------


CONSISTENCY_EDITS = {
    "log_id": lambda p: p.update(log_id=str(uuid.uuid4())),
    "first": lambda p: p.update(first=p["first"] - 1),
    "second": lambda p: p.update(second=p["second"] + 1),
    "element removed": lambda p: p["proof"].pop(),
    "element added": lambda p: p["proof"].append("c" * 64),
    "empty": lambda p: p.update(proof=[]),
    "unknown field": lambda p: p.update(note="x"),
}


@pytest.mark.parametrize("field", sorted(CONSISTENCY_EDITS))
def test_every_field_of_a_consistency_proof_altered_is_rejected(world, offline, field):
    proof = copy.deepcopy(world["consistency"])
    CONSISTENCY_EDITS[field](proof)
    rejects(offline, lambda: offline.verify_consistency_proof(proof, world["old"], world["new"], world["keys"]))


def test_each_element_of_a_consistency_proof_matters_and_order_matters(world, offline):
    for position in range(len(world["consistency"]["proof"])):
        proof = copy.deepcopy(world["consistency"])
        item = proof["proof"][position]
        proof["proof"][position] = ("0" if item[0] != "0" else "1") + item[1:]
        assert rejects(offline, lambda: offline.verify_consistency_proof(proof, world["old"], world["new"], world["keys"])) in {
            "inconsistent",
            "bad_proof",
        }
    swapped = rejects(offline, lambda: offline.verify_consistency_proof(world["consistency"], world["new"], world["old"], world["keys"]))
    assert swapped == "wrong_size"


def test_a_rewritten_log_cannot_prove_consistency_with_the_pinned_checkpoint(world, offline):
    # The operator re-signs (with the real key) a checkpoint over a different history of
    # the same length and serves a proof from the real tree: the pinned old root exposes it.
    forged_old = real_sign(dict(world["old"]["payload"], root_hash="9" * 64))
    assert (
        rejects(offline, lambda: offline.verify_consistency_proof(world["consistency"], forged_old, world["new"], world["keys"]))
        == "inconsistent"
    )
    new_log = real_sign(dict(world["new"]["payload"], log_id=str(uuid.uuid4())))
    assert (
        rejects(
            offline,
            lambda: offline.verify_consistency_proof(world["consistency"], world["old"], new_log, world["keys"], pinned=world["old"]),
        )
        == "different_log"
    )


# --- The command line and the single-file promise ---------------------------------------------------


def test_command_line_exit_codes_and_messages(world, tmp_path):
    def write(name, document):
        path = tmp_path / name
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        return str(path)

    keys = write("keys.json", world["keys_document"])
    checkpoint = write("checkpoint.json", world["new"])
    good = write("audit.jsonl", "\n".join(world["lines"]) + "\n")
    bad = write("tampered.jsonl", "\n".join(edit(world["lines"], 20, outcome="denied")) + "\n")

    def run(*args):
        return subprocess.run([sys.executable, "-I", str(TOOL_PATH), *args], capture_output=True, text=True, timeout=60)

    ok = run("log", "--export", good, "--keys", keys, "--checkpoint", checkpoint)
    assert ok.returncode == 0, ok.stderr
    assert "OK: log" in ok.stdout and "40 events" in ok.stdout
    broken = run("log", "--export", bad, "--keys", keys, "--checkpoint", checkpoint)
    assert broken.returncode == 1
    assert "FAILED (content_mismatch): seq 21" in broken.stderr
    proof = write("proof.json", world["inclusion"])
    event = write("event.json", world["event"])
    assert run("inclusion", "--proof", proof, "--keys", keys, "--event", event).returncode == 0
    consistency = write("consistency.json", world["consistency"])
    old = write("old.json", world["old"])
    assert run("consistency", "--proof", consistency, "--old", old, "--new", checkpoint, "--keys", keys, "--pinned", old).returncode == 0
    missing = run("log", "--export", str(tmp_path / "nope.jsonl"), "--keys", keys, "--checkpoint", checkpoint)
    assert missing.returncode != 0 and "cannot read" in missing.stderr


def test_the_verifier_is_one_file_needing_only_the_standard_library_and_cryptography():
    tree = ast.parse(TOOL_PATH.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    assert modules - set(sys.stdlib_module_names) - {"__future__"} == {"cryptography"}


def test_the_worked_example_in_docs_audit_md(offline):
    from clearinghouse.audit.chain import chain_hash, entry_leaf_hash

    entry = {
        "time": "2026-11-22T06:15:04.288289Z",
        "actor_kind": "consumer",
        "actor_id": "3f1c2a9e-8d4b-4f6a-9b7e-2c5d1e0a7b64",
        "action": "consent.granted",
        "target": "purpose:c2m-product-design@platform:shop-p",
        "outcome": "ok",
        "details": {
            "subject": "3f1c2a9e-8d4b-4f6a-9b7e-2c5d1e0a7b64",
            "purpose_version": 1,
            "receipt_id": "9a0e7c1b-52f3-4d8e-a6b1-0f4c3d2e1b90",
            "channel": "portal",
        },
    }
    leaf = "f9803e733b21fce66e58eebc01d25eabfdd02578099881bb8596d70085e30362"
    first_hash = "4bef8b9ee716a55f5995fcc22f816e6f5445148f31d7a9677eeea542997d8031"
    assert entry_leaf_hash(entry) == leaf == offline.entry_leaf_hash(entry).hex()
    assert chain_hash(bytes(32), bytes.fromhex(leaf)).hex() == first_hash == offline.chain_hash(bytes(32), bytes.fromhex(leaf)).hex()
    docs = (TOOL_PATH.parents[1] / "docs" / "audit.md").read_text()
    assert leaf in docs and first_hash in docs
