"""Demo budgets so that the README's release walk-through works right after `make run`."""

from __future__ import annotations

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.demo.parties import DEMO_MANUFACTURERS
from clearinghouse.releases.budgets import budget_allocate, period_of
from clearinghouse.releases.models import Allocation
from clearinghouse.releases.plans import queryable_categories

DEMO_ALLOCATION = "5"


def demo_budgets(*, options: dict, log) -> None:
    actor = Actor.operator("seed_demo")
    period = period_of()
    index = taxonomy_index()
    slugs = [slug for slug, _name, _sectors in DEMO_MANUFACTURERS]
    for manufacturer in Manufacturer.objects.filter(slug__in=slugs).order_by("slug"):
        for purpose in Purpose.objects.filter(status=Purpose.APPROVED).order_by("code"):
            if not queryable_categories(manufacturer=manufacturer, purpose=purpose, index=index):
                continue
            if Allocation.objects.filter(manufacturer=manufacturer, purpose_code=purpose.code, period=period).exists():
                continue
            budget_allocate(
                manufacturer_slug=manufacturer.slug, purpose_code=purpose.code, epsilon=DEMO_ALLOCATION, period=None, actor=actor
            )
            log(f"budget {manufacturer.slug} / {purpose.code}: {DEMO_ALLOCATION} ε for {period}")
