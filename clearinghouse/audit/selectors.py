from __future__ import annotations

import hashlib
import time as clock
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import QuerySet

from clearinghouse.audit.chain import GENESIS_HASH, entry_leaf_hash, format_time
from clearinghouse.audit.merkle import EMPTY_ROOT, CompactRange, ProofError, verify_consistency
from clearinghouse.audit.models import AuditCheckpoint, AuditEvent, AuditTreeNode
from clearinghouse.audit.tree import STRIDE, TreeInconsistent, TreeReader, tree_size
from clearinghouse.core.crypto import public_key_for, verify_signature
from clearinghouse.core.errors import Invalid, NotFound

# --- Reading the log ------------------------------------------------------------------------

ACTOR_KINDS = ("consumer", "compliance", "platform", "manufacturer", "operator", "system", "anonymous")
OUTCOMES = ("ok", "denied", "error")
PAGE_SIZE_MAX = 1000


@dataclass(frozen=True)
class EventFilter:
    actor_kind: str | None = None
    actor_id: str | None = None
    action: str | None = None
    action_prefix: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_query(self) -> dict[str, str]:
        query = {}
        for name in ("actor_kind", "actor_id", "action", "action_prefix", "outcome"):
            value = getattr(self, name)
            if value:
                query[name] = value
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                query[name] = value.isoformat()
        return query


def audit_filter_parse(params) -> EventFilter:
    """Read filters from query parameters; every bad value is a 400 naming its field."""
    from django.utils.dateparse import parse_date, parse_datetime
    from django.utils import timezone

    def text(name: str, maximum: int) -> str | None:
        value = (params.get(name) or "").strip()
        if not value:
            return None
        if len(value) > maximum:
            raise Invalid(f"{name}: at most {maximum} characters", details={"field": name})
        return value

    def moment(name: str, end_of_day: bool) -> datetime | None:
        raw = (params.get(name) or "").strip()
        if not raw:
            return None
        parsed = None
        try:
            parsed = parse_datetime(raw)
            if parsed is None:
                day = parse_date(raw)
                if day is not None:
                    parsed = datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time())
        except ValueError:
            parsed = None
        if parsed is None:
            raise Invalid(f"{name}: expected a date (2026-01-31) or an ISO 8601 time", details={"field": name})
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed

    actor_kind = text("actor_kind", 16)
    if actor_kind and actor_kind not in ACTOR_KINDS:
        raise Invalid(f"actor_kind: must be one of {', '.join(ACTOR_KINDS)}", details={"field": "actor_kind"})
    outcome = text("outcome", 8)
    if outcome and outcome not in OUTCOMES:
        raise Invalid(f"outcome: must be one of {', '.join(OUTCOMES)}", details={"field": "outcome"})
    since, until = moment("since", False), moment("until", True)
    if since and until and since > until:
        raise Invalid("until: must not be before since", details={"field": "until"})
    return EventFilter(
        actor_kind=actor_kind,
        actor_id=text("actor_id", 64),
        action=text("action", 64),
        action_prefix=text("action_prefix", 64),
        outcome=outcome,
        since=since,
        until=until,
    )


def audit_events(*, filters: EventFilter = EventFilter()) -> QuerySet[AuditEvent]:
    """Sealed events matching ``filters``, newest first. Unsealed events are milliseconds
    old and not yet part of the log; they appear once sealed."""
    events = AuditEvent.objects.filter(seq__isnull=False)
    if filters.actor_kind:
        events = events.filter(actor_kind=filters.actor_kind)
    if filters.actor_id:
        events = events.filter(actor_id=filters.actor_id)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.action_prefix:
        events = events.filter(action__startswith=filters.action_prefix)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.since:
        events = events.filter(time__gte=filters.since)
    if filters.until:
        events = events.filter(time__lte=filters.until)
    return events.order_by("-seq")


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    next_before: int | None  # pass as ``before`` for the following (older) page
    newer_after: int | None  # pass as ``after`` for the previous (newer) page


