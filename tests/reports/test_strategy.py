"""ResidualPlanner through OpenDP (clearinghouse.reports). Pure: no Django, no database.

    /work/main/.venv/bin/python -m pytest tests/reports -p no:django --noconftest -q

(``--noconftest`` because the repository's root conftest imports Django; with the Django
plugin on, plain ``pytest tests/reports`` runs them too.) Tests that draw use OpenDP only and
have tolerances of several standard errors; the figures they measure are printed (``-s``).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import opendp.mod
import opendp.prelude as dp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, nnls

from clearinghouse.reports import strategy
from clearinghouse.reports.consistency import make_consistent
from clearinghouse.reports.strategy import (
    Z95,
    MarginalsPlan,
    NoisyResiduals,
    discrete_gaussian_variance,
    marginal_of,
    measure,
    plan_marginals,
    reconstruct,
    rho_for_half_width,
)

dp.enable_features("contrib")

SMALL = {"a": 3, "b": 4, "c": 5}
SMALL_WORKLOAD = [("a", "b"), ("c", "b"), ("a",), ("c",)]  # ("c", "b") is not in domain order on purpose

CATALOG = {"attribute": 10, "age": 6, "region": 34}
SIX = [("attribute",), ("age",), ("region",), ("attribute", "age"), ("attribute", "region"), ("age", "region")]

REPORTS = Path(__file__).resolve().parents[2] / "clearinghouse" / "reports"


def uniform(n: int, seed: str) -> np.ndarray:
    """Deterministic numbers in [0, 1) for test data (SHAKE-256; not noise)."""
    raw = np.frombuffer(hashlib.shake_256(seed.encode()).digest(4 * n), dtype="<u4")
    return raw.astype(np.float64) / 2.0**32


def skewed_counts(domain: dict[str, int], *, peak: int, seed: str) -> np.ndarray:
    """Counts over the full domain, most cells small or zero, a few large."""
    cells = math.prod(domain.values())
    return np.floor(peak * uniform(cells, seed) ** 6).astype(np.int64)


def truths(domain, workload, data):
    return {m: marginal_of(domain_sizes=domain, attributes=m, vector=data) for m in workload}


def shared_submarginal(table: np.ndarray, attributes: tuple[str, ...], shared: tuple[str, ...]) -> np.ndarray:
    """Sum a marginal down to ``shared`` (axes in ``shared``'s order)."""
    drop = tuple(i for i, a in enumerate(attributes) if a not in shared)
    kept = [a for a in attributes if a in shared]
    summed = table.sum(axis=drop) if drop else table
    return np.transpose(summed, [kept.index(a) for a in shared]) if shared else summed


# --- Reconstruction and stated variances ----------------------------------------------------


@pytest.mark.parametrize(("domain", "workload"), [(SMALL, SMALL_WORKLOAD), (CATALOG, SIX)])
def test_noise_free_residuals_reconstruct_the_exact_marginals(domain, workload):
    plan = plan_marginals(domain_sizes=domain, marginals=workload, rho=Fraction(1, 2), l2_sensitivity_sq=1)
    data = skewed_counts(domain, peak=50, seed="exact")
    estimates = reconstruct(plan=plan, noisy=strategy._exact_residuals(plan=plan, data_vector=data))
    for marginal, truth in truths(domain, workload, data).items():
        assert estimates[marginal].shape == truth.shape
        np.testing.assert_allclose(estimates[marginal], truth, rtol=0, atol=1e-9)


def test_stated_cell_variance_is_the_exact_variance_of_the_reconstruction():
    """Reconstruction is linear in the noisy answers; push each answer coordinate through it
    and add up the variances of OpenDP's discrete Gaussian at each residual's scale."""
    plan = plan_marginals(domain_sizes=SMALL, marginals=SMALL_WORKLOAD, rho=Fraction(3, 10), l2_sensitivity_sq=1)
    zero = [np.zeros(r.shape, dtype=np.int64) for r in plan.residuals]
    names = tuple(r.attributes for r in plan.residuals)
    variance = {m: np.zeros(plan.accuracy(m).shape) for m in SMALL_WORKLOAD}
    for i, residual in enumerate(plan.residuals):
        for index in np.ndindex(residual.shape):
            answers = list(zero)
            unit = np.zeros(residual.shape, dtype=np.int64)
            unit[index] = 1
            answers[i] = unit
            column = reconstruct(plan=plan, noisy=NoisyResiduals(residuals=names, answers=tuple(answers)))
            for m in SMALL_WORKLOAD:
                variance[m] += residual.noise_variance * column[m] ** 2
    for m in SMALL_WORKLOAD:
        np.testing.assert_allclose(variance[m], plan.accuracy(m).cell_variance, rtol=1e-12)
        assert plan.accuracy(m).half_width == pytest.approx(Z95 * math.sqrt(plan.accuracy(m).cell_variance), rel=1e-15)


def test_stated_cell_variance_matches_the_empirical_variance_over_opendp_draws():
    plan = plan_marginals(domain_sizes=SMALL, marginals=SMALL_WORKLOAD, rho=Fraction(1, 2), l2_sensitivity_sq=1)
    data = skewed_counts(SMALL, peak=30, seed="variance")
    truth = truths(SMALL, SMALL_WORKLOAD, data)
    draws = 1500
    errors = {m: np.empty((draws, *truth[m].shape)) for m in SMALL_WORKLOAD}
    for k in range(draws):
        estimate = reconstruct(plan=plan, noisy=measure(plan=plan, data_vector=data))
        for m in SMALL_WORKLOAD:
            errors[m][k] = estimate[m] - truth[m]
    standard_error = math.sqrt(2 / (draws - 1))  # of a sample variance's ratio to the true one
    ratios = []
    for m in SMALL_WORKLOAD:
        stated = plan.accuracy(m).cell_variance
        ratio = errors[m].var(axis=0, ddof=1) / stated
        ratios.append(ratio.ravel())
        assert np.all(np.abs(ratio - 1) < 6 * standard_error), (m, ratio)
        mean = errors[m].mean(axis=0)
        assert np.all(np.abs(mean) < 6 * math.sqrt(stated / draws)), (m, mean)  # unbiased
        print(f"variance {m}: stated {stated:.4f}, empirical/stated mean {ratio.mean():.4f} range {ratio.min():.3f}..{ratio.max():.3f}")
    pooled = np.concatenate(ratios)
    print(f"variance: {draws} draws, {pooled.size} cells, empirical/stated pooled {pooled.mean():.4f}")
    assert abs(pooled.mean() - 1) < 0.04  # over 4 standard errors (about 0.009: the cells are correlated)


def test_discrete_gaussian_variance_is_exact_below_scale_two():
    assert discrete_gaussian_variance(3.0) == 9.0
    direct = sum(k * k * math.exp(-k * k / 0.5) for k in range(-20, 21)) / sum(math.exp(-k * k / 0.5) for k in range(-20, 21))
    assert discrete_gaussian_variance(0.5) == pytest.approx(direct, rel=1e-12)
    assert discrete_gaussian_variance(0.5) < 0.25 * 0.9
    assert discrete_gaussian_variance(1.9) == pytest.approx(1.9**2, rel=1e-12)
    # and OpenDP's sampler at scale 0.5 really has that variance, not 0.25
    measurement = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="f64"), scale=0.5)
    sample = np.asarray(measurement([0] * 20000), dtype=np.float64)
    assert abs(sample.var() - discrete_gaussian_variance(0.5)) < 0.015


