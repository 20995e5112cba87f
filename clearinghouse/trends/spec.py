"""What a trend request means: validation, its weeks and series, the contribution bound, the
cost, and the continual-release plan.

Everything here depends only on the request, the purpose, the manufacturer, the public
taxonomy and the calendar (never on the data), so a refusal or a plan reveals nothing
about a person.

Weeks and series. ``filters.since`` and ``filters.until`` are required and widened to whole
ISO weeks (Monday 00:00 to Sunday 24:00 in ``settings.TIME_ZONE``); the last week must have
ended before the request, so no week is released half-counted. The cells are the release
engine's own (``release_plan_build`` grouped by ``["week"]`` or ``[by, "week"]``): it
validates the purpose, the measure and the filters, gives the public key set of the ``by``
dimension (one series per value) and the week buckets, and its exact bounded aggregation
(``releases.compute.aggregate_compute``) answers the counts in the plan's cell order,
series-major, weeks last.

Sensitivity. The aggregation keeps at most ``C = ReleasePlan.cells_per_consumer`` (series,
week) cells per consumer: ``max_cells_per_consumer``, never more than the cells, and with
``by`` = region (a fact about a person, one value per person per release) never more than
the weeks. Each kept cell counts 1 (``consumers``: distinct consumers) or at most
``k = max_signals_per_cell`` (``signals``). Adding or removing one person therefore
changes the (series x weeks) count matrix by ``d`` with at most ``C`` non-zero entries, each
``|d| <= k``: ``sum d^2 <= C k^2`` (``l2_sensitivity_sq`` of the continual plan), and a person
touches at most ``min(C, weeks)`` weeks of any one series (``max_weeks_per_person``). The
continual module turns that into the L2 sensitivity of its strategy (clearinghouse/trends/
continual.py, "Sensitivity"). With the shipped purpose (``C = 20``) a person may touch 20
weeks, the strategies' overlapping columns would multiply that, and ``strategy="auto"``
picks noise per week (``identity``): the gain over per-week Laplace is then the Gaussian's
L2 composition (``sqrt(C) k`` instead of ``C k``), not the tree's.

Cost. Gaussian noise is charged as zCDP ρ. From ``epsilon`` the trend takes the largest ρ
(rounded down to 1e-8) whose ε at the stated δ (``accounting.zcdp_to_epsilon``) is at most
what was asked; from ``accuracy`` the least ρ, rounded up to 1e-8, whose plan keeps every
weekly value (``"of": "weekly"``, the default) or every running total (``"of":
"running_total"``) within the half-width with probability 0.95. The ε stated and charged to
budgets is ρ→ε at δ rounded up to 0.0001 (releases/accounting.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.purposes import purpose_current
from clearinghouse.core.crypto import canonical_json, sha256_hex
from clearinghouse.core.errors import Invalid
from clearinghouse.releases import accounting
from clearinghouse.releases.accounting import rho_within, stated_epsilon
from clearinghouse.releases.plans import DIMENSION_ORDER, ReleasePlan, epsilon_text, parse_epsilon, release_plan_build
from clearinghouse.releases.reach import rho_split, rho_total_for
from clearinghouse.trends.continual import SeriesPlan, plan_for_half_width, plan_series

MEASURES = ("consumers", "signals")
REQUEST_KEYS = {"purpose", "measure", "filters", "by", "epsilon", "accuracy", "forecast_weeks"}
ACCURACY_TARGETS = ("weekly", "running_total")
MAX_WEEKS = 104
MAX_FORECAST_WEEKS = 26
SEASON_WEEKS = 52
RHO_UNIT = accounting.RHO_UNIT
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _fail(field_name: str, message: str, code: str = "invalid", **details: Any) -> Invalid:
    return Invalid(f"{field_name}: {message}", code=code, details={"field": field_name, **details})


@dataclass(frozen=True, eq=False)
class TrendSpec:
    purpose: Purpose
    measure: str
    by: str | None
    filters: dict[str, Any]  # normalised: since/until widened to whole weeks
    forecast_weeks: int
    release_plan: ReleasePlan
    series_labels: list[dict[str, str]]
    week_labels: list[str]  # ISO weeks, "2026-W23"
    week_starts: list[date]  # local Mondays
    cells_per_consumer: int
    per_cell_max: int
    rho: Decimal
    epsilon: Decimal
    accuracy: dict[str, str] | None  # {"half_width", "of"} when asked for accuracy
    plan: SeriesPlan

    @property
    def weeks(self) -> int:
        return len(self.week_labels)

    @property
    def series(self) -> int:
        return len(self.series_labels)

    @property
    def group_by(self) -> list[str]:
        return self.release_plan.group_by

    def stored(self) -> dict[str, Any]:
        """Release.spec: enough to rebuild this spec in the job (with Release.rho)."""
        return {
            "by": self.by,
            "weeks": self.weeks,
            "forecast_weeks": self.forecast_weeks,
            "strategy": self.plan.strategy,
            "accuracy": self.accuracy,
        }

    def request_document(self) -> dict[str, Any]:
        """The canonical request: what makes two trend requests 'the same' for repeats."""
        return {
            "kind": "trend",
            "purpose": self.purpose.code,
            "purpose_version": self.purpose.version,
            "measure": self.measure,
            "by": self.by,
            "filters": self.filters,
            "forecast_weeks": self.forecast_weeks,
            "rho": str(self.rho),
            "accuracy": self.accuracy,
        }

    def request_digest(self) -> str:
        return sha256_hex(canonical_json(self.request_document()))


def _rho_up(value: Decimal) -> Decimal:
    return ((value / RHO_UNIT).to_integral_value(rounding=ROUND_CEILING) * RHO_UNIT).quantize(RHO_UNIT)


def _today() -> date:
    """Today in settings.TIME_ZONE, the zone of the week buckets (the API itself speaks UTC)."""
    return timezone.now().astimezone(ZoneInfo(settings.TIME_ZONE)).date()


def _day(raw: dict, name: str) -> date:
    if name not in raw:
        raise _fail(f"filters.{name}", "required: a trend covers the whole weeks from filters.since to filters.until (YYYY-MM-DD)")
    value = raw[name]
    if not isinstance(value, str) or not _DATE.match(value):
        raise _fail(f"filters.{name}", "must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"filters.{name}", f"{value!r} is not a date") from None


def _weeks_validate(filters: Any) -> tuple[dict, date, date]:
    """filters with since/until widened to whole ISO weeks; errors name the field."""
    if not isinstance(filters, dict):
        raise _fail("filters", "required: an object with since and until (YYYY-MM-DD), and optionally category and signals")
    since, until = _day(filters, "since"), _day(filters, "until")
    if until < since:
        raise _fail("filters.until", "must not be before filters.since")
    monday = since - timedelta(days=since.weekday())
    sunday = until + timedelta(days=6 - until.weekday())
    weeks = (sunday - monday).days // 7 + 1
    if weeks > MAX_WEEKS:
        raise _fail(
            "filters.until",
            f"{weeks} weeks is more than the {MAX_WEEKS} a trend may cover; shorten the range",
            "too_many_weeks",
            max_weeks=MAX_WEEKS,
        )
    if sunday >= _today():
        raise _fail(
            "filters.until",
            f"the week of {until.isoformat()} ends on {sunday.isoformat()}, which has not passed: a trend releases whole, "
            "finished weeks only",
            "week_not_over",
        )
    return filters | {"since": monday.isoformat(), "until": sunday.isoformat()}, monday, sunday


def _forecast_weeks(body: dict) -> int:
    value = body.get("forecast_weeks", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FORECAST_WEEKS:
        raise _fail("forecast_weeks", f"must be a whole number from 0 to {MAX_FORECAST_WEEKS}")
    return value


def _accuracy(raw: Any) -> tuple[float, str]:
    if not isinstance(raw, dict) or "half_width" not in raw or set(raw) - {"half_width", "of"}:
        raise _fail("accuracy", 'must be {"half_width": H} or {"half_width": H, "of": "weekly" | "running_total"}')
    value = raw["half_width"]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _fail("accuracy.half_width", "must be a finite positive number such as 50")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _fail("accuracy.half_width", "must be a finite positive number such as 50") from None
    if not number.is_finite() or number <= 0 or number > 10**9:
        raise _fail("accuracy.half_width", "must be a finite positive number such as 50 (at most 10^9)")
    target = raw.get("of", "weekly")
    if target not in ACCURACY_TARGETS:
        raise _fail("accuracy.of", "must be 'weekly' (each week's value) or 'running_total' (the running totals)")
    return float(number), target


def _cells(*, manufacturer: Manufacturer, purpose: Purpose, measure: str, by: Any, filters: dict) -> ReleasePlan:
    """The release engine's plan of the trend's cells; its group_by complaints are about ``by``."""
    if by is not None:
        if not isinstance(by, str) or by not in DIMENSION_ORDER or by == "week":
            known = ", ".join(d for d in DIMENSION_ORDER if d != "week")
            raise _fail("by", f"must be one dimension to split the series by (one of: {known}), or left out", "unknown_dimension")
        if by not in purpose.dimensions:
            allowed = ", ".join(d for d in purpose.dimensions if d != "week")
            raise _fail("by", f"{purpose.code} does not allow grouping by {by!r} (allowed: {allowed})", "dimension_not_allowed")
    if "week" not in purpose.dimensions:
        raise _fail("purpose", f"{purpose.code} does not allow weekly series", "dimension_not_allowed")
    body: dict[str, Any] = {"purpose": purpose.code, "measure": measure, "group_by": ([by] if by else []) + ["week"], "filters": filters}
    body["epsilon"] = "1"
    try:
        return release_plan_build(manufacturer=manufacturer, purpose=purpose, body=body, purpose_code=purpose.code)
    except Invalid as exc:
        if exc.details.get("field") == "group_by":
            raise exc.renamed("by") from None
        raise


def trend_spec_build(*, manufacturer: Manufacturer, purpose: Purpose | None, body: Any, purpose_code: str) -> TrendSpec:
    """Validate a trend request (POST /trends and /trends/plan); the error names the first
    field at fault. Computes the cost from ``epsilon`` or ``accuracy``."""
    if not isinstance(body, dict):
        raise Invalid("the request must be a JSON object", code="malformed_body")
    unknown = sorted(set(body) - REQUEST_KEYS)
    if unknown:
        raise _fail(unknown[0], "unknown field (allowed: " + ", ".join(sorted(REQUEST_KEYS)) + ")")
    if purpose is None:
        raise _fail("purpose", f"no approved purpose {purpose_code!r}", "unknown_purpose")
    measure = body.get("measure")
    if not isinstance(measure, str) or measure not in MEASURES:
        raise _fail("measure", "a trend counts " + " or ".join(MEASURES))
    has_epsilon, has_accuracy = "epsilon" in body, "accuracy" in body
    if has_epsilon and has_accuracy:
        raise _fail("accuracy", "give either epsilon (what to spend) or accuracy (what you need), not both")
    if not has_epsilon and not has_accuracy:
        raise _fail("epsilon", 'required: the ε to spend, e.g. "0.5", or instead accuracy {"half_width": H}')
    epsilon_asked = parse_epsilon(body["epsilon"], maximum=purpose.max_epsilon_per_release) if has_epsilon else None
    accuracy = _accuracy(body["accuracy"]) if has_accuracy else None
    forecast_weeks = _forecast_weeks(body)
    filters, _, _ = _weeks_validate(body.get("filters"))
    release_plan = _cells(manufacturer=manufacturer, purpose=purpose, measure=measure, by=body.get("by"), filters=filters)
    return _spec(
        purpose=purpose,
        measure=measure,
        by=body.get("by"),
        release_plan=release_plan,
        forecast_weeks=forecast_weeks,
        epsilon_asked=epsilon_asked,
        accuracy=accuracy,
    )


def trend_spec_parse(*, manufacturer: Manufacturer, body: Any) -> TrendSpec:
    """``trend_spec_build`` for a raw request body (the purpose's current approved version)."""
    if not isinstance(body, dict):
        raise Invalid(
            'the request body must be a JSON object such as {"purpose": …, "measure": "consumers", '
            '"filters": {"since": …, "until": …}, "epsilon": "0.5"}',
            code="malformed_body",
        )
    purpose_code = body.get("purpose")
    if not isinstance(purpose_code, str) or not purpose_code:
        raise _fail("purpose", "required, the code of a purpose in your catalogue")
    return trend_spec_build(manufacturer=manufacturer, purpose=purpose_current(code=purpose_code), body=body, purpose_code=purpose_code)


def trend_spec_stored(*, manufacturer: Manufacturer, purpose: Purpose, measure: str, filters: dict, spec: dict, rho: Decimal) -> TrendSpec:
    """Rebuild the spec of a queued trend (the purpose version it asked for, its ρ and
    strategy). The week check is not repeated: time only moves forward."""
    release_plan = _cells(manufacturer=manufacturer, purpose=purpose, measure=measure, by=spec.get("by"), filters=filters)
    if release_plan.week_starts is None or len(release_plan.week_starts) != spec["weeks"]:
        raise _fail("filters", "the stored weeks no longer match the request")
    return _spec(
        purpose=purpose,
        measure=measure,
        by=spec.get("by"),
        release_plan=release_plan,
        forecast_weeks=int(spec.get("forecast_weeks", 0)),
        rho=rho,
        strategy=spec.get("strategy", "auto"),
        accuracy_stored=spec.get("accuracy"),
    )


def _spec(
    *,
    purpose: Purpose,
    measure: str,
    by: str | None,
    release_plan: ReleasePlan,
    forecast_weeks: int,
    epsilon_asked: Decimal | None = None,
    accuracy: tuple[float, str] | None = None,
    rho: Decimal | None = None,
    strategy: str = "auto",
    accuracy_stored: dict | None = None,
) -> TrendSpec:
    week_axis = release_plan.axes[-1]
    assert week_axis.dimensions == ("week",) and release_plan.week_starts is not None
    weeks = len(week_axis.keys)
    series_labels = [dict(codes) for codes in release_plan.axes[0].codes] if by else [{}]
    cells_per_consumer = release_plan.cells_per_consumer  # the aggregation's own bound (C, person attributes once)
    per_cell_max = 1 if measure == "consumers" else purpose.max_signals_per_cell
    shape = {
        "weeks": weeks,
        "series": len(series_labels),
        "l2_sensitivity_sq": cells_per_consumer * per_cell_max**2,
        "max_weeks_per_person": min(cells_per_consumer, weeks),
    }
    accuracy_doc = accuracy_stored
    if rho is None and epsilon_asked is not None:
        rho = rho_within(epsilon_asked)
        if rho <= 0 or rho_split(rho)[0] <= 0:
            raise _fail("epsilon", "is too small to buy any Gaussian noise at the stated δ")
    elif rho is None and accuracy is not None:
        half_width, target = accuracy
        needed = plan_for_half_width(half_width=half_width, target=target, **shape)  # type: ignore[arg-type]
        strategy = needed.strategy
        # The least ρ of the answer, plus the reach share (releases/reach.py).
        rho = rho_total_for(_least_rho(needed.rho, strategy=strategy, shape=shape, half_width=half_width, target=target))
        accuracy_doc = {"half_width": _number_text(half_width), "of": target}
        epsilon_needed = stated_epsilon(rho)
        if epsilon_needed > purpose.max_epsilon_per_release:
            best = plan_series(rho=rho_split(rho_within(purpose.max_epsilon_per_release))[0], strategy=strategy, **shape)  # type: ignore[arg-type]
            best_half = best.max_weekly_half_width if target == "weekly" else best.max_running_total_half_width
            raise _fail(
                "accuracy",
                f"±{_number_text(half_width)} on every {'weekly value' if target == 'weekly' else 'running total'} needs ε "
                f"{epsilon_text(epsilon_needed)}, more than {purpose.code} allows per release "
                f"({epsilon_text(purpose.max_epsilon_per_release)}, which gives ±{half_width_text(best_half)}); "
                "ask for a wider half-width, fewer weeks or no split",
                "accuracy_unreachable",
                epsilon_needed=epsilon_text(epsilon_needed),
                best_half_width=half_width_text(best_half),
                max_epsilon_per_release=epsilon_text(purpose.max_epsilon_per_release),
            )
    assert rho is not None
    # The series is measured with ρ less its reach share (releases/reach.py).
    plan = plan_series(rho=rho_split(rho)[0], strategy=strategy, **shape)  # type: ignore[arg-type]
    return TrendSpec(
        purpose=purpose,
        measure=measure,
        by=by,
        filters=release_plan.filters,
        forecast_weeks=forecast_weeks,
        release_plan=release_plan,
        series_labels=series_labels,
        week_labels=[codes["week"] for codes in week_axis.codes],
        week_starts=[start.date() for start in release_plan.week_starts],
        cells_per_consumer=cells_per_consumer,
        per_cell_max=per_cell_max,
        rho=rho,
        epsilon=stated_epsilon(rho),
        accuracy=accuracy_doc,
        plan=plan,
    )


def _least_rho(found: Decimal, *, strategy: str, shape: dict[str, int], half_width: float, target: str) -> Decimal:
    """The least ρ in 1e-8 units that meets the half-width: ``found`` (six significant
    digits, rounded up, from plan_for_half_width) refined by bisection below it."""

    def meets(rho: Decimal) -> bool:
        plan = plan_series(rho=rho, strategy=strategy, **shape)  # type: ignore[arg-type]
        achieved = plan.max_weekly_half_width if target == "weekly" else plan.max_running_total_half_width
        return achieved <= half_width

    high = _rho_up(found)
    low = high - _rho_up(Decimal(1).scaleb(found.adjusted() - 5))  # one step of the six digits below
    if low <= 0 or meets(low):  # pragma: no cover - plan_for_half_width returns the least at six digits
        return high
    while high - low > RHO_UNIT:
        middle = (((low + high) / 2) / RHO_UNIT).to_integral_value(rounding=ROUND_FLOOR) * RHO_UNIT
        if meets(middle):
            high = middle
        else:
            low = middle
    return high.quantize(RHO_UNIT)


def _number_text(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def half_width_text(value: float) -> str:
    """A half-width as the documents state it: rounded up to one decimal place."""
    return str((Decimal(repr(float(value))) * 10).to_integral_value(rounding=ROUND_CEILING) / 10)


def week_after(start: date, weeks: int) -> str:
    """The ISO week label ``weeks`` after the week starting ``start``."""
    day = start + timedelta(days=7 * weeks)
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"
