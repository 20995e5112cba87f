"""Continual release of a weekly count series: weekly values AND running totals from one
zCDP charge.

What is released
----------------
For ``S`` series (one per value of a ``by`` dimension, or just one) and a horizon of ``T``
weeks, the true counts form an integer matrix ``x`` of shape ``(S, T)``. We never noise
``x`` itself. Each series is multiplied by a fixed integer *strategy matrix* ``A`` (``m x T``),
discrete Gaussian noise is added to every entry of ``A x_s`` by OpenDP, and the weekly
values are recovered by least squares, ``x_hat = (A'A)^-1 A' y``. The running totals are
the prefix sums of ``x_hat`` (so they are consistent by construction) and every variance is
a closed-form function of ``A`` and the noise scale: data-independent, known before any
data is seen.

This is the *factorisation mechanism* for the prefix-sum matrix ``W`` (``W_ij = 1`` for
``j <= i``): ``W = (W A^+) A``. The literature we follow, in our own words:

* Binary tree / "counting under continual observation": Dwork, Naor, Pitassi, Rothblum,
  "Differential privacy under continual observation", STOC 2010; Chan, Shi, Song,
  "Private and continual release of statistics", ACM TISSEC 2011. ``A`` is the 0/1 matrix
  of all dyadic intervals; each week sits in ``ceil(log2 T) + 1`` of them.
* Honaker, "Efficient use of differentially private binary trees", TPDP 2015: combine
  all tree nodes optimally instead of using only the ``<= log T`` nodes of the dyadic
  decomposition. With equal noise on every node the optimal linear unbiased combination
  is exactly the ordinary least-squares estimate above (Gauss-Markov).
* Square-root factorisation: Henzinger, Upadhyay, Upadhyay, "Almost tight error bounds on
  differentially private continual counting", SODA 2023; Fichtenberger, Henzinger,
  Upadhyay, "Constant matters: fine-grained error bound on differentially private
  continual observation", ICML 2023. ``A = W^(1/2)``, the lower-triangular Toeplitz matrix
  with ``A_ij = c_(i-j)``, ``c_k = binom(2k, k) / 4^k``.
* Optimal factorisation: Denisov, McMahan, Rush, Smith, Thakurta, "Improved differential
  privacy for SGD via optimal private linear operators on adaptive streams", NeurIPS 2022
  (the fixed-point algorithm for ``min tr(W X^-1 W')`` subject to ``diag(X) = 1``,
  ``X = A'A``, then a lower-triangular ``A`` with ``A'A = X``). It is the optimum of the
  matrix mechanism (Li, Miklau, Hay, McGregor, Rastogi, VLDB J. 2015) for this workload:
  when a person touches one week, no linear unbiased mechanism with i.i.d. Gaussian noise
  has a lower total squared error of the running totals, and since a lower-triangular
  factor exists it streams as well.

Choice (measured, see ``compare_strategies`` and tests/trends/test_continual.py): for a
person who touches one week (the continual-counting setting), mean variance of the
running totals over the horizon, in units of ``1/(2 rho)``:

=====  ========  ===============  ===================  =========  ====================
T      identity  tree + Honaker   tree + Honaker,      sqrt       optimal (lower
                 (end of horizon) as released weekly   (Henzinger) triangular, Denisov)
=====  ========  ===============  ===================  =========  ====================
26     13.5      4.59             8.96                 3.79       3.35
52     26.5      5.92             12.2                 4.68       4.15
104    52.5      7.42             16.0                 5.68       5.05
=====  ========  ===============  ===================  =========  ====================

so ``optimal`` is the default, ``sqrt`` (exact rational coefficients, no iteration) is the
runner-up, the tree loses even with Honaker's combination (and worse as released week by
week, because its estimates are revised when later nodes close; only the grand total at
the very last week is better, 3.40 against 5.00 at T = 52, because the root measures it
directly), and ``identity`` (noise each week, sum the noise) is what every tree must beat.
When a person can touch many weeks the ordering flips: the strategy's columns overlap, the
sensitivity grows with the number of weeks touched, and ``identity`` wins;
``plan_series(strategy="auto")`` computes every candidate's variances for the caller's
contribution bounds and keeps the one with the lowest mean running-total variance.
Lower-triangular strategies (identity, sqrt, optimal) release week ``t`` from weeks
``<= t`` only and are never revised; the tree's values are.

Against noising each week on its own with Laplace at the same zCDP (pure epsilon with
``epsilon^2 / 2 = rho``, so per-week variance ``2 / epsilon^2 = 1/rho`` per unit of L1
sensitivity), the running totals' RMSE over a 52-week horizon is lower by
``sqrt(26.5 / 2.075) = 3.57x`` when a person is in one week of one series (4.5x at week
52 itself; 4.56x averaged at T = 104), ~5x when a person is in two series of one week, and
~10x when a person can be in every week (then ``identity`` is chosen and the whole gain
is the Gaussian's L2 composition across weeks against Laplace's L1). For one person in one
week, 3.57x at T = 52 is the most any linear mechanism with Gaussian noise can give
(the optimum above); 4x is reached from T = 72 weeks on.

Sensitivity (the privacy unit is one person; neighbours add or remove one person)
-------------------------------------------------------------------------------
The caller bounds a person's contribution. Let ``d`` (shape ``(S, T)``, integers) be the
change of the weekly counts when one person is added or removed. The caller states

* ``l2_sensitivity_sq`` = ``D2`` >= ``sum_(s,t) d_st^2`` over the whole horizon. From
  per-week caps: if a person adds at most ``k`` to a cell, enters at most ``c`` series in a
  week and at most ``w`` weeks in all, then ``D2 = w * c * k^2``;
* ``max_weeks_per_person`` = ``w`` (default ``min(D2, T)``, the most ``D2`` allows).

What is noised is ``y_s = A d_s`` per series, so the L2 sensitivity that OpenDP must see
is ``sqrt(max ||A d||^2)`` over admissible ``d``. With ``G = A'A`` (integer, exact):
``sum_s d_s' G d_s <= sum_s |d_s|' |G| |d_s|``; the support of ``d_s`` has at most
``m = min(D2, w, T)`` weeks (integer entries, each non-zero one costs >= 1 of ``D2``), and for
a non-negative symmetric matrix restricted to such a support the largest eigenvalue is at
most its largest row sum, so

    ||A d||^2 <= D2 * max_i (G_ii + the m - 1 largest |G_ij|, j != i)   (integer).

For ``m = 1`` (each person in one week) this is exact: ``D2 * max column norm^2 of A``. For
``A = identity`` it is exact for every ``m``. OpenDP's ``L2Distance<i64>`` takes an integer
``d_in``; the strategy is scaled by ``KAPPA = 2^16`` (a finer lattice, same mechanism) so
that ``d_in = ceil(sqrt(bound))`` wastes less than 1e-4 of the budget.

Noise and calibration
---------------------
One discrete Gaussian measurement (``dp.m.make_gaussian`` on
``vector_domain(atom_domain(i64))`` with ``l2_distance(i64)``, zCDP): the scale is the
smallest float with ``scale^2 >= d_in^2 / (2 rho)``, then OpenDP's own map must confirm
``map(d_in) <= rho``; if it does not (it rounds outward) the scale steps up one float at
a time, as ``releases.mechanisms._calibrated`` does. Draws for a stream may be made week
by week (``measure(previous=...)``): the rows drawn over the horizon are one application
of that Gaussian mechanism to ``A x`` (independent coordinates), so the whole horizon costs
``rho`` once; Denisov et al. (2022) show that for Gaussian noise and a
lower-triangular ``A`` this also holds when later weeks' data depend on earlier releases.

Variances
---------
The variance of a discrete Gaussian with parameter ``sigma`` is below ``sigma^2`` by a
relative amount of order ``exp(-2 pi^2 sigma^2)``; with ``KAPPA`` scaling ``sigma`` is in
the thousands or more, so ``sigma^2`` is the stated variance (exact to float precision).
Half-widths are ``z_0.975 * sqrt(variance)``: every estimate is a linear combination of
many independent discrete Gaussians.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from functools import lru_cache
from statistics import NormalDist
from typing import Literal

import numpy as np
import opendp.prelude as dp
from scipy.linalg import cho_factor, cho_solve, solve_triangular

dp.enable_features("contrib")

CONFIDENCE = 0.95
Z95 = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
KAPPA = 1 << 16
STRATEGIES = ("optimal", "sqrt", "tree", "identity")
AUTO_CANDIDATES = ("optimal", "sqrt", "identity", "tree")
_I64 = "i64"
_SPACE = (dp.vector_domain(dp.atom_domain(T=_I64)), dp.l2_distance(T=_I64))
_I64_LIMIT = 1 << 62  # headroom below 2^63 for A x + noise

Strategy = Literal["auto", "optimal", "sqrt", "tree", "identity"]
Target = Literal["weekly", "running_total"]


# --- strategy matrices -------------------------------------------------------------------


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive definite matrix by the coupled Newton-Schulz
    iteration (Higham, "Functions of Matrices", 2008, eq. 6.35). Only matrix products:
    LAPACK eigensolvers on small matrices are erratic in time under thread contention."""
    n = a.shape[0]
    norm = float(np.linalg.norm(a))
    y = a / norm
    z = np.eye(n)
    three = 3.0 * np.eye(n)
    for _ in range(200):
        t = 0.5 * (three - z @ y)
        y_next = y @ t
        z = t @ z
        done = float(np.max(np.abs(y_next - y))) <= 1e-15 * float(np.max(np.abs(y_next)))
        y = y_next
        if done:
            break
    y = 0.5 * (y + y.T)
    return y * math.sqrt(norm)


