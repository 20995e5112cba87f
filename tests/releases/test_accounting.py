"""The accountant converts ρ-zCDP to (ε, δ) with OpenDP's optimal conversion (Canonne,
Kamath & Steinke 2020), always rounding against the person, and the individual filter's
table never states less than that conversion."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import opendp.prelude as dp
import pytest

from clearinghouse.releases import accounting

DELTA = 1e-7
UNIT = Decimal("0.00000001")


def opendp_epsilon(rho: float) -> float:
    """OpenDP's own ε for ρ at δ 1e-7, built here independently of accounting.py: a Gaussian
    of scale 1 on vectors states ρ = d²/2."""
    dp.enable_features("contrib")
    gaussian = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="f64"), scale=1.0)
    distance = math.sqrt(2 * rho)
    while gaussian.map(distance) < rho:
        distance = math.nextafter(distance, math.inf)
    return dp.c.make_zCDP_to_approxDP(gaussian).map(distance).epsilon(DELTA)


def units_up(epsilon: float) -> int:
    return math.ceil(Fraction(epsilon) / Fraction(1, 10_000))


def bun_steinke_rho(epsilon: float) -> float:
    """The ρ that ε bought before (ε = ρ + 2√(ρ ln 1/δ)), for comparison only."""
    log_term = math.log(1 / DELTA)
    return (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2


@pytest.mark.parametrize(("epsilon", "rho"), [("1", "0.02018713"), ("0.45", "0.00444233"), ("5.4", "0.45804579"), ("6", "0.55298715")])
def test_an_epsilon_buys_opendps_rho_rounded_down_and_more_than_bun_steinke(epsilon, rho):
    bought = accounting.rho_within(Decimal(epsilon))
    assert bought == Decimal(rho)
    # The largest ρ on the 1e-8 grid: one unit more would state more than asked.
    assert opendp_epsilon(float(bought)) <= float(epsilon) < opendp_epsilon(float(bought + UNIT))
    assert accounting.stated_epsilon(bought) <= Decimal(epsilon) < accounting.stated_epsilon(bought + UNIT)
    assert float(bought) > 1.15 * bun_steinke_rho(float(epsilon))


def test_the_stated_epsilon_is_opendps_rounded_up():
    rng = np.random.default_rng(7)
    for rho in np.exp(rng.uniform(math.log(1e-6), math.log(2.0), size=25)):
        rho_decimal = Decimal(f"{rho:.8f}")
        stated = accounting.stated_epsilon(rho_decimal)
        exact = opendp_epsilon(float(rho_decimal))
        assert exact <= float(stated) < exact + 0.0001


def test_a_ledger_of_pure_charges_states_exactly_its_sum_with_delta_zero():
    # Ledgers from before any Gaussian charge keep their plain statement.
    guarantee = accounting.guarantee_of(pure_units=45_000, rho_units_total=0, pure_squares=Fraction(9, 2))
    assert guarantee.epsilon == Decimal("4.5000") and guarantee.delta == 0
    assert guarantee.as_dict() == {"epsilon": "4.5000", "delta": "0"}


def test_a_mixed_ledger_states_the_smaller_of_the_additive_and_the_all_zcdp_reading():
    rho_units = 2_018_713  # ρ 0.02018713, what ε 1 buys
    additive = accounting.guarantee_of(pure_units=10_000, rho_units_total=rho_units)
    assert additive.epsilon == Decimal(1) + Decimal(units_up(opendp_epsilon(0.02018713))) / 10_000 and additive.delta == DELTA
    # Ten pure charges of 0.1: additive 1 + 1 = 2, all-zCDP ρ 0.0202 + 10 × 0.005 = 0.0702.
    both = accounting.guarantee_of(pure_units=10_000, rho_units_total=rho_units, pure_squares=10 * Fraction(1, 10) ** 2 / 2)
    assert both.epsilon == Decimal(units_up(opendp_epsilon(0.07018713))) / 10_000 < additive.epsilon


def test_the_filter_table_never_states_less_than_opendp_and_decides_like_it():
    rng = np.random.default_rng(11)
    rho_units = np.unique(np.exp(rng.uniform(0, math.log(1e8), size=120)).astype(np.int64))
    low, high = accounting.filter_epsilon_bounds(rho_units)
    exact = np.array([units_up(opendp_epsilon(int(r) / 1e8)) for r in rho_units])
    assert (low <= exact).all() and (exact <= high).all()
    assert ((high - exact) <= np.maximum(3, exact // 150)).all()  # a 1.1% grid: within about 0.6% in ε
    assert not accounting.filter_epsilon_bounds(np.array([0]))[1].any()
    # The filter's decision is OpenDP's exactly, also right at the limit.
    pure = rng.integers(0, 30_000, size=rho_units.size)
    for offset in (-1, 0, 1):
        limit = int(np.median(pure + exact)) + offset
        decided = accounting.filter_over(pure, rho_units, limit)
        assert (decided == (pure + exact > limit)).all()


def test_the_filter_leaves_out_a_person_one_unit_over_and_keeps_one_on_the_cap():
    rho_units = np.array([2_018_713, 2_018_713, 0, 0])
    converted = units_up(opendp_epsilon(0.02018713))
    pure = np.array([54_000 - converted, 54_001 - converted, 54_000, 54_001])
    assert accounting.filter_over(pure, rho_units, 54_000).tolist() == [False, True, False, True]


def test_the_default_allocation_keeps_a_year_of_gaussian_answers_within_the_answerable_cap():
    from clearinghouse.demo.budgets import DEMO_ALLOCATION
    from clearinghouse.releases.reach import RESERVE

    answerable = accounting.person_cap() * (1 - Decimal(RESERVE.numerator) / RESERVE.denominator)
    assert answerable == Decimal("5.4")
    # Four manufacturers × two purposes, over the 13 calendar months a rolling year touches.
    year = 8 * 13 * accounting.rho_within(Decimal(DEMO_ALLOCATION))
    assert accounting.stated_epsilon(year) <= answerable
    assert year <= accounting.rho_within(answerable)
    # 0.45, the default before OpenDP's conversion, no longer fits: the bound is 0.4479.
    assert 8 * 13 * accounting.rho_within(Decimal("0.45")) > accounting.rho_within(answerable)
    assert 8 * 13 * accounting.rho_within(Decimal("0.4479")) <= accounting.rho_within(answerable)
    assert 8 * 13 * accounting.rho_within(Decimal("0.4480")) > accounting.rho_within(answerable)
