"""POST /api/v1/trends and /trends/plan as a manufacturer meets them: bad bodies, the plan,
accuracy-first, budgets, repeats and scoping."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from clearinghouse.audit.models import AuditEvent
from clearinghouse.releases import accounting
from clearinghouse.releases.models import Allocation, ChargeChunk, PurposeBudget, Release
from clearinghouse.trends.continual import plan_series
from tests.conftest import module_world
from tests.trends.conftest import FORECAST, PRODUCT


# Every test here uses ``db``: the world is built once for the module (tests/conftest.py's
# module_db) and each test gets its own copy of it.
@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


WEEKS = {"since": "2026-01-05", "until": "2026-03-29"}  # 12 whole ISO weeks, long past
FLOWERS = {"category": "flowers", **WEEKS}


def body(**changes):
    base = {"purpose": FORECAST, "measure": "consumers", "filters": FLOWERS, "epsilon": "0.5", "forecast_weeks": 4}
    for key, value in changes.items():
        if value is ...:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def spent(world) -> tuple[Decimal, Decimal]:
    allocation = Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=FORECAST)
    purpose = PurposeBudget.objects.get(purpose_code=FORECAST, period=allocation.period)
    return allocation.spent, purpose.spent


def _future() -> str:
    return (timezone.localdate(timezone=ZoneInfo(settings.TIME_ZONE)) + timedelta(days=3)).isoformat()


BAD_BODIES = [
    pytest.param(body(filters={"category": "flowers", "until": "2026-03-29"}), "filters.since", "invalid", id="missing-since"),
    pytest.param(body(filters={"category": "flowers", "since": "2026-01-05"}), "filters.until", "invalid", id="missing-until"),
    pytest.param(body(filters=...), "filters", "invalid", id="no-filters"),
    pytest.param(body(filters={"since": "2026-03-29", "until": "2026-01-05"}), "filters.until", "invalid", id="until-before-since"),
    pytest.param(body(filters={"since": "2023-01-02", "until": "2026-03-29"}), "filters.until", "too_many_weeks", id="too-many-weeks"),
    pytest.param(body(filters={"since": "2026-13-01", "until": "2026-03-29"}), "filters.since", "invalid", id="not-a-date"),
    pytest.param(body(by="colour"), "by", "unknown_dimension", id="unknown-by"),
    pytest.param(body(by="week"), "by", "unknown_dimension", id="by-week"),
    pytest.param(body(by="age_band"), "by", "dimension_not_allowed", id="by-not-allowed"),
    pytest.param(body(forecast_weeks=27), "forecast_weeks", "invalid", id="forecast-too-far"),
    pytest.param(body(forecast_weeks=-1), "forecast_weeks", "invalid", id="forecast-negative"),
    pytest.param(body(forecast_weeks=2.5), "forecast_weeks", "invalid", id="forecast-fraction"),
    pytest.param(body(forecast_weeks=True), "forecast_weeks", "invalid", id="forecast-boolean"),
    pytest.param(body(accuracy={"half_width": 50}), "accuracy", "invalid", id="accuracy-and-epsilon"),
    pytest.param(body(epsilon=...), "epsilon", "invalid", id="neither-epsilon-nor-accuracy"),
    pytest.param(body(epsilon="NaN"), "epsilon", "invalid", id="epsilon-nan"),
    pytest.param(body(epsilon="Infinity"), "epsilon", "invalid", id="epsilon-infinite"),
    pytest.param(body(epsilon="2"), "epsilon", "epsilon_too_large", id="epsilon-over-the-per-release-maximum"),
    pytest.param(body(epsilon=..., accuracy={"half_width": "NaN"}), "accuracy.half_width", "invalid", id="half-width-nan"),
    pytest.param(body(epsilon=..., accuracy={"half_width": "-Infinity"}), "accuracy.half_width", "invalid", id="half-width-infinite"),
    pytest.param(body(epsilon=..., accuracy={"half_width": 0}), "accuracy.half_width", "invalid", id="half-width-zero"),
    pytest.param(body(epsilon=..., accuracy={"half_width": 50, "of": "monthly"}), "accuracy.of", "invalid", id="accuracy-of-unknown"),
    pytest.param(body(epsilon=..., accuracy={"width": 5}), "accuracy", "invalid", id="accuracy-without-half-width"),
    pytest.param(body(measure="top_k"), "measure", "invalid", id="measure-not-a-count"),
    pytest.param(body(group_by=["week"]), "group_by", "invalid", id="unknown-field"),
    pytest.param(body(filters={**WEEKS, "colour": "red"}), "filters.colour", "invalid", id="unknown-filter"),
    pytest.param(body(purpose="no-such-purpose"), "purpose", "unknown_purpose", id="unknown-purpose"),
    pytest.param(body(purpose=PRODUCT), "purpose", "dimension_not_allowed", id="purpose-without-weeks"),
]


@pytest.mark.parametrize("endpoint", ["/api/v1/trends", "/api/v1/trends/plan"])
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


@pytest.mark.parametrize("endpoint", ["/api/v1/trends", "/api/v1/trends/plan"])
def test_a_week_that_has_not_ended_is_refused(world, endpoint):
    response = world.manufacturer.client().post(endpoint, body(filters={"since": "2026-01-05", "until": _future()}), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("week_not_over", "filters.until")
    assert not Release.objects.exists()


@pytest.mark.parametrize("raw", ['{"half_width": 1e999}', '{"half_width": -1e999}'])
def test_a_half_width_json_reads_as_infinite_is_refused(world, raw):
    text = json.dumps(body(epsilon=...))[:-1] + f', "accuracy": {raw}}}'
    response = world.manufacturer.client().post("/api/v1/trends", text, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["field"] == "accuracy.half_width"
    assert not Release.objects.exists()


def test_too_many_cells_is_refused_naming_by(world, settings):
    settings.CH_RELEASE_MAX_CELLS = 100
    response = world.manufacturer.client().post("/api/v1/trends", body(by="region"), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("too_many_cells", "by")
    assert error["details"]["cells"] > error["details"]["max_cells"] == 100
    assert not Release.objects.exists()


def test_a_refused_trend_is_audited_with_the_field_and_no_body(world):
    world.manufacturer.client().post("/api/v1/trends", body(by="colour"), format="json")
    event = AuditEvent.objects.get(action="release.refused")
    assert event.details["kind"] == "trend"
    assert event.details["field"] == "by" and event.details["code"] == "unknown_dimension"
    assert "filters" not in event.details


def _plan(world, payload):
    response = world.manufacturer.client().post("/api/v1/trends/plan", payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_plan_states_weeks_series_mechanism_half_widths_cost_and_budgets_and_spends_nothing(world):
    before, events = spent(world), AuditEvent.objects.count()
    plan = _plan(world, body(filters={"category": "flowers", "since": "2026-01-07", "until": "2026-03-25"}, by="signal"))
    # Widened to whole ISO weeks: Monday 5 January to Sunday 29 March.
    assert plan["filters"] == {"category": "flowers", "since": "2026-01-05", "until": "2026-03-29"}
    assert plan["weeks"][0] == "2026-W02" and plan["weeks"][-1] == "2026-W13" and len(plan["weeks"]) == 12
    assert [s["signal"] for s in plan["series"]][:2] == ["view", "wishlist"] and plan["cells"] == 12 * len(plan["series"])
    assert plan["mechanism"]["noise"] == "discrete_gaussian" and "OpenDP" in plan["mechanism"]["library"]
    # 20 cells a consumer may add, counted once each: the squared L2 bound is 20.
    assert plan["mechanism"]["sensitivity"]["squared_bound_counts"] == 20
    assert plan["contribution_bounds"]["max_weeks_per_person"] == 12
    cost = plan["cost"]
    assert cost["epsilon"] == "0.5000" and cost["delta"] == "1e-07"
    assert accounting.zcdp_to_epsilon(float(cost["rho"]), 1e-7) <= 0.5
    accuracy = plan["accuracy"]
    assert len(accuracy["weekly_half_widths"]) == len(accuracy["running_total_half_widths"]) == 12
    # Running totals add up noise: the last is wider than any week, but by less than 12x.
    last = Decimal(accuracy["running_total_half_widths"][-1])
    assert Decimal(accuracy["max_weekly_half_width"]) < last < 12 * Decimal(accuracy["max_weekly_half_width"])
    budget = plan["budget"]
    assert budget["allocation"]["remaining"] == "20.0000" and budget["allocation"]["remaining_after"] == "19.5000"
    assert budget["purpose"]["remaining"] == "20.0000" and budget["purpose"]["remaining_after"] == "19.5000"
    assert budget["affordable"] is True
    assert spent(world) == before
    assert not Release.objects.exists()
    assert AuditEvent.objects.count() == events  # a plan writes nothing at all


def test_region_is_a_fact_about_a_person_so_a_region_split_costs_no_more_than_one_series(world):
    # One region per person per release: a person is in one region series, in at most 12 weeks.
    by_region = _plan(world, body(by="region"))
    assert len(by_region["series"]) > 10
    assert by_region["contribution_bounds"]["cells_per_consumer"] == 12
    assert by_region["mechanism"]["sensitivity"]["squared_bound_counts"] == 12
    # By signal kind a person may be in several series: the purpose's 20 cells bound it.
    assert _plan(world, body(by="signal"))["mechanism"]["sensitivity"]["squared_bound_counts"] == 20
    assert by_region["accuracy"]["max_weekly_half_width"] == _plan(world, body())["accuracy"]["max_weekly_half_width"]


def test_plans_do_not_depend_on_the_data(world):
    # The last twelve whole weeks, where the signals below fall.
    last_sunday = timezone.localdate(timezone=ZoneInfo(settings.TIME_ZONE)) - timedelta(
        days=timezone.localdate(timezone=ZoneInfo(settings.TIME_ZONE)).weekday() + 1
    )
    recent = {"category": "flowers", "since": (last_sunday - timedelta(days=83)).isoformat(), "until": last_sunday.isoformat()}
    first = _plan(world, body(filters=recent))
    accuracy_first = _plan(world, body(filters=recent, epsilon=..., accuracy={"half_width": 200, "of": "running_total"}))
    people = world.consumers(40)
    world.consent(people, purpose_code=FORECAST)
    moment = timezone.now() - timedelta(days=30)
    world.signals(
        [
            {"consumer": p, "category": "flowers/fresh-cut", "attribute": "rose", "signal": "purchase", "occurred_at": moment}
            for p in people
        ],
        purpose_code=FORECAST,
    )
    assert _plan(world, body(filters=recent)) == first
    assert _plan(world, body(filters=recent, epsilon=..., accuracy={"half_width": 200, "of": "running_total"})) == accuracy_first


@pytest.mark.parametrize("target", ["weekly", "running_total"])
def test_accuracy_first_spends_the_least_that_meets_the_half_width(world, target, django_capture_on_commit_callbacks):
    wanted = 60 if target == "weekly" else 200
    request = body(epsilon=..., accuracy={"half_width": wanted, "of": target})
    plan = _plan(world, request)
    assert plan["accuracy"]["requested"] == {"half_width": str(wanted), "of": target}
    key = "max_weekly_half_width" if target == "weekly" else "max_running_total_half_width"
    assert Decimal(plan["accuracy"][key]) <= wanted
    # The least: 1e-8 less ρ would miss the target.
    rho = Decimal(plan["cost"]["rho"])
    less = plan_series(weeks=12, series=1, rho=rho - Decimal("0.00000001"), l2_sensitivity_sq=20, max_weeks_per_person=12)
    assert (less.max_weekly_half_width if target == "weekly" else less.max_running_total_half_width) > wanted
    epsilon = Decimal(plan["cost"]["epsilon"])
    assert plan["budget"]["allocation"]["remaining_after"] == str(Decimal("20.0000") - epsilon)

    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post("/api/v1/trends", request, format="json")
    assert response.status_code == 202, response.content
    trend = world.manufacturer.client().get(f"/api/v1/trends/{response.json()['id']}").json()
    assert trend["status"] == "done", trend
    assert trend["epsilon"] == plan["cost"]["epsilon"] and trend["rho"] == plan["cost"]["rho"]
    assert trend["accuracy"] == {"half_width": str(wanted), "of": target}
    payload = trend["result"]["payload"]
    assert Decimal(payload["accuracy"][key]) <= wanted
    assert spent(world) == (epsilon, epsilon)


def test_accuracy_out_of_reach_is_refused_before_anything_is_queued(world):
    before = spent(world)
    for endpoint in ("/api/v1/trends/plan", "/api/v1/trends"):
        response = world.manufacturer.client().post(endpoint, body(epsilon=..., accuracy={"half_width": 5}), format="json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "accuracy_unreachable" and error["details"]["field"] == "accuracy"
        assert Decimal(error["details"]["epsilon_needed"]) > Decimal(error["details"]["max_epsilon_per_release"]) == Decimal("1")
        assert Decimal(error["details"]["best_half_width"]) > 5
    assert spent(world) == before and not Release.objects.exists()


def test_a_repeat_in_the_same_period_returns_the_stored_trend_and_spends_once(world, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/v1/trends", body(), format="json")
    assert first.status_code == 202
    # The same weeks written differently (days inside the first and last week).
    again = body(filters={"category": "flowers", "since": "2026-01-08", "until": "2026-03-23"})
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post("/api/v1/trends", again, format="json")
    assert second.status_code == 200 and second.json()["repeat"] is True
    assert second.json()["id"] == first.json()["id"] and second.json()["result"]["payload"]
    assert spent(world) == (Decimal("0.5"), Decimal("0.5"))
    assert Release.objects.count() == 1


def test_trends_are_listed_and_read_only_by_their_manufacturer(world, make_manufacturer, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    with django_capture_on_commit_callbacks(execute=True):
        trend_id = client.post("/api/v1/trends", body(), format="json").json()["id"]
        release_id = client.post("/api/v1/releases", {"purpose": PRODUCT, "measure": "signals", "epsilon": "0.1"}, format="json").json()[
            "id"
        ]
    listed = client.get("/api/v1/trends").json()
    assert [t["id"] for t in listed["results"]] == [trend_id]
    assert listed["results"][0]["weeks"] == 12 and listed["results"][0]["status"] == "done"
    assert [r["id"] for r in client.get("/api/v1/releases").json()["results"]] == [release_id]
    assert client.get(f"/api/v1/trends/{release_id}").status_code == 404  # a release is not a trend
    other = make_manufacturer("otherco", ["flowers"]).client()
    assert other.get(f"/api/v1/trends/{trend_id}").status_code == 404
    assert other.get("/api/v1/trends").json()["count"] == 0


def test_a_done_trend_is_shown_only_at_its_visible_time(world, settings, django_capture_on_commit_callbacks):
    settings.CH_RELEASE_VISIBLE_STEP_SECONDS = 3600
    client = world.manufacturer.client()
    with django_capture_on_commit_callbacks(execute=True):
        trend_id = client.post("/api/v1/trends", body(), format="json").json()["id"]
    assert Release.objects.get(pk=trend_id).status == "done"
    shown = client.get(f"/api/v1/trends/{trend_id}").json()
    assert shown["status"] == "running" and shown["result"] is None and shown["completed_at"] is None
    assert client.get("/api/v1/trends").json()["results"][0]["status"] == "running"


def test_the_worker_knows_the_trend_tasks_and_beat_sweeps_lost_trends(settings):
    """In a fresh process, as a worker starts: the trend tasks are registered."""
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from clearinghouse.celery import app; app.loader.import_default_modules(); "
        "print('\\n'.join(sorted(app.tasks)))"
    )
    tasks = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout.split()
    assert "clearinghouse.trends.tasks.trend_compute_task" in tasks
    assert "clearinghouse.trends.tasks.trend_sweep_task" in tasks
    assert settings.CELERY_BEAT_SCHEDULE["trends-sweep"]["task"] == "clearinghouse.trends.tasks.trend_sweep_task"
