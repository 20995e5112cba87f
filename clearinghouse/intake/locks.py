"""The intake lock: how a batch and an erasure of the same platform stay out of each other's way.

A batch reads consent and links and then writes signals. If a withdrawal committed, and
its erasure ran, between the batch's consent read and the batch's commit, the batch's
signals would survive the erasure. So every intake transaction holds its platform's lock
in SHARED mode from before its first read until it commits, and every erasure takes the
lock EXCLUSIVELY before deleting: the erasure waits for each batch that may have read the
old consent, and sees its rows; any batch that starts after the withdrawal committed reads
the withdrawal and rejects the items. Batches never block each other, and a withdrawal
itself never waits for a batch (only its erasure, a few milliseconds later, does).

One lock per platform instead of row locks on up to 10,000 consumers per batch: row locks
cost ~35 ms per batch (every tuple is rewritten with a locker id) and a shared lock taken
by two batches on the same rows creates a multixact for each.

Lock order across the code is consumer row (FOR UPDATE) → intake lock, and audit appends
never wait for a lock, so no cycle is possible. On SQLite (the embedded default) every write transaction takes
the database's single write lock at BEGIN, which already serialises all of this.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from clearinghouse.accounts.models import Platform

# First key of the two-int advisory lock form; the second is the platform id. The audit
# chain uses the one-bigint form, which PostgreSQL keeps in a separate key space.
INTAKE_LOCK_CLASS = 0x496E  # "In"


def _require_transaction() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("the intake lock is transaction-scoped: take it inside transaction.atomic()")


def intake_lock_shared(*, platform_id: int) -> None:
    _require_transaction()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s::int, %s::int)", [INTAKE_LOCK_CLASS, platform_id])


def intake_lock_exclusive(*, platform_ids: Iterable[int] | None = None) -> None:
    """Wait for every running batch of these platforms (all platforms when None)."""
    _require_transaction()
    if connection.vendor != "postgresql":
        return
    if platform_ids is None:
        platform_ids = Platform.objects.values_list("id", flat=True)
    with connection.cursor() as cursor:
        # Ascending order: two callers locking several platforms can never cross.
        for platform_id in sorted(set(platform_ids)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s::int, %s::int)", [INTAKE_LOCK_CLASS, platform_id])
