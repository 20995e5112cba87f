"""The per-person privacy accountant: one guarantee per person across every purpose.

Every charge to a person is either pure ε-DP (Laplace, the exponential mechanism) or
ρ-zero-concentrated DP (Gaussian noise). A person's ledger over the rolling window holds
both sums side by side: ``E`` (units of 0.0001 ε) over their pure charges and ``R`` (units
of 1e-8 ρ) over their Gaussian charges. The guarantee stated to people and manufacturers is
one (ε, δ) pair at the one stated δ (``settings.CH_PRIVACY_DELTA``):

- only pure charges (R = 0): ε = E and δ = 0 (basic composition of pure DP);
- otherwise ε = E + ρ→ε(R, δ), where ρ-zCDP implies (ρ + 2·sqrt(ρ·ln(1/δ)), δ)-DP
  (Bun & Steinke, "Concentrated Differential Privacy: Simplifications, Extensions, and
  Lower Bounds", TCC 2016, Proposition 1.3), composed with the pure part by basic
  composition. Each pure ε-DP charge is also ε²/2-zCDP (same paper, Proposition 1.4), so
  when every charge is read as zCDP, ρ→ε(R + ΣE²/2, δ) is a second valid statement; the
  smaller of the two is stated.

The individual filter (who is left out of a release) compares the *first* form, which is
never below the stated one, with the cap: a person is used only while E + ρ→ε(R) stays
within the cap after the charge. Pure and Gaussian individual filters of this kind stay
valid under fully adaptive choices of releases (Feldman & Zrnic, "Individual Privacy
Accounting via a Rényi Filter", NeurIPS 2021; Whitehouse, Ramdas, Rogers, Wu, "Fully
Adaptive Composition in Differential Privacy", ICML 2023), which is what lets a person
whose data a release could not use keep their allowance.

The conversion is a monotone function of (E, R), so the filter is one vectorised
comparison per chunk of consumers (ledger.consumers_over). Every number is rounded
against the person: ρ up to the next 1e-8, the stated ε up to the next 0.0001.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction

import numpy as np
from django.conf import settings

EPSILON_UNIT = Decimal("0.0001")
RHO_UNIT = Decimal("0.00000001")


def delta() -> float:
    return float(settings.CH_PRIVACY_DELTA)


def person_cap() -> Decimal:
    return Decimal(repr(settings.CH_PERSON_EPSILON_CAP)).quantize(EPSILON_UNIT, rounding=ROUND_FLOOR)


def rho_units(value: Fraction | Decimal | float) -> int:
    """ρ in units of 1e-8, rounded up."""
    return math.ceil(Fraction(value) / Fraction(RHO_UNIT))


def zcdp_to_epsilon(rho: float, at_delta: float) -> float:
    """ρ-zCDP ⇒ (ε, δ)-DP with ε = ρ + 2·sqrt(ρ·ln(1/δ)) (Bun & Steinke 2016, Prop. 1.3)."""
    if rho <= 0:
        return 0.0
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / at_delta))


def rho_for_epsilon(*, epsilon: float, at_delta: float) -> float:
    """The largest ρ whose conversion at δ is at most ``epsilon`` (the inverse of
    zcdp_to_epsilon: with L = ln(1/δ), sqrt(ρ) = sqrt(L + ε) - sqrt(L))."""
    log_term = math.log(1.0 / at_delta)
    root = math.sqrt(log_term + epsilon) - math.sqrt(log_term)
    return root * root


def rho_within(epsilon: Decimal) -> Decimal:
    """The largest ρ (1e-8 quantum) whose stated ε at δ is at most ``epsilon``."""
    rho = (Decimal(repr(rho_for_epsilon(epsilon=float(epsilon), at_delta=delta()))) / RHO_UNIT).to_integral_value(
        rounding=ROUND_FLOOR
    ) * RHO_UNIT
    while rho > 0 and stated_epsilon(rho) > epsilon:  # float error of the inverse: never state more than asked
        rho -= RHO_UNIT
    return rho.quantize(RHO_UNIT)


def stated_epsilon(rho: Decimal) -> Decimal:
    """The ε a charge of ρ states at the one δ, rounded up to 0.0001."""
    return Decimal(repr(zcdp_to_epsilon(float(rho), delta()))).quantize(EPSILON_UNIT, rounding=ROUND_CEILING)


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
    rho = float(Decimal(rho_units_total) * RHO_UNIT)
    additive = float(pure) + zcdp_to_epsilon(rho, at)
    stated = additive
    if pure_squares:
        stated = min(additive, zcdp_to_epsilon(rho + float(pure_squares), at))
    return Guarantee(epsilon=_round_up(stated), delta=at)


def filter_epsilon_units(pure_units: np.ndarray, rho_units_total: np.ndarray) -> np.ndarray:
    """Vectorised E + ρ→ε(R), in units of 0.0001 ε rounded up: the quantity the individual
    filter compares with the cap (never below the stated guarantee)."""
    at = delta()
    rho = rho_units_total.astype(np.float64) * float(RHO_UNIT)
    converted = np.where(rho > 0, rho + 2.0 * np.sqrt(rho * math.log(1.0 / at)), 0.0)
    # A float in ε is turned into whole units by rounding up, plus one unit for the float
    # error of the conversion itself: the filter errs towards leaving a person out.
    extra = np.where(rho > 0, np.ceil(converted / float(EPSILON_UNIT)) + 1, 0).astype(np.int64)
    return pure_units.astype(np.int64) + extra
