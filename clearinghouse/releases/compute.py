"""The set-based part of a release: one SQL statement over the signals.

It selects the signals the release may use (consent active now, inside the public key
set, matching the filters, consumer not left out by the individual privacy filter),
bounds each consumer's contribution with window functions, and returns the exact
per-cell aggregates together with the ids of the consumers that contributed (the ones
the ledger charges). Aggregates and charge set come from the same statement, hence the
same snapshot: nobody can contribute without being charged.

Bounding is deterministic per release and unpredictable to whoever supplies data: rows
are ranked by a seeded hash whose 64-bit seed is an HMAC of the release id under a
server-side key, never by arrival order or id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db import connection
from django.utils.dateparse import parse_datetime

from clearinghouse.consent.models import ConsentState, Purpose
from clearinghouse.core.crypto import derived_key
from clearinghouse.intake.models import Signal
from clearinghouse.releases.plans import PERSON_ATTRIBUTES, ReleasePlan, mean_scale

_SIGNED_64 = 1 << 63
_SUM_LIMIT = 1 << 62


def bounding_seed(release_id) -> int:
    """A signed 64-bit seed: HMAC-SHA256(release-bounding key, release id)."""
    digest = hmac.new(derived_key("releases/bounding/v1"), str(release_id).encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:8], "big")
    return value - (1 << 64) if value >= _SIGNED_64 else value


@dataclass
class Aggregate:
    """Exact (pre-noise) per-cell values in the plan's cell order, and who contributed."""

    counts: np.ndarray  # consumers per cell (consumers, top_k, mean_value) or kept signals per cell
    # sum_value: sum of clamped values per cell; mean_value: sum over the cell's consumers of
    # 2·lcm(1..S)·(consumer's mean − middle of the value bounds), a whole number
    sums: np.ndarray | None
    contributors: np.ndarray  # sorted consumer ids
    # Contributors per cell by the cell their first-ranked row is in: a person attribute
    # has one value per person, so this read on person attributes counts people, once each.
    firsts: np.ndarray | None = None
    # Countable consumers the filter left out who had a signal the request could use
    # (sorted ids): the reach count's left_out, charged its reach share only (reach.py).
    left_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def vector(self) -> np.ndarray:
        return self.sums if self.sums is not None else self.counts


