"""The error format everywhere, the schema and docs, and the health check."""

import json
import re

import pytest
from rest_framework.test import APIClient


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_unknown_api_path_is_a_json_404(db):
    assert_error(APIClient().get("/api/v1/does-not-exist"), 404, "not_found")


def test_wrong_method_is_a_json_405(db):
    assert_error(APIClient().delete("/api/v1/keys"), 405, "method_not_allowed")


def test_unauthenticated_is_a_json_401(db):
    assert_error(APIClient().get("/api/v1/me/consents"), 401, "unauthenticated")


def test_malformed_json_is_a_400(consumer_a):
    response = consumer_a.client().post("/api/v1/me/consents", data="{oops", content_type="application/json")
    assert_error(response, 400, "malformed_body")


def test_validation_errors_name_the_field(consumer_a):
    response = consumer_a.client().post("/api/v1/me/consents", {"platform": "x"}, format="json")
    assert_error(response, 400, "invalid")
    assert "purpose" in response.json()["error"]["details"]["fields"]


def test_unhandled_errors_are_a_json_500_without_internals(consumer_a, monkeypatch):
    from clearinghouse.consent import api

    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.selectors, "consent_states_list", explode)
    client = consumer_a.client()
    client.raise_request_exception = False
    response = client.get("/api/v1/me/consents")
    assert_error(response, 500, "internal_error")
    assert b"secret internals" not in response.content


def test_openapi_schema_and_docs(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/consumers", "/api/v1/me/consents", "/api/v1/platform/links", "/api/v1/keys"):
        assert path in paths
    assert APIClient().get("/api/docs/").status_code == 200


def test_api_docs_load_swagger_ui_from_our_own_static_files(db):
    # The browsable docs must work with no internet access (make run is offline-capable).
    client = APIClient()
    page = client.get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert all(a.startswith("/static/") for a in assets), assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()


def test_keys_are_published_with_ids_and_uses(db):
    keys = APIClient().get("/api/v1/keys").json()["keys"]
    assert {k["use"] for k in keys if k["status"] == "current"} == {"receipts", "releases", "checkpoints", "reports", "notifications"}
    assert all(k["algorithm"] == "Ed25519" and k["id"].startswith("ed25519:") for k in keys)


def test_healthz_reports_database_and_broker(db):
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] and body["broker"]["ok"]


def test_healthz_is_503_when_the_broker_is_down(db):
    from clearinghouse.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = APIClient().get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    assert response.json()["database"]["ok"] is True


@pytest.mark.redis
def test_healthz_uses_the_real_redis_broker(db, settings):
    from clearinghouse.celery import app

    assert app.conf.broker_url.startswith("redis://")
    assert APIClient().get("/healthz").json()["broker"]["ok"] is True


def test_openapi_schema_builds_without_warnings(db):
    from io import StringIO

    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize("accept_language", [None, "fr-FR,de;q=0.8", "*"])
def test_framework_messages_are_english_when_no_supported_language_is_asked_for(consumer_a, accept_language):
    # LANGUAGE_CODE is the portal's Chinese; the API's own messages are English, and DRF's
    # and Django's must be too.
    headers = {"HTTP_ACCEPT_LANGUAGE": accept_language} if accept_language else {}
    unauthenticated = APIClient().get("/api/v1/me/consents", **headers)
    assert unauthenticated.json()["error"]["message"] == "Authentication credentials were not provided."
    assert unauthenticated["Content-Language"] == "en"
    client = consumer_a.client()
    unsupported = client.post("/api/v1/me/consents", data="x", content_type="text/plain", **headers)
    assert unsupported.json()["error"]["message"] == 'Unsupported media type "text/plain" in request.'
    blank = client.post("/api/v1/me/consents", {"purpose": "", "platform": "p", "action": "grant"}, format="json", **headers)
    assert blank.json()["error"]["message"] == "purpose: This field may not be blank."
    weak = APIClient().post(
        "/api/v1/consumers", {"username": "weakling", "password": "12345", "age_confirmed": True}, format="json", **headers
    )
    assert weak.status_code == 400
    assert "This password is too short." in weak.json()["error"]["message"]


@pytest.mark.parametrize("accept_language", ["zh-hans", "zh-CN,zh;q=0.9,en;q=0.8", "fr, zh-cn;q=0.5"])
def test_an_accept_language_naming_chinese_is_honoured_on_the_api(db, accept_language):
    response = APIClient().get("/api/v1/me/consents", HTTP_ACCEPT_LANGUAGE=accept_language)
    assert response.json()["error"]["message"] == "身份认证信息未提供。"
    assert response["Content-Language"] == "zh-hans"


def test_healthz_and_docs_are_english_by_default_but_portal_pages_stay_chinese(db):
    from django.test import Client

    docs = Client().get("/api/docs/")
    assert docs["Content-Language"] == "en"
    assert Client().get("/healthz")["Content-Language"] == "en"
    assert Client().get("/login/")["Content-Language"] == "zh-hans"


def test_api_docs_turn_off_the_swagger_validator_badge(db, settings):
    # Swagger UI fetches a badge from validator.swagger.io for any host but localhost,
    # unless validatorUrl is null.
    settings.ALLOWED_HOSTS = ["clearinghouse.example"]
    page = APIClient().get("/api/docs/", HTTP_HOST="clearinghouse.example").content.decode()
    configured = re.search(r"const swaggerSettings = (\{.*?\});", page, re.S)
    assert configured, page
    assert json.loads(configured.group(1)) == {"deepLinking": True, "validatorUrl": None}
    assert "validator.swagger.io" not in page


@pytest.mark.parametrize("path", ["/api/v1/releases", "/api/v1/reports", "/api/v1/trends", "/api/v1/platform/batches"])
def test_paginated_lists_are_documented_as_the_page_they_return(db, path):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    component = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]] if "$ref" in body else body
    assert component.get("type") == "object" and {"count", "next", "previous", "results"} <= set(component["properties"])
