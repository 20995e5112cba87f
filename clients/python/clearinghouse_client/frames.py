"""Signed documents as tables: one row per cell, with the codes, their labels in the
chosen language (from the catalogue), the value, its 95% half-width and the interval.

Rows are plain dicts (``records``) so that people without pandas get the same table;
``data_frame`` wraps them and puts the job's privacy facts in ``DataFrame.attrs``."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

# Dimensions whose codes have labels in the catalogue's public domains.
LABELLED = ("category", "attribute", "signal", "age_band", "region")


class Labels:
    """Code -> label for each dimension of one purpose's catalogue entry, in one language."""

    def __init__(self, catalog: dict[str, Any] | None, *, purpose: str | None, language: str):
        self.language = language
        self.terms: dict[str, dict[str, str]] = {}
        self.attributes: dict[str, dict[str, str]] = {}
        entries = (catalog or {}).get("purposes", [])
        entry = next((e for e in entries if e.get("purpose") == purpose), None)
        if entry is None:
            return
        domains = entry.get("domains") or {}
        for dimension in ("category", "signal", "age_band", "region"):
            terms = domains.get(dimension)
            if isinstance(terms, list):
                self.terms[dimension] = {t["code"]: self._pick(t.get("labels")) for t in terms}
        for category, terms in (domains.get("attribute") or {}).items():
            self.attributes[category] = {t["code"]: self._pick(t.get("labels")) for t in terms}

    def _pick(self, labels: Any) -> str:
        if not isinstance(labels, dict):
            return ""
        return labels.get(self.language) or labels.get("en") or next(iter(labels.values()), "")

    def label(self, dimension: str, code: Any, *, category: str | None = None) -> str | None:
        if code is None:
            return None
        if dimension != "attribute":
            return self.terms.get(dimension, {}).get(code)
        # Attribute codes belong to a category: the cell's own, else the filter's (which may
        # be a prefix such as "furniture"), else any category that has the code.
        if category in self.attributes and code in self.attributes[category]:
            return self.attributes[category][code]
        for path, terms in self.attributes.items():
            if code in terms and (category is None or path == category or path.startswith(category + "/")):
                return terms[code]
        return next((terms[code] for terms in self.attributes.values() if code in terms), None)


