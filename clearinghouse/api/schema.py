"""The OpenAPI schema: audiences, words, examples and the error answers of every operation.

* **Audience tags** come from the permission table: an operation is tagged with the
  kinds of caller that may use it (``public`` for anyone), so the grouping in /api/docs/
  cannot drift from who may actually call it (``ApiAutoSchema.get_tags``).
* **Summary and description** come from the handler's docstring: its first paragraph is
  the summary, the rest the description (``extend_schema(description=...)`` overrides).
* **Query parameters** are declared once with ``clearinghouse.api.queryparams``.
* **Errors**: drf-spectacular documents what a view declares, which is mostly its success. Every
operation can also answer with the error format ({"error": {"code", "message",
"details"}}): 400 for a malformed body or parameter, 401/403 from the permission table,
404, 405, 406, 413 (body over CH_REQUEST_MAX_BYTES), 415, 429 (throttles) and 503 (a
dependency down). This hook adds them, with one shared ``Error`` component, wherever an
operation does not document that status itself. Schema fuzzing (scripts/fuzz.py) checks
every response against it.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from clearinghouse.api.errors import error_body
from clearinghouse.api.permissions import ANYONE, COMPLIANCE, CONSUMER, MANUFACTURER, PERMISSION_TABLE, PLATFORM

# The audiences, in the order /api/docs/ shows them; their descriptions are
# SPECTACULAR_SETTINGS["TAGS"].
AUDIENCES = ("consumer", "platform", "manufacturer", "compliance", "public")
_KIND_TAGS = {ANYONE: "public", CONSUMER: "consumer", PLATFORM: "platform", MANUFACTURER: "manufacturer", COMPLIANCE: "compliance"}


@cache
def _view_names() -> dict[type, str]:
    """View class -> URL name ("api:releases"), as the permission table keys it."""
    names: dict[type, str] = {}

    def walk(patterns, namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                view_class = getattr(pattern.callback, "view_class", None)
                if view_class is not None:
                    names[view_class] = f"{namespace}:{pattern.name}" if namespace else pattern.name

    walk(get_resolver().url_patterns, None)
    return names


def audience_tags(view_class: type, method: str) -> list[str]:
    kinds = PERMISSION_TABLE.get(_view_names().get(view_class, ""), {}).get(method.upper(), frozenset())
    tags = {_KIND_TAGS[kind] for kind in kinds if kind in _KIND_TAGS}
    return [tag for tag in AUDIENCES if tag in tags]


class ApiAutoSchema(AutoSchema):
    def _doc_parts(self) -> tuple[str, str]:
        handler = getattr(self.view, self.method.lower(), None)
        doc = inspect.getdoc(handler) or ""
        summary, _, rest = doc.partition("\n\n")
        return " ".join(summary.split()), rest.strip()

    def get_summary(self) -> str | None:
        return self._doc_parts()[0] or None

    def get_description(self) -> str:  # type: ignore[override]
        return self._doc_parts()[1]

    def get_tags(self) -> list[str]:
        return audience_tags(type(self.view), self.method) or super().get_tags()


class ErrorDetailOut(serializers.Serializer):
    code = serializers.CharField(help_text="stable, machine-readable")
    message = serializers.CharField(help_text="in English unless Accept-Language asks for Chinese")
    details = serializers.DictField(help_text="`field` names the field or parameter at fault")


class ErrorSerializer(serializers.Serializer):
    """The error format (component ``Error``), for operations that document their own codes."""

    error = ErrorDetailOut()


def error_response(**codes: str) -> OpenApiResponse:
    """An operation's own error answer at one status: ``error_response(budget_exhausted="…")``
    documents each code with its meaning and an example."""
    description = "; ".join(f"`{code}`: {meaning}" for code, meaning in codes.items())
    examples = [OpenApiExample(code, value=error_body(code, _sentence(meaning)), response_only=True) for code, meaning in codes.items()]
    return OpenApiResponse(response=ErrorSerializer, description=description, examples=examples)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "in English unless Accept-Language asks for Chinese"},
                "details": {"type": "object", "additionalProperties": True, "description": "`field` names the field at fault"},
            },
        }
    },
}

# status -> (code, meaning) of the answers any operation can give (api/errors.py).
ERROR_RESPONSES: dict[str, list[tuple[str, str]]] = {
    "400": [
        ("invalid", "a field of the body or a query parameter is wrong; `details.field` names it"),
        ("malformed_body", "the body is not JSON"),
        ("invalid_string", "NUL or a lone surrogate in a string; `details.field` is its path"),
        ("unknown_parameter", "a query parameter this endpoint does not take; `details.accepted` lists those it does"),
    ],
    "401": [("unauthenticated", "missing or invalid credentials")],
    "403": [("forbidden", "this kind of caller may not do this")],
    "404": [("not_found", "not found, or not yours: the two are indistinguishable")],
    "405": [("method_not_allowed", "the path exists, the method does not")],
    "406": [("not_acceptable", "no representation of this answer matches the Accept header")],
    "413": [("too_large", "the body is larger than this endpoint accepts; `details.max_bytes`")],
    "415": [("unsupported_media_type", "send application/json")],
    "429": [("throttled", "too many requests; wait `details.retry_after_seconds` (also in Retry-After)")],
    "503": [("unavailable", "a dependency (Redis, the broker) is down; try again after Retry-After")],
}


def _sentence(meaning: str) -> str:
    text = meaning.replace("`", "")
    return text[0].upper() + text[1:] + "."


def _generic_error(status: str) -> dict[str, Any]:
    codes = ERROR_RESPONSES[status]
    return {
        "description": "; ".join(f"`{code}`: {meaning}" for code, meaning in codes),
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "examples": {code: {"value": error_body(code, _sentence(meaning))} for code, meaning in codes},
            }
        },
    }


_METHODS = {"get", "post", "put", "patch", "delete"}


def error_responses_hook(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    reference = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith(("/api/", "/healthz")):
            continue
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in ERROR_RESPONSES:
                responses.setdefault(status, _generic_error(status))
            for status, response in responses.items():
                # An operation's own error answer documented by description only gets the format.
                if status[0] in "45" and not response.get("content"):
                    response["content"] = {"application/json": {"schema": reference}}
    return result
