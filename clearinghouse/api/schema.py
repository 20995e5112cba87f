"""The OpenAPI schema documents the error answers every operation can give.

drf-spectacular documents what a view declares, which is mostly its success. Every
operation can also answer with the error format ({"error": {"code", "message",
"details"}}): 400 for a malformed body or parameter, 401/403 from the permission table,
404, 405, 406, 413 (body over CH_REQUEST_MAX_BYTES), 415, 429 (throttles) and 503 (a
dependency down). This hook adds them, with one shared ``Error`` component, wherever an
operation does not document that status itself. Schema fuzzing (scripts/fuzz.py) checks
every response against it.
"""

from __future__ import annotations

from typing import Any

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

ERROR_RESPONSES = {
    "400": "Malformed body or parameter (`details.field` names it)",
    "401": "Missing or invalid credentials",
    "403": "Not allowed for this caller",
    "404": "Not found, or not yours (indistinguishable)",
    "405": "Method not allowed",
    "406": "Not acceptable",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "429": "Throttled (see Retry-After)",
    "503": "A dependency (Redis, the broker) is unavailable; try again after Retry-After",
}

_METHODS = {"get", "post", "put", "patch", "delete"}


def error_responses_hook(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    reference = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(status, {"description": description, "content": {"application/json": {"schema": reference}}})
    return result
