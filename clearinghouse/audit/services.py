from __future__ import annotations

import re
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from clearinghouse.audit.chain import GENESIS_HASH, row_document, row_hash
from clearinghouse.audit.models import AuditEvent
from clearinghouse.core.actors import Actor

# Any fixed 64-bit number; it names the lock that serialises chain appends on PostgreSQL.
AUDIT_CHAIN_LOCK = 0x6175646974  # "audit"

_ACTION = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
# Keys that would put personal data into a log that must survive erasure.
_FORBIDDEN_DETAIL_KEYS = {"username", "email", "password", "token", "subject_ref", "link_code", "phone", "api_key", "secret"}


def _check_details(details: dict[str, Any]) -> None:
    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in _FORBIDDEN_DETAIL_KEYS:
                    raise ValueError(f"audit details must not hold personal data (key {key!r})")
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, float):
            raise ValueError("audit details take decimal strings, not floats")
        elif not isinstance(value, (str, int, bool, type(None))):
            raise ValueError(f"audit details cannot hold {type(value).__name__}")

    walk(details)


def audit_append(
    *,
    actor: Actor,
    action: str,
    target: str = "",
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction.

    The event commits or rolls back with the action it records. Appends are serialised
    (advisory lock on PostgreSQL, SQLite's IMMEDIATE write lock) so that two writers can
    never both chain onto the same head; the unique ``hash`` and primary-key ``seq`` would
    refuse a fork even if they did.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the action it records")
    if not _ACTION.match(action):
        raise ValueError(f"audit action {action!r} must be dotted lower-case, e.g. consent.granted")
    if outcome not in {"ok", "denied", "error"}:
        raise ValueError(f"audit outcome {outcome!r} must be ok, denied or error")
    details = details or {}
    _check_details(details)

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK])
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    moment = timezone.now()
    document = row_document(
        seq=seq,
        time=moment,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target=target,
        outcome=outcome,
        details=details,
        prev_hash=prev_hash,
    )
    event = AuditEvent(
        seq=seq,
        time=moment,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target=target,
        outcome=outcome,
        details=details,
        prev_hash=prev_hash,
        hash=row_hash(document),
    )
    event.save(force_insert=True)
    return event


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: str = "",
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record an event that has no other write of its own (a refusal, a blocked attempt)."""
    with transaction.atomic():
        return audit_append(actor=actor, action=action, target=target, outcome=outcome, details=details)