def _sqlite_functions(raw, plan: ReleasePlan, seed: int) -> tuple[str, str]:
    """SQLite (the embedded default) lacks a seeded hash and width_bucket: register
    deterministic Python functions, anew for each release (they capture its seed and
    its weeks)."""
    key = seed.to_bytes(8, "big", signed=True)

    def keyed(value, chained):
        material = f"{value}|{chained}".encode()
        return int.from_bytes(hashlib.blake2b(material, key=key, digest_size=8).digest(), "big", signed=True)

    starts = [w.timestamp() for w in plan.week_starts or []]

    def week(text):
        if text is None:
            return None
        moment = text if isinstance(text, datetime) else parse_datetime(str(text).replace(" ", "T"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return bisect_right(starts, moment.timestamp())

    raw.create_function("ch_hash", 2, keyed, deterministic=True)
    raw.create_function("ch_week", 1, week, deterministic=True)
    return "ch_hash", "ch_week"


def _bigint_array(ids: np.ndarray) -> str:
    """Consumer ids as one PostgreSQL array literal, for a ``%s::bigint[]`` parameter. The
    driver would otherwise quote a list element by element in Python: 0.45 s of a
    10M-signal job whose filter had left out 200,000 people (bench/release, 2026-12-07)."""
    return "{" + ",".join(map(str, ids.tolist())) + "}"


def _in(column: str, values: list, params: list, postgres: bool) -> str:
    if postgres:
        params.append(list(values))
        return f"{column} = ANY(%s)"
    params.extend(values)
    return f"{column} IN ({', '.join(['%s'] * len(values))})"


def _eligible_where(plan: ReleasePlan, *, postgres: bool, now: datetime, excluded: np.ndarray | None = None) -> tuple[list[str], list]:
    """The predicates (over ``s``, the signal table) that make a signal usable by the
    release, and their params: retention, consent active now, the public key set, the
    filters, and not one of the ``excluded`` consumers. Shared by the bounded statement
    and the reach's left-out count."""
    consent_table = ConsentState._meta.db_table
    params: list = []
    versions = list(Purpose.objects.filter(code=plan.purpose.code).values_list("id", "retention_days", "fields"))
    # Never a signal older than its purpose version's retention, whatever the purge job has
    # done yet: charges leave the ledger's window after 365 days (no purpose keeps data
    # longer, consent/purposes.py), so a fact already charged can never be read again.
    # Age is occurred_at when the version collects it, received_at otherwise (as the purge).
    by_version = []
    for version_id, retention_days, fields in versions:
        cutoff = now - timedelta(days=retention_days)
        if "occurred_at" in fields:
            by_version.append("(s.purpose_id = %s AND (s.occurred_at >= %s OR (s.occurred_at IS NULL AND s.received_at >= %s)))")
            params.extend([version_id, cutoff, cutoff])
        else:
            by_version.append("(s.purpose_id = %s AND s.received_at >= %s)")
            params.extend([version_id, cutoff])
    where = [by_version[0] if len(by_version) == 1 else "(" + " OR ".join(by_version) + ")"]
    # Consent active now: a semi-join (one state row per consumer, purpose and platform).
    # The individual filter's exclusions are tested there, on the consent rows (about one
    # per consumer and platform), not on every signal: PostgreSQL hashes the constant array.
    left_out = excluded if excluded is not None and excluded.size else None
    leave_out = " AND NOT (c.consumer_id = ANY(%s::bigint[]))" if left_out is not None and postgres else ""
    where.append(
        f"EXISTS (SELECT 1 FROM {consent_table} c WHERE c.consumer_id = s.consumer_id AND c.platform_id = s.platform_id "
        f"AND {ConsentState.objects.active_sql('c')}{leave_out})"
    )
    params.extend([plan.purpose.code, plan.purpose.version])
    if left_out is not None and postgres:
        params.append(_bigint_array(left_out))
    elif left_out is not None:
        where.append("s.consumer_id NOT IN (SELECT value FROM json_each(%s))")
        params.append(json.dumps(left_out.tolist()))
    where.append(_in("s.category", plan.categories, params, postgres))
    if plan.attributes is not None:
        where.append(_in("s.attribute", plan.attributes, params, postgres))
    if plan.signals is not None:
        where.append(_in("s.signal", plan.signals, params, postgres))
    for axis in plan.axes:
        for position, dimension in enumerate(axis.dimensions):
            if dimension in ("age_band", "region"):
                where.append(_in(f"s.{dimension}", sorted({key[position] for key in axis.keys}), params, postgres))
    if plan.since is not None:
        where.append("s.occurred_at >= %s")
        params.append(plan.since)
    if plan.until is not None:
        where.append("s.occurred_at < %s")
        params.append(plan.until)
    if plan.measure in ("sum_value", "mean_value"):
        where.append("s.value IS NOT NULL")
    return where, params


def ranked_sql(plan: ReleasePlan, *, seed: int, excluded: np.ndarray, postgres: bool, now: datetime | None = None) -> tuple[str, list]:
    """``WITH e AS (eligible signals), r AS (bounded rows with their ranks)`` and its params.

    Rows of r with ``_keep(plan)`` are the bounded contribution; ``rc = 1 AND rs = 1``
    marks exactly one row per contributing consumer. For counts a row of r is one
    (consumer, cell) with ``n``, how many of the consumer's signals the cell holds; for sums
    and means it is one signal.

    Everything is ranked in one order, (consumer, cell hash, cell[, signal hash, signal]),
    so that PostgreSQL sorts the eligible rows once and every window reads that sort. The
    cell hash ``ch`` chains the release's keyed hash over the consumer and the cell's values
    on the dimensions that are not person attributes: within a person, whose person
    attributes take one value, ranking by ``ch`` ranks whole cells.
    """
    signal_table = Signal._meta.db_table
    hash_fn = "hashint8extended" if postgres else "ch_hash"
    select_params: list = []
    now = now or datetime.now(UTC)
    value_measure = plan.measure in ("sum_value", "mean_value")
    seed_sql = str(int(seed))

    expressions = {
        "category": "s.category",
        "attribute": "s.attribute",
        "signal": "s.signal",
        "age_band": "s.age_band",
        "region": "s.region",
    }
    columns = plan.columns
    select_columns = []
    for position, dimension in enumerate(columns):
        if dimension == "week":
            if postgres:
                select_columns.append(f"width_bucket(s.occurred_at, %s::timestamptz[]) AS d{position}")
                assert plan.week_starts is not None  # plan_build sets them whenever 'week' is grouped by
                select_params.append(list(plan.week_starts))
            else:
                select_columns.append(f"ch_week(s.occurred_at) AS d{position}")
        else:
            select_columns.append(f"{expressions[dimension]} AS d{position}")
    if value_measure:
        low, high = (int(bound) for bound in plan.value_bounds)
        select_columns.append(f"(CASE WHEN s.value < {low} THEN {low} WHEN s.value > {high} THEN {high} ELSE s.value END) AS v")

    where, where_params = _eligible_where(plan, postgres=postgres, now=now, excluded=excluded)

    cell_names = [f"d{i}" for i in range(len(columns))]
    cells = "".join(", " + c for c in cell_names)
    person = [f"d{i}" for i, dimension in enumerate(columns) if dimension in PERSON_ATTRIBUTES]
    other = [f"d{i}" for i, dimension in enumerate(columns) if dimension not in PERSON_ATTRIBUTES]
    other_cells = "".join(", " + c for c in other)
    cell_hash = f"{hash_fn}(who, {seed_sql})"
    for name in other:
        cell_hash = f"{hash_fn}({name}, {cell_hash})"
    raw = (
        f"SELECT s.consumer_id AS who, s.id AS sid{''.join(', ' + c for c in select_columns)} "
        f"FROM {signal_table} s WHERE {' AND '.join(where)}"
    )
    # The hashes over the selected columns (a week is an expression with its own params).
    signal_hash = f", {hash_fn}(sid, {seed_sql}) AS hs" if value_measure else ""
    eligible = f"SELECT who, sid{cells}{', v' if value_measure else ''}, {cell_hash} AS ch{signal_hash} FROM ({raw}) s"
    # A person attribute (age band, region) is a fact about a person, counted once: of the
    # values the person's usable signals in their first cell carry, the lowest. The first
    # cell is the first by ch, so the choice is keyed per release and unpredictable to whoever
    # supplies data; every row of the person then sits in that one value.
    by_cell = f"PARTITION BY who ORDER BY ch{other_cells}"
    chosen = "".join(f", first_value({name}) OVER w AS {name}" if name in person else f", {name}" for name in cell_names)
    if plan.measure in ("consumers", "top_k", "signals"):
        # Counts need how many of a consumer's rows are in each cell, not which ones: one
        # row per (consumer, cell) straight off the sort (keeping at most S of a cell is
        # ``least(n, S)`` later), one window over those to rank whole cells.
        lowest = "".join(f", min({name}) AS {name}" for name in person)
        # Ordered in a subquery (which PostgreSQL keeps as it is): grouping then reads the
        # one sort. Without it the planner, misjudging how many pairs there are, hashes
        # them (1.3 GB for 10M signals) and sorts the result again for the window.
        pairs = (
            f"SELECT who, ch{other_cells}{lowest}, count(*) AS n FROM (SELECT * FROM e ORDER BY who, ch{other_cells}) o "
            f"GROUP BY who, ch{other_cells}"
        )
        ranked = f"SELECT who{chosen}, n, row_number() OVER w AS rc, 1 AS rs FROM ({pairs}) p WINDOW w AS ({by_cell})"
    else:
        # Sums and means keep which S values of a cell survive (by signal hash). The cell
        # hash is a function of (who, cell), so partitioning by (who, hash, cell) is
        # partitioning by (who, cell), and one sort serves every window.
        lowest = "".join(f", min({name}) OVER (PARTITION BY who, ch{other_cells}) AS {name}" for name in person)
        bounded = (
            f"SELECT who, ch{other_cells}{lowest}, v, "
            f"dense_rank() OVER ({by_cell}) AS rc, "
            f"row_number() OVER (PARTITION BY who, ch{other_cells} ORDER BY hs, sid) AS rs "
            f"FROM e"
        )
        ranked = f"SELECT who{chosen}, v, rc, rs FROM ({bounded}) b WINDOW w AS ({by_cell})" if person else bounded
    return f"WITH e AS ({eligible}), r AS ({ranked})", select_params + where_params


def left_out_sql(plan: ReleasePlan, *, countable: np.ndarray, postgres: bool, now: datetime) -> tuple[str, list]:
    """Which of ``countable`` had a signal the request could use: one index probe per
    consumer (``signal_consumer_purpose``) that stops at their first usable signal, so it
    costs the people asked about, not the purpose's signals."""
    where, params = _eligible_where(plan, postgres=postgres, now=now)
    if postgres:
        # LATERAL … LIMIT 1, not WHERE EXISTS: PostgreSQL turns an EXISTS into a semi-join
        # and, misjudging it, hashed every consented person's signals (950k rows, 1.35 s in
        # bench/release) to answer for 35k people; a lateral subquery can only be probed.
        statement = (
            f"SELECT o.id FROM unnest(%s::bigint[]) AS o(id) CROSS JOIN LATERAL "
            f"(SELECT 1 FROM {Signal._meta.db_table} s WHERE s.consumer_id = o.id AND {' AND '.join(where)} LIMIT 1) usable"
        )
        return statement, [_bigint_array(countable), *params]
    where.append("s.consumer_id IN (SELECT value FROM json_each(%s))")
    params.append(json.dumps(countable.tolist()))
    return f"SELECT DISTINCT s.consumer_id FROM {Signal._meta.db_table} s WHERE {' AND '.join(where)}", params


def _keep(plan: ReleasePlan) -> str:
    """The bounded contribution: at most C cells per consumer and, per cell, at most S
    signals for sums and means (signal counts cap ``n`` at S in the aggregate instead)."""
    cells_per_consumer = plan.cells_per_consumer
    if plan.measure in ("consumers", "top_k", "signals"):
        return f"rc <= {cells_per_consumer}"  # rows are distinct (consumer, cell) pairs already
    return f"rc <= {cells_per_consumer} AND rs <= {plan.purpose.max_signals_per_cell}"


def aggregate_compute(
    plan: ReleasePlan, *, seed: int, excluded: np.ndarray, now: datetime | None = None, countable: np.ndarray | None = None
) -> Aggregate:
    """Run the bounded aggregation inside the caller's transaction.

    One statement returns, per non-empty cell, its count, its sum and the consumers whose
    first-ranked cell it is: every contributor appears in exactly one cell's list, so the
    lists together are the charge set, read in the same snapshot as the aggregates.

    ``countable`` (a subset of ``excluded``, ledger.ledger_exclusion) asks, in a second
    statement over those consumers only, which of them had a signal the request could use:
    the reach count's ``left_out``. Nothing else of theirs is read.
    """
    postgres = connection.vendor == "postgresql"
    value_measure = plan.measure in ("sum_value", "mean_value")
    now = now or datetime.now(UTC)
    if not postgres:
        connection.ensure_connection()
        _sqlite_functions(connection.connection, plan, seed)
    head, params = ranked_sql(plan, seed=seed, excluded=excluded, postgres=postgres, now=now)
    width = len(plan.columns)
    cell_names = [f"d{i}" for i in range(width)]
    total = "sum(v)" if value_measure else "0"
    first_rows = "array_agg(who)" if postgres else "json_group_array(who)"
    group = f"GROUP BY {', '.join(cell_names)}" if width else ""
    index = plan.cell_index()
    counts = np.zeros(plan.cell_count, dtype=np.int64)
    firsts = np.zeros(plan.cell_count, dtype=np.int64)
    sums = np.zeros(plan.cell_count, dtype=np.int64) if value_measure else None
    lists: list[np.ndarray] = []
    if plan.measure == "mean_value":
        # A mean over consumers: each consumer's bounded signals in a cell become one value,
        # their mean, centred on the middle of the value bounds and in whole units of
        # 1/(2·lcm(1..S)) (exact: plans.mean_scale); the cell sums those and counts consumers.
        scale = mean_scale(plan.purpose.max_signals_per_cell)
        centre = scale * (int(plan.purpose.value_min or 0) + int(plan.purpose.value_max or 0))
        cells_sql = "".join(", " + c for c in cell_names)
        source = (
            f"(SELECT who{cells_sql}, (2 * {scale} * sum(v)) / count(*) - {centre} AS v, "
            f"max(CASE WHEN rc = 1 AND rs = 1 THEN 1 ELSE 0 END) AS first FROM r WHERE {_keep(plan)} GROUP BY who{cells_sql}) g"
        )
        statement = (
            f"{head} SELECT {''.join(c + ', ' for c in cell_names)}count(*), sum(v), "
            f"{first_rows} FILTER (WHERE first = 1) FROM {source} {group}"
        )
    else:
        if plan.measure == "signals":
            limit = int(plan.purpose.max_signals_per_cell)
            count = f"sum(CASE WHEN n < {limit} THEN n ELSE {limit} END)"
        else:
            count = "count(*)"
        statement = (
            f"{head} SELECT {''.join(c + ', ' for c in cell_names)}{count}, {total}, "
            f"{first_rows} FILTER (WHERE rc = 1 AND rs = 1) FROM r WHERE {_keep(plan)} {group}"
        )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        for row in cursor.fetchall():
            count, total_value, first = row[width], row[width + 1], row[width + 2]
            if not count:
                continue  # the one row of an ungrouped aggregate over nothing (count 0, or a NULL sum)
            position = index.get(tuple(row[:width]))
            if position is None:  # pragma: no cover - the WHERE clause keeps rows inside the key set
                raise RuntimeError("a row outside the public key set reached the aggregate")
            counts[position] = int(count)
            if sums is not None:
                # Saturate rather than overflow: a failure must never depend on the data,
                # and clipping a cell cannot raise the sum's sensitivity.
                sums[position] = max(-_SUM_LIMIT, min(_SUM_LIMIT, int(total_value or 0)))
            if first is not None:
                lists.append(np.asarray(first if postgres else json.loads(first), dtype=np.int64))
                firsts[position] = lists[-1].size
    contributors = np.sort(np.concatenate(lists)) if lists else np.zeros(0, dtype=np.int64)
    left_out = np.zeros(0, dtype=np.int64)
    if countable is not None and countable.size:
        statement, params = left_out_sql(plan, countable=np.unique(countable), postgres=postgres, now=now)
        with connection.cursor() as cursor:
            if postgres:
                # The job turns nested loops off for the bounded statement (a scan of the
                # purpose); this one is the opposite shape, a probe per person asked about.
                cursor.execute("SELECT current_setting('enable_nestloop')")
                previous = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('enable_nestloop', 'on', true)")
            cursor.execute(statement, params)
            left_out = np.sort(np.asarray([row[0] for row in cursor.fetchall()], dtype=np.int64))
            if postgres:
                cursor.execute("SELECT set_config('enable_nestloop', %s, true)", [previous])
    return Aggregate(counts=counts, sums=sums, contributors=contributors, firsts=firsts, left_out=left_out)
