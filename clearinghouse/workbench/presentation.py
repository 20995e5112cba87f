"""Words, tables and CSV for the workbench: the plans, results, budgets and refusals the
services and selectors return, shown in the page's language. Nothing here decides anything
about privacy or budgets; it only reads what the signed documents, the free plans and the
services' refusals (their ``code`` and ``details``) state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from clearinghouse.api.renderers import csv_text
from clearinghouse.charts import Chart, Series, bars_with_intervals, lines_with_band, step_lines
from clearinghouse.core.errors import Conflict, DomainError, Unavailable
from clearinghouse.releases.tables import release_table
from clearinghouse.reports.tables import report_table
from clearinghouse.trends.tables import trend_table

MEASURE_WORDS = {
    "consumers": gettext_lazy("people (each counted once per cell)"),
    "signals": gettext_lazy("signals (likes, purchases, searches…)"),
    "sum_value": gettext_lazy("sum of ratings"),
    "mean_value": gettext_lazy("average rating"),
    "top_k": gettext_lazy("ranking of the most popular features"),
}
DIMENSION_WORDS = {
    "category": gettext_lazy("product category"),
    "attribute": gettext_lazy("product feature"),
    "signal": gettext_lazy("kind of signal"),
    "age_band": gettext_lazy("age band"),
    "region": gettext_lazy("region"),
    "week": gettext_lazy("week"),
}
# The axis of a chart: short, so it fits beside the plot on a phone.
MEASURE_AXIS = {
    "consumers": gettext_lazy("people"),
    "signals": gettext_lazy("signals"),
    "sum_value": gettext_lazy("sum of ratings"),
    "mean_value": gettext_lazy("average rating"),
}
KIND_WORDS = {"release": gettext_lazy("single table"), "report": gettext_lazy("report"), "trend": gettext_lazy("trend")}
STATUS_WORDS = {
    "queued": gettext_lazy("waiting"),
    "running": gettext_lazy("being computed"),
    "done": gettext_lazy("done"),
    "failed": gettext_lazy("failed (budget given back)"),
    "refused": gettext_lazy("refused (budget given back)"),
}
# Keys of a result cell that are not its coordinates.
_CELL_VALUES = {"value", "half_width", "sum", "count", "centred_sum", "consumers", "interval"}
_DIMENSION_ORDER = ("category", "attribute", "signal", "age_band", "region", "week")


def language() -> str:
    return "en" if (get_language() or settings.LANGUAGE_CODE).startswith("en") else "zh-hans"


def in_language(texts: dict | None) -> str:
    if not texts:
        return ""
    return texts.get(language()) or texts.get("zh-hans") or next(iter(texts.values()))


def words() -> dict[str, dict[str, str]]:
    return {
        "dimensions": {code: str(text) for code, text in DIMENSION_WORDS.items()},
        "measures": {code: str(text) for code, text in MEASURE_WORDS.items()},
    }


def number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


def people_figure(value: Any) -> str:
    """A noisy count of people as a figure, never below zero."""
    amount = number(value)
    return figure(max(amount, Decimal(0))) if amount is not None else figure(value)


def figure(value: Any) -> str:
    """A number as people read it: no trailing zeros, thousands not grouped (CSV-safe)."""
    amount = number(value)
    if amount is None:
        return "" if value is None else str(value)
    text = format(amount.normalize(), "f") if amount == amount.to_integral() else format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- The catalogue in words --------------------------------------------------------------


@dataclass
class Labels:
    """Code → label of every term a manufacturer's catalogue lists, in the page's language."""

    by_dimension: dict[str, dict[str, str]] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)

    def of(self, dimension: str, code: Any, *, category: str | None = None) -> str:
        if dimension == "attribute":
            found = self.attributes.get((category or "", str(code))) or self.by_dimension.get("attribute", {}).get(str(code))
            return found or str(code)
        return self.by_dimension.get(dimension, {}).get(str(code), str(code))

    def cell(
        self, cell: dict[str, Any], dimensions: list[str] | None = None, *, category_named: bool = True
    ) -> tuple[str, list[tuple[str, str, str]]]:
        """(text, [(dimension, code, label)]) of a result or plan cell. The codes keep every
        coordinate; the text leaves out the category when the question named one."""
        keys = [d for d in (dimensions or []) if d in cell] + [d for d in _DIMENSION_ORDER if d in cell and d not in (dimensions or [])]
        parts = [(d, str(cell[d]), self.of(d, cell[d], category=cell.get("category"))) for d in keys if d not in _CELL_VALUES]
        shown = [label for d, _c, label in parts if category_named or d != "category" or len(parts) == 1]
        return " · ".join(shown) or _("everyone"), parts


def labels_of(entries: list[dict[str, Any]]) -> Labels:
    labels = Labels()
    for entry in entries:
        for dimension, terms in entry["domains"].items():
            if dimension == "attribute":
                for category, attributes in terms.items():
                    for term in attributes:
                        text = in_language(term["labels"])
                        labels.attributes[(category, term["code"])] = text
                        labels.by_dimension.setdefault("attribute", {}).setdefault(term["code"], text)
            elif isinstance(terms, list):
                for term in terms:
                    labels.by_dimension.setdefault(dimension, {})[term["code"]] = in_language(term["labels"])
    return labels


def catalogue_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each purpose the manufacturer may query, ready for the page: titles and labels in
    the page's language."""
    shown = []
    for entry in entries:
        domains = entry["domains"]
        categories = [term | {"display": in_language(term["labels"])} for term in domains.get("category", [])]
        attributes = domains.get("attribute", {})
        dimensions = []
        for dimension in entry["dimensions"]:
            terms = domains.get(dimension)
            if dimension == "attribute":
                values = [
                    {"group": c["display"], "terms": [in_language(t["labels"]) for t in attributes.get(c["code"], [])]} for c in categories
                ]
            elif isinstance(terms, list):
                values = [{"group": "", "terms": [in_language(t["labels"]) for t in terms]}]
            else:
                values = [{"group": "", "terms": [str(_("every ISO week of the span you choose"))]}]
            dimensions.append({"code": dimension, "name": DIMENSION_WORDS.get(dimension, dimension), "values": values})
        entry = entry | {
            "display_title": in_language(entry["title"]),
            "display_interest": in_language(entry["legitimate_interest"]),
            "display_measures": [MEASURE_WORDS.get(m, m) for m in entry["measures"]],
            "display_dimensions": dimensions,
            "domains": domains | {"category": categories},
        }
        shown.append(entry)
    return shown


