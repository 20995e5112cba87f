"""Every DP step of a release, through OpenDP.

Sensitivities come from OpenDP's stability maps applied to the contribution bounds (one
consumer is the privacy unit; after bounding, one consumer adds at most ``C`` rows to a
count of consumers, ``C·S`` rows to a count of signals). Noise scales are calibrated
directly from the privacy maps: the scale is computed in exact rationals, rounded up to
the next float, and then the measurement's own map is asked to confirm ``ε_used ≤ ε`` —
instead of OpenDP's binary search, which costs seconds per release. Every random draw is
made by the OpenDP measurements built here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import opendp.prelude as dp

dp.enable_features("contrib")

CONFIDENCE = Fraction(95, 100)
ALPHA = 1 - CONFIDENCE

# OpenDP's T=int means i32 (sums would overflow); every integer vector here is i64.
_I64 = "i64"
_SYMMETRIC = (dp.vector_domain(dp.atom_domain(T=_I64)), dp.symmetric_distance())


def _float_at_least(value: Fraction) -> float:
    """The smallest float that is >= value, so a scale can never undershoot."""
    result = float(value)
    if Fraction(result) < value:
        result = math.nextafter(result, math.inf)
    return result


def _calibrated(build, first_scale: float, d_in: int, epsilon: Decimal):
    """Build at ``first_scale``; while the map says more than ε (OpenDP rounds its map
    outward), step the scale up by one float. Returns (measurement, scale, ε_used)."""
    target = Fraction(epsilon)
    scale = first_scale
    for _ in range(64):
        measurement = build(scale)
        used = measurement.map(d_in)
        if Fraction(used) <= target:
            return measurement, scale, used
        scale = math.nextafter(scale, math.inf)
    raise RuntimeError("noise calibration did not converge")  # pragma: no cover - defensive


# --- Sensitivities from OpenDP stability maps -------------------------------------------


def count_sensitivity(*, rows_per_consumer: int) -> int:
    """L1 sensitivity of a vector of per-cell counts when one consumer adds at most
    ``rows_per_consumer`` rows (make_count_by_categories; the category list does not
    enter its map)."""
    transformation = dp.t.make_count_by_categories(*_SYMMETRIC, categories=[0], null_category=True, MO="L1Distance<i64>", TOA=_I64)
    return int(transformation.map(rows_per_consumer))


def sum_sensitivity(*, rows_per_consumer: int, lower: int, upper: int) -> int:
    """L1 sensitivity of per-cell sums of values clamped to [lower, upper].

    OpenDP's clamp >> sum map bounds the change of the total by
    rows · max(|lower|, |upper|). A consumer's rows are spread over cells, and the L1 norm
    of the change of the per-cell vector is at most the sum over their rows of |value|,
    which is the same bound (OpenDP has no non-Polars sum-by-category constructor).
    """
    transformation = dp.t.make_clamp(*_SYMMETRIC, bounds=(lower, upper)) >> dp.t.then_sum()
    return int(transformation.map(rows_per_consumer))


# --- Mechanisms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LaplaceMechanism:
    """Discrete Laplace noise on an integer vector, calibrated to (sensitivity, ε)."""

    measurement: dp.Measurement
    sensitivity: int
    epsilon: Decimal
    scale: float
    epsilon_used: float  # what OpenDP's privacy map states; always <= epsilon

    name = "discrete_laplace"

    @property
    def half_width(self) -> int:
        """Integer h with P(|noise| > h) <= 5%, from OpenDP's accuracy helper (the floor
        keeps the coverage, see its documentation)."""
        return math.floor(dp.discrete_laplacian_scale_to_accuracy(scale=self.scale, alpha=float(ALPHA)))

    def half_width_at(self, alpha: Fraction) -> int:
        return math.floor(dp.discrete_laplacian_scale_to_accuracy(scale=self.scale, alpha=float(alpha)))

    def release(self, true_values: list[int]) -> list[int]:
        return list(self.measurement(list(true_values)))


def laplace_mechanism(*, sensitivity: int, epsilon: Decimal) -> LaplaceMechanism:
    if sensitivity < 1:
        raise ValueError("sensitivity must be at least 1")
    space = (dp.vector_domain(dp.atom_domain(T=_I64)), dp.l1_distance(T=_I64))
    first = _float_at_least(Fraction(sensitivity) / Fraction(epsilon))
    measurement, scale, used = _calibrated(lambda s: dp.m.make_laplace(*space, scale=s), first, sensitivity, epsilon)
    return LaplaceMechanism(measurement=measurement, sensitivity=sensitivity, epsilon=epsilon, scale=scale, epsilon_used=used)


@dataclass(frozen=True)
class TopKMechanism:
    """Noisy top-k (permute-and-flip, exponential noise) over per-candidate scores whose
    L∞ sensitivity is 1 and monotonic: adding a consumer raises some scores by at most one
    and lowers none."""

    measurement: dp.Measurement
    k: int
    candidates: int
    epsilon: Decimal
    scale: float
    epsilon_used: float

    name = "noisy_top_k_exponential"
    sensitivity = 1

    @property
    def score_gap(self) -> int:
        """With 95% probability the r-th returned candidate's true score is at least the
        r-th best remaining true score minus this: each round's exponential noise exceeds
        s·ln(m·k/α) with probability at most α/k (union bound over m candidates and k
        rounds)."""
        return math.ceil(self.scale * math.log(self.candidates * self.k / float(ALPHA)))

    def release(self, scores: list[int]) -> list[int]:
        return [int(i) for i in self.measurement(list(scores))]


def top_k_mechanism(*, k: int, candidates: int, epsilon: Decimal) -> TopKMechanism:
    space = (dp.vector_domain(dp.atom_domain(T=_I64)), dp.linf_distance(T=_I64, monotonic=True))
    first = _float_at_least(Fraction(k) / Fraction(epsilon))
    measurement, scale, used = _calibrated(
        lambda s: dp.m.make_noisy_top_k(*space, dp.max_divergence(), k=k, scale=s, negate=False), first, 1, epsilon
    )
    return TopKMechanism(measurement=measurement, k=k, candidates=candidates, epsilon=epsilon, scale=scale, epsilon_used=used)


def float_text(value: float) -> str:
    """A float as the shortest decimal string that reads back to the same float (for
    signed documents, which refuse floats)."""
    return repr(float(value))


@dataclass(frozen=True)
class GaussianMechanism:
    """Discrete Gaussian noise on an integer vector, calibrated to (L2 sensitivity, zCDP ρ)."""

    measurement: Any
    sensitivity: float  # L2, rounded up to a float
    rho: Fraction
    scale: float
    rho_used: float  # what OpenDP's privacy map states; always <= rho

    name = "discrete_gaussian"

    @property
    def half_width(self) -> int:
        """Integer h with P(|noise| > h) <= 5%, from OpenDP's accuracy helper."""
        return math.floor(dp.discrete_gaussian_scale_to_accuracy(scale=self.scale, alpha=float(ALPHA)))

    def release(self, true_values: list[int]) -> list[int]:
        return list(self.measurement(list(true_values)))


