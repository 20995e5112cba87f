"""Forecasts from released values: the no-noise case is the textbook regression prediction
interval, the fan chart covers the truth at about the stated rates on synthetic series
(synthetic data drawn here with numpy's seeded generator: test data, not product code),
and forecasting never draws."""

from __future__ import annotations

import ast
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import opendp.core
import opendp.prelude as dp
import pytest
from scipy import stats

import clearinghouse.trends.forecast as forecast_module
from clearinghouse.trends.continual import estimate, measure, plan_series
from clearinghouse.trends.forecast import forecast

N_WEEKS, HORIZON, SEASON = 52, 8, 13


def _truth(rng, series: int, *, tau: float) -> np.ndarray:
    t = np.arange(N_WEEKS + HORIZON)
    line = 300 + 2.0 * t + 25 * np.sin(2 * np.pi * t / SEASON + 0.4)
    return line[None, :] + rng.normal(0.0, tau, (series, N_WEEKS + HORIZON))


def _coverage(truth: np.ndarray, fits) -> tuple[float, float]:
    future = truth[:, N_WEEKS:]
    lo95 = np.array([f.lower_95 for f in fits])
    hi95 = np.array([f.upper_95 for f in fits])
    lo80 = np.array([f.lower_80 for f in fits])
    hi80 = np.array([f.upper_80 for f in fits])
    return float(((future >= lo95) & (future <= hi95)).mean()), float(((future >= lo80) & (future <= hi80)).mean())


def test_without_dp_noise_it_is_the_classical_prediction_interval():
    rng = np.random.default_rng(11)
    n = 30
    t = np.arange(n)
    y = 50 + 0.7 * t + rng.normal(0, 3, n)
    fit = forecast(weekly_values=y, weekly_variances=np.zeros(n), horizon=4, season=None, nonnegative=False)
    x = np.column_stack([np.ones(n), t])
    beta, rss, *_ = np.linalg.lstsq(x, y, rcond=None)
    s2 = float(rss[0]) / (n - 2)
    f = np.column_stack([np.ones(4), np.arange(n, n + 4)])
    se = np.sqrt(s2 * (1 + np.einsum("hi,ij,hj->h", f, np.linalg.inv(x.T @ x), f)))
    assert np.allclose(fit.point, f @ beta, atol=1e-8)
    assert np.allclose(fit.upper_95, f @ beta + stats.t.ppf(0.975, n - 2) * se, atol=1e-6)
    assert np.allclose(fit.lower_80, f @ beta - stats.t.ppf(0.90, n - 2) * se, atol=1e-6)
    assert fit.degrees_of_freedom == n - 2 and fit.terms == ("level", "trend")


def test_fan_chart_covers_a_known_trend_with_seasonal_term():
    """Trend + season + week-to-week variation (sd 10) + DP noise of stated variance 64."""
    rng = np.random.default_rng(2024)
    series = 300
    truth = _truth(rng, series, tau=10.0)
    noise_var = np.full(N_WEEKS, 64.0)
    released = truth[:, :N_WEEKS] + rng.normal(0.0, 8.0, (series, N_WEEKS))
    fits = [forecast(weekly_values=released[i], weekly_variances=noise_var, horizon=HORIZON, season=SEASON) for i in range(series)]
    c95, c80 = _coverage(truth, fits)
    print(f"\nforecast coverage (trend + season, tau=10, DP sd 8): 95% -> {c95:.4f}, 80% -> {c80:.4f}")
    # deterministic (seeded data, no draws); were all horizons of a series to move together
    # the standard error would be ~0.013 / 0.023
    assert 0.93 <= c95 <= 0.975
    assert 0.76 <= c80 <= 0.85
    widths = np.array([f.upper_95 - f.lower_95 for f in fits]).mean(axis=0)
    assert widths[-1] > widths[0]  # the fan widens with the horizon
    assert fits[0].terms[:2] == ("level", "trend") and "cos1" in fits[0].terms