# --- Plans -------------------------------------------------------------------------------


@dataclass
class PlanRow:
    name: str
    cells: int
    half_width: str


@dataclass
class PlanSummary:
    kind: str
    cells: int
    mechanism: str
    epsilon: str
    delta: str
    rho: str
    accuracy_first: bool
    rows: list[PlanRow]
    cell_names: list[str]
    note: str
    period: str
    allocation_remaining: str | None
    allocation_after: str
    purpose_after: str
    affordable: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cells": self.cells,
            "mechanism": self.mechanism,
            "cost": {"epsilon": self.epsilon, "delta": self.delta, "rho": self.rho},
            "tables": [{"name": r.name, "cells": r.cells, "half_width": r.half_width} for r in self.rows],
            "budget_after": {
                "period": self.period,
                "allocation_remaining_after": self.allocation_after,
                "purpose_remaining_after": self.purpose_after,
                "affordable": self.affordable,
            },
        }


MECHANISM_WORDS = {
    "discrete_laplace": gettext_lazy("discrete Laplace noise (pure ε-DP)"),
    "discrete_gaussian": gettext_lazy("discrete Gaussian noise (zCDP)"),
    "exponential": gettext_lazy("the exponential mechanism (pure ε-DP)"),
    "residual_planner_discrete_gaussian": gettext_lazy("ResidualPlanner with discrete Gaussian noise (zCDP)"),
    "continual_release_factorisation": gettext_lazy("continual release with discrete Gaussian noise (zCDP)"),
}


def _mechanism_name(plan: dict[str, Any]) -> str:
    mechanism = plan.get("mechanism")
    name = mechanism.get("name") if isinstance(mechanism, dict) else None
    if name is None and plan.get("mechanisms"):
        name = plan["mechanisms"][0].get("name")
    return str(MECHANISM_WORDS.get(str(name), name or ""))


