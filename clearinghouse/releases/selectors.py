"""Reads: the manufacturer's catalogue, budgets and releases; a consumer's privacy loss."""

from __future__ import annotations

import copy
import math
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Manufacturer
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.errors import NotFound
from clearinghouse.releases import accounting, reach
from clearinghouse.releases.budgets import period_of
from clearinghouse.releases.ledger import WINDOW_DAYS, consumer_charges, epsilon_units, window_start
from clearinghouse.releases.models import Allocation, PurposeBudget, Release
from clearinghouse.releases.plans import FILTER_KEYS, epsilon_text, queryable_categories

ZERO = Decimal(0)


def _terms(index, ids, language: str = "en") -> list[dict[str, Any]]:
    return [
        {
            "code": index.codes[i],
            "label": index.labels[i].get(language) or index.labels[i].get("en") or index.codes[i],
            "labels": index.labels[i],
        }
        for i in ids
    ]


def budget_row(*, manufacturer: Manufacturer, purpose_code: str, period: str, cap: Decimal) -> dict[str, Any]:
    """Allocated/spent for (manufacturer, purpose, period); a month not opened yet shows
    what the roll-over will carry into it."""
    allocation = Allocation.objects.filter(manufacturer=manufacturer, purpose_code=purpose_code, period=period).first()
    if allocation is not None:
        allocated, spent = allocation.allocated, allocation.spent
    else:
        latest = (
            Allocation.objects.filter(manufacturer=manufacturer, purpose_code=purpose_code, period__lt=period).order_by("-period").first()
        )
        allocated, spent = (latest.allocated if latest else ZERO), ZERO
    purpose_budget = PurposeBudget.objects.filter(purpose_code=purpose_code, period=period).first()
    global_cap = purpose_budget.cap if purpose_budget else cap
    global_spent = purpose_budget.spent if purpose_budget else ZERO
    return {
        "purpose": purpose_code,
        "period": period,
        "allocated": epsilon_text(allocated),
        "spent": epsilon_text(spent),
        "remaining": epsilon_text(max(allocated - spent, ZERO)),
        "global_cap": epsilon_text(global_cap),
        "global_spent": epsilon_text(global_spent),
        "global_remaining": epsilon_text(max(global_cap - global_spent, ZERO)),
    }


def budget_after(*, manufacturer: Manufacturer, purpose: Purpose, epsilon: Decimal) -> dict[str, Any]:
    """What the manufacturer's allocation and the purpose's period budget would be after a
    job costing ``epsilon``, for the free plans (negative: the job would be refused with
    budget_exhausted, and ``affordable`` is false)."""
    period = period_of()
    row = budget_row(manufacturer=manufacturer, purpose_code=purpose.code, period=period, cap=purpose.period_epsilon_cap)
    allocation_after = Decimal(row["remaining"]) - epsilon
    purpose_after = Decimal(row["global_remaining"]) - epsilon
    return {
        "period": period,
        "allocation": {
            "allocated": row["allocated"],
            "spent": row["spent"],
            "remaining": row["remaining"],
            "remaining_after": epsilon_text(allocation_after),
        },
        "purpose": {
            "cap": row["global_cap"],
            "spent": row["global_spent"],
            "remaining": row["global_remaining"],
            "remaining_after": epsilon_text(purpose_after),
        },
        "affordable": allocation_after >= 0 and purpose_after >= 0,
    }


def queryable_purposes(*, manufacturer: Manufacturer) -> list[Purpose]:
    index = taxonomy_index()
    return [
        purpose
        for purpose in Purpose.objects.filter(status=Purpose.APPROVED).order_by("code")
        if queryable_categories(manufacturer=manufacturer, purpose=purpose, index=index)
    ]


