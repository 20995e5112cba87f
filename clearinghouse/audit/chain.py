"""The byte encodings of the audit log. docs/audit.md documents exactly these bytes for
outside auditors, and tools/audit_verify.py reimplements them independently.

* entry      = canonical JSON (sorted keys, no spaces, UTF-8) of
               {action, actor_id, actor_kind, details, outcome, target, time}
* leaf_hash  = SHA-256(0x00 || entry)                 (RFC 6962 leaf hash)
* chain hash = SHA-256(prev_hash || leaf_hash)        (32 + 32 raw bytes; prev of seq 1 is 32 zero bytes)
* the Merkle tree is RFC 6962's over the leaf hashes, leaf index = seq - 1.

The sequence number is not inside the entry: an event's position is fixed by the chain
and by the tree (as in Certificate Transparency), which lets the entry be hashed in the
writer's transaction before its position is known.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from clearinghouse.audit.merkle import leaf_hash as merkle_leaf_hash
from clearinghouse.core.crypto import canonical_json

GENESIS_HASH = "00" * 32
ENTRY_FIELDS = ("time", "actor_kind", "actor_id", "action", "target", "outcome", "details")
# What an export line holds besides the entry: position and hashes.
EXPORT_FIELDS = ("seq", *ENTRY_FIELDS, "leaf_hash", "prev_hash", "hash")


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_document(
    *,
    time: datetime | str,
    actor_kind: str,
    actor_id: str,
    action: str,
    target: str,
    outcome: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    return {
        "time": time if isinstance(time, str) else format_time(time),
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "action": action,
        "target": target,
        "outcome": outcome,
        "details": details,
    }


def entry_leaf_hash(document: dict[str, Any]) -> str:
    return merkle_leaf_hash(canonical_json(document)).hex()


def chain_hash(prev_hash: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(prev_hash + leaf).digest()


def event_entry(event) -> dict[str, Any]:
    return entry_document(
        time=event.time,
        actor_kind=event.actor_kind,
        actor_id=event.actor_id,
        action=event.action,
        target=event.target,
        outcome=event.outcome,
        details=event.details,
    )


def event_export_line(event) -> dict[str, Any]:
    """One line of the JSON Lines export: the entry plus its position and hashes."""
    return {
        "seq": event.seq,
        **event_entry(event),
        "leaf_hash": event.leaf_hash,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
