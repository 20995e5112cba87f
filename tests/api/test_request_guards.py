"""What a body or a URL may hold: sizes (413), nesting, NUL bytes, lone surrogates and
non-finite numbers (400 naming the field). Each of these used to answer 500."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import URLPattern
from rest_framework.test import APIClient

from clearinghouse.audit.models import AuditEvent
from clearinghouse.intake.models import Signal
from clearinghouse.releases.models import Release
from clearinghouse.urls import api_urlpatterns

SAMPLE_KWARGS = {
    "platform": "shop-p",
    "release_id": "7f0c4b1e-1c1a-4a57-9a4e-2f1f3c9a0b11",
    "subject_ref": "someone",
    "batch": "7f0c4b1e-1c1a-4a57-9a4e-2f1f3c9a0b11",
    "seq": 1,
    "receipt_id": "7f0c4b1e-1c1a-4a57-9a4e-2f1f3c9a0b11",
    "report_id": "7f0c4b1e-1c1a-4a57-9a4e-2f1f3c9a0b11",
    "trend_id": "7f0c4b1e-1c1a-4a57-9a4e-2f1f3c9a0b11",
    "certificate_id": "7f0c4b1e-1c1a-4a57-9a4e-2f1f3c9a0b11",
    "notice_id": "7f0c4b1e-1c1a-4a57-9a4e-2f1f3c9a0b11",
    "path": "checkpoint",
}


def api_paths() -> list[str]:
    """Every route of the API, with sample values in its URL parts."""
    paths: list[str] = []
    for pattern in api_urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = re.sub(r"<\w+:(\w+)>", lambda match: str(SAMPLE_KWARGS[match.group(1)]), str(pattern.pattern))
        paths.append(f"/api/v1/{route}")
    return paths


TWO_MB = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'


@pytest.mark.django_db
@pytest.mark.parametrize("path", [p for p in api_paths() if not p.endswith("/platform/signals")])
def test_every_api_endpoint_refuses_a_body_over_the_limit_with_413(path):
    response = APIClient().generic("POST", path, TWO_MB, content_type="application/json")
    assert response.status_code == 413, (path, response.status_code, response.content[:200])
    error = response.json()["error"]
    assert error["code"] == "too_large" and error["details"]["max_bytes"] == 1024 * 1024


def test_the_list_of_api_paths_is_complete():
    assert len(api_paths()) == len(api_urlpatterns) >= 28 and "/api/v1/auth/token" in api_paths()


@pytest.mark.django_db
def test_a_large_body_under_the_limit_is_read_normally():
    body = json.dumps({"username": "someone", "password": "x" * 500_000}).encode()
    response = APIClient().generic("POST", "/api/v1/auth/token", body, content_type="application/json")
    assert response.status_code in (400, 401), response.content[:200]


def test_signal_intake_keeps_its_own_larger_limit_and_audits_the_refusal(platform_p, settings):
    settings.CH_SIGNAL_BATCH_MAX_BYTES = 3 * 1024 * 1024
    body = json.dumps({"signals": [], "pad": "a" * (2 * 1024 * 1024)}).encode()
    response = platform_p.client().generic("POST", "/api/v1/platform/signals", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body"  # read, not refused unread
    settings.CH_SIGNAL_BATCH_MAX_BYTES = 1024 * 1024
    response = platform_p.client().generic("POST", "/api/v1/platform/signals", body, content_type="application/json")
    assert response.status_code == 413 and response.json()["error"]["code"] == "batch_too_large"
    assert AuditEvent.objects.filter(action="intake.batch", outcome="denied").count() == 2


@pytest.mark.django_db
def test_a_portal_form_over_the_limit_gets_a_413_page_in_both_languages():
    response = APIClient().generic(
        "POST", "/login/", b"username=a&password=" + b"b" * (2 * 1024 * 1024), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "提交的内容太大" in page and "Too much data sent" in page


def nested(depth: int) -> bytes:
    return b'{"username": ' + b"[" * depth + b"]" * depth + b', "password": "x"}'


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [100_000, 40])
def test_deeply_nested_json_is_refused_with_400_anonymously(depth):
    response = APIClient().generic("POST", "/api/v1/auth/token", nested(depth), content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    error = response.json()["error"]
    assert error["code"] == "malformed_body" and "nested more than 32 levels" in error["message"]


@pytest.mark.django_db
def test_deeply_nested_json_to_an_authenticated_endpoint_is_400(manufacturer):
    body = b'{"purpose": "p", "filters": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = manufacturer.client().generic("POST", "/api/v1/releases", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body"


@pytest.mark.django_db
def test_nul_in_a_release_purpose_is_refused_naming_the_field_and_nothing_is_written(manufacturer, purposes):
    before = AuditEvent.objects.count()
    body = {"purpose": "c2m-product-design\u0000", "measure": "consumers", "epsilon": "0.5"}
    response = manufacturer.client().post("/api/v1/releases", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_string" and error["details"]["field"] == "purpose" and "NUL" in error["message"]
    assert not Release.objects.exists()
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw, field",
    [
        (b'{"username": "alice", "password": "ab\\ud800cd"}', "password"),
        (b'{"username": "\\udfffalice", "password": "x"}', "username"),
        (b'{"username": "alice", "password": "a\\u0000b"}', "password"),
    ],
)
def test_lone_surrogates_and_nul_are_refused_naming_the_field(raw, field):
    response = APIClient().generic("POST", "/api/v1/auth/token", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_string" and error["details"]["field"] == field


@pytest.mark.django_db
def test_a_nested_field_is_named_with_its_path(manufacturer):
    raw = b'{"purpose": "c2m-product-design", "measure": "consumers", "epsilon": "0.5", "filters": {"signals": ["view", "x\\u0000"]}}'
    response = manufacturer.client().generic("POST", "/api/v1/releases", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "filters.signals[1]"


@pytest.mark.django_db
@pytest.mark.parametrize("number", [b"1e400", b"-1e999"])
def test_numbers_that_overflow_are_refused_naming_the_field(manufacturer, purposes, number):
    raw = b'{"purpose": "c2m-product-design", "measure": "consumers", "filters": {"week": ' + number + b"}}"
    response = manufacturer.client().generic("POST", "/api/v1/releases", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["details"]["field"] == "filters.week" and error["message"] == "filters.week: must be a finite number"
    assert not Release.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(constant):
    raw = b'{"username": "alice", "password": ' + constant + b"}"
    response = APIClient().generic("POST", "/api/v1/auth/token", raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body"


@pytest.mark.django_db
@pytest.mark.parametrize("epsilon", [1e308, "1e308", "1E+300", 10**400])
def test_a_huge_but_finite_epsilon_is_a_400_not_a_500(manufacturer, purposes, epsilon):
    body = {"purpose": "c2m-product-design", "measure": "consumers", "epsilon": epsilon}
    response = manufacturer.client().post("/api/v1/releases", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["field"] == "epsilon"
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_nul_in_a_query_parameter_is_refused_naming_it(officer):
    response = officer.client().get("/api/v1/audit/events", {"action": "consent.granted\x00"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_string" and error["details"]["field"] == "action"


@pytest.mark.django_db
def test_nul_in_a_url_part_is_refused_naming_it(platform_p, purposes):
    response = platform_p.client().get("/api/v1/platform/subjects/ab%00cd/consent", {"purpose": "c2m-product-design"})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "subject_ref"


def test_nul_inside_a_signal_batch_is_refused_whole(platform_p, purposes):
    raw = {
        "signals": [
            {"event_id": "e\u00001", "subject_ref": "x", "purpose": "c2m-product-design", "category": "furniture", "signal": "view"}
        ]
    }
    response = platform_p.client().post("/api/v1/platform/signals", raw, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body"
    assert not Signal.objects.exists()


@pytest.mark.django_db
def test_nul_in_a_portal_query_gets_a_bilingual_400_page():
    response = APIClient().get("/login/", {"next": "/\x00"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "请求无法处理" in page and "Bad request" in page
