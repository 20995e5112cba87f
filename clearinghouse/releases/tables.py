"""Signed documents as tables: one row per cell, each dimension as its code and its label
in the reader's language, then the value, the 95% half-width and the interval it gives.

Read-only post-processing of a document already signed (the CSV download; the JSON
stays the reference). Reports and trends have their own layouts in their apps and use
``term_labeler`` and ``interval`` from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from clearinghouse.api.renderers import Table
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.releases.plans import DIMENSION_ORDER

Labeler = Callable[[str, str, str | None], str]


def term_labeler(*, language: str) -> Labeler:
    """label(dimension, code, category) in ``language`` from the active taxonomy; an
    attribute's code is only unique within its category. A week is its own label; a code
    the taxonomy no longer has keeps its code."""
    index = taxonomy_index()

    def label(dimension: str, code: str, category: str | None = None) -> str:
        if dimension == "week":
            return code
        if dimension == "attribute":
            category_id = index.categories.get(category or "")
            term = index.attributes.get((category_id, code)) if category_id is not None else None
        else:
            try:
                term = index.by_dimension(dimension).get(code)
            except KeyError:
                term = None
        if term is None:
            return code
        labels = index.labels[term]
        return labels.get(language) or labels.get("en") or code

    return label


def dimensions_in(keys: Iterable[str]) -> list[str]:
    present = set(keys)
    return [dimension for dimension in DIMENSION_ORDER if dimension in present]


def dimension_columns(dimensions: list[str]) -> list[str]:
    return [column for dimension in dimensions for column in (dimension, f"{dimension}_label")]


def dimension_values(cell: dict[str, Any], dimensions: list[str], label: Labeler, *, category: str | None) -> list[Any]:
    row: list[Any] = []
    for dimension in dimensions:
        code = cell.get(dimension)
        row += [code, label(dimension, code, cell.get("category") or category) if code is not None else None]
    return row


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def interval(value: Any, half_width: Any) -> tuple[str | None, str | None]:
    """value ± half_width as the document states them (integers or decimal strings)."""
    number, half = _number(value), _number(half_width)
    if number is None or half is None:
        return None, None
    return str(number - half), str(number + half)


def release_table(*, document: dict[str, Any], language: str) -> Table:
    label = term_labeler(language=language)
    category = (document.get("filters") or {}).get("category") or document.get("category")
    if document.get("measure") == "top_k":
        columns = ["rank", "category", "category_label", "attribute", "attribute_label"]
        rows = [
            [
                item["rank"],
                category,
                label("category", category or "", None),
                item["attribute"],
                label("attribute", item["attribute"], category),
            ]
            for item in document.get("ranking", [])
        ]
        return Table(columns, rows)
    cells = document.get("cells", [])
    dimensions = dimensions_in(cells[0] if cells else document.get("group_by", []))
    if document.get("measure") == "mean_value":
        columns = [*dimension_columns(dimensions), "value", "half_width", "lower", "upper", "noisy_centred_sum", "noisy_consumers"]
        rows = [
            [
                *dimension_values(cell, dimensions, label, category=category),
                cell["value"],
                None,
                *cell["interval"],
                cell["centred_sum"],
                cell["consumers"],
            ]
            for cell in cells
        ]
        return Table(columns, rows)
    columns = [*dimension_columns(dimensions), "value", "half_width", "lower", "upper"]
    rows = [
        [
            *dimension_values(cell, dimensions, label, category=category),
            cell["value"],
            cell["half_width"],
            *interval(cell["value"], cell["half_width"]),
        ]
        for cell in cells
    ]
    return Table(columns, rows)


BUDGET_COLUMNS = ["purpose", "purpose_label", "period", "allocated", "spent", "remaining", "global_cap", "global_spent", "global_remaining"]


def budget_table(*, overview: dict[str, Any], language: str) -> Table:
    codes = {row["purpose"] for row in overview["budgets"]}
    titles: dict[str, dict[str, str]] = {}
    for code, title in Purpose.objects.filter(code__in=codes).order_by("version").values_list("code", "title"):
        titles[code] = title  # the latest version's title wins
    rows = []
    for row in overview["budgets"]:
        title = titles.get(row["purpose"], {})
        rows.append([row["purpose"], title.get(language) or title.get("en") or row["purpose"], *(row[c] for c in BUDGET_COLUMNS[2:])])
    return Table(BUDGET_COLUMNS, rows)
