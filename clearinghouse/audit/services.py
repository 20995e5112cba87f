from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.chain import GENESIS_HASH, chain_hash, entry_document, entry_leaf_hash
from clearinghouse.audit.db import APPEND_FUNCTION
from clearinghouse.audit.models import AuditCheckpoint, AuditCosignature, AuditEvent, AuditLog, AuditTreeNode, AuditVerificationRun
from clearinghouse.audit.tree import TreeReader, new_stored_nodes
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import signer_get
from clearinghouse.core.errors import Invalid, Unavailable

logger = logging.getLogger(__name__)

# Any fixed 64-bit number; it names the lock that serialises sealing on PostgreSQL.
AUDIT_SEAL_LOCK = 0x6175646974  # "audit"
SEAL_BATCH = 5000

_ACTION = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
# Keys that would put personal data into a log that must survive erasure.
_FORBIDDEN_DETAIL_KEYS = {"username", "email", "password", "token", "subject_ref", "link_code", "phone", "api_key", "secret"}
_INT64 = 2**63 - 1


def _check_details(details: dict[str, Any]) -> None:
    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError("audit detail keys must be strings")
                if key in _FORBIDDEN_DETAIL_KEYS:
                    raise ValueError(f"audit details must not hold personal data (key {key!r})")
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, float):
            raise ValueError("audit details take decimal strings, not floats")
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int):
            # Verifiers in other languages must read the number back exactly.
            if not -_INT64 <= value <= _INT64:
                raise ValueError("audit detail integers must fit in 64 bits")
        elif isinstance(value, str):
            if "\x00" in value:
                raise ValueError("audit detail text cannot contain NUL")
        else:
            raise ValueError(f"audit details cannot hold {type(value).__name__}")

    if not isinstance(details, dict):
        raise ValueError("audit details must be a JSON object")
    walk(details)


def audit_append(
    *,
    actor: Actor,
    action: str,
    target: str = "",
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction; it commits or rolls back with
    the action it records.

    Its place in the log (seq, prev_hash, hash) is given by one sealer at a time, so the
    chain never forks. Writers never wait for each other: if the seal lock is free the
    event is sealed at once, in this transaction, and the lock is held until it commits;
    if another transaction holds it, the event is left unsealed and sealed right after
    commit, in commit order, by whichever transaction holds the lock next. (The previous
    design waited for the lock and so serialised every transaction that audits anything,
    which is every transaction in this system.)
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction of the action it records")
    # The hashed entry holds the plain string, whatever str subclass the caller passed.
    action = str(action.value if isinstance(action, AuditAction) else action)
    if not _ACTION.match(action):
        raise ValueError(f"audit action {action!r} must be dotted lower-case, e.g. consent.granted")
    if outcome not in {"ok", "denied", "error"}:
        raise ValueError(f"audit outcome {outcome!r} must be ok, denied or error")
    if len(action) > 64 or len(target) > 128 or len(actor.id) > 64 or len(actor.kind) > 16:
        raise ValueError("audit action, target or actor is longer than the log allows")
    details = details or {}
    _check_details(details)
    moment = timezone.now()
    leaf = entry_leaf_hash(
        entry_document(
            time=moment,
            actor_kind=actor.kind,
            actor_id=actor.id,
            action=action,
            target=target,
            outcome=outcome,
            details=details,
        )
    )
    event = AuditEvent(
        time=moment,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target=target,
        outcome=outcome,
        details=details,
        leaf_hash=leaf,
    )
    # Entries are (savepoint ids, callback, robust); django-stubs still describe pairs.
    callbacks = [entry[1] for entry in connection.run_on_commit]
    # Once an event of this transaction waited, later ones wait too, or they would be
    # sealed ahead of it and the log would show this transaction's events out of order.
    dedicated_sealer = connection.vendor == "postgresql" and settings.CH_AUDIT_SEALER == "process"
    # With a dedicated sealer nobody but it takes the lock: writers never wait for each
    # other's commits, and it seals in large batches.
    try_seal = not dedicated_sealer and _left_pending not in callbacks and _may_seal_inline()
    if connection.vendor == "postgresql":
        _insert_postgresql(event, try_seal=try_seal)
    else:
        head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", "hash").first()
        size, prev_hex = head if head else (0, GENESIS_HASH)
        # A row with a seq is sealed, and sealing sets seq and hash together.
        assert size is not None and prev_hex is not None
        event.seq, event.prev_hash = size + 1, prev_hex
        event.hash = chain_hash(bytes.fromhex(prev_hex), bytes.fromhex(leaf)).hex()
        event.save(force_insert=True)
    after: Callable[[], None] | None
    if event.seq is not None:
        _store_new_nodes(old_size=event.seq - 1, new_size=event.seq, known_leaves={event.seq - 1: bytes.fromhex(leaf)})
        after = _after_commit_holder
    else:
        # With a dedicated sealer, sealing is its job alone.
        after = None if dedicated_sealer else _left_pending
    if after is not None and after not in callbacks:
        transaction.on_commit(after, robust=True)
    event._state.adding = False
    return event


def _insert_postgresql(event: AuditEvent, *, try_seal: bool) -> None:
    """Insert, sealed if the lock was free and nothing committed is waiting."""
    from psycopg.types.json import Jsonb

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {APPEND_FUNCTION}(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                event.time,
                event.actor_kind,
                event.actor_id,
                event.action,
                event.target,
                event.outcome,
                Jsonb(event.details),  # type: ignore[list-item]  # django-stubs allow only built-in parameter types; psycopg adapts Jsonb
                event.leaf_hash,
                try_seal,
                AUDIT_SEAL_LOCK,
            ],
        )
        event.id, event.xid, event.seq, event.prev_hash, event.hash, _ = cursor.fetchone()