# --- Coverage ---------------------------------------------------------------------------------


def test_half_widths_cover_about_95_percent_before_and_after_post_processing():
    plan = plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=Fraction(1, 10), l2_sensitivity_sq=1)
    data = skewed_counts(CATALOG, peak=40, seed="coverage")  # about half the cells are zero
    truth = truths(CATALOG, SIX, data)
    draws = 60
    before = after = cells = 0
    for _ in range(draws):
        estimates = reconstruct(plan=plan, noisy=measure(plan=plan, data_vector=data))
        consistent = make_consistent(domain_sizes=CATALOG, marginals=SIX, estimates=estimates, variances=plan.variances)
        for m in SIX:
            half = plan.accuracy(m).half_width
            before += int(np.sum(np.abs(estimates[m] - truth[m]) <= half))
            after += int(np.sum(np.abs(consistent[m] - truth[m]) <= half))
            cells += truth[m].size
    print(f"coverage: {draws} draws × {cells // draws} cells: before {before / cells:.4f}, after post-processing {after / cells:.4f}")
    assert 0.94 <= before / cells <= 0.96  # the mean of 60 draws has a standard error of about 0.0012
    assert after / cells >= 0.93


# --- Consistency ------------------------------------------------------------------------------


def assert_consistent(domain, workload, tables):
    totals = [float(np.sum(tables[m])) for m in workload]
    assert max(totals) - min(totals) <= 1e-9 * max(1.0, max(abs(t) for t in totals))
    for m in workload:
        assert np.all(tables[m] >= 0), m
    for left, right in itertools.combinations(workload, 2):
        shared = tuple(a for a in domain if a in left and a in right)
        np.testing.assert_allclose(
            shared_submarginal(tables[left], left, shared),
            shared_submarginal(tables[right], right, shared),
            rtol=1e-9,
            atol=1e-8,
            err_msg=f"{left} and {right} disagree on {shared}",
        )