@lru_cache(maxsize=16)
def _optimal_gram(weeks: int) -> np.ndarray:
    """X minimising tr(W X^-1 W') subject to diag(X) = 1 (Denisov et al. 2022): at the
    optimum X D X = W'W with D = diag(v), i.e. X = D^-1/2 (D^1/2 W'W D^1/2)^1/2 D^-1/2;
    iterate v <- v * diag(X)^2 until diag(X) = 1."""
    w = np.tril(np.ones((weeks, weeks)))
    g = w.T @ w
    v = np.ones(weeks)
    x = np.eye(weeks)
    for _ in range(2000):
        d = np.sqrt(v)
        x = _sqrt_psd(d[:, None] * g * d[None, :]) / np.outer(d, d)
        diag = np.diag(x).copy()
        if float(np.max(np.abs(diag - 1.0))) < 1e-6:  # the objective is flat here: 1e-7 relative
            break
        v = v * diag**2
    x.setflags(write=False)
    return x


def _lower_factor(x: np.ndarray) -> np.ndarray:
    """Lower-triangular A with A'A = X: Cholesky of the index-reversed matrix."""
    j = np.eye(x.shape[0])[::-1]
    c = np.linalg.cholesky(j @ x @ j)
    return np.tril(j @ c.T @ j)