def plan_summary(*, kind: str, plan: dict[str, Any], labels: Labels, allocation_remaining: str | None = None) -> PlanSummary:
    """The free plan of any kind of job, in one shape for the page and its JSON."""
    rows: list[PlanRow] = []
    cell_names: list[str] = []
    note = ""
    dimension_words = words()["dimensions"]
    if kind == "report":
        for marginal in plan.get("marginals", []):
            name = " × ".join(dimension_words.get(d, d) for d in marginal["dimensions"]) or _("total")
            rows.append(PlanRow(name=name, cells=marginal["cell_count"], half_width=figure(marginal["half_width"])))
        cells = sum(row.cells for row in rows)
        cost = plan["cost"]
        budget = plan["budget"]
        after, purpose_after, affordable = (
            budget["allocation"]["remaining_after"],
            budget["purpose"]["remaining_after"],
            budget["affordable"],
        )
        allocation_remaining = budget["allocation"]["remaining"]
        period = budget["period"]
    elif kind == "trend":
        accuracy = plan.get("accuracy") or {}
        series = max(1, len(plan.get("series") or [{}]))
        rows.append(
            PlanRow(
                name=_("each weekly value"),
                cells=len(plan.get("weeks", [])) * series,
                half_width=figure(accuracy.get("max_weekly_half_width")),
            )
        )
        rows.append(
            PlanRow(
                name=_("the running total at the last week"),
                cells=series,
                half_width=figure(accuracy.get("max_running_total_half_width")),
            )
        )
        cells = plan.get("cells", 0)
        cost = plan["cost"]
        budget = plan["budget"]
        after, purpose_after, affordable = (
            budget["allocation"]["remaining_after"],
            budget["purpose"]["remaining_after"],
            budget["affordable"],
        )
        allocation_remaining = budget["allocation"]["remaining"]
        period = budget["period"]
        if plan.get("forecast_weeks"):
            note = _("The forecast is computed from the released weeks only: it costs nothing more.")
    else:
        accuracy = plan.get("accuracy") or {}
        cells = plan.get("cells", 0)
        name = " × ".join(dimension_words.get(d, d) for d in plan.get("group_by", [])) or _("total")
        if "half_width" in accuracy:
            rows.append(PlanRow(name=name, cells=cells, half_width=figure(accuracy["half_width"])))
        elif "sum_half_width" in accuracy:
            rows.append(PlanRow(name=name, cells=cells, half_width=""))
            note = _("An average's interval depends on how many people answered; each cell's interval (95%) is stated with the result.")
        else:
            rows.append(PlanRow(name=name, cells=cells, half_width=""))
            note = _(
                "A ranking has no ± per cell: with 95%% probability each ranked feature is at most %(gap)s people behind the true one in its place."
            ) % {"gap": figure(accuracy.get("score_gap"))}
        cell_names = [labels.cell(cell, plan.get("group_by"))[0] for cell in (plan.get("cell_labels") or [])[:50]]
        cost = plan["cost"]
        budget = plan["budget_after"]
        after, purpose_after, affordable = (
            budget["allocation_remaining_after"],
            budget["purpose_remaining_after"],
            budget["affordable"],
        )
        period = budget["period"]
    return PlanSummary(
        kind=kind,
        cells=cells,
        mechanism=_mechanism_name(plan),
        epsilon=figure(cost.get("epsilon")),
        delta=str(cost.get("delta", "0")),
        rho=figure(cost.get("rho")),
        accuracy_first=bool(plan.get("accuracy_first")),
        rows=rows,
        cell_names=cell_names,
        note=note,
        period=period,
        allocation_remaining=figure(allocation_remaining) if allocation_remaining is not None else None,
        allocation_after=figure(after),
        purpose_after=figure(purpose_after),
        affordable=affordable,
    )


# --- Results -------------------------------------------------------------------------------


@dataclass
class ResultRow:
    name: str
    codes: list[tuple[str, str, str]]
    value: str
    half_width: str
    low: str
    high: str
    week: str = ""
    forecast: bool = False


@dataclass
class ResultTable:
    title: str
    dimensions: list[str]
    rows: list[ResultRow]
    kind: str = "bars"  # "bars", "lines" (a trend series) or "ranking"
    chart: Any = None


def _bounds(value: Any, half_width: Any) -> tuple[str, str]:
    amount, half = number(value), number(half_width)
    if amount is None or half is None:
        return "", ""
    return figure(amount - half), figure(amount + half)


