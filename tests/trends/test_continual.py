"""Continual release of weekly series: calibration, sensitivity bound, stated variances
against OpenDP draws, coverage, consistency, streaming, and the measured comparison with
noising each week with Laplace. Run with ``pytest tests/trends -p no:django -q -s`` to see
the figures."""

from __future__ import annotations

import ast
import itertools
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import opendp.core
import opendp.prelude as dp
import pytest
from scipy.stats import chi2

from clearinghouse.trends import continual
from clearinghouse.trends.continual import (
    NoisyNodes,
    compare_strategies,
    estimate,
    measure,
    plan_for_half_width,
    plan_series,
    rho_for_half_width,
)

dp.enable_features("contrib")

WEEKS = 52
RHO = Decimal("0.005")  # epsilon = sqrt(2 rho) = 0.1 for the Laplace comparison


def _counts(series: int, weeks: int = WEEKS) -> np.ndarray:
    """A deterministic, growing, seasonal pattern of weekly counts (no randomness)."""
    t = np.arange(weeks)
    base = 200 + 3 * t + np.rint(40 * np.sin(2 * np.pi * t / 13)).astype(np.int64)
    return np.tile(base, (series, 1)).astype(np.int64) + np.arange(series, dtype=np.int64)[:, None] % 7


@pytest.fixture
def no_draws(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an OpenDP measurement was invoked")

    monkeypatch.setattr(dp.Measurement, "__call__", refuse)
    monkeypatch.setattr(dp.Measurement, "invoke", refuse)
    monkeypatch.setattr(opendp.core, "measurement_invoke", refuse)


# --- planning ---------------------------------------------------------------------------------


def test_plans_are_deterministic_and_never_draw(no_draws):
    first = plan_series(weeks=WEEKS, series=3, rho=RHO, l2_sensitivity_sq=1)
    again = plan_series(weeks=WEEKS, series=3, rho=RHO, l2_sensitivity_sq=1)
    assert first.digest == again.digest and first.noise_scale == again.noise_scale
    assert np.array_equal(first.strategy_matrix, again.strategy_matrix)
    assert np.array_equal(first.running_total_variance, again.running_total_variance)
    assert first.strategy == "optimal"
    assert Fraction(first.rho_used) <= Fraction(first.rho)
    assert first.d_in**2 >= first.sensitivity_sq > (first.d_in - 1) ** 2
    # scale is the closed form (to within the float steps OpenDP may ask for)
    assert first.noise_scale >= first.d_in / math.sqrt(2 * float(RHO)) * (1 - 1e-12)
    assert first.noise_scale <= first.d_in / math.sqrt(2 * float(RHO)) * (1 + 1e-9)
    inverse = plan_for_half_width(weeks=WEEKS, series=3, l2_sensitivity_sq=1, half_width=25.0, target="running_total")
    assert inverse.max_running_total_half_width <= 25.0


def test_rho_inputs_and_bad_arguments():
    for rho in (Decimal("0.5"), "0.5", 0.5, Fraction(1, 2)):
        assert plan_series(weeks=8, series=1, rho=rho, l2_sensitivity_sq=1).rho == Decimal("0.5")
    with pytest.raises(ValueError):
        plan_series(weeks=0, series=1, rho=RHO, l2_sensitivity_sq=1)
    with pytest.raises(ValueError):
        plan_series(weeks=8, series=1, rho=Decimal(0), l2_sensitivity_sq=1)
    with pytest.raises(ValueError):
        plan_series(weeks=8, series=1, rho=RHO, l2_sensitivity_sq=0)
    with pytest.raises(ValueError):
        plan_series(weeks=8, series=1, rho=RHO, l2_sensitivity_sq=1, strategy="nope")


@pytest.mark.parametrize("strategy", continual.STRATEGIES)
def test_sensitivity_bound_is_exact_for_one_week_and_never_below_the_truth(strategy):
    # one week per person: the bound is the largest column norm, exactly
    plan = plan_series(weeks=10, series=1, rho=RHO, l2_sensitivity_sq=1, max_weeks_per_person=1, strategy=strategy)
    a = plan.strategy_matrix.astype(object)
    columns = [sum(int(a[i, j]) ** 2 for i in range(a.shape[0])) for j in range(a.shape[1])]
    assert plan.sensitivity_sq == max(columns)
    # brute force: every integer change d with sum d^2 <= D2 on a short horizon
    weeks, budget = 6, 3
    a = continual._strategy_matrix(strategy, weeks).astype(np.int64)
    worst = 0
    for d in itertools.product((-1, 0, 1), repeat=weeks):
        d = np.array(d, dtype=np.int64)
        if 0 < int(d @ d) <= budget:
            worst = max(worst, int((a @ d) @ (a @ d)))
    bound = continual._sensitivity_sq(a, budget, min(budget, weeks))
    assert bound >= worst
    print(f"\n{strategy}: brute-force worst {worst / continual.KAPPA**2:.3f}, bound {bound / continual.KAPPA**2:.3f} (D2=3, T=6)")


def test_auto_keeps_noise_per_week_when_a_person_can_be_in_every_week():
    plan = plan_series(weeks=WEEKS, series=1, rho=RHO, l2_sensitivity_sq=WEEKS, max_weeks_per_person=WEEKS)
    assert plan.strategy == "identity"
    assert plan.sensitivity_sq == WEEKS * continual.KAPPA**2


@pytest.mark.parametrize("target", ["weekly", "running_total"])
def test_plan_for_half_width_is_the_least_rho(target):
    plan = plan_for_half_width(weeks=WEEKS, series=2, l2_sensitivity_sq=1, half_width=30.0, target=target)
    achieved = plan.max_weekly_half_width if target == "weekly" else plan.max_running_total_half_width
    assert achieved <= 30.0
    step = Decimal(1).scaleb(plan.rho.adjusted() - 5)  # six significant digits
    cheaper = plan_series(weeks=WEEKS, series=2, rho=plan.rho - step, l2_sensitivity_sq=1)
    cheaper_width = cheaper.max_weekly_half_width if target == "weekly" else cheaper.max_running_total_half_width
    assert cheaper_width > 30.0
    assert rho_for_half_width(weeks=WEEKS, series=2, l2_sensitivity_sq=1, half_width=30.0, target=target) == plan.rho


# --- draws: stated variances, coverage, consistency ------------------------------------------


@pytest.fixture(scope="module")
def released():
    """One release of 2,000 series with the same structure (independent noise per series),
    shared by the variance, coverage, consistency and Laplace-comparison tests."""
    series = 2000
    plan = plan_series(weeks=WEEKS, series=series, rho=RHO, l2_sensitivity_sq=1)
    counts = _counts(series)
    result = estimate(plan=plan, noisy=measure(plan=plan, weekly_counts=counts))
    return plan, counts, result


def _running_covariance(weekly_covariance: np.ndarray) -> np.ndarray:
    return np.cumsum(np.cumsum(weekly_covariance, axis=0), axis=1)


def _mean_ratio_se(cov: np.ndarray, n: int) -> float:
    """Standard error of mean_t(mean_s e_st^2 / var_t) under the stated Gaussian model:
    Cov(e_t^2, e_u^2) = 2 Cov(e_t, e_u)^2."""
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    return math.sqrt(2 * float((corr**2).sum()) / n) / len(sd)


def _variance_ratios(errors: np.ndarray, stated: np.ndarray):
    n = errors.shape[0]
    ratios = (errors**2).mean(axis=0) / stated  # the mean is known to be 0
    # n * ratio ~ chi2(n) per week; Bonferroni over the weeks at a 1e-6 total false alarm
    alpha = 1e-6 / len(stated)
    lo, hi = chi2.ppf(alpha / 2, n) / n, chi2.ppf(1 - alpha / 2, n) / n
    return ratios, lo, hi


def test_stated_variances_fit_the_opendp_draws(released):
    plan, counts, result = released
    n = counts.shape[0]
    weekly_err = result.weekly_values - counts
    running_err = result.running_totals - np.cumsum(counts, axis=1)
    assert np.allclose(result.weekly_variance, plan.weekly_variance)
    assert np.allclose(result.running_total_variance, plan.running_total_variance)
    for name, errors, cov in (
        ("weekly", weekly_err, result.weekly_covariance),
        ("running total", running_err, _running_covariance(result.weekly_covariance)),
    ):
        stated = np.diag(cov)
        ratios, lo, hi = _variance_ratios(errors, stated)
        se = _mean_ratio_se(cov, n)
        print(
            f"\n{name}: empirical/stated variance, mean over weeks {ratios.mean():.4f} (s.e. {se:.4f}), "
            f"per week [{ratios.min():.3f}, {ratios.max():.3f}] (chi2 band [{lo:.3f}, {hi:.3f}])"
        )
        assert np.all((ratios > lo) & (ratios < hi))
        assert abs(ratios.mean() - 1) < 5 * se
        # no bias: the mean error per week is within 5.5 standard errors of zero
        assert np.all(np.abs(errors.mean(axis=0)) < 5.5 * np.sqrt(stated / n))
    # the stated correlation between weeks is the empirical one too
    empirical = np.corrcoef(weekly_err[:, :6], rowvar=False)
    sd = np.sqrt(np.diag(result.weekly_covariance))[:6]
    assert np.allclose(empirical, result.weekly_covariance[:6, :6] / np.outer(sd, sd), atol=0.1)


def test_95_percent_half_widths_cover(released):
    plan, counts, result = released
    weekly = np.abs(result.weekly_values - counts) <= result.weekly_half_width
    running = np.abs(result.running_totals - np.cumsum(counts, axis=1)) <= result.running_total_half_width
    print(f"\ncoverage of the 95% half-widths: weekly {weekly.mean():.4f}, running totals {running.mean():.4f}")
    # even if every week of a series moved together the s.e. would be 0.005
    assert 0.93 < weekly.mean() < 0.97
    assert 0.93 < running.mean() < 0.97


def test_running_totals_are_the_prefix_sums(released):
    _, _, result = released
    assert np.array_equal(result.running_totals, np.cumsum(result.weekly_values, axis=1))


def test_tree_with_least_squares_fits_its_stated_variances():
    series = 400
    plan = plan_series(weeks=WEEKS, series=series, rho=RHO, l2_sensitivity_sq=1, strategy="tree")
    counts = _counts(series)
    result = estimate(plan=plan, noisy=measure(plan=plan, weekly_counts=counts))
    cov = _running_covariance(result.weekly_covariance)
    ratios, lo, hi = _variance_ratios(result.running_totals - np.cumsum(counts, axis=1), np.diag(cov))
    se = _mean_ratio_se(cov, series)
    print(f"\ntree (Honaker least squares) running totals: empirical/stated {ratios.mean():.4f} (s.e. {se:.4f})")
    assert np.all((ratios > lo) & (ratios < hi)) and abs(ratios.mean() - 1) < 5 * se


def test_streaming_draws_each_row_once_and_never_revises_lower_triangular_releases():
    plan = plan_series(weeks=12, series=4, rho=RHO, l2_sensitivity_sq=1)
    counts = _counts(4, 12)
    noisy, previous_weekly = None, None
    for t in range(1, 13):
        noisy = measure(plan=plan, weekly_counts=counts[:, :t], previous=noisy)
        assert noisy.values.shape == (4, plan.rows_ready[t])
        result = estimate(plan=plan, noisy=noisy)
        assert np.allclose(result.running_total_variance[-1], plan.released_running_total_variance[t - 1])
        if previous_weekly is not None:
            assert np.allclose(result.weekly_values[:, : t - 1], previous_weekly, rtol=1e-12, atol=1e-9)
        previous_weekly = result.weekly_values
    # the tree closes nodes late and revises earlier weeks, with the stated online variances
    tree = plan_series(weeks=12, series=4, rho=RHO, l2_sensitivity_sq=1, strategy="tree")
    noisy = None
    for t in range(1, 13):
        noisy = measure(plan=tree, weekly_counts=counts[:, :t], previous=noisy)
        result = estimate(plan=tree, noisy=noisy)
        assert np.isclose(result.running_total_variance[-1], tree.released_running_total_variance[t - 1])
    assert noisy.values.shape[1] == tree.strategy_matrix.shape[0]


def test_measure_refuses_bad_input():
    plan = plan_series(weeks=8, series=2, rho=RHO, l2_sensitivity_sq=1)
    other = plan_series(weeks=8, series=2, rho=Decimal("0.006"), l2_sensitivity_sq=1)
    counts = _counts(2, 8)
    with pytest.raises(ValueError):
        measure(plan=plan, weekly_counts=counts.astype(float))
    with pytest.raises(ValueError):
        measure(plan=plan, weekly_counts=counts[:1])
    with pytest.raises(ValueError):
        measure(plan=plan, weekly_counts=np.zeros((2, 9), dtype=np.int64))
    noisy = measure(plan=plan, weekly_counts=counts[:, :5])
    with pytest.raises(ValueError):
        measure(plan=other, weekly_counts=counts, previous=noisy)
    with pytest.raises(ValueError):
        measure(plan=plan, weekly_counts=counts[:, :4], previous=noisy)
    with pytest.raises(ValueError):
        estimate(plan=other, noisy=noisy)
    with pytest.raises(ValueError):
        measure(plan=plan, weekly_counts=np.full((2, 8), 2**50, dtype=np.int64))


# --- the measured comparisons ------------------------------------------------------------------


def _laplace_running_totals(counts: np.ndarray, *, epsilon: Fraction, l1_sensitivity: int) -> np.ndarray:
    """The baseline: each week noised on its own with discrete Laplace at pure epsilon
    (OpenDP, calibrated like releases.mechanisms.laplace_mechanism), then summed."""
    space = (dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"))
    scale = float(Fraction(l1_sensitivity) / epsilon)
    while True:
        measurement = dp.m.make_laplace(*space, scale=scale)
        if Fraction(measurement.map(l1_sensitivity)) <= epsilon:
            break
        scale = math.nextafter(scale, math.inf)
    noisy = np.asarray(measurement([int(v) for v in counts.ravel()]), dtype=np.int64).reshape(counts.shape)
    return np.cumsum(noisy, axis=1)


def test_running_totals_beat_per_week_laplace_at_the_same_zcdp(released):
    """The issue's comparison on a 52-week series: one person in one week of one series
    (L1 = L2 = 1), Laplace at epsilon = sqrt(2 rho) (epsilon-DP implies epsilon^2/2-zCDP)."""
    plan, counts, result = released
    epsilon = Fraction(1, 10)
    assert epsilon**2 / 2 == Fraction(RHO)
    truth = np.cumsum(counts, axis=1)
    ours = result.running_totals - truth
    laplace = _laplace_running_totals(counts, epsilon=epsilon, l1_sensitivity=1) - truth
    rmse_ours, rmse_laplace = np.sqrt((ours**2).mean()), np.sqrt((laplace**2).mean())
    ratio = rmse_laplace / rmse_ours
    analytic = math.sqrt((WEEKS + 1) / 2 / float(RHO)) / math.sqrt(plan.running_total_variance.mean())
    final_ratio = np.sqrt((laplace[:, -1] ** 2).mean() / (ours[:, -1] ** 2).mean())
    print(
        f"\nrunning-total RMSE over 52 weeks: {plan.strategy} {rmse_ours:.2f}, per-week Laplace {rmse_laplace:.2f}, "
        f"ratio {ratio:.3f} (analytic {analytic:.3f}); at week 52 ratio {final_ratio:.3f}"
    )
    assert abs(ratio / analytic - 1) < 0.08
    assert ratio > 3.3
    assert final_ratio > 4.0


def test_by_dimension_and_person_level_ratios():
    """A person in c = 2 series in one week (L1 = 2, L2^2 = 2), and a person in every week
    of one series (L1 = 52, L2^2 = 52: then the Gaussian's L2 composition is the win)."""
    epsilon = Fraction(1, 10)
    series = 400
    counts = _counts(series)
    truth = np.cumsum(counts, axis=1)
    out = {}
    for label, l1, l2_sq, weeks_per_person in (("c=2, one week", 2, 2, 1), ("every week", WEEKS, WEEKS, WEEKS)):
        plan = plan_series(weeks=WEEKS, series=series, rho=RHO, l2_sensitivity_sq=l2_sq, max_weeks_per_person=weeks_per_person)
        ours = estimate(plan=plan, noisy=measure(plan=plan, weekly_counts=counts)).running_totals - truth
        laplace = _laplace_running_totals(counts, epsilon=epsilon, l1_sensitivity=l1) - truth
        out[label] = (plan.strategy, float(np.sqrt((laplace**2).mean() / (ours**2).mean())))
    print(f"\nrunning-total RMSE ratios vs per-week Laplace: {out}")
    assert out["c=2, one week"][0] == "optimal" and out["c=2, one week"][1] > 4.0
    assert out["every week"][0] == "identity" and out["every week"][1] > 8.0


def test_strategy_comparison_is_borne_out_by_draws():
    table = {row.strategy: row for row in compare_strategies(weeks=WEEKS)}
    order = sorted(table, key=lambda name: table[name].mean_running_total)
    assert order == ["optimal", "sqrt", "tree", "identity"]
    series = 400
    counts = _counts(series)
    truth = np.cumsum(counts, axis=1)
    measured = {}
    for name in ("sqrt", "tree"):
        plan = plan_series(weeks=WEEKS, series=series, rho=RHO, l2_sensitivity_sq=1, strategy=name)
        noisy = measure(plan=plan, weekly_counts=counts)
        # as released week by week: the rows closed by week t are the first rows_ready[t]
        errors = []
        for t in range(1, WEEKS + 1):
            prefix = NoisyNodes(plan_digest=plan.digest, weeks_observed=t, values=noisy.values[:, : plan.rows_ready[t]])
            errors.append(estimate(plan=plan, noisy=prefix).running_totals[:, -1] - truth[:, t - 1])
        measured[name] = float((np.column_stack(errors) ** 2).mean()) * float(RHO)
    print("\nmean running-total variance x rho, T=52, as released (analytic / measured):")
    for name in continual.STRATEGIES:
        print(f"  {name:9s} {table[name].mean_running_total:7.3f} / {measured.get(name, float('nan')):7.3f}")
    # relative s.e. of a mean squared error is at most sqrt(2 / series) = 0.071
    for name, value in measured.items():
        assert abs(value / table[name].mean_running_total - 1) < 0.25


def test_no_randomness_outside_opendp_in_the_trends_modules():
    root = Path(continual.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name == "random" or a.name.startswith("numpy.random") for a in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert node.module not in ("random", "numpy.random") and not (
                    node.module == "numpy" and any(a.name == "random" for a in node.names)
                ), path
            elif isinstance(node, ast.Attribute):
                assert not (node.attr == "random" and isinstance(node.value, ast.Name) and node.value.id in {"np", "numpy"}), path
