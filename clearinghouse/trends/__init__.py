"""Weekly series: continual DP release of weekly values and running totals from one zCDP
charge (``continual``: the factorisation mechanism for prefix sums, optimal / square-root /
binary tree, every draw through OpenDP's discrete Gaussian) and forecasts made from the
released values only (``forecast``: post-processing, no draws). Pure Python/numpy/scipy:
no Django, no database. The forecasting function is
``clearinghouse.trends.forecast.forecast`` (not re-exported here, so that the name
``forecast`` keeps meaning the module).
"""

from clearinghouse.trends.continual import (
    NoisyNodes,
    SeriesEstimate,
    SeriesPlan,
    StrategyErrors,
    compare_strategies,
    estimate,
    measure,
    plan_for_half_width,
    plan_series,
    rho_for_half_width,
)

__all__ = [
    "NoisyNodes",
    "SeriesEstimate",
    "SeriesPlan",
    "StrategyErrors",
    "compare_strategies",
    "estimate",
    "measure",
    "plan_for_half_width",
    "plan_series",
    "rho_for_half_width",
]