def _cell_rows(cells: list[dict[str, Any]], dimensions: list[str], labels: Labels, *, one_category: bool) -> list[ResultRow]:
    rows = []
    for cell in cells:
        name, codes = labels.cell(cell, dimensions, category_named=not one_category or "category" in dimensions)
        if "interval" in cell:  # an average: its own 95% interval
            low, high = (figure(v) for v in cell["interval"])
            rows.append(ResultRow(name=name, codes=codes, value=figure(cell.get("value")), half_width="", low=low, high=high))
        else:
            low, high = _bounds(cell.get("value"), cell.get("half_width"))
            rows.append(
                ResultRow(
                    name=name, codes=codes, value=figure(cell.get("value")), half_width=figure(cell.get("half_width")), low=low, high=high
                )
            )
    return rows


def result_tables(*, payload: dict[str, Any], labels: Labels) -> list[ResultTable]:
    """The signed result as tables of rows (one per cell), ready for a chart and a table."""
    dimension_words = words()["dimensions"]
    kind = payload.get("kind", "release")
    one_category = bool((payload.get("filters") or {}).get("category"))
    tables: list[ResultTable] = []
    if kind == "report":
        for marginal in payload.get("marginals", []):
            dims = marginal["dimensions"]
            title = " × ".join(dimension_words.get(d, d) for d in dims) or _("total")
            tables.append(
                ResultTable(title=title, dimensions=dims, rows=_cell_rows(marginal["cells"], dims, labels, one_category=one_category))
            )
    elif kind == "trend":
        for series in payload.get("series", []):
            name, codes = labels.cell(
                {k: v for k, v in series.items() if k not in ("weeks", "forecast")},
                [payload["by"]] if payload.get("by") else None,
                category_named=not one_category,
            )
            rows = []
            for week in series["weeks"]:
                low, high = _bounds(week["value"], week["half_width"])
                rows.append(
                    ResultRow(
                        name=name,
                        codes=codes,
                        week=week["week"],
                        value=figure(week["value"]),
                        half_width=figure(week["half_width"]),
                        low=low,
                        high=high,
                    )
                )
            for week in (series.get("forecast") or {}).get("weeks", []):
                low, high = (figure(v) for v in week["interval_95"])
                rows.append(
                    ResultRow(
                        name=name,
                        codes=codes,
                        week=week["week"],
                        value=figure(week["value"]),
                        half_width="",
                        low=low,
                        high=high,
                        forecast=True,
                    )
                )
            tables.append(ResultTable(title=name, dimensions=[d for d, _c, _l in codes], rows=rows, kind="lines"))
    elif payload.get("measure") == "top_k":
        category = payload.get("category")
        rows = [
            ResultRow(
                name=labels.of("attribute", item["attribute"], category=category),
                codes=[("attribute", item["attribute"], labels.of("attribute", item["attribute"], category=category))],
                value=str(item["rank"]),
                half_width="",
                low="",
                high="",
            )
            for item in payload.get("ranking", [])
        ]
        tables.append(ResultTable(title=_("Most popular features, best first"), dimensions=["attribute"], rows=rows, kind="ranking"))
    else:
        dims = payload.get("group_by", [])
        title = " × ".join(dimension_words.get(d, d) for d in dims) or _("total")
        tables.append(
            ResultTable(title=title, dimensions=dims, rows=_cell_rows(payload.get("cells", []), dims, labels, one_category=one_category))
        )
    return tables


def privacy_words(payload: dict[str, Any]) -> str:
    epsilon = figure(payload.get("epsilon"))
    delta = payload.get("delta")
    if delta and number(delta) not in (None, Decimal(0)):
        return _(
            "This answer cost ε = %(epsilon)s with δ = %(delta)s: whether or not any one person's data was used changes the "
            "chance of any answer by at most a factor of e^%(epsilon)s, except with probability %(delta)s."
        ) % {"epsilon": epsilon, "delta": delta}
    return _(
        "This answer cost ε = %(epsilon)s (δ = 0): whether or not any one person's data was used changes the chance of any "
        "answer by at most a factor of e^%(epsilon)s."
    ) % {"epsilon": epsilon}


