"""Forecasts of a weekly series from its released (differentially private) values only.

Post-processing of released figures: no privacy cost, and no random draws of any kind
(every number below is a deterministic function of the released values and their stated
noise variances).

Model (kept explainable on purpose)
-----------------------------------
The true weekly value is a straight line plus, optionally, a smooth seasonal pattern, plus
week-to-week variation the line does not explain:

    truth_t    = b0 + b1 t + sum_k (a_k cos(2 pi k t / season) + c_k sin(2 pi k t / season)) + e_t
    released_t = truth_t + n_t

``e_t`` independent with unknown variance ``tau^2``; ``n_t`` the DP noise, whose variances
(or full covariance) the release states. The seasonal part is a short Fourier series
(Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., sections 7.4
and 12.1: Fourier terms for long seasonal periods such as 52 weeks), used only with at
least two whole seasons of data, with ``min(season // 2, 3)`` harmonics unless
``harmonics`` says otherwise.

For a given ``tau^2`` this is a linear regression with known covariance
``V = tau^2 I + Cov(n)``: generalised least squares, ``b = (X'V^-1 X)^-1 X'V^-1 y``, and the
true value ``h`` weeks ahead is normal with mean ``f'b`` and variance
``tau^2 + f'(X'V^-1 X)^-1 f`` (future variation + parameter uncertainty). So the DP noise
enters twice: through the weights (noisy weeks count less) and through the parameter
uncertainty.

``tau^2`` is not known, and plugging in an estimate makes the intervals too short when the
DP noise is large next to ``tau^2`` (its estimate is then a difference of two similar
numbers, often truncated at zero). We therefore average over it: the standard Bayesian
linear regression (Gelman et al., *Bayesian Data Analysis*, 3rd ed., section 14.2) with a
flat prior on ``b`` and, on the variance, the prior ``1 / (tau * sqrt(tau^2 + vbar))``
(``vbar`` the mean DP variance), integrated numerically on a grid in ``log(tau^2)``. That
prior is Jeffreys' ``1/tau^2`` when there is no DP noise, so the result is then exactly the
textbook regression prediction interval (Student's t, ``n - p`` degrees of freedom), and a
uniform prior on ``tau`` when ``tau`` is small next to the DP noise (Gelman, "Prior
distributions for variance parameters in hierarchical models", Bayesian Analysis 2006;
the same problem, a between-study variance with known within-study variances, is the
random-effects meta-regression, cf. Higgins, Thompson & Spiegelhalter, JRSS A 2009).
Measured (tests/trends/test_forecast.py): about nominal coverage once ``tau`` is at least
half the DP noise's standard deviation; above nominal (conservative, up to ~99%) when the
series is nothing but DP noise around a line, because the data cannot then rule out a
``tau^2`` of the size of the noise.
The forecast is the mean of the resulting predictive distribution and the 80% / 95%
intervals its central quantiles. Counts cannot be negative, so by default the forecast and
the bounds are clipped at zero, which cannot lower the coverage of the true value.

The intervals are for the *true* weekly value; the release of that future week will add its
own DP noise on top. When only variances are passed the DP noise is taken as independent
across weeks. For the factorisation mechanism of ``continual`` the weekly noises are
correlated (negatively for neighbouring weeks, which is why the running totals are
accurate); pass ``noise_covariance=estimate.weekly_covariance`` to use it (the problem is
rotated to the eigenvectors of that covariance, where it is diagonal again, since
``tau^2 I`` is unchanged by a rotation).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

DEFAULT_HARMONICS = 3
_GRID_STEP = 0.05  # in log(tau^2 + c0); the log-variance posterior has sd >= ~0.1 here
_GRID_DECADES_BELOW = 6
_GRID_DECADES_ABOVE = 4
_COARSE_STEP = 0.5
_KEEP_LOG = 40.0  # grid points more than e^-40 below the mode are dropped


@dataclass(frozen=True, eq=False)
class Forecast:
    weeks_ahead: np.ndarray  # 1..horizon
    point: np.ndarray  # predictive mean of the true value (clipped at 0 if nonnegative)
    lower_80: np.ndarray
    upper_80: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray
    variance: np.ndarray  # predictive variance of the true value (before clipping)
    fitted: np.ndarray  # the fitted line (+ season) over the weeks used
    process_variance: float  # posterior mean of tau^2
    degrees_of_freedom: int  # n - p
    terms: tuple[str, ...]
    coefficients: np.ndarray  # posterior mean of b
    notes: tuple[str, ...]


def _design(index: np.ndarray, *, centre: float, span: float, season: int | None, harmonics: int) -> tuple[np.ndarray, list[str]]:
    columns = [np.ones_like(index, dtype=np.float64), (index - centre) / span]
    names = ["level", "trend"]
    if season is not None:
        for k in range(1, harmonics + 1):
            angle = 2 * math.pi * k * index / season
            columns.append(np.cos(angle))
            names.append(f"cos{k}")
            if 2 * k != season:  # sin(pi t) is identically zero at whole weeks
                columns.append(np.sin(angle))
                names.append(f"sin{k}")
    return np.column_stack(columns), names


_EIGEN_CACHE: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()


def _eigen(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a noise covariance, remembered for the last few matrices: a
    release's series share one covariance, and small LAPACK calls are slow under load."""
    key = hashlib.sha256(np.ascontiguousarray(cov).tobytes() + repr(cov.shape).encode()).digest()
    if key in _EIGEN_CACHE:
        _EIGEN_CACHE.move_to_end(key)
        return _EIGEN_CACHE[key]
    lam, u = np.linalg.eigh(cov)
    lam = np.clip(lam, 0.0, None)
    lam.setflags(write=False)
    u.setflags(write=False)
    _EIGEN_CACHE[key] = (lam, u)
    while len(_EIGEN_CACHE) > 8:
        _EIGEN_CACHE.popitem(last=False)
    return lam, u


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return int(value)