def _tree_rows(weeks: int) -> list[tuple[int, int]]:
    """All dyadic intervals [start, end) clipped to the horizon, the root included."""
    rows: list[tuple[int, int]] = []
    width = 1
    while True:
        rows.extend((start, min(start + width, weeks)) for start in range(0, weeks, width))
        if width >= weeks:
            return rows
        width *= 2


@lru_cache(maxsize=64)
def _strategy_matrix(name: str, weeks: int) -> np.ndarray:
    """Integer strategy (rows sorted by the week after which they can be computed)."""
    if name == "identity":
        a = KAPPA * np.eye(weeks, dtype=np.int64)
    elif name == "sqrt":
        coefficients = [round(Fraction(math.comb(2 * k, k), 4**k) * KAPPA) for k in range(weeks)]
        a = np.zeros((weeks, weeks), dtype=np.int64)
        for i in range(weeks):
            a[i, : i + 1] = coefficients[: i + 1][::-1]
    elif name == "optimal":
        real = _lower_factor(_optimal_gram(weeks))
        real = real / float(np.sqrt((real**2).sum(axis=0)).max())
        a = np.rint(real * KAPPA).astype(np.int64)
    elif name == "tree":
        rows = sorted(_tree_rows(weeks), key=lambda r: (r[1], r[1] - r[0]))
        a = np.zeros((len(rows), weeks), dtype=np.int64)
        for i, (start, end) in enumerate(rows):
            a[i, start:end] = KAPPA
    else:
        raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES} or 'auto'")
    a.setflags(write=False)
    return a


