"""What a release request means: validation, the public key set of its cells, and the
DP parameters that follow from the purpose's bounds.

Everything here depends only on the request, the purpose, the manufacturer and the
public taxonomy, never on the data: a refusal can therefore never reveal anything about
a person.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.taxonomy import TaxonomyIndex, taxonomy_index
from clearinghouse.core.crypto import canonical_json, sha256_hex
from clearinghouse.core.errors import Invalid

DIMENSION_ORDER = ("category", "attribute", "signal", "age_band", "region", "week")
MEASURES = ("consumers", "signals", "sum_value", "mean_value", "top_k")
VALUE_MEASURES = ("sum_value", "mean_value")
# Facts about a person rather than about a signal: one value per person per release.
PERSON_ATTRIBUTES = frozenset({"age_band", "region"})
FILTER_KEYS = ("category", "signals", "since", "until")
REQUEST_KEYS = {"purpose", "measure", "filters", "group_by", "epsilon", "k"}
EPSILON_QUANTUM = Decimal("0.0001")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _fail(field_name: str, message: str, code: str = "invalid", **details: Any) -> Invalid:
    return Invalid(f"{field_name}: {message}", code=code, details={"field": field_name, **details})


def covered(path: str, prefixes: list[str]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def queryable_categories(*, manufacturer: Manufacturer, purpose: Purpose, index: TaxonomyIndex) -> list[int]:
    """Categories (taxonomy order) inside both the manufacturer's sectors and the purpose's
    recipient sectors: a manufacturer learns nothing about anyone else's market."""
    return [
        term_id
        for path, term_id in index.categories.items()
        if covered(path, manufacturer.sectors) and covered(path, purpose.recipient_sectors)
    ]


def mean_scale(max_signals_per_cell: int) -> int:
    """The integer unit of a consumer's mean in a cell for ``mean_value``: a mean of at most
    S whole values is a whole multiple of 1/lcm(1..S), so lcm(1..S) times it is exact."""
    return math.lcm(*range(1, max(1, max_signals_per_cell) + 1))


def epsilon_text(value: Decimal | int) -> str:
    return str(Decimal(value).quantize(EPSILON_QUANTUM))