def test_make_consistent_gives_one_consistent_non_negative_set():
    plan = plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=Fraction(1, 100), l2_sensitivity_sq=1)
    data = skewed_counts(CATALOG, peak=40, seed="consistency")
    estimates = reconstruct(plan=plan, noisy=measure(plan=plan, data_vector=data))
    assert any(np.any(estimates[m] < 0) for m in SIX)  # at this ρ the raw estimates do go negative
    consistent = make_consistent(domain_sizes=CATALOG, marginals=SIX, estimates=estimates, variances=plan.variances)
    assert set(consistent) == set(SIX)
    for m in SIX:
        assert consistent[m].shape == estimates[m].shape
    assert_consistent(CATALOG, SIX, consistent)


def test_make_consistent_returns_marginals_of_a_non_negative_table_unchanged():
    data = skewed_counts(SMALL, peak=20, seed="fixed point")
    exact = truths(SMALL, SMALL_WORKLOAD, data)
    out = make_consistent(domain_sizes=SMALL, marginals=SMALL_WORKLOAD, estimates=exact, variances=dict.fromkeys(SMALL_WORKLOAD, 1.0))
    for m in SMALL_WORKLOAD:
        np.testing.assert_allclose(out[m], exact[m], atol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(2, 4), min_size=2, max_size=3),
    picks=st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=4),
    seed=st.integers(0, 10**6),
)
def test_make_consistent_on_arbitrary_estimates_is_consistent_and_optimal(sizes, picks, seed):
    domain = {f"x{i}": m for i, m in enumerate(sizes)}
    names = list(domain)
    workload = list(dict.fromkeys(tuple(n for n, keep in zip(names, pick, strict=False) if keep) for pick in picks))
    estimates, variances = {}, {}
    for k, m in enumerate(workload):
        shape = tuple(domain[a] for a in m)
        size = math.prod(shape)
        estimates[m] = (uniform(size, f"{seed}/{k}") * 20 - 6).reshape(shape)  # inconsistent, some negative
        variances[m] = 0.5 + uniform(size, f"{seed}/{k}/v").reshape(shape)  # per-cell variances
    out = make_consistent(domain_sizes=domain, marginals=workload, estimates=estimates, variances=variances)
    assert_consistent(domain, workload, out)

    # the same objective as scipy's exact active-set NNLS on the dense system
    cells = math.prod(sizes)
    blocks, target, fitted = [], [], []
    for m in workload:
        weight = (1 / np.sqrt(variances[m])).ravel()
        block = np.stack([marginal_of(domain_sizes=domain, attributes=m, vector=e).ravel() for e in np.eye(cells)], axis=1)
        blocks.append(block * weight[:, None])
        target.append(estimates[m].ravel() * weight)
        fitted.append(out[m].ravel() * weight)
    system, target, fitted = np.vstack(blocks), np.concatenate(target), np.concatenate(fitted)
    _, residual = nnls(system, target, maxiter=10_000)
    assert 0.5 * np.sum((fitted - target) ** 2) <= 0.5 * residual**2 + 1e-7 * (1 + residual**2)


