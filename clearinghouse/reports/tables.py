"""A signed report as one table: a row per cell of every marginal, ``table`` naming the
marginal (its dimensions joined by "+"), each dimension as code and label."""

from __future__ import annotations

from typing import Any

from clearinghouse.api.renderers import Table
from clearinghouse.releases.tables import dimension_columns, dimension_values, dimensions_in, interval, term_labeler


def report_table(*, document: dict[str, Any], language: str) -> Table:
    label = term_labeler(language=language)
    category = (document.get("filters") or {}).get("category")
    marginals = document.get("marginals", [])
    dimensions = dimensions_in(key for marginal in marginals for cell in marginal["cells"][:1] for key in cell)
    columns = ["table", *dimension_columns(dimensions), "value", "half_width", "lower", "upper"]
    rows = [
        [
            "+".join(marginal["dimensions"]),
            *dimension_values(cell, dimensions, label, category=category),
            cell["value"],
            cell["half_width"],
            *interval(cell["value"], cell["half_width"]),
        ]
        for marginal in marginals
        for cell in marginal["cells"]
    ]
    return Table(columns, rows)
