"""Bench data for bench/release: N consumers with consent and M signals, written with COPY.

Bench data is not product code: it bypasses intake on purpose (10 million signals through
the API would take an hour) and writes consumers, consent events, consent states and
signals straight into their tables. Everything is derived from DeterministicStream, so
the same arguments build the same world.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import numpy as np
from django.db import connection
from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Manufacturer, Platform
from clearinghouse.accounts.services import platform_register
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.demo.synthetic import DeterministicStream
from clearinghouse.intake.models import Signal
from clearinghouse.releases.recipients import manufacturer_register

PLATFORMS = ("bench-mall", "bench-live", "bench-clip")
MANUFACTURER = "bench-maker"
SECTORS = ["furniture", "food", "electronics", "appliance", "apparel", "flowers", "beauty", "watch", "baby", "sports", "pet"]
CHUNK = 1_000_000


def _copy(table: str, columns: list[str], lines) -> None:
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for block in lines:
                copy.write(block)


def world_present(*, purpose_code: str, signals: int) -> bool:
    purpose = Purpose.objects.filter(code=purpose_code, status=Purpose.APPROVED).first()
    return bool(purpose) and Signal.objects.filter(purpose=purpose).count() == signals


def world_build(*, consumers: int, signals: int, purpose_code: str, seed: str = "bench-release", log=print) -> dict:
    """Build (or reuse) the bench world of one purpose: the first ``consumers`` bench
    consumers (created as needed) with consent for it, and ``signals`` signals."""
    actor = Actor.operator("bench")
    for code in ("c2m-product-design", "c2m-demand-forecast"):
        purpose_publish(document=purpose_file_read(f"clearinghouse/consent/purposes/{code}.json"), actor=actor, approve=True)
    purpose = Purpose.objects.get(code=purpose_code, status=Purpose.APPROVED)
    for slug in PLATFORMS:
        if not Platform.objects.filter(slug=slug).exists():
            platform_register(slug=slug, name=slug, actor=actor)
    if not Manufacturer.objects.filter(slug=MANUFACTURER).exists():
        manufacturer_register(slug=MANUFACTURER, name="Bench Maker", sectors=SECTORS, actor=actor)
    platforms = [Platform.objects.get(slug=slug).id for slug in PLATFORMS]
    info = {"purpose": purpose, "platforms": platforms}
    bench_consumers = Consumer.objects.filter(user__isnull=True, pseudonym__gte=uuid.UUID(int=7 << 100))
    if world_present(purpose_code=purpose_code, signals=signals) and bench_consumers.count() >= consumers:
        log(f"bench world present: {purpose_code}, {consumers:,} consumers, {signals:,} signals")
        return info

    started = time.perf_counter()
    log(f"building bench world: {purpose_code}, {consumers:,} consumers, {signals:,} signals (COPY; a few minutes)")
    stream = DeterministicStream(f"{seed}/{purpose_code}/{consumers}/{signals}")
    index = taxonomy_index()
    now = timezone.now()
    stamp = now.isoformat()
    existing = bench_consumers.count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM accounts_consumer")
        next_id = cursor.fetchone()[0] + 1
    if existing < consumers:
        new_ids = np.arange(next_id, next_id + consumers - existing, dtype=np.int64)

        def consumer_lines():
            for start in range(0, len(new_ids), CHUNK):
                ids = new_ids[start : start + CHUNK]
                yield "".join(f"{i}\t{uuid.UUID(int=int(i) + (7 << 100))}\t{stamp}\t{stamp}\n" for i in ids)

        _copy("accounts_consumer", ["id", "pseudonym", "age_confirmed_at", "created_at"], consumer_lines())
        log(f"  consumers {time.perf_counter() - started:.0f}s")
    consumer_ids = np.asarray(bench_consumers.order_by("id").values_list("id", flat=True)[:consumers], dtype=np.int64)
    with connection.cursor() as cursor:
        # This purpose's signals and consent rows of an earlier, differently sized world.
        cursor.execute("DELETE FROM intake_signal WHERE purpose_id = %s", [purpose.id])
        cursor.execute("ALTER TABLE consent_consentevent DISABLE TRIGGER USER")
        cursor.execute(
            "DELETE FROM consent_consentstate WHERE purpose_code = %s AND consumer_id IN (SELECT id FROM accounts_consumer WHERE user_id IS NULL)",
            [purpose.code],
        )
        cursor.execute(
            "DELETE FROM consent_consentevent WHERE purpose_id = %s AND consumer_id IN (SELECT id FROM accounts_consumer WHERE user_id IS NULL)",
            [purpose.id],
        )
        cursor.execute("ALTER TABLE consent_consentevent ENABLE TRIGGER USER")

    # One home platform each; one in ten also on a second platform; 5% withdrew.
    home = stream.integers(0, len(platforms), consumers)
    second = (home + 1 + stream.integers(0, len(platforms) - 1, consumers)) % len(platforms)
    has_second = stream.uniform(consumers) < 0.10
    granted_home = stream.uniform(consumers) >= 0.05
    granted_second = stream.uniform(consumers) >= 0.05
    pairs_consumer = np.concatenate([consumer_ids, consumer_ids[has_second]])
    pairs_platform = np.concatenate([np.asarray(platforms)[home], np.asarray(platforms)[second][has_second]])
    pairs_granted = np.concatenate([granted_home, granted_second[has_second]])
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM consent_consentevent")
        first_event = cursor.fetchone()[0] + 1
    event_ids = np.arange(first_event, first_event + len(pairs_consumer), dtype=np.int64)
    digest = purpose.notice_digests["en"]

    def event_lines():
        for start in range(0, len(event_ids), CHUNK):
            part = slice(start, start + CHUNK)
            yield "".join(
                f"{e}\t{uuid.UUID(int=int(e) + (9 << 100))}\t{c}\t{purpose.id}\t{p}\t{'grant' if g else 'withdraw'}\tapi\ten\t{digest}\t{stamp}\t{{}}\t\n"
                for e, c, p, g in zip(event_ids[part], pairs_consumer[part], pairs_platform[part], pairs_granted[part])
            )

    _copy(
        "consent_consentevent",
        [
            "id",
            "receipt_id",
            "consumer_id",
            "purpose_id",
            "platform_id",
            "action",
            "channel",
            "language",
            "notice_digest",
            "created_at",
            "receipt",
            "reason",  # empty: only an expiry has one
        ],
        event_lines(),
    )

    def state_lines():
        for start in range(0, len(event_ids), CHUNK):
            part = slice(start, start + CHUNK)
            yield "".join(
                f"{c}\t{purpose.code}\t{p}\t{purpose.version}\t{'t' if g else 'f'}\t{e}\t{stamp}\n"
                for e, c, p, g in zip(event_ids[part], pairs_consumer[part], pairs_platform[part], pairs_granted[part])
            )

    _copy(
        "consent_consentstate",
        ["consumer_id", "purpose_code", "platform_id", "version", "granted", "last_event_id", "updated_at"],
        state_lines(),
    )
    log(f"  consent {time.perf_counter() - started:.0f}s")

    # Signals: consumers drawn uniformly per signal (about 10 each at the default sizes),
    # categories skewed, attributes of the category, value 1..5, demographics per consumer.
    categories = list(index.categories.values())
    category_weights = 1.0 / np.arange(1, len(categories) + 1)
    attributes_of = [np.asarray(index.attributes_of(c), dtype=np.int64) for c in categories]
    signal_kinds = np.asarray(list(index.signals.values()), dtype=np.int64)
    signal_weights = np.linspace(len(signal_kinds), 1, len(signal_kinds))
    age_bands = np.asarray(list(index.age_bands.values()), dtype=np.int64)
    regions = np.asarray(list(index.regions.values()), dtype=np.int64)
    consumer_age = age_bands[stream.integers(0, len(age_bands), consumers)]
    consumer_region = regions[stream.integers(0, len(regions), consumers)]
    collects = set(purpose.fields)
    second_platform = np.asarray(platforms)[second]
    home_platform = np.asarray(platforms)[home]

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'intake_signal' AND indexname <> 'intake_signal_pkey'")
        index_defs = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'intake_signal'::regclass AND contype = 'u'"
        )
        unique_defs = cursor.fetchall()
        for name, _ in unique_defs:
            cursor.execute(f'ALTER TABLE intake_signal DROP CONSTRAINT "{name}"')
        for name, _ in index_defs:
            if name not in {n for n, _ in unique_defs}:
                cursor.execute(f'DROP INDEX IF EXISTS "{name}"')

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM intake_signal")
        first_signal = cursor.fetchone()[0]
    if "occurred_at" in collects:
        # Spread over the last 12 weeks.
        base = now.timestamp() - 84 * 86400

    def signal_lines():
        for start in range(0, signals, CHUNK):
            n = min(CHUNK, signals - start)
            who = stream.integers(0, consumers, n)
            cat_pos = stream.choice(category_weights, n)
            attr_draw = stream.uniform(n)
            kinds = signal_kinds[stream.choice(signal_weights, n)]
            values = stream.integers(1, 6, n)
            on_second = (stream.uniform(n) < 0.5) & has_second[who]
            platform_ids = np.where(on_second, second_platform[who], home_platform[who])
            cats = np.asarray(categories, dtype=np.int64)[cat_pos]
            attrs = np.empty(n, dtype=np.int64)
            for position, options in enumerate(attributes_of):
                mask = cat_pos == position
                attrs[mask] = options[np.floor(attr_draw[mask] * len(options)).astype(np.int64)]
            null = np.full(n, "\\N", dtype=object)
            age = consumer_age[who].astype(str) if "age_band" in collects else null
            region = consumer_region[who].astype(str) if "region" in collects else null
            value = values.astype(str) if "value" in collects else null
            if "occurred_at" in collects:
                moments = base + stream.uniform(n) * 84 * 86400
                when = [datetime.fromtimestamp(m, tz=UTC).isoformat() for m in moments.tolist()]
            else:
                when = ["\\N"] * n
            ids = np.arange(first_signal + start, first_signal + start + n)
            yield "".join(
                f"{sid}\tb{sid}\t{c}\t{a}\t{k}\t{v}\t{g}\t{r}\t{o}\t{stamp}\t{who_id}\t{p}\t{purpose.id}\n"
                for sid, c, a, k, v, g, r, o, who_id, p in zip(
                    ids.tolist(),
                    cats.tolist(),
                    attrs.tolist(),
                    kinds.tolist(),
                    value.tolist(),
                    age.tolist(),
                    region.tolist(),
                    when,
                    consumer_ids[who].tolist(),
                    platform_ids.tolist(),
                )
            )

    _copy(
        "intake_signal",
        [
            "id",
            "event_id",
            "category",
            "attribute",
            "signal",
            "value",
            "age_band",
            "region",
            "occurred_at",
            "received_at",
            "consumer_id",
            "platform_id",
            "purpose_id",
        ],
        signal_lines(),
    )
    log(f"  signals copied {time.perf_counter() - started:.0f}s")
    with connection.cursor() as cursor:
        for name, definition in unique_defs:
            cursor.execute(f'ALTER TABLE intake_signal ADD CONSTRAINT "{name}" {definition}')
        for name, definition in index_defs:
            if name not in {n for n, _ in unique_defs}:
                cursor.execute(definition)
        for table in ("accounts_consumer", "consent_consentevent", "consent_consentstate", "intake_signal"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cursor.execute(f"VACUUM ANALYZE {table}")
    log(f"  indexes and analyze {time.perf_counter() - started:.0f}s")
    return info
