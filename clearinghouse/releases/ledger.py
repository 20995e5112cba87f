"""The individual privacy ledger: which consumers each release charged, as bitmaps.

A release's charge set is stored as one bitmap per block of ``CHUNK_BITS`` consumer ids
(``ChargeChunk``). A consumer's total over the rolling window is the sum of the ε of the
windowed releases whose bitmap has their bit set. ε is counted in exact integer units of
0.0001 (the precision of every epsilon in the system), so totals never round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Q

from clearinghouse.releases import accounting, reach
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
    ids = np.asarray(consumer_ids, dtype=np.int64)
    # The job hands over sorted unique ids; numpy's unique hashes every element (0.7 s for
    # a million), so only an unsorted or repeating input pays for it.
    if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        ids = np.unique(ids)
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


def bit_is_set(bits: bytes | memoryview, offset: int) -> bool:
    return bool(bytes(bits)[offset >> 3] >> (offset & 7) & 1)


def windowed_releases(*, moment: datetime, purpose_code: str | None = None) -> Q:
    """Releases whose charges count against people's caps at ``moment`` (one purpose's,
    or every purpose's for the person cap)."""
    window = Q(status=Release.DONE, completed_at__gt=window_start(moment))
    return window & Q(purpose_code=purpose_code) if purpose_code is not None else window


@dataclass(frozen=True)
class Exclusion:
    """What the individual filter decided for one job: ``excluded`` cannot afford its whole
    cost and are left out of the answer; ``countable`` (a subset of them) can still afford
    its reach share, so its reach count may count them (reach.py)."""

    excluded: np.ndarray
    countable: np.ndarray


def _bit_costs(release_id, code: str, epsilon: Decimal, rho: Decimal, reach_only: bool) -> tuple[str, int, int]:
    charged_epsilon, charged_rho = reach.charge_cost(epsilon=epsilon, rho=rho, reach_only=reach_only)
    return code, epsilon_units(charged_epsilon) if not charged_rho else 0, accounting.rho_units(charged_rho)


_PURE_BITS = 21


def _filters_over(pure: np.ndarray, rho: np.ndarray, tests: list[tuple[int, int, int]]) -> list[np.ndarray]:
    """``accounting.filter_over(pure + p, rho + r, limit)`` for each ``(p, r, limit)``, for a
    chunk's totals. The filter is a function of each person's (pure, ρ) pair alone, and a
    chunk of 65,536 people holds far fewer distinct pairs (sums of the same windowed
    charges), so it runs once per distinct pair and is read back per person: the filter
    runs under the ledger lock, where every job waits for it."""
    packable = bool(pure.size) and int(pure.min()) >= 0 and int(pure.max()) < 1 << _PURE_BITS and int(rho.min()) >= 0
    packable = packable and int(rho.max()) < 1 << (62 - _PURE_BITS)
    if not packable:  # totals far past any cap: no packing, the filter per person
        return [accounting.filter_over(pure + p, rho + r, limit) for p, r, limit in tests]
    distinct, inverse = np.unique((rho << _PURE_BITS) | pure, return_inverse=True)
    distinct_pure, distinct_rho = distinct & ((1 << _PURE_BITS) - 1), distinct >> _PURE_BITS
    return [accounting.filter_over(distinct_pure + p, distinct_rho + r, limit)[inverse] for p, r, limit in tests]


def consumers_over(*, purpose_code: str, moment: datetime, purpose_cap: Decimal, epsilon: Decimal, rho: Decimal = Decimal(0)) -> np.ndarray:
    """Consumer ids that the individual privacy filter leaves out of a release (see
    ledger_exclusion)."""
    return ledger_exclusion(purpose_code=purpose_code, moment=moment, purpose_cap=purpose_cap, epsilon=epsilon, rho=rho).excluded


