"""The signed trend document: the exact weekly counts noised once through the continual
plan (the only random draws of a trend, every one OpenDP's discrete Gaussian), estimated,
summed into running totals and forecast (post-processing of released values only), and
written out with everything a reader needs to check it: mechanism, ρ and (ε, δ),
sensitivity, contribution bounds, snapshot time and 95% half-widths.

Numbers: counts are decimal strings with two places; the running totals are the exact
prefix sums of the stated weekly values (Decimal arithmetic), so a reader can re-add them.
Half-widths are rounded up to one decimal place. Forecast figures have one decimal place.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from importlib.metadata import version as package_version
from typing import Any

import numpy as np

from clearinghouse.releases import accounting
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.reach import reach_cost
from clearinghouse.trends.continual import estimate, measure
from clearinghouse.trends.forecast import forecast
from clearinghouse.trends.spec import SEASON_WEEKS, TrendSpec, half_width_text, week_after

DOCUMENT_SCHEMA = "clearinghouse-trend/1"
CITATIONS = {
    "optimal": "Denisov, McMahan, Rush, Smith, Thakurta, NeurIPS 2022 (optimal lower-triangular factorisation of the prefix-sum matrix)",
    "sqrt": "Henzinger, Upadhyay, Upadhyay, SODA 2023 (square-root factorisation)",
    "tree": "Dwork, Naor, Pitassi, Rothblum, STOC 2010; Chan, Shi, Song, TISSEC 2011; Honaker, TPDP 2015 (binary tree, least squares)",
    "identity": "Li, Miklau, Hay, McGregor, Rastogi, VLDB J. 2015 (matrix mechanism; identity strategy: each week noised once, "
    "optimal when a person may touch many weeks)",
}
_CENT = Decimal("0.01")
_TENTH = Decimal("0.1")


def _money(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(_CENT, rounding=ROUND_HALF_EVEN)


def _tenth(value: float) -> str:
    return str(Decimal(repr(float(value))).quantize(_TENTH, rounding=ROUND_HALF_EVEN))


def mechanism_section(spec: TrendSpec) -> dict[str, Any]:
    plan = spec.plan
    return {
        "name": "continual_release_factorisation",
        "strategy": plan.strategy,
        "citation": CITATIONS[plan.strategy],
        "noise": "discrete_gaussian",
        "library": f"OpenDP {package_version('opendp')}",
        "noise_scale": repr(plan.noise_scale),
        "strategy_scale": plan.kappa,
        "sensitivity": {
            "metric": "l2",
            "squared_bound_counts": spec.cells_per_consumer * spec.per_cell_max**2,
            "strategy_units_d_in": plan.d_in,
            "derivation": f"one person changes at most {spec.cells_per_consumer} (series, week) cells, each by at most "
            f"{spec.per_cell_max}: the squared L2 change of the counts is at most {spec.cells_per_consumer}·{spec.per_cell_max}²",
        },
        "plan_digest": plan.digest,
    }


def cost_section(spec: TrendSpec) -> dict[str, Any]:
    return {
        "rho": str(spec.rho),
        "epsilon": epsilon_text(spec.epsilon),
        "delta": f"{accounting.delta():g}",
        "reach": reach_cost(epsilon=spec.epsilon, rho=spec.rho),
        "meaning": "one zCDP charge of rho for the whole series (weekly values and running totals); epsilon is what rho states at delta",
    }


def accuracy_section(spec: TrendSpec) -> dict[str, Any]:
    plan = spec.plan
    return {
        "confidence": "0.95",
        "weekly_half_widths": [half_width_text(h) for h in plan.weekly_half_width],
        "running_total_half_widths": [half_width_text(h) for h in plan.running_total_half_width],
        "max_weekly_half_width": half_width_text(plan.max_weekly_half_width),
        "max_running_total_half_width": half_width_text(plan.max_running_total_half_width),
        "meaning": "each week's value (and each running total) is within its half-width of the bounded true count with "
        "probability 0.95; the same for every series",
    }


def bounds_section(spec: TrendSpec) -> dict[str, Any]:
    return {
        "max_cells": spec.purpose.max_cells_per_consumer,
        "max_signals_per_cell": spec.purpose.max_signals_per_cell,
        "cells_per_consumer": spec.cells_per_consumer,
        "per_cell_max": spec.per_cell_max,
        "max_weeks_per_person": spec.plan.max_weeks_per_person,
    }


def _forecast_section(spec: TrendSpec, weekly: np.ndarray, covariance: np.ndarray) -> dict[str, Any] | None:
    if spec.forecast_weeks == 0:
        return None
    result = forecast(
        weekly_values=weekly,
        weekly_variances=np.diag(covariance).copy(),
        noise_covariance=covariance,
        horizon=spec.forecast_weeks,
        season=SEASON_WEEKS,
    )
    last = spec.week_starts[-1]
    return {
        "weeks": [
            {
                "week": week_after(last, int(ahead)),
                "value": _tenth(point),
                "interval_80": [_tenth(low80), _tenth(high80)],
                "interval_95": [_tenth(low95), _tenth(high95)],
            }
            for ahead, point, low80, high80, low95, high95 in zip(
                result.weeks_ahead, result.point, result.lower_80, result.upper_80, result.lower_95, result.upper_95
            )
        ],
        "model": list(result.terms),
    }


def trend_document(*, release, spec: TrendSpec, counts: np.ndarray, snapshot_at) -> dict[str, Any]:
    """Noise the exact counts (cell order of the release plan: series-major, weeks last)
    once through OpenDP, estimate, sum and forecast, and build the document that is signed."""
    matrix = np.asarray(counts, dtype=np.int64).reshape(spec.series, spec.weeks)
    noisy = measure(plan=spec.plan, weekly_counts=matrix)
    result = estimate(plan=spec.plan, noisy=noisy)
    weekly_half = [half_width_text(h) for h in result.weekly_half_width]
    running_half = [half_width_text(h) for h in result.running_total_half_width]
    series_docs = []
    for position, labels in enumerate(spec.series_labels):
        weekly = [_money(v) for v in result.weekly_values[position]]
        running, total = [], Decimal(0)
        for value in weekly:
            total += value
            running.append(total)
        series_docs.append(
            labels
            | {
                "weeks": [
                    {
                        "week": week,
                        "value": str(value),
                        "half_width": half,
                        "running_total": str(run),
                        "running_total_half_width": run_half,
                    }
                    for week, value, half, run, run_half in zip(spec.week_labels, weekly, weekly_half, running, running_half)
                ],
                "forecast": _forecast_section(spec, result.weekly_values[position], result.weekly_covariance),
            }
        )
    return {
        "schema": DOCUMENT_SCHEMA,
        "kind": "trend",
        "trend_id": str(release.id),
        "manufacturer": release.manufacturer.slug,
        "purpose": spec.purpose.code,
        "purpose_version": spec.purpose.version,
        "period": release.period,
        "measure": spec.measure,
        "by": spec.by,
        "filters": spec.filters,
        "weeks": spec.week_labels,
        "privacy_unit": "one consumer, across all platforms",
        "mechanism": mechanism_section(spec),
        **{key: value for key, value in cost_section(spec).items() if key not in ("meaning", "reach")},
        "contribution_bounds": bounds_section(spec),
        "snapshot_at": snapshot_at.isoformat(),
        "taxonomy_version": spec.release_plan.taxonomy_version,
        "confidence": "0.95",
        "accuracy": accuracy_section(spec),
        "forecast": {
            "weeks_ahead": spec.forecast_weeks,
            "method": "generalised least squares of a level and trend (plus a 52-week Fourier season once two seasons are "
            "released) on the released weekly values, weighted by their stated noise covariance, averaged over the unexplained "
            "week-to-week variance; 80% and 95% intervals for the true weekly count, clipped at 0. Post-processing only: no "
            "extra privacy cost",
        },
        "series": series_docs,
    }