def _may_seal_inline() -> bool:
    if connection.vendor != "postgresql":
        return True
    # Sealing reads the head with a fresh snapshot; a REPEATABLE READ or SERIALIZABLE
    # transaction would read an old head and collide with a newer seal.
    from psycopg import IsolationLevel

    return getattr(connection, "isolation_level", None) in (None, IsolationLevel.READ_COMMITTED)


def _left_pending() -> None:
    """After a commit that left events unsealed: seal them now, unless the lock is held,
    in which case its holder looks for them after releasing it."""
    _seal_if_pending()


def _after_commit_holder() -> None:
    """After a commit that held the seal lock: events committed meanwhile were left to us."""
    _seal_if_pending()


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


# --- Sealing ------------------------------------------------------------------------------


def _try_lock(*, until_commit: bool = False) -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: the IMMEDIATE transaction below is already exclusive
    function = "pg_try_advisory_xact_lock" if until_commit else "pg_try_advisory_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [AUDIT_SEAL_LOCK])
        return bool(cursor.fetchone()[0])


# Committed, unsealed events. Each seal leaves a dead row version in the unsealed index
# until VACUUM, so on PostgreSQL the search starts at the horizon: only transactions that
# were still running at the last complete pass can have left events behind.
_PENDING_PG = """
    SELECT id, leaf_hash FROM audit_auditevent
     WHERE seq IS NULL AND xid >= COALESCE((SELECT xid FROM audit_auditsealhorizon WHERE id = 1), 0)
     ORDER BY id LIMIT %s
"""
# The sweep: every unsealed row, whatever its transaction id (the backstop's backstop, for
# a transaction the horizon could not see, such as one of another database role).
_PENDING_ALL_PG = "SELECT id, leaf_hash FROM audit_auditevent WHERE seq IS NULL ORDER BY id LIMIT %s"
_PENDING_EXISTS_PG = """
    SELECT EXISTS (SELECT 1 FROM audit_auditevent
                    WHERE seq IS NULL AND xid >= COALESCE((SELECT xid FROM audit_auditsealhorizon WHERE id = 1), 0))
"""
_HEAD = "SELECT seq, hash FROM audit_auditevent WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"


def _pending_exists() -> bool:
    if connection.vendor != "postgresql":
        return AuditEvent.objects.filter(seq__isnull=True).exists()
    with connection.cursor() as cursor:
        cursor.execute(_PENDING_EXISTS_PG)
        return bool(cursor.fetchone()[0])


def _store_new_nodes(*, old_size: int, new_size: int, known_leaves: dict[int, bytes]) -> None:
    """Store the subtree hashes that became complete as the tree grew (1 append in 256)."""
    if old_size >> 8 == new_size >> 8:
        return
    nodes = new_stored_nodes(TreeReader(new_size, known_leaves=known_leaves), old_size)
    AuditTreeNode.objects.bulk_create([AuditTreeNode(level=level, index=index, hash=value.hex()) for level, index, value in nodes])


