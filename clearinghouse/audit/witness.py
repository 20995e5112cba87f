"""Witnesses: C2SP signed-note, tlog-cosignature/v1 and tlog-witness, without Django.

A witness is a small separate process (``manage.py witness``, docs/audit.md) run by
someone other than the operator, with its own Ed25519 key and a state file. It cosigns a
checkpoint of the log only after checking it extends the last checkpoint it cosigned (an
RFC 6962 consistency proof), and refuses, and reports, a rollback (a smaller tree) or a
split view (a different tree of a size it already cosigned). An operator who shows two
auditors two histories then cannot get both cosigned by the same witness.

Everything here is pure: bytes in, bytes out; the state is a JSON file written atomically.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from clearinghouse.audit.merkle import ProofError, verify_consistency

ED25519 = b"\x01"
COSIGNATURE_V1 = b"\x04"
EM_DASH = "\u2014"


class WitnessRefusal(Exception):
    """The witness will not cosign. ``status`` is the tlog-witness HTTP status."""

    def __init__(self, status: int, message: str, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body if body is not None else message + "\n"


def key_hash(name: str, public_key: bytes, signature_type: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + signature_type + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes, signature_type: bytes = COSIGNATURE_V1) -> str:
    """A C2SP note verifier key: ``<name>+<key hash hex>+<base64(type || public key)>``."""
    return f"{name}+{key_hash(name, public_key, signature_type).hex()}+{base64.b64encode(signature_type + public_key).decode()}"


def verifier_key_parse(text: str) -> tuple[str, bytes, bytes]:
    """-> (name, signature type, public key); ValueError when it is not one."""
    name, hash_hex, blob = text.strip().split("+", 2)
    raw = base64.b64decode(blob, validate=True)
    signature_type, public_key = raw[:1], raw[1:]
    if len(public_key) != 32 or key_hash(name, public_key, signature_type).hex() != hash_hex:
        raise ValueError("not a verifier key")
    return name, signature_type, public_key


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    body: str  # the signed text: origin, size, root (and any extension lines), each ending in \n
    signatures: list[str]


def note_parse(text: str) -> Checkpoint:
    body, sep, signatures = text.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 3 or not signatures.endswith("\n") or not re.fullmatch(r"0|[1-9][0-9]{0,18}", lines[1]):
        raise WitnessRefusal(400, "not a checkpoint note")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        root = b""
    if len(root) != 32:
        raise WitnessRefusal(400, "the checkpoint's root hash is not 32 bytes")
    return Checkpoint(origin=lines[0], size=int(lines[1]), root=root, body=body + "\n", signatures=signatures[:-1].split("\n"))


def note_signed_by(checkpoint: Checkpoint, name: str, public_key: bytes) -> bool:
    """True when one signature line is ``name``'s valid Ed25519 note signature."""
    wanted = key_hash(name, public_key, ED25519)
    for line in checkpoint.signatures:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if blob[:4] != wanted:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(blob[4:], checkpoint.body.encode())
            return True
        except InvalidSignature:
            return False
    return False


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def cosign(*, name: str, private_key: Ed25519PrivateKey, body: str, timestamp: int) -> str:
    public_key = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    signature = private_key.sign(cosignature_message(body, timestamp))
    blob = key_hash(name, public_key, COSIGNATURE_V1) + timestamp.to_bytes(8, "big") + signature
    return f"{EM_DASH} {name} {base64.b64encode(blob).decode()}"


def cosignature_verify(*, line: str, body: str, name: str, public_key: bytes) -> int | None:
    """The cosignature's time when ``line`` is ``name``'s valid cosignature of ``body``."""
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != EM_DASH or parts[1] != name:
        return None
    try:
        blob = base64.b64decode(parts[2], validate=True)
    except ValueError:
        return None
    if len(blob) != 4 + 8 + 64 or blob[:4] != key_hash(name, public_key, COSIGNATURE_V1):
        return None
    timestamp = int.from_bytes(blob[4:12], "big")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(blob[12:], cosignature_message(body, timestamp))
    except InvalidSignature:
        return None
    return timestamp


