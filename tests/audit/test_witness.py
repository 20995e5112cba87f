"""Issue 15 item 1: witnessed checkpoints. A witness cosigns only a checkpoint consistent
with the last one it cosigned, refuses and records a split view or a rollback; the service
collects cosignatures from the configured witnesses (one may be down) and publishes them;
the offline verifier requires N cosignatures from pinned witness keys."""

import base64
import json
import subprocess
import sys
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearinghouse.audit.models import AuditCheckpoint, AuditCosignature
from clearinghouse.audit.services import audit_checkpoint_sign, audit_log_identity
from clearinghouse.audit.tasks import audit_checkpoint_task
from clearinghouse.audit.tiles import checkpoint_note, checkpoint_origin, note_key_hash, tiles_write
from clearinghouse.audit.tree import TreeReader
from clearinghouse.audit.witness import (
    Witness,
    WitnessRefusal,
    add_checkpoint_body,
    cosignature_verify,
    public_key_raw,
    verifier_key,
    witness_server,
)
from clearinghouse.audit.witnessing import audit_checkpoint_cosign
from clearinghouse.core.crypto import signer_get
from tests.audit.conftest import TOOL_PATH, make_events


def log_key() -> bytes:
    return signer_get("checkpoints").public_key_raw


def make_witness(tmp_path, name="witness-a.example/1") -> Witness:
    origin = checkpoint_origin(str(audit_log_identity()))
    return Witness(
        name=name,
        private_key=Ed25519PrivateKey.generate(),
        logs={origin: log_key()},
        state_path=tmp_path / f"{name.replace('/', '_')}.json",
    )


def forged_note(size: int, root: bytes) -> str:
    """A checkpoint note signed by the log's real key for a tree the log never had: what an
    operator showing a split view would hand out."""
    signer = signer_get("checkpoints")
    origin = checkpoint_origin(str(audit_log_identity()))
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    signature = signer.private_key.sign(body.encode())
    return f"{body}\n\u2014 {origin} {base64.b64encode(note_key_hash(origin, signer.public_key_raw) + signature).decode()}\n"


def offer(witness: Witness, checkpoint, old: int) -> str:
    proof = TreeReader(checkpoint.tree_size).consistency(old) if 0 < old < checkpoint.tree_size else []
    return witness.add_checkpoint(add_checkpoint_body(old_size=old, proof=proof, note=checkpoint_note(checkpoint)))


def test_a_witness_cosigns_a_consistent_history(db, tmp_path):
    witness = make_witness(tmp_path)
    make_events(5)
    first, _ = audit_checkpoint_sign()
    line = offer(witness, first, 0).strip()
    body = checkpoint_note(first).split("\n\n")[0] + "\n"
    assert cosignature_verify(line=line, body=body, name=witness.name, public_key=public_key_raw(witness.private_key)) is not None
    make_events(7)
    second, _ = audit_checkpoint_sign()
    assert offer(witness, second, first.tree_size).startswith("\u2014 witness-a.example/1 ")
    state = json.loads(witness.state_path.read_text())
    assert state["logs"][checkpoint_origin(str(second.log_id))]["size"] == second.tree_size and state["alerts"] == []


def test_a_split_view_is_refused_and_reported(db, tmp_path):
    witness = make_witness(tmp_path)
    make_events(4)
    checkpoint, _ = audit_checkpoint_sign()
    offer(witness, checkpoint, 0)
    other = forged_note(checkpoint.tree_size, bytes(32))  # same size, another tree
    with pytest.raises(WitnessRefusal) as refusal:
        witness.add_checkpoint(add_checkpoint_body(old_size=checkpoint.tree_size, proof=[], note=other))
    assert refusal.value.status == 422 and "split view" in refusal.value.message
    alerts = json.loads(witness.state_path.read_text())["alerts"]
    assert [alert["kind"] for alert in alerts] == ["split_view"]
    assert alerts[0]["cosigned_root"] == base64.b64encode(bytes.fromhex(checkpoint.root_hash)).decode()


