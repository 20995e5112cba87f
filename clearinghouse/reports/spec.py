"""What a report request means: validation, the full product domain of its marginals, the
sensitivity, the cost, and the ResidualPlanner plan.

Everything here depends only on the request, the purpose, the manufacturer and the public
taxonomy (never on the data), so a refusal or a plan can reveal nothing about a person.

Domain. The marginals' dimensions together (their union) are grouped with the release
engine's own plan (``release_plan_build``): it validates the filters and gives the public
key set of every dimension, in a fixed order. Each dimension is one factor of the full
product domain. An attribute belongs to one category, so "attribute" already names its
category (cells carry both labels) and a marginal that lists both is the attribute
marginal; a marginal on "category" alone cannot be answered in a report that also groups by
attribute (the pairs are nested, not a product) and is refused.

Sensitivity. Age band and region are facts about a person: the release statement gives all
of a person's rows one value of each (``ReleasePlan.cells_per_consumer``), so a person reaches
at most ``C = min(max_cells, cells of the other dimensions)`` cells of the full domain, each
counting 1 (``consumers``) or at most ``S = max_signals_per_cell`` (``signals``), all in one
cell of the person attributes. ``report_workloads`` states that shape (strategy.Contribution)
and ResidualPlanner calibrates each residual to its own exact sensitivity. Counting consumers,
the marginals without a feature dimension (age band, region, both) are read off a separate
table of people, one cell per person: they count people, each once.

Cost. Gaussian noise is charged as zCDP ρ. From ``epsilon`` the report takes the largest ρ
(rounded down to 1e-8) whose ε at the stated δ is at most what was asked; from ``accuracy``
the least ρ whose plan meets the half-width (rounded up to 1e-8). The ε it states and
budgets are charged is ρ→ε at δ rounded up to 0.0001 (releases/accounting.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.purposes import purpose_current
from clearinghouse.core.crypto import canonical_json, sha256_hex
from clearinghouse.core.errors import Invalid
from clearinghouse.releases import accounting
from clearinghouse.releases.accounting import rho_within, stated_epsilon
from clearinghouse.releases.plans import DIMENSION_ORDER, PERSON_ATTRIBUTES, ReleasePlan, epsilon_text, parse_epsilon, release_plan_build
from clearinghouse.releases.reach import rho_split, rho_total_for
from clearinghouse.reports.strategy import Contribution, JointPlan, MarginalAccuracy, Workload, plan_workloads, rho_for_half_width_joint

MEASURES = ("consumers", "signals")
REQUEST_KEYS = {"purpose", "measure", "filters", "marginals", "epsilon", "accuracy"}
MAX_MARGINALS = 16
MAX_DIMENSIONS_PER_MARGINAL = 3
RHO_UNIT = accounting.RHO_UNIT
MECHANISM = "residual_planner_discrete_gaussian"
REFERENCE = (
    "Xiao, He, Zhang, Kifer: An Optimal and Scalable Matrix Mechanism for Noisy Marginals under Convex Loss Functions, "
    "NeurIPS 2023 (arXiv:2305.08175)"
)


def _fail(field_name: str, message: str, code: str = "invalid", **details: Any) -> Invalid:
    return Invalid(f"{field_name}: {message}", code=code, details={"field": field_name, **details})


@dataclass(frozen=True)
class ReportSpec:
    """A validated report request and everything that follows from it."""

    purpose: Purpose
    measure: str
    filters: dict[str, Any]
    marginals: tuple[tuple[str, ...], ...]  # normalised: dimension order, "category" folded into "attribute"
    release_plan: ReleasePlan  # grouped by the union of the marginals' dimensions
    domain_sizes: dict[str, int]
    cells_per_consumer: int
    l1_sensitivity: int
    rho: Decimal
    epsilon: Decimal
    half_width_requested: str | None
    plan: JointPlan

    @property
    def accuracies(self) -> list[MarginalAccuracy]:
        """Each marginal's stated accuracy, in the request's order."""
        return [self.plan.accuracy(m) for m in self.marginals]

    @property
    def people_table(self) -> tuple[str, ...] | None:
        """The person attributes of the table of people (one cell per person) that the
        marginals without a feature dimension are read from, when there is one apart from
        the full domain."""
        if len(self.plan.parts) < 2:
            return None
        return tuple(self.plan.parts[1].domain_sizes)

    @property
    def group_by(self) -> list[str]:
        return list(self.domain_sizes)

    def request_document(self) -> dict[str, Any]:
        """The canonical request: what makes two report requests 'the same' for repeats."""
        return {
            "kind": "report",
            "purpose": self.purpose.code,
            "purpose_version": self.purpose.version,
            "measure": self.measure,
            "filters": self.filters,
            "marginals": [list(m) for m in self.marginals],
            "rho": str(self.rho),
            "epsilon": epsilon_text(self.epsilon),
        }

    def request_digest(self) -> str:
        return sha256_hex(canonical_json(self.request_document()))

    def stored(self) -> dict[str, Any]:
        """What the release row keeps in ``spec``; the job rebuilds the plan from it."""
        return {
            "marginals": [list(m) for m in self.marginals],
            "accuracy": {"half_width": self.half_width_requested} if self.half_width_requested else None,
            "l1_sensitivity": self.l1_sensitivity,
        }

    def marginal_labels(self, marginal: tuple[str, ...]) -> list[dict[str, str]]:
        """Cell labels of one marginal, in the order of its flattened (C order) estimate."""
        axes = {axis.dimensions[-1]: axis for axis in self.release_plan.axes}
        return [
            {name: code for part in combination for name, code in part.items()}
            for combination in itertools.product(*(axes[d].codes for d in marginal))
        ]


def _marginals_validate(raw: Any, *, purpose: Purpose) -> tuple[tuple[str, ...], ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(
            "marginals",
            'required: a non-empty list of marginals, each a list of dimensions, e.g. [["attribute"], ["attribute", "age_band"]]',
        )
    if len(raw) > MAX_MARGINALS:
        raise _fail("marginals", f"at most {MAX_MARGINALS} marginals in one report, not {len(raw)}", "too_many_marginals")
    seen: dict[frozenset[str], int] = {}
    out = []
    for position, marginal in enumerate(raw):
        name = f"marginals[{position}]"
        if not isinstance(marginal, list) or not marginal or not all(isinstance(d, str) for d in marginal):
            raise _fail(name, 'must be a non-empty list of dimensions, e.g. ["attribute", "age_band"]')
        if len(set(marginal)) != len(marginal):
            raise _fail(name, "lists a dimension twice")
        for dimension in marginal:
            if dimension not in DIMENSION_ORDER:
                raise _fail(name, f"unknown dimension {dimension!r} (known: {', '.join(DIMENSION_ORDER)})", "unknown_dimension")
            if dimension not in purpose.dimensions:
                raise _fail(
                    name,
                    f"{purpose.code} does not allow grouping by {dimension!r} (allowed: {', '.join(purpose.dimensions)})",
                    "dimension_not_allowed",
                )
        dims = [d for d in DIMENSION_ORDER if d in marginal]
        if "attribute" in dims and "category" in dims:
            dims.remove("category")  # an attribute names its category
        if len(dims) > MAX_DIMENSIONS_PER_MARGINAL:
            raise _fail(name, f"a marginal may cross at most {MAX_DIMENSIONS_PER_MARGINAL} dimensions")
        key = frozenset(dims)
        if key in seen:
            raise _fail(name, f"asks for the same dimensions as marginals[{seen[key]}]", "duplicate_marginal")
        seen[key] = position
        out.append(tuple(dims))
    union = {d for m in out for d in m}
    if "attribute" in union:
        for position, marginal in enumerate(out):
            if "category" in marginal:
                raise _fail(
                    f"marginals[{position}]",
                    "a report that groups by attribute cannot also have a marginal on category without attribute "
                    "(every attribute cell already names its category); ask for category in a report of its own",
                    "category_with_attribute",
                )
    return tuple(out)


def _half_width_parse(raw: Any) -> float:
    if not isinstance(raw, dict) or set(raw) != {"half_width"}:
        raise _fail("accuracy", 'must be an object {"half_width": H}: the 95% half-width every cell must meet, e.g. {"half_width": 50}')
    value = raw["half_width"]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _fail("accuracy.half_width", "must be a positive number such as 50")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _fail("accuracy.half_width", "must be a positive number such as 50") from None
    if not number.is_finite():
        raise _fail("accuracy.half_width", "must be a finite positive number such as 50")
    if number <= 0:
        raise _fail("accuracy.half_width", "must be greater than 0")
    result = float(number)
    if not math.isfinite(result) or result <= 0:
        raise _fail("accuracy.half_width", "must be a finite positive number such as 50")
    return result


def _rho_up(value: float | Fraction) -> Decimal:
    units = math.ceil(Fraction(value) / Fraction(RHO_UNIT))
    return (Decimal(units) * RHO_UNIT).quantize(RHO_UNIT)


def _domain(
    *, manufacturer: Manufacturer, purpose: Purpose | None, purpose_code: str, measure: Any, filters: Any, marginals
) -> ReleasePlan:
    """The release engine's plan grouped by the union of the marginals' dimensions (it checks
    the purpose, the measure and the filters); a group_by complaint is about the marginals."""
    union = [d for d in DIMENSION_ORDER if any(d in m for m in marginals)]
    # The release plan needs an ε to validate; the report's own cost is worked out apart.
    epsilon = epsilon_text(purpose.max_epsilon_per_release) if purpose is not None else "1"
    body: dict[str, Any] = {"purpose": purpose_code, "measure": measure, "group_by": union, "epsilon": epsilon}
    if filters is not None:
        body["filters"] = filters
    try:
        plan = release_plan_build(manufacturer=manufacturer, purpose=purpose, body=body, purpose_code=purpose_code)
    except Invalid as exc:
        if exc.details.get("field") == "group_by":
            raise exc.renamed("marginals") from None
        raise
    for axis in plan.axes:
        if len(axis.keys) < 2:
            name = axis.dimensions[-1]
            raise _fail(
                "marginals",
                f"{name!r} has only one value under these filters; leave it out of the marginals",
                "single_value_dimension",
            )
    return plan


def report_spec_build(*, manufacturer: Manufacturer, purpose: Purpose | None, body: Any, purpose_code: str) -> ReportSpec:
    """Validate a report request (POST /reports and /reports/plan); the error names the
    first field at fault. Computes the cost from ``epsilon`` or ``accuracy``."""
    if not isinstance(body, dict):
        raise Invalid("the request must be a JSON object", code="malformed_body")
    unknown = sorted(set(body) - REQUEST_KEYS)
    if unknown:
        raise _fail(unknown[0], "unknown field (allowed: " + ", ".join(sorted(REQUEST_KEYS)) + ")")
    if purpose is None:
        raise _fail("purpose", f"no approved purpose {purpose_code!r}", "unknown_purpose")
    measure = body.get("measure")
    if not isinstance(measure, str) or measure not in MEASURES:
        raise _fail("measure", "a report counts " + " or ".join(MEASURES))
    marginals = _marginals_validate(body.get("marginals"), purpose=purpose)
    has_epsilon, has_accuracy = "epsilon" in body, "accuracy" in body
    if has_epsilon and has_accuracy:
        raise _fail("accuracy", "give either epsilon (what to spend) or accuracy (what you need), not both")
    if not has_epsilon and not has_accuracy:
        raise _fail("epsilon", 'required: the ε to spend, e.g. "0.5", or instead accuracy {"half_width": H}')
    epsilon_asked = parse_epsilon(body["epsilon"], maximum=purpose.max_epsilon_per_release) if has_epsilon else None
    half_width = _half_width_parse(body["accuracy"]) if has_accuracy else None
    release_plan = _domain(
        manufacturer=manufacturer,
        purpose=purpose,
        purpose_code=purpose_code,
        measure=measure,
        filters=body.get("filters"),
        marginals=marginals,
    )
    return _spec(
        purpose=purpose, measure=measure, marginals=marginals, release_plan=release_plan, epsilon_asked=epsilon_asked, half_width=half_width
    )


def report_spec_parse(*, manufacturer: Manufacturer, body: Any) -> ReportSpec:
    """``report_spec_build`` for a raw request body (the purpose's current approved version)."""
    if not isinstance(body, dict):
        raise Invalid(
            'the request body must be a JSON object such as {"purpose": …, "measure": …, "marginals": [[…]], "epsilon": "0.5"}',
            code="malformed_body",
        )
    purpose_code = body.get("purpose")
    if not isinstance(purpose_code, str) or not purpose_code:
        raise Invalid("purpose: required, the code of a purpose in your catalogue", details={"field": "purpose"})
    return report_spec_build(manufacturer=manufacturer, purpose=purpose_current(code=purpose_code), body=body, purpose_code=purpose_code)


def report_spec_stored(
    *, manufacturer: Manufacturer, purpose: Purpose, measure: str, filters: dict, spec: dict, rho: Decimal
) -> ReportSpec:
    """Rebuild the spec of a queued report (the purpose version it asked for, its ρ)."""
    marginals = tuple(tuple(m) for m in spec["marginals"])
    release_plan = _domain(
        manufacturer=manufacturer, purpose=purpose, purpose_code=purpose.code, measure=measure, filters=filters, marginals=marginals
    )
    accuracy = spec.get("accuracy") or {}
    return _spec(
        purpose=purpose,
        measure=measure,
        marginals=marginals,
        release_plan=release_plan,
        rho=rho,
        half_width_asked=accuracy.get("half_width"),
    )


def _spec(
    *,
    purpose: Purpose,
    measure: str,
    marginals: tuple[tuple[str, ...], ...],
    release_plan: ReleasePlan,
    epsilon_asked: Decimal | None = None,
    half_width: float | None = None,
    rho: Decimal | None = None,
    half_width_asked: str | None = None,
) -> ReportSpec:
    domain_sizes = {axis.dimensions[-1]: len(axis.keys) for axis in release_plan.axes}
    cells_per_consumer = release_plan.cells_per_consumer  # person attributes count once (releases/plans.py)
    l1 = cells_per_consumer * (1 if measure == "consumers" else purpose.max_signals_per_cell)
    workloads = report_workloads(
        measure=measure, domain_sizes=domain_sizes, marginals=marginals, cells_per_consumer=cells_per_consumer, purpose=purpose
    )
    if rho is None and epsilon_asked is not None:
        rho = rho_within(epsilon_asked)
        if rho <= 0 or rho_split(rho)[0] <= 0:
            raise _fail("epsilon", "is too small to buy any Gaussian noise at the stated δ")
    elif rho is None and half_width is not None:
        # Half-widths are stated rounded up to 0.1: aim at H rounded down to 0.1, so the
        # stated figure never exceeds what was asked.
        target = math.floor(half_width * 10) / 10 if half_width >= 0.1 else half_width
        needed = rho_for_half_width_joint(workloads=workloads, half_width=target)
        rho = rho_total_for(_rho_up(needed))  # the answer's ρ plus the reach share
        half_width_asked = _number_text(half_width)
        epsilon_needed = stated_epsilon(rho)
        if epsilon_needed > purpose.max_epsilon_per_release:
            # What the most a release may spend would give, so the refusal says how far off it is.
            most = plan_workloads(workloads=workloads, rho=Fraction(rho_split(rho_within(purpose.max_epsilon_per_release))[0]))
            best = half_width_text(most.max_half_width)
            raise _fail(
                "accuracy.half_width",
                f"±{half_width_asked} in every cell needs ε {epsilon_text(epsilon_needed)}, more than {purpose.code} allows per release "
                f"({epsilon_text(purpose.max_epsilon_per_release)}, which gives ±{best}); ask for a wider half-width, fewer marginals or fewer cells",
                "accuracy_unreachable",
                epsilon_needed=epsilon_text(epsilon_needed),
                best_half_width=best,
                max_epsilon_per_release=epsilon_text(purpose.max_epsilon_per_release),
            )
    assert rho is not None
    epsilon = stated_epsilon(rho)
    # The answer is measured with ρ less its reach share (releases/reach.py).
    plan = plan_workloads(workloads=workloads, rho=Fraction(rho_split(rho)[0]))
    return ReportSpec(
        purpose=purpose,
        measure=measure,
        filters=release_plan.filters,
        marginals=marginals,
        release_plan=release_plan,
        domain_sizes=domain_sizes,
        cells_per_consumer=cells_per_consumer,
        l1_sensitivity=l1,
        rho=rho,
        epsilon=epsilon,
        half_width_requested=half_width_asked,
        plan=plan,
    )


def report_workloads(
    *, measure: str, domain_sizes: dict[str, int], marginals: tuple[tuple[str, ...], ...], cells_per_consumer: int, purpose: Purpose
) -> list[Workload]:
    """The data vectors a report measures, and what one person can change in each.

    The full domain: a person has one level of each person attribute and at most ``C`` cells
    of the other dimensions, each counting 1 (consumers) or at most ``S`` (signals). Counting
    consumers, the marginals without a feature dimension are read instead off a table of
    people over the person attributes, where a person is one cell (sensitivity 1): "how many
    people in each age band" counts each person once, not once per feature they want. With
    signals, a person's signals in an age band are that many signals, so every marginal is
    read off the full domain.
    """
    person = frozenset(name for name in domain_sizes if name in PERSON_ATTRIBUTES)
    per_cell = 1 if measure == "consumers" else purpose.max_signals_per_cell
    full = Contribution(person=person, per_cell=per_cell, total=cells_per_consumer * per_cell)
    people_only = tuple(m for m in marginals if set(m) <= PERSON_ATTRIBUTES)
    with_features = tuple(m for m in marginals if not set(m) <= PERSON_ATTRIBUTES)
    if measure != "consumers" or not people_only or not with_features:
        return [Workload.of(domain_sizes=domain_sizes, marginals=marginals, contribution=full)]
    people_domain = {name: size for name, size in domain_sizes.items() if name in person and any(name in m for m in people_only)}
    return [
        Workload.of(domain_sizes=domain_sizes, marginals=with_features, contribution=full),
        Workload.of(domain_sizes=people_domain, marginals=people_only, contribution=Contribution(person=frozenset(people_domain))),
    ]


def _number_text(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def half_width_text(value: float) -> str:
    """A half-width as the documents state it: rounded up to one decimal place."""
    return str((Decimal(repr(value)) * 10).to_integral_value(rounding=ROUND_CEILING) / 10)
