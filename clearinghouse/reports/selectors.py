"""Reads: a manufacturer's reports, and the plan of a report request (spends nothing)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.releases.models import Release
from clearinghouse.releases.selectors import budget_after, release_get, releases_for
from clearinghouse.reports.document import cost_section, counts_meaning, mechanism_section
from clearinghouse.reports.spec import half_width_text, report_spec_parse


def reports_for(*, manufacturer: Manufacturer) -> QuerySet[Release]:
    return releases_for(manufacturer=manufacturer, kind=Release.REPORT)


def report_get(*, manufacturer: Manufacturer, report_id) -> Release:
    """Another manufacturer's report is NotFound, like one that does not exist."""
    return release_get(manufacturer=manufacturer, release_id=report_id, kind=Release.REPORT)


def report_plan_preview(*, manufacturer: Manufacturer, body: Any) -> dict[str, Any]:
    """POST /reports/plan: what the request would be answered with and what it would cost,
    spending, queuing and reading no data (nothing is written, not even an audit event). Bad
    bodies are refused exactly as POST /reports refuses them, including accuracy_unreachable.
    ``remaining_after`` may be negative: the report would then be refused with
    budget_exhausted, and ``affordable`` is false."""
    spec = report_spec_parse(manufacturer=manufacturer, body=body)
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
            for accuracy in spec.accuracies
            for labels in [spec.marginal_labels(accuracy.attributes)]
        ],
        "budget": budget_after(manufacturer=manufacturer, purpose=spec.purpose, epsilon=spec.epsilon),
    }