# --- Workload optimality ----------------------------------------------------------------------


def _gaussian_variance_at(rho: Fraction) -> float:
    """A marginal answered alone: OpenDP discrete Gaussian with L2 sensitivity 1 at ρ."""
    _, scale, _ = strategy._calibrated_gaussian(d_in=1.0, rho=rho)
    return discrete_gaussian_variance(scale)


def _laplace_variance_at(epsilon: Fraction) -> float:
    """A marginal answered alone: OpenDP discrete Laplace, L1 sensitivity 1, pure ε."""
    space = (dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"))
    scale = strategy._float_at_least(1 / epsilon)
    while Fraction(dp.m.make_laplace(*space, scale=scale).map(1)) > epsilon:
        scale = math.nextafter(scale, math.inf)
    q = math.exp(-1 / scale)
    return 2 * q / (1 - q) ** 2


def test_residual_planner_beats_answering_each_marginal_alone():
    rho = Fraction(1, 10)
    plan = plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=rho, l2_sensitivity_sq=1)
    cells = plan.cells
    gaussian = math.sqrt(_gaussian_variance_at(rho / len(SIX)))
    epsilon = Fraction(math.sqrt(2 * rho))  # ε-DP implies ε²/2-zCDP: the same ρ
    laplace = math.sqrt(_laplace_variance_at(epsilon / len(SIX)))
    print(
        f"RMSE at rho={rho}: ResidualPlanner {plan.rmse:.4f}, independent Gaussian (rho/6 each) {gaussian:.4f} "
        f"ratio {plan.rmse / gaussian:.4f}; per-query Laplace (eps={float(epsilon):.4f}, eps/6 each) {laplace:.4f} "
        f"ratio {plan.rmse / laplace:.4f}"
    )
    assert plan.rmse < gaussian
    assert plan.rmse < laplace

    # the same ordering in OpenDP draws, and the stated RMSE is what the draws show
    data = skewed_counts(CATALOG, peak=40, seed="rmse")
    truth = truths(CATALOG, SIX, data)
    _, scale, _ = strategy._calibrated_gaussian(d_in=1.0, rho=rho / len(SIX))
    alone = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="f64"), scale=scale)
    rp_sq = alone_sq = 0.0
    draws = 12
    for _ in range(draws):
        estimates = reconstruct(plan=plan, noisy=measure(plan=plan, data_vector=data))
        for m in SIX:
            rp_sq += float(np.sum((estimates[m] - truth[m]) ** 2))
            noisy = np.asarray(alone(truth[m].astype(np.int64).ravel().tolist()), dtype=np.float64)
            alone_sq += float(np.sum((noisy - truth[m].ravel()) ** 2))
    rp_empirical = math.sqrt(rp_sq / (draws * cells))
    alone_empirical = math.sqrt(alone_sq / (draws * cells))
    print(
        f"RMSE in {draws} draws: ResidualPlanner {rp_empirical:.4f}, independent Gaussian {alone_empirical:.4f}, ratio {rp_empirical / alone_empirical:.4f}"
    )
    assert rp_empirical < alone_empirical
    assert rp_empirical == pytest.approx(plan.rmse, rel=0.08)


def _loss_and_cost(domain, workload, closure, residual_variance):
    """Independent re-statement: Σ cells Var and ρ (Δ=1) for per-residual variances s_A."""
    sizes = domain
    loss = cost = 0.0
    for A, s in zip(closure, residual_variance, strict=True):
        c = math.prod((sizes[a] - 1) / sizes[a] for a in A)
        cost += c / (2 * s)
        for W in workload:
            if set(A) <= set(W):
                spread = math.prod(sizes[a] for a in W if a not in A)
                loss += math.prod(sizes[a] for a in W) * s * c / spread**2
    return loss, cost