def _unlock_and_check_pending() -> bool:
    """Release the seal lock, then look again (in a fresh snapshot) for events committed
    while we held it, whose writers found the lock taken and left them to us."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [AUDIT_SEAL_LOCK])
    return _pending_exists()


# Every transaction of this database with an id below the result has finished: the next
# id to be assigned, or the oldest id of a transaction still running here. Transactions
# of other databases on the same server cannot write our rows, so unlike a snapshot's
# xmin (which is server-wide) they do not hold the horizon back. pg_stat_activity shows
# 32-bit ids; they are widened with the epoch of the next id.
_OLDEST_RUNNING_HERE = """
    SELECT LEAST(n.next_xid, COALESCE(MIN(
               CASE WHEN ((n.next_xid >> 32) << 32) + r.xid > n.next_xid
                    THEN ((n.next_xid >> 32) << 32) + r.xid - 4294967296
                    ELSE ((n.next_xid >> 32) << 32) + r.xid END), n.next_xid))
      FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid) AS n
      LEFT JOIN (SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
                  WHERE datname = current_database() AND backend_xid IS NOT NULL
                 UNION ALL
                 SELECT transaction::text::bigint FROM pg_prepared_xacts WHERE database = current_database()) AS r ON true
     GROUP BY n.next_xid
"""


def _seal_batch(batch_size: int, sweep: bool = False) -> int:
    """Give the oldest committed unsealed events their place; returns how many."""
    outermost = not connection.in_atomic_block
    postgresql = connection.vendor == "postgresql"
    next_horizon = None
    if postgresql and outermost:
        # Before the batch's snapshot is taken: whatever finished before this moment is
        # visible to the search below.
        with connection.cursor() as cursor:
            cursor.execute(_OLDEST_RUNNING_HERE)
            next_horizon = cursor.fetchone()[0]
    with transaction.atomic(), connection.cursor() as cursor:
        if next_horizon is not None:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(_HEAD)
        head = cursor.fetchone()
        size, prev_hex = head if head else (0, GENESIS_HASH)
        if postgresql:
            cursor.execute(_PENDING_ALL_PG if sweep else _PENDING_PG, [batch_size])
            pending = cursor.fetchall()
        else:
            pending = list(AuditEvent.objects.filter(seq__isnull=True).order_by("id").values_list("id", "leaf_hash")[:batch_size])
        if pending:
            prev = bytes.fromhex(prev_hex)
            rows = []
            known_leaves: dict[int, bytes] = {}
            for offset, (event_id, leaf_hex) in enumerate(pending):
                leaf = bytes.fromhex(leaf_hex)
                current = chain_hash(prev, leaf)
                seq = size + offset + 1
                rows.append((seq, prev.hex(), current.hex(), event_id))
                known_leaves[seq - 1] = leaf
                prev = current
            # One statement for the batch: per-row statements cost a parse and plan each,
            # and the seal lock is held meanwhile.
            values = ", ".join(["(%s::bigint, %s, %s, %s::bigint)"] * len(rows))
            cursor.execute(
                f"""UPDATE audit_auditevent AS e SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
                      FROM (VALUES {values}) AS v(seq, prev_hash, hash, id)
                     WHERE e.id = v.id AND e.seq IS NULL""",
                [value for row in rows for value in row],
            )
            _store_new_nodes(old_size=size, new_size=size + len(rows), known_leaves=known_leaves)
        if next_horizon is not None and len(pending) < batch_size:
            # Every event of a transaction older than the horizon was visible above and is
            # sealed now: the next search may start there.
            cursor.execute(
                """INSERT INTO audit_auditsealhorizon (id, xid) VALUES (1, %s)
                   ON CONFLICT (id) DO UPDATE SET xid = GREATEST(audit_auditsealhorizon.xid, EXCLUDED.xid)""",
                [next_horizon],
            )
        return len(pending)


def _seal_all(batch_size: int, sweep: bool = False) -> int:
    sealed = 0
    while True:
        count = _seal_batch(batch_size, sweep)
        sealed += count
        if count < batch_size:
            return sealed


def audit_seal(*, batch_size: int = SEAL_BATCH, max_rounds: int = 50, sweep: bool = False) -> int:
    """Seal every committed, unsealed event. Returns how many this call sealed.

    Runs right after each auditing transaction commits, and from a beat task as a
    backstop. One sealer at a time (try-lock, never wait): a caller that finds the lock
    taken leaves its events to the holder, and the holder looks for pending events again
    *after* releasing the lock, so an event committed while the holder was finishing is
    never stranded.
    """
    if connection.in_atomic_block:
        # Inside someone else's transaction what we seal commits only with it: keep the
        # lock until then, or a second sealer would chain onto a head it cannot see.
        return _seal_all(batch_size, sweep) if _try_lock(until_commit=True) else 0
    return _seal_holding_lock(batch_size, max_rounds, sweep) if _try_lock() else 0


def _seal_holding_lock(batch_size: int, max_rounds: int, sweep: bool = False) -> int:
    sealed = 0
    for _ in range(max_rounds):
        try:
            sealed += _seal_all(batch_size, sweep)
        except BaseException:
            with contextlib.suppress(Exception):
                _unlock_and_check_pending()
            raise
        if not _unlock_and_check_pending() or not _try_lock():
            return sealed
    return sealed


_LOCK_IF_PENDING_PG = f"""
    SELECT CASE WHEN ({_PENDING_EXISTS_PG}) THEN pg_try_advisory_lock(%s) ELSE false END
