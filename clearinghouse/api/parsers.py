"""The API's JSON parser: what a body may hold before any view sees it.

Python's ``json`` accepts things no endpoint can store or compute with, and some of them
used to surface as 500s deep inside a service (a NUL byte reaching PostgreSQL's jsonb in
an audit write, a lone surrogate reaching UTF-8 encoding, a document nested 100,000 deep
overflowing the interpreter's stack). Here they are refused whole, with 400 and the error
format naming the field:

* nesting deeper than ``MAX_DEPTH`` objects/arrays (``malformed_body``);
* ``NaN``, ``Infinity``, ``-Infinity`` (not JSON: ``malformed_body``) and numbers that
  overflow a float, such as ``1e400`` (``invalid``, naming the field);
* a NUL character or a lone UTF-16 surrogate in any string or object key
  (``invalid_string``).

The size of the body is limited before it is read (``BodyLimitMiddleware``, 413).
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from clearinghouse.core.errors import Invalid

# Deeper than any body an endpoint accepts (release filters are the deepest: 3).
MAX_DEPTH = 32


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _bad_character(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character"
    for char in text:
        if "\ud800" <= char <= "\udfff":
            return "a lone surrogate (not a Unicode character)"
    return None


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "body"


def document_check(document: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise Invalid naming the first field with a forbidden string, a non-finite number
    or too deep a nesting.

    Iterative, so a hostile document cannot exhaust the stack here either."""
    stack: list[tuple[Any, list[str | int], int]] = [(document, [], 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            field = _path(path)
            raise Invalid(f"{field}: must be a finite number", details={"field": field})
        if isinstance(value, str):
            problem = _bad_character(value)
            if problem:
                field = _path(path)
                raise Invalid(f"{field}: must not contain {problem}.", code="invalid_string", details={"field": field})
        elif isinstance(value, (dict, list)):
            if depth >= max_depth:
                field = _path(path)
                raise Invalid(
                    f"The body is nested more than {max_depth} levels deep (at {field}).",
                    code="malformed_body",
                    details={"field": field, "max_depth": max_depth},
                )
            if isinstance(value, dict):
                for key, item in value.items():
                    problem = _bad_character(key)
                    if problem:
                        field = _path([*path, key.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")])
                        raise Invalid(f"{field}: a field name must not contain {problem}.", code="invalid_string", details={"field": field})
                    stack.append((item, [*path, key], depth + 1))
            else:
                for index, item in enumerate(value):
                    stack.append((item, [*path, index], depth + 1))


class StrictJSONParser(JSONParser):
    """DRF's JSONParser with the refusals above (the default parser of every API view)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise Invalid(f"The body is not valid {encoding} text.", code="malformed_body") from None
        try:
            # NaN and Infinity are not JSON (RFC 8259); 1e400 parses to an infinite float,
            # refused below naming its field.
            document = json.loads(text, parse_constant=_not_json)
        except RecursionError:
            raise Invalid(
                f"The body is nested more than {MAX_DEPTH} levels deep.", code="malformed_body", details={"max_depth": MAX_DEPTH}
            ) from None
        except ValueError as exc:
            raise Invalid(f"The body is not valid JSON ({exc}).", code="malformed_body") from None
        document_check(document)
        return document
