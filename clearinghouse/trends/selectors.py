"""Reads: a manufacturer's trends, and the plan of a trend request (spends nothing)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.releases.models import Release
from clearinghouse.releases.selectors import budget_after, release_get, releases_for
from clearinghouse.trends.document import accuracy_section, bounds_section, cost_section, mechanism_section
from clearinghouse.trends.spec import trend_spec_parse


def trends_for(*, manufacturer: Manufacturer) -> QuerySet[Release]:
    return releases_for(manufacturer=manufacturer, kind=Release.TREND)


def trend_get(*, manufacturer: Manufacturer, trend_id) -> Release:
    """Another manufacturer's trend is NotFound, like one that does not exist."""
    return release_get(manufacturer=manufacturer, release_id=trend_id, kind=Release.TREND)


def trend_plan_preview(*, manufacturer: Manufacturer, body: Any) -> dict[str, Any]:
    """POST /trends/plan: what the request would be answered with and what it would cost,
    spending, queuing and reading no data (nothing is written, not even an audit event). Bad
    bodies are refused exactly as POST /trends refuses them, including accuracy_unreachable.
    ``remaining_after`` may be negative: the trend would then be refused with
    budget_exhausted, and ``affordable`` is false."""
    spec = trend_spec_parse(manufacturer=manufacturer, body=body)
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
        "budget": budget_after(manufacturer=manufacturer, purpose=spec.purpose, epsilon=spec.epsilon),
    }
