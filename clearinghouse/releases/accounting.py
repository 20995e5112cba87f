"""The per-person privacy accountant: one guarantee per person across every purpose.

Every charge to a person is either pure ε-DP (Laplace, the exponential mechanism) or
ρ-zero-concentrated DP (Gaussian noise). A person's ledger over the rolling window holds
both sums side by side: ``E`` (units of 0.0001 ε) over their pure charges and ``R`` (units
of 1e-8 ρ) over their Gaussian charges. The guarantee stated to people and manufacturers is
one (ε, δ) pair at the one stated δ (``settings.CH_PRIVACY_DELTA``):

- only pure charges (R = 0): ε = E and δ = 0 (basic composition of pure DP);
- otherwise ε = E + ρ→ε(R, δ), composed with the pure part by basic composition, where
  ρ→ε is OpenDP's conversion of ρ-zCDP to (ε, δ)-DP (``make_zCDP_to_approxDP``, whose map
  is a privacy profile; we read ``.epsilon(δ)``). It is the optimal conversion of
  Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS
  2020 (arXiv 2004.00010), the conversion OpenDP implements, tighter than Bun & Steinke's
  ρ + 2·sqrt(ρ·ln(1/δ)) (TCC 2016, Prop. 1.3): at δ 1e-7, ε 1 buys ρ 0.0202 instead of
  0.0150. Each pure ε-DP charge is also ε²/2-zCDP (Bun & Steinke, Prop. 1.4), so when
  every charge is read as zCDP, ρ→ε(R + ΣE²/2, δ) is a second valid statement; the smaller
  of the two is stated.

The individual filter (who is left out of a release) compares the *first* form, which is
never below the stated one, with the cap: a person is used only while E + ρ→ε(R) stays
within the cap after the charge. Pure and Gaussian individual filters of this kind stay
valid under fully adaptive choices of releases (Feldman & Zrnic, "Individual Privacy
Accounting via a Rényi Filter", NeurIPS 2021; Whitehouse, Ramdas, Rogers, Wu, "Fully
Adaptive Composition in Differential Privacy", ICML 2023), which is what lets a person
whose data a release could not use keep their allowance.

OpenDP's conversion takes about 4 ms (a search over the profile), far too slow for one
call per consumer, so the filter (``filter_over``, vectorised per chunk of 65,536
consumers) reads a table: ρ→ε at the geometric grid R = 2^(k/64) units, each person's R
rounded up to the next grid point for an upper bound and down for a lower one (ρ→ε is
increasing, so both bounds hold); only the few people whose two bounds fall on either
side of the limit get the exact conversion, once per distinct R. Every number is rounded
against the person: ρ up to the next 1e-8, the stated ε up to the next 0.0001, the ρ an ε
buys down to the 1e-8 below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from functools import lru_cache

import numpy as np
import opendp.prelude as dp
from django.conf import settings

dp.enable_features("contrib")

EPSILON_UNIT = Decimal("0.0001")
RHO_UNIT = Decimal("0.00000001")
# Grid points per doubling of R in the filter's table: neighbouring points differ by 1.1%
# in ρ, about 0.55% in ε, so few people fall between a point's two bounds.
GRID_STEPS = 64


def delta() -> float:
    return float(settings.CH_PRIVACY_DELTA)


def person_cap() -> Decimal:
    return Decimal(repr(settings.CH_PERSON_EPSILON_CAP)).quantize(EPSILON_UNIT, rounding=ROUND_FLOOR)


def rho_units(value: Fraction | Decimal | float) -> int:
    """ρ in units of 1e-8, rounded up."""
    return math.ceil(Fraction(value) / Fraction(RHO_UNIT))


@lru_cache(maxsize=1)
def _conversion():
    """A Gaussian measurement whose map states ρ = d²/2 (scale 1), and OpenDP's conversion
    of it to approximate DP. (A user measurement whose map is the identity on ρ would be
    simpler, but needs the process-wide "honest-but-curious" feature, which would let any
    code build measurements with unchecked privacy maps.)"""
    gaussian = dp.m.make_gaussian(dp.atom_domain(T="f64", nan=False), dp.absolute_distance(T="f64"), scale=1.0)
    return gaussian, dp.c.make_zCDP_to_approxDP(gaussian)


@lru_cache(maxsize=1 << 16)
def zcdp_to_epsilon(rho: float, at_delta: float) -> float:
    """The ε at which ρ-zCDP is (ε, ``at_delta``)-DP, by OpenDP's make_zCDP_to_approxDP
    (Canonne, Kamath & Steinke 2020). The Gaussian's own map decides the ρ converted: its
    input distance is stepped up until the map states at least ``rho``, so the ε is never
    that of a smaller ρ."""
    if rho <= 0:
        return 0.0
    gaussian, converted = _conversion()
    distance = math.sqrt(2.0 * rho)
    while gaussian.map(distance) < rho:
        distance = math.nextafter(distance, math.inf)
    return float(converted.map(distance).epsilon(at_delta))


@lru_cache(maxsize=4096)
def _rho_units_within(epsilon: float, at_delta: float) -> int:
    """The largest number of 1e-8 ρ units whose OpenDP ε at δ is at most ``epsilon``.

    ε is close to linear in sqrt(ρ), so a secant search on sqrt(ρ) lands next to the
    answer in a few conversions; bisection over whole units then settles it exactly
    (OpenDP's conversion is the judge at every step)."""
    if epsilon <= 0:
        return 0
    unit = float(RHO_UNIT)

    def fits(units: int) -> bool:
        return units <= 0 or zcdp_to_epsilon(units * unit, at_delta) <= epsilon

    if not fits(1):
        return 0
    # Secant on x = sqrt(ρ / unit): f(x) = ε(x²) − epsilon, from x = 1 and a point beyond.
    x0, f0 = 1.0, zcdp_to_epsilon(unit, at_delta) - epsilon
    x1 = max(2.0, math.sqrt(epsilon / unit))
    f1 = zcdp_to_epsilon(x1 * x1 * unit, at_delta) - epsilon
    for _ in range(8):
        if f1 == f0:
            break
        x2 = max(1.0, x1 - f1 * (x1 - x0) / (f1 - f0))
        x0, f0 = x1, f1
        x1, f1 = x2, zcdp_to_epsilon(x2 * x2 * unit, at_delta) - epsilon
        if abs(x1 - x0) < 0.25:
            break
    guess = max(1, math.floor(x1 * x1))
    low, high = guess, guess + 1
    step = 1
    while not fits(low):  # widen downwards until a fit, then upwards until a miss
        low, step = max(1, guess - step), step * 2
    step = 1
    while fits(high):
        low, high, step = high, high + step, step * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def rho_for_epsilon(*, epsilon: float, at_delta: float) -> float:
    """The largest ρ, a whole number of 1e-8 units, whose OpenDP conversion at δ is at most
    ``epsilon`` (the inverse of zcdp_to_epsilon, rounded against the person)."""
    return _rho_units_within(float(epsilon), float(at_delta)) / 1e8


def rho_within(epsilon: Decimal) -> Decimal:
    """The largest ρ (1e-8 quantum) whose stated ε at δ is at most ``epsilon``."""
    rho = (Decimal(_rho_units_within(float(epsilon), delta())) * RHO_UNIT).quantize(RHO_UNIT)
    while rho > 0 and stated_epsilon(rho) > epsilon:  # float ε of a Decimal: never state more than asked
        rho -= RHO_UNIT
    return rho.quantize(RHO_UNIT)


def stated_epsilon(rho: Decimal) -> Decimal:
    """The ε a charge of ρ states at the one δ, rounded up to 0.0001."""
    return _round_up(zcdp_to_epsilon(float(rho), delta()))


@dataclass(frozen=True)
class Guarantee:
    """What a person has been charged, as the one (ε, δ) pair that is stated."""

    epsilon: Decimal
    delta: float

    def as_dict(self) -> dict[str, str]:
        return {"epsilon": str(self.epsilon), "delta": "0" if self.delta == 0 else f"{self.delta:g}"}


def _round_up(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(EPSILON_UNIT, rounding=ROUND_CEILING)


def guarantee_of(*, pure_units: int, rho_units_total: int, pure_squares: Fraction = Fraction(0)) -> Guarantee:
    """The stated guarantee of a ledger (see the module docstring). ``pure_squares`` is
    Σ ε_i²/2 over the pure charges, when known, for the all-zCDP reading."""
    pure = Decimal(pure_units) * EPSILON_UNIT
    if rho_units_total <= 0:
        return Guarantee(epsilon=pure.quantize(EPSILON_UNIT), delta=0.0)
    at = delta()
    rho = rho_units_total / 1e8
    additive = pure + _round_up(zcdp_to_epsilon(rho, at))
    stated = additive
    if pure_squares:
        stated = min(additive, _round_up(zcdp_to_epsilon(float(Fraction(rho_units_total, 10**8) + pure_squares), at)))
    return Guarantee(epsilon=stated.quantize(EPSILON_UNIT), delta=at)


def _units_up(rho: float, at_delta: float) -> int:
    """ρ→ε in whole 0.0001 units, rounded up."""
    return int(_round_up(zcdp_to_epsilon(rho, at_delta)) / EPSILON_UNIT)


@lru_cache(maxsize=1 << 14)
def _grid_units(step: int, at_delta: float) -> int:
    """ρ→ε (0.0001 units, rounded up) at the grid point R = 2^(step/GRID_STEPS) ρ units."""
    return _units_up(2.0 ** (step / GRID_STEPS) / 1e8, at_delta)


def _grid_steps(rho_units_total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each R ≥ 1 unit, the grid steps just below and just above it (as floats are
    inexact, each is checked against R and moved one step if it misses)."""
    values = rho_units_total.astype(np.float64)
    exact = np.log2(values) * GRID_STEPS
    down = np.floor(exact).astype(np.int64)
    up = np.ceil(exact).astype(np.int64)
    down -= 2.0 ** (down / GRID_STEPS) > values
    up += 2.0 ** (up / GRID_STEPS) < values
    return down, up


def filter_epsilon_bounds(rho_units_total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised lower and upper bounds, in 0.0001 units, of ρ→ε(R) from the grid table
    (R = 0 is 0 for both). The upper bound is never below OpenDP's own conversion of R,
    rounded up, and the lower never above it (ρ→ε is increasing in ρ)."""
    rho_values = np.asarray(rho_units_total, dtype=np.int64)
    low = np.zeros(rho_values.shape, dtype=np.int64)
    high = np.zeros(rho_values.shape, dtype=np.int64)
    positive = rho_values > 0
    if not positive.any():
        return low, high
    down, up = _grid_steps(rho_values[positive])
    at = delta()
    # A few hundred distinct grid steps serve millions of people: convert each once and
    # look the rest up by position (a per-element Python call took seconds per release).
    steps = np.unique(np.concatenate([down, up]))
    table = np.fromiter((_grid_units(int(step), at) for step in steps), dtype=np.int64, count=steps.size)
    low[positive] = table[np.searchsorted(steps, down)]
    high[positive] = table[np.searchsorted(steps, up)]
    return low, high


def filter_over(pure_units: np.ndarray, rho_units_total: np.ndarray, limit_units: int) -> np.ndarray:
    """Vectorised: whether E + ρ→ε(R) (ε in 0.0001 units, ρ→ε rounded up) passes
    ``limit_units``, the quantity the individual filter compares with a cap; never below
    the stated guarantee. The grid's bounds decide almost everyone; those between them get
    OpenDP's exact conversion, once per distinct R."""
    pure = np.asarray(pure_units, dtype=np.int64)
    rho_values = np.asarray(rho_units_total, dtype=np.int64)
    pure, rho_values = np.broadcast_arrays(pure, rho_values)
    low, high = filter_epsilon_bounds(rho_values)
    over = pure + low > limit_units
    unsure = ~over & (pure + high > limit_units)
    if unsure.any():
        at = delta()
        distinct = np.unique(rho_values[unsure])
        exact = np.fromiter((_units_up(int(r) / 1e8, at) for r in distinct), dtype=np.int64, count=distinct.size)
        converted = exact[np.searchsorted(distinct, rho_values[unsure])]
        over[unsure] = pure[unsure] + converted > limit_units
    return over