def number(value: Any) -> int | float | None:
    """The API writes integers as integers and everything fractional as decimal strings."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return float(Decimal(str(value)))
    except InvalidOperation:
        return None


def _bounds(value, half_width) -> tuple[Any, Any]:
    if value is None or half_width is None:
        return None, None
    return value - half_width, value + half_width


def _with_labels(row: dict[str, Any], cell: dict[str, Any], dimensions: list[str], labels: Labels, category: str | None) -> None:
    own_category = cell.get("category", category)
    for dimension in dimensions:
        code = cell.get(dimension)
        row[dimension] = code
        if dimension in LABELLED:
            row[f"{dimension}_label"] = labels.label(dimension, code, category=own_category)


def release_records(payload: dict[str, Any], labels: Labels) -> list[dict[str, Any]]:
    measure = payload.get("measure")
    category = (payload.get("filters") or {}).get("category")
    if measure == "top_k":
        rows = []
        for item in payload.get("ranking", []):
            row: dict[str, Any] = {"rank": item.get("rank")}
            _with_labels(row, item, ["attribute"], labels, payload.get("category") or category)
            rows.append(row | {"value": None, "half_width": None, "lower": None, "upper": None})
        return rows
    dimensions = list(payload.get("group_by") or [])
    rows = []
    for cell in payload.get("cells", []):
        row = {}
        _with_labels(row, cell, dimensions, labels, category)
        if measure == "mean_value":
            # A mean's interval is not symmetric about it (a ratio of two noisy numbers): no half-width.
            interval = cell.get("interval") or [None, None]
            row |= {"value": number(cell.get("value")), "half_width": None, "lower": number(interval[0]), "upper": number(interval[1])}
            row |= {"centred_sum": cell.get("centred_sum"), "consumers": cell.get("consumers")}
        else:
            value, half_width = number(cell.get("value")), number(cell.get("half_width"))
            lower, upper = _bounds(value, half_width)
            row |= {"value": value, "half_width": half_width, "lower": lower, "upper": upper}
        rows.append(row)
    return rows


def report_records(payload: dict[str, Any], labels: Labels) -> list[dict[str, Any]]:
    category = (payload.get("filters") or {}).get("category")
    every = [d for m in payload.get("marginals", []) for d in m.get("dimensions", [])]
    dimensions = list(dict.fromkeys(every))
    rows = []
    for marginal in payload.get("marginals", []):
        own = list(marginal.get("dimensions", []))
        for cell in marginal.get("cells", []):
            row: dict[str, Any] = {"marginal": " × ".join(own)}
            # A table that leaves a dimension out covers all its values: None in that column.
            _with_labels(row, cell, dimensions, labels, category)
            value, half_width = number(cell.get("value")), number(cell.get("half_width"))
            lower, upper = _bounds(value, half_width)
            rows.append(row | {"value": value, "half_width": half_width, "lower": lower, "upper": upper})
    return rows


def trend_records(payload: dict[str, Any], labels: Labels, *, forecast: bool = False) -> list[dict[str, Any]]:
    category = (payload.get("filters") or {}).get("category")
    by = payload.get("by")
    rows = []
    for series in payload.get("series", []):
        head: dict[str, Any] = {}
        series_dims = [d for d in series if d not in ("weeks", "forecast")]
        _with_labels(head, series, series_dims or ([by] if by else []), labels, category)
        if forecast:
            for week in (series.get("forecast") or {}).get("weeks", []):
                low80, high80 = week.get("interval_80") or [None, None]
                low95, high95 = week.get("interval_95") or [None, None]
                rows.append(
                    head
                    | {
                        "week": week.get("week"),
                        "value": number(week.get("value")),
                        "lower_80": number(low80),
                        "upper_80": number(high80),
                        "lower": number(low95),
                        "upper": number(high95),
                    }
                )
            continue
        for week in series.get("weeks", []):
            value, half_width = number(week.get("value")), number(week.get("half_width"))
            lower, upper = _bounds(value, half_width)
            rows.append(
                head
                | {
                    "week": week.get("week"),
                    "value": value,
                    "half_width": half_width,
                    "lower": lower,
                    "upper": upper,
                    "running_total": number(week.get("running_total")),
                    "running_total_half_width": number(week.get("running_total_half_width")),
                }
            )
    return rows


def records(kind: str, payload: dict[str, Any], labels: Labels, *, forecast: bool = False) -> list[dict[str, Any]]:
    if forecast and kind != "trend":
        raise ValueError("only a trend has a forecast")
    if kind == "report":
        return report_records(payload, labels)
    if kind == "trend":
        return trend_records(payload, labels, forecast=forecast)
    return release_records(payload, labels)


def _float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def privacy_facts(kind: str, payload: dict[str, Any], *, job_id: str | None = None, key_id: str | None = None) -> dict[str, Any]:
    """What ``DataFrame.attrs`` holds: the guarantee the numbers were released under and
    when the data was read."""
    if kind == "release":
        mechanisms = payload.get("mechanisms") or []
        mechanism = ", ".join(m.get("name", "") for m in mechanisms) or None
        # A Laplace release is pure ε-DP (δ 0, no ρ); a Gaussian one states its ρ and δ.
        delta: float | None = _float(payload["delta"]) if "delta" in payload else 0.0
        rho = _float(payload.get("rho"))
        detail: Any = mechanisms
    else:
        section = payload.get("mechanism") or {}
        mechanism = section.get("name")
        delta, rho = _float(payload.get("delta")), _float(payload.get("rho"))
        detail = section
    facts = {
        "kind": kind,
        "id": job_id,
        "purpose": payload.get("purpose"),
        "purpose_version": payload.get("purpose_version"),
        "measure": payload.get("measure"),
        "period": payload.get("period"),
        "epsilon": _float(payload.get("epsilon")),
        "delta": delta,
        "rho": rho,
        "mechanism": mechanism,
        "mechanism_detail": detail,
        "confidence": _float(payload.get("confidence")),
        "snapshot_at": payload.get("snapshot_at"),
        "key_id": key_id,
    }
    if "reach" in payload:
        facts["reach"] = payload["reach"]
    if kind == "release" and payload.get("measure") == "top_k":
        facts["score_gap"] = (payload.get("accuracy") or {}).get("score_gap")
    return facts


def data_frame(rows: list[dict[str, Any]], attrs: dict[str, Any]):
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_pandas() needs pandas: pip install 'clearinghouse-client[pandas]' (or use to_records())") from None
    frame = pd.DataFrame.from_records(rows)
    frame.attrs.update(attrs)
    return frame
