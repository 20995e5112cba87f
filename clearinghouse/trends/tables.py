"""A signed trend as one table: a row per series and week (``kind`` observed), then the
forecast weeks (``kind`` forecast, with the 95% and 80% intervals of the forecast)."""

from __future__ import annotations

from typing import Any

from clearinghouse.api.renderers import Table
from clearinghouse.releases.tables import dimension_columns, dimension_values, dimensions_in, interval, term_labeler

_SERIES_PARTS = ("weeks", "forecast")


def trend_table(*, document: dict[str, Any], language: str) -> Table:
    label = term_labeler(language=language)
    category = (document.get("filters") or {}).get("category")
    series = document.get("series", [])
    dimensions = dimensions_in(key for one in series[:1] for key in one if key not in _SERIES_PARTS)
    columns = [
        *dimension_columns(dimensions),
        "week",
        "kind",
        "value",
        "half_width",
        "lower",
        "upper",
        "running_total",
        "running_total_half_width",
        "lower_80",
        "upper_80",
    ]
    rows: list[list[Any]] = []
    for one in series:
        codes = dimension_values(one, dimensions, label, category=category)
        for week in one["weeks"]:
            rows.append(
                [
                    *codes,
                    week["week"],
                    "observed",
                    week["value"],
                    week["half_width"],
                    *interval(week["value"], week["half_width"]),
                    week["running_total"],
                    week["running_total_half_width"],
                    None,
                    None,
                ]
            )
        for week in (one.get("forecast") or {}).get("weeks", []):
            rows.append([*codes, week["week"], "forecast", week["value"], None, *week["interval_95"], None, None, *week["interval_80"]])
    return Table(columns, rows)
