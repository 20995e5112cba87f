"""A manufacturer whose allocation cannot pay for the accuracy asked: the plan says so and the
trend is refused. Kept apart from test_requests.py, whose tests share one world built per
module: here the purpose's cap must not already be allocated to that world's manufacturer."""

from __future__ import annotations

from decimal import Decimal

from clearinghouse.core.actors import Actor
from clearinghouse.releases.budgets import budget_allocate
from clearinghouse.releases.models import Allocation, Release
from tests.trends.conftest import FORECAST
from tests.trends.test_requests import body


def test_accuracy_beyond_the_allocation_is_409_and_the_plan_says_so(make_manufacturer, purposes, django_capture_on_commit_callbacks):
    small = make_manufacturer("smallco", ["flowers"])
    budget_allocate(manufacturer_slug="smallco", purpose_code=FORECAST, epsilon="0.3", period=None, actor=Actor.operator())
    client = small.client()
    request = body(epsilon=..., accuracy={"half_width": 60})
    plan = client.post("/api/v1/trends/plan", request, format="json").json()
    assert plan["budget"]["affordable"] is False
    assert Decimal(plan["budget"]["allocation"]["remaining_after"]) < 0
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/trends", request, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "budget_exhausted"
    assert not Release.objects.exists()
    assert Allocation.objects.get(manufacturer=small.obj, purpose_code=FORECAST).spent == 0