def test_fan_chart_on_series_released_through_opendp():
    """End to end: weekly counts released by continual (OpenDP draws), forecast from the
    released values with the release's stated covariance."""
    rng = np.random.default_rng(7)
    series = 120
    truth = np.rint(_truth(rng, series, tau=10.0)).astype(np.int64)
    plan = plan_series(weeks=N_WEEKS, series=series, rho=Decimal("0.02"), l2_sensitivity_sq=1)
    result = estimate(plan=plan, noisy=measure(plan=plan, weekly_counts=truth[:, :N_WEEKS]))
    fits = [
        forecast(
            weekly_values=result.weekly_values[i],
            weekly_variances=result.weekly_variance,
            noise_covariance=result.weekly_covariance,
            horizon=HORIZON,
            season=SEASON,
        )
        for i in range(series)
    ]
    c95, c80 = _coverage(truth, fits)
    print(
        f"\nforecast coverage, released through OpenDP (DP weekly sd {math.sqrt(result.weekly_variance.mean()):.1f}): 95% -> {c95:.4f}, 80% -> {c80:.4f}"
    )
    assert 0.91 <= c95 <= 0.99
    assert 0.72 <= c80 <= 0.90


def test_pure_dp_noise_around_a_line_is_covered_conservatively():
    rng = np.random.default_rng(5)
    series = 120
    truth = _truth(rng, series, tau=0.0)
    released = truth[:, :N_WEEKS] + rng.normal(0.0, 8.0, (series, N_WEEKS))
    fits = [
        forecast(weekly_values=released[i], weekly_variances=np.full(N_WEEKS, 64.0), horizon=HORIZON, season=SEASON) for i in range(series)
    ]
    c95, _ = _coverage(truth, fits)
    print(f"\nforecast coverage with no variation beyond DP noise: 95% -> {c95:.4f} (conservative by design)")
    assert c95 >= 0.94


def test_forecasting_never_draws_and_is_deterministic(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("forecasting invoked an OpenDP measurement")

    monkeypatch.setattr(dp.Measurement, "__call__", refuse)
    monkeypatch.setattr(opendp.core, "measurement_invoke", refuse)
    y = 100 + 2.0 * np.arange(40) + 5 * np.cos(np.arange(40))
    a = forecast(weekly_values=y, weekly_variances=np.full(40, 9.0), horizon=5, season=None)
    b = forecast(weekly_values=y, weekly_variances=np.full(40, 9.0), horizon=5, season=None)
    assert np.array_equal(a.upper_95, b.upper_95) and np.array_equal(a.point, b.point)
    imported = set()
    for node in ast.walk(ast.parse(Path(forecast_module.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "hashlib", "math", "collections", "dataclasses", "numpy", "scipy"}, imported


def test_short_series_season_and_clipping_and_errors():
    y = np.array([5.0, 4.0, 3.0, 3.0, 2.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    fit = forecast(weekly_values=y, weekly_variances=np.full(10, 1.0), horizon=6, season=13)
    assert any("fewer than two seasons" in note for note in fit.notes)
    assert fit.terms == ("level", "trend")
    assert np.all(fit.lower_95 >= 0) and np.all(fit.point >= 0)
    assert np.all(fit.lower_95 <= fit.lower_80) and np.all(fit.upper_80 <= fit.upper_95)
    unclipped = forecast(weekly_values=y, weekly_variances=np.full(10, 1.0), horizon=6, season=None, nonnegative=False)
    assert unclipped.lower_95.min() < 0
    windowed = forecast(weekly_values=np.arange(30.0), weekly_variances=np.ones(30), horizon=2, season=None, window=10)
    assert len(windowed.fitted) == 10
    with pytest.raises(ValueError):
        forecast(weekly_values=y, weekly_variances=np.ones(9), horizon=2, season=None)
    with pytest.raises(ValueError):
        forecast(weekly_values=y, weekly_variances=-np.ones(10), horizon=2, season=None)
    with pytest.raises(ValueError):
        forecast(weekly_values=y, weekly_variances=np.ones(10), horizon=0, season=None)
    with pytest.raises(ValueError):
        forecast(weekly_values=y[:3], weekly_variances=np.ones(3), horizon=1, season=None)
    with pytest.raises(ValueError):
        forecast(weekly_values=y, weekly_variances=np.ones(10), horizon=1, season=None, noise_covariance=np.eye(9))