def reach_words(payload: dict[str, Any]) -> str:
    """The document's reach (issue 11) in words: how many eligible people the answer covers
    and how many were left out at their privacy limit, each ± its 95% half-width; "" for a
    document without one."""
    reach = payload.get("reach")
    if not isinstance(reach, dict) or not isinstance(reach.get("covered"), dict):
        return ""
    covered, left_out = reach["covered"], reach.get("left_out") or {}
    # A noisy count can come out below zero; shown as a count of people it reads as nonsense.
    # Clamping is post-processing of the released figure and costs no privacy; the signed
    # document keeps the value as drawn.
    text = _(
        "Reach: about %(covered)s ± %(covered_hw)s of the eligible people are counted in this answer; about "
        "%(left_out)s ± %(left_out_hw)s were left out because they had reached their privacy limit."
    ) % {
        "covered": people_figure(covered.get("value")),
        "covered_hw": figure(covered.get("half_width")),
        "left_out": people_figure(left_out.get("value")),
        "left_out_hw": figure(left_out.get("half_width")),
    }
    fraction = number(reach.get("covered_fraction"))
    if fraction is not None:
        percent = min(max(fraction, Decimal(0)), Decimal(1)) * 100
        text += " " + _("That is about %(percent)s%% of them.") % {"percent": figure(percent.quantize(Decimal("0.1")))}
    return text


def result_csv(*, payload: dict[str, Any]) -> bytes:
    """The answer's CSV, exactly as the API gives it with ``?format=csv`` (one row per cell,
    codes and labels in the page's language, UTF-8 with a BOM): the same table builders."""
    builders = {"report": report_table, "trend": trend_table}
    table = builders.get(payload.get("kind", "release"), release_table)(document=payload, language=language())
    return csv_text(table).encode("utf-8")


# --- The budget over the period -------------------------------------------------------------


def period_days(period: str, *, today: date | None = None) -> list[date]:
    """The days of a budget period (a calendar month) up to today."""
    year, month = (int(part) for part in period.split("-"))
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = min(following - timedelta(days=1), today or timezone.localdate())
    return [first + timedelta(days=n) for n in range((last - first).days + 1)] or [first]


def spending_by_day(*, jobs: list[Any], days: list[date]) -> list[Decimal]:
    """Cumulative ε held or spent at the end of each day, by the jobs that still hold it
    (a failed or refused job was refunded)."""
    totals = []
    for day in days:
        totals.append(
            sum(
                (
                    job.epsilon
                    for job in jobs
                    if job.status in ("queued", "running", "done") and timezone.localtime(job.created_at).date() <= day
                ),
                Decimal(0),
            )
        )
    return totals


# --- Charts (clearinghouse.charts draws them; the tables above are their text) ---------------


def _float(text: str) -> float | None:
    amount = number(text)
    return float(amount) if amount is not None and text != "" else None


def tables_charted(*, tables: list[ResultTable], value_label: str) -> list[ResultTable]:
    """Give each table its chart: bars with 95% error bars for cells, a line with its band
    (and a dashed forecast with a lighter band) for a trend's series. A ranking has no
    values to draw and keeps its table only."""
    for table in tables:
        if table.kind == "bars" and table.rows:
            table.chart = bars_with_intervals(
                title=table.title,
                description=_("Each bar is an estimate; the error bar is its 95%% interval.") % {},
                categories=[row.name for row in table.rows],
                values=[_float(row.value) or 0.0 for row in table.rows],
                lows=[_float(row.low) or 0.0 for row in table.rows],
                highs=[_float(row.high) or 0.0 for row in table.rows],
                value_label=value_label,
            )
        elif table.kind == "lines" and table.rows:
            weeks = [row.week for row in table.rows]
            released = [not row.forecast for row in table.rows]

            def part(values: list[float | None], keep: list[bool]) -> list[float | None]:
                return [value if kept else None for value, kept in zip(values, keep, strict=True)]

            values = [_float(row.value) for row in table.rows]
            lows = [_float(row.low) for row in table.rows]
            highs = [_float(row.high) for row in table.rows]
            series = [Series(label=_("released"), values=part(values, released), lows=part(lows, released), highs=part(highs, released))]
            if not all(released):
                ahead = [not kept for kept in released]
                series.append(
                    Series(label=_("forecast"), values=part(values, ahead), lows=part(lows, ahead), highs=part(highs, ahead), forecast=True)
                )
            table.chart = lines_with_band(
                title=table.title,
                description=_("Weekly estimates with their 95%% band; the dashed line is the forecast with its lighter 95%% band.") % {},
                x_labels=weeks,
                series=series,
                value_label=value_label,
                x_label=_("week"),
            )
    return tables


def budget_chart(*, title: str, days: list[date], spent: list[Decimal], allocated: Decimal) -> Chart:
    return step_lines(
        title=title,
        description=_("ε used by the end of each day of the month, against your allocation."),
        x_labels=[day.isoformat() for day in days],
        series=[Series(label=_("ε used"), values=[float(total) for total in spent])],
        value_label="ε",
        limit=float(allocated),
        limit_label=_("your allocation"),
        x_label=_("day"),
    )


