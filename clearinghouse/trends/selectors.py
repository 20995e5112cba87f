"""Reads: a manufacturer's trends, and the plan of a trend request (spends nothing)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.core.errors import NotFound
from clearinghouse.releases.budgets import period_of
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.selectors import budget_row
from clearinghouse.trends.document import accuracy_section, bounds_section, cost_section, mechanism_section
from clearinghouse.trends.spec import trend_spec_parse


def trends_for(*, manufacturer: Manufacturer) -> QuerySet[Release]:
    return (
        Release.objects.filter(manufacturer=manufacturer, kind=Release.TREND).select_related("manufacturer").order_by("-created_at", "id")
    )


def trend_get(*, manufacturer: Manufacturer, trend_id) -> Release:
    """Another manufacturer's trend is NotFound, like one that does not exist."""
    trend = trends_for(manufacturer=manufacturer).filter(pk=trend_id).first()
    if trend is None:
        raise NotFound()
    return trend


def trend_plan_preview(*, manufacturer: Manufacturer, body: Any) -> dict[str, Any]:
    """POST /trends/plan: what the request would be answered with and what it would cost,
    spending, queuing and reading no data (nothing is written, not even an audit event). Bad
    bodies are refused exactly as POST /trends refuses them, including accuracy_unreachable.
    ``remaining_after`` may be negative: the trend would then be refused with
    budget_exhausted, and ``affordable`` is false."""
    spec = trend_spec_parse(manufacturer=manufacturer, body=body)
    period = period_of()
    row = budget_row(manufacturer=manufacturer, purpose_code=spec.purpose.code, period=period, cap=spec.purpose.period_epsilon_cap)
    allocation_after = Decimal(row["remaining"]) - spec.epsilon
    purpose_after = Decimal(row["global_remaining"]) - spec.epsilon
    return {
        "purpose": spec.purpose.code,
        "purpose_version": spec.purpose.version,
        "measure": spec.measure,
        "by": spec.by,
        "filters": spec.filters,
        "weeks": spec.week_labels,
        "series": spec.series_labels,
        "cells": spec.release_plan.cell_count,
        "forecast_weeks": spec.forecast_weeks,
        "mechanism": mechanism_section(spec),
        "cost": cost_section(spec),
        "accuracy": accuracy_section(spec) | ({"requested": spec.accuracy} if spec.accuracy else {}),
        "contribution_bounds": bounds_section(spec),
        "budget": {
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
        },
    }
