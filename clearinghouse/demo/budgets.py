"""Demo budgets: every demo manufacturer's monthly allocation on every purpose it may query."""

from __future__ import annotations

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.demo.parties import DEMO_MANUFACTURERS
from clearinghouse.releases.budgets import budget_allocate, period_of
from clearinghouse.releases.models import Allocation
from clearinghouse.releases.plans import queryable_categories

# Per manufacturer and purpose a month, sized from the person cap (docs/releases.md, "Budgets
# sized from the person cap"): eight such allocations spent on Gaussian answers for the 13
# calendar months a rolling year can touch stay within the ε 5.4 of the cap (6 at δ 1e-7)
# that answers may use, for a person charged by all of them. With OpenDP's zCDP → (ε, δ)
# conversion that needs 104 × ρ(a) ≤ ρ(5.4) = 0.45804579, i.e. a ≤ 0.4479; at 0.44,
# 104 × ρ(0.44) = 104 × 0.00425652 = 0.4427 ρ, ε 5.2983, so a year of them keeps reach at 100%.
DEMO_ALLOCATION = "0.44"


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