def test_the_plan_is_the_optimum_of_its_convex_program():
    rho = Fraction(1, 10)
    plan = plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=rho, l2_sensitivity_sq=1)
    closure = [r.attributes for r in plan.residuals]
    assert set(closure) == {(), ("attribute",), ("age",), ("region",), ("attribute", "age"), ("attribute", "region"), ("age", "region")}
    chosen = np.array([r.residual_variance for r in plan.residuals])
    loss, cost = _loss_and_cost(CATALOG, SIX, closure, chosen)
    assert loss == pytest.approx(plan.total_variance, rel=1e-9)
    assert cost == pytest.approx(float(rho), rel=1e-9)

    # a general-purpose solver over log-variances at the same ρ finds nothing better
    def objective(log_s):
        loss, cost = _loss_and_cost(CATALOG, SIX, closure, np.exp(log_s))
        return loss * cost / float(rho)  # loss after rescaling s to spend exactly ρ

    found = minimize(objective, np.log(chosen) + 0.3 * np.sin(np.arange(len(chosen))), method="BFGS")
    assert found.fun >= plan.total_variance * (1 - 1e-6)
    assert found.fun == pytest.approx(plan.total_variance, rel=1e-4)
    # and perturbing any one residual's noise (at equal ρ) costs accuracy
    for i in range(len(chosen)):
        for factor in (0.9, 1.1):
            moved = chosen.copy()
            moved[i] *= factor
            assert objective(np.log(moved)) > plan.total_variance


# --- Privacy accounting -----------------------------------------------------------------------


@pytest.mark.parametrize("delta_sq", [1, 4])
def test_each_residual_is_calibrated_through_opendps_map(delta_sq):
    rho = Fraction(7, 10)
    plan = plan_marginals(domain_sizes=SMALL, marginals=SMALL_WORKLOAD, rho=rho, l2_sensitivity_sq=delta_sq)
    assert sum(r.rho_target for r in plan.residuals) == rho  # exact rationals
    assert plan.rho_used == sum(Fraction(r.rho_used) for r in plan.residuals) <= rho
    assert plan.rho_used > rho * (1 - Fraction(1, 10**9))
    domain = strategy._Domain.of(SMALL)
    for residual, measurement in zip(plan.residuals, plan._measurements, strict=True):
        axes = domain.axes(residual.attributes)
        # brute force: how far does one cell's change move this residual's integer answer?
        moves = [
            np.sum(
                strategy._residual_answer(np.eye(domain.cells, dtype=np.int64)[j].reshape(domain.shape), domain, axes).astype(float) ** 2
            )
            for j in range(domain.cells)
        ]
        assert max(moves) == min(moves) == math.prod(m * (m - 1) for m in residual.shape)
        assert Fraction(residual.l2_sensitivity) ** 2 >= delta_sq * max(moves)
        assert Fraction(math.nextafter(residual.l2_sensitivity, 0)) ** 2 < delta_sq * max(moves)
        assert measurement.map(residual.l2_sensitivity) == residual.rho_used
        assert Fraction(residual.rho_used) <= residual.rho_target
        assert residual.scale == pytest.approx(residual.l2_sensitivity / math.sqrt(2 * float(residual.rho_target)), rel=1e-12)


def test_a_person_spread_over_cells_needs_the_squared_l1_bound():
    """Two cells that differ only outside a marginal move its residual answer twice as far
    as one cell: Δ must bound the L1 norm (2), not the L2 norm (√2) of the change."""
    domain = strategy._Domain.of(SMALL)
    person = np.zeros(domain.shape, dtype=np.int64)
    person[0, 0, 0] = person[0, 0, 1] = 1  # same a and b, different c
    axes = domain.axes(("a", "b"))
    one_cell = np.zeros(domain.shape, dtype=np.int64)
    one_cell[0, 0, 0] = 1
    spread = np.sum(strategy._residual_answer(person, domain, axes).astype(float) ** 2)
    single = np.sum(strategy._residual_answer(one_cell, domain, axes).astype(float) ** 2)
    assert spread == 4 * single


