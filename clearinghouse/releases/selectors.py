"""Reads: the manufacturer's catalogue, budgets and releases; a consumer's privacy loss."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Manufacturer
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.errors import NotFound
from clearinghouse.releases.budgets import period_of
from clearinghouse.releases.ledger import WINDOW_DAYS, consumer_charges, window_start
from clearinghouse.releases.models import Allocation, PurposeBudget, Release
from clearinghouse.releases.plans import FILTER_KEYS, epsilon_text, queryable_categories

ZERO = Decimal(0)


def _terms(index, ids) -> list[dict[str, Any]]:
    return [{"code": index.codes[i], "labels": index.labels[i]} for i in ids]


def _budget_row(*, manufacturer: Manufacturer, purpose_code: str, period: str, cap: Decimal) -> dict[str, Any]:
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


def queryable_purposes(*, manufacturer: Manufacturer) -> list[Purpose]:
    index = taxonomy_index()
    return [
        purpose
        for purpose in Purpose.objects.filter(status=Purpose.APPROVED).order_by("code")
        if queryable_categories(manufacturer=manufacturer, purpose=purpose, index=index)
    ]


def catalog_for(*, manufacturer: Manufacturer) -> list[dict[str, Any]]:
    """Purposes this manufacturer may query, with everything needed to write a request:
    measures, dimensions and their public domains, bounds, limits and remaining budget."""
    index = taxonomy_index()
    period = period_of()
    entries = []
    for purpose in queryable_purposes(manufacturer=manufacturer):
        categories = queryable_categories(manufacturer=manufacturer, purpose=purpose, index=index)
        domains: dict[str, Any] = {}
        dims = set(purpose.dimensions)
        domains["category"] = _terms(index, categories)
        if "attribute" in dims or "top_k" in purpose.measures:
            domains["attribute"] = {index.codes[c]: _terms(index, index.attributes_of(c)) for c in categories}
        domains["signal"] = _terms(index, index.signals.values())
        if "age_band" in dims:
            domains["age_band"] = _terms(index, index.age_bands.values())
        if "region" in dims:
            domains["region"] = _terms(index, index.regions.values())
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
                "budget": _budget_row(manufacturer=manufacturer, purpose_code=purpose.code, period=period, cap=purpose.period_epsilon_cap),
            }
        )
    return entries


def budget_overview(*, manufacturer: Manufacturer) -> dict[str, Any]:
    """This month for every purpose it may query, then every other month it has rows for."""
    period = period_of()
    rows = [
        _budget_row(manufacturer=manufacturer, purpose_code=p.code, period=period, cap=p.period_epsilon_cap)
        for p in queryable_purposes(manufacturer=manufacturer)
    ]
    shown = {(row["purpose"], row["period"]) for row in rows}
    caps = {p.code: p.period_epsilon_cap for p in Purpose.objects.filter(status=Purpose.APPROVED)}
    for allocation in Allocation.objects.filter(manufacturer=manufacturer).order_by("-period", "purpose_code"):
        if (allocation.purpose_code, allocation.period) not in shown:
            rows.append(
                _budget_row(
                    manufacturer=manufacturer,
                    purpose_code=allocation.purpose_code,
                    period=allocation.period,
                    cap=caps.get(allocation.purpose_code, ZERO),
                )
            )
    return {"period": period, "budgets": rows}


def releases_for(*, manufacturer: Manufacturer) -> QuerySet[Release]:
    return Release.objects.filter(manufacturer=manufacturer).select_related("manufacturer").order_by("-created_at", "id")


def release_get(*, manufacturer: Manufacturer, release_id) -> Release:
    """Another manufacturer's release is NotFound, like one that does not exist."""
    release = releases_for(manufacturer=manufacturer).filter(pk=release_id).first()
    if release is None:
        raise NotFound()
    return release


def privacy_loss_statement(*, consumer: Consumer) -> dict[str, Any]:
    """The consumer's own ledger over the rolling window: every release charged to them,
    and per purpose the total against the cap. Read by the API and the portal."""
    now = timezone.now()
    charges = list(consumer_charges(consumer_id=consumer.id, since=window_start(now)))
    spent: dict[str, Decimal] = {}
    for release in charges:
        spent[release.purpose_code] = spent.get(release.purpose_code, ZERO) + release.epsilon
    purposes = {p.code: p for p in Purpose.objects.filter(status=Purpose.APPROVED)}
    for code in spent:
        if code not in purposes:
            latest = Purpose.objects.filter(code=code).order_by("-version").first()
            if latest is not None:
                purposes[code] = latest
    rows = []
    for code in sorted(purposes):
        purpose = purposes[code]
        used = spent.get(code, ZERO)
        rows.append(
            {
                "purpose": code,
                "title": purpose.title,
                "cap": epsilon_text(purpose.consumer_epsilon_cap),
                "spent_in_window": epsilon_text(used),
                "remaining": epsilon_text(max(purpose.consumer_epsilon_cap - used, ZERO)),
            }
        )
    return {
        "window_days": WINDOW_DAYS,
        "purposes": rows,
        "charges": [
            {
                "release_id": str(release.id),
                "purpose": release.purpose_code,
                "manufacturer": release.manufacturer.name,
                "measure": release.measure,
                "epsilon": epsilon_text(release.epsilon),
                "charged_at": release.completed_at.isoformat(),
            }
            for release in charges
        ],
        "total_epsilon": epsilon_text(sum(spent.values(), ZERO)),
    }


def privacy_ledger_export(*, consumer: Consumer) -> dict[str, Any]:
    """The consumer's privacy ledger for GET /me/export."""
    return {"privacy_loss": privacy_loss_statement(consumer=consumer)}
