"""POST /api/v1/reports and /reports/plan as a manufacturer meets them: bad bodies, the plan,
accuracy-first, budgets, repeats and scoping."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from clearinghouse.audit.models import AuditEvent
from clearinghouse.releases import accounting
from clearinghouse.releases.models import Allocation, ChargeChunk, PurposeBudget, Release
from tests.conftest import module_world
from tests.reports.conftest import FORECAST, PRODUCT


# Every test here uses ``db``: the world is built once for the module (tests/conftest.py's
# module_db) and each test gets its own copy of it.
@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


SIX = [["attribute"], ["age_band"], ["region"], ["attribute", "age_band"], ["attribute", "region"], ["age_band", "region"]]
CHAIRS = {"category": "furniture/office-chair"}


def body(**changes):
    base = {"purpose": PRODUCT, "measure": "consumers", "filters": CHAIRS, "marginals": SIX, "epsilon": "0.5"}
    for key, value in changes.items():
        if value is ...:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def spent(world) -> tuple[Decimal, Decimal]:
    allocation = Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT)
    purpose = PurposeBudget.objects.get(purpose_code=PRODUCT, period=allocation.period)
    return allocation.spent, purpose.spent


BAD_BODIES = [
    pytest.param(body(marginals=[["attribute", "colour"]]), "marginals[0]", "unknown_dimension", id="unknown-dimension"),
    pytest.param(body(marginals=[["attribute"], ["week"]]), "marginals[1]", "dimension_not_allowed", id="dimension-not-allowed"),
    pytest.param(
        body(marginals=[["attribute", "age_band"], ["age_band", "attribute"]]),
        "marginals[1]",
        "duplicate_marginal",
        id="duplicate-marginals",
    ),
    pytest.param(body(marginals=[]), "marginals", "invalid", id="empty-list"),
    pytest.param(body(marginals=...), "marginals", "invalid", id="no-marginals"),
    pytest.param(body(marginals=[[]]), "marginals[0]", "invalid", id="empty-marginal"),
    pytest.param(body(marginals=[["age_band", "age_band"]]), "marginals[0]", "invalid", id="dimension-twice"),
    pytest.param(body(marginals=["age_band"]), "marginals[0]", "invalid", id="marginal-not-a-list"),
    pytest.param(
        body(marginals=[["attribute"], ["category"]], filters={"category": "furniture"}),
        "marginals[1]",
        "category_with_attribute",
        id="category-beside-attribute",
    ),
    pytest.param(body(marginals=[["category"]]), "marginals", "single_value_dimension", id="one-valued-dimension"),
    pytest.param(body(accuracy={"half_width": 50}), "accuracy", "invalid", id="accuracy-and-epsilon"),
    pytest.param(body(epsilon=...), "epsilon", "invalid", id="neither-epsilon-nor-accuracy"),
    pytest.param(body(epsilon="NaN"), "epsilon", "invalid", id="epsilon-nan"),
    pytest.param(body(epsilon="Infinity"), "epsilon", "invalid", id="epsilon-infinite"),
    pytest.param(body(epsilon="2"), "epsilon", "epsilon_too_large", id="epsilon-over-the-per-release-maximum"),
    pytest.param(body(epsilon=..., accuracy={"half_width": "NaN"}), "accuracy.half_width", "invalid", id="half-width-nan"),
    pytest.param(body(epsilon=..., accuracy={"half_width": -3}), "accuracy.half_width", "invalid", id="half-width-negative"),
    pytest.param(body(epsilon=..., accuracy={"half_width": 0}), "accuracy.half_width", "invalid", id="half-width-zero"),
    pytest.param(body(epsilon=..., accuracy={"width": 5}), "accuracy", "invalid", id="accuracy-without-half-width"),
    pytest.param(body(measure="mean_value"), "measure", "invalid", id="measure-not-a-count"),
    pytest.param(body(group_by=["age_band"]), "group_by", "invalid", id="unknown-field"),
    pytest.param(body(filters={"colour": "red"}), "filters.colour", "invalid", id="unknown-filter"),
    pytest.param(body(purpose="no-such-purpose"), "purpose", "unknown_purpose", id="unknown-purpose"),
]


@pytest.mark.parametrize("endpoint", ["/api/v1/reports", "/api/v1/reports/plan"])
@pytest.mark.parametrize(("payload", "field", "code"), BAD_BODIES)
def test_bad_bodies_get_a_400_naming_the_field_and_spend_nothing(world, endpoint, payload, field, code, django_capture_on_commit_callbacks):
    before = spent(world)
    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post(endpoint, payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["details"]["field"] == field, error
    assert error["code"] == code, error
    assert error["message"].startswith(field + ":"), error
    assert spent(world) == before
    assert not Release.objects.exists() and not ChargeChunk.objects.exists()


@pytest.mark.parametrize("endpoint", ["/api/v1/reports", "/api/v1/reports/plan"])
@pytest.mark.parametrize("raw", ['{"half_width": 1e999}', '{"half_width": -1e999}'])
def test_a_half_width_json_reads_as_infinite_is_refused(world, endpoint, raw):
    text = json.dumps(body(epsilon=...))[:-1] + f', "accuracy": {raw}}}'
    response = world.manufacturer.client().post(endpoint, text, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["field"] == "accuracy.half_width"
    assert not Release.objects.exists()


def test_too_many_cells_is_refused_naming_the_marginals(world, settings):
    settings.CH_RELEASE_MAX_CELLS = 100
    response = world.manufacturer.client().post("/api/v1/reports", body(marginals=[["age_band", "region"]]), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"] == {"field": "marginals", "cells": 204, "max_cells": 100} and error["code"] == "too_many_cells"
    assert "204 cells" in error["message"]
    assert not Release.objects.exists()


def test_a_body_that_is_not_an_object_is_malformed(world):
    response = world.manufacturer.client().post("/api/v1/reports", [["age_band"]], format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body"


def test_a_refused_report_is_audited_with_the_field_and_no_body(world):
    world.manufacturer.client().post("/api/v1/reports", body(marginals=[["attribute", "colour"]]), format="json")
    event = AuditEvent.objects.get(action="release.refused")
    assert event.details["kind"] == "report"
    assert event.details["field"] == "marginals[0]" and event.details["code"] == "unknown_dimension"
    assert "marginals" not in event.details


def _plan(world, payload):
    response = world.manufacturer.client().post("/api/v1/reports/plan", payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_plan_states_cells_mechanism_half_widths_cost_and_budgets_and_spends_nothing(world):
    before, events = spent(world), AuditEvent.objects.count()
    plan = _plan(world, body())
    assert [m["dimensions"] for m in plan["marginals"]] == SIX
    attribute = plan["marginals"][0]
    assert attribute["cell_count"] == len(attribute["cells"]) == 7
    assert attribute["cells"][0] == {"category": "furniture/office-chair", "attribute": "lumbar-support"}
    assert plan["marginals"][5]["cell_count"] == 6 * 34
    # Finer marginals get more cells, each less accurate than a coarse one would be alone,
    # but every marginal has its own stated half-width, all positive.
    assert all(Decimal(m["half_width"]) > 0 for m in plan["marginals"])
    assert plan["counts"].startswith("consumers") and "age_band × region alone counts each consumer once" in plan["counts"]
    # The tables without attribute are read off a table of people (a person is one cell),
    # the others off the full domain; each residual at its own sensitivity.
    tables = plan["mechanism"]["tables"]
    assert [t["table"] for t in tables] == ["full_domain", "people"]
    assert tables[1]["dimensions"] == ["age_band", "region"] and tables[1]["marginals"] == [
        ["age_band"],
        ["region"],
        ["age_band", "region"],
    ]
    sensitivity = {(r["table"], tuple(r["dimensions"])): float(r["l2_sensitivity"]) for r in plan["mechanism"]["residuals"]}
    # max over k of 7·k·(7 − k) = 84 for the attributes' main effect, against 7²·7·6 = 2,058
    # for a person's arbitrary change of L1 norm 7; a person moves the table of people's
    # age-band residual by one column of K_6: 6·5 = 30.
    assert sensitivity[("full_domain", ("attribute",))] == pytest.approx(84**0.5)
    assert sensitivity[("people", ("age_band",))] == pytest.approx(30**0.5)
    assert sensitivity[("full_domain", ("age_band",))] == pytest.approx((49 * 30) ** 0.5)
    assert plan["mechanism"]["name"] == "residual_planner_discrete_gaussian"
    assert plan["mechanism"]["noise"] == "discrete_gaussian" and "OpenDP" in plan["mechanism"]["library"]
    assert "NeurIPS 2023" in plan["mechanism"]["reference"]
    # A person has one age band and one region per report, so they reach at most the 7
    # attribute cells (of their age band and region), each counted once.
    assert plan["mechanism"]["sensitivity"]["value"] == 7
    assert plan["contribution_bounds"]["cells_per_consumer"] == 7
    cost = plan["cost"]
    assert cost["epsilon"] == "0.5000" and cost["delta"] == "1e-07"
    assert accounting.zcdp_to_epsilon(float(cost["rho"]), 1e-7) <= 0.5
    assert Decimal(plan["mechanism"]["rho_privacy_map"]) <= Decimal(cost["rho"])
    budget = plan["budget"]
    assert budget["allocation"]["remaining"] == "20.0000" and budget["allocation"]["remaining_after"] == "19.5000"
    assert budget["purpose"]["remaining"] == "20.0000" and budget["purpose"]["remaining_after"] == "19.5000"
    assert budget["affordable"] is True
    assert spent(world) == before
    assert not Release.objects.exists()
    assert AuditEvent.objects.count() == events  # a plan writes nothing at all


def test_plans_do_not_depend_on_the_data(world):
    first = _plan(world, body())
    accuracy_first = _plan(world, body(epsilon=..., accuracy={"half_width": 900}))
    people = world.consumers(40)
    world.consent(people)
    world.signals(
        [
            {"consumer": p, "category": "furniture/office-chair", "attribute": "headrest", "age_band": "25-34", "region": "CN-GD"}
            for p in people
        ]
    )
    assert _plan(world, body()) == first
    assert _plan(world, body(epsilon=..., accuracy={"half_width": 900})) == accuracy_first


def test_accuracy_first_spends_the_least_that_meets_the_half_width(world, django_capture_on_commit_callbacks):
    people = world.consumers(30)
    world.consent(people)
    world.signals([{"consumer": p, "category": "furniture/office-chair", "attribute": "footrest", "age_band": "35-44"} for p in people])
    wanted = 150
    plan = _plan(world, body(epsilon=..., accuracy={"half_width": wanted}))
    assert plan["accuracy"] == {"requested_half_width": "150"}
    widths = [Decimal(m["half_width"]) for m in plan["marginals"]]
    assert max(widths) <= wanted
    # The least: one 1e-8 less ρ would miss the target.
    rho = Decimal(plan["cost"]["rho"])
    from clearinghouse.releases.reach import RHO_UNIT, rho_split
    from clearinghouse.reports.spec import report_workloads
    from clearinghouse.reports.strategy import plan_workloads

    workloads = report_workloads(
        measure="consumers",
        domain_sizes={"attribute": 7, "age_band": 6, "region": 34},
        marginals=tuple(tuple(m) for m in SIX),
        cells_per_consumer=7,
        purpose=world.purposes[PRODUCT],
    )
    # The answer is measured with ρ less its 5% reach share (releases/reach.py).
    assert Decimal(plan["cost"]["reach"]["rho"]) + Decimal(plan["cost"]["reach"]["answer_rho"]) == rho
    less = plan_workloads(workloads=workloads, rho=rho_split(rho - RHO_UNIT)[0])
    assert less.max_half_width > wanted
    assert plan_workloads(workloads=workloads, rho=rho_split(rho)[0]).max_half_width <= wanted
    epsilon = Decimal(plan["cost"]["epsilon"])
    assert plan["budget"]["allocation"]["remaining_after"] == str(Decimal("20.0000") - epsilon)

    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post("/api/v1/reports", body(epsilon=..., accuracy={"half_width": wanted}), format="json")
    assert response.status_code == 202, response.content
    report = world.manufacturer.client().get(f"/api/v1/reports/{response.json()['id']}").json()
    assert report["status"] == "done", report
    assert report["epsilon"] == plan["cost"]["epsilon"] and report["rho"] == plan["cost"]["rho"]
    assert report["accuracy"] == {"half_width": "150"}
    payload = report["result"]["payload"]
    assert all(Decimal(m["half_width"]) <= wanted for m in payload["marginals"])
    assert spent(world) == (epsilon, epsilon)


def test_accuracy_out_of_reach_is_refused_before_anything_is_queued(world):
    before = spent(world)
    for endpoint in ("/api/v1/reports/plan", "/api/v1/reports"):
        response = world.manufacturer.client().post(endpoint, body(epsilon=..., accuracy={"half_width": 5}), format="json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "accuracy_unreachable" and error["details"]["field"] == "accuracy.half_width"
        assert Decimal(error["details"]["epsilon_needed"]) > Decimal(error["details"]["max_epsilon_per_release"]) == Decimal("1")
        best = error["details"]["best_half_width"]
        assert f"which gives ±{best})" in error["message"]
    assert spent(world) == before and not Release.objects.exists()
    # The half-width it names is what the most a report may spend buys: asking for it is
    # answered at that ε, and asking for a little less is out of reach again.
    reachable = world.manufacturer.client().post(
        "/api/v1/reports/plan", body(epsilon=..., accuracy={"half_width": float(best)}), format="json"
    )
    assert reachable.status_code == 200, reachable.content
    assert Decimal(reachable.json()["cost"]["epsilon"]) <= Decimal("1")
    tighter = world.manufacturer.client().post(
        "/api/v1/reports/plan", body(epsilon=..., accuracy={"half_width": float(best) - 0.2}), format="json"
    )
    assert tighter.status_code == 400 and tighter.json()["error"]["code"] == "accuracy_unreachable"
    assert spent(world) == before and not Release.objects.exists()


def test_a_repeat_in_the_same_period_returns_the_stored_report_and_spends_once(world, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/v1/reports", body(), format="json")
    assert first.status_code == 202
    # The same request, written differently (marginal order inside, category folded in).
    again = body(
        marginals=[
            ["attribute"],
            ["age_band"],
            ["region"],
            ["age_band", "attribute"],
            ["category", "attribute", "region"],
            ["age_band", "region"],
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post("/api/v1/reports", again, format="json")
    assert second.status_code == 200 and second.json()["repeat"] is True
    assert second.json()["id"] == first.json()["id"] and second.json()["result"]["payload"]
    assert spent(world) == (Decimal("0.5"), Decimal("0.5"))
    assert Release.objects.count() == 1


def test_reports_are_listed_and_read_only_by_their_manufacturer(world, make_manufacturer, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    with django_capture_on_commit_callbacks(execute=True):
        report_id = client.post("/api/v1/reports", body(), format="json").json()["id"]
        release_id = client.post("/api/v1/releases", {"purpose": PRODUCT, "measure": "signals", "epsilon": "0.1"}, format="json").json()[
            "id"
        ]
    listed = client.get("/api/v1/reports").json()
    assert [r["id"] for r in listed["results"]] == [report_id]
    assert listed["results"][0]["marginals"] == SIX and listed["results"][0]["status"] == "done"
    assert [r["id"] for r in client.get("/api/v1/releases").json()["results"]] == [release_id]
    assert client.get(f"/api/v1/reports/{release_id}").status_code == 404  # a release is not a report
    other = make_manufacturer("otherco", ["furniture"]).client()
    assert other.get(f"/api/v1/reports/{report_id}").status_code == 404
    assert other.get("/api/v1/reports").json()["count"] == 0


def test_a_week_marginal_needs_the_range_and_its_sensitivity_counts_signals(world):
    forecast = {"purpose": FORECAST, "measure": "signals", "marginals": [["week"]], "epsilon": "0.5"}
    response = world.manufacturer.client().post("/api/v1/reports/plan", forecast, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "filters.since"
    forecast["filters"] = {"since": "2026-01-05", "until": "2026-03-29"}
    plan = world.manufacturer.client().post("/api/v1/reports/plan", forecast, format="json").json()
    assert plan["marginals"][0]["cell_count"] == 12
    # A consumer adds at most min(20 cells, 12 weeks) cells of at most 5 signals each.
    assert plan["mechanism"]["sensitivity"]["value"] == 12 * 5


def test_the_worker_knows_the_report_tasks_and_beat_sweeps_lost_reports(settings):
    """In a fresh process, as a worker starts: the report tasks are registered (a worker that
    does not know them discards the message and the report waits for the sweeper)."""
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from clearinghouse.celery import app; app.loader.import_default_modules(); "
        "print('\\n'.join(sorted(app.tasks)))"
    )
    tasks = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout.split()
    assert "clearinghouse.reports.tasks.report_compute_task" in tasks
    assert "clearinghouse.reports.tasks.report_sweep_task" in tasks
    assert settings.CELERY_BEAT_SCHEDULE["reports-sweep"]["task"] == "clearinghouse.reports.tasks.report_sweep_task"


def test_stated_half_widths_never_exceed_a_requested_one_with_decimals(world):
    for wanted in (600.05, 500.55, 450.99):
        plan = _plan(world, body(epsilon=..., accuracy={"half_width": wanted}))
        assert all(Decimal(m["half_width"]) <= Decimal(str(wanted)) for m in plan["marginals"]), (wanted, plan["marginals"])


def test_person_attributes_alone_have_sensitivity_one(world):
    plan = _plan(world, body(marginals=[["age_band"], ["region"], ["age_band", "region"]]))
    assert plan["mechanism"]["sensitivity"]["value"] == 1
    signals = _plan(world, body(measure="signals", marginals=[["age_band"], ["region"]]))
    assert signals["mechanism"]["sensitivity"]["value"] == 3  # one cell, at most three signals in it


def test_a_done_report_is_shown_only_at_its_data_independent_visible_time(world, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.test import override_settings
    from django.utils import timezone

    client = world.manufacturer.client()
    with override_settings(CH_RELEASE_VISIBLE_STEP_SECONDS=60.0), django_capture_on_commit_callbacks(execute=True):
        report_id = client.post("/api/v1/reports", body(), format="json").json()["id"]
    assert Release.objects.get(pk=report_id).status == Release.DONE
    with override_settings(CH_RELEASE_VISIBLE_STEP_SECONDS=60.0):
        detail = client.get(f"/api/v1/reports/{report_id}").json()
        assert detail["status"] == "running" and detail["result"] is None and detail["completed_at"] is None
        listed = client.get("/api/v1/reports").json()["results"][0]
        assert listed["status"] == "running" and listed["completed_at"] is None
        repeat = client.post("/api/v1/reports", body(), format="json").json()
        assert repeat["status"] == "running" and repeat["result"] is None
    Release.objects.filter(pk=report_id).update(created_at=timezone.now() - timedelta(seconds=120))
    with override_settings(CH_RELEASE_VISIBLE_STEP_SECONDS=60.0):
        detail = client.get(f"/api/v1/reports/{report_id}").json()
    assert detail["status"] == "done" and detail["result"]["payload"]["release_id"] == report_id
