#!/usr/bin/env python3
"""Offline verifier for the Clearinghouse audit log. Trusts nothing it is handed.

One file; needs only Python 3.10+ and the `cryptography` package. It does not import the
Clearinghouse: every encoding below is implemented again from docs/audit.md, so an
auditor can read and check all of it.

    # a JSON Lines export against signed checkpoints, with the public keys you pinned
    python audit_verify.py log --export audit.jsonl --keys keys.json --checkpoint checkpoint.json

    # one event's inclusion proof against a checkpoint
    python audit_verify.py inclusion --proof proof.json --checkpoint checkpoint.json --keys keys.json [--event event.json]

    # a person's receipt proof: the receipt names the event, the event is in the log, and
    # the checkpoint is cosigned by two of the witnesses you pinned
    python audit_verify.py inclusion --proof receipt-proof.json --receipt receipt.json --keys keys.json \
        --witness 'w1.example/1+…' --witness 'w2.example/1+…' --require-witnesses 2

    # a newer checkpoint extends an older one
    python audit_verify.py consistency --proof proof.json --old old.json --new new.json --keys keys.json

    # a mirrored tile directory (C2SP tlog-tiles, from manage.py audit_tiles), nothing else
    python audit_verify.py tiles --dir mirror/ --keys keys.json

`--pinned CHECKPOINT` (any mode) names a checkpoint you kept from earlier: what you are
shown now must come from the same log and extend it. Exit status 0 when everything
verifies, 1 with the reason otherwise, 2 on unusable input files.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import uuid
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = bytes(32)
ENTRY_FIELDS = ("time", "actor_kind", "actor_id", "action", "target", "outcome", "details")
EXPORT_FIELDS = frozenset(("seq", *ENTRY_FIELDS, "leaf_hash", "prev_hash", "hash"))
PAYLOAD_FIELDS = frozenset(("log_id", "tree_size", "root_hash", "time", "key_id"))
ENVELOPE_FIELDS = frozenset(("payload", "signature", "key_id", "alg"))
INCLUSION_FIELDS = frozenset(("log_id", "seq", "leaf_index", "tree_size", "leaf_hash", "audit_path", "checkpoint"))
CONSISTENCY_FIELDS = frozenset(("log_id", "first", "second", "proof"))
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class VerificationError(Exception):
    """The material does not verify. ``code`` is stable; the message says what broke."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --- Encodings (docs/audit.md) -----------------------------------------------------------