def parse_epsilon(value: Any, *, field_name: str = "epsilon", maximum: Decimal | None = None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _fail(field_name, "must be a positive number such as 0.5 (a decimal string is best)")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _fail(field_name, "must be a positive number such as 0.5") from None
    if not number.is_finite():
        raise _fail(field_name, "must be a finite positive number such as 0.5")
    if number <= 0:
        raise _fail(field_name, "must be greater than 0")
    if number.adjusted() >= 6:  # quantizing 1e308 to 4 places would overflow the context
        raise _fail(field_name, "must be less than 1000000", "epsilon_too_large")
    if number != number.quantize(EPSILON_QUANTUM):
        raise _fail(field_name, "may have at most 4 decimal places")
    if maximum is not None and number > maximum:
        raise _fail(
            field_name,
            f"{epsilon_text(number)} is more than this purpose allows per release ({epsilon_text(maximum)})",
            "epsilon_too_large",
        )
    return number.quantize(EPSILON_QUANTUM)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


@dataclass(frozen=True)
class Axis:
    """One factor of the cell cross product: the dimensions it covers and its ordered keys
    (tuples of term ids, or week numbers), with their public codes."""

    dimensions: tuple[str, ...]
    keys: tuple[tuple[int, ...], ...]
    codes: tuple[dict[str, str], ...]


@dataclass
class ReleasePlan:
    purpose: Purpose
    manufacturer: Manufacturer
    measure: str
    group_by: list[str]
    filters: dict[str, Any]
    epsilon: Decimal
    k: int | None
    categories: list[int]  # the categories in scope, after filters and sectors
    attributes: list[int] | None  # attribute ids in scope (top_k, or when grouped)
    signals: list[int] | None  # signal kinds in scope when filtered
    since: datetime | None
    until: datetime | None  # exclusive
    week_starts: list[datetime] | None  # local Mondays 00:00, the 'week' domain
    axes: list[Axis] = field(default_factory=list)
    taxonomy_version: str = ""
    # Zero for discrete Laplace; for a discrete Gaussian answer its zCDP ρ, and ``epsilon``
    # is then what ρ states at the one δ (document.mechanism_choose decides, per request).
    rho: Decimal = Decimal(0)
    # A discrete Laplace answer sized to the same share of the person cap as its Gaussian
    # rival: the ε each person is charged (less than ``epsilon``, what budgets are charged).
    # None: people are charged ``epsilon``.
    person_epsilon: Decimal | None = None

    @property
    def charge_epsilon(self) -> Decimal:
        """The ε of one person's charge for a pure answer, reach share included."""
        return self.person_epsilon if self.person_epsilon is not None else self.epsilon

    @property
    def value_bounds(self) -> tuple[int, int]:
        """The purpose's (min, max) value, which a value measure clamps to."""
        low, high = self.purpose.value_min, self.purpose.value_max
        # plan_build refuses a value measure of a purpose without bounds, and purposes set both or neither.
        if low is None or high is None:
            raise ValueError(f"purpose {self.purpose.code} has no value bounds, which measure {self.measure} needs")
        return low, high

    @property
    def cell_count(self) -> int:
        count = 1
        for axis in self.axes:
            count *= len(axis.keys)
        return count

    @property
    def columns(self) -> list[str]:
        """Signal columns the cells are keyed by, in axis order."""
        return [dimension for axis in self.axes for dimension in axis.dimensions]

    def cell_index(self) -> dict[tuple, int]:
        """Key tuple (one value per column) -> position in the released vector."""
        index = {}
        for position, combination in enumerate(itertools.product(*(axis.keys for axis in self.axes))):
            index[tuple(value for key in combination for value in key)] = position
        return index

    def cell_labels(self) -> list[dict[str, str]]:
        return [
            {name: code for part in combination for name, code in part.items()}
            for combination in itertools.product(*(axis.codes for axis in self.axes))
        ]

    def request_document(self) -> dict[str, Any]:
        """The canonical request: what makes two requests 'the same' for repeats."""
        return {
            "purpose": self.purpose.code,
            "purpose_version": self.purpose.version,
            "measure": self.measure,
            "group_by": self.group_by,
            "filters": self.filters,
            "epsilon": epsilon_text(self.epsilon),
            "k": self.k,
        }

    def request_digest(self) -> str:
        return sha256_hex(canonical_json(self.request_document()))

    @property
    def cells_per_consumer(self) -> int:
        """How many cells one consumer can reach after bounding: at most C, and never more
        than the cells of the dimensions that are not facts about a person. Age band and
        region are counted once per person per release (compute.py picks one value of each
        per person by a keyed hash), so grouping by them alone puts a person in one cell."""
        other = 1
        for axis in self.axes:
            if not set(axis.dimensions) <= PERSON_ATTRIBUTES:
                other *= len(axis.keys)
        return max(1, min(self.purpose.max_cells_per_consumer, other))

    @property
    def rows_per_consumer(self) -> int:
        """Rows one consumer can add after bounding: one per cell for distinct-consumer
        counts, up to S per cell for signal counts and sums."""
        cells = self.cells_per_consumer
        if self.measure in ("consumers", "top_k"):
            return cells
        return cells * self.purpose.max_signals_per_cell


def _filters_validate(
    raw: Any, *, purpose: Purpose, allowed: list[int], index: TaxonomyIndex
) -> tuple[dict, list[int], list[int] | None, date | None, date | None]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail("filters", "must be an object with any of: " + ", ".join(FILTER_KEYS))
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise _fail(f"filters.{unknown[0]}", "unknown filter (allowed: " + ", ".join(FILTER_KEYS) + ")")
    normalised: dict[str, Any] = {}
    categories = list(allowed)
    if "category" in raw:
        value = raw["category"]
        if not isinstance(value, str) or not value:
            raise _fail("filters.category", "must be a category path or prefix such as 'furniture' or 'furniture/office-chair'")
        matching = index.categories_with_prefix(value)
        if not matching:
            raise _fail("filters.category", f"{value!r} matches no category of the taxonomy", "unknown_category")
        outside = [term for term in matching if term not in allowed]
        if outside:
            raise _fail(
                "filters.category",
                f"{value!r} reaches beyond the categories you may query for this purpose",
                "category_not_authorised",
            )
        normalised["category"] = value
        categories = [term for term in allowed if term in matching]
    signals = None
    if "signals" in raw:
        value = raw["signals"]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise _fail("filters.signals", 'must be a non-empty list of signal kinds, e.g. ["purchase", "wishlist"]')
        unknown_kinds = [v for v in value if v not in index.signals]
        if unknown_kinds:
            raise _fail("filters.signals", f"unknown signal kind {unknown_kinds[0]!r} (known: {', '.join(index.signals)})")
        wanted = set(value)
        codes = [code for code in index.signals if code in wanted]
        normalised["signals"] = codes
        signals = [index.signals[code] for code in codes]
    days: dict[str, date] = {}
    for name in ("since", "until"):
        if name in raw:
            value = raw[name]
            if "occurred_at" not in purpose.fields:
                raise _fail(f"filters.{name}", "this purpose does not collect when a signal occurred", "not_collected")
            if not isinstance(value, str) or not _DATE.match(value):
                raise _fail(f"filters.{name}", "must be a date YYYY-MM-DD")
            try:
                days[name] = date.fromisoformat(value)
            except ValueError:
                raise _fail(f"filters.{name}", f"{value!r} is not a date") from None
            normalised[name] = value
    if "since" in days and "until" in days and days["until"] < days["since"]:
        raise _fail("filters.until", "must not be before filters.since")
    return normalised, categories, signals, days.get("since"), days.get("until")


def release_plan_build(*, manufacturer: Manufacturer, purpose: Purpose | None, body: Any, purpose_code: str | None = None) -> ReleasePlan:
    """Validate a request body against the purpose (its current approved version) and
    the manufacturer's authorisation; the error names the first field at fault."""
    if not isinstance(body, dict):
        raise Invalid("the request must be a JSON object")
    unknown = sorted(set(body) - REQUEST_KEYS)
    if unknown:
        raise _fail(unknown[0], "unknown field (allowed: " + ", ".join(sorted(REQUEST_KEYS)) + ")")
    index = taxonomy_index()
    if purpose is None:
        raise _fail("purpose", f"no approved purpose {purpose_code!r}", "unknown_purpose")
    allowed = queryable_categories(manufacturer=manufacturer, purpose=purpose, index=index)
    if not allowed:
        raise _fail("purpose", f"your sectors are not among the recipients of {purpose.code}", "purpose_not_authorised")

    measure = body.get("measure")
    if not isinstance(measure, str) or measure not in MEASURES:
        raise _fail("measure", "must be one of " + ", ".join(MEASURES))
    if measure not in purpose.measures:
        raise _fail("measure", f"{purpose.code} allows only " + ", ".join(purpose.measures), "measure_not_allowed")
    if measure in VALUE_MEASURES and ("value" not in purpose.fields or purpose.value_min is None):
        raise _fail("measure", f"{purpose.code} does not collect values", "measure_not_allowed")

    group_by = body.get("group_by", [])
    if group_by is None:
        group_by = []
    if not isinstance(group_by, list) or not all(isinstance(d, str) for d in group_by):
        raise _fail("group_by", "must be a list of dimensions")
    if len(set(group_by)) != len(group_by):
        raise _fail("group_by", "lists a dimension twice")
    for dimension in group_by:
        if dimension not in DIMENSION_ORDER:
            raise _fail("group_by", f"unknown dimension {dimension!r} (known: {', '.join(DIMENSION_ORDER)})")
        if dimension not in purpose.dimensions:
            raise _fail(
                "group_by",
                f"{purpose.code} does not allow grouping by {dimension!r} (allowed: {', '.join(purpose.dimensions)})",
                "dimension_not_allowed",
            )
    group_by = [d for d in DIMENSION_ORDER if d in group_by]

    filters, categories, signals, since, until = _filters_validate(body.get("filters"), purpose=purpose, allowed=allowed, index=index)
    epsilon = parse_epsilon(body.get("epsilon"), maximum=purpose.max_epsilon_per_release) if "epsilon" in body else None
    if epsilon is None:
        raise _fail("epsilon", 'required: the ε this release may spend, e.g. "0.5"')

    # 0.0001 of every ε pays for the answer's reach (releases/reach.py) at the least.
    if epsilon < Decimal("0.0002"):
        raise _fail("epsilon", "at least 0.0002: a share of every release pays for its reach")
    if measure == "mean_value" and epsilon < Decimal("0.0003"):
        raise _fail("epsilon", "mean_value spends half on the sum and half on the count, after the reach share: give at least 0.0003")

    k = body.get("k")
    attributes = None
    if measure == "top_k":
        if "attribute" not in purpose.fields:
            raise _fail("measure", f"{purpose.code} does not collect attributes", "measure_not_allowed")
        if group_by:
            raise _fail("group_by", "top_k ranks the attributes of one category: leave group_by empty")
        if len(categories) != 1 or "category" not in filters:
            raise _fail("filters.category", "top_k needs filters.category naming exactly one category, e.g. 'furniture/office-chair'")
        attributes = index.attributes_of(categories[0])
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(attributes):
            raise _fail("k", f"must be a whole number from 1 to {len(attributes)} (the attributes of this category)")
    elif k is not None:
        raise _fail("k", "applies only to measure top_k")

    week_starts = None
    since_at = _local_midnight(since) if since else None
    until_at = _local_midnight(until + timedelta(days=1)) if until else None
    if "week" in group_by:
        if since is None or until is None:
            raise _fail("filters.since", "grouping by week needs filters.since and filters.until to bound the weeks", "week_needs_range")
        monday = since - timedelta(days=since.weekday())
        week_starts = []
        while monday <= until:
            week_starts.append(_local_midnight(monday))
            monday += timedelta(days=7)
            if len(week_starts) > settings.CH_RELEASE_MAX_CELLS:
                break

    plan = ReleasePlan(
        purpose=purpose,
        manufacturer=manufacturer,
        measure=measure,
        group_by=group_by,
        filters=filters,
        epsilon=epsilon,
        k=k if measure == "top_k" else None,
        categories=categories,
        attributes=attributes,
        signals=signals,
        since=since_at,
        until=until_at,
        week_starts=week_starts,
        taxonomy_version=index.version,
    )
    plan.axes = _axes(plan, index)
    if plan.measure != "top_k":
        if "attribute" in group_by:
            plan.attributes = [key[-1] for axis in plan.axes if "attribute" in axis.dimensions for key in axis.keys]
        if plan.cell_count > settings.CH_RELEASE_MAX_CELLS:
            raise _fail(
                "group_by",
                f"{plan.cell_count:,} cells is more than the {settings.CH_RELEASE_MAX_CELLS:,} a release may have; group by fewer dimensions or filter",
                "too_many_cells",
                cells=plan.cell_count,
                max_cells=settings.CH_RELEASE_MAX_CELLS,
            )
    return plan


def _axes(plan: ReleasePlan, index: TaxonomyIndex) -> list[Axis]:
    axes: list[Axis] = []
    dims = plan.group_by
    if plan.measure == "top_k":
        attributes = plan.attributes
        assert attributes is not None  # plan_build gives every top_k plan its category's attributes
        return [
            Axis(
                ("attribute",),
                tuple((a,) for a in attributes),
                tuple({"attribute": index.codes[a]} for a in attributes),
            )
        ]
    if "attribute" in dims:
        # An attribute value belongs to one category, so the key set is the nested
        # (category, attribute of that category) pairs, not the cross product.
        pairs = [(c, a) for c in plan.categories for a in index.attributes_of(c)]
        if "category" in dims:
            axes.append(
                Axis(
                    ("category", "attribute"),
                    tuple(pairs),
                    tuple({"category": index.codes[c], "attribute": index.codes[a]} for c, a in pairs),
                )
            )
        else:
            axes.append(
                Axis(
                    ("attribute",),
                    tuple((a,) for _, a in pairs),
                    tuple({"category": index.codes[c], "attribute": index.codes[a]} for c, a in pairs),
                )
            )
    elif "category" in dims:
        axes.append(Axis(("category",), tuple((c,) for c in plan.categories), tuple({"category": index.codes[c]} for c in plan.categories)))
    if "signal" in dims:
        kinds = plan.signals if plan.signals is not None else list(index.signals.values())
        axes.append(Axis(("signal",), tuple((s,) for s in kinds), tuple({"signal": index.codes[s]} for s in kinds)))
    for dimension, domain in (("age_band", index.age_bands), ("region", index.regions)):
        if dimension in dims:
            ids = list(domain.values())
            axes.append(Axis((dimension,), tuple((t,) for t in ids), tuple({dimension: index.codes[t]} for t in ids)))
    if "week" in dims:
        weeks = plan.week_starts or []
        axes.append(
            Axis(
                ("week",),
                tuple((position + 1,) for position in range(len(weeks))),
                tuple({"week": f"{w.isocalendar().year}-W{w.isocalendar().week:02d}"} for w in weeks),
            )
        )
    return axes
