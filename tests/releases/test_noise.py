"""The noise is what the document says it is.

Over thousands of cells of known true value, (released − true) must follow the stated
discrete Laplace distribution and scale (chi-square goodness of fit, failing only below
p = 1e-6, so a correct implementation fails about once in a million runs), and the stated
95% half-width must cover 95% of cells (within six standard errors of the exact
coverage). The draws are made by the real code path that builds signed documents.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from clearinghouse.releases import mechanisms
from clearinghouse.releases.compute import Aggregate
from clearinghouse.releases.document import release_document
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import release_plan_build
from clearinghouse.releases.reach import epsilon_split
from tests.releases.conftest import PRODUCT

SIGNIFICANCE = 1e-6


def documents(world, body, true_counts, true_sums=None, repeats=3):
    plan = release_plan_build(manufacturer=world.manufacturer.obj, purpose=world.purposes[PRODUCT], body={"purpose": PRODUCT} | body)
    release = Release(manufacturer=world.manufacturer.obj, period="2999-01")
    aggregate = Aggregate(
        counts=np.asarray(true_counts(plan.cell_count)),
        sums=None if true_sums is None else np.asarray(true_sums(plan.cell_count)),
        contributors=np.zeros(0, dtype=np.int64),
    )
    return (
        plan,
        aggregate,
        [
            release_document(release=release, plan=plan, aggregate_values=aggregate, snapshot_at=release.created_at or _now())
            for _ in range(repeats)
        ],
    )


def _now():
    from django.utils import timezone

    return timezone.now()


def discrete_laplace_cdf(x: np.ndarray, scale: float) -> np.ndarray:
    p = math.exp(-1 / scale)
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, 1 - p ** (x + 1) / (1 + p), p ** (-x) / (1 + p))


@pytest.mark.parametrize("measure, epsilon", [("consumers", "0.5"), ("signals", "1"), ("sum_value", "0.3")])
def test_released_minus_true_follows_the_stated_discrete_laplace(world, measure, epsilon):
    body = {"measure": measure, "epsilon": epsilon, "group_by": ["category", "attribute", "age_band", "region"]}
    plan, aggregate, docs = documents(world, body, lambda n: np.arange(n) % 57)
    assert plan.cell_count > 7000
    mechanism = docs[0]["mechanisms"][0]
    scale = float(mechanism["scale"])
    sensitivity = mechanism["sensitivity"]["value"]
    # The scale is calibrated from OpenDP's privacy map: no smaller than Δ/ε, and its map
    # stays within ε (the ε left after the 5% reach share, releases/reach.py).
    answer_epsilon = epsilon_split(Decimal(epsilon))[0]
    assert mechanism["epsilon"] == str(answer_epsilon)
    assert Fraction(scale) >= Fraction(sensitivity) / Fraction(answer_epsilon)
    assert Fraction(float(mechanism["epsilon_privacy_map"])) <= Fraction(answer_epsilon)
    assert scale < float(Fraction(sensitivity) / Fraction(answer_epsilon)) * (1 + 1e-12)
    noise = np.concatenate([np.asarray([c["value"] for c in d["cells"]]) - aggregate.vector() for d in docs])
    n = noise.size
    # Bins of equal expected mass from the stated distribution, tails merged.
    edges = np.unique(np.round(np.linspace(-4 * scale, 4 * scale, 41)).astype(np.int64))
    cdf = discrete_laplace_cdf(edges, scale)
    expected = np.diff(np.concatenate([[0.0], cdf, [1.0]])) * n
    observed = np.bincount(np.searchsorted(edges, noise, side="left"), minlength=len(edges) + 1)
    assert expected.min() >= 5
    statistic = ((observed - expected) ** 2 / expected).sum()
    p_value = stats.chi2.sf(statistic, df=len(expected) - 1)
    assert p_value > SIGNIFICANCE, (statistic, p_value)
    # The stated half-width covers 95% of cells.
    half_width = docs[0]["accuracy"]["half_width"]
    p = math.exp(-1 / scale)
    exact = 1 - 2 * p ** (half_width + 1) / (1 + p)
    assert exact >= 0.95
    coverage = float(np.mean(np.abs(noise) <= half_width))
    assert abs(coverage - exact) <= 6 * math.sqrt(exact * (1 - exact) / n), (coverage, exact)
    # Noise is drawn afresh: two releases of the same data differ.
    assert docs[0]["cells"] != docs[1]["cells"]


def test_no_cell_is_released_without_noise(world):
    plan, aggregate, docs = documents(
        world, {"measure": "consumers", "epsilon": "1", "group_by": ["category", "attribute"]}, lambda n: np.full(n, 10), repeats=1
    )
    released = np.asarray([c["value"] for c in docs[0]["cells"]])
    # With scale 10 over 35 cells, P(noise is 0 everywhere) is about 1e-45.
    assert (released != aggregate.vector()).any()


def test_mean_interval_covers_the_true_mean_in_95_percent_of_cells(world):
    # 40-69 consumers per cell whose means are 1..5; the aggregate's sums are centred on the
    # middle of the bounds (3) in units of 1/(2·lcm(1..S)) = 1/12 of a value (compute.py).
    counts = lambda n: 40 + np.arange(n) % 30  # noqa: E731
    sums = lambda n: (40 + np.arange(n) % 30) * 12 * (1 + np.arange(n) % 5 - 3)  # noqa: E731
    plan, aggregate, docs = documents(
        world, {"measure": "mean_value", "epsilon": "1", "group_by": ["category", "attribute", "age_band", "region"]}, counts, sums
    )
    true_mean = 3 + aggregate.sums / (12 * aggregate.counts)
    assert set(true_mean.round(6)) == {1, 2, 3, 4, 5}
    inside = []
    for doc in docs:
        for cell, truth in zip(doc["cells"], true_mean):
            low, high = (float(x) for x in cell["interval"])
            inside.append(low <= truth <= high)
    n = len(inside)
    assert np.mean(inside) >= 0.95 - 6 * math.sqrt(0.05 * 0.95 / n)


def test_top_k_score_gap_holds_with_95_percent_probability(world):
    mechanism = mechanisms.top_k_mechanism(k=3, candidates=7, epsilon=Decimal("0.5"))
    scores = [120, 118, 90, 60, 30, 10, 0]
    best = sorted(scores, reverse=True)
    runs = 400
    holds = 0
    for _ in range(runs):
        chosen = mechanism.release(scores)
        holds += all(scores[index] >= best[rank] - mechanism.score_gap for rank, index in enumerate(chosen))
    assert holds / runs >= 0.95 - 6 * math.sqrt(0.05 * 0.95 / runs)
    assert Fraction(mechanism.epsilon_used) <= Fraction(Decimal("0.5"))