def canonical_json(document) -> bytes:
    def refuse_floats(value):
        if isinstance(value, float):
            raise VerificationError("malformed", "floats are never part of signed or hashed documents")
        if isinstance(value, dict):
            for item in value.values():
                refuse_floats(item)
        elif isinstance(value, list):
            for item in value:
                refuse_floats(item)

    refuse_floats(document)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def chain_hash(prev: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(prev + leaf).digest()


def entry_leaf_hash(line: dict) -> bytes:
    return leaf_hash(canonical_json({name: line[name] for name in ENTRY_FIELDS}))


def _hash(value, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise VerificationError("malformed", f"{what} must be 64 lower-case hex digits")
    return bytes.fromhex(value)


def _count(value, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise VerificationError("malformed", f"{what} must be a whole number of at least {minimum}")
    return value


def _fields(document, expected: frozenset, what: str, optional: frozenset = frozenset()) -> dict:
    if not isinstance(document, dict):
        raise VerificationError("malformed", f"{what} must be a JSON object")
    missing = sorted(expected - optional - set(document))
    unknown = sorted(set(document) - expected)
    if missing:
        raise VerificationError("malformed", f"{what} lacks {', '.join(missing)}")
    if unknown:
        raise VerificationError("malformed", f"{what} has fields no verifier checks: {', '.join(unknown)}")
    return document


# --- Merkle tree (RFC 6962 / RFC 9162) ----------------------------------------------------------


class CompactRange:
    """Right edge of a growing tree; gives the root of everything appended so far."""

    def __init__(self):
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []

    def append(self, leaf: bytes) -> None:
        level, current = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            current = node_hash(self._stack.pop()[1], current)
            level += 1
        self._stack.append((level, current))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()
        result = self._stack[-1][1]
        for _, value in reversed(self._stack[:-1]):
            result = node_hash(value, result)
        return result


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        raise VerificationError("bad_proof", f"leaf index {index} is outside a tree of size {size}")
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            raise VerificationError("bad_proof", "the inclusion path is longer than the tree is high")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("bad_proof", "the inclusion path is shorter than the tree is high")
    return result


def check_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2."""
    if not 0 <= first <= second:
        raise VerificationError("bad_proof", f"a tree of size {second} cannot extend one of size {first}")
    if first == second:
        if proof or first_root != second_root:
            raise VerificationError("bad_proof", "equal sizes need equal roots and an empty proof")
        return
    if first == 0:
        if proof:
            raise VerificationError("bad_proof", "the empty tree needs an empty proof")
        return
    if not proof:
        raise VerificationError("bad_proof", "the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for item in path[1:]:
        if sn == 0:
            raise VerificationError("bad_proof", "the consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(item, fr)
            sr = node_hash(item, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("bad_proof", "the consistency proof is shorter than needed")
    if fr != first_root or sr != second_root:
        raise VerificationError("inconsistent", f"the tree of size {second} does not extend the tree of size {first}")


# --- Keys and checkpoints ----------------------------------------------------------------------


def load_keys(document) -> dict[str, bytes]:
    """Checkpoint keys from GET /api/v1/keys (or a list of its entries): key id -> raw key.
    A key id must be the one derived from its key, so an id cannot be given a new key."""
    entries = document.get("keys") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise VerificationError("malformed", "the key file must be the JSON of GET /api/v1/keys")
    keys = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use") != "checkpoints":
            continue
        if entry.get("algorithm") != "Ed25519":
            raise VerificationError("malformed", f"key {entry.get('id')} is not an Ed25519 key")
        try:
            raw = base64.b64decode(entry["public_key"], validate=True)
        except (KeyError, ValueError, TypeError):
            raise VerificationError("malformed", f"key {entry.get('id')} has no valid base64 public_key") from None
        if len(raw) != 32:
            raise VerificationError("malformed", f"key {entry.get('id')} is not 32 bytes")
        derived = "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]
        if entry.get("id") != derived:
            raise VerificationError("malformed", f"key id {entry.get('id')} does not belong to its key ({derived})")
        keys[derived] = raw
    if not keys:
        raise VerificationError("malformed", "the key file holds no checkpoint key")
    return keys


def verify_checkpoint(envelope, keys: dict[str, bytes]) -> dict:
    """Check one signed checkpoint; returns its payload."""
    _fields(envelope, ENVELOPE_FIELDS, "checkpoint")
    payload = _fields(envelope["payload"], PAYLOAD_FIELDS, "checkpoint payload")
    if envelope["alg"] != "Ed25519":
        raise VerificationError("bad_signature", f"checkpoint algorithm {envelope['alg']!r} is not Ed25519")
    if envelope["key_id"] != payload["key_id"]:
        raise VerificationError("bad_signature", "the checkpoint's key_id differs from the key_id it signs")
    public_key = keys.get(payload["key_id"])
    if public_key is None:
        raise VerificationError("unknown_key", f"checkpoint signed by {payload['key_id']!r}, which is not among the pinned keys")
    try:
        signature = base64.b64decode(envelope["signature"], validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, canonical_json(payload))
    except (InvalidSignature, ValueError, TypeError):
        raise VerificationError("bad_signature", f"checkpoint for tree size {payload['tree_size']} has an invalid signature") from None
    _count(payload["tree_size"], "checkpoint tree_size")
    _hash(payload["root_hash"], "checkpoint root_hash")
    try:
        if str(uuid.UUID(payload["log_id"])) != payload["log_id"]:
            raise ValueError
    except (ValueError, TypeError, AttributeError):
        raise VerificationError("malformed", "checkpoint log_id must be a lower-case UUID") from None
    if not isinstance(payload["time"], str):
        raise VerificationError("malformed", "checkpoint time must be text")
    return payload


def check_pinned(payload: dict, pinned: dict | None) -> None:
    if pinned is None:
        return
    if payload["log_id"] != pinned["log_id"]:
        raise VerificationError(
            "different_log",
            f"this is log {payload['log_id']}, not the log you pinned ({pinned['log_id']}): a new log cannot replace the old one",
        )
    if payload["tree_size"] < pinned["tree_size"]:
        raise VerificationError(
            "truncated", f"this checkpoint covers {payload['tree_size']} events, fewer than the {pinned['tree_size']} you pinned"
        )


# --- The three checks -------------------------------------------------------------------------


def verify_log(lines: Iterable[str], checkpoints: Sequence[dict], keys: dict[str, bytes], pinned: dict | None = None) -> dict:
    """An export (from seq 1) against signed checkpoints. Returns a summary."""
    payloads = [verify_checkpoint(envelope, keys) for envelope in checkpoints]
    pinned_payload = verify_checkpoint(pinned, keys) if pinned is not None else None
    if not payloads and pinned_payload is None:
        raise VerificationError("malformed", "give at least one signed checkpoint: without one the export proves nothing")
    log_ids = {payload["log_id"] for payload in payloads}
    if pinned_payload is not None:
        for payload in payloads:
            check_pinned(payload, pinned_payload)
        log_ids.add(pinned_payload["log_id"])
    if len(log_ids) > 1:
        raise VerificationError("different_log", f"the checkpoints come from different logs: {', '.join(sorted(log_ids))}")
    wanted: dict[int, list[tuple[str, bytes]]] = {}
    for label, payload in [(f"checkpoint of size {p['tree_size']}", p) for p in payloads] + (
        [(f"pinned checkpoint of size {pinned_payload['tree_size']}", pinned_payload)] if pinned_payload else []
    ):
        wanted.setdefault(payload["tree_size"], []).append((label, bytes.fromhex(payload["root_hash"])))

    tree = CompactRange()
    prev = GENESIS
    matched = 0

    def check_roots(size: int) -> None:
        nonlocal matched
        for label, root in wanted.get(size, []):
            if tree.root() != root:
                raise VerificationError(
                    "root_mismatch",
                    f"the {label} does not match the first {size} events of the export: events were changed, removed or reordered, or the checkpoint was signed over another history",
                )
            matched += 1

    check_roots(0)
    number = 0
    for number, text in enumerate(lines, start=1):
        where = f"line {number}"
        try:
            line = json.loads(text)
        except ValueError:
            raise VerificationError("malformed", f"{where} is not JSON") from None
        _fields(line, EXPORT_FIELDS, where)
        seq = _count(line["seq"], f"{where}: seq", 1)
        if seq != number:
            raise VerificationError(
                "sequence_gap",
                f"{where} holds seq {seq}, expected {number}: an event was removed, added or moved",
            )
        where = f"seq {seq}"
        leaf = entry_leaf_hash(line)
        if leaf != _hash(line["leaf_hash"], f"{where}: leaf_hash"):
            raise VerificationError("content_mismatch", f"{where}: the event's content does not match its leaf hash (the row was edited)")
        if _hash(line["prev_hash"], f"{where}: prev_hash") != prev:
            raise VerificationError(
                "broken_link", f"{where}: prev_hash does not link to the event before it (events removed, added or reordered)"
            )
        current = chain_hash(prev, leaf)
        if current != _hash(line["hash"], f"{where}: hash"):
            raise VerificationError("broken_link", f"{where}: the chain hash does not match")
        tree.append(leaf)
        prev = current
        if seq in wanted:
            check_roots(seq)
    uncovered = sorted(size for size in wanted if size > number)
    if uncovered:
        raise VerificationError(
            "truncated",
            f"a checkpoint vouches for {uncovered[-1]} events but the export holds {number}: events at the end were removed (or export up to the checkpoint's size)",
        )
    return {
        "log_id": next(iter(log_ids)),
        "events": number,
        "head_hash": prev.hex() if number else None,
        "root_hash": tree.root().hex(),
        "checkpoints_verified": matched,
    }


def verify_inclusion_proof(proof, checkpoint, keys: dict[str, bytes], event: dict | None = None, pinned: dict | None = None) -> dict:
    _fields(proof, INCLUSION_FIELDS, "inclusion proof", optional=frozenset({"checkpoint"}))
    payload = verify_checkpoint(checkpoint if checkpoint is not None else proof.get("checkpoint"), keys)
    check_pinned(payload, verify_checkpoint(pinned, keys) if pinned is not None else None)
    if proof["log_id"] != payload["log_id"]:
        raise VerificationError("different_log", f"the proof is for log {proof['log_id']}, the checkpoint for log {payload['log_id']}")
    seq = _count(proof["seq"], "proof seq", 1)
    index = _count(proof["leaf_index"], "proof leaf_index")
    size = _count(proof["tree_size"], "proof tree_size", 1)
    if index != seq - 1:
        raise VerificationError("bad_proof", f"leaf_index {index} is not the index of seq {seq} ({seq - 1})")
    if size != payload["tree_size"]:
        raise VerificationError("wrong_size", f"the proof is for tree size {size}, the checkpoint is for tree size {payload['tree_size']}")
    leaf = _hash(proof["leaf_hash"], "proof leaf_hash")
    if event is not None:
        _fields(event, EXPORT_FIELDS, "event")
        if event["seq"] != seq:
            raise VerificationError("wrong_index", f"the proof is for seq {seq}, the event is seq {event['seq']}")
        if entry_leaf_hash(event) != leaf:
            raise VerificationError("content_mismatch", f"the event's content does not hash to the proof's leaf hash (seq {seq})")
    if not isinstance(proof["audit_path"], list):
        raise VerificationError("malformed", "audit_path must be a list")
    path = [_hash(item, f"audit_path[{position}]") for position, item in enumerate(proof["audit_path"])]
    if root_from_inclusion(index, size, leaf, path) != bytes.fromhex(payload["root_hash"]):
        raise VerificationError("bad_proof", f"the proof does not lead from seq {seq} to the checkpoint's root")
    return {"log_id": payload["log_id"], "seq": seq, "tree_size": size}


def verify_consistency_proof(proof, old, new, keys: dict[str, bytes], pinned: dict | None = None) -> dict:
    _fields(proof, CONSISTENCY_FIELDS, "consistency proof")
    old_payload, new_payload = verify_checkpoint(old, keys), verify_checkpoint(new, keys)
    pinned_payload = verify_checkpoint(pinned, keys) if pinned is not None else None
    check_pinned(old_payload, pinned_payload)
    check_pinned(new_payload, pinned_payload)
    if old_payload["log_id"] != new_payload["log_id"]:
        raise VerificationError(
            "different_log", f"the old checkpoint is from log {old_payload['log_id']}, the new one from {new_payload['log_id']}"
        )
    if proof["log_id"] != new_payload["log_id"]:
        raise VerificationError("different_log", f"the proof is for log {proof['log_id']}, the checkpoints for {new_payload['log_id']}")
    first, second = _count(proof["first"], "proof first"), _count(proof["second"], "proof second")
    if first != old_payload["tree_size"] or second != new_payload["tree_size"]:
        raise VerificationError(
            "wrong_size",
            f"the proof is from size {first} to {second}, the checkpoints are sizes {old_payload['tree_size']} and {new_payload['tree_size']}",
        )
    if not isinstance(proof["proof"], list):
        raise VerificationError("malformed", "proof must be a list")
    items = [_hash(item, f"proof[{position}]") for position, item in enumerate(proof["proof"])]
    check_consistency(first, second, bytes.fromhex(old_payload["root_hash"]), bytes.fromhex(new_payload["root_hash"]), items)
    return {"log_id": new_payload["log_id"], "first": first, "second": second}


# --- Command line -----------------------------------------------------------------------------


# --- A mirrored tile directory (C2SP tlog-tiles) --------------------------------------------------

TILE_WIDTH = 256


def tile_path(level, index: int, width: int = TILE_WIDTH) -> str:
    digits = str(index)
    digits = digits.zfill((len(digits) + 2) // 3 * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    name = "/".join([*(f"x{group}" for group in groups[:-1]), groups[-1]])
    return f"tile/{level}/{name}" + ("" if width == TILE_WIDTH else f".p/{width}")


def verify_checkpoint_note(text: str, keys: dict[str, bytes]) -> dict:
    """A C2SP signed note whose body is a tlog checkpoint: origin, size, base64 root. One
    signature line must be by a pinned checkpoint key (Ed25519, signature type 0x01)."""
    body, sep, signatures = text.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 3 or not signatures.endswith("\n"):
        raise VerificationError("malformed", "the checkpoint is not a signed note (origin, size, root, blank line, signatures)")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not re.fullmatch(r"0|[1-9][0-9]*", size_text):
        raise VerificationError("malformed", "the checkpoint's tree size is not a number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:
        root = b""
    if len(root) != 32:
        raise VerificationError("malformed", "the checkpoint's root hash is not 32 bytes of base64")
    match = re.fullmatch(r"clearinghouse/audit/([0-9a-f-]{36})", origin)
    if match is None:
        raise VerificationError("malformed", f"the checkpoint's origin {origin!r} is not a Clearinghouse audit log")
    message = (body + "\n").encode()
    for line in signatures[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != origin:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        for key_id, public_key in keys.items():
            if hashlib.sha256(origin.encode() + b"\n\x01" + public_key).digest()[:4] != blob[:4]:
                continue
            try:
                Ed25519PublicKey.from_public_bytes(public_key).verify(blob[4:], message)
            except InvalidSignature:
                raise VerificationError("bad_signature", f"the checkpoint's signature by {key_id} does not verify") from None
            return {"log_id": match.group(1), "tree_size": int(size_text), "root_hash": root.hex(), "key_id": key_id}
    raise VerificationError("unknown_key", "the checkpoint carries no signature by a pinned checkpoint key")


def parse_witness_key(text: str) -> tuple[str, bytes]:
    """A witness's published verifier key: <name>+<key hash hex>+<base64(0x04 || key)>."""
    try:
        name, hash_hex, blob = text.strip().split("+", 2)
        raw = base64.b64decode(blob, validate=True)
    except ValueError:
        raise VerificationError("malformed", f"{text!r} is not a witness verifier key") from None
    if raw[:1] != b"\x04" or len(raw) != 33 or hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() != hash_hex:
        raise VerificationError("malformed", f"{text!r} is not a cosignature/v1 verifier key")
    return name, raw[1:]


def count_cosignatures(text: str, witnesses: Sequence[tuple[str, bytes]]) -> list[str]:
    """Names of the pinned witnesses with a valid cosignature/v1 on the note's checkpoint."""
    body, _sep, signatures = text.partition("\n\n")
    signed = []
    for name, public_key in witnesses:
        key_id = hashlib.sha256(name.encode() + b"\n\x04" + public_key).digest()[:4]
        for line in signatures.split("\n"):
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
                continue
            try:
                blob = base64.b64decode(parts[2], validate=True)
            except ValueError:
                continue
            if len(blob) != 76 or blob[:4] != key_id:
                continue
            timestamp = int.from_bytes(blob[4:12], "big")
            message = f"cosignature/v1\ntime {timestamp}\n{body}\n".encode()
            try:
                Ed25519PublicKey.from_public_bytes(public_key).verify(blob[12:], message)
            except InvalidSignature:
                continue
            signed.append(name)
            break
    return signed


def _read_bytes(directory: str, path: str) -> bytes:
    try:
        with open(f"{directory}/{path}", "rb") as handle:
            return handle.read()
    except OSError:
        raise VerificationError("missing", f"{path} is missing from the mirror") from None


def verify_tiles(
    directory: str, keys: dict[str, bytes], pinned: dict | None = None, witnesses: Sequence[tuple[str, bytes]] = (), required: int = 0
) -> dict:
    """Every entry bundle of the checkpoint's tree, their leaf hashes against the level-0
    tiles, every higher tile against the tiles below it, and the root against the note;
    with ``required``, that many of the pinned ``witnesses`` cosigned the checkpoint."""
    try:
        with open(f"{directory}/checkpoint", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        raise VerificationError("missing", "checkpoint is missing from the mirror") from None
    note = verify_checkpoint_note(text, keys)
    note["witnesses"] = count_cosignatures(text, witnesses)
    if len(note["witnesses"]) < required:
        raise VerificationError(
            "not_witnessed",
            f"the checkpoint carries {len(note['witnesses'])} valid cosignature(s) from the pinned witnesses, {required} required"
            + (f" (valid: {', '.join(note['witnesses'])})" if note["witnesses"] else ""),
        )
    if pinned is not None:
        check_pinned(note, verify_checkpoint(pinned, keys))
    size = note["tree_size"]
    tree = CompactRange()
    pending: list[list[bytes]] = []  # hashes of the current, not yet full, tile of each level

    def add(level: int, value: bytes) -> None:
        while len(pending) <= level:
            pending.append([])
        pending[level].append(value)
        if len(pending[level]) == TILE_WIDTH:
            hashes = pending[level]
            check_tile(level, hashes)
            pending[level] = []
            layer = hashes
            while len(layer) > 1:
                layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
            add(level + 1, layer[0])

    counters: dict[int, int] = {}

    def check_tile(level: int, hashes: list[bytes]) -> None:
        index = counters.get(level, 0)
        counters[level] = index + 1
        stored = _read_bytes(directory, tile_path(level, index, len(hashes)))
        if stored != b"".join(hashes):
            raise VerificationError("tile_mismatch", f"{tile_path(level, index, len(hashes))} does not match the hashes below it")

    for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - index * TILE_WIDTH)
        path = tile_path("entries", index, width)
        bundle, offset, count = _read_bytes(directory, path), 0, 0
        while offset < len(bundle):
            length = int.from_bytes(bundle[offset : offset + 2], "big")
            entry = bundle[offset + 2 : offset + 2 + length]
            if len(entry) != length:
                raise VerificationError("malformed", f"{path} ends inside an entry")
            try:
                document = json.loads(entry)
            except ValueError:
                raise VerificationError("malformed", f"{path}: entry {count} is not JSON") from None
            if canonical_json(_fields(document, frozenset(ENTRY_FIELDS), "entry")) != entry:
                raise VerificationError("malformed", f"{path}: entry {count} is not in canonical form")
            leaf = leaf_hash(entry)
            tree.append(leaf)
            add(0, leaf)
            offset += 2 + length
            count += 1
        if count != width:
            raise VerificationError("malformed", f"{path} holds {count} entries, not {width}")
    # The rightmost, partial tile of every level.
    for level, hashes in enumerate(pending):
        if hashes:
            check_tile(level, hashes)
    if tree.root().hex() != note["root_hash"] or tree.size != size:
        raise VerificationError(
            "root_mismatch", f"the entries give root {tree.root().hex()}, the signed checkpoint says {note['root_hash']}"
        )
    return note


RECEIPT_PROOF_FIELDS = frozenset(("receipt_id", "proof", "event", "checkpoint_note"))


def load_receipt_keys(document) -> dict[str, bytes]:
    """Receipt keys (``use: receipts``) from GET /api/v1/keys: key id -> raw key."""
    entries = document.get("keys") if isinstance(document, dict) else document
    keys = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use") != "receipts" or entry.get("algorithm") != "Ed25519":
            continue
        try:
            raw = base64.b64decode(entry["public_key"], validate=True)
        except (KeyError, ValueError, TypeError):
            continue
        if len(raw) == 32 and entry.get("id") == "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]:
            keys[entry["id"]] = raw
    return keys


def verify_receipt_proof(
    document,
    keys: dict[str, bytes],
    *,
    receipt=None,
    receipt_keys: dict[str, bytes] | None = None,
    witnesses: Sequence[tuple[str, bytes]] = (),
    required: int = 0,
    pinned: dict | None = None,
) -> dict:
    """A person's receipt proof (GET /api/v1/me/receipts/{id}/proof): the event records
    that receipt and is the proven leaf of a signed checkpoint; with ``required``, the
    checkpoint note (same size and root) carries that many cosignatures of the pinned
    witnesses; with ``receipt``, the signed receipt is genuine and names this very event
    (``audit_event.leaf_hash``, in receipts issued since issue 15)."""
    _fields(document, RECEIPT_PROOF_FIELDS, "receipt proof")
    event = document["event"]
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("details"), dict)
        or event["details"].get("receipt_id") != document["receipt_id"]
    ):
        raise VerificationError("malformed", "the event in the receipt proof does not record that receipt")
    summary = verify_inclusion_proof(document["proof"], None, keys, event, pinned)
    payload = document["proof"]["checkpoint"]["payload"]
    summary["witnesses"] = []
    if required or witnesses:
        if not isinstance(document["checkpoint_note"], str):
            raise VerificationError("malformed", "checkpoint_note must be text")
        note = verify_checkpoint_note(document["checkpoint_note"], keys)
        if (note["log_id"], note["tree_size"], note["root_hash"]) != (payload["log_id"], payload["tree_size"], payload["root_hash"]):
            raise VerificationError("different_checkpoint", "the cosigned note is not the checkpoint the proof is against")
        summary["witnesses"] = count_cosignatures(document["checkpoint_note"], witnesses)
        if len(summary["witnesses"]) < required:
            raise VerificationError(
                "not_witnessed",
                f"the checkpoint carries {len(summary['witnesses'])} valid cosignature(s) from the pinned witnesses, {required} required",
            )
    summary["receipt"] = None
    if receipt is not None:
        envelope = receipt.get("receipt", receipt) if isinstance(receipt, dict) else None
        if not isinstance(envelope, dict):
            raise VerificationError("malformed", "the receipt must be a JSON object")
        _fields(envelope, ENVELOPE_FIELDS, "receipt")
        public_key = (receipt_keys or {}).get(envelope["key_id"])
        if public_key is None or envelope["alg"] != "Ed25519":
            raise VerificationError("unknown_key", f"the receipt is signed by {envelope['key_id']!r}, not a pinned receipts key")
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                base64.b64decode(envelope["signature"], validate=True), canonical_json(envelope["payload"])
            )
        except (InvalidSignature, ValueError, TypeError):
            raise VerificationError("bad_signature", "the receipt's signature does not verify") from None
        receipt_payload = envelope["payload"]
        if not isinstance(receipt_payload, dict) or receipt_payload.get("receipt_id") != document["receipt_id"]:
            raise VerificationError("wrong_receipt", "the proof is for another receipt")
        named = receipt_payload.get("audit_event")
        if named is not None:
            if not isinstance(named, dict) or named.get("leaf_hash") != document["proof"]["leaf_hash"]:
                raise VerificationError("wrong_event", "the receipt names another audit event than the one proven")
            if named.get("log_id") != payload["log_id"]:
                raise VerificationError(
                    "different_log", f"the receipt names log {named.get('log_id')}, the proof is for {payload['log_id']}"
                )
        summary["receipt"] = "names this event" if named is not None else "matched by receipt id (issued before receipts named their event)"
    return summary


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"audit_verify: cannot read {path}: {exc}") from None


