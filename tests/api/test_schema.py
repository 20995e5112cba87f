"""The OpenAPI schema is worth reading: every operation is grouped by audience and has a
summary, a description, examples and its error answers with their codes; the query
parameters it takes are documented. A new endpoint without them fails here."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from clearinghouse.api.schema import AUDIENCES

METHODS = ("get", "post", "put", "patch", "delete")
CODE = re.compile(r"`[a-z_]+`")


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def has_example(content: dict) -> bool:
    return any(media.get("examples") or "example" in media for media in content.values())


def test_the_schema_has_every_operation(schema):
    names = {name for name, _ in operations(schema)}
    assert len(names) >= 48
    assert {"GET /api/v1/releases/{release_id}", "POST /api/v1/reports", "GET /api/v1/audit/events", "GET /healthz"} <= names


def test_every_operation_is_tagged_with_its_audiences(schema):
    untagged = [name for name, op in operations(schema) if not op.get("tags") or not set(op["tags"]) <= set(AUDIENCES)]
    assert not untagged, f"operations without an audience tag from {AUDIENCES}: {untagged}"
    assert [tag["name"] for tag in schema["tags"]] == list(AUDIENCES)
    assert all(tag["description"] for tag in schema["tags"])


def test_tags_follow_the_permission_table(schema):
    by_name = dict(operations(schema))
    assert by_name["POST /api/v1/releases"]["tags"] == ["manufacturer"]
    assert by_name["GET /api/v1/me/consents"]["tags"] == ["consumer"]
    assert by_name["POST /api/v1/platform/signals"]["tags"] == ["platform"]
    assert by_name["GET /api/v1/audit/events"]["tags"] == ["compliance"]
    assert by_name["GET /api/v1/keys"]["tags"] == ["public"]


def test_every_operation_has_a_summary_and_a_description(schema):
    missing = [
        name
        for name, op in operations(schema)
        if not (op.get("summary") or "").strip() or not (op.get("description") or "").strip() or op["description"] == op["summary"]
    ]
    assert not missing, f"operations without a summary and a description (the handler's docstring): {missing}"


def test_every_request_body_has_a_worked_example(schema):
    missing = [name for name, op in operations(schema) if "requestBody" in op and not has_example(op["requestBody"]["content"])]
    assert not missing, f"operations whose body has no example: {missing}"


def test_every_success_answer_with_a_body_has_an_example(schema):
    missing = [
        f"{name} {status}"
        for name, op in operations(schema)
        for status, response in op["responses"].items()
        if status.startswith("2") and response.get("content") and not has_example(response["content"])
    ]
    assert not missing, f"success answers without an example: {missing}"


def test_every_operation_documents_its_error_answers_with_their_codes(schema):
    """Every 4xx answer is in the error format and names its codes. (A 5xx may have a body
    of its own: /healthz answers 503 with the health report.)"""
    problems = []
    for name, op in operations(schema):
        errors = {status: response for status, response in op["responses"].items() if status.startswith("4")}
        if not errors:
            problems.append(f"{name}: no 4xx answer")
        for status, response in errors.items():
            if not CODE.search(response.get("description", "")):
                problems.append(f"{name} {status}: description names no error code")
            media = response.get("content", {}).get("application/json", {})
            if media.get("schema", {}).get("$ref") not in ("#/components/schemas/Error",):
                problems.append(f"{name} {status}: not in the error format")
    assert not problems, problems


def test_error_codes_are_documented_with_examples(schema):
    releases = dict(operations(schema))["POST /api/v1/releases"]["responses"]
    assert "`budget_exhausted`" in releases["409"]["description"]
    examples = releases["409"]["content"]["application/json"]["examples"].values()
    assert [example["value"]["error"]["code"] for example in examples] == ["budget_exhausted"]
    assert "`unknown_parameter`" in releases["400"]["description"] or "`invalid`" in releases["400"]["description"]
    anyone = dict(operations(schema))["GET /api/v1/releases"]["responses"]
    assert "`unknown_parameter`" in anyone["400"]["description"]


def test_every_query_parameter_is_described(schema):
    missing = [
        f"{name} ?{parameter['name']}"
        for name, op in operations(schema)
        for parameter in op.get("parameters", [])
        if parameter["in"] == "query" and not parameter.get("description")
    ]
    assert not missing, missing


def test_results_document_their_formats_language_and_filters(schema):
    by_name = dict(operations(schema))
    for kind in ("releases/{release_id}", "reports/{report_id}", "trends/{trend_id}"):
        op = by_name[f"GET /api/v1/{kind}"]
        parameters = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
        assert set(parameters["format"]["schema"]["enum"]) == {"json", "csv", "sig"}
        assert set(parameters["lang"]["schema"]["enum"]) == {"zh-hans", "en"}
        assert set(op["responses"]["200"]["content"]) == {"application/json", "text/csv", "application/vnd.clearinghouse.signature+json"}
        assert "`no_result`" in op["responses"]["409"]["description"]
    for listing in ("releases", "reports", "trends"):
        names = {p["name"] for p in by_name[f"GET /api/v1/{listing}"]["parameters"]}
        assert names == {"page", "page_size", "purpose", "period"}
    budget = {p["name"] for p in by_name["GET /api/v1/budget"]["parameters"]}
    assert budget == {"format", "lang"}
    assert {p["name"] for p in by_name["GET /api/v1/audit/events"]["parameters"]} >= {"action", "since", "until", "before", "page_size"}
