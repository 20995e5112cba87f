"""Fixtures for the release engine: a world with budgets, and signals written directly
(as intake would store them) so that tests control exactly what the data holds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from clearinghouse.accounts.models import Consumer
from clearinghouse.consent.models import ConsentEvent, ConsentState
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.intake.models import Signal
from clearinghouse.releases.budgets import budget_allocate
from tests.conftest import manufacturer_make, module_build, platform_make, purposes_publish

PRODUCT = "c2m-product-design"
FORECAST = "c2m-demand-forecast"


@dataclass
class World:
    purposes: dict
    platform: object
    manufacturer: object
    counter: list = field(default_factory=lambda: [0])

    def consumers(self, n: int) -> list[Consumer]:
        """n consumers without portal accounts (the ledger needs only their ids)."""
        return Consumer.objects.bulk_create([Consumer() for _ in range(n)])

    def consent(self, consumers, *, purpose_code: str = PRODUCT, platform=None, granted: bool = True) -> None:
        """Active consent rows as the consent ledger would hold them."""
        purpose = self.purposes[purpose_code]
        platform = platform or self.platform.obj
        now = timezone.now()
        events = ConsentEvent.objects.bulk_create(
            [
                ConsentEvent(
                    receipt_id=uuid.uuid4(),
                    consumer=consumer,
                    purpose=purpose,
                    platform=platform,
                    action=ConsentEvent.GRANT if granted else ConsentEvent.WITHDRAW,
                    channel="api",
                    language="en",
                    notice_digest=purpose.notice_digests["en"],
                    created_at=now,
                    receipt={},
                )
                for consumer in consumers
            ]
        )
        for consumer, event in zip(consumers, events):
            ConsentState.objects.update_or_create(
                consumer=consumer,
                purpose_code=purpose.code,
                platform=platform,
                defaults={"version": purpose.version, "granted": granted, "last_event": event, "updated_at": now},
            )

    def signals(self, rows, *, purpose_code: str = PRODUCT, platform=None) -> list[Signal]:
        """rows: dicts with consumer, category (path), attribute (code), signal (kind) and
        optional value, age_band, region, occurred_at."""
        index = taxonomy_index()
        purpose = self.purposes[purpose_code]
        platform = platform or self.platform.obj
        objects = []
        for row in rows:
            self.counter[0] += 1
            category = index.categories[row["category"]]
            objects.append(
                Signal(
                    platform=platform,
                    consumer=row["consumer"],
                    purpose=purpose,
                    event_id=f"t{self.counter[0]}",
                    category=category,
                    attribute=index.attributes[(category, row["attribute"])] if row.get("attribute") else None,
                    signal=index.signals[row.get("signal", "view")],
                    value=row.get("value"),
                    age_band=index.age_bands[row["age_band"]] if row.get("age_band") else None,
                    region=index.regions[row["region"]] if row.get("region") else None,
                    occurred_at=row.get("occurred_at"),
                    received_at=timezone.now(),
                )
            )
        return Signal.objects.bulk_create(objects)


def world_build(purposes, platform, manufacturer) -> World:
    for code in (PRODUCT, FORECAST):
        budget_allocate(manufacturer_slug=manufacturer.slug, purpose_code=code, epsilon="20", period=None, actor=Actor.operator())
    return World(purposes=purposes, platform=platform, manufacturer=manufacturer)


@pytest.fixture
def world(purposes, platform_p, manufacturer) -> World:
    return world_build(purposes, platform_p, manufacturer)


@pytest.fixture(scope="module")
def world_of_module(module_db, django_db_blocker) -> World:
    """The same world, built once for a module whose tests all use ``db`` (tests/conftest.py's
    ``module_db``). Such a module overrides ``world`` (and ``purposes``, which would
    publish the purposes a second time) with a copy of it per test::

        @pytest.fixture
        def world(world_of_module, db):
            return module_world(world_of_module)
    """
    with module_build(django_db_blocker):
        return world_build(purposes_publish(), platform_make("shop-p"), manufacturer_make("chairco", ["furniture", "food"]))
