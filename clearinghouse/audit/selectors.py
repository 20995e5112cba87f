from __future__ import annotations

import json
import sys
import time as clock
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from clearinghouse.audit import reasons
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.chain import GENESIS_HASH, entry_leaf_hash, format_time
from clearinghouse.audit.merkle import EMPTY_ROOT, ProofError, node_hash, verify_consistency
from clearinghouse.audit.models import AuditCheckpoint, AuditEvent, AuditTreeNode
from clearinghouse.audit.tree import STRIDE, TreeInconsistent, TreeReader, tree_size
from clearinghouse.audit.verifier import RangeResult, verify_range_on, verify_rows
from clearinghouse.core.crypto import public_key_for, verify_signature
from clearinghouse.core.errors import Conflict, Invalid, NotFound

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
    target: str | None = None  # a prefix: "purpose:c2m-product-design" finds every platform's
    subject: str | None = None  # a person's pseudonym: every event by, on or about them

    def as_query(self) -> dict[str, str]:
        query = {}
        for name in ("actor_kind", "actor_id", "action", "action_prefix", "outcome", "target", "subject"):
            value = getattr(self, name)
            if value:
                query[name] = value
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                query[name] = value.isoformat()
        return query


def filter_zone() -> ZoneInfo:
    """The zone a bare date in a filter is read in: settings.TIME_ZONE, the zone the console
    shows times in and the reports count days in, so "2026-11-27" means the same day
    everywhere an officer can type it."""
    return ZoneInfo(settings.TIME_ZONE)