def _rows_ready(a: np.ndarray) -> tuple[int, ...]:
    """rows_ready[t] = how many rows depend on the first t weeks only (t = 0..T)."""
    last = np.array([int(np.flatnonzero(row).max()) for row in a])
    if np.any(np.diff(last) < 0):  # pragma: no cover - construction sorts the rows
        raise AssertionError("strategy rows must be sorted by the week they close")
    return tuple(int(np.searchsorted(last, t, side="left")) for t in range(a.shape[1] + 1))


def _sensitivity_sq(a: np.ndarray, l2_sensitivity_sq: int, weeks_touched: int) -> int:
    """Integer bound on ||A d||^2 (module docstring): D2 * max_i(G_ii + top (m-1) |G_ij|)."""
    g = np.abs(a.T @ a)  # int64, exact: entries <= KAPPA^2 * rows < 2^43
    diagonal = np.diag(g).copy()
    off = g.copy()
    np.fill_diagonal(off, 0)
    m = max(1, min(weeks_touched, a.shape[1]))
    if m > 1:
        top = -np.sort(-off, axis=1)[:, : m - 1]
        row_bound = diagonal + top.sum(axis=1)
    else:
        row_bound = diagonal
    return int(l2_sensitivity_sq) * int(row_bound.max())


def _ceil_sqrt(value: int) -> int:
    return 0 if value <= 0 else math.isqrt(value - 1) + 1


def _is_lower_square(a: np.ndarray) -> bool:
    return a.shape[0] == a.shape[1] and not np.any(np.triu(a, 1))


def _unit_covariance(a: np.ndarray) -> np.ndarray:
    """(A'A)^-1: covariance of the least-squares weekly values per unit noise variance."""
    if _is_lower_square(a):
        inverse = solve_triangular(a.astype(np.float64), np.eye(a.shape[0]), lower=True)
        return inverse @ inverse.T
    factor = cho_factor((a.T @ a).astype(np.float64), lower=True)
    return cho_solve(factor, np.eye(a.shape[1]))


def _running_diagonal(cov: np.ndarray) -> np.ndarray:
    """diag(W C W'): variance of each prefix sum."""
    return np.diagonal(np.cumsum(np.cumsum(cov, axis=0), axis=1)).copy()


@dataclass(frozen=True)
class _Structure:
    """Everything about a strategy that does not depend on rho (per unit noise variance)."""

    name: str
    matrix: np.ndarray
    rows_ready: tuple[int, ...]
    sensitivity_sq: int
    d_in: int
    weekly: np.ndarray  # end of horizon
    running: np.ndarray
    released_weekly: np.ndarray  # week t's value as released after week t
    released_running: np.ndarray


@lru_cache(maxsize=64)
def _structure(name: str, weeks: int, l2_sensitivity_sq: int, weeks_touched: int) -> _Structure:
    a = _strategy_matrix(name, weeks)
    ready = _rows_ready(a)
    sens = _sensitivity_sq(a, l2_sensitivity_sq, weeks_touched)
    cov = _unit_covariance(a)
    weekly, running = np.diag(cov).copy(), _running_diagonal(cov)
    if _is_lower_square(a):
        released_weekly, released_running = weekly, running  # never revised
    else:
        released_weekly, released_running = np.empty(weeks), np.empty(weeks)
        for t in range(1, weeks + 1):
            partial = _unit_covariance(a[: ready[t], :t])
            released_weekly[t - 1] = partial[t - 1, t - 1]
            released_running[t - 1] = partial.sum()
    for array in (weekly, running, released_weekly, released_running):
        array.setflags(write=False)
    return _Structure(name, a, ready, sens, _ceil_sqrt(sens), weekly, running, released_weekly, released_running)


# --- calibration ---------------------------------------------------------------------------


