"""Discrete Gaussian noise for plain releases: the noise follows the stated distribution,
and the engine picks per request the mechanism with the smaller stated error at the same
share of the person cap (Laplace only where an answer takes a large share of it), says
which, and charges people what the chosen mechanism costs."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

import numpy as np
from scipy import stats

from clearinghouse.releases import accounting, mechanisms
from clearinghouse.releases.models import Allocation, Release
from clearinghouse.releases.reach import epsilon_split, rho_split
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


def share_matched_epsilon(epsilon: str, cap: str) -> Decimal:
    """The rule's Laplace ε, written out: the ε that is the same fraction of the answerable
    cap (the person cap less its 10% reach reserve) as ρ_G is of that cap's ρ."""
    answerable = Decimal(cap) * Decimal("0.9")
    rho_g = accounting.rho_within(Decimal(epsilon))
    return min(Decimal(epsilon), (answerable * rho_g / accounting.rho_within(answerable)).quantize(Decimal("0.0001"), rounding=ROUND_DOWN))


AGE_BAND_BODY = {"purpose": PRODUCT, "measure": "consumers", "group_by": ["age_band"], "epsilon": "1"}


def test_the_engine_picks_the_gaussian_where_a_person_touches_many_cells_and_says_so(world):
    # c2m-demand-forecast lets a person count in 20 cells: √20 in L2 against 20 in L1.
    gaussian = plan(world, FORECAST_BODY)
    choice = gaussian["mechanism_choice"]
    assert choice["chosen"] == "discrete_gaussian" and gaussian["mechanisms"][0]["name"] == "discrete_gaussian"
    assert choice["discrete_gaussian_half_width"] < choice["discrete_laplace_half_width"]
    assert gaussian["accuracy"]["half_width"] == choice["discrete_gaussian_half_width"]
    assert gaussian["cost"]["epsilon"] == "1.0000" and gaussian["cost"]["delta"] == "1e-07"
    assert accounting.stated_epsilon(Decimal(gaussian["cost"]["rho"])) <= Decimal(1)


def test_at_the_default_cap_a_count_of_people_is_gaussian_as_laplace_at_the_same_share_is_worse(world):
    # One cell a person (age band): Laplace at ε 1 would beat the Gaussian at ρ(1), but ε 1 of
    # pure ε is 18.5% of the answerable cap (5.4) where ρ(1) = 0.0202 is 4.4% of ρ(5.4): at
    # the same 4.4% Laplace gets ε 0.2379, and its error is the larger.
    body = plan(world, AGE_BAND_BODY)
    choice = body["mechanism_choice"]
    assert choice["discrete_laplace_epsilon"] == str(share_matched_epsilon("1", "6")) == "0.2379"
    assert choice["discrete_gaussian_rho"] == str(accounting.rho_within(Decimal(1))) and choice["answerable_cap"] == "5.4000"
    laplace_at_share = mechanisms.laplace_mechanism(sensitivity=1, epsilon=epsilon_split(Decimal("0.2379"))[0])
    assert choice["discrete_laplace_half_width"] == laplace_at_share.half_width
    assert choice["chosen"] == "discrete_gaussian" and choice["discrete_gaussian_half_width"] < laplace_at_share.half_width
    assert body["accuracy"]["half_width"] == choice["discrete_gaussian_half_width"]
    assert body["cost"]["guarantee"] == {"epsilon": "1.0000", "delta": "1e-07"}


def test_where_an_answer_takes_a_large_share_of_the_cap_laplace_wins_and_charges_people_less(
    world, settings, django_capture_on_commit_callbacks
):
    # A person cap of 1.2 (1.08 answerable): ρ(1) is 86.5% of ρ(1.08), so Laplace gets ε 0.9339,
    # whose error for a count a person is in once is below the Gaussian's.
    settings.CH_PERSON_EPSILON_CAP = 1.2
    expected = share_matched_epsilon("1", "1.2")
    assert expected == Decimal("0.9339")
    planned = plan(world, AGE_BAND_BODY)
    choice = planned["mechanism_choice"]
    assert choice["chosen"] == "discrete_laplace" and planned["mechanisms"][0]["name"] == "discrete_laplace"
    assert choice["discrete_laplace_half_width"] < choice["discrete_gaussian_half_width"]
    assert choice["discrete_laplace_epsilon"] == "0.9339" and planned["mechanisms"][0]["epsilon"] == str(epsilon_split(expected)[0])
    # The budget pays the ε asked; each person is charged the Laplace's own ε, δ 0.
    assert planned["cost"]["epsilon"] == "1.0000" and planned["cost"]["delta"] == "0"
    assert planned["cost"]["guarantee"] == {"epsilon": "0.9339", "delta": "0"}
    assert planned["cost"]["reach"]["epsilon"] == str(epsilon_split(expected)[1])

    people = world.consumers(3)
    world.consent(people)
    world.signals([{"consumer": p, "category": "furniture/sofa", "attribute": "modular", "age_band": "25-34"} for p in people])
    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post("/api/v1/releases", AGE_BAND_BODY, format="json")
    assert response.status_code == 202, response.content
    release = Release.objects.get(pk=response.json()["id"])
    assert release.status == Release.DONE, (release.error_code, release.error_message)
    assert release.epsilon == Decimal(1) and release.person_epsilon == expected and release.rho == 0
    payload = release.result["payload"]
    assert payload["mechanisms"] == planned["mechanisms"] and payload["guarantee"] == {"epsilon": "0.9339", "delta": "0"}
    assert Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT).spent == Decimal(1)
    statement = privacy_loss_statement(consumer=people[0])
    assert [(c["epsilon"], c["rho"]) for c in statement["charges"]] == [("0.9339", None)]
    assert statement["guarantee"]["epsilon"] == "0.9339" and statement["guarantee"]["delta"] == "0"


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