def ledger_exclusion(
    *, purpose_code: str, moment: datetime, purpose_cap: Decimal, epsilon: Decimal, rho: Decimal = Decimal(0)
) -> Exclusion:
    """The individual privacy filter before aggregation: consumers whose guarantee, with
    this job's charge (pure ``epsilon`` or zCDP ``rho``) added, would pass the person cap
    over every purpose (settings.CH_PERSON_EPSILON_CAP) or this purpose's own sub-cap
    (accounting.py says how pure and Gaussian charges add up), less the reach reserve
    (reach.RESERVE), are excluded; those of them for whom the job's reach share alone would
    not pass the cap itself are countable. The reserve keeps people who are left out
    countable for many more answers, so that reach reports them instead of silently
    dropping them.

    Reads every windowed charge bitmap once and adds per set bit with numpy, one chunk of
    consumer ids at a time (memory stays one chunk wide).
    """
    empty = Exclusion(excluded=np.zeros(0, dtype=np.int64), countable=np.zeros(0, dtype=np.int64))
    cost_pure, cost_rho = epsilon_units(epsilon) if not rho else 0, accounting.rho_units(rho)
    _code, share_pure, share_rho = _bit_costs(None, purpose_code, epsilon, rho, True)
    limits = {"all": epsilon_units(accounting.person_cap()), "purpose": epsilon_units(purpose_cap)}
    answerable = min(limit - reach.reserve_units(limit) for limit in limits.values())
    if accounting.filter_over(np.array([cost_pure]), np.array([cost_rho]), answerable)[0]:
        raise ValueError("one release costs more than the cap")
    releases = {
        (release_id, reach_only): _bit_costs(release_id, code, e if person_e is None else person_e, r, reach_only)
        for release_id, code, e, person_e, r in Release.objects.filter(windowed_releases(moment=moment)).values_list(
            "id", "purpose_code", "epsilon", "person_epsilon", "rho"
        )
        for reach_only in (False, True)
    }
    if not releases:
        return empty
    # Fast path: if every windowed release together cannot reach a limit, nobody can.
    full = [costs for (_id, reach_only), costs in releases.items() if not reach_only]
    everything = (np.array([cost_pure + sum(p for _c, p, _r in full)]), np.array([cost_rho + sum(r for _c, _p, r in full)]))
    if not accounting.filter_over(*everything, answerable)[0]:
        return empty
    windowed = list({release_id for release_id, _reach in releases})
    rows = ChargeChunk.objects.filter(release_id__in=windowed).order_by("chunk").values_list("chunk", "release_id", "reach_only", "bits")
    over: list[np.ndarray] = []
    countable: list[np.ndarray] = []
    current_chunk = None
    totals: dict[str, np.ndarray] = {}

    def flush():
        if current_chunk is None:
            return
        excluded = np.zeros(CHUNK_BITS, dtype=bool)
        exhausted = np.zeros(CHUNK_BITS, dtype=bool)
        for scope, limit in limits.items():
            over_answer, over_share = _filters_over(
                totals[f"{scope}_pure"],
                totals[f"{scope}_rho"],
                [(cost_pure, cost_rho, limit - reach.reserve_units(limit)), (share_pure, share_rho, limit)],
            )
            excluded |= over_answer
            exhausted |= over_share
        hits = np.flatnonzero(excluded)
        if hits.size:
            over.append(hits.astype(np.int64) + current_chunk * CHUNK_BITS)
        counted = np.flatnonzero(excluded & ~exhausted)
        if counted.size:
            countable.append(counted.astype(np.int64) + current_chunk * CHUNK_BITS)

    for chunk, release_id, reach_only, bits in rows.iterator(chunk_size=64):
        if chunk != current_chunk:
            flush()
            current_chunk = chunk
            totals = {key: np.zeros(CHUNK_BITS, dtype=np.int64) for key in ("all_pure", "all_rho", "purpose_pure", "purpose_rho")}
        flags = np.unpackbits(np.frombuffer(bytes(bits), dtype=np.uint8), bitorder="little").astype(np.int64)
        code, pure, rho_charge = releases[(release_id, reach_only)]
        scopes = ("all", "purpose") if code == purpose_code else ("all",)
        for scope in scopes:
            if pure:
                totals[f"{scope}_pure"] += flags * pure
            if rho_charge:
                totals[f"{scope}_rho"] += flags * rho_charge
    flush()
    return Exclusion(
        excluded=np.concatenate(over) if over else empty.excluded,
        countable=np.concatenate(countable) if countable else empty.countable,
    )


def consumer_charges(*, consumer_id: int, since: datetime | None = None) -> Iterable[Release]:
    """Done releases that charged this consumer (newest first). Each carries
    ``charged_reach_only``: True when only its reach share was charged (reach.py)."""
    chunk, offset = divmod(consumer_id, CHUNK_BITS)
    filters = Q(status=Release.DONE)
    if since is not None:
        filters &= Q(completed_at__gt=since)
    rows = (
        ChargeChunk.objects.filter(chunk=chunk, release__in=Release.objects.filter(filters))
        .select_related("release", "release__manufacturer")
        .order_by("-release__completed_at")
    )
    charged = []
    for row in rows:
        if bit_is_set(row.bits, offset):
            row.release.charged_reach_only = row.reach_only  # type: ignore[attr-defined]  # this reading's fact, not a field
            charged.append(row.release)
    return charged