def _as_rho(rho) -> Decimal:
    if isinstance(rho, bool) or not isinstance(rho, (Decimal, Fraction, int, float, str)):
        raise TypeError("rho must be a Decimal, int, float, Fraction or decimal string")
    if isinstance(rho, Fraction):
        with localcontext() as context:
            context.prec, context.rounding = 28, ROUND_FLOOR  # never round a budget up
            value = Decimal(rho.numerator) / Decimal(rho.denominator)
    else:
        try:
            value = Decimal(repr(rho)) if isinstance(rho, float) else Decimal(rho)
        except ArithmeticError as error:
            raise ValueError(f"rho is not a number: {rho!r}") from error
    if not value.is_finite() or value <= 0:
        raise ValueError("rho must be positive and finite")
    return value


def _closed_form_scale(d_in: int, rho: Fraction) -> float:
    """Smallest float s with s^2 >= d_in^2 / (2 rho)."""
    variance = Fraction(d_in * d_in) / (2 * rho)
    scale = math.sqrt(float(variance))
    while Fraction(scale) ** 2 < variance:
        scale = math.nextafter(scale, math.inf)
    return scale


def _calibrated(d_in: int, rho: Fraction, first_scale: float):
    """Build at ``first_scale``; while OpenDP's map says more than rho, step the scale up
    one float. Returns (measurement, scale, rho_used)."""
    scale = first_scale
    for _ in range(64):
        measurement = dp.m.make_gaussian(*_SPACE, scale=scale)
        used = measurement.map(d_in)
        if Fraction(used) <= rho:
            return measurement, scale, float(used)
        scale = math.nextafter(scale, math.inf)
    raise RuntimeError("noise calibration did not converge")  # pragma: no cover - defensive


# --- public interface ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SeriesPlan:
    """A data-independent plan. Variances are of the estimates in count units; the
    ``released_*`` ones are of week t's figures as first released after week t (equal to
    the end-of-horizon ones for every lower-triangular strategy)."""

    weeks: int
    series: int
    rho: Decimal
    l2_sensitivity_sq: int
    max_weeks_per_person: int
    strategy: str
    kappa: int
    strategy_matrix: np.ndarray  # (rows, weeks) int64; node answers = strategy_matrix @ counts + noise
    rows_ready: tuple[int, ...]  # rows computable from the first t weeks, t = 0..weeks
    sensitivity_sq: int  # integer bound on the squared L2 change of strategy_matrix @ counts
    d_in: int  # ceil(sqrt(sensitivity_sq)), the L2 d_in given to OpenDP
    noise_scale: float  # sigma of each discrete Gaussian draw (strategy units)
    rho_used: float  # OpenDP's map at d_in; always <= rho
    weekly_variance: np.ndarray  # (weeks,)
    running_total_variance: np.ndarray  # (weeks,)
    released_weekly_variance: np.ndarray
    released_running_total_variance: np.ndarray
    digest: str

    @property
    def noise_variance(self) -> float:
        return self.noise_scale**2

    @property
    def weekly_half_width(self) -> np.ndarray:
        return Z95 * np.sqrt(self.weekly_variance)

    @property
    def running_total_half_width(self) -> np.ndarray:
        return Z95 * np.sqrt(self.running_total_variance)

    @property
    def max_weekly_half_width(self) -> float:
        """Largest 95% half-width of any weekly value, as released or at the end."""
        return Z95 * math.sqrt(max(self.weekly_variance.max(), self.released_weekly_variance.max()))

    @property
    def max_running_total_half_width(self) -> float:
        return Z95 * math.sqrt(max(self.running_total_variance.max(), self.released_running_total_variance.max()))

    def measurement(self):
        """The OpenDP measurement at this plan's scale, its map re-confirmed."""
        measurement = dp.m.make_gaussian(*_SPACE, scale=self.noise_scale)
        if Fraction(measurement.map(self.d_in)) > Fraction(self.rho):  # pragma: no cover - defensive
            raise RuntimeError("plan no longer calibrated: OpenDP's map exceeds rho")
        return measurement


@dataclass(frozen=True, eq=False)
class NoisyNodes:
    """Noisy answers to the first ``plan.rows_ready[weeks_observed]`` strategy rows, per
    series. Post-processing only from here on."""

    plan_digest: str
    weeks_observed: int
    values: np.ndarray  # (series, rows) int64