def l2_sensitivity(*, cells_per_consumer: int, per_cell: int) -> float:
    """L2 sensitivity of a per-cell vector when one consumer changes at most
    ``cells_per_consumer`` cells by at most ``per_cell`` each: √C·k, rounded up to a float
    (checked in exact rationals)."""
    exact = Fraction(cells_per_consumer * per_cell * per_cell)
    value = _float_at_least(Fraction(math.sqrt(exact)))
    while Fraction(value) ** 2 < exact:
        value = math.nextafter(value, math.inf)
    return value


def gaussian_mechanism(*, sensitivity: float, rho: Fraction | Decimal) -> GaussianMechanism:
    """Calibrated like laplace_mechanism: the closed-form scale √(Δ²/2ρ) rounded up, then
    stepped up one float while OpenDP's own map states more than ρ. ``sensitivity`` is the
    L2 bound (a float: √C·k need not be whole)."""
    if sensitivity < 1:
        raise ValueError("sensitivity must be at least 1")
    target = Fraction(rho)
    if target <= 0:
        raise ValueError("rho must be positive")
    space = (dp.vector_domain(dp.atom_domain(T=_I64)), dp.l2_distance(T="f64"))
    squared = Fraction(sensitivity) ** 2 / (2 * target)
    scale = _float_at_least(Fraction(math.sqrt(squared)))
    while Fraction(scale) ** 2 < squared:
        scale = math.nextafter(scale, math.inf)
    for _ in range(64):
        measurement = dp.m.make_gaussian(*space, scale=scale)
        used = measurement.map(float(sensitivity))
        if Fraction(used) <= target:
            return GaussianMechanism(measurement=measurement, sensitivity=sensitivity, rho=target, scale=scale, rho_used=used)
        scale = math.nextafter(scale, math.inf)
    raise RuntimeError("noise calibration did not converge")  # pragma: no cover - defensive