def audit_filter_parse(params) -> EventFilter:
    """Read filters from query parameters; every bad value is a 400 naming its field.

    ``since`` and ``until`` are inclusive. A bare date covers that whole day in
    settings.TIME_ZONE; an ISO 8601 time without an offset is read in that zone too."""
    from django.utils.dateparse import parse_date, parse_datetime

    zone = filter_zone()

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
            # The date first: since Python 3.11 parse_datetime also accepts a bare date
            # (as midnight), which would make ``until`` end where its day begins.
            day = parse_date(raw)
            if day is not None:
                parsed = datetime.combine(day, time.max if end_of_day else time.min, tzinfo=zone)
            else:
                parsed = parse_datetime(raw)
        except ValueError:
            parsed = None
        if parsed is None:
            raise Invalid(f"{name}: expected a date (2026-01-31) or an ISO 8601 time", details={"field": name})
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
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
    subject = text("subject", 64)
    if subject:
        try:
            subject = str(uuid.UUID(subject))
        except ValueError:
            raise Invalid(
                "subject: expected a pseudonym such as 5b2c0a5e-0000-4000-8000-000000000001", details={"field": "subject"}
            ) from None
    return EventFilter(
        target=text("target", 128),
        subject=subject,
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
    if filters.target:
        events = events.filter(target__startswith=filters.target)
    if filters.subject:
        # Where the log names a person (docs/architecture.md: only by pseudonym): as the
        # actor, as the target, or under details.subject (events by platforms, the system).
        events = events.filter(
            Q(actor_kind="consumer", actor_id=filters.subject)
            | Q(target=f"consumer:{filters.subject}")
            | Q(details__subject=filters.subject)
        )
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
    head = tree_size_of_log()
    if tree_size is None:
        latest = audit_checkpoint_latest()
        tree_size = latest.tree_size if latest is not None else head
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
    # The reason's template (clearinghouse.audit.reasons) and parameters: what the console
    # translates. ``reason`` is the English text of the two.
    reason_template: str = ""
    reason_params: dict[str, Any] = field(default_factory=dict)
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
            "reason_template": self.reason_template,
            "reason_params": self.reason_params,
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
    def __init__(self, seq: int | None, template: str, params: dict[str, Any], checkpoint: int | None = None):
        super().__init__(reasons.reason_text(template, params))
        self.seq, self.template, self.params, self.checkpoint = seq, template, params, checkpoint


VERIFY_CHUNK = 1 << 20  # leaves per worker task; a power of two, so chunks are subtrees


def _rows_portable(first: int, last: int) -> Iterator[list[bytes]]:
    """SQLite (development): the same raw fields the PostgreSQL COPY stream gives."""
    position = first
    while position < last:
        batch = list(
            AuditEvent.objects.filter(seq__gt=position, seq__lte=last)
            .order_by("seq")
            .values_list(
                "seq", "time", "actor_kind", "actor_id", "action", "target", "outcome", "details", "leaf_hash", "prev_hash", "hash"
            )[:5000]
        )
        if not batch:
            return
        for seq, moment, kind, actor_id, action, target, outcome, details, leaf, prev, current in batch:
            # Only sealed rows (seq set) are read, and sealing sets seq, prev_hash and hash together.
            assert prev is not None and current is not None
            yield [
                str(seq).encode(),
                format_time(moment).encode(),
                kind.encode(),
                actor_id.encode(),
                action.encode(),
                target.encode(),
                outcome.encode(),
                orjson.dumps(details),
                leaf.encode(),
                prev.encode(),
                current.encode(),
            ]
        last_seq = batch[-1][0]
        assert last_seq is not None  # filtered on seq__gt, so never NULL
        position = last_seq


def _verify_range_here(first: int, last: int, sizes: list[int]) -> RangeResult:
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        return verify_range_on(connection.connection, first=first, last=last, checkpoint_sizes=sizes, reference_leaf=entry_leaf_hash)
    stored = {
        (level, index): value
        for level, index, value in AuditTreeNode.objects.values_list("level", "index", "hash")  # development logs are small
        if (index << level) >= first and ((index + 1) << level) <= last
    }
    return verify_rows(
        _rows_portable(first, last), first=first, last=last, stored_nodes=stored, checkpoint_sizes=sizes, reference_leaf=entry_leaf_hash
    )


def _verify_ranges_in_workers(ranges: list[tuple[int, int]], sizes: list[int], workers: int) -> list[RangeResult]:
    """Each chunk in its own process (``python -m clearinghouse.audit.verifier``): a
    subprocess works from a web worker or a daemonic Celery worker alike."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings

    db = connection.settings_dict
    connect = {
        "dbname": db["NAME"],
        "user": db["USER"] or None,
        "password": db["PASSWORD"] or None,
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
    }
    connect = {key: value for key, value in connect.items() if value}

    def run(bounds: tuple[int, int]) -> RangeResult:
        first, last = bounds
        task = {"connect": connect, "first": first, "last": last, "checkpoint_sizes": [size for size in sizes if first < size <= last]}
        finished = subprocess.run(
            [sys.executable, "-m", "clearinghouse.audit.verifier"],
            input=json.dumps(task).encode(),
            capture_output=True,
            cwd=settings.BASE_DIR,
            check=False,
        )
        if finished.returncode != 0:
            raise RuntimeError(f"audit verification worker failed: {finished.stderr.decode(errors='replace')[-2000:]}")
        return RangeResult.from_json(json.loads(finished.stdout))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, ranges))


def _checkpoint_problem(checkpoint: AuditCheckpoint, log_id: str) -> tuple[str, dict[str, Any]] | None:
    if str(checkpoint.log_id) != log_id:
        return reasons.CHECKPOINT_OTHER_LOG, {"checkpoint": checkpoint.pk, "named": str(checkpoint.log_id), "log": log_id}
    public_key = public_key_for(checkpoint.key_id)
    if public_key is None:
        return reasons.CHECKPOINT_UNKNOWN_KEY, {"checkpoint": checkpoint.pk, "key": checkpoint.key_id}
    if not verify_signature(public_key_raw=public_key, document=checkpoint.payload(), signature_b64=checkpoint.signature):
        return reasons.CHECKPOINT_BAD_SIGNATURE, {"checkpoint": checkpoint.pk, "size": checkpoint.tree_size}
    return None


def audit_chain_verify(*, workers: int | None = None, chunk: int = VERIFY_CHUNK) -> AuditVerification:
    """Recompute everything from the rows and trust nothing stored about them: every leaf
    hash from its entry, every chain link, the Merkle root, every stored subtree hash,
    every checkpoint's signature and root, and a consistency proof between each pair of
    consecutive checkpoints. Names the first sequence number where the log breaks.

    A log of more than one ``chunk`` of events is verified by ``workers`` processes in
    parallel (default: settings.CH_AUDIT_VERIFY_WORKERS), one aligned chunk each.
    """
    from django.conf import settings

    if chunk < 1 << STRIDE or chunk & (chunk - 1):
        raise ValueError("chunk must be a power of two of at least 256")
    started = clock.perf_counter()
    log_id = _log_id()  # may create the identity row: not inside the read-only transaction
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                # One snapshot for the head, subtree hashes and checkpoints alike.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        workers = workers if workers is not None else settings.CH_AUDIT_VERIFY_WORKERS
        result = _verify(log_id, workers=workers, chunk=chunk, parallel_allowed=outermost)
    result.seconds = clock.perf_counter() - started
    return result


def _fold(stack: list[tuple[int, bytes]]) -> bytes:
    if not stack:
        return EMPTY_ROOT
    result = stack[-1][1]
    for _, value in reversed(stack[:-1]):
        result = node_hash(value, result)
    return result


@dataclass
class _Progress:
    """How far _verify got, for the report it gives when it stops."""

    checked: int = 0
    head_hash: str | None = None
    checkpoints: int = 0
    nodes: int = 0


def _verify(log_id: str, *, workers: int, chunk: int, parallel_allowed: bool) -> AuditVerification:
    head = tree_size()
    pending = AuditEvent.objects.filter(seq__isnull=True).count()
    checkpoints = list(AuditCheckpoint.objects.order_by("tree_size", "id"))
    by_size: dict[int, list[AuditCheckpoint]] = {}
    for checkpoint in checkpoints:
        by_size.setdefault(checkpoint.tree_size, []).append(checkpoint)
    sizes = sorted(size for size in by_size if 0 < size <= head)
    ranges = [(first, min(first + chunk, head)) for first in range(0, head, chunk)]
    chunk_level = chunk.bit_length() - 1
    upper_nodes = {
        (level, index): value
        for level, index, value in AuditTreeNode.objects.filter(level__gt=chunk_level).values_list("level", "index", "hash")
    }
    state = _Progress()

    def broken(seq: int | None, template: str, params: dict[str, Any] | None = None, checkpoint: int | None = None) -> AuditVerification:
        params = params or {}
        return AuditVerification(
            ok=False,
            checked=state.checked,
            head_seq=state.checked or None,
            head_hash=state.head_hash,
            first_bad_seq=seq,
            reason=reasons.reason_text(template, params),
            reason_template=template,
            reason_params=params,
            checkpoints_checked=state.checkpoints,
            bad_checkpoint=checkpoint,
            pending=pending,
        )

    def check_checkpoints(size: int, root: bytes) -> AuditVerification | None:
        for checkpoint in by_size.get(size, []):
            problem = _checkpoint_problem(checkpoint, log_id)
            if problem is None and checkpoint.root_hash != root.hex():
                problem = reasons.CHECKPOINT_ROOT_MISMATCH, {"checkpoint": checkpoint.pk, "size": size}
            if problem:
                return broken(size or None, *problem, checkpoint=checkpoint.pk)
            state.checkpoints += 1
        return None

    failure = check_checkpoints(0, EMPTY_ROOT)
    if failure:
        return failure
    if parallel_allowed and connection.vendor == "postgresql" and workers > 1 and len(ranges) > 1:
        results: Iterable[RangeResult] = _verify_ranges_in_workers(ranges, sizes, workers)
    else:
        results = (_verify_range_here(first, last, sizes) for first, last in ranges)

    # Stitch the chunks: links across boundaries, subtrees above the chunk level,
    # checkpoint roots (prefix of whole chunks + the chunk's own compact range).
    prefix: list[tuple[int, bytes]] = []
    previous_hash: str | None = GENESIS_HASH
    for (first, last), part in zip(ranges, results):
        if part.count and part.first_prev != previous_hash:
            return broken(first + 1, reasons.LINK_MISMATCH)
        for size in sorted(part.checkpoint_stacks):
            if part.problem and (part.problem[0] or 0) <= size:
                break
            root = _fold(prefix + [(level, bytes.fromhex(value)) for level, value in part.checkpoint_stacks[size]])
            state.checked, state.head_hash = size, None
            failure = check_checkpoints(size, root)
            if failure:
                return failure
        if part.problem:
            state.checked = (part.problem[0] or first + 1) - 1
            return broken(*part.problem)
        state.checked, state.head_hash = last, part.last_hash
        state.nodes += part.nodes_checked
        previous_hash = part.last_hash
        for level, value in part.stack:
            node = bytes.fromhex(value)
            while prefix and prefix[-1][0] == level:
                node = node_hash(prefix.pop()[1], node)
                level += 1
                if level % STRIDE == 0:
                    index = (last >> level) - 1
                    expected = upper_nodes.get((level, index))
                    if expected != node.hex():
                        first_seq = (index << level) + 1
                        template = reasons.SUBTREE_MISSING if expected is None else reasons.SUBTREE_MISMATCH
                        return broken(first_seq, template, {"level": level, "index": index})
                    state.nodes += 1
            prefix.append((level, node))
    beyond = [size for size in by_size if size > head]
    if beyond:
        checkpoint = by_size[max(beyond)][0]
        return broken(
            head + 1,
            reasons.CHECKPOINT_BEYOND_HEAD,
            {"checkpoint": checkpoint.pk, "size": checkpoint.tree_size, "head": head},
            checkpoint=checkpoint.pk,
        )
    stored_total = AuditTreeNode.objects.count()
    expected_nodes = sum(head >> level for level in range(STRIDE, 64, STRIDE))
    if stored_total != expected_nodes or state.nodes != expected_nodes:
        return broken(None, reasons.NODE_COUNT_MISMATCH, {"stored": stored_total, "expected": expected_nodes})
    try:
        _check_consecutive_checkpoints(checkpoints)
    except _Broken as exc:
        return broken(exc.seq, exc.template, exc.params, checkpoint=exc.checkpoint)
    return AuditVerification(
        ok=True,
        checked=head,
        head_seq=head or None,
        head_hash=state.head_hash,
        first_bad_seq=None,
        root_hash=_fold(prefix).hex(),
        checkpoints_checked=state.checkpoints,
        pending=pending,
    )


def _check_consecutive_checkpoints(checkpoints: list[AuditCheckpoint]) -> None:
    """Each checkpoint, in the order they were signed, must be consistent with the next:
    checked with the same consistency proofs an outside auditor receives."""
    ordered = sorted(checkpoints, key=lambda checkpoint: checkpoint.pk)
    for older, newer in zip(ordered, ordered[1:]):
        if newer.tree_size < older.tree_size:
            raise _Broken(newer.tree_size + 1, reasons.CHECKPOINT_SHRANK, {"newer": newer.pk, "older": older.pk}, newer.pk)
        if older.tree_size == 0:
            continue
        try:
            proof = TreeReader(newer.tree_size).consistency(older.tree_size)
            verify_consistency(older.tree_size, newer.tree_size, bytes.fromhex(older.root_hash), bytes.fromhex(newer.root_hash), proof)
        except (ProofError, TreeInconsistent) as exc:
            raise _Broken(
                older.tree_size + 1, reasons.CHECKPOINTS_INCONSISTENT, {"older": older.pk, "newer": newer.pk, "detail": str(exc)}, newer.pk
            ) from None


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
        assert batch[-1].seq is not None  # filtered on seq__gt, so never NULL
        last = batch[-1].seq


@dataclass(frozen=True)
class ReceiptAuditStatus:
    """Where a person's receipt stands in the log (issue 15): the event that records it
    (its leaf hash, and its leaf index once sealed), the witnessed checkpoint that covers
    it if one does, and otherwise when to come back."""

    receipt_id: str
    leaf_hash: str
    seq: int | None
    checkpoint: AuditCheckpoint | None
    retry_after: datetime | None

    @property
    def leaf_index(self) -> int | None:
        return None if self.seq is None else self.seq - 1

    @property
    def covered(self) -> bool:
        return self.checkpoint is not None

    def retry_after_seconds(self) -> int | None:
        if self.retry_after is None:
            return None
        return max(1, int((self.retry_after - timezone.now()).total_seconds()) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "receipt_id": self.receipt_id,
            "leaf_hash": self.leaf_hash,
            "seq": self.seq,
            "leaf_index": self.leaf_index,
            "covered": self.covered,
            "tree_size": self.checkpoint.tree_size if self.checkpoint is not None else None,
            "retry_after": self.retry_after.isoformat() if self.retry_after is not None else None,
        }


def _receipt_event(*, subject: str, receipt_id: str) -> AuditEvent:
    # The event is the person's own (their pseudonym in details.subject): anyone else's
    # receipt answers exactly like one that does not exist.
    event = AuditEvent.objects.filter(details__subject=subject, details__receipt_id=receipt_id).order_by("id").first()
    if event is None:
        raise NotFound("no receipt with this id is recorded in the audit log for you")
    return event


def _checkpoints_witnessed():
    checkpoints = AuditCheckpoint.objects.all()
    if settings.CH_AUDIT_WITNESSES:
        # At least one witness: a witness that is down must not hide every proof; how many
        # cosignatures to require is the verifier's choice (--require-witnesses).
        checkpoints = checkpoints.filter(cosignatures__isnull=False).distinct()
    return checkpoints


def _next_checkpoint_time() -> datetime:
    """When the next checkpoint (and its cosignatures) should be there: the last one's time
    plus the signing interval, or, if that is past (the log did not grow, or a job is
    late), a signing interval's tenth from now, at least 10 seconds."""
    interval = settings.CH_AUDIT_CHECKPOINT_INTERVAL
    slack = settings.CH_AUDIT_WITNESS_TIMEOUT * max(1, len(settings.CH_AUDIT_WITNESSES)) if settings.CH_AUDIT_WITNESSES else 0
    last = AuditCheckpoint.objects.order_by("-id").values_list("time", flat=True).first()
    now = timezone.now()
    expected = (last + interval) if last is not None else now + interval
    if expected <= now:
        expected = now + max(interval / 10, timedelta(seconds=10))
    return expected + timedelta(seconds=slack)


def audit_receipt_status(*, subject: str, receipt_id: str) -> ReceiptAuditStatus:
    event = _receipt_event(subject=subject, receipt_id=receipt_id)
    checkpoint = None
    if event.seq is not None:
        checkpoint = _checkpoints_witnessed().filter(tree_size__gte=event.seq).order_by("-tree_size", "-id").first()
    return ReceiptAuditStatus(
        receipt_id=receipt_id,
        leaf_hash=event.leaf_hash,
        seq=event.seq,
        checkpoint=checkpoint,
        retry_after=None if checkpoint is not None else _next_checkpoint_time(),
    )


def audit_receipt_proof(*, subject: str, receipt_id: str) -> dict[str, Any]:
    """For the person themself: the audit event that records their consent receipt
    (details.receipt_id, under their own pseudonym; anyone else's is NotFound, exactly
    like a missing one), with its inclusion proof against the latest checkpoint that
    covers it, witnessed when witnesses are configured (Conflict ``not_yet_witnessed``,
    with when to come back, until one is). The event's own entry comes with it, so that
    the person can check the proof is about their receipt (tools/audit_verify.py
    inclusion --receipt)."""
    from clearinghouse.audit.chain import event_export_line
    from clearinghouse.audit.witnessing import checkpoint_note_cosigned

    status = audit_receipt_status(subject=subject, receipt_id=receipt_id)
    if status.checkpoint is None:
        raise Conflict(
            "no witnessed checkpoint covers this receipt's audit event yet; come back after "
            f"{timezone.localtime(status.retry_after).strftime('%Y-%m-%d %H:%M:%S %Z') if status.retry_after else 'a while'}",
            code="not_yet_witnessed",
            details={
                "retry_after": status.retry_after.isoformat() if status.retry_after else None,
                "retry_after_seconds": status.retry_after_seconds(),
                "leaf_hash": status.leaf_hash,
                "seq": status.seq,
            },
        )
    assert status.seq is not None
    proof = audit_inclusion_proof(seq=status.seq, tree_size=status.checkpoint.tree_size)
    proof["checkpoint"] = status.checkpoint.envelope()
    return {
        "receipt_id": receipt_id,
        "proof": proof,
        "event": event_export_line(audit_event_get(seq=status.seq)),
        "checkpoint_note": checkpoint_note_cosigned(status.checkpoint),
    }


def audit_last_verification() -> AuditEvent | None:
    """The most recent full verification of the log (``audit.verified``), whoever ran it."""
    return AuditEvent.objects.filter(action=AuditAction.AUDIT_VERIFIED).order_by("-id").first()
