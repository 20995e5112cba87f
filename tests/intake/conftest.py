from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import consumer_make, grant_body, link_subject, module_build, platform_make, purposes_publish


@dataclass
class World:
    """alice: linked on P (both purposes granted) and on Q (product design granted);
    bob: linked on P (product design granted)."""

    alice: object
    bob: object
    p: object
    q: object
    purposes: dict

    @property
    def design(self):
        return self.purposes["c2m-product-design"]

    @property
    def forecast(self):
        return self.purposes["c2m-demand-forecast"]


def grant(consumer, purpose, platform) -> None:
    response = consumer.client().post("/api/v1/me/consents", grant_body(purpose, platform.slug), format="json")
    assert response.status_code == 201, response.content


def withdraw(consumer, purpose, platform):
    response = consumer.client().post(
        "/api/v1/me/consents", {"purpose": purpose.code, "platform": platform.slug, "action": "withdraw"}, format="json"
    )
    assert response.status_code == 201, response.content
    return response


def world_build(consumer_a, consumer_b, platform_p, platform_q, purposes) -> World:
    link_subject(consumer_a, platform_p, "alice-at-p")
    link_subject(consumer_a, platform_q, "alice-at-q")
    link_subject(consumer_b, platform_p, "bob-at-p")
    design, forecast = purposes["c2m-product-design"], purposes["c2m-demand-forecast"]
    grant(consumer_a, design, platform_p)
    grant(consumer_a, forecast, platform_p)
    grant(consumer_a, design, platform_q)
    grant(consumer_b, design, platform_p)
    return World(alice=consumer_a, bob=consumer_b, p=platform_p, q=platform_q, purposes=purposes)


@pytest.fixture
def world(consumer_a, consumer_b, platform_p, platform_q, purposes) -> World:
    return world_build(consumer_a, consumer_b, platform_p, platform_q, purposes)


@pytest.fixture(scope="module")
def world_of_module(module_db, django_db_blocker) -> World:
    """The same world, built once for a module whose tests all use ``db`` (tests/conftest.py's
    ``module_db``). Such a module overrides ``world`` with a copy of it per test::

        @pytest.fixture
        def world(world_of_module, db):
            return module_world(world_of_module)
    """
    with module_build(django_db_blocker):
        return world_build(
            consumer_make("alice"), consumer_make("bob"), platform_make("shop-p"), platform_make("shop-q"), purposes_publish()
        )


def design_item(event_id: str, subject_ref: str, **overrides) -> dict:
    item = {
        "event_id": event_id,
        "subject_ref": subject_ref,
        "purpose": "c2m-product-design",
        "category": "furniture/office-chair",
        "attribute": "lumbar-support",
        "signal": "wishlist",
        "value": 5,
        "age_band": "25-34",
        "region": "CN-GD",
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not ...}


def forecast_item(event_id: str, subject_ref: str, **overrides) -> dict:
    item = {
        "event_id": event_id,
        "subject_ref": subject_ref,
        "purpose": "c2m-demand-forecast",
        "category": "flowers/fresh-cut",
        "attribute": "rose",
        "signal": "purchase",
        "region": "CN-SH",
        "occurred_at": (timezone.now() - timedelta(days=2)).isoformat(),
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not ...}


def submit(platform, items, **extra):
    return platform.client().post("/api/v1/platform/signals", {"signals": items, **extra}, format="json")


def store_signals(*, consumer, platform, purpose, count: int, prefix: str) -> None:
    """Rows written straight to the table, for tests of what happens to stored signals."""
    from clearinghouse.consent.taxonomy import taxonomy_index
    from clearinghouse.intake.models import Signal

    index = taxonomy_index()
    category = index.categories["furniture/office-chair"]
    now = timezone.now()
    Signal.objects.bulk_create(
        Signal(
            platform=platform.obj,
            consumer=consumer.consumer,
            purpose=purpose,
            event_id=f"{prefix}-{i}",
            category=category,
            attribute=index.attributes[(category, "lumbar-support")],
            signal=index.signals["view"],
            value=4,
            received_at=now,
        )
        for i in range(count)
    )