def add_checkpoint_body(*, old_size: int, proof: list[bytes], note: str) -> str:
    """The body of a tlog-witness add-checkpoint request."""
    return f"old {old_size}\n" + "".join(base64.b64encode(item).decode() + "\n" for item in proof) + "\n" + note


class Witness:
    """One witness: its key, the logs it follows (origin -> the log's public key) and its
    state file ({origin: {"size", "root"}, "alerts": [...]})."""

    def __init__(self, *, name: str, private_key: Ed25519PrivateKey, logs: dict[str, bytes], state_path: Path, clock=time.time):
        self.name = name
        self.private_key = private_key
        self.logs = logs
        self.state_path = state_path
        self.clock = clock
        self._lock = threading.Lock()

    def _state(self) -> dict:
        if not self.state_path.exists():
            return {"logs": {}, "alerts": []}
        return json.loads(self.state_path.read_text())

    def _save(self, state: dict) -> None:
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.replace(temporary, self.state_path)

    def _alert(self, state: dict, kind: str, origin: str, detail: dict) -> None:
        state["alerts"].append({"kind": kind, "origin": origin, "time": int(self.clock()), **detail})
        self._save(state)

    def add_checkpoint(self, request: str) -> str:
        """Handle one add-checkpoint request; the cosignature line, or WitnessRefusal."""
        head, sep, note = request.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old ") or not lines[0][4:].isdigit():
            raise WitnessRefusal(400, "expected 'old <size>', the proof, a blank line and the checkpoint")
        old_size = int(lines[0][4:])
        try:
            proof = [base64.b64decode(item, validate=True) for item in lines[1:]]
        except ValueError:
            raise WitnessRefusal(400, "the consistency proof is not base64") from None
        checkpoint = note_parse(note)
        log_key = self.logs.get(checkpoint.origin)
        if log_key is None:
            raise WitnessRefusal(404, f"unknown log {checkpoint.origin!r}")
        if not note_signed_by(checkpoint, checkpoint.origin, log_key):
            raise WitnessRefusal(403, "the checkpoint is not signed by the log's key")
        with self._lock:
            state = self._state()
            known = state["logs"].get(checkpoint.origin, {"size": 0, "root": None})
            if checkpoint.size < known["size"]:
                self._alert(state, "rollback", checkpoint.origin, {"size": checkpoint.size, "cosigned_size": known["size"]})
                raise WitnessRefusal(409, f"rollback: the log already showed me {known['size']} entries", f"{known['size']}\n")
            if old_size != known["size"]:
                raise WitnessRefusal(409, f"I last cosigned size {known['size']}, not {old_size}", f"{known['size']}\n")
            if known["root"] is not None:
                old_root = base64.b64decode(known["root"])
                if checkpoint.size == known["size"] and checkpoint.root != old_root:
                    self._alert(
                        state,
                        "split_view",
                        checkpoint.origin,
                        {
                            "size": checkpoint.size,
                            "cosigned_root": known["root"],
                            "offered_root": base64.b64encode(checkpoint.root).decode(),
                        },
                    )
                    raise WitnessRefusal(422, f"split view: a different tree of size {checkpoint.size} than the one I cosigned")
                try:
                    verify_consistency(known["size"], checkpoint.size, old_root, checkpoint.root, proof)
                except ProofError:
                    self._alert(state, "inconsistent", checkpoint.origin, {"size": checkpoint.size, "cosigned_size": known["size"]})
                    raise WitnessRefusal(422, "the checkpoint does not extend the one I cosigned") from None
            state["logs"][checkpoint.origin] = {"size": checkpoint.size, "root": base64.b64encode(checkpoint.root).decode()}
            self._save(state)
        return cosign(name=self.name, private_key=self.private_key, body=checkpoint.body, timestamp=int(self.clock())) + "\n"


def witness_key_load_or_create(path: Path) -> Ed25519PrivateKey:
    """The witness's own key (PEM, created with mode 0600 on first use)."""
    if not path.exists():
        new = Ed25519PrivateKey.generate()
        pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return key


