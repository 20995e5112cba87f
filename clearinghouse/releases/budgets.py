"""Per-period budgets: a global ε cap per purpose and each manufacturer's allocation.

A release reserves its ε from both at request time with conditional UPDATEs (``spent +
ε <= cap``) inside one transaction: PostgreSQL re-checks the condition on the newest row
version after waiting for a concurrent writer, so concurrent requests can never overdraw;
check constraints on both tables are the last line of defence.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.purposes import purpose_current
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import Conflict, Invalid, NotFound
from clearinghouse.releases.models import Allocation, PurposeBudget
from clearinghouse.releases.plans import epsilon_text, parse_epsilon, queryable_categories

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_of(moment: datetime | None = None) -> str:
    """The budget period (calendar month in settings.TIME_ZONE) holding ``moment``."""
    return timezone.localtime(moment or timezone.now(), ZoneInfo(settings.TIME_ZONE)).strftime("%Y-%m")


def period_parse(text: str, *, field_name: str = "period") -> str:
    if not isinstance(text, str) or not _PERIOD.match(text):
        raise Invalid(f"{field_name}: must be a month YYYY-MM, e.g. {period_of()}", details={"field": field_name})
    return text


def purpose_budget_get_or_create(*, purpose: Purpose, period: str) -> PurposeBudget:
    budget, _ = PurposeBudget.objects.get_or_create(purpose_code=purpose.code, period=period, defaults={"cap": purpose.period_epsilon_cap})
    return budget


def budget_allocated_total(*, purpose_code: str, period: str, exclude_manufacturer_id: int | None = None) -> Decimal:
    """What all manufacturers together may spend on a purpose in ``period``: their
    allocations in it, and for a manufacturer without one, the latest earlier allocation
    that the roll-over will carry into it."""
    rows = Allocation.objects.filter(purpose_code=purpose_code, period__lte=period).order_by("manufacturer_id", "-period")
    if exclude_manufacturer_id is not None:
        rows = rows.exclude(manufacturer_id=exclude_manufacturer_id)
    latest: dict[int, Decimal] = {}
    for manufacturer_id, allocated in rows.values_list("manufacturer_id", "allocated"):
        latest.setdefault(manufacturer_id, allocated)
    return sum(latest.values(), Decimal(0))


def budget_allocate(
    *, manufacturer_slug: str, purpose_code: str, epsilon, period: str | None, actor: Actor, force: bool = False
) -> Allocation:
    """Set a manufacturer's allocation for a purpose and period (default: this month).
    It carries over to later months by the roll-over until changed.

    Allocations whose sum over all manufacturers passes the purpose's cap for the period
    are refused (``over_cap``); with ``force`` the allocation is made and its audit event
    carries ``over_cap`` (total and cap), which the console's budget report marks. The
    cap still binds at release time either way."""
    manufacturer = Manufacturer.objects.filter(slug=manufacturer_slug).first()
    if manufacturer is None:
        raise NotFound(f"no manufacturer {manufacturer_slug!r}")
    purpose = purpose_current(code=purpose_code)
    if purpose is None:
        raise Invalid(f"purpose: no approved purpose {purpose_code!r}", code="unknown_purpose", details={"field": "purpose"})
    if not queryable_categories(manufacturer=manufacturer, purpose=purpose, index=taxonomy_index()):
        raise Invalid(
            f"purpose: {manufacturer.slug}'s sectors ({', '.join(manufacturer.sectors)}) are not among the recipients of {purpose.code}",
            code="purpose_not_authorised",
            details={"field": "purpose"},
        )
    amount = parse_epsilon(epsilon, field_name="epsilon")
    if amount > purpose.period_epsilon_cap:
        raise Invalid(
            f"epsilon: {epsilon_text(amount)} is more than the purpose's cap per period ({epsilon_text(purpose.period_epsilon_cap)})",
            code="epsilon_too_large",
            details={"field": "epsilon"},
        )
    current = period_of()
    period = period_parse(period, field_name="period") if period else current
    if period < current:
        raise Invalid(f"period: {period} is over; allocate for {current} or later", details={"field": "period"})
    with transaction.atomic():
        purpose_budget_get_or_create(purpose=purpose, period=period)
        # Locks in budget_reserve's order (allocation row, then the purpose's row), so that
        # two allocations for one purpose check the sum one after the other.
        allocation, created = Allocation.objects.select_for_update().get_or_create(
            manufacturer=manufacturer, purpose_code=purpose.code, period=period, defaults={"allocated": amount}
        )
        cap = PurposeBudget.objects.select_for_update().get(purpose_code=purpose.code, period=period).cap
        total = amount + budget_allocated_total(purpose_code=purpose.code, period=period, exclude_manufacturer_id=manufacturer.id)
        over_cap = total > cap
        if over_cap and not force:
            raise Conflict(
                f"epsilon: allocations for {purpose.code} in {period} would add up to {epsilon_text(total)}, "
                f"more than the purpose's cap of {epsilon_text(cap)}; allocate at most {epsilon_text(max(cap - total + amount, Decimal(0)))} "
                "or use --force to record an over-allocation",
                code="over_cap",
                details={"field": "epsilon", "total": epsilon_text(total), "cap": epsilon_text(cap)},
            )
        previous = None if created else allocation.allocated
        if not created:
            if amount < allocation.spent:
                raise Conflict(
                    f"epsilon: {epsilon_text(allocation.spent)} of this allocation is already spent or reserved; allocate at least that",
                    code="below_spent",
                    details={"field": "epsilon"},
                )
            allocation.allocated = amount
            allocation.save(update_fields=["allocated", "updated_at"])
        audit_append(
            actor=actor,
            action=AuditAction.BUDGET_ALLOCATED,
            target=f"manufacturer:{manufacturer.slug}",
            details={
                "manufacturer": manufacturer.slug,
                "purpose": purpose.code,
                "period": period,
                "epsilon": epsilon_text(amount),
                "previous": epsilon_text(previous) if previous is not None else None,
            }
            | ({"over_cap": {"total": epsilon_text(total), "cap": epsilon_text(cap)}} if over_cap else {}),
        )
    return allocation


def budget_over_cap(*, purpose_code: str, period: str) -> dict[str, str] | None:
    """{"total", "cap"} when the allocations for a purpose in ``period`` add up to more
    than its cap, else None."""
    budget = PurposeBudget.objects.filter(purpose_code=purpose_code, period=period).first()
    if budget is None:
        return None
    total = budget_allocated_total(purpose_code=purpose_code, period=period)
    return {"total": epsilon_text(total), "cap": epsilon_text(budget.cap)} if total > budget.cap else None


def _roll_over_one(*, manufacturer_id: int, purpose_code: str, period: str, actor: Actor) -> Allocation | None:
    """Inside a transaction: carry the latest earlier allocation into ``period``."""
    latest = (
        Allocation.objects.filter(manufacturer_id=manufacturer_id, purpose_code=purpose_code, period__lt=period)
        .select_related("manufacturer")
        .order_by("-period")
        .first()
    )
    purpose = purpose_current(code=purpose_code)
    if latest is None or purpose is None:
        return None
    purpose_budget_get_or_create(purpose=purpose, period=period)
    allocation, created = Allocation.objects.get_or_create(
        manufacturer_id=manufacturer_id, purpose_code=purpose_code, period=period, defaults={"allocated": latest.allocated}
    )
    if created:
        audit_append(
            actor=actor,
            action=AuditAction.BUDGET_ROLLED_OVER,
            target=f"manufacturer:{latest.manufacturer.slug}",
            details={
                "manufacturer": latest.manufacturer.slug,
                "purpose": purpose_code,
                "period": period,
                "from_period": latest.period,
                "epsilon": epsilon_text(latest.allocated),
            },
        )
    return allocation


def budget_roll_over(*, period: str | None = None, actor: Actor | None = None) -> int:
    """Open ``period`` (default: this month): every allocation of an earlier month that
    has no row in it carries over with its amount and nothing spent. Idempotent."""
    period = period or period_of()
    actor = actor or Actor.system("releases")
    pairs = (
        Allocation.objects.filter(period__lt=period)
        .values_list("manufacturer_id", "purpose_code")
        .distinct()
        .order_by("manufacturer_id", "purpose_code")
    )
    present = set(Allocation.objects.filter(period=period).values_list("manufacturer_id", "purpose_code"))
    rolled = 0
    for manufacturer_id, purpose_code in pairs:
        if (manufacturer_id, purpose_code) in present:
            continue
        with transaction.atomic():
            if _roll_over_one(manufacturer_id=manufacturer_id, purpose_code=purpose_code, period=period, actor=actor):
                rolled += 1
    for purpose in Purpose.objects.filter(status=Purpose.APPROVED):
        purpose_budget_get_or_create(purpose=purpose, period=period)
    return rolled


class BudgetExhausted(Exception):
    def __init__(self, scope: str, remaining: Decimal):
        super().__init__(scope)
        self.scope = scope
        self.remaining = remaining


def budget_reserve(*, manufacturer: Manufacturer, purpose: Purpose, period: str, epsilon: Decimal, actor: Actor) -> None:
    """Inside the request's transaction: take ε from the allocation and the purpose's cap,
    or raise BudgetExhausted (the caller rolls back). Locks: allocation row first, then
    the purpose row, always in that order, so two requests cannot deadlock."""
    allocation = Allocation.objects.filter(manufacturer=manufacturer, purpose_code=purpose.code, period=period).first()
    if allocation is None:
        allocation = _roll_over_one(manufacturer_id=manufacturer.id, purpose_code=purpose.code, period=period, actor=actor)
    if allocation is None:
        raise BudgetExhausted("allocation", Decimal(0))
    purpose_budget_get_or_create(purpose=purpose, period=period)
    taken = Allocation.objects.filter(pk=allocation.pk, spent__lte=F("allocated") - epsilon).update(spent=F("spent") + epsilon)
    if not taken:
        allocation.refresh_from_db()
        raise BudgetExhausted("allocation", allocation.allocated - allocation.spent)
    taken = PurposeBudget.objects.filter(purpose_code=purpose.code, period=period, spent__lte=F("cap") - epsilon).update(
        spent=F("spent") + epsilon
    )
    if not taken:
        budget = PurposeBudget.objects.get(purpose_code=purpose.code, period=period)
        raise BudgetExhausted("purpose", budget.cap - budget.spent)


def budget_refund(*, manufacturer_id: int, purpose_code: str, period: str, epsilon: Decimal) -> None:
    """Inside the caller's transaction: give a reservation back to both budgets."""
    Allocation.objects.filter(manufacturer_id=manufacturer_id, purpose_code=purpose_code, period=period).update(spent=F("spent") - epsilon)
    PurposeBudget.objects.filter(purpose_code=purpose_code, period=period).update(spent=F("spent") - epsilon)
