"""A year of the default allocations spent on plain releases keeps the worst-placed person
in every answer: four manufacturers in four sectors, both purposes, 13 calendar months,
every job a count at the monthly allocation. Before the share-matched choice each of these
was discrete Laplace at pure ε 0.45, and such a person was left out after 12 releases."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import F

from clearinghouse.core.actors import Actor
from clearinghouse.demo.budgets import DEMO_ALLOCATION
from clearinghouse.releases import accounting, services
from clearinghouse.releases.budgets import budget_allocate
from clearinghouse.releases.models import ChargeChunk, Release
from clearinghouse.releases.selectors import privacy_loss_statement
from tests.releases.conftest import FORECAST, PRODUCT
from tests.releases.test_reach import charged

SECTORS = {"ergo": "furniture/sofa", "yanwo": "food/bird-nest", "bloom": "flowers/fresh-cut", "pixel": "electronics/gaming-phone"}
ATTRIBUTES = {
    "furniture/sofa": "modular",
    "food/bird-nest": "dried",
    "flowers/fresh-cut": "rose",
    "electronics/gaming-phone": "cooling-fan",
}
# Thirteen calendar months fit in one rolling year; a month passes as 28 days so that every
# charge of the thirteen stays inside the window, the worst case.
PERIODS = ["2998-12"] + [f"2999-{month:02d}" for month in range(1, 13)]


def test_a_year_of_default_allocations_of_plain_releases_keeps_a_four_sector_person_included(
    world, make_manufacturer, monkeypatch, django_capture_on_commit_callbacks
):
    makers = {slug: make_manufacturer(f"{slug}-year", [category.split("/")[0]]).obj for slug, category in SECTORS.items()}
    everywhere, elsewhere = world.consumers(2)
    for code in (PRODUCT, FORECAST):
        world.consent([everywhere, elsewhere], purpose_code=code)
        world.signals(
            [
                {"consumer": person, "category": category, "attribute": ATTRIBUTES[category], "region": "CN-BJ", "age_band": "25-34"}
                for category in SECTORS.values()
                for person in (everywhere, elsewhere)
            ],
            purpose_code=code,
        )
    for maker in makers.values():
        for period in PERIODS:
            for code in (PRODUCT, FORECAST):
                budget_allocate(
                    manufacturer_slug=maker.slug,
                    purpose_code=code,
                    epsilon=DEMO_ALLOCATION,
                    period=period,
                    actor=Actor.operator(),
                    force=True,
                )
    jobs = []
    for period in PERIODS:
        monkeypatch.setattr(services, "period_of", lambda moment=None, p=period: p)
        for slug, maker in makers.items():
            for code in (PRODUCT, FORECAST):
                body = {
                    "purpose": code,
                    "measure": "consumers",
                    "group_by": ["attribute"],
                    "filters": {"category": SECTORS[slug].split("/")[0]},
                    "epsilon": DEMO_ALLOCATION,
                }
                with django_capture_on_commit_callbacks(execute=True):
                    release, created = services.release_request(manufacturer=maker, body=body, actor=Actor(kind="manufacturer", id=slug))
                release.refresh_from_db()
                assert created and release.status == Release.DONE, (release.error_code, release.error_message)
                # Each whole allocation spent on one plain count, and the count used both people.
                assert release.epsilon == Decimal(DEMO_ALLOCATION) and release.rho > 0
                assert charged(release, reach_only=False) == {everywhere.id, elsewhere.id}
                jobs.append(release)
        Release.objects.filter(pk__in=[job.pk for job in jobs]).update(completed_at=F("completed_at") - timedelta(days=28))
    # Nobody was ever left out, so no job charged anyone only to count them.
    assert len(jobs) == 104 and not ChargeChunk.objects.filter(reach_only=True).exists()
    # The person charged by all 104 stays within the part of the cap answers may use.
    statement = privacy_loss_statement(consumer=everywhere)
    assert len(statement["charges"]) == 104
    expected = accounting.stated_epsilon(104 * accounting.rho_within(Decimal(DEMO_ALLOCATION)))
    assert statement["guarantee"]["epsilon"] == str(expected) and expected <= Decimal("5.4")
    assert statement["guarantee"]["delta"] == "1e-07" and Decimal(statement["guarantee"]["remaining"]) >= Decimal("0.6")
