"""The error format everywhere, the schema and docs, and the health check."""

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
    from consent import api

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
    assert {k["use"] for k in keys if k["status"] == "current"} == {"receipts", "releases", "checkpoints"}
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