def public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def witness_server(witness: Witness, host: str, port: int):
    """A ThreadingHTTPServer answering POST /add-checkpoint (C2SP tlog-witness)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            if self.path != "/add-checkpoint":
                self._answer(404, "not found\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1 << 16:
                self._answer(400, "request too large\n")
                return
            try:
                request = self.rfile.read(length).decode("utf-8")
                self._answer(200, witness.add_checkpoint(request))
            except UnicodeDecodeError:
                self._answer(400, "not UTF-8\n")
            except WitnessRefusal as refusal:
                content_type = "text/x.tlog.size" if refusal.status == 409 else "text/plain; charset=utf-8"
                self._answer(refusal.status, refusal.body, content_type)
                self.log_message("refused: %s", refusal.message)

        def _answer(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return ThreadingHTTPServer((host, port), Handler)


# --- Running a witness: `python -m clearinghouse.audit.witness` (no Django, no database) ---------


def logs_parse(items: list[str]) -> dict[str, bytes]:
    """``ORIGIN=BASE64`` items (an origin has no "="; base64 may end in "=") -> {origin: key}."""
    logs = {}
    for item in items:
        origin, _sep, encoded = item.strip().partition("=")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raw = b""
        if not origin or len(raw) != 32:
            raise ValueError(f"{item!r}: expected ORIGIN=BASE64 with a 32-byte Ed25519 public key")
        logs[origin] = raw
    return logs


def _publish(path: Path, text: str) -> None:
    """Write public text (a verifier key) atomically, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    os.replace(temporary, path)


def witness_parser():
    """The witness's arguments (also read by tests/test_docker.py on docker/compose.yaml)."""
    import argparse

    parser = argparse.ArgumentParser(prog="witness", description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["key", "serve"])
    parser.add_argument("--name", required=True, help="the witness's name, e.g. witness.example.org/1")
    parser.add_argument("--key", required=True, help="the witness's private key file (created if missing, mode 0600)")
    parser.add_argument("--publish", help="also write the verifier key to this file (public: for the operator to collect)")
    parser.add_argument("--state", help="serve: the state file (the latest size and root cosigned per log, and alerts)")
    parser.add_argument("--log", action="append", default=[], help="serve: ORIGIN=BASE64 a log to follow and its checkpoints key")
    parser.add_argument("--log-file", help="serve: a file of ORIGIN=BASE64 lines (manage.py audit_origin writes one)")
    parser.add_argument("--listen", default="127.0.0.1:7380", help="serve: host:port (default 127.0.0.1:7380; port 0: any free)")
    return parser


def witness_main(argv: list[str] | None = None, out=None) -> int:
    """The witness's command line; ``manage.py witness`` is the same with Django around it.

    key:   create the key if missing and print (``--publish``: also write) the verifier key.
    serve: follow the logs named by ``--log ORIGIN=KEY`` and/or ``--log-file`` (one such line
           per line, e.g. written by ``manage.py audit_origin``) and answer add-checkpoint.
    """
    import sys

    out = out or sys.stdout
    parser = witness_parser()
    args = parser.parse_args(argv)
    private_key = witness_key_load_or_create(Path(args.key))
    vkey = verifier_key(args.name, public_key_raw(private_key))
    if args.mode == "key":
        if args.publish:
            _publish(Path(args.publish), vkey)
        out.write(vkey + "\n")
        return 0
    items = list(args.log)
    if args.log_file:
        try:
            items += [line for line in Path(args.log_file).read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as error:
            parser.error(f"--log-file: {error}")
    if not args.state or not items:
        parser.error("serve needs --state and at least one log (--log ORIGIN=KEY or --log-file)")
    try:
        logs = logs_parse(items)
    except ValueError as error:
        parser.error(f"--log: {error}")
    host, _colon, port = args.listen.rpartition(":")
    witness = Witness(name=args.name, private_key=private_key, logs=logs, state_path=Path(args.state))
    server = witness_server(witness, host or "127.0.0.1", int(port))
    if args.publish:
        _publish(Path(args.publish), vkey)
    out.write(f"witness {vkey} listening on {server.server_address[0]}:{server.server_address[1]}\n")
    out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    import signal
    import sys

    # Stop cleanly on SIGTERM (docker stop, the demo's Ctrl-C) as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    sys.exit(witness_main())