def _checkpoints(path: str) -> list:
    document = _read_json(path)
    # Accept one checkpoint or the list of GET /api/v1/audit/checkpoints.
    if isinstance(document, dict) and "results" in document:
        return [{name: item[name] for name in ENVELOPE_FIELDS if name in item} for item in document["results"]]
    return [document]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    log = sub.add_parser("log", help="verify a JSON Lines export against signed checkpoints")
    log.add_argument("--export", required=True)
    log.add_argument("--checkpoint", action="append", default=[], help="signed checkpoint (repeatable; or a saved checkpoint list)")
    inclusion = sub.add_parser("inclusion", help="verify an inclusion proof against a checkpoint")
    inclusion.add_argument("--proof", required=True)
    inclusion.add_argument("--checkpoint", help="default: the checkpoint inside the proof")
    inclusion.add_argument("--event", help="the event (one export line, as JSON) the proof is about")
    inclusion.add_argument("--receipt", help="a receipt proof's signed consent receipt: it must be genuine and name the proven event")
    inclusion.add_argument("--witness", action="append", default=[], help="a witness verifier key you pinned (repeatable)")
    inclusion.add_argument("--require-witnesses", type=int, default=0, help="how many of the pinned witnesses must have cosigned")
    consistency = sub.add_parser("consistency", help="verify that a newer checkpoint extends an older one")
    consistency.add_argument("--proof", required=True)
    consistency.add_argument("--old", required=True)
    consistency.add_argument("--new", required=True)
    tiles = sub.add_parser("tiles", help="verify a mirrored tile directory (checkpoint, tiles, entry bundles)")
    tiles.add_argument("--dir", required=True)
    tiles.add_argument("--witness", action="append", default=[], help="a witness verifier key you pinned (repeatable)")
    tiles.add_argument("--require-witnesses", type=int, default=0, help="how many of the pinned witnesses must have cosigned")
    for command in (log, inclusion, consistency, tiles):
        command.add_argument("--keys", required=True, help="public keys you pinned (JSON of GET /api/v1/keys)")
        command.add_argument("--pinned", help="a checkpoint you kept earlier: the log must be the same log and extend it")
    args = parser.parse_args(argv)
    try:
        keys = load_keys(_read_json(args.keys))
        pinned = _read_json(args.pinned) if args.pinned else None
        if args.mode == "log":
            checkpoints = [envelope for path in args.checkpoint for envelope in _checkpoints(path)]
            try:
                with open(args.export, encoding="utf-8") as handle:
                    summary = verify_log(handle, checkpoints, keys, pinned)
            except OSError as exc:
                raise SystemExit(f"audit_verify: cannot read {args.export}: {exc}") from None
            print(
                f"OK: log {summary['log_id']}: {summary['events']} events, chain and Merkle tree intact, "
                f"root {summary['root_hash']}, {summary['checkpoints_verified']} signed checkpoint(s) match"
            )
        elif args.mode == "inclusion":
            checkpoint = _read_json(args.checkpoint) if args.checkpoint else None
            event = _read_json(args.event) if args.event else None
            proof = _read_json(args.proof)
            witnesses = [parse_witness_key(text) for text in args.witness]
            if isinstance(proof, dict) and set(proof) == RECEIPT_PROOF_FIELDS:
                # A person's receipt proof (GET /api/v1/me/receipts/{id}/proof).
                summary = verify_receipt_proof(
                    proof,
                    keys,
                    receipt=_read_json(args.receipt) if args.receipt else None,
                    receipt_keys=load_receipt_keys(_read_json(args.keys)),
                    witnesses=witnesses,
                    required=args.require_witnesses,
                    pinned=pinned,
                )
            else:
                if args.receipt or args.require_witnesses:
                    raise VerificationError(
                        "malformed", "--receipt and --require-witnesses need a receipt proof (GET /api/v1/me/receipts/{id}/proof)"
                    )
                summary = verify_inclusion_proof(proof, checkpoint, keys, event, pinned)
                summary["witnesses"], summary["receipt"] = [], None
            print(
                f"OK: event seq {summary['seq']} is in log {summary['log_id']} at tree size {summary['tree_size']}"
                + (f", cosigned by {', '.join(summary['witnesses'])}" if summary["witnesses"] else "")
                + (f"; the signed receipt {summary['receipt']}" if summary["receipt"] else "")
            )
        elif args.mode == "tiles":
            witnesses = [parse_witness_key(text) for text in args.witness]
            summary = verify_tiles(args.dir, keys, pinned, witnesses, args.require_witnesses)
            print(
                f"OK: log {summary['log_id']}: {summary['tree_size']} events in the mirrored tiles, every tile and entry matches "
                f"the checkpoint signed by {summary['key_id']}, root {summary['root_hash']}"
                + (f", cosigned by {', '.join(summary['witnesses'])}" if summary["witnesses"] else "")
            )
        else:
            summary = verify_consistency_proof(_read_json(args.proof), _read_json(args.old), _read_json(args.new), keys, pinned)
            print(f"OK: log {summary['log_id']} at size {summary['second']} extends its state at size {summary['first']}")
    except VerificationError as exc:
        print(f"FAILED ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
