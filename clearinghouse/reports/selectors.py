"""Reads: a manufacturer's reports, and the plan of a report request (spends nothing)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.core.errors import NotFound
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.selectors import budget_overview
from clearinghouse.reports.document import cost_section, counts_meaning, mechanism_section
from clearinghouse.reports.spec import half_width_text, report_spec_parse


def reports_for(*, manufacturer: Manufacturer) -> QuerySet[Release]:
    return (
        Release.objects.filter(manufacturer=manufacturer, kind=Release.REPORT).select_related("manufacturer").order_by("-created_at", "id")
    )


def report_get(*, manufacturer: Manufacturer, report_id) -> Release:
    """Another manufacturer's report is NotFound, like one that does not exist."""
    report = reports_for(manufacturer=manufacturer).filter(pk=report_id).first()
    if report is None:
        raise NotFound()
    return report


def report_plan_preview(*, manufacturer: Manufacturer, body: Any) -> dict[str, Any]:
    """POST /reports/plan: what the request would be answered with and what it would cost,
    spending, queuing and reading no data (nothing is written, not even an audit event). Bad
    bodies are refused exactly as POST /reports refuses them, including accuracy_unreachable.
    ``remaining_after`` may be negative: the report would then be refused with
    budget_exhausted, and ``affordable`` is false."""
    spec = report_spec_parse(manufacturer=manufacturer, body=body)
    overview = budget_overview(manufacturer=manufacturer)
    row = next(r for r in overview["budgets"] if r["purpose"] == spec.purpose.code and r["period"] == overview["period"])
    cost = spec.epsilon
    allocation_after = Decimal(row["remaining"]) - cost
    purpose_after = Decimal(row["global_remaining"]) - cost
    return {
        "purpose": spec.purpose.code,
        "purpose_version": spec.purpose.version,
        "measure": spec.measure,
        "counts": counts_meaning(spec),
        "filters": spec.filters,
        "mechanism": mechanism_section(spec),
        "cost": cost_section(spec),
        "accuracy": {"requested_half_width": spec.half_width_requested} if spec.half_width_requested else None,
        "contribution_bounds": {
            "max_cells": spec.purpose.max_cells_per_consumer,
            "max_signals_per_cell": spec.purpose.max_signals_per_cell,
            "cells_per_consumer": spec.cells_per_consumer,
        },
        "marginals": [
            {
                "dimensions": list(accuracy.attributes),
                "half_width": half_width_text(accuracy.half_width),
                "cell_count": len(labels),
                "cells": labels,
            }
            for accuracy in spec.plan.marginals
            for labels in [spec.marginal_labels(accuracy.attributes)]
        ],
        "budget": {
            "period": row["period"],
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