def audit_event_page(*, filters: EventFilter, before: int | None = None, after: int | None = None, size: int = 50) -> EventPage:
    """Keyset pagination on seq: a page link stays valid however much the log grows, and
    no page costs a count of a log of millions of rows."""
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise Invalid(f"page_size: must be from 1 to {PAGE_SIZE_MAX}", details={"field": "page_size"})
    events = audit_events(filters=filters)
    if after is not None:
        rows = list(events.filter(seq__gt=after).order_by("seq")[: size + 1])
        more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        next_before = rows[-1].seq if rows and events.filter(seq__lt=rows[-1].seq).exists() else None
        return EventPage(rows, next_before, rows[0].seq if rows and more_newer else None)
    if before is not None:
        events = events.filter(seq__lt=before)
    rows = list(events[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    newer = rows[0].seq if rows and before is not None and audit_events(filters=filters).filter(seq__gt=rows[0].seq).exists() else None
    return EventPage(rows, rows[-1].seq if more_older else None, newer)


def audit_event_get(*, seq: int) -> AuditEvent:
    event = AuditEvent.objects.filter(seq=seq).first()
    if event is None:
        raise NotFound(f"no audit event #{seq}")
    return event


def audit_pending_count() -> int:
    return AuditEvent.objects.filter(seq__isnull=True).count()


# --- Checkpoints and proofs -------------------------------------------------------------------


def audit_checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-id").first()


def audit_checkpoints() -> QuerySet[AuditCheckpoint]:
    return AuditCheckpoint.objects.order_by("-id")


def audit_checkpoint_for_size(*, tree_size: int) -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.filter(tree_size=tree_size).order_by("-id").first()


def _log_id() -> str:
    from clearinghouse.audit.services import audit_log_identity

    return str(audit_log_identity())


def _size_in_log(value: int, field_name: str, head: int) -> int:
    if value > head:
        raise NotFound(f"{field_name}: the log holds {head} sealed events, not {value}", details={"field": field_name})
    return value


def audit_inclusion_proof(*, seq: int, tree_size: int | None = None) -> dict[str, Any]:
    """Proof that event ``seq`` is leaf seq-1 of the tree of ``tree_size`` (default: the
    latest checkpoint's size, so the proof checks against a signed root)."""
    head = tree_size_now = tree_size_of_log()
    if tree_size is None:
        latest = audit_checkpoint_latest()
        tree_size = latest.tree_size if latest is not None else tree_size_now
    if seq < 1:
        raise Invalid("seq: must be 1 or more", details={"field": "seq"})
    if tree_size < 1:
        raise Invalid("tree_size: must be 1 or more", details={"field": "tree_size"})
    _size_in_log(tree_size, "tree_size", head)
    if seq > tree_size:
        raise Invalid(f"seq: event #{seq} is not in a tree of size {tree_size}", details={"field": "seq"})
    event = audit_event_get(seq=seq)
    path = TreeReader(tree_size).inclusion(seq - 1)
    checkpoint = audit_checkpoint_for_size(tree_size=tree_size)
    return {
        "log_id": _log_id(),
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": tree_size,
        "leaf_hash": event.leaf_hash,
        "audit_path": [item.hex() for item in path],
        "checkpoint": checkpoint.envelope() if checkpoint is not None else None,
    }


def audit_consistency_proof(*, first: int, second: int) -> dict[str, Any]:
    """Proof that the tree of size ``first`` is a prefix of the tree of size ``second``."""
    if first < 1:
        raise Invalid("first: must be 1 or more", details={"field": "first"})
    if second < first:
        raise Invalid("second: must not be smaller than first", details={"field": "second"})
    _size_in_log(second, "second", tree_size_of_log())
    proof = TreeReader(second).consistency(first)
    return {"log_id": _log_id(), "first": first, "second": second, "proof": [item.hex() for item in proof]}


def audit_root(*, tree_size: int) -> str:
    _size_in_log(tree_size, "tree_size", tree_size_of_log())
    return TreeReader(tree_size).root().hex()


def tree_size_of_log() -> int:
    return tree_size()


# --- Verification -----------------------------------------------------------------------------


@dataclass
class AuditVerification:
    ok: bool
    checked: int
    head_seq: int | None
    head_hash: str | None
    first_bad_seq: int | None
    reason: str = ""
    root_hash: str | None = None
    checkpoints_checked: int = 0
    bad_checkpoint: int | None = None  # id of the first checkpoint that failed
    pending: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "root_hash": self.root_hash,
            "tree_size": self.checked,
            "checkpoints_checked": self.checkpoints_checked,
            "bad_checkpoint": self.bad_checkpoint,
            "pending": self.pending,
            "seconds": round(self.seconds, 3),
        }


# Kept under its historical name: the API and the command call this.
ChainVerification = AuditVerification


class _Broken(Exception):
    def __init__(self, seq: int | None, reason: str, checkpoint: int | None = None):
        super().__init__(reason)
        self.seq, self.reason, self.checkpoint = seq, reason, checkpoint


_PG_ROWS = """
    SELECT seq, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_kind, actor_id,
           action, target, outcome, details, leaf_hash, prev_hash, hash
      FROM audit_auditevent WHERE seq IS NOT NULL ORDER BY seq
"""


def _rows_postgresql() -> Iterator[tuple]:
    from psycopg.types.json import set_json_loads

    raw = connection.connection.cursor(name="audit_verify")
    # orjson parses jsonb several times faster than the json module; the bytes hashed
    # are produced below, not taken from the database.
    set_json_loads(orjson.loads, raw)
    raw.itersize = 20_000
    try:
        raw.execute(_PG_ROWS)
        yield from raw
    finally:
        raw.close()


def _rows_portable() -> Iterator[tuple]:
    last = 0
    while True:
        batch = list(
            AuditEvent.objects.filter(seq__gt=last)
            .order_by("seq")
            .values_list("seq", "time", "actor_kind", "actor_id", "action", "target", "outcome", "details", "leaf_hash", "prev_hash", "hash")[:5000]
        )
        if not batch:
            return
        for row in batch:
            yield (row[0], format_time(row[1]), *row[2:])
        last = batch[-1][0]


def _checkpoint_problem(checkpoint: AuditCheckpoint, log_id: str) -> str | None:
    if str(checkpoint.log_id) != log_id:
        return f"checkpoint #{checkpoint.pk} names log {checkpoint.log_id}, not this log ({log_id})"
    public_key = public_key_for(checkpoint.key_id)
    if public_key is None:
        return f"checkpoint #{checkpoint.pk} is signed by unknown key {checkpoint.key_id}"
    if not verify_signature(public_key_raw=public_key, document=checkpoint.payload(), signature_b64=checkpoint.signature):
        return f"checkpoint #{checkpoint.pk} (size {checkpoint.tree_size}) has an invalid signature"
    return None


def audit_chain_verify() -> AuditVerification:
    """Recompute everything from the rows and trust nothing stored about them: every leaf
    hash from its entry, every chain link, the Merkle root, every stored subtree hash,
    every checkpoint's signature and root, and a consistency proof between each pair of
    consecutive checkpoints. Names the first sequence number where the log breaks."""
    started = clock.perf_counter()
    log_id = _log_id()  # may create the identity row: not inside the read-only transaction
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                # One snapshot for rows, subtree hashes and checkpoints alike.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        result = _verify(log_id)
    result.seconds = clock.perf_counter() - started
    return result


def _verify(log_id: str) -> AuditVerification:
    pending = AuditEvent.objects.filter(seq__isnull=True).count()
    checkpoints = list(AuditCheckpoint.objects.order_by("tree_size", "id"))
    stored: dict[tuple[int, int], str] = {
        (level, index): value for level, index, value in AuditTreeNode.objects.values_list("level", "index", "hash")
    }
    seen_nodes = 0

    def on_complete(level: int, index: int, value: bytes) -> None:
        nonlocal seen_nodes
        if level % STRIDE:
            return
        expected = stored.get((level, index))
        first_seq = (index << level) + 1
        if expected is None:
            raise _Broken(first_seq, f"stored subtree hash (level {level}, index {index}) is missing; proofs over seq {first_seq}.. cannot be answered")
        if expected != value.hex():
            raise _Broken(first_seq, f"stored subtree hash (level {level}, index {index}) does not match the events it covers")
        seen_nodes += 1

    compact = CompactRange(on_complete=on_complete)
    checked = 0
    head_seq = head_hash = None
    checkpoints_checked = 0
    pending_checkpoints = iter(checkpoints)
    next_checkpoint = next(pending_checkpoints, None)

    def check_checkpoints_at(size: int) -> None:
        nonlocal next_checkpoint, checkpoints_checked
        while next_checkpoint is not None and next_checkpoint.tree_size == size:
            problem = _checkpoint_problem(next_checkpoint, log_id)
            if problem is None and next_checkpoint.root_hash != (compact.root().hex() if size else EMPTY_ROOT.hex()):
                problem = f"checkpoint #{next_checkpoint.pk} root does not match the log's first {size} events"
            if problem:
                raise _Broken(size or None, problem, next_checkpoint.pk)
            checkpoints_checked += 1
            next_checkpoint = next(pending_checkpoints, None)

    sha256 = hashlib.sha256
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    prev = bytes(32)
    prev_hex = GENESIS_HASH
    expected_seq = 1
    rows = _rows_postgresql() if connection.vendor == "postgresql" else _rows_portable()
    try:
        check_checkpoints_at(0)
        for seq, time_text, actor_kind, actor_id, action, target, outcome, details, leaf_hex, row_prev_hex, hash_hex in rows:
            if seq != expected_seq:
                raise _Broken(expected_seq, f"sequence number {expected_seq} is missing")
            entry = {
                "action": action,
                "actor_id": actor_id,
                "actor_kind": actor_kind,
                "details": details,
                "outcome": outcome,
                "target": target,
                "time": time_text,
            }
            leaf = sha256(b"\x00" + dumps(entry, option=sort_keys)).digest()
            if leaf.hex() != leaf_hex:
                # orjson is only a fast path: the reference encoding decides.
                if entry_leaf_hash(entry) != leaf_hex:
                    raise _Broken(seq, "row content does not match its leaf hash")
                leaf = bytes.fromhex(leaf_hex)
            if row_prev_hex != prev_hex:
                raise _Broken(seq, "previous-hash link does not match")
            current = sha256(prev + leaf).digest()
            if current.hex() != hash_hex:
                raise _Broken(seq, "chain hash does not match")
            compact.append(leaf)
            checked = seq
            prev, prev_hex = current, hash_hex
            expected_seq += 1
            if next_checkpoint is not None and next_checkpoint.tree_size == seq:
                check_checkpoints_at(seq)
        head_seq, head_hash = (checked, prev_hex) if checked else (None, None)
        if next_checkpoint is not None:
            raise _Broken(
                checked + 1,
                f"checkpoint #{next_checkpoint.pk} vouches for {next_checkpoint.tree_size} events but the log holds {checked}: events were removed",
                next_checkpoint.pk,
            )
        expected_nodes = sum(checked >> level for level in range(STRIDE, 64, STRIDE))
        if len(stored) != expected_nodes or seen_nodes != expected_nodes:
            raise _Broken(None, f"the tree stores {len(stored)} subtree hashes where {expected_nodes} are expected")
        _check_consecutive_checkpoints(checkpoints)
    except _Broken as broken:
        return AuditVerification(
            ok=False,
            checked=checked,
            head_seq=head_seq if head_seq is not None else (checked or None),
            head_hash=head_hash if head_hash is not None else (prev_hex if checked else None),
            first_bad_seq=broken.seq,
            reason=broken.reason,
            checkpoints_checked=checkpoints_checked,
            bad_checkpoint=broken.checkpoint,
            pending=pending,
        )
    finally:
        rows.close()
    return AuditVerification(
        ok=True,
        checked=checked,
        head_seq=head_seq,
        head_hash=head_hash,
        first_bad_seq=None,
        root_hash=compact.root().hex(),
        checkpoints_checked=checkpoints_checked,
        pending=pending,
    )


def _check_consecutive_checkpoints(checkpoints: list[AuditCheckpoint]) -> None:
    """Each checkpoint, in the order they were signed, must be consistent with the next:
    checked with the same consistency proofs an outside auditor receives."""
    ordered = sorted(checkpoints, key=lambda checkpoint: checkpoint.pk)
    for older, newer in zip(ordered, ordered[1:]):
        if newer.tree_size < older.tree_size:
            raise _Broken(newer.tree_size + 1, f"checkpoint #{newer.pk} is smaller than the earlier checkpoint #{older.pk}: the log shrank", newer.pk)
        if older.tree_size == 0:
            continue
        try:
            proof = TreeReader(newer.tree_size).consistency(older.tree_size)
            verify_consistency(
                older.tree_size, newer.tree_size, bytes.fromhex(older.root_hash), bytes.fromhex(newer.root_hash), proof
            )
        except (ProofError, TreeInconsistent) as exc:
            raise _Broken(older.tree_size + 1, f"checkpoint #{older.pk} is not consistent with checkpoint #{newer.pk}: {exc}", newer.pk) from None


# --- Export ------------------------------------------------------------------------------------


def audit_export_lines(*, filters: EventFilter, upto: int, batch_size: int = 2000) -> Iterator[bytes]:
    """JSON Lines of sealed events 1..upto matching ``filters``, oldest first, read in
    keyset batches so that memory stays flat on any size of log. Each line holds the
    entry, its position and its hashes: an unfiltered export is verifiable offline."""
    from clearinghouse.audit.chain import event_export_line

    events = audit_events(filters=filters).filter(seq__lte=upto).order_by("seq")
    last = 0
    while True:
        batch = list(events.filter(seq__gt=last)[:batch_size])
        if not batch:
            return
        for event in batch:
            yield orjson.dumps(event_export_line(event), option=orjson.OPT_SORT_KEYS) + b"\n"
        last = batch[-1].seq
