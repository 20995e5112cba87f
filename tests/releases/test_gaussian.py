"""Discrete Gaussian noise for plain releases where a person touches many cells: the noise
follows the stated distribution, and the engine picks per request the mechanism with the
smaller stated error at the same cost and says which."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
from scipy import stats

from clearinghouse.releases import accounting, mechanisms
from clearinghouse.releases.models import Release
from clearinghouse.releases.reach import rho_split
from clearinghouse.releases.selectors import privacy_loss_statement
from tests.releases.conftest import FORECAST, PRODUCT

SIGNIFICANCE = 1e-6


def chi_square_p(noise: np.ndarray, scale: float) -> float:
    """p-value of the noise against the discrete Gaussian of ``scale``: bins of about equal
    expected mass, tails merged."""
    reach = math.ceil(12 * scale)
    ks = np.arange(-reach, reach + 1)
    pmf = np.exp(-(ks.astype(np.float64) ** 2) / (2 * scale * scale))
    pmf /= pmf.sum()
    cdf = np.cumsum(pmf)
    edges = np.unique(np.searchsorted(cdf, np.linspace(0, 1, 42)[1:-1]))
    expected_mass = np.diff(np.concatenate([[0.0], cdf[edges], [1.0]]))
    observed = np.bincount(np.searchsorted(ks[edges], noise, side="left"), minlength=len(edges) + 1)
    expected = expected_mass * noise.size
    assert expected.min() >= 5
    return float(stats.chisquare(observed, expected).pvalue)


def test_gaussian_noise_follows_the_stated_scale_and_a_wrong_scale_fails():
    rho = rho_split(accounting.rho_within(Decimal("1")))[0]
    mechanism = mechanisms.gaussian_mechanism(sensitivity=mechanisms.l2_sensitivity(cells_per_consumer=20, per_cell=1), rho=rho)
    # The scale is calibrated from OpenDP's privacy map: √(Δ²/2ρ) or one float above it.
    assert Fraction(mechanism.scale) ** 2 >= Fraction(mechanism.sensitivity) ** 2 / (2 * Fraction(rho))
    assert Fraction(mechanism.rho_used) <= Fraction(rho)
    truth = np.arange(21000) % 97
    noise = np.asarray(mechanism.release(truth.tolist())) - truth
    assert chi_square_p(noise, mechanism.scale) > SIGNIFICANCE
    assert chi_square_p(noise, mechanism.scale * 1.1) < SIGNIFICANCE
    inside = np.mean(np.abs(noise) <= mechanism.half_width)
    assert 0.95 - 6 * math.sqrt(0.05 * 0.95 / noise.size) <= inside


def plan(world, body):
    response = world.manufacturer.client().post("/api/v1/releases/plan", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


FORECAST_BODY = {"purpose": FORECAST, "measure": "consumers", "group_by": ["category", "attribute"], "epsilon": "1"}


def test_the_engine_picks_the_gaussian_where_a_person_touches_many_cells_and_says_so(world):
    # c2m-demand-forecast lets a person count in 20 cells: √20 in L2 against 20 in L1.
    gaussian = plan(world, FORECAST_BODY)
    choice = gaussian["mechanism_choice"]
    assert choice["chosen"] == "discrete_gaussian" and gaussian["mechanisms"][0]["name"] == "discrete_gaussian"
    assert choice["discrete_gaussian_half_width"] < choice["discrete_laplace_half_width"]
    assert gaussian["accuracy"]["half_width"] == choice["discrete_gaussian_half_width"]
    assert gaussian["cost"]["epsilon"] == "1.0000" and gaussian["cost"]["delta"] == "1e-07"
    assert accounting.stated_epsilon(Decimal(gaussian["cost"]["rho"])) <= Decimal(1)
    # Seven office-chair attributes a person: Laplace states the smaller error there.
    laplace = plan(
        world,
        {
            "purpose": PRODUCT,
            "measure": "consumers",
            "group_by": ["attribute"],
            "filters": {"category": "furniture/office-chair"},
            "epsilon": "1",
        },
    )
    assert laplace["mechanism_choice"]["chosen"] == "discrete_laplace" and laplace["mechanisms"][0]["name"] == "discrete_laplace"
    assert laplace["mechanism_choice"]["discrete_laplace_half_width"] <= laplace["mechanism_choice"]["discrete_gaussian_half_width"]
    assert laplace["cost"]["delta"] == "0"


def test_a_gaussian_release_states_what_its_plan_said_and_is_charged_its_rho(world, django_capture_on_commit_callbacks):
    people = world.consumers(6)
    world.consent(people, purpose_code=FORECAST)
    world.signals(
        [{"consumer": p, "category": "furniture/sofa", "attribute": "modular", "signal": "view", "region": "CN-BJ"} for p in people],
        purpose_code=FORECAST,
    )
    planned = plan(world, FORECAST_BODY)
    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post("/api/v1/releases", FORECAST_BODY, format="json")
    assert response.status_code == 202, response.content
    release = Release.objects.get(pk=response.json()["id"])
    assert release.status == Release.DONE, (release.error_code, release.error_message)
    assert release.rho == Decimal(planned["cost"]["rho"]) > 0
    payload = release.result["payload"]
    assert payload["mechanisms"] == planned["mechanisms"] and payload["mechanism_choice"] == planned["mechanism_choice"]
    assert payload["rho"] == planned["cost"]["rho"] and payload["delta"] == "1e-07"
    assert payload["reach"]["mechanism"]["name"] == "discrete_gaussian"
    assert all(isinstance(cell["value"], int) and cell["half_width"] == planned["accuracy"]["half_width"] for cell in payload["cells"])
    statement = privacy_loss_statement(consumer=people[0])
    assert [c["rho"] for c in statement["charges"]] == [str(release.rho)]
    assert statement["guarantee"]["delta"] == "1e-07" and Decimal(statement["guarantee"]["epsilon"]) <= Decimal(1)
