"""Know before you pay: POST /api/v1/releases/plan and accuracy-first requests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clearinghouse.audit.models import AuditEvent
from clearinghouse.releases import mechanisms
from clearinghouse.releases.models import Allocation, Release
from clearinghouse.releases.reach import epsilon_split
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
    assert body["mechanisms"][0]["name"] == "discrete_laplace"
    reach = body["cost"].pop("reach")
    assert body["cost"] == {"epsilon": "0.5000", "delta": "0", "rho": "0.125"}
    # 5% of the ε pays for the answer's reach; the mechanism gets the rest.
    assert reach["share"] == "0.05" and reach["epsilon"] == "0.0250" and reach["answer_epsilon"] == "0.4750"
    assert body["mechanisms"][0]["epsilon"] == "0.4750" and reach["mechanism"]["sensitivity"] == {"metric": "l1", "value": 1}
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
    sensitivity = body["mechanisms"][0]["sensitivity"]["value"]
    # One quantum less would not meet it: the least ε, not merely enough.
    assert mechanisms.laplace_mechanism(sensitivity=sensitivity, epsilon=epsilon_split(epsilon)[0]).half_width <= 40
    assert mechanisms.laplace_mechanism(sensitivity=sensitivity, epsilon=epsilon_split(epsilon - Decimal("0.0001"))[0]).half_width > 40
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