def test_least_rho_for_a_target_half_width():
    target = 5.0
    rho = rho_for_half_width(domain_sizes=CATALOG, marginals=SIX, half_width=target, l2_sensitivity_sq=1)
    assert isinstance(rho, Fraction)
    plan = plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=rho, l2_sensitivity_sq=1)
    assert plan.max_half_width <= target
    slightly_less = plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=rho * (1 - Fraction(1, 10**9)), l2_sensitivity_sq=1)
    assert slightly_less.max_half_width > target
    # variances scale as 1/ρ: half the half-width costs four times the ρ
    quarter = rho_for_half_width(domain_sizes=CATALOG, marginals=SIX, half_width=target / 2, l2_sensitivity_sq=1)
    assert float(quarter / rho) == pytest.approx(4, rel=1e-9)
    print(f"least rho for 95% half-width {target} on every cell of the six marginals: {float(rho):.6f}")


# --- Determinism, no draws ----------------------------------------------------------------------


def test_plans_are_deterministic_data_independent_and_never_draw(monkeypatch):
    def no_draws(*args, **kwargs):
        raise AssertionError("a plan must not draw")

    monkeypatch.setattr(opendp.mod.Measurement, "__call__", no_draws)
    monkeypatch.setattr(opendp.mod.Measurement, "invoke", no_draws)
    first = plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=Fraction(1, 10), l2_sensitivity_sq=1)
    second = plan_marginals(domain_sizes=dict(CATALOG), marginals=list(SIX), rho=0.1, l2_sensitivity_sq=1)
    rho_for_half_width(domain_sizes=CATALOG, marginals=SIX, half_width=5.0, l2_sensitivity_sq=1)
    assert first == plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=Fraction(1, 10), l2_sensitivity_sq=1)
    assert repr(first) == repr(plan_marginals(domain_sizes=CATALOG, marginals=SIX, rho=Fraction(1, 10), l2_sensitivity_sq=1))
    assert second.rho == Fraction(0.1) and second.residuals[0].scale > 0
    with pytest.raises(AssertionError, match="must not draw"):
        measure(plan=first, data_vector=np.zeros(math.prod(CATALOG.values()), dtype=np.int64))
    # no parameter through which data could reach a plan
    bounds = {"l2_sensitivity_sq", "contribution"}
    assert set(inspect.signature(plan_marginals).parameters) == {"domain_sizes", "marginals", "rho"} | bounds
    assert set(inspect.signature(rho_for_half_width).parameters) == {"domain_sizes", "marginals", "half_width"} | bounds
    assert set(inspect.signature(strategy.plan_workloads).parameters) == {"workloads", "rho"}
    assert set(inspect.signature(strategy.rho_for_half_width_joint).parameters) == {"workloads", "half_width"}


def _random_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name == "random" or a.name.startswith("numpy.random")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if (
                module == "random"
                or module.startswith("numpy.random")
                or (module == "numpy" and any(a.name == "random" for a in node.names))
            ):
                found.append(module)
        elif isinstance(node, ast.Attribute) and node.attr == "random":
            found.append("….random")
    return found