"""


def _seal_if_pending() -> int:
    if connection.vendor != "postgresql":
        return audit_seal() if _pending_exists() else 0
    with connection.cursor() as cursor:
        # One round trip in the common case: nothing pending, or someone else sealing.
        cursor.execute(_LOCK_IF_PENDING_PG, [AUDIT_SEAL_LOCK])
        locked = bool(cursor.fetchone()[0])
    return _seal_holding_lock(SEAL_BATCH, 50) if locked else 0


# --- Log identity and checkpoints -----------------------------------------------------------


def audit_log_identity() -> uuid.UUID:
    """This log's id (created once, on first use, and kept for good)."""
    existing = AuditLog.objects.filter(pk=1).values_list("log_id", flat=True).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            AuditLog.objects.create(pk=1, log_id=uuid.uuid4())
    except IntegrityError:
        pass  # another process created it first
    return AuditLog.objects.values_list("log_id", flat=True).get(pk=1)


def audit_origin_line() -> str:
    """``<origin>=<base64 checkpoints public key>``: what a witness pins for this log."""
    import base64

    from clearinghouse.audit.tiles import checkpoint_origin

    public_key = signer_get("checkpoints").public_key_raw
    return f"{checkpoint_origin(str(audit_log_identity()))}={base64.b64encode(public_key).decode()}"


def audit_checkpoint_sign(*, force: bool = False) -> tuple[AuditCheckpoint, bool]:
    """Seal what is pending, then sign the tree head if it grew since the last checkpoint
    (or the checkpoint key changed, or ``force``). Returns (checkpoint, created)."""
    audit_seal()
    signer = signer_get("checkpoints")
    log_id = audit_log_identity()
    with transaction.atomic():
        head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", flat=True).first() or 0
        last = AuditCheckpoint.objects.order_by("-id").first()
        if last is not None and not force and last.tree_size == head and last.key_id == signer.key_id:
            _cosign_unless_done(last)
            return last, False
        root = TreeReader(head).root()
        checkpoint = AuditCheckpoint(
            log_id=log_id,
            tree_size=head,
            root_hash=root.hex(),
            time=timezone.now(),
            key_id=signer.key_id,
        )
        checkpoint.signature = signer.sign(checkpoint.payload())
        checkpoint.save(force_insert=True)
        _cosign_unless_done(checkpoint)
    return checkpoint, True


def _cosign_unless_done(checkpoint: AuditCheckpoint) -> None:
    """Offer ``checkpoint`` to the configured witnesses (a task, on commit) unless each has
    cosigned it. Asked again whenever a checkpoint is due, not only when one is signed: an
    offer that was lost (the broker down then), or a checkpoint signed by a process without
    the witnesses configured (``manage.py audit_checkpoint`` from another shell), is offered
    by the next run of the checkpoint job instead of staying uncosigned while the log is
    quiet."""
    if not settings.CH_AUDIT_WITNESSES:
        return  # no query on every run of the job where nobody witnesses
    # Counted, not matched by name: naming the witnesses parses their keys, and signing a
    # checkpoint must not depend on that (the task reports a bad key; a surplus offer is
    # idempotent).
    if AuditCosignature.objects.filter(checkpoint=checkpoint).count() >= len(settings.CH_AUDIT_WITNESSES):
        return
    from clearinghouse.audit.tasks import audit_checkpoint_cosign_task

    checkpoint_id = checkpoint.pk
    transaction.on_commit(lambda: audit_checkpoint_cosign_task.delay(checkpoint_id))


# --- Recording what compliance does with the log ---------------------------------------------


