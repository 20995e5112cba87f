"""Know before you pay: POST /api/v1/releases/plan and accuracy-first requests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clearinghouse.audit.models import AuditEvent
from clearinghouse.releases.models import Allocation, Release
from clearinghouse.releases.reach import rho_split
from tests.releases.conftest import PRODUCT
from tests.releases.test_ledger import run, sofa

BODY = {"purpose": PRODUCT, "measure": "consumers", "group_by": ["age_band"], "epsilon": "0.5"}


def plan(world, body):
    return world.manufacturer.client().post("/api/v1/releases/plan", body, format="json")


def spent_nothing(world) -> None:
    assert not Release.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="release.").exists()
    assert not AuditEvent.objects.filter(action="budget.reserved").exists()
    allocation = Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT)
    assert allocation.spent == 0


def test_a_plan_states_cells_mechanism_half_width_cost_and_budget_after_and_spends_nothing(world):
    response = plan(world, BODY)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cells"] == 6 and [label["age_band"] for label in body["cell_labels"]][:2] == ["18-24", "25-34"]
    # A count a person is in once: at ε 0.5 the Gaussian (ρ 0.00542727, the most whose ε at
    # δ is 0.5) beats Laplace at the same share of the person cap (ε 0.0639 of 5.4).
    assert body["mechanisms"][0]["name"] == "discrete_gaussian"
    reach = body["cost"].pop("reach")
    assert body["cost"] == {
        "epsilon": "0.5000",
        "delta": "1e-07",
        "rho": "0.00542727",
        "guarantee": {"epsilon": "0.5000", "delta": "1e-07"},
    }
    assert body["mechanism_choice"]["discrete_laplace_epsilon"] == "0.0639"
    # 5% of the ρ pays for the answer's reach; the mechanism gets the rest.
    answer, share = rho_split(Decimal("0.00542727"))
    assert reach["share"] == "0.05" and reach["rho"] == str(share) and reach["answer_rho"] == str(answer)
    assert body["mechanisms"][0]["rho"] == str(answer) and reach["mechanism"]["sensitivity"] == {"metric": "l2", "value": 1}
    assert body["budget_after"]["allocation_remaining_after"] == "19.5000" and body["budget_after"]["affordable"] is True
    assert body["accuracy"]["half_width"] > 0
    spent_nothing(world)


def test_the_plan_states_the_half_width_the_result_then_states(world, django_capture_on_commit_callbacks):
    (person,) = world.consumers(1)
    world.consent([person])
    world.signals([sofa(person)])
    planned = plan(world, BODY).json()
    release = run(world, {k: v for k, v in BODY.items() if k != "purpose"}, django_capture_on_commit_callbacks)
    payload = release.result["payload"]
    assert payload["accuracy"]["half_width"] == planned["accuracy"]["half_width"]
    assert payload["mechanisms"] == planned["mechanisms"]


def test_a_plan_does_not_depend_on_the_data(world):
    before = plan(world, BODY).json()
    people = world.consumers(30)
    world.consent(people)
    world.signals([sofa(person, age_band="18-24") for person in people])
    assert plan(world, BODY).json() == before


def test_accuracy_first_plans_the_least_epsilon_that_meets_the_half_width(world):
    response = plan(world, {k: v for k, v in BODY.items() if k != "epsilon"} | {"accuracy": {"half_width": 40}})
    assert response.status_code == 200, response.content
    body = response.json()
    epsilon = Decimal(body["cost"]["epsilon"])
    assert body["accuracy"]["half_width"] <= 40 and body["accuracy_first"] is True
    # The very plan at that ε meets it, and one quantum less would not: the least ε whose
    # chosen mechanism meets it, not merely enough.
    at = plan(world, BODY | {"epsilon": str(epsilon)}).json()
    below = plan(world, BODY | {"epsilon": str(epsilon - Decimal("0.0001"))}).json()
    assert at["accuracy"] == body["accuracy"] and at["mechanisms"] == body["mechanisms"]
    assert below["accuracy"]["half_width"] > 40
    spent_nothing(world)


def test_an_accuracy_first_release_spends_that_epsilon_and_meets_it(world, django_capture_on_commit_callbacks):
    (person,) = world.consumers(1)
    world.consent([person])
    world.signals([sofa(person)])
    planned = plan(world, {k: v for k, v in BODY.items() if k != "epsilon"} | {"accuracy": {"half_width": 40}}).json()
    release = run(
        world, {"measure": "consumers", "group_by": ["age_band"], "accuracy": {"half_width": 40}}, django_capture_on_commit_callbacks
    )
    assert str(release.epsilon) == planned["cost"]["epsilon"]
    assert release.result["payload"]["accuracy"]["half_width"] <= 40


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"accuracy": {"half_width": 1}}, 400, "accuracy_unreachable", "accuracy"),
        ({"accuracy": {"half_width": 40}, "epsilon": "0.5"}, 400, "invalid", "accuracy"),
        ({"accuracy": {"half_width": 0}}, 400, "invalid", "accuracy.half_width"),
        ({"accuracy": {"half_width": "1.5"}}, 400, "invalid", "accuracy.half_width"),
        ({"accuracy": {"half_width": "NaN"}}, 400, "invalid", "accuracy.half_width"),
        ({"accuracy": {"half_width": True}}, 400, "invalid", "accuracy.half_width"),
        ({"accuracy": 40}, 400, "invalid", "accuracy"),
        ({"accuracy": {"half_width": 40}, "measure": "mean_value"}, 400, "accuracy_unsupported", "accuracy"),
        ({"measure": "nonsense"}, 400, "invalid", "measure"),
    ],
)
def test_bad_accuracy_requests_are_named_and_spend_nothing(world, change, status, code, field):
    body = {k: v for k, v in BODY.items() if k != "epsilon" or "epsilon" in change or "accuracy" not in change} | change
    for url in ("/api/v1/releases/plan", "/api/v1/releases"):
        response = world.manufacturer.client().post(url, body, format="json")
        assert response.status_code == status, (url, response.content)
        error = response.json()["error"]
        assert error["code"] == code and error["details"]["field"] == field, (url, error)
        if code == "accuracy_unreachable":
            # How far off it is: what it needs, the most a release may spend, and what that buys.
            assert Decimal(error["details"]["epsilon_needed"]) > Decimal(error["details"]["max_epsilon_per_release"]) == Decimal("1")
            assert Decimal(str(error["details"]["best_half_width"])) > 1
        assert not Release.objects.exists()


def test_accuracy_first_over_the_budget_is_refused_before_anything_is_queued(world):
    Allocation.objects.filter(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT).update(allocated=Decimal("0.0100"))
    body = {k: v for k, v in BODY.items() if k != "epsilon"} | {"accuracy": {"half_width": 40}}
    planned = plan(world, body).json()
    assert planned["budget_after"]["affordable"] is False
    response = world.manufacturer.client().post("/api/v1/releases", body, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "budget_exhausted"
    assert not Release.objects.exists()


def test_a_plan_of_a_malformed_body_says_so(world):
    response = world.manufacturer.client().post("/api/v1/releases/plan", [1, 2], format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body"
