"""The hash chain's byte encoding. Pure functions: the verifier, the export and the
service all hash through here, and docs/audit.md documents the same encoding for
outside auditors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clearinghouse.core.crypto import canonical_json, sha256_hex

GENESIS_HASH = "0" * 64


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_document(
    *,
    seq: int,
    time: datetime | str,
    actor_kind: str,
    actor_id: str,
    action: str,
    target: str,
    outcome: str,
    details: dict[str, Any],
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": time if isinstance(time, str) else format_time(time),
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "action": action,
        "target": target,
        "outcome": outcome,
        "details": details,
        "prev_hash": prev_hash,
    }


def row_hash(document: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(document))


def event_document(event) -> dict[str, Any]:
    return row_document(
        seq=event.seq,
        time=event.time,
        actor_kind=event.actor_kind,
        actor_id=event.actor_id,
        action=event.action,
        target=event.target,
        outcome=event.outcome,
        details=event.details,
        prev_hash=event.prev_hash,
    )