def audit_export_start(*, actor: Actor, filters: dict[str, str], tree_size: int | None) -> int:
    """Record that ``actor`` exported the log and fix the export's last sequence number,
    so that the file is one consistent prefix however much the log grows meanwhile."""
    from clearinghouse.audit.tree import tree_size as current_size

    head = current_size()
    if tree_size is not None:
        if tree_size < 1:
            raise Invalid("tree_size: must be 1 or more", details={"field": "tree_size"})
        if tree_size > head:
            raise Invalid(f"tree_size: the log holds {head} sealed events", details={"field": "tree_size"})
    upto = tree_size if tree_size is not None else head
    audit_record(actor=actor, action=AuditAction.AUDIT_EXPORTED, details={"filters": filters, "upto_seq": upto})
    return upto


def audit_verification_record(*, actor: Actor, result) -> None:
    details = {"ok": result.ok, "checked": result.checked, "checkpoints_checked": result.checkpoints_checked}
    if not result.ok:
        details["first_bad_seq"] = result.first_bad_seq
    audit_record(actor=actor, action=AuditAction.AUDIT_VERIFIED, outcome="ok" if result.ok else "error", details=details)


# --- Verification runs started from the console -------------------------------------------------

STALE_RUN = 3600  # seconds after which a "running" verification whose worker died may be retried


def audit_verification_request(*, actor: Actor) -> AuditVerificationRun:
    """Queue a full verification; the task is sent once the run row exists (on commit)."""
    from clearinghouse.audit.tasks import audit_verify_task

    with transaction.atomic():
        run = AuditVerificationRun.objects.create(requested_by=actor.id, requested_at=timezone.now())
        transaction.on_commit(lambda: audit_verify_task.delay(run.pk))
    return run


def audit_verification_run(*, run_id: int) -> AuditVerificationRun | None:
    """Run a queued verification; claimed with a conditional update so that a duplicate
    delivery of the task does nothing. Returns None when there was nothing to claim."""
    from datetime import timedelta

    from django.db.models import Q

    from clearinghouse.audit.selectors import audit_chain_verify

    now = timezone.now()
    claimable = Q(status=AuditVerificationRun.QUEUED) | Q(
        status=AuditVerificationRun.RUNNING, started_at__lt=now - timedelta(seconds=STALE_RUN)
    )
    if not AuditVerificationRun.objects.filter(claimable, pk=run_id).update(status=AuditVerificationRun.RUNNING, started_at=now):
        return None
    run = AuditVerificationRun.objects.get(pk=run_id)
    try:
        result = audit_chain_verify()
    except Exception as exc:
        logger.exception("audit verification run %s failed", run_id)
        AuditVerificationRun.objects.filter(pk=run_id).update(
            status=AuditVerificationRun.FAILED, finished_at=timezone.now(), result={"error": type(exc).__name__}
        )
        raise
    AuditVerificationRun.objects.filter(pk=run_id).update(
        status=AuditVerificationRun.DONE, finished_at=timezone.now(), result=result.as_dict()
    )
    audit_verification_record(actor=Actor(kind="compliance", id=run.requested_by), result=result)
    run.refresh_from_db()
    return run


# --- The dedicated sealer ----------------------------------------------------------------------


def audit_sealer_require_postgresql() -> None:
    """The dedicated sealer waits on a PostgreSQL advisory lock; on SQLite every writer
    seals its own events and there is nothing for it to do."""
    if connection.vendor != "postgresql":
        raise Unavailable(
            "the dedicated audit sealer needs PostgreSQL (DATABASE_URL points to SQLite, where every writer seals its own events)",
            code="needs_postgresql",
        )


def audit_sealer_run(*, stop=None, idle_seconds: float = 0.02, batch_size: int = SEAL_BATCH) -> int:
    """Seal events as writers leave them unsealed, until ``stop()`` says so; returns how many.

    Polls (one index probe) every ``idle_seconds`` while there is nothing to do. Writers
    do not NOTIFY it: a notifying transaction takes a server-wide lock at commit, which
    would serialise the writers' commits this mode exists to keep apart. Unlike writers
    the sealer waits for the lock: it has nothing else to do, and a writer holding it is
    about to commit.
    """
    import time

    audit_sealer_require_postgresql()
    sealed = 0
    while stop is None or not stop():
        if not _pending_exists():
            time.sleep(idle_seconds)
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [AUDIT_SEAL_LOCK])
        try:
            sealed += _seal_all(batch_size)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [AUDIT_SEAL_LOCK])
    return sealed