def catalog_for(*, manufacturer: Manufacturer, language: str = "en") -> list[dict[str, Any]]:
    """Purposes this manufacturer may query, with everything needed to write a request:
    measures, dimensions and their public domains (each term's label in ``language`` and
    in every language), bounds, limits and remaining budget."""
    index = taxonomy_index()
    period = period_of()
    entries = []
    for purpose in queryable_purposes(manufacturer=manufacturer):
        categories = queryable_categories(manufacturer=manufacturer, purpose=purpose, index=index)
        domains: dict[str, Any] = {}
        dims = set(purpose.dimensions)
        domains["category"] = _terms(index, categories, language)
        if "attribute" in dims or "top_k" in purpose.measures:
            domains["attribute"] = {index.codes[c]: _terms(index, index.attributes_of(c), language) for c in categories}
        domains["signal"] = _terms(index, index.signals.values(), language)
        if "age_band" in dims:
            domains["age_band"] = _terms(index, index.age_bands.values(), language)
        if "region" in dims:
            domains["region"] = _terms(index, index.regions.values(), language)
        if "week" in dims:
            domains["week"] = (
                f"ISO weeks (Monday 00:00, {settings.TIME_ZONE}) from filters.since to filters.until; both are required to group by week"
            )
        filters = [f for f in FILTER_KEYS if f in ("category", "signals") or "occurred_at" in purpose.fields]
        entries.append(
            {
                "purpose": purpose.code,
                "version": purpose.version,
                "title": purpose.title,
                "legitimate_interest": purpose.legitimate_interest,
                "fields": purpose.fields,
                "measures": purpose.measures,
                "dimensions": purpose.dimensions,
                "filters": filters,
                "domains": domains,
                "value_bounds": (
                    {"min": purpose.value_min, "max": purpose.value_max, "meaning": purpose.value_meaning}
                    if purpose.value_min is not None
                    else None
                ),
                "contribution_bounds": {
                    "max_cells": purpose.max_cells_per_consumer,
                    "max_signals_per_cell": purpose.max_signals_per_cell,
                },
                "limits": {
                    "max_epsilon_per_release": epsilon_text(purpose.max_epsilon_per_release),
                    "period_epsilon_cap": epsilon_text(purpose.period_epsilon_cap),
                    "consumer_epsilon_cap": epsilon_text(purpose.consumer_epsilon_cap),
                    "consumer_window_days": WINDOW_DAYS,
                    "max_cells": settings.CH_RELEASE_MAX_CELLS,
                },
                "budget": budget_row(manufacturer=manufacturer, purpose_code=purpose.code, period=period, cap=purpose.period_epsilon_cap),
            }
        )
    return entries


def budget_overview(*, manufacturer: Manufacturer) -> dict[str, Any]:
    """This month for every purpose it may query, then every other month it has rows for."""
    period = period_of()
    rows = [
        budget_row(manufacturer=manufacturer, purpose_code=p.code, period=period, cap=p.period_epsilon_cap)
        for p in queryable_purposes(manufacturer=manufacturer)
    ]
    shown = {(row["purpose"], row["period"]) for row in rows}
    caps = {p.code: p.period_epsilon_cap for p in Purpose.objects.filter(status=Purpose.APPROVED)}
    for allocation in Allocation.objects.filter(manufacturer=manufacturer).order_by("-period", "purpose_code"):
        if (allocation.purpose_code, allocation.period) not in shown:
            rows.append(
                budget_row(
                    manufacturer=manufacturer,
                    purpose_code=allocation.purpose_code,
                    period=allocation.period,
                    cap=caps.get(allocation.purpose_code, ZERO),
                )
            )
    return {"period": period, "budgets": rows}


def releases_for(*, manufacturer: Manufacturer, kind: str = Release.RELEASE) -> QuerySet[Release]:
    """A manufacturer's own jobs of one kind (releases, reports or trends), newest first."""
    return Release.objects.filter(manufacturer=manufacturer, kind=kind).select_related("manufacturer").order_by("-created_at", "id")


def visible_at(release: Release) -> datetime | None:
    """When a finished job may be seen: the first multiple of
    CH_RELEASE_VISIBLE_STEP_SECONDS after its request that is not before it finished.

    The time from POST to done would otherwise reveal the data: one person with 150,000
    signals measurably slowed a release. Rounding up to a step that exceeds the job's
    usual time makes the visible time a function of the request time alone, and any
    residue is at most which step the job fell into.
    """
    if release.completed_at is None:
        return None
    step = settings.CH_RELEASE_VISIBLE_STEP_SECONDS
    elapsed = max((release.completed_at - release.created_at).total_seconds(), 0.0)
    return release.created_at + timedelta(seconds=step * max(1, math.ceil(elapsed / step - 1e-9)))


def release_visible(release: Release, *, now: datetime | None = None) -> Release:
    """The job as its manufacturer may see it at ``now``: a done job before its visible
    time is still running, without a result; once visible, completed_at is that time."""
    shown = visible_at(release)
    if shown is None or release.status != Release.DONE:
        return release
    masked = copy.copy(release)
    if (now or timezone.now()) < shown:
        masked.status, masked.result, masked.completed_at = Release.RUNNING, None, None
    else:
        masked.completed_at = shown
    return masked


def release_get(*, manufacturer: Manufacturer, release_id, kind: str = Release.RELEASE) -> Release:
    """Another manufacturer's job (or one of another kind) is NotFound, like one that does
    not exist."""
    release = releases_for(manufacturer=manufacturer, kind=kind).filter(pk=release_id).first()
    if release is None:
        raise NotFound()
    return release


def _charged(release: Release) -> tuple[Decimal, Decimal]:
    """(ε, ρ) this consumer was charged by ``release``: its whole cost, or its reach share
    when the consumer was only counted as left out (ledger.consumer_charges)."""
    return reach.charge_cost(
        epsilon=release.person_charge_epsilon, rho=release.rho, reach_only=getattr(release, "charged_reach_only", False)
    )


