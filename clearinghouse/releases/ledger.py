"""The individual privacy ledger: which consumers each release charged, as bitmaps.

A release's charge set is stored as one bitmap per block of ``CHUNK_BITS`` consumer ids
(``ChargeChunk``). A consumer's total over the rolling window is the sum of the ε of the
windowed releases whose bitmap has their bit set. ε is counted in exact integer units of
0.0001 (the precision of every epsilon in the system), so totals never round.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Q

from clearinghouse.releases.models import ChargeChunk, Release

CHUNK_BITS = ChargeChunk.CHUNK_BITS
WINDOW_DAYS = 365
UNIT = Decimal("0.0001")


def epsilon_units(value: Decimal) -> int:
    units = value / UNIT
    if units != units.to_integral_value():
        raise ValueError(f"epsilon {value} has more than 4 decimal places")
    return int(units)


def units_epsilon(units: int) -> Decimal:
    return (Decimal(units) * UNIT).quantize(UNIT)


def window_start(moment: datetime) -> datetime:
    return moment - timedelta(days=WINDOW_DAYS)


def chunks_encode(consumer_ids: np.ndarray) -> list[tuple[int, bytes]]:
    """Sorted unique consumer ids -> [(chunk, bitmap bytes)] for the chunks that hold any."""
    ids = np.unique(np.asarray(consumer_ids, dtype=np.int64))
    if ids.size and ids[0] < 0:
        raise ValueError("consumer ids are positive")
    chunks = []
    chunk_of = ids // CHUNK_BITS
    boundaries = np.flatnonzero(np.diff(chunk_of)) + 1
    for part in np.split(ids, boundaries) if ids.size else []:
        chunk = int(part[0] // CHUNK_BITS)
        bits = np.zeros(CHUNK_BITS, dtype=np.uint8)
        bits[part - chunk * CHUNK_BITS] = 1
        chunks.append((chunk, np.packbits(bits, bitorder="little").tobytes()))
    return chunks


def chunk_decode(chunk: int, bits: bytes) -> np.ndarray:
    flags = np.unpackbits(np.frombuffer(bytes(bits), dtype=np.uint8), bitorder="little")
    return np.flatnonzero(flags).astype(np.int64) + chunk * CHUNK_BITS


def bit_is_set(bits: bytes, offset: int) -> bool:
    return bool(bytes(bits)[offset >> 3] >> (offset & 7) & 1)


def windowed_releases(*, purpose_code: str, moment: datetime) -> Q:
    """Releases whose charges count against the per-consumer cap at ``moment``."""
    return Q(purpose_code=purpose_code, status=Release.DONE, completed_at__gt=window_start(moment))


def consumers_over(*, purpose_code: str, moment: datetime, cap: Decimal, epsilon: Decimal) -> np.ndarray:
    """Consumer ids whose windowed total plus ``epsilon`` would pass ``cap``: the ones the
    individual privacy filter leaves out of a release before aggregation.

    Reads every windowed charge bitmap of the purpose once and adds ε per set bit with
    numpy, one chunk of consumer ids at a time (memory stays one chunk wide).
    """
    limit = epsilon_units(cap) - epsilon_units(epsilon)
    if limit < 0:
        raise ValueError("epsilon is larger than the cap")
    releases = dict(Release.objects.filter(windowed_releases(purpose_code=purpose_code, moment=moment)).values_list("id", "epsilon"))
    if not releases:
        return np.zeros(0, dtype=np.int64)
    # Fast path: if every windowed release together cannot reach the limit, nobody can.
    if sum(epsilon_units(e) for e in releases.values()) <= limit:
        return np.zeros(0, dtype=np.int64)
    rows = ChargeChunk.objects.filter(release_id__in=list(releases)).order_by("chunk").values_list("chunk", "release_id", "bits")
    over: list[np.ndarray] = []
    current_chunk = None
    totals = None

    def flush():
        if totals is not None:
            hits = np.flatnonzero(totals > limit)
            if hits.size:
                over.append(hits.astype(np.int64) + current_chunk * CHUNK_BITS)

    for chunk, release_id, bits in rows.iterator(chunk_size=64):
        if chunk != current_chunk:
            flush()
            current_chunk, totals = chunk, np.zeros(CHUNK_BITS, dtype=np.int64)
        flags = np.unpackbits(np.frombuffer(bytes(bits), dtype=np.uint8), bitorder="little")
        totals += flags.astype(np.int64) * epsilon_units(releases[release_id])
    flush()
    return np.concatenate(over) if over else np.zeros(0, dtype=np.int64)


def consumer_charges(*, consumer_id: int, since: datetime | None = None) -> Iterable[Release]:
    """Done releases that charged this consumer (newest first)."""
    chunk, offset = divmod(consumer_id, CHUNK_BITS)
    filters = Q(status=Release.DONE)
    if since is not None:
        filters &= Q(completed_at__gt=since)
    rows = (
        ChargeChunk.objects.filter(chunk=chunk, release__in=Release.objects.filter(filters))
        .select_related("release", "release__manufacturer")
        .order_by("-release__completed_at")
    )
    return [row.release for row in rows if bit_is_set(row.bits, offset)]