def _django_imports(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return [
        n for n in names if n.split(".")[0] in {"django", "rest_framework", "celery"} or n.startswith(("consent", "clearinghouse.releases"))
    ]


def test_reports_code_draws_only_through_opendp_and_the_mechanism_imports_no_django():
    """Every module of the app draws only through OpenDP; the mechanism itself (strategy,
    consistency and the package's exports) stays pure: no Django, no database."""
    files = sorted(REPORTS.glob("*.py"))
    pure = {"__init__.py", "strategy.py", "consistency.py"}
    assert {p.name for p in files} >= pure
    for path in files:
        source = path.read_text(encoding="utf-8")
        assert not _random_imports(source), path
        assert "secrets" not in source and "urandom" not in source, path
        if path.name in pure:
            assert not _django_imports(source), path
    assert "dp.m.make_gaussian(" in (REPORTS / "strategy.py").read_text(encoding="utf-8")


# --- Interface checks ---------------------------------------------------------------------------


def test_requests_are_validated():
    ok = {"domain_sizes": SMALL, "marginals": SMALL_WORKLOAD, "rho": Fraction(1, 2), "l2_sensitivity_sq": 1}
    for bad in (
        {"domain_sizes": {"a": 1, "b": 3}},
        {"domain_sizes": {}},
        {"marginals": []},
        {"marginals": [("a", "z")]},
        {"marginals": [("a", "a")]},
        {"marginals": [("a", "b"), ("b", "a")]},
        {"marginals": ["ab"]},
        {"rho": 0},
        {"rho": -0.5},
        {"rho": float("inf")},
        {"l2_sensitivity_sq": 0},
        {"l2_sensitivity_sq": 1.0},
        {"l2_sensitivity_sq": True},
    ):
        with pytest.raises((ValueError, TypeError)):
            plan_marginals(**{**ok, **bad})
    with pytest.raises(TypeError):
        plan_marginals(SMALL, SMALL_WORKLOAD, 0.5, 1)  # keyword-only

    plan = plan_marginals(**ok)
    cells = math.prod(SMALL.values())
    for data in (
        np.zeros(cells),
        np.zeros(cells + 1, dtype=np.int64),
        -np.ones(cells, dtype=np.int64),
        [0] * cells,
        np.zeros(cells, dtype=bool),
    ):
        with pytest.raises((ValueError, TypeError)):
            measure(plan=plan, data_vector=data)
    noisy = measure(plan=plan, data_vector=np.ones(tuple(SMALL.values()), dtype=np.int32))  # shaped input is fine
    other = plan_marginals(**{**ok, "marginals": [("a",), ("b",)]})
    with pytest.raises(ValueError):
        reconstruct(plan=other, noisy=noisy)
    assert isinstance(plan, MarginalsPlan)
    assert all(a.dtype == np.int64 and not a.flags.writeable for a in noisy.answers)


# --- Per-residual sensitivity and several tables -------------------------------------------------

PERSON_DOMAIN = {"feature": 5, "age": 3, "region": 4}


def _person_changes(*, per_cell: int, total: int):
    """Every change one person can make: up to ``per_cell`` in each feature cell, ``total`` in
    all, in one (age, region) cell (a person has one of each)."""
    domain = strategy._Domain.of(PERSON_DOMAIN)
    for part in itertools.product(range(per_cell + 1), repeat=PERSON_DOMAIN["feature"]):
        if 0 < sum(part) <= total:
            for age, region in itertools.product(range(3), range(4)):
                change = np.zeros(domain.shape, dtype=np.int64)
                change[:, age, region] = part
                yield change


@pytest.mark.parametrize(("per_cell", "total"), [(1, 1), (1, 3), (1, 5), (2, 4), (3, 3)])
def test_each_residual_is_calibrated_to_the_largest_change_a_person_can_make(per_cell, total):
    """Brute force over every change a person can make: the stated sensitivity of each
    residual is the exact maximum (one non-person attribute), never below it."""
    contribution = strategy.Contribution(person=frozenset({"age", "region"}), per_cell=per_cell, total=total)
    workload = [("feature",), ("age",), ("region",), ("feature", "age"), ("feature", "region"), ("age", "region")]
    plan = plan_marginals(domain_sizes=PERSON_DOMAIN, marginals=workload, rho=Fraction(1, 2), contribution=contribution)
    domain = strategy._Domain.of(PERSON_DOMAIN)
    changes = list(_person_changes(per_cell=per_cell, total=total))
    for residual in plan.residuals:
        axes = domain.axes(residual.attributes)
        largest = max(int(np.sum(strategy._residual_answer(change, domain, axes).astype(np.int64) ** 2)) for change in changes)
        assert Fraction(residual.l2_sensitivity) ** 2 >= largest
        assert Fraction(math.nextafter(residual.l2_sensitivity, 0)) ** 2 < largest, residual.attributes  # exact, not loose
    # and the plain L1 bound is looser whenever a person can spread over several cells (equal
    # when all they can add fits in one cell)
    plain = plan_marginals(domain_sizes=PERSON_DOMAIN, marginals=workload, rho=Fraction(1, 2), l2_sensitivity_sq=total**2)
    assert plan.rmse < plain.rmse if per_cell < total else plan.rmse == pytest.approx(plain.rmse)


def test_a_person_with_any_signals_moves_the_table_of_people_by_one_cell():
    """Hypothesis-free exhaustive check on the small domain: the people vector (a person's
    first cell marginalised onto the person attributes) moves by exactly one cell by one."""
    domain = strategy._Domain.of(PERSON_DOMAIN)
    for change in _person_changes(per_cell=2, total=4):
        first = np.zeros(domain.shape, dtype=np.int64)
        first[tuple(np.argwhere(change)[0])] = 1  # the person's first-ranked cell
        people = marginal_of(domain_sizes=PERSON_DOMAIN, attributes=("age", "region"), vector=first)
        assert int(np.abs(people).sum()) == 1


def test_two_tables_share_rho_in_the_optimal_split_and_never_exceed_it():
    person = frozenset({"age", "region"})
    features = strategy.Workload.of(
        domain_sizes=PERSON_DOMAIN,
        marginals=[("feature",), ("feature", "age"), ("feature", "region")],
        contribution=strategy.Contribution(person=person, total=4),
    )
    people = strategy.Workload.of(
        domain_sizes={"age": 3, "region": 4},
        marginals=[("age",), ("region",), ("age", "region")],
        contribution=strategy.Contribution(person=person),
    )
    rho = Fraction(3, 10)
    joint = strategy.plan_workloads(workloads=[features, people], rho=rho)
    assert sum(p.rho for p in joint.parts) == rho and joint.rho_used <= rho
    assert [m.attributes for m in joint.marginals] == [
        ("feature",),
        ("feature", "age"),
        ("feature", "region"),
        ("age",),
        ("region",),
        ("age", "region"),
    ]

    def total_at(share: Fraction) -> float:
        first = plan_marginals(
            domain_sizes=PERSON_DOMAIN, marginals=features.marginals, rho=rho * share, contribution=features.contribution
        )
        second = plan_marginals(
            domain_sizes=people.domain_sizes, marginals=people.marginals, rho=rho * (1 - share), contribution=people.contribution
        )
        return first.total_variance + second.total_variance

    chosen = joint.parts[0].rho / rho
    assert total_at(chosen) == pytest.approx(joint.total_variance, rel=1e-12)
    for moved in (chosen * Fraction(9, 10), chosen * Fraction(11, 10)):
        assert total_at(moved) > joint.total_variance
    # accuracy first over both tables: the least ρ whose every cell meets the half-width
    least = strategy.rho_for_half_width_joint(workloads=[features, people], half_width=10.0)
    assert strategy.plan_workloads(workloads=[features, people], rho=least).max_half_width <= 10.0
    assert strategy.plan_workloads(workloads=[features, people], rho=least * (1 - Fraction(1, 10**9))).max_half_width > 10.0
    # and the estimates come back for every marginal of both tables, unbiased on exact data
    counts = np.arange(60, dtype=np.int64).reshape(5, 3, 4)
    people_counts = np.arange(12, dtype=np.int64)
    exact = [
        strategy._exact_residuals(plan=joint.parts[0], data_vector=counts),
        strategy._exact_residuals(plan=joint.parts[1], data_vector=people_counts),
    ]
    estimates = strategy.reconstruct_joint(plan=joint, noisy=exact)
    np.testing.assert_allclose(estimates[("feature", "age")], counts.sum(axis=2))
    np.testing.assert_allclose(estimates[("region",)], people_counts.reshape(3, 4).sum(axis=0))


@pytest.mark.parametrize(
    "bad",
    [
        {"l2_sensitivity_sq": 1, "contribution": strategy.Contribution()},
        {"l2_sensitivity_sq": None, "contribution": None},
        {"contribution": strategy.Contribution(person=frozenset({"nowhere"}))},
    ],
)
def test_bounds_are_given_exactly_once_and_name_the_domain(bad):
    with pytest.raises(ValueError):
        plan_marginals(domain_sizes=SMALL, marginals=SMALL_WORKLOAD, rho=Fraction(1, 2), **bad)


def test_a_marginal_in_two_workloads_is_refused():
    w = strategy.Workload.of(domain_sizes=SMALL, marginals=[("a",)], contribution=strategy.Contribution())
    with pytest.raises(ValueError, match="two workloads"):
        strategy.plan_workloads(workloads=[w, w], rho=1)
    with pytest.raises(ValueError, match="per_cell"):
        strategy.Contribution(per_cell=3, total=2)