def charged_epsilon(release: Release) -> Decimal:
    """The ε one consumer was charged by a release read through ``consumer_charges``."""
    return _charged(release)[0]


def _guarantee(releases: list[Release]) -> accounting.Guarantee:
    costs = [_charged(r) for r in releases]
    pure = [e for e, rho in costs if not rho]
    return accounting.guarantee_of(
        pure_units=sum(epsilon_units(e) for e in pure),
        rho_units_total=sum(accounting.rho_units(rho) for _e, rho in costs if rho),
        pure_squares=sum((Fraction(e) ** 2 / 2 for e in pure), Fraction(0)),
    )


def privacy_loss_statement(*, consumer: Consumer) -> dict[str, Any]:
    """The consumer's own ledger over the rolling window: every release charged to them,
    their one guarantee across every purpose against the person cap, and per purpose the
    guarantee against that purpose's sub-cap. Read by the API and the portal."""
    now = timezone.now()
    charges = list(consumer_charges(consumer_id=consumer.id, since=window_start(now)))
    by_purpose: dict[str, list[Release]] = {}
    for release in charges:
        by_purpose.setdefault(release.purpose_code, []).append(release)
    purposes = {p.code: p for p in Purpose.objects.filter(status=Purpose.APPROVED)}
    for code in by_purpose:
        if code not in purposes:
            latest = Purpose.objects.filter(code=code).order_by("-version").first()
            if latest is not None:
                purposes[code] = latest
    person_cap = accounting.person_cap()
    rows = []
    for code in sorted(purposes):
        purpose = purposes[code]
        stated = _guarantee(by_purpose.get(code, []))
        # A purpose's sub-cap never allows more than the person cap does.
        cap = min(purpose.consumer_epsilon_cap, person_cap)
        rows.append(
            {
                "purpose": code,
                "title": purpose.title,
                "cap": epsilon_text(cap),
                "spent_in_window": epsilon_text(stated.epsilon),
                "delta": stated.as_dict()["delta"],
                "remaining": epsilon_text(max(cap - stated.epsilon, ZERO)),
            }
        )
    total = _guarantee(charges)
    return {
        "window_days": WINDOW_DAYS,
        "guarantee": total.as_dict() | {"cap": epsilon_text(person_cap), "remaining": epsilon_text(max(person_cap - total.epsilon, ZERO))},
        "purposes": rows,
        "charges": [
            {
                "release_id": str(release.id),
                "purpose": release.purpose_code,
                "manufacturer": release.manufacturer.name,
                "measure": release.measure,
                "epsilon": epsilon_text(_charged(release)[0]),
                "rho": str(_charged(release)[1]) if release.rho else None,
                "reach_only": getattr(release, "charged_reach_only", False),
                "charged_at": release.completed_at.isoformat() if release.completed_at else None,
            }
            for release in charges
        ],
        "total_epsilon": epsilon_text(total.epsilon),
    }


def consumer_charges_list(*, consumer: Consumer) -> list[Release]:
    """Every finished job that charged this person, newest first (the timeline; the
    statement above counts only the rolling window)."""
    return list(consumer_charges(consumer_id=consumer.id))


def releases_by_ids(*, ids) -> dict[str, Release]:
    """Jobs by id, with their manufacturer (to describe them); ids that are not UUIDs or
    not jobs are left out."""
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return {str(r.id): r for r in Release.objects.filter(id__in=wanted).select_related("manufacturer")}


def privacy_ledger_export(*, consumer: Consumer) -> dict[str, Any]:
    """The consumer's privacy ledger for GET /me/export."""
    return {"privacy_loss": privacy_loss_statement(consumer=consumer)}


def jobs_for(*, manufacturer: Manufacturer, period: str | None = None) -> QuerySet[Release]:
    """A manufacturer's own jobs of every kind (releases, reports, trends), newest first;
    with ``period``, only those of that budget period. For the workbench's history and its
    budget over the period (each live job holds or has spent its ε; a failed or refused
    one was refunded)."""
    jobs = Release.objects.filter(manufacturer=manufacturer).select_related("manufacturer").order_by("-created_at", "id")
    return jobs.filter(period=period) if period is not None else jobs


def jobs_filtered(jobs: QuerySet[Release], *, purpose: str | None = None, period: str | None = None) -> QuerySet[Release]:
    """The filters of the job lists (releases, reports, trends). There is deliberately no
    status filter: a done job is shown as running until its visible time
    (``release_visible``), and filtering on the stored status would reveal when it finished."""
    if purpose:
        jobs = jobs.filter(purpose_code=purpose)
    if period:
        jobs = jobs.filter(period=period)
    return jobs