# --- A service's refusal in words -------------------------------------------------------------
#
# The services refuse with a stable ``code`` and ``details`` (clearinghouse/core/errors.py);
# their ``message`` is English written for API clients and is never shown here. Each refusal
# an analyst can meet in the workbench has its words below, built from the code and the
# details, and from the purpose's limits in the catalogue or the cost of the plan on the page
# where the details leave a figure out; any other refusal falls back to a sentence naming the
# field at fault. tests/workbench/test_refusals.py checks that every code here reads in both
# languages.

_DATES_RULE = gettext_lazy("Check the dates: a trend needs both, and “Until” must not be before “From”.")
# What a field of the question form takes, for a refusal coded only "invalid": the rules of
# the field in general, true whichever of them the request broke. Fields without a rule are
# named by their label on the form.
FIELD_RULES = {
    "epsilon": gettext_lazy(
        "The privacy cost ε was not accepted: give a positive number with at most 4 decimal places, such as 0.5. "
        "A very small ε cannot pay for an answer."
    ),
    "half_width": gettext_lazy("The precision ± was not accepted: give a positive number such as 20 (a whole number for a single table)."),
    "since": _DATES_RULE,
    "until": _DATES_RULE,
    "k": gettext_lazy("“How many to rank” must be a whole number no larger than the number of features of the category."),
    "category": gettext_lazy("Choose one product category: a ranking ranks the features of exactly one."),
    "dimensions": gettext_lazy("A ranking ranks the features of one category: leave every “Split by” box unticked."),
    "tables": gettext_lazy("Tick at least one table."),
}


def amount_words(value: Any) -> str:
    """A number from a refusal as the page's language writes it: 42,840 in English, 42840
    in Chinese; 1, not 1.0000."""
    amount = number(value)
    if amount is None:
        return "" if value is None else str(value)
    return number_format(Decimal(figure(amount)), force_grouping=True)


def month_words(period: Any) -> str:
    """A budget period "2026-12" as the page's language names the month."""
    try:
        year, month = (int(part) for part in str(period).split("-"))
        return date_format(date(year, month, 1), "YEAR_MONTH_FORMAT")
    except ValueError:
        return str(period)


def _sentences(*parts: str) -> str:
    """Sentences one after another: a space between English ones, none between Chinese."""
    return ("" if language() == "zh-hans" else " ").join(part for part in parts if part)


def _field_of(details: dict[str, Any]) -> str:
    return str(details.get("field") or "").split("[", 1)[0]


def field_words(field: str | None, label: str | None) -> str:
    """The general sentence for a refusal of the form's ``field`` (labelled ``label``)."""
    if field in FIELD_RULES:
        return str(FIELD_RULES[field])
    if label:
        return _("“%(field)s” was not accepted: check it and try again.") % {"field": label}
    return _("The clearinghouse did not accept this question: check your choices and try again.")


def _accuracy_unreachable(facts: dict[str, Any]) -> str:
    needed, maximum, best = facts.get("epsilon_needed"), facts.get("max_epsilon_per_release"), facts.get("best_half_width")
    advice = _("Ask for a wider ±, or for fewer cells.")
    if needed is None:
        return _sentences(_("That precision is out of reach within the ε this purpose allows per question."), advice)
    if maximum is None:
        first = _("Out of reach: that precision needs ε %(needed)s, more than this purpose allows per question.") % {
            "needed": amount_words(needed)
        }
    else:
        first = _("Out of reach: that precision needs ε %(needed)s, more than the ε %(maximum)s this purpose allows per question.") % {
            "needed": amount_words(needed),
            "maximum": amount_words(maximum),
        }
    most = _("The most it allows gives ± %(best)s.") % {"best": amount_words(best)} if best is not None else ""
    return _sentences(first, most, advice)


def _epsilon_too_large(facts: dict[str, Any]) -> str:
    maximum = facts.get("max_epsilon_per_release")
    if maximum is None:
        return _("This ε is more than this purpose allows per question.")
    return _("This ε is more than this purpose allows per question: at most ε %(maximum)s.") % {"maximum": amount_words(maximum)}


