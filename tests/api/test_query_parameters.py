"""Query parameters are declared once, documented and honoured: every endpoint refuses a
parameter it does not take with a 400 naming it (a misspelt filter used to be ignored,
and the caller got everything), and the job lists filter by purpose and period."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter, UUIDConverter
from rest_framework.test import APIClient

from clearinghouse.api.permissions import ANYONE, COMPLIANCE, CONSUMER, MANUFACTURER, PERMISSION_TABLE, PLATFORM
from tests.releases.conftest import FORECAST, PRODUCT
from tests.releases.conftest import world as world  # noqa: F401 - the fixture, for this module

CALLER = {ANYONE: "anonymous", CONSUMER: "consumer_a", PLATFORM: "platform_p", MANUFACTURER: "manufacturer", COMPLIANCE: "officer"}


def served_routes() -> list[tuple[str, URLPattern]]:
    routes = []

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif pattern.name:
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                if name in PERMISSION_TABLE:
                    routes.append((name, pattern))

    walk(get_resolver().url_patterns, None)
    return routes


def sample_url(name: str, pattern: URLPattern) -> str:
    kwargs = {}
    for key, converter in pattern.pattern.converters.items():
        if isinstance(converter, UUIDConverter):
            kwargs[key] = uuid.UUID(int=0)
        elif isinstance(converter, IntConverter):
            kwargs[key] = 1
        else:
            kwargs[key] = "x"
    return reverse(name, kwargs=kwargs)


CASES = [
    pytest.param(name, method, sample_url(name, pattern), id=f"{method} {name}")
    for name, pattern in served_routes()
    for method, kinds in PERMISSION_TABLE[name].items()
    if kinds
]


@pytest.fixture
def callers(consumer_a, platform_p, manufacturer, officer):
    return {
        "anonymous": APIClient(),
        "consumer_a": consumer_a.client(),
        "platform_p": platform_p.client(),
        "manufacturer": manufacturer.client(),
        "officer": officer.client(),
    }


def test_every_served_route_is_covered():
    assert len(CASES) >= 45


@pytest.mark.parametrize(("name", "method", "url"), CASES)
def test_every_endpoint_refuses_a_parameter_it_does_not_take(callers, name, method, url):
    kind = sorted(PERMISSION_TABLE[name][method])[0]
    client = callers[CALLER[kind]]
    response = getattr(client, method.lower())(f"{url}?stauts=done", format="json")
    assert response.status_code == 400, (response.status_code, response.content)
    error = response.json()["error"]
    assert error["code"] == "unknown_parameter"
    assert error["details"]["field"] == "stauts"
    assert "stauts" in error["message"]


def test_the_refusal_lists_what_the_endpoint_takes(manufacturer):
    error = manufacturer.client().get("/api/v1/releases?status=done").json()["error"]
    assert error["details"]["accepted"] == ["page", "page_size", "period", "purpose"]
    assert error["message"] == "status: unknown query parameter (this endpoint takes page, page_size, period, purpose)"


def test_who_may_not_call_the_endpoint_learns_nothing_about_its_parameters(consumer_a):
    assert APIClient().get("/api/v1/releases?bogus=1").status_code == 401
    assert consumer_a.client().get("/api/v1/releases?bogus=1").status_code == 403


def test_declared_parameters_are_still_honoured(officer):
    client = officer.client()
    assert client.get("/api/v1/audit/events?action_prefix=purpose.&page_size=5").status_code == 200
    assert client.get("/api/v1/audit/events?outcome=ok&since=2026-01-01").status_code == 200
    bad = client.get("/api/v1/audit/events?outcome=maybe")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "outcome"
    wrong = client.get("/api/v1/audit/events?page_size=ten")
    assert wrong.status_code == 400 and wrong.json()["error"]["details"]["field"] == "page_size"


def test_job_lists_filter_by_purpose_and_period(world, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    for purpose, epsilon in ((PRODUCT, "0.1"), (PRODUCT, "0.2"), (FORECAST, "0.1")):
        response = client.post("/api/v1/releases", {"purpose": purpose, "measure": "signals", "epsilon": epsilon}, format="json")
        assert response.status_code == 202, response.content
    everything = client.get("/api/v1/releases").json()
    assert everything["count"] == 3
    product = client.get(f"/api/v1/releases?purpose={PRODUCT}").json()
    assert product["count"] == 2 and {r["purpose"] for r in product["results"]} == {PRODUCT}
    period = everything["results"][0]["period"]
    assert client.get(f"/api/v1/releases?period={period}&purpose={FORECAST}").json()["count"] == 1
    assert client.get("/api/v1/releases?period=1999-01").json()["count"] == 0
    bad = client.get("/api/v1/releases?period=December")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "period"
    for listing in ("reports", "trends"):
        assert client.get(f"/api/v1/{listing}?purpose={PRODUCT}&period={period}").status_code == 200
        assert client.get(f"/api/v1/{listing}?status=done").json()["error"]["code"] == "unknown_parameter"


def test_pages_are_whole_numbers(world):
    response = world.manufacturer.client().get("/api/v1/releases?page=first")
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "page"