@dataclass(frozen=True, eq=False)
class SeriesEstimate:
    weekly_values: np.ndarray  # (series, weeks_observed) float
    running_totals: np.ndarray  # (series, weeks_observed): prefix sums of weekly_values
    weekly_variance: np.ndarray  # (weeks_observed,), the same for every series
    running_total_variance: np.ndarray
    weekly_covariance: np.ndarray  # (weeks_observed, weeks_observed) of one series' weekly values
    confidence: float = CONFIDENCE

    @property
    def weekly_half_width(self) -> np.ndarray:
        return Z95 * np.sqrt(self.weekly_variance)

    @property
    def running_total_half_width(self) -> np.ndarray:
        return Z95 * np.sqrt(self.running_total_variance)


def _check_shape(*, weeks: int, series: int, l2_sensitivity_sq: int, max_weeks_per_person: int | None) -> int:
    for name, value in (("weeks", weeks), ("series", series), ("l2_sensitivity_sq", l2_sensitivity_sq)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer")
    if max_weeks_per_person is None:
        return min(int(l2_sensitivity_sq), int(weeks))
    if isinstance(max_weeks_per_person, bool) or not isinstance(max_weeks_per_person, (int, np.integer)) or max_weeks_per_person < 1:
        raise ValueError("max_weeks_per_person must be a positive integer")
    return min(int(max_weeks_per_person), int(l2_sensitivity_sq), int(weeks))


def _choose(weeks: int, l2_sensitivity_sq: int, touched: int, strategy: Strategy) -> _Structure:
    if strategy != "auto":
        return _structure(strategy, weeks, l2_sensitivity_sq, touched)
    candidates = [_structure(name, weeks, l2_sensitivity_sq, touched) for name in AUTO_CANDIDATES]
    # mean running-total variance as released, per unit of 1/(2 rho); ties keep the first
    return min(candidates, key=lambda c: c.d_in**2 * float(np.mean(c.released_running)))


def _digest(structure: _Structure, weeks: int, rho: Decimal, scale: float) -> str:
    h = hashlib.sha256()
    h.update(f"trends.continual/1|{structure.name}|{weeks}|{KAPPA}|{rho}|{structure.d_in}|{scale!r}|".encode())
    h.update(np.ascontiguousarray(structure.matrix, dtype="<i8").tobytes())
    return h.hexdigest()


def _plan_from(structure: _Structure, *, weeks, series, rho: Decimal, l2_sensitivity_sq, touched) -> SeriesPlan:
    rho_fraction = Fraction(rho)
    _, scale, used = _calibrated(structure.d_in, rho_fraction, _closed_form_scale(structure.d_in, rho_fraction))
    variance = scale**2

    def frozen(array):
        out = np.asarray(array * variance, dtype=np.float64)
        out.setflags(write=False)
        return out

    return SeriesPlan(
        weeks=int(weeks),
        series=int(series),
        rho=rho,
        l2_sensitivity_sq=int(l2_sensitivity_sq),
        max_weeks_per_person=touched,
        strategy=structure.name,
        kappa=KAPPA,
        strategy_matrix=structure.matrix,
        rows_ready=structure.rows_ready,
        sensitivity_sq=structure.sensitivity_sq,
        d_in=structure.d_in,
        noise_scale=scale,
        rho_used=used,
        weekly_variance=frozen(structure.weekly),
        running_total_variance=frozen(structure.running),
        released_weekly_variance=frozen(structure.released_weekly),
        released_running_total_variance=frozen(structure.released_running),
        digest=_digest(structure, weeks, rho, scale),
    )


def plan_series(
    *,
    weeks: int,
    series: int,
    rho: Decimal | Fraction | int | float | str,
    l2_sensitivity_sq: int,
    max_weeks_per_person: int | None = None,
    strategy: Strategy = "auto",
) -> SeriesPlan:
    """Plan a continual release of ``series`` weekly series over ``weeks`` weeks at
    ``rho``-zCDP for the whole horizon. Deterministic and data-independent; builds
    OpenDP measurements only to read their privacy maps, never draws."""
    touched = _check_shape(weeks=weeks, series=series, l2_sensitivity_sq=l2_sensitivity_sq, max_weeks_per_person=max_weeks_per_person)
    value = _as_rho(rho)
    structure = _choose(int(weeks), int(l2_sensitivity_sq), touched, strategy)
    return _plan_from(structure, weeks=weeks, series=series, rho=value, l2_sensitivity_sq=l2_sensitivity_sq, touched=touched)


def plan_for_half_width(
    *,
    weeks: int,
    series: int,
    l2_sensitivity_sq: int,
    half_width: float,
    target: Target = "weekly",
    max_weeks_per_person: int | None = None,
    strategy: Strategy = "auto",
    digits: int = 6,
) -> SeriesPlan:
    """The plan with the least rho (to ``digits`` significant digits, rounded up) whose
    largest 95% half-width on the weekly values (``target="weekly"``) or on the running
    totals (``target="running_total"``) is at most ``half_width``, as released and at the
    end of the horizon. The strategy is chosen as in ``plan_series`` (for the running
    totals), then only rho is solved for: every variance is proportional to 1/rho."""
    touched = _check_shape(weeks=weeks, series=series, l2_sensitivity_sq=l2_sensitivity_sq, max_weeks_per_person=max_weeks_per_person)
    if target not in ("weekly", "running_total"):
        raise ValueError("target must be 'weekly' or 'running_total'")
    if not (isinstance(half_width, (int, float, Decimal, Fraction)) and float(half_width) > 0 and math.isfinite(float(half_width))):
        raise ValueError("half_width must be a positive number")
    structure = _choose(int(weeks), int(l2_sensitivity_sq), touched, strategy)
    if target == "weekly":
        unit = max(float(structure.weekly.max()), float(structure.released_weekly.max()))
    else:
        unit = max(float(structure.running.max()), float(structure.released_running.max()))
    # variance = scale^2 * unit, scale^2 = d_in^2 / (2 rho)  =>  rho = z^2 d_in^2 unit / (2 h^2)
    needed = Fraction(Z95) ** 2 * structure.d_in**2 * Fraction(unit) / (2 * Fraction(half_width) ** 2)
    with localcontext() as context:
        context.prec, context.rounding = digits, ROUND_CEILING
        rho = +(Decimal(needed.numerator) / Decimal(needed.denominator))
    for _ in range(1000):
        plan = _plan_from(structure, weeks=weeks, series=series, rho=rho, l2_sensitivity_sq=l2_sensitivity_sq, touched=touched)
        achieved = plan.max_weekly_half_width if target == "weekly" else plan.max_running_total_half_width
        if achieved <= float(half_width):
            return plan
        rho = rho + Decimal(1).scaleb(rho.adjusted() - digits + 1)
    raise RuntimeError("could not meet the half-width")  # pragma: no cover - defensive


def rho_for_half_width(
    *,
    weeks: int,
    series: int,
    l2_sensitivity_sq: int,
    half_width: float,
    target: Target = "weekly",
    max_weeks_per_person: int | None = None,
    strategy: Strategy = "auto",
) -> Decimal:
    """The least rho (six significant digits, rounded up) of ``plan_for_half_width``."""
    return plan_for_half_width(
        weeks=weeks,
        series=series,
        l2_sensitivity_sq=l2_sensitivity_sq,
        half_width=half_width,
        target=target,
        max_weeks_per_person=max_weeks_per_person,
        strategy=strategy,
    ).rho


def measure(*, plan: SeriesPlan, weekly_counts: np.ndarray, previous: NoisyNodes | None = None) -> NoisyNodes:
    """Noisy answers to the strategy rows that the weeks in ``weekly_counts`` close.

    ``weekly_counts``: integers, shape ``(plan.series, t)`` with ``1 <= t <= plan.weeks``
    (the weeks observed so far). Without ``previous`` every closed row is drawn: one call
    per horizon spends ``plan.rho``. With ``previous`` (the last call's result, same plan,
    the same counts for the weeks it saw) only the rows closed since are drawn, so a weekly
    stream costs ``plan.rho`` in all. Every draw is made by OpenDP's discrete Gaussian."""
    counts = np.asarray(weekly_counts)
    if counts.ndim != 2 or counts.shape[0] != plan.series or not 1 <= counts.shape[1] <= plan.weeks:
        raise ValueError(f"weekly_counts must have shape ({plan.series}, t) with 1 <= t <= {plan.weeks}")
    if not np.issubdtype(counts.dtype, np.integer):
        raise ValueError("weekly_counts must be integers")
    observed = counts.shape[1]
    start_row = 0
    if previous is not None:
        if previous.plan_digest != plan.digest:
            raise ValueError("previous answers were drawn under another plan")
        if previous.weeks_observed > observed:
            raise ValueError("weekly_counts covers fewer weeks than the previous answers")
        start_row = previous.values.shape[1]
    end_row = plan.rows_ready[observed]
    rows = plan.strategy_matrix[start_row:end_row, :observed]
    counts64 = counts.astype(np.int64)
    if rows.size and int(np.abs(rows).sum(axis=1).max()) * int(np.abs(counts64).max(initial=0)) >= _I64_LIMIT:
        raise ValueError("counts too large for exact 64-bit node sums")
    exact = counts64 @ rows.T  # (series, new rows), exact integer arithmetic
    if exact.size:
        drawn = plan.measurement()([int(v) for v in exact.ravel()])
        new = np.asarray(drawn, dtype=np.int64).reshape(exact.shape)
    else:
        new = np.zeros((plan.series, 0), dtype=np.int64)
    values = new if previous is None else np.concatenate([previous.values, new], axis=1)
    values.setflags(write=False)
    return NoisyNodes(plan_digest=plan.digest, weeks_observed=observed, values=values)


def estimate(*, plan: SeriesPlan, noisy: NoisyNodes) -> SeriesEstimate:
    """Least-squares weekly values from the noisy node answers, their prefix sums as the
    running totals, and the (data-independent) variances. Post-processing: no draws."""
    if noisy.plan_digest != plan.digest:
        raise ValueError("noisy answers were drawn under another plan")
    t = noisy.weeks_observed
    rows = plan.rows_ready[t]
    if noisy.values.shape != (plan.series, rows):
        raise ValueError("noisy answers do not match the plan")
    a = plan.strategy_matrix[:rows, :t]
    y = noisy.values.astype(np.float64)  # (series, rows)
    if _is_lower_square(a):
        weekly = solve_triangular(a.astype(np.float64), y.T, lower=True).T
    else:
        factor = cho_factor((a.T @ a).astype(np.float64), lower=True)
        weekly = cho_solve(factor, a.astype(np.float64).T @ y.T).T
    cov = _unit_covariance(a) * plan.noise_variance
    weekly_variance = np.diag(cov).copy()
    running_variance = _running_diagonal(cov)
    running = np.cumsum(weekly, axis=1)
    return SeriesEstimate(
        weekly_values=weekly,
        running_totals=running,
        weekly_variance=weekly_variance,
        running_total_variance=running_variance,
        weekly_covariance=cov,
    )


@dataclass(frozen=True)
class StrategyErrors:
    """Variances times rho (so divide by rho for the variance at that budget)."""

    strategy: str
    sensitivity_sq: float  # in count units (the bound / KAPPA^2)
    mean_running_total: float  # as released
    max_running_total: float
    final_running_total: float  # running total of the last week
    mean_weekly: float  # as released


def compare_strategies(*, weeks: int, l2_sensitivity_sq: int = 1, max_weeks_per_person: int | None = None) -> list[StrategyErrors]:
    """The analytic comparison behind the default (module docstring); no OpenDP calls."""
    touched = _check_shape(weeks=weeks, series=1, l2_sensitivity_sq=l2_sensitivity_sq, max_weeks_per_person=max_weeks_per_person)
    out = []
    for name in STRATEGIES:
        s = _structure(name, int(weeks), int(l2_sensitivity_sq), touched)
        unit = s.d_in**2 / 2  # noise variance times rho
        out.append(
            StrategyErrors(
                strategy=name,
                sensitivity_sq=s.sensitivity_sq / KAPPA**2,
                mean_running_total=unit * float(s.released_running.mean()),
                max_running_total=unit * float(max(s.released_running.max(), s.running.max())),
                final_running_total=unit * float(s.running[-1]),
                mean_weekly=unit * float(s.released_weekly.mean()),
            )
        )
    return out