def test_a_rollback_is_refused_and_reported(db, tmp_path):
    witness = make_witness(tmp_path)
    make_events(4)
    small, _ = audit_checkpoint_sign()
    make_events(4)
    big, _ = audit_checkpoint_sign()
    offer(witness, big, 0)
    with pytest.raises(WitnessRefusal) as refusal:
        offer(witness, small, 0)
    assert refusal.value.status == 409 and "rollback" in refusal.value.message and refusal.value.body == f"{big.tree_size}\n"
    assert [alert["kind"] for alert in json.loads(witness.state_path.read_text())["alerts"]] == ["rollback"]


def test_a_larger_tree_that_does_not_extend_is_refused(db, tmp_path):
    witness = make_witness(tmp_path)
    make_events(4)
    checkpoint, _ = audit_checkpoint_sign()
    offer(witness, checkpoint, 0)
    make_events(4)
    later, _ = audit_checkpoint_sign()
    proof = TreeReader(later.tree_size).consistency(checkpoint.tree_size)
    lie = forged_note(later.tree_size, bytes(32))
    with pytest.raises(WitnessRefusal) as refusal:
        witness.add_checkpoint(add_checkpoint_body(old_size=checkpoint.tree_size, proof=proof, note=lie))
    assert refusal.value.status == 422


def test_a_checkpoint_not_signed_by_the_log_is_refused(db, tmp_path):
    witness = make_witness(tmp_path)
    make_events(2)
    checkpoint, _ = audit_checkpoint_sign()
    note = checkpoint_note(checkpoint)
    tampered = note.replace(f"\n{checkpoint.tree_size}\n", f"\n{checkpoint.tree_size + 1}\n", 1)
    with pytest.raises(WitnessRefusal) as refusal:
        witness.add_checkpoint(add_checkpoint_body(old_size=0, proof=[], note=tampered))
    assert refusal.value.status == 403


