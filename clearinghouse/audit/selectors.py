from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from clearinghouse.audit.chain import GENESIS_HASH, event_document, row_hash
from clearinghouse.audit.models import AuditEvent


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    head_seq: int | None
    head_hash: str | None
    first_bad_seq: int | None
    reason: str = ""

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def _events_in_order(batch_size: int = 5000) -> Iterator[AuditEvent]:
    # Keyset pagination keeps memory flat on a log of millions of rows.
    last = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def audit_chain_verify() -> ChainVerification:
    """Recompute every row's hash and link; name the first sequence number that breaks."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    head_seq = head_hash = None
    for event in _events_in_order():
        if event.seq != expected_seq:
            return ChainVerification(False, checked, head_seq, head_hash, expected_seq, f"sequence number {expected_seq} is missing")
        if event.prev_hash != expected_prev:
            return ChainVerification(False, checked, head_seq, head_hash, event.seq, "previous-hash link does not match")
        if row_hash(event_document(event)) != event.hash:
            return ChainVerification(False, checked, head_seq, head_hash, event.seq, "row content does not match its hash")
        checked += 1
        expected_prev = event.hash
        expected_seq += 1
        head_seq, head_hash = event.seq, event.hash
    return ChainVerification(True, checked, head_seq, head_hash, None)
