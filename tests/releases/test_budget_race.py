"""50 concurrent requests against an allocation that fits 10, on PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

import pytest
from django.db import connection

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import Conflict
from clearinghouse.releases import services
from clearinghouse.releases.budgets import budget_allocate, period_of
from clearinghouse.releases.models import Allocation, PurposeBudget, Release
from tests.releases.conftest import PRODUCT

KINDS = ["view", "wishlist", "cart", "purchase", "rating", "survey"]


@pytest.mark.postgres
def test_fifty_concurrent_requests_against_ten_epsilon_accept_exactly_ten(transactional_db, purposes, manufacturer, monkeypatch):
    budget_allocate(manufacturer_slug=manufacturer.slug, purpose_code=PRODUCT, epsilon="10", period=None, actor=Actor.operator())
    published = []
    monkeypatch.setattr(services, "release_publish", published.append)
    subsets = [list(c) for n in range(1, 7) for c in itertools.combinations(KINDS, n)][:50]
    barrier = threading.Barrier(len(subsets))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(kinds):
        try:
            maker = Manufacturer.objects.get(pk=manufacturer.obj.pk)
            barrier.wait(timeout=30)
            try:
                services.release_request(
                    manufacturer=maker,
                    body={"purpose": PRODUCT, "measure": "consumers", "filters": {"signals": kinds}, "epsilon": "1"},
                    actor=Actor(kind="manufacturer", id=maker.slug),
                )
                outcome = "accepted"
            except Conflict as exc:
                outcome = exc.code
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(kinds,)) for kinds in subsets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == 50, outcomes
    assert outcomes.count("accepted") == 10
    assert outcomes.count("budget_exhausted") == 40
    allocation = Allocation.objects.get(manufacturer=manufacturer.obj, purpose_code=PRODUCT, period=period_of())
    assert allocation.spent == Decimal("10")
    assert PurposeBudget.objects.get(purpose_code=PRODUCT, period=period_of()).spent == Decimal("10")
    assert Release.objects.count() == 10 and len(published) == 10