@pytest.fixture
def two_witnesses(db, tmp_path, settings):
    """One witness answering over HTTP, one configured but down."""
    witness = make_witness(tmp_path)
    server = witness_server(witness, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    down_key = Ed25519PrivateKey.generate()
    up_vkey = verifier_key(witness.name, public_key_raw(witness.private_key))
    down_vkey = verifier_key("witness-b.example/1", public_key_raw(down_key))
    settings.CH_AUDIT_WITNESSES = [f"{up_vkey}@http://127.0.0.1:{server.server_address[1]}", f"{down_vkey}@http://127.0.0.1:9"]
    settings.CH_AUDIT_WITNESS_TIMEOUT = 0.5
    yield witness, up_vkey, down_vkey
    server.shutdown()
    server.server_close()


def test_the_service_collects_and_publishes_cosignatures_and_the_verifier_requires_them(
    two_witnesses, tmp_path, django_capture_on_commit_callbacks
):
    from rest_framework.test import APIClient

    witness, up_vkey, down_vkey = two_witnesses
    make_events(300)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        checkpoint, _ = audit_checkpoint_sign()
    assert callbacks  # the cosigning task is sent on commit when witnesses are configured
    outcomes = audit_checkpoint_cosign(checkpoint_id=checkpoint.pk)
    assert outcomes == {witness.name: "cosigned", "witness-b.example/1": "unreachable"}
    make_events(30)
    later, _ = audit_checkpoint_sign()
    assert audit_checkpoint_cosign(checkpoint_id=later.pk)[witness.name] == "cosigned"  # with a consistency proof from the first
    assert AuditCosignature.objects.count() == 2

    note = APIClient().get("/api/v1/audit/tlog/checkpoint").content.decode()
    assert note.startswith(checkpoint_origin(str(later.log_id))) and f"\u2014 {witness.name} " in note

    tiles_write(directory=tmp_path / "mirror")
    (tmp_path / "keys.json").write_text(json.dumps(APIClient().get("/api/v1/keys").json()))

    def verify(*extra):
        return subprocess.run(
            [sys.executable, str(TOOL_PATH), "tiles", "--dir", str(tmp_path / "mirror"), "--keys", str(tmp_path / "keys.json"), *extra],
            capture_output=True,
            text=True,
        )

    one = verify("--witness", up_vkey, "--witness", down_vkey, "--require-witnesses", "1")
    assert one.returncode == 0, one.stderr and f"cosigned by {witness.name}" in one.stdout
    two = verify("--witness", up_vkey, "--witness", down_vkey, "--require-witnesses", "2")
    assert two.returncode == 1 and "not_witnessed" in two.stderr and "1 valid cosignature(s)" in two.stderr

    # A forged cosignature (the right name, another key) counts for nothing.
    forger = Ed25519PrivateKey.generate()
    from clearinghouse.audit.witness import cosign

    body = checkpoint_note(later).split("\n\n")[0] + "\n"
    fake = cosign(name="witness-b.example/1", private_key=forger, body=body, timestamp=1)
    checkpoint_file = tmp_path / "mirror" / "checkpoint"
    checkpoint_file.write_text(checkpoint_file.read_text() + fake + "\n")
    forged = verify("--witness", up_vkey, "--witness", down_vkey, "--require-witnesses", "2")
    assert forged.returncode == 1 and "not_witnessed" in forged.stderr


def test_a_checkpoint_nobody_offered_is_offered_by_the_next_checkpoint_run_of_a_quiet_log(
    two_witnesses, settings, django_capture_on_commit_callbacks
):
    """Signed where no witness is configured (``manage.py audit_checkpoint`` from a shell
    without the service's environment), or its cosign task lost: the beat's next checkpoint
    run, finding the log unchanged, signs nothing new but offers the latest checkpoint to
    the witnesses that have not cosigned it; once all have, it sends nothing."""
    witness, _up_vkey, _down_vkey = two_witnesses
    configured = settings.CH_AUDIT_WITNESSES
    make_events(5)
    settings.CH_AUDIT_WITNESSES = []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        checkpoint, created = audit_checkpoint_sign()
    assert created and not callbacks and not AuditCosignature.objects.exists()

    settings.CH_AUDIT_WITNESSES = configured
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert audit_checkpoint_task() == checkpoint.tree_size
    assert len(callbacks) == 1 and AuditCheckpoint.objects.count() == 1  # nothing new signed
    assert list(AuditCosignature.objects.values_list("checkpoint_id", "witness")) == [(checkpoint.pk, witness.name)]

    # The other witness is down: asked again on each run, until it answers.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        audit_checkpoint_task()
    assert len(callbacks) == 1
    settings.CH_AUDIT_WITNESSES = configured[:1]  # only the one that cosigned
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        audit_checkpoint_task()
    assert not callbacks


def test_witness_command_prints_its_verifier_key(tmp_path):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("witness", "key", "--name", "w.example/1", "--key", str(tmp_path / "w.pem"), stdout=out)
    vkey = out.getvalue().strip()
    assert vkey.startswith("w.example/1+") and (tmp_path / "w.pem").stat().st_mode & 0o777 == 0o600
    again = StringIO()
    call_command("witness", "key", "--name", "w.example/1", "--key", str(tmp_path / "w.pem"), stdout=again)
    assert again.getvalue().strip() == vkey  # the same key on the next start


def test_the_service_proves_from_the_size_a_witness_names(db, tmp_path, settings):
    """A witness that cosigned a checkpoint the service has no record of (say the service's
    copy was restored from an older backup) answers 409 with its size; the service proves
    from there and gets the cosignature."""
    witness = make_witness(tmp_path)
    make_events(6)
    first, _ = audit_checkpoint_sign()
    offer(witness, first, 0)  # cosigned behind the service's back: no AuditCosignature
    server = witness_server(witness, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        settings.CH_AUDIT_WITNESSES = [
            f"{verifier_key(witness.name, public_key_raw(witness.private_key))}@http://127.0.0.1:{server.server_address[1]}"
        ]
        make_events(5)
        later, _ = audit_checkpoint_sign()
        assert audit_checkpoint_cosign(checkpoint_id=later.pk) == {witness.name: "cosigned"}
        assert json.loads(witness.state_path.read_text())["alerts"] == []
    finally:
        server.shutdown()
        server.server_close()
