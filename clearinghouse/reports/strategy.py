"""Workload-optimal Gaussian noise for a set of marginals (ResidualPlanner), through OpenDP.

Reference: Yingtai Xiao, Guanlin He, Danfeng Zhang, Daniel Kifer, "An Optimal and Scalable
Matrix Mechanism for Noisy Marginals under Convex Loss Functions", NeurIPS 2023
(arXiv:2305.08175). What follows re-derives the mechanism for our setting in our own words;
the integer form of the residual queries (below) is ours, the plan is the paper's.

The idea
--------
The data vector ``x`` counts people over the full product domain ``A_1 × … × A_n`` (attribute
``i`` has ``m_i ≥ 2`` levels, ``N = ∏ m_i`` cells, C order in the order of ``domain_sizes``).
For an attribute set ``S`` the marginal ``Q_S x`` sums ``x`` over the attributes outside ``S``.
The vector space of ``x`` splits into orthogonal pieces, one per attribute set ``A``: the
*residual* of ``A`` is what the marginal on ``A`` says that no marginal on a proper subset of
``A`` says (in the marginal on ``A``: the table centred along every attribute of ``A``, i.e. the
``|A|``-way interaction; for ``A = ∅`` the grand total). A marginal on ``W`` is exactly the sum
of the residuals of the subsets of ``W``. So a workload of marginals is answered by measuring,
with independent noise, the residual of every subset of a workload marginal (the workload's
downward closure), and the one design choice left is how noisy each residual is.

The base mechanism measures residual ``A`` with noise that is spherical on that residual's
subspace: every coordinate of the estimated centred ``A``-table gets variance ``s_A · c_A``
(``s_A`` is "the residual variance" below). With

* ``c_A = ∏_{i∈A} (m_i − 1)/m_i`` — the squared length of a one-cell change after centring, so
  measuring residual ``A`` costs ``ρ_A = Δ² c_A / (2 s_A)`` (zCDP);
* ``v_A = Σ_{W ⊇ A in the workload} ∏_{i∈A}(m_i − 1) / ∏_{i∈W∖A} m_i`` — the sum over the
  workload's cells of the variance that residual ``A`` adds, per unit of ``s_A``;

the per-cell variance of marginal ``W`` is ``Var_W = Σ_{A⊆W} s_A c_A / (∏_{i∈W∖A} m_i)²`` (the
same for every cell of ``W``) and the RMSE loss is ``Σ_A v_A s_A``. Minimising it subject to
``Σ_A ρ_A = ρ`` is ResidualPlanner's closed form (Cauchy–Schwarz): residual ``A`` receives the
share ``√(c_A v_A) / Σ_B √(c_B v_B)`` of ρ, and the loss is ``Δ²/(2ρ) · (Σ_A √(c_A v_A))²``. All
variances scale as ``1/ρ``, so the least ρ meeting a target half-width is closed-form too.

Integer residual queries, discrete Gaussian noise
-------------------------------------------------
The paper writes residual ``A`` with "subtraction" matrices ``Sub_m = [1 | −I]`` and adds
*correlated* Gaussian noise ``N(0, σ² R Rᵀ)``. I.i.d. discrete Gaussian noise on the ``Sub``
answers would be a different, worse mechanism: its noise is not spherical on the residual
and its cost is set by ``Sub``'s heaviest column (squared norm ``m−1`` per attribute, against
``(m−1)/m`` for a centred query), so at equal ρ it is less accurate (twice the variance at
``m = 3``; the two coincide only at ``m = 2``). We use instead, per attribute, the integer
centring matrix ``K_m = m·I − J`` (same row space as ``Sub_m``, so the same residual) and the residual query
``G_A = ⊗_{i∈A} K_{m_i}`` applied to the marginal on ``A``: an integer vector of the marginal's
size. Since ``K_mᵀ K_m = m² (I − J/m)``, ``G_Aᵀ G_A = M_A² P_A`` (``M_A = ∏_{i∈A} m_i``, ``P_A`` the
orthogonal projector onto the residual), so i.i.d. noise of scale ``t_A`` on ``G_A Q_A x``,
projected back (``P_A w / M_A``), is exactly spherical noise on the residual with
``s_A = Var(noise)/M_A²`` — the paper's base mechanism. The integer vector gets OpenDP's discrete
Gaussian (``make_gaussian`` over ``vector_domain(atom_domain(i64))`` with the L2 metric). Its
scale is computed in closed form for the residual's slice ρ_A of ρ, then OpenDP's own privacy
map is asked to confirm ``map(d_in) ≤ ρ_A`` (the scale steps up by one float if not), as
``releases/mechanisms.py`` does for Laplace. The slices are exact rationals summing to ρ, so
the release's total, the sum of the maps, never exceeds ρ. Stated variances use the exact
variance of the discrete Gaussian (at most ``t²``; equal to it in double precision for
``t ≥ 2``).

Sensitivity
-----------
The privacy unit is a person; adding or removing one changes the data vector by an integer
vector ``d``. The caller states ``l2_sensitivity_sq = Δ²`` with ``Σ_j |d_j| ≤ Δ`` (the L1 norm of
a person's change; when a person moves a single cell, as in a ``consumers`` measure whose
attributes are person attributes counted once, ``d = ±e_j`` and ``Δ² = 1 = ‖d‖₂²``). One cell's
change ``e_j`` moves ``G_A Q_A x`` by a column of ``⊗ K_{m_i}``, of squared length
``∏_{i∈A} m_i (m_i − 1)`` (the same for every cell); by the triangle inequality a person's
change moves it by at most ``Δ · √(∏_{i∈A} m_i(m_i − 1))``, which is the ``d_in`` handed to
OpenDP's map (rounded up to a float). If a person may add ``c`` to the data vector in total,
with at most ``b`` in any one cell, pass ``Δ² = c²``: the per-cell bound ``b`` does not help,
because cells that differ only in attributes outside ``A`` fall into one marginal cell, and
for the same reason ``‖d‖₂² ≤ b·c`` alone would under-charge (a person counted once in each
of two cells that a marginal merges moves that marginal's cell by 2, not √2).

Per-residual sensitivity from what a person can change
-------------------------------------------------------
The bound above treats a person's change as arbitrary. It is not: some attributes are facts
about a person (age band, region: one level each per person), so a person's change is a
tensor product ``d = D ⊗ e_p`` of a part ``D`` over the other attributes (entries between 0
and ``b`` per cell, ``Σ D ≤ T``) and one cell ``e_p`` of the person attributes. Then
``G_A Q_A d = (G Q D) ⊗ (G Q e_p)`` and the squared norms multiply: a person attribute in
``A`` contributes ``m(m − 1)`` (one column of ``K_m``), one outside ``A`` contributes 1 (its sum is
1), and the rest is ``‖G_{A'} Q_{A'} D‖²`` over the other attributes ``A'`` of ``A``: ``T²`` when
``A'`` is empty, and when ``A'`` is one attribute of ``m`` levels, with ``u = Q_{A'} D``,
``‖K_m u‖² = m²‖u‖² − m(Σu)²``, maximised exactly over the ``u`` a person can make (a convex
function: the maximum is at a vertex, ``q`` entries at the per-cell bound and one remainder,
for some total ``s ≤ T``). For 7 office-chair features at one count each that is
``max_k 7·k·(7 − k) = 84`` against ``T²·m(m − 1) = 2,058`` by the triangle inequality: the
main effect of the features costs 24 times less. With two or more non-person attributes in
``A'`` the triangle bound is kept. :class:`Contribution` states ``(person, b, T)``; ResidualPlanner's
split then weighs each residual by its own cost ``D_A = d_A² / M_A²`` (``d_A`` the residual's L2
sensitivity), which the closed form above already allows: residual ``A`` receives the share
``√(D_A v_A) / Σ_B √(D_B v_B)`` of ρ.

Several tables of different things
----------------------------------
A report may read its marginals off more than one data vector: counting people, a marginal
without a feature dimension (age band × region) is a table of people, one cell per person,
while a marginal with features counts each person once per feature they want. The two are
measured as separate workloads (:class:`Workload`), each with ResidualPlanner, and ρ is split
between them in the same closed form (each workload's total variance at ρ = 1 is ``K_i``; the
split ``ρ_i ∝ √K_i`` minimises ``Σ K_i / ρ_i``), which is ResidualPlanner's optimum over the
union of their residuals (:func:`plan_workloads`).

Everything here is pure: no Django, no database. Plans depend only on the request, never on
data, and never draw; :func:`measure` is the only place noise is drawn, and only by OpenDP.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from statistics import NormalDist

import numpy as np
import opendp.prelude as dp

dp.enable_features("contrib")

CONFIDENCE = Fraction(95, 100)
#: Two-sided 95% normal quantile, z = Φ⁻¹(0.975).
Z95 = NormalDist().inv_cdf(1 - float(1 - CONFIDENCE) / 2)

_I64 = "i64"
_INT64_HEADROOM = 1 << 62

__all__ = [
    "CONFIDENCE",
    "Z95",
    "Contribution",
    "JointPlan",
    "Workload",
    "MarginalAccuracy",
    "MarginalsPlan",
    "NoisyResiduals",
    "ResidualNoise",
    "discrete_gaussian_variance",
    "marginal_of",
    "measure",
    "measure_joint",
    "plan_marginals",
    "plan_workloads",
    "reconstruct",
    "reconstruct_joint",
    "rho_for_half_width",
    "rho_for_half_width_joint",
]


# --- The domain ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Domain:
    names: tuple[str, ...]
    sizes: tuple[int, ...]

    @classmethod
    def of(cls, domain_sizes: Mapping[str, int]) -> _Domain:
        if not isinstance(domain_sizes, Mapping) or not domain_sizes:
            raise ValueError("domain_sizes must be a non-empty mapping of attribute name to number of levels")
        names, sizes = [], []
        for name, size in domain_sizes.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"attribute names must be non-empty strings, not {name!r}")
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
                raise ValueError(f"attribute {name!r} must have an integer number of levels >= 2, not {size!r}")
            names.append(name)
            sizes.append(int(size))
        return cls(tuple(names), tuple(sizes))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.sizes

    @property
    def cells(self) -> int:
        return math.prod(self.sizes)

    def axes(self, attributes: Sequence[str], *, what: str = "marginal") -> tuple[int, ...]:
        """Axis numbers of the named attributes, in the caller's order; refuses unknown or
        repeated names."""
        if isinstance(attributes, str) or not isinstance(attributes, Sequence):
            raise TypeError(f"a {what} is a tuple of attribute names, not {attributes!r}")
        index = {name: i for i, name in enumerate(self.names)}
        axes = []
        for name in attributes:
            if name not in index:
                raise ValueError(f"{what} {tuple(attributes)!r} names {name!r}, which is not in the domain {self.names!r}")
            axes.append(index[name])
        if len(set(axes)) != len(axes):
            raise ValueError(f"{what} {tuple(attributes)!r} repeats an attribute")
        return tuple(axes)

    def size_of(self, axes: Sequence[int]) -> int:
        return math.prod(self.sizes[a] for a in axes)


def _workload(domain: _Domain, marginals: Sequence[Sequence[str]]) -> tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]:
    """(caller's tuple, sorted axes) per marginal; refuses an empty workload and two marginals
    on the same attribute set."""
    if isinstance(marginals, (str, bytes)) or not isinstance(marginals, Sequence) or not marginals:
        raise ValueError("marginals must be a non-empty list of tuples of attribute names")
    seen: dict[tuple[int, ...], tuple[str, ...]] = {}
    out = []
    for marginal in marginals:
        key = tuple(sorted(domain.axes(marginal)))
        if key in seen:
            raise ValueError(f"marginals {seen[key]!r} and {tuple(marginal)!r} are on the same attributes")
        seen[key] = tuple(marginal)
        out.append((tuple(marginal), key))
    return tuple(out)


def _closure(workload) -> tuple[tuple[int, ...], ...]:
    """Every subset of a workload marginal (sorted axes), smallest first: the residuals to
    measure."""
    subsets = {sub for _, axes in workload for r in range(len(axes) + 1) for sub in itertools.combinations(axes, r)}
    return tuple(sorted(subsets, key=lambda s: (len(s), s)))


def _subset(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    return set(small) <= set(big)


# --- Plans -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidualNoise:
    """One residual query of a plan and the noise it gets.

    ``attributes`` (domain order; ``()`` is the grand total) name the residual; its integer
    answer ``G_A Q_A x`` has the shape of the marginal on them. OpenDP adds discrete Gaussian
    noise of ``scale`` to each entry; ``l2_sensitivity`` is the ``d_in`` given to OpenDP's map and
    ``rho_used`` what the map returned for it (never above ``rho_target``, this residual's
    slice of the plan's ρ).
    """

    attributes: tuple[str, ...]
    shape: tuple[int, ...]
    share: float
    rho_target: Fraction
    l2_sensitivity: float
    scale: float
    rho_used: float
    noise_variance: float  # variance of one discrete Gaussian draw at `scale` (<= scale²)

    @property
    def residual_variance(self) -> float:
        """``s_A``: the noise variance on the residual's subspace, per unit direction."""
        return self.noise_variance / math.prod(self.shape) ** 2


@dataclass(frozen=True)
class MarginalAccuracy:
    """The stated accuracy of one workload marginal: every cell of its unbiased estimate
    (:func:`reconstruct`) has this variance; ``half_width`` is z·√variance, a 95% interval for
    the (approximately normal) estimation error of one cell."""

    attributes: tuple[str, ...]  # as the caller named them; the estimate's axes are in this order
    shape: tuple[int, ...]
    cell_variance: float
    half_width: float


@dataclass(frozen=True)
class MarginalsPlan:
    """A data-independent plan: what to measure, with which noise, and how accurate each
    marginal will be. Built only from the request; building it draws nothing."""

    domain: tuple[tuple[str, int], ...]
    marginals: tuple[MarginalAccuracy, ...]
    residuals: tuple[ResidualNoise, ...]
    rho: Fraction
    rho_used: Fraction  # exact sum of OpenDP's maps over the residuals; <= rho
    l2_sensitivity_sq: int  # Δ² (with a Contribution: its total squared)
    contribution: Contribution | None = None
    _measurements: tuple = field(default=(), compare=False, repr=False)

    @property
    def domain_sizes(self) -> dict[str, int]:
        return dict(self.domain)

    @property
    def cells(self) -> int:
        """Number of workload cells (the RMSE's denominator)."""
        return sum(math.prod(m.shape) for m in self.marginals)

    @property
    def total_variance(self) -> float:
        """Sum over every workload cell of its variance: ResidualPlanner's RMSE objective."""
        return sum(m.cell_variance * math.prod(m.shape) for m in self.marginals)

    @property
    def rmse(self) -> float:
        return math.sqrt(self.total_variance / self.cells)

    @property
    def max_half_width(self) -> float:
        return max(m.half_width for m in self.marginals)

    def accuracy(self, marginal: Sequence[str]) -> MarginalAccuracy:
        for m in self.marginals:
            if m.attributes == tuple(marginal):
                return m
        raise KeyError(tuple(marginal))

    @property
    def variances(self) -> dict[tuple[str, ...], float]:
        """Per-cell variance by marginal, in the form :func:`make_consistent` takes."""
        return {m.attributes: m.cell_variance for m in self.marginals}


def _as_fraction(value, *, name: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (Fraction, float, int, Decimal)):
        raise TypeError(f"{name} must be a Fraction or a float, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value!r}")
    result = Fraction(value)
    if result <= 0:
        raise ValueError(f"{name} must be positive, not {value!r}")
    return result


def _sensitivity_sq(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"l2_sensitivity_sq must be an integer >= 1, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Contribution:
    """What one person can add to a workload's data vector (module docstring, "Per-residual
    sensitivity"): one level of each attribute in ``person``; over the other attributes at
    most ``per_cell`` in any one cell and ``total`` in all cells together."""

    person: frozenset[str] = frozenset()
    per_cell: int = 1
    total: int = 1

    def __post_init__(self) -> None:
        for name in ("per_cell", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Contribution.{name} must be an integer >= 1, not {value!r}")
        if self.per_cell > self.total:
            raise ValueError("Contribution.per_cell cannot exceed Contribution.total")
        if not isinstance(self.person, frozenset) or not all(isinstance(n, str) for n in self.person):
            raise ValueError("Contribution.person must be a frozenset of attribute names")


def _centred_norm_sq_max(*, levels: int, per_cell: int, total: int) -> int:
    """max ‖K_m u‖² = m²‖u‖² − m(Σu)² over integer u with 0 ≤ u_i ≤ per_cell, Σu ≤ total and
    m entries. For a fixed sum the convex ‖u‖² peaks with the entries piled at the bound."""
    best = 0
    for s in range(min(total, levels * per_cell) + 1):
        full, rest = divmod(s, per_cell)
        squares = full * per_cell * per_cell + rest * rest
        best = max(best, levels * levels * squares - levels * s * s)
    return best


def _residual_d_in_sq(domain: _Domain, axes: tuple[int, ...], *, delta_sq: int | None, contribution: Contribution | None) -> int:
    """Squared L2 sensitivity of residual ``axes``'s integer answer ``G_A Q_A x``."""
    if contribution is None:
        assert delta_sq is not None
        return delta_sq * math.prod(domain.sizes[a] * (domain.sizes[a] - 1) for a in axes)
    person_part = math.prod(domain.sizes[a] * (domain.sizes[a] - 1) for a in axes if domain.names[a] in contribution.person)
    others = [a for a in axes if domain.names[a] not in contribution.person]
    if not others:
        return person_part * contribution.total**2
    if len(others) == 1:
        (a,) = others
        # The marginal on this one attribute sums the person's cells over the other
        # non-person attributes, so one of its cells can hold up to per_cell times their size.
        spread = math.prod(domain.sizes[b] for b in range(len(domain.sizes)) if b != a and domain.names[b] not in contribution.person)
        bound = min(contribution.total, contribution.per_cell * spread)
        return person_part * _centred_norm_sq_max(levels=domain.sizes[a], per_cell=bound, total=contribution.total)
    return person_part * contribution.total**2 * math.prod(domain.sizes[a] * (domain.sizes[a] - 1) for a in others)


def _cost_and_weight(domain: _Domain, workload, residual: tuple[int, ...]) -> tuple[Fraction, Fraction]:
    """``(c_A, v_A)`` of the module docstring, exactly."""
    cost = Fraction(1)
    for a in residual:
        cost *= Fraction(domain.sizes[a] - 1, domain.sizes[a])
    interaction = math.prod(domain.sizes[a] - 1 for a in residual)
    weight = sum(
        (Fraction(interaction, domain.size_of([a for a in axes if a not in residual])) for _, axes in workload if _subset(residual, axes)),
        Fraction(0),
    )
    return cost, weight


def _float_at_least(value: Fraction) -> float:
    result = float(value)
    if Fraction(result) < value:
        result = math.nextafter(result, math.inf)
    return result


def _sqrt_at_least(value: Fraction) -> float:
    """The smallest float whose square is >= value (checked in exact rationals)."""
    result = _float_at_least(Fraction(math.sqrt(value)))
    while Fraction(result) ** 2 < value:
        result = math.nextafter(result, math.inf)
    while result > 0 and Fraction(math.nextafter(result, 0.0)) ** 2 >= value:
        result = math.nextafter(result, 0.0)
    return result


def _gaussian_space():
    # i64 entries (OpenDP's T=int is i32); the metric's distances are f64 so that an
    # irrational L2 sensitivity can be stated exactly rounded up.
    return dp.vector_domain(dp.atom_domain(T=_I64)), dp.l2_distance(T="f64")


def _calibrated_gaussian(*, d_in: float, rho: Fraction):
    """Discrete Gaussian whose OpenDP map at ``d_in`` is <= rho. Returns (measurement, scale, used)."""
    scale = _sqrt_at_least(Fraction(d_in) ** 2 / (2 * rho))
    for _ in range(64):
        input_domain, input_metric = _gaussian_space()
        measurement = dp.m.make_gaussian(input_domain, input_metric, scale=scale)
        used = measurement.map(d_in)
        if Fraction(used) <= rho:
            return measurement, scale, used
        scale = math.nextafter(scale, math.inf)
    raise RuntimeError("noise calibration did not converge")  # pragma: no cover - defensive


def discrete_gaussian_variance(scale: float) -> float:
    """Exact variance of the discrete Gaussian with pmf ∝ exp(−k²/(2·scale²)) on the integers.

    It is below ``scale²`` by a relative ``≈ 8π²·scale²·exp(−2π²·scale²)``, which is under
    1e-30 from ``scale = 2`` on, so the sum is only taken below that."""
    if scale >= 2.0:
        return scale * scale
    reach = math.ceil(40 * scale) + 2
    ks = np.arange(-reach, reach + 1, dtype=np.float64)
    weights = np.exp(-(ks**2) / (2 * scale * scale))
    return float((weights * ks**2).sum() / weights.sum())


def plan_marginals(
    *,
    domain_sizes: Mapping[str, int],
    marginals: Sequence[tuple[str, ...]],
    rho: Fraction | float,
    l2_sensitivity_sq: int | None = None,
    contribution: Contribution | None = None,
) -> MarginalsPlan:
    """ResidualPlanner's RMSE-optimal plan for answering ``marginals`` together under ρ-zCDP.

    Deterministic and data-independent: the same request gives an equal plan, and nothing is
    drawn. Give exactly one of ``l2_sensitivity_sq`` (Δ², Δ bounding the L1 norm of one
    person's change to the data vector, every residual calibrated to it) and
    ``contribution`` (what a person can change; each residual calibrated to its own exact
    sensitivity, see the module docstring)."""
    domain = _Domain.of(domain_sizes)
    workload = _workload(domain, marginals)
    rho = _as_fraction(rho, name="rho")
    if (l2_sensitivity_sq is None) == (contribution is None):
        raise ValueError("give exactly one of l2_sensitivity_sq and contribution")
    if contribution is not None:
        if not isinstance(contribution, Contribution):
            raise ValueError(f"contribution must be a Contribution, not {contribution!r}")
        unknown = sorted(contribution.person - set(domain.names))
        if unknown:
            raise ValueError(f"contribution names person attribute {unknown[0]!r}, which is not in the domain {domain.names!r}")
        delta_sq = contribution.total**2
    else:
        delta_sq = _sensitivity_sq(l2_sensitivity_sq)
    closure = _closure(workload)

    exact = [_cost_and_weight(domain, workload, r) for r in closure]
    d_in_sq = [_residual_d_in_sq(domain, r, delta_sq=delta_sq, contribution=contribution) for r in closure]
    # √(D_A v_A) with D_A = d_A² / M_A² (equal to Δ² c_A under the plain bound).
    roots = [
        math.sqrt(Fraction(d_sq, domain.size_of(r) ** 2) * weight) for r, d_sq, (_cost, weight) in zip(closure, d_in_sq, exact, strict=True)
    ]
    total_root = sum(Fraction(r) for r in roots)

    residuals, measurements, variance_of = [], [], {}
    for axes, root, d_sq, (cost, _weight) in zip(closure, roots, d_in_sq, exact, strict=True):
        rho_target = rho * Fraction(root) / total_root  # exact: the targets sum to rho
        d_in = _sqrt_at_least(Fraction(d_sq))
        measurement, scale, used = _calibrated_gaussian(d_in=d_in, rho=rho_target)
        noise = ResidualNoise(
            attributes=tuple(domain.names[a] for a in axes),
            shape=tuple(domain.sizes[a] for a in axes),
            share=root / float(total_root),
            rho_target=rho_target,
            l2_sensitivity=d_in,
            scale=scale,
            rho_used=used,
            noise_variance=discrete_gaussian_variance(scale),
        )
        residuals.append(noise)
        measurements.append(measurement)
        variance_of[axes] = (noise.residual_variance, float(cost))

    accuracies = []
    for named, axes in workload:
        variance = 0.0
        for residual in closure:
            if _subset(residual, axes):
                s, weight = variance_of[residual]
                spread = domain.size_of([a for a in axes if a not in residual])
                variance += s * weight / spread**2
        accuracies.append(
            MarginalAccuracy(
                attributes=named,
                shape=tuple(domain.sizes[a] for a in domain.axes(named)),
                cell_variance=variance,
                half_width=Z95 * math.sqrt(variance),
            )
        )

    rho_used = sum((Fraction(r.rho_used) for r in residuals), Fraction(0))
    if rho_used > rho:  # pragma: no cover - each map is <= its slice and the slices sum to rho
        raise RuntimeError("plan would exceed its privacy budget")
    return MarginalsPlan(
        domain=tuple(zip(domain.names, domain.sizes, strict=True)),
        marginals=tuple(accuracies),
        residuals=tuple(residuals),
        rho=rho,
        rho_used=rho_used,
        l2_sensitivity_sq=delta_sq,
        contribution=contribution,
        _measurements=tuple(measurements),
    )


def rho_for_half_width(
    *,
    domain_sizes: Mapping[str, int],
    marginals: Sequence[tuple[str, ...]],
    half_width: float,
    l2_sensitivity_sq: int | None = None,
    contribution: Contribution | None = None,
) -> Fraction:
    """The least ρ whose ResidualPlanner plan (:func:`plan_marginals`) gives every cell of every
    marginal a 95% half-width of at most ``half_width``.

    Every variance of the plan is ``K/ρ`` for a K fixed by the request, so this is
    ``z²·max_W K_W / half_width²``; it is then nudged up by as many float steps as OpenDP's
    outward-rounded calibration needs, and the returned ρ is checked by building its plan."""
    return _least_rho(
        lambda rho: plan_marginals(
            domain_sizes=domain_sizes, marginals=marginals, rho=rho, l2_sensitivity_sq=l2_sensitivity_sq, contribution=contribution
        ),
        half_width=half_width,
    )


def _least_rho(plan_at: Callable[[float], MarginalsPlan | JointPlan], *, half_width: float) -> Fraction:
    """The least ρ at which ``plan_at(ρ)`` states a largest half-width of at most ``half_width``:
    ``K/ρ`` variances give it in closed form from the plan at ρ = 1, then float steps up for
    OpenDP's outward-rounded calibration, checked by building the plan."""
    if isinstance(half_width, bool) or not isinstance(half_width, (int, float)) or not math.isfinite(half_width) or half_width <= 0:
        raise ValueError(f"half_width must be a positive number, not {half_width!r}")
    rho = float(plan_at(1).max_half_width ** 2 / half_width**2)
    for _ in range(64):
        plan = plan_at(rho)
        if plan.max_half_width <= half_width:
            return Fraction(rho)
        rho = max(math.nextafter(rho, math.inf), rho * (plan.max_half_width / half_width) ** 2)
    raise RuntimeError("could not meet the half-width")  # pragma: no cover - defensive


# --- Several workloads under one ρ --------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One data vector (over ``domain_sizes``), the marginals read off it, and what one person
    can change in it."""

    domain_sizes: Mapping[str, int]
    marginals: tuple[tuple[str, ...], ...]
    contribution: Contribution

    @classmethod
    def of(cls, *, domain_sizes: Mapping[str, int], marginals: Sequence[Sequence[str]], contribution: Contribution) -> Workload:
        return cls(dict(domain_sizes), tuple(tuple(m) for m in marginals), contribution)


@dataclass(frozen=True)
class JointPlan:
    """ResidualPlanner plans of several workloads that share one ρ (module docstring, "Several
    tables of different things"). A marginal belongs to exactly one part."""

    parts: tuple[MarginalsPlan, ...]
    rho: Fraction

    @property
    def marginals(self) -> tuple[MarginalAccuracy, ...]:
        return tuple(m for part in self.parts for m in part.marginals)

    @property
    def residuals(self) -> tuple[ResidualNoise, ...]:
        return tuple(r for part in self.parts for r in part.residuals)

    @property
    def rho_used(self) -> Fraction:
        return sum((part.rho_used for part in self.parts), Fraction(0))

    @property
    def cells(self) -> int:
        return sum(part.cells for part in self.parts)

    @property
    def total_variance(self) -> float:
        return sum(part.total_variance for part in self.parts)

    @property
    def rmse(self) -> float:
        return math.sqrt(self.total_variance / self.cells)

    @property
    def max_half_width(self) -> float:
        return max(part.max_half_width for part in self.parts)

    @property
    def variances(self) -> dict[tuple[str, ...], float]:
        return {m.attributes: m.cell_variance for m in self.marginals}

    def accuracy(self, marginal: Sequence[str]) -> MarginalAccuracy:
        for part in self.parts:
            if any(m.attributes == tuple(marginal) for m in part.marginals):
                return part.accuracy(marginal)
        raise KeyError(tuple(marginal))


def _joint_workloads(workloads: Sequence[Workload]) -> tuple[Workload, ...]:
    if isinstance(workloads, (str, bytes)) or not isinstance(workloads, Sequence) or not workloads:
        raise ValueError("workloads must be a non-empty list of Workload")
    seen: set[tuple[str, ...]] = set()
    for workload in workloads:
        if not isinstance(workload, Workload):
            raise ValueError(f"workloads must be Workload objects, not {workload!r}")
        for marginal in workload.marginals:
            if marginal in seen:
                raise ValueError(f"marginal {marginal!r} is in two workloads")
            seen.add(marginal)
    return tuple(workloads)


def plan_workloads(*, workloads: Sequence[Workload], rho: Fraction | float) -> JointPlan:
    """One ResidualPlanner plan per workload, ρ split between them RMSE-optimally
    (``ρ_i ∝ √K_i``, ``K_i`` a workload's total variance at ρ = 1; the slices are exact rationals
    summing to ρ). Deterministic, data-independent, draws nothing."""
    parts = _joint_workloads(workloads)
    rho = _as_fraction(rho, name="rho")
    if len(parts) == 1:
        only = parts[0]
        plan = plan_marginals(domain_sizes=only.domain_sizes, marginals=only.marginals, rho=rho, contribution=only.contribution)
        return JointPlan(parts=(plan,), rho=rho)
    roots = [
        Fraction(
            math.sqrt(plan_marginals(domain_sizes=w.domain_sizes, marginals=w.marginals, rho=1, contribution=w.contribution).total_variance)
        )
        for w in parts
    ]
    total = sum(roots, Fraction(0))
    slices = [rho * root / total for root in roots[:-1]]
    slices.append(rho - sum(slices, Fraction(0)))
    plans = tuple(
        plan_marginals(domain_sizes=w.domain_sizes, marginals=w.marginals, rho=share, contribution=w.contribution)
        for w, share in zip(parts, slices, strict=True)
    )
    if sum((p.rho_used for p in plans), Fraction(0)) > rho:  # pragma: no cover - each part stays within its slice
        raise RuntimeError("plan would exceed its privacy budget")
    return JointPlan(parts=plans, rho=rho)


def rho_for_half_width_joint(*, workloads: Sequence[Workload], half_width: float) -> Fraction:
    """The least ρ whose :func:`plan_workloads` plan gives every cell of every marginal a 95%
    half-width of at most ``half_width`` (every variance is ``K/ρ`` at a fixed split, as in
    :func:`rho_for_half_width`)."""
    return _least_rho(lambda rho: plan_workloads(workloads=workloads, rho=rho), half_width=half_width)


def measure_joint(*, plan: JointPlan, data_vectors: Sequence[np.ndarray]) -> tuple[NoisyResiduals, ...]:
    """:func:`measure` for each part, on its own data vector (the only draws, all OpenDP)."""
    if not isinstance(plan, JointPlan) or len(data_vectors) != len(plan.parts):
        raise ValueError("give one data vector per part of the plan")
    return tuple(measure(plan=part, data_vector=vector) for part, vector in zip(plan.parts, data_vectors, strict=True))


def reconstruct_joint(*, plan: JointPlan, noisy: Sequence[NoisyResiduals]) -> dict[tuple[str, ...], np.ndarray]:
    """:func:`reconstruct` for each part; the marginals of all parts in one mapping."""
    if not isinstance(plan, JointPlan) or len(noisy) != len(plan.parts):
        raise ValueError("give the noisy residuals of every part of the plan")
    out: dict[tuple[str, ...], np.ndarray] = {}
    for part, answers in zip(plan.parts, noisy, strict=True):
        out.update(reconstruct(plan=part, noisy=answers))
    return out


# --- Measuring -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NoisyResiduals:
    """The noisy integer answers of a plan's residual queries, in the plan's residual order.
    This is what is released (post-processing of it costs no privacy)."""

    residuals: tuple[tuple[str, ...], ...]
    answers: tuple[np.ndarray, ...]

    def answer(self, attributes: Sequence[str]) -> np.ndarray:
        return self.answers[self.residuals.index(tuple(attributes))]


def _data_tensor(domain: _Domain, data_vector: np.ndarray) -> np.ndarray:
    if not isinstance(data_vector, np.ndarray):
        raise TypeError("data_vector must be a numpy array of integer counts")
    if data_vector.dtype == np.bool_ or not np.issubdtype(data_vector.dtype, np.integer):
        raise ValueError(f"data_vector must hold integers, not {data_vector.dtype}")
    if data_vector.shape not in {(domain.cells,), domain.shape}:
        raise ValueError(f"data_vector must have shape {(domain.cells,)} or {domain.shape}, not {data_vector.shape}")
    if data_vector.size and data_vector.min() < 0:
        raise ValueError("data_vector holds counts; a negative entry is refused")
    tensor = data_vector.astype(np.int64, copy=False).reshape(domain.shape)
    if int(tensor.sum(dtype=object)) * max(domain.cells, 1) >= _INT64_HEADROOM:
        raise ValueError("data_vector's total is too large for exact 64-bit residual answers")
    return tensor


def _marginal_tensor(tensor: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Marginal on the sorted ``axes`` (kept in domain order)."""
    drop = tuple(a for a in range(tensor.ndim) if a not in axes)
    return tensor.sum(axis=drop) if drop else tensor


def _residual_answer(tensor: np.ndarray, domain: _Domain, axes: tuple[int, ...]) -> np.ndarray:
    """``G_A Q_A x``: the marginal on A, multiplied along each of its attributes by
    ``K_m = m·I − J`` (integer arithmetic)."""
    answer = np.asarray(_marginal_tensor(tensor, axes), dtype=np.int64)
    for position, a in enumerate(axes):
        answer = domain.sizes[a] * answer - answer.sum(axis=position, keepdims=True)
    return answer


def _check_plan(plan) -> _Domain:
    if not isinstance(plan, MarginalsPlan) or len(plan._measurements) != len(plan.residuals):
        raise ValueError("plan must be a MarginalsPlan made by plan_marginals")
    return _Domain.of(plan.domain_sizes)


def measure(*, plan: MarginalsPlan, data_vector: np.ndarray) -> NoisyResiduals:
    """Answer the plan's residual queries on ``data_vector`` (integer counts over the full
    product domain, flat in C order or shaped like it) with OpenDP's discrete Gaussian noise.
    This is the only function here that draws."""
    domain = _check_plan(plan)
    tensor = _data_tensor(domain, data_vector)
    answers = []
    for residual, measurement in zip(plan.residuals, plan._measurements, strict=True):
        axes = domain.axes(residual.attributes)
        exact = _residual_answer(tensor, domain, axes)
        noisy = np.asarray(measurement(exact.ravel().tolist()), dtype=np.int64).reshape(exact.shape)
        noisy.setflags(write=False)
        answers.append(noisy)
    return NoisyResiduals(residuals=tuple(r.attributes for r in plan.residuals), answers=tuple(answers))


def _exact_residuals(*, plan: MarginalsPlan, data_vector: np.ndarray) -> NoisyResiduals:
    """The noise-free residual answers (for tests of the reconstruction; never released)."""
    domain = _check_plan(plan)
    tensor = _data_tensor(domain, data_vector)
    answers = tuple(_residual_answer(tensor, domain, domain.axes(r.attributes)) for r in plan.residuals)
    return NoisyResiduals(residuals=tuple(r.attributes for r in plan.residuals), answers=answers)


# --- Reconstruction --------------------------------------------------------------------------


def reconstruct(*, plan: MarginalsPlan, noisy: NoisyResiduals) -> dict[tuple[str, ...], np.ndarray]:
    """Each workload marginal's unbiased least-squares estimate from the noisy residuals
    (ResidualPlanner's reconstruction), keyed by the caller's tuple, axes in that order.

    Residual ``A``'s estimate is ``P_A w / M_A`` (centre the noisy answer along each of its
    attributes, divide by ``∏ m_i``); marginal ``W`` is the sum over ``A ⊆ W`` of those estimates
    spread evenly over the attributes of ``W`` outside ``A``. The estimates are consistent with
    one another already (they share the residuals) but may be negative; see
    :func:`make_consistent`."""
    domain = _check_plan(plan)
    if not isinstance(noisy, NoisyResiduals) or noisy.residuals != tuple(r.attributes for r in plan.residuals):
        raise ValueError("noisy must be the NoisyResiduals that measure() returned for this plan")
    estimate_of = {}
    for measured, answer in zip(plan.residuals, noisy.answers, strict=True):
        if answer.shape != measured.shape:
            raise ValueError(f"answer for residual {measured.attributes!r} has shape {answer.shape}, not {measured.shape}")
        centred = np.asarray(answer, dtype=np.float64)
        for position in range(centred.ndim):
            centred = centred - centred.mean(axis=position, keepdims=True)
        estimate_of[domain.axes(measured.attributes)] = centred / max(math.prod(measured.shape), 1)

    out = {}
    for accuracy in plan.marginals:
        order = domain.axes(accuracy.attributes)
        axes = tuple(sorted(order))
        total = np.zeros(tuple(domain.sizes[a] for a in axes))
        for residual, estimate in estimate_of.items():
            if not _subset(residual, axes):
                continue
            spread_axes = [i for i, a in enumerate(axes) if a not in residual]
            spread = math.prod(domain.sizes[axes[i]] for i in spread_axes)
            total = total + np.expand_dims(estimate, tuple(spread_axes)) / spread
        out[accuracy.attributes] = np.transpose(total, [axes.index(a) for a in order])
    return out


def marginal_of(*, domain_sizes: Mapping[str, int], attributes: Sequence[str], vector: np.ndarray) -> np.ndarray:
    """The exact marginal of a full-domain vector on ``attributes`` (axes in that order)."""
    domain = _Domain.of(domain_sizes)
    order = domain.axes(attributes)
    vector = np.asarray(vector)
    if vector.shape not in {(domain.cells,), domain.shape}:
        raise ValueError(f"vector must have shape {(domain.cells,)} or {domain.shape}, not {vector.shape}")
    axes = tuple(sorted(order))
    table = _marginal_tensor(vector.reshape(domain.shape), axes)
    return np.transpose(table, [axes.index(a) for a in order])