def _too_many_cells(facts: dict[str, Any]) -> str:
    cells, maximum = facts.get("cells"), facts.get("max_cells")
    advice = _("Split by fewer things, or choose one product category.")
    if cells is not None and maximum is not None:
        first = _("This question has %(cells)s cells, more than the %(maximum)s one answer may have.") % {
            "cells": amount_words(cells),
            "maximum": amount_words(maximum),
        }
    elif maximum is not None:
        first = _("This question has more cells than the %(maximum)s one answer may have.") % {"maximum": amount_words(maximum)}
    else:
        first = _("This question has more cells than one answer may have.")
    return _sentences(first, advice)


def _too_many_weeks(facts: dict[str, Any]) -> str:
    if facts.get("max_weeks") is None:
        return _("This span has more weeks than one trend may cover: shorten it.")
    return _("A trend may cover at most %(weeks)s weeks: shorten the span from “From” to “Until”.") % {
        "weeks": amount_words(facts["max_weeks"])
    }


def _dimension_not_allowed(facts: dict[str, Any]) -> str:
    if _field_of(facts) == "purpose":
        return _("This purpose has no weekly figures: choose another purpose for a trend.")
    return _("This purpose does not allow that split: choose another.")


def _budget_exhausted(facts: dict[str, Any]) -> str:
    remaining, period = facts.get("remaining"), facts.get("period")
    if remaining is None or period is None or facts.get("scope") not in ("allocation", "purpose"):
        first = _("Not run: not enough budget left.")
    elif facts["scope"] == "allocation":
        first = _("Not run: your allocation for %(month)s has ε %(remaining)s left.") % {
            "month": month_words(period),
            "remaining": amount_words(remaining),
        }
    else:
        first = _("Not run: this purpose's cap for all manufacturers together has ε %(remaining)s left for %(month)s.") % {
            "month": month_words(period),
            "remaining": amount_words(remaining),
        }
    asked = facts.get("epsilon")
    costs = _("This question costs ε %(cost)s.") % {"cost": amount_words(asked)} if asked is not None else ""
    return _sentences(first, costs, _("Nothing was spent: ask for less precision or fewer cells."))


REFUSALS: dict[str, Callable[[dict[str, Any]], str]] = {
    # Planning and running: the request services' refusals (400).
    "accuracy_unreachable": _accuracy_unreachable,
    "accuracy_unsupported": lambda facts: _(
        "Choosing the precision works for counts and sums: for an average or a ranking, choose the privacy cost ε instead."
    ),
    "epsilon_too_large": _epsilon_too_large,
    "too_many_cells": _too_many_cells,
    "too_many_weeks": _too_many_weeks,
    "week_not_over": lambda facts: _("A trend counts whole weeks that are over: choose an “Until” date in a week that has already ended."),
    "dimension_not_allowed": _dimension_not_allowed,
    "category_with_attribute": lambda facts: _(
        "A report split by product feature cannot also have a table by product category alone (each feature already "
        "names its category): ask for that table in a report of its own."
    ),
    "duplicate_marginal": lambda facts: _(
        "Two of the tables you ticked are the same table (a product feature already names its category): keep one."
    ),
    "single_value_dimension": lambda facts: _(
        "One table is split by something that has a single value under your choices (such as the product category "
        "when you chose one): leave that table out."
    ),
    "purpose_not_authorised": lambda facts: _(
        "Your company's sectors are not among the recipients of this purpose: choose another purpose."
    ),
    "unknown_purpose": lambda facts: _("This purpose is no longer approved: reload the page to see what you may ask now."),
    # Running: the budgets (409) and the job queue (503).
    "budget_exhausted": _budget_exhausted,
    "broker_unavailable": lambda facts: _("The job queue cannot be reached right now; nothing was spent. Try again in a minute."),
}


def refusal_words(error: DomainError, *, limits: dict[str, Any] | None = None, field: str | None = None, label: str | None = None) -> str:
    """A service's refusal as the workbench says it, in the page's language. ``limits`` are
    the purpose's limits from the catalogue, filling in what the refusal's details leave out
    (the details win); ``field`` and ``label`` are the form's field the refusal names."""
    facts = {**(limits or {}), **error.details}
    build = REFUSALS.get(error.code)
    if build is not None:
        return str(build(facts))
    if isinstance(error, Conflict):
        return _("Not run: the clearinghouse refused this question. Nothing was spent.")
    if isinstance(error, Unavailable):
        return _("The clearinghouse cannot take this question right now; nothing was spent. Try again in a minute.")
    return field_words(field, label)
