"""Intake's part of `seed_demo`: synthetic consumers with links, consents and skewed,
believable preference signals, delivered through the same ingest service as the API
(every item is checked, every batch audited).

The world is a function of the seed: consumers, links and event ids are deterministic, so
running it again adds only what is missing. Draws come from DeterministicStream, never
from `random`; the people are invented, the tastes are not: young people buying
ready-to-eat bird's nest and goji tea, office workers wishing for lumbar support, seniors
asking for large fonts and SOS buttons, roses before Qixi and carnations for Mother's Day,
everything up at 618 and Double 11.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta

import numpy as np
from django.db import connection, connections, transaction
from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Platform, PlatformLink
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append
from clearinghouse.consent.models import ConsentEvent, ConsentState, Purpose
from clearinghouse.consent.services import consent_event_build
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.demo.synthetic import DeterministicStream
from clearinghouse.intake.models import Signal
from clearinghouse.intake.services import signals_ingest, subject_pseudonyms

BATCH = 10_000
NAMESPACE = uuid.UUID("6d1f3c0e-9b1a-4c52-8f8e-2f6f0c3b7a11")
DESIGN, FORECAST = "c2m-product-design", "c2m-demand-forecast"

AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
AGE_WEIGHTS = [17, 28, 22, 15, 11, 7]
# Roughly by online-shopping population.
REGION_WEIGHTS = {
    "CN-GD": 126,
    "CN-SD": 101,
    "CN-HA": 99,
    "CN-JS": 85,
    "CN-SC": 84,
    "CN-HE": 75,
    "CN-HN": 66,
    "CN-ZJ": 65,
    "CN-AH": 61,
    "CN-HB": 58,
    "CN-GX": 50,
    "CN-YN": 47,
    "CN-JX": 45,
    "CN-LN": 43,
    "CN-FJ": 42,
    "CN-SN": 40,
    "CN-GZ": 39,
    "CN-SX": 35,
    "CN-CQ": 32,
    "CN-HL": 31,
    "CN-XJ": 26,
    "CN-SH": 25,
    "CN-GS": 25,
    "CN-JL": 24,
    "CN-NM": 24,
    "CN-BJ": 22,
    "CN-TJ": 14,
    "CN-HI": 10,
    "CN-NX": 7,
    "CN-QH": 6,
    "CN-XZ": 4,
    "CN-HK": 3,
    "CN-TW": 2,
    "CN-MO": 1,
}
# Category interest by age band (18-24, 25-34, 35-44, 45-54, 55-64, 65+).
CATEGORY_BY_AGE: dict[str, list[float]] = {
    "furniture/office-chair": [6, 14, 10, 5, 2, 1],
    "furniture/standing-desk": [3, 7, 4, 2, 1, 0.3],
    "furniture/sofa": [1, 4, 6, 5, 3, 2],
    "food/bird-nest": [9, 8, 6, 4, 3, 2],
    "food/nourishing-tea": [8, 6, 5, 6, 8, 9],
    "food/ejiao": [2, 3, 5, 7, 7, 6],
    "food/snack-nuts": [7, 5, 4, 3, 3, 2],
    "food/oat-milk": [6, 6, 3, 1, 0.5, 0.3],
    "electronics/gaming-phone": [14, 6, 2, 1, 0.3, 0.1],
    "electronics/senior-phone": [0.2, 0.5, 2, 4, 12, 18],
    "electronics/laptop": [6, 6, 4, 2, 1, 0.5],
    "electronics/earbuds": [7, 5, 3, 2, 1, 0.5],
    "appliance/fresh-air-ac": [1, 4, 6, 6, 5, 4],
    "appliance/air-fryer": [3, 6, 5, 4, 3, 2],
    "appliance/robot-vacuum": [1, 6, 6, 4, 2, 1],
    "apparel/shirt": [3, 5, 5, 4, 3, 2],
    "apparel/hoodie": [10, 4, 2, 1, 0.5, 0.3],
    "apparel/down-jacket": [4, 4, 4, 4, 5, 5],
    "flowers/fresh-cut": [6, 6, 4, 3, 3, 2],
    "flowers/potted": [2, 3, 3, 4, 6, 7],
    "beauty/lipstick": [9, 7, 4, 2, 1, 0.5],
    "beauty/skincare": [6, 8, 6, 4, 2, 1],
    "watch/custom": [2, 3, 4, 3, 2, 1],
    "baby/stroller": [0.3, 6, 3, 0.5, 0.3, 0.2],
    "sports/running-shoe": [6, 5, 4, 3, 2, 1],
    "pet/cat-food": [5, 6, 3, 2, 2, 1],
}
# Attribute interest within a category; one list for everyone, or one per age group
# (young: up to 34, middle: 35-54, senior: 55+). Unlisted categories fall off by position.
ATTRIBUTE_WEIGHTS = {
    "furniture/office-chair": {
        "lumbar-support": 35,
        "headrest": 15,
        "mesh-back": 15,
        "adjustable-armrest": 12,
        "recline-flat": 10,
        "footrest": 8,
        "seat-heating": 5,
    },
    "food/bird-nest": (
        {"ready-to-eat": 40, "small-pack": 25, "sugar-free": 20, "gift-box": 10, "dried": 5},
        {"gift-box": 35, "dried": 25, "ready-to-eat": 20, "sugar-free": 15, "small-pack": 5},
        {"dried": 35, "gift-box": 30, "sugar-free": 25, "ready-to-eat": 7, "small-pack": 3},
    ),
    "food/nourishing-tea": (
        {"goji": 35, "red-date": 25, "tea-bags": 25, "chrysanthemum": 10, "ginseng": 5},
        {"red-date": 25, "goji": 25, "chrysanthemum": 20, "ginseng": 20, "tea-bags": 10},
        {"ginseng": 35, "chrysanthemum": 25, "red-date": 20, "goji": 15, "tea-bags": 5},
    ),
    "electronics/gaming-phone": {
        "cooling-fan": 25,
        "high-refresh-display": 25,
        "large-battery": 20,
        "fast-charging": 15,
        "shoulder-triggers": 10,
        "rgb-lighting": 5,
    },
    "electronics/senior-phone": {"large-font": 30, "sos-button": 25, "loud-speaker": 20, "long-standby": 15, "health-monitor": 10},
    "flowers/fresh-cut": {
        "rose": 30,
        "lily": 14,
        "carnation": 12,
        "sunflower": 10,
        "tulip": 10,
        "peony": 8,
        "gypsophila": 8,
        "hydrangea": 5,
        "chrysanthemum": 3,
    },
    "appliance/fresh-air-ac": {"quiet-mode": 25, "fresh-air": 25, "energy-grade-1": 20, "self-cleaning": 20, "smart-control": 10},
    "beauty/lipstick": {"matte": 25, "long-wear": 20, "red": 20, "nude": 15, "moisturising": 12, "glossy": 8},
}
SIGNAL_KINDS = ["view", "wishlist", "cart", "purchase", "rating", "survey"]
SIGNAL_WEIGHTS = [50, 15, 12, 10, 8, 5]
# Mean liking (1..5) by signal kind; a kind that costs the person effort means more.
VALUE_MEAN = {"view": 3.0, "wishlist": 4.1, "cart": 4.0, "purchase": 4.2, "rating": 3.9, "survey": 3.6}
PLATFORM_REACH = {"maomall": 0.75, "livebuy": 0.45, "clipshop": 0.4}
GRANT_PROBABILITY = {DESIGN: 0.7, FORECAST: 0.55}
WITHDRAW_PROBABILITY = 0.05


def _season(category: str, day: date) -> float:
    """Relative demand of a category on a day: shopping festivals for everything, and the
    flower, coat and air-conditioner seasons."""
    weight = 1.0
    for month, dom, spread, lift in ((6, 18, 5, 2.2), (11, 11, 6, 3.0), (12, 12, 3, 1.4)):
        distance = abs((day - date(day.year, month, dom)).days)
        if distance <= spread:
            weight *= 1 + lift * (1 - distance / (spread + 1))
    if category == "flowers/fresh-cut":
        for month, dom, lift in ((2, 14, 4.0), (5, 10, 2.5), (8, 19, 3.5), (9, 10, 1.5), (4, 4, 1.2)):
            distance = abs((day - date(day.year, month, dom)).days)
            if distance <= 7:
                weight *= 1 + lift * (1 - distance / 8)
    elif category == "apparel/down-jacket":
        weight *= {10: 2.0, 11: 3.5, 12: 4.0, 1: 3.5, 2: 1.5}.get(day.month, 0.3)
    elif category == "appliance/fresh-air-ac":
        weight *= {5: 2.0, 6: 3.0, 7: 3.0, 8: 1.8}.get(day.month, 0.6)
    return weight


def _weights(preferences: dict[str, float], codes: list[str]) -> np.ndarray:
    """Weights aligned with ``codes``: listed preferences, small and falling for the rest."""
    fallback = [1.0 / (position + 1) for position in range(len(codes))]
    return np.array([preferences.get(code, fallback[i] if not preferences else 0.5) for i, code in enumerate(codes)])


def demo_signals_seed(*, options: dict, log) -> None:
    consumers_wanted = int(options.get("consumers") or 0)
    signals_wanted = int(options.get("signals") or 0)
    seed = str(options.get("seed") or "clearinghouse-demo")
    if consumers_wanted <= 0:
        return
    started = time.monotonic()
    platforms = list(Platform.objects.filter(slug__in=PLATFORM_REACH).order_by("slug"))
    purposes = {p.code: p for p in Purpose.objects.filter(code__in=(DESIGN, FORECAST), status=Purpose.APPROVED)}
    if not platforms or not purposes:
        log("synthetic signals: skipped (demo platforms or purposes missing)")
        return
    world = SyntheticWorld(seed=seed, consumers=consumers_wanted, platforms=platforms, purposes=purposes)
    created = world.consumers_ensure()
    links = world.links_ensure()
    grants = world.consents_ensure()
    log(
        f"synthetic consumers: {consumers_wanted:,} ({created:,} new), links: {links:,} new, consent events: {grants:,} new "
        f"in {time.monotonic() - started:.1f} s"
    )
    if signals_wanted > 0:
        started = time.monotonic()
        accepted, duplicates, rejected = world.signals_deliver(total=signals_wanted, log=log)
        elapsed = time.monotonic() - started
        if accepted == rejected == 0 and duplicates:
            # A re-run only finds what the first run stored: a rate of that means nothing.
            log(f"synthetic signals: the demo world is already there ({duplicates:,} already present, none added)")
        else:
            log(
                f"synthetic signals: {accepted:,} accepted, {duplicates:,} already present, {rejected:,} rejected "
                f"in {elapsed:.1f} s ({(accepted + duplicates + rejected) / max(elapsed, 1e-9):,.0f} per second)"
            )


class SyntheticWorld:
    def __init__(self, *, seed: str, consumers: int, platforms: list[Platform], purposes: dict[str, Purpose]):
        self.seed = seed
        self.count = consumers
        self.platforms = platforms
        self.purposes = purposes
        self.actor = Actor.operator("seed_demo")
        stream = DeterministicStream(f"{seed}/people")
        self.age = stream.choice(AGE_WEIGHTS, consumers)
        region_codes = list(REGION_WEIGHTS)
        self.region_codes = region_codes
        self.region = stream.choice([REGION_WEIGHTS[c] for c in region_codes], consumers)
        # Heavy-tailed activity: most people send a little, a few a lot (Pareto, α=1.5,
        # capped so that no single invented person dominates a small world's statistics).
        self.activity = np.minimum((1.0 - stream.uniform(consumers)) ** (-1 / 1.5), 25.0)
        self.reach = {p.slug: stream.uniform(consumers) < PLATFORM_REACH[p.slug] for p in platforms}
        # Everyone is somewhere: whoever no platform reached shops at the first one.
        nowhere = ~np.logical_or.reduce(list(self.reach.values()))
        self.reach[platforms[0].slug] = self.reach[platforms[0].slug] | nowhere
        self.grant = {(p.slug, code): stream.uniform(consumers) < GRANT_PROBABILITY[code] for p in platforms for code in purposes}
        self.withdrawn = {key: stream.uniform(consumers) < WITHDRAW_PROBABILITY for key in self.grant}
        self.english = stream.uniform(consumers) < 0.15
        self.pseudonyms = [uuid.uuid5(NAMESPACE, f"{seed}/consumer/{i}") for i in range(consumers)]
        self.consumer_ids: list[int] = []

    def subject_ref(self, platform_slug: str, i: int) -> str:
        return f"{platform_slug}-u{i:07d}"

    # --- people, links, consents ----------------------------------------------------------

    def consumers_ensure(self) -> int:
        existing = dict(Consumer.objects.filter(pseudonym__in=self.pseudonyms).values_list("pseudonym", "id"))
        missing = [p for p in self.pseudonyms if p not in existing]
        now = timezone.now()
        for start in range(0, len(missing), 5000):
            made = Consumer.objects.bulk_create([Consumer(pseudonym=p, age_confirmed_at=now) for p in missing[start : start + 5000]])
            existing.update({c.pseudonym: c.pk for c in made})
        self.consumer_ids = [existing[p] for p in self.pseudonyms]
        return len(missing)

    def links_ensure(self) -> int:
        made = 0
        for platform in self.platforms:
            people = np.flatnonzero(self.reach[platform.slug])
            refs = {int(i): self.subject_ref(platform.slug, int(i)) for i in people}
            pseudonyms = subject_pseudonyms(platform_id=platform.pk, subject_refs=refs.values())
            linked = set(PlatformLink.objects.filter(platform=platform).values_list("consumer_id", flat=True))
            todo = [int(i) for i in people if self.consumer_ids[int(i)] not in linked]
            for start in range(0, len(todo), 2000):
                chunk = todo[start : start + 2000]
                with transaction.atomic():
                    PlatformLink.objects.bulk_create(
                        PlatformLink(platform=platform, consumer_id=self.consumer_ids[i], subject_pseudonym=pseudonyms[refs[i]])
                        for i in chunk
                    )
                    for i in chunk:
                        audit_append(
                            actor=Actor(kind="platform", id=platform.slug),
                            action=AuditAction.LINK_CREATED,
                            target=f"platform:{platform.slug}",
                            details={"subject": str(self.pseudonyms[i])},
                        )
                made += len(chunk)
        return made

    def consents_ensure(self) -> int:
        """Grants (and a few withdrawals) with real signed receipts, folded into the state
        table and audited one by one, as consent_change does; written in bulk because a
        world of a hundred thousand people would take an hour one call at a time."""
        made = 0
        for platform in self.platforms:
            for code, purpose in self.purposes.items():
                people = np.flatnonzero(self.reach[platform.slug] & self.grant[(platform.slug, code)])
                have = set(ConsentState.objects.filter(platform=platform, purpose_code=code).values_list("consumer_id", flat=True))
                todo = [int(i) for i in people if self.consumer_ids[int(i)] not in have]
                for start in range(0, len(todo), 2000):
                    made += self._consents_write(platform, purpose, todo[start : start + 2000])
        return made

    def _consents_write(self, platform: Platform, purpose: Purpose, people: list[int]) -> int:
        consumers = {c.pk: c for c in Consumer.objects.filter(pk__in=[self.consumer_ids[i] for i in people])}
        withdrawn = self.withdrawn[(platform.slug, purpose.code)]
        target = f"purpose:{purpose.code}@platform:{platform.slug}"
        with transaction.atomic():
            moment = timezone.now()
            grants, withdrawals = [], []
            for i in people:
                consumer = consumers[self.consumer_ids[i]]
                language = "en" if self.english[i] else "zh-hans"
                # Audited one by one and first, as consent_change does, so that each signed
                # receipt names the audit event that records it.
                grant = self._event(
                    consumer, purpose, platform, ConsentEvent.GRANT, language, purpose.notice_digests[language], moment, None, target
                )
                grants.append(grant)
                if withdrawn[i]:
                    withdrawals.append(
                        self._event(
                            consumer,
                            purpose,
                            platform,
                            ConsentEvent.WITHDRAW,
                            language,
                            "",
                            moment + timedelta(microseconds=1),
                            grant.receipt_id,
                            target,
                        )
                    )
            ConsentEvent.objects.bulk_create(grants)
            ConsentEvent.objects.bulk_create(withdrawals)
            last = {e.consumer_id: e for e in grants} | {e.consumer_id: e for e in withdrawals}
            ConsentState.objects.bulk_create(
                ConsentState(
                    consumer_id=consumer_id,
                    purpose_code=purpose.code,
                    platform=platform,
                    version=purpose.version,
                    granted=event.action == ConsentEvent.GRANT,
                    last_event=event,
                    updated_at=event.created_at,
                )
                for consumer_id, event in last.items()
            )
        return len(grants) + len(withdrawals)

    @staticmethod
    def _event(consumer, purpose, platform, action, language, digest, moment, supersedes, target) -> ConsentEvent:
        receipt_id = uuid.uuid4()
        audited = audit_append(
            actor=Actor(kind="consumer", id=str(consumer.pseudonym)),
            action=AuditAction.CONSENT_GRANTED if action == ConsentEvent.GRANT else AuditAction.CONSENT_WITHDRAWN,
            target=target,
            details={
                "subject": str(consumer.pseudonym),
                "purpose_version": purpose.version,
                "receipt_id": str(receipt_id),
                "channel": "portal",
            },
        )
        return consent_event_build(
            consumer=consumer,
            purpose=purpose,
            platform=platform,
            action=action,
            channel="portal",
            language=language,
            notice_digest=digest,
            moment=moment,
            supersedes=supersedes,
            receipt_id=receipt_id,
            audit_event=audited,
        )

    # --- signals --------------------------------------------------------------------------

    def signals_deliver(self, *, total: int, log) -> tuple[int, int, int]:
        """Spread ``total`` signals over the consented (person, platform, purpose) triples in
        proportion to each person's activity, and deliver them platform by platform in
        batches of 10,000 through signals_ingest."""
        triples = []  # (person index, platform position, purpose code)
        for position, platform in enumerate(self.platforms):
            for code in self.purposes:
                eligible = self.reach[platform.slug] & self.grant[(platform.slug, code)] & ~self.withdrawn[(platform.slug, code)]
                triples += [(int(i), position, code) for i in np.flatnonzero(eligible)]
        if not triples:
            return 0, 0, 0
        weights = np.array([self.activity[i] for i, _, _ in triples])
        shares = np.floor(total * weights / weights.sum()).astype(np.int64)
        shares[: total - int(shares.sum())] += 1  # hand out the remainder
        codes = list(self.purposes)
        tasks = []  # (platform position, offset, people, purpose code positions)
        for position, platform in enumerate(self.platforms):
            rows = [(i, codes.index(code), n) for (i, pos, code), n in zip(triples, shares) if pos == position and n > 0]
            if not rows:
                continue
            people = np.repeat([i for i, _, _ in rows], [n for _, _, n in rows])
            purpose_positions = np.repeat(np.array([c for _, c, _ in rows], dtype=np.int8), [n for _, _, n in rows])
            # Shuffle once so batches mix people and purposes the way live traffic does.
            order = np.argsort(DeterministicStream(f"{self.seed}/order/{platform.slug}").uniform(len(people)), kind="stable")
            people, purpose_positions = people[order], purpose_positions[order]
            tasks += [
                (position, start, people[start : start + BATCH], purpose_positions[start : start + BATCH])
                for start in range(0, len(people), BATCH)
            ]

        global _DELIVERY
        _DELIVERY = (self, _SignalDraws(self, taxonomy_index()), codes)
        workers = min(os.cpu_count() or 1, 4)
        accepted = duplicates = rejected = done = 0
        if connection.vendor == "postgresql" and workers > 1 and len(tasks) > 20:
            # Batches are independent transactions: deliver them from one process per core,
            # so that drawing and checking one batch overlaps the database writing another.
            connections.close_all()
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
                results = pool.map(_deliver, tasks, chunksize=1)
                for result in results:
                    accepted, duplicates, rejected, done = accepted + result[0], duplicates + result[1], rejected + result[2], done + 1
                    if done % 100 == 0:
                        log(f"  {done * BATCH:,} of about {total:,} signals delivered")
        else:
            for task in tasks:
                result = _deliver(task)
                accepted, duplicates, rejected = accepted + result[0], duplicates + result[1], rejected + result[2]
        _DELIVERY = None
        return accepted, duplicates, rejected


# The world and its generator, set before the delivery processes are forked.
_DELIVERY: tuple[SyntheticWorld, _SignalDraws, list[str]] | None = None


def _deliver(task) -> tuple[int, int, int]:
    """One batch: draw it, and send it through signals_ingest unless an earlier run already
    did (a batch is one transaction, so its first and last event ids tell)."""
    position, offset, people, purpose_positions = task
    if _DELIVERY is None:
        raise RuntimeError("_deliver runs only while SyntheticWorld delivers signals, which sets _DELIVERY")
    world, generator, codes = _DELIVERY
    platform = world.platforms[position]
    first, last = (f"{platform.slug}-{world.seed}-{n:09d}" for n in (offset, offset + len(people) - 1))
    if Signal.objects.filter(platform=platform, event_id__in=[first, last]).count() == 2:
        return 0, len(people), 0
    purposes = np.array(codes, dtype=object)[purpose_positions]
    items = generator.items(platform, people, purposes, offset)
    outcome = signals_ingest(platform=platform, items=items, actor=world.actor)
    return outcome.accepted, outcome.duplicates, len(outcome.rejected)


class _SignalDraws:
    """Vectorised draws of the fields of a chunk of signals, then the JSON items a platform sends."""

    def __init__(self, world: SyntheticWorld, index):
        self.world = world
        self.index = index
        self.categories = [c for c in CATEGORY_BY_AGE if c in index.categories]
        self.category_weights = np.array([[CATEGORY_BY_AGE[c][band] for c in self.categories] for band in range(len(AGE_BANDS))])
        self.attribute_codes = {}
        self.attribute_weights = {}
        for category in self.categories:
            category_id = index.categories[category]
            codes = [code for (cat, code) in index.attributes if cat == category_id]
            self.attribute_codes[category] = codes
            preference = ATTRIBUTE_WEIGHTS.get(category, {})
            groups = preference if isinstance(preference, tuple) else (preference,) * 3
            self.attribute_weights[category] = [_weights(group, codes) for group in groups]
        now = timezone.localtime()
        self.today = now.date()
        horizon = self.world.purposes[FORECAST].retention_days - 2 if FORECAST in self.world.purposes else 170
        self.days = [self.today - timedelta(days=d) for d in range(1, horizon)]
        self.day_weights = {c: np.array([_season(c, d) for d in self.days]) for c in self.categories}
        # Evenings and lunch breaks.
        self.hour_weights = np.array(
            [1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1, 1.5, 2, 2.2, 2.5, 3, 2.6, 2.2, 2.2, 2.3, 2.5, 3, 3.5, 4.5, 5, 4, 2.5]
        )
        self.tz = now.tzinfo

    def items(self, platform: Platform, people: np.ndarray, purpose_codes: np.ndarray, offset: int) -> list[dict]:
        world = self.world
        n = len(people)
        stream = DeterministicStream(f"{world.seed}/signals/{platform.slug}/{offset}")
        bands = world.age[people]
        category = np.empty(n, dtype=np.int64)
        for band in range(len(AGE_BANDS)):
            mask = bands == band
            if mask.any():
                category[mask] = stream.choice(self.category_weights[band], int(mask.sum()))
        attribute = np.empty(n, dtype=object)
        group = np.where(bands <= 1, 0, np.where(bands <= 3, 1, 2))
        for c, code in enumerate(self.categories):
            for g in range(3):
                mask = (category == c) & (group == g)
                if mask.any():
                    codes = self.attribute_codes[code]
                    attribute[mask] = [codes[k] for k in stream.choice(self.attribute_weights[code][g], int(mask.sum()))]
        kinds = stream.choice(SIGNAL_WEIGHTS, n)
        noise = stream.uniform(n)
        with_value = stream.uniform(n)
        day_draw = np.zeros(n, dtype=np.int64)
        forecast = np.array([code == FORECAST for code in purpose_codes], dtype=bool)
        for c, code in enumerate(self.categories):
            mask = forecast & (category == c)
            if mask.any():
                day_draw[mask] = stream.choice(self.day_weights[code], int(mask.sum()))
        hours = stream.choice(self.hour_weights, n)
        seconds = stream.integers(0, 3600, n)

        items = []
        categories, regions = self.categories, world.region_codes
        for k in range(n):
            person = int(people[k])
            kind = SIGNAL_KINDS[kinds[k]]
            item = {
                "event_id": f"{platform.slug}-{world.seed}-{offset + k:09d}",
                "subject_ref": world.subject_ref(platform.slug, person),
                "purpose": str(purpose_codes[k]),
                "category": categories[category[k]],
                "attribute": attribute[k],
                "signal": kind,
                "region": regions[world.region[person]],
            }
            if forecast[k]:
                day = self.days[day_draw[k]]
                moment = datetime(day.year, day.month, day.day, int(hours[k]), tzinfo=self.tz) + timedelta(seconds=int(seconds[k]))
                item["occurred_at"] = moment.isoformat()
            else:
                item["age_band"] = AGE_BANDS[bands[k]]
                if kind in ("rating", "survey") or with_value[k] < 0.6:
                    item["value"] = int(min(5, max(1, round(VALUE_MEAN[kind] + (noise[k] - 0.5) * 4.2))))
            items.append(item)
        return items