def _mixture_quantiles(probs: np.ndarray, weights: np.ndarray, means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """Quantiles of normal mixtures (one mixture per column of ``means``/``sds``, common
    ``weights``): Newton's method on the mixture CDF from the moment-matched normal,
    safeguarded by bisection inside a bracket that always holds the answer."""
    mix_mean = weights @ means
    mix_sd = np.sqrt(np.maximum(weights @ (sds**2 + means**2) - mix_mean**2, 0.0)) + 1e-300
    q = mix_mean + ndtri(probs) * mix_sd
    lo = np.min(means - 40 * sds, axis=0)
    hi = np.max(means + 40 * sds, axis=0)
    for _ in range(200):
        z = (q - means) / sds
        excess = (weights[:, None] * ndtr(z)).sum(axis=0) - probs
        lo = np.where(excess < 0, q, lo)
        hi = np.where(excess > 0, q, hi)
        density = (weights[:, None] * np.exp(-0.5 * z**2) / (math.sqrt(2 * math.pi) * sds)).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            proposal = q - excess / density
        proposal = np.where((proposal >= lo) & (proposal <= hi) & np.isfinite(proposal), proposal, 0.5 * (lo + hi))
        done = np.all(np.abs(proposal - q) <= 1e-10 * mix_sd)
        q = proposal
        if done:
            break
    return q


class _Posterior:
    """log p(s | y) up to a constant for s = log(tau^2 + c0), with b integrated out (the
    restricted likelihood), the prior 1/(tau sqrt(tau^2 + mean DP variance)) and the
    Jacobian of tau^2 -> s; and the GLS coefficients and their covariance at each s."""

    def __init__(self, x: np.ndarray, y: np.ndarray, lam: np.ndarray, noise_mean: float, c0: float):
        self.x, self.y, self.lam, self.noise_mean, self.c0 = x, y, lam, noise_mean, c0
        self.outer = (x[:, :, None] * x[:, None, :]).reshape(len(y), -1)  # row n: x_n x_n'

    def __call__(self, s: np.ndarray):
        x, y, lam, p = self.x, self.y, self.lam, self.x.shape[1]
        tau2 = np.exp(s) - self.c0
        tau2[s == math.log(self.c0)] = 0.0
        # A week with no DP noise makes tau^2 = 0 singular: such grid points get weight 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            w = 1.0 / (lam[None, :] + tau2[:, None])
            finite = np.all(np.isfinite(w), axis=1)
            w = np.where(np.isfinite(w), w, 0.0)
            xtwx = (w @ self.outer).reshape(len(s), p, p)
            xtwy = w @ (x * y[:, None])
            sign, logdet_xtwx = np.linalg.slogdet(xtwx)
            ok = finite & (sign > 0)
            xtwx[~ok] = np.eye(p)
            xtwy[~ok] = 0.0
            cov_beta = np.linalg.inv(xtwx)
            beta = (cov_beta @ xtwy[:, :, None])[:, :, 0]
            q = np.sum(w * (y[None, :] - beta @ x.T) ** 2, axis=1)
            logdet_v = np.sum(np.log(lam[None, :] + tau2[:, None]), axis=1)
            log_post = -0.5 * (logdet_v + logdet_xtwx + q)
            log_post += -0.5 * np.log(np.where(tau2 > 0, tau2, np.inf)) - 0.5 * np.log(tau2 + self.noise_mean)
            log_post += np.log(tau2 + self.c0)
            log_post = np.where(ok & np.isfinite(log_post), log_post, -np.inf)
        return log_post, beta, cov_beta


def forecast(
    *,
    weekly_values,
    weekly_variances,
    horizon: int,
    season: int | None,
    harmonics: int | None = None,
    window: int | None = None,
    noise_covariance=None,
    nonnegative: bool = True,
) -> Forecast:
    """Point forecasts for the next ``horizon`` weeks with 80% and 95% intervals for the
    true weekly values, from released values and their DP noise variances (module
    docstring). ``window`` keeps only the last ``window`` weeks (a local trend)."""
    y = np.asarray(weekly_values, dtype=np.float64)
    v = np.asarray(weekly_variances, dtype=np.float64)
    if y.ndim != 1 or v.shape != y.shape:
        raise ValueError("weekly_values and weekly_variances must be 1-D arrays of the same length")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v >= 0)):
        raise ValueError("values must be finite and variances finite and non-negative")
    horizon = _positive_int("horizon", horizon)
    cov = None
    if noise_covariance is not None:
        cov = np.asarray(noise_covariance, dtype=np.float64)
        if cov.shape != (len(y), len(y)) or not np.allclose(cov, cov.T) or not np.allclose(np.diag(cov), v, rtol=1e-6, atol=1e-12):
            raise ValueError("noise_covariance must be symmetric, (weeks, weeks), with weekly_variances on its diagonal")
    if window is not None:
        window = _positive_int("window", window)
        y, v = y[-window:], v[-window:]
        if cov is not None:
            cov = cov[-window:, -window:]
    n = len(y)
    notes: list[str] = []
    use_season, k = None, 0
    if season is not None:
        season = _positive_int("season", season)
        if season < 2:
            raise ValueError("season must be at least 2 weeks")
        if n >= 2 * season:
            use_season = season
            k = min(season // 2, DEFAULT_HARMONICS) if harmonics is None else _positive_int("harmonics", harmonics)
            if k > season // 2:
                raise ValueError("harmonics must be at most season // 2")
        else:
            notes.append(f"seasonal term left out: {n} weeks is fewer than two seasons of {season}")
    index = np.arange(n, dtype=np.float64)
    centre, span = (n - 1) / 2, max(n / 2, 1.0)
    x, names = _design(index, centre=centre, span=span, season=use_season, harmonics=k)
    p = x.shape[1]
    dof = n - p
    if dof < 2:
        raise ValueError(f"need at least {p + 2} weeks for a model with {p} terms")

    # Rotate so that the DP noise covariance is diagonal (variances lam).
    if cov is None:
        xr, yr, lam = x, y, v
    else:
        lam, u = _eigen(cov)
        xr, yr = u.T @ x, u.T @ y

    # Integrate over tau^2 = exp(s) - c0 on a grid evenly spaced in s: a coarse pass finds
    # where the posterior lives, a fine pass (step _GRID_STEP) integrates it there.
    ols_beta = np.linalg.lstsq(x, y, rcond=None)[0]
    total = float(np.sum((y - x @ ols_beta) ** 2)) / dof
    noise_mean = float(v.mean())
    scale = max(total, noise_mean, 1e-12 * (1.0 + float(np.mean(y**2))))
    c0 = scale * 10.0**-_GRID_DECADES_BELOW
    s_min, s_max = math.log(c0), math.log(scale * 10.0**_GRID_DECADES_ABOVE)
    posterior = _Posterior(xr, yr, lam, noise_mean, c0)
    coarse = np.arange(s_min, s_max + _COARSE_STEP, _COARSE_STEP)
    log_coarse = posterior(coarse)[0]
    alive = np.flatnonzero(log_coarse >= log_coarse.max() - _KEEP_LOG)
    lo = max(s_min, coarse[alive[0]] - _COARSE_STEP)
    hi = min(s_max, coarse[alive[-1]] + _COARSE_STEP)
    s_grid = np.arange(lo, hi + _GRID_STEP / 2, _GRID_STEP)
    log_post, beta, cov_beta = posterior(s_grid)
    trapezoid = np.full(len(s_grid), 1.0)
    if lo == s_min:
        trapezoid[0] = 0.5  # the boundary tau^2 = 0; elsewhere the cut-off tails are negligible
    if hi == s_max:
        trapezoid[-1] = 0.5
    weights = np.exp(log_post - log_post.max()) * trapezoid
    keep = weights > 1e-13 * weights.sum()
    tau2 = np.exp(s_grid) - c0
    tau2[s_grid == s_min] = 0.0
    weights, tau2k, beta_k, cov_k = weights[keep] / weights[keep].sum(), tau2[keep], beta[keep], cov_beta[keep]

    future = np.arange(n, n + horizon, dtype=np.float64)
    f, _ = _design(future, centre=centre, span=span, season=use_season, harmonics=k)
    means = beta_k @ f.T  # (G, h)
    f_outer = (f[:, :, None] * f[:, None, :]).reshape(horizon, -1)
    variances = tau2k[:, None] + cov_k.reshape(len(tau2k), -1) @ f_outer.T
    sds = np.sqrt(variances)
    point = weights @ means
    variance = weights @ (variances + means**2) - point**2
    probs = np.repeat(np.array([0.10, 0.90, 0.025, 0.975]), horizon)
    bounds = _mixture_quantiles(probs, weights, np.tile(means, 4), np.tile(sds, 4)).reshape(4, horizon)
    if nonnegative:
        point = np.maximum(point, 0.0)
        bounds = np.maximum(bounds, 0.0)
    beta_mean = weights @ beta_k
    return Forecast(
        weeks_ahead=np.arange(1, horizon + 1),
        point=point,
        lower_80=bounds[0],
        upper_80=bounds[1],
        lower_95=bounds[2],
        upper_95=bounds[3],
        variance=variance,
        fitted=x @ beta_mean,
        process_variance=float(weights @ tau2k),
        degrees_of_freedom=int(dof),
        terms=tuple(names),
        coefficients=beta_mean,
        notes=tuple(notes),
    )
