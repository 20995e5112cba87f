"""Query parameters: one declaration per handler documents them and is enforced.

A handler says which query parameters it takes with ``@query_parameters(...)``; the same
``OpenApiParameter`` objects go into the OpenAPI schema and into the check that refuses
anything else. Before this, a misspelt filter (``?stauts=done``) was silently ignored and
the caller got everything, which looks like an answer. Now an undeclared name is a 400
``unknown_parameter`` naming it, and a declared one with a value outside its type or enum
is a 400 ``invalid`` naming it.

The check is ``DeclaredQueryParameters``, the second of the default permission classes,
so it runs for every API view after the permission table (a caller who may not call the
endpoint at all gets 401/403, not a lesson in its parameters) and before the handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission

from clearinghouse.api.pagination import Pagination
from clearinghouse.core.errors import Invalid

F = TypeVar("F", bound=Callable[..., Any])

_DECLARED = "query_parameters_declared"

PAGE = OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1.")
PAGE_SIZE = OpenApiParameter("page_size", OpenApiTypes.INT, description=f"Items per page, 1 to {Pagination.max_page_size} (default 100).")
PAGINATION = (PAGE, PAGE_SIZE)

LANG = OpenApiParameter(
    "lang",
    OpenApiTypes.STR,
    enum=[code for code, _name in settings.LANGUAGES],
    description="Language of the labels (taxonomy terms, purpose titles): `zh-hans` or `en`. Overrides Accept-Language, "
    "which is used when this is absent; English when neither names a language we have.",
)


def format_parameter(*formats: str, description: str) -> OpenApiParameter:
    """``format`` picks the representation like an Accept header does (DRF's
    URL_FORMAT_OVERRIDE): a link a browser can download without setting headers."""
    return OpenApiParameter("format", OpenApiTypes.STR, enum=list(formats), description=description)


def query_parameters(*parameters: OpenApiParameter) -> Callable[[F], F]:
    """Declare (for the schema and for the check) the query parameters a handler takes."""

    def decorate(handler: F) -> F:
        setattr(handler, _DECLARED, tuple(parameters))
        return extend_schema(parameters=list(parameters))(handler)

    return decorate


def declared_parameters(view: Any, method: str) -> tuple[OpenApiParameter, ...]:
    if method == "HEAD":
        method = "GET"
    handler = getattr(view, method.lower(), None)
    return getattr(handler, _DECLARED, ())


def _value_check(parameter: OpenApiParameter, value: str) -> None:
    name = parameter.name
    value = value.strip()
    if not value:
        return  # an empty value means "not given", as the views read it
    if parameter.enum and value not in parameter.enum:
        choices = ", ".join(str(choice) for choice in parameter.enum)
        raise Invalid(f"{name}: must be one of {choices}", details={"field": name, "allowed": list(parameter.enum)})
    if parameter.type == OpenApiTypes.INT and not (value.isdigit() and len(value) <= 18):
        raise Invalid(f"{name}: must be a whole number", details={"field": name})
    if parameter.pattern and not re.fullmatch(parameter.pattern, value):
        raise Invalid(f"{name}: must match {parameter.pattern}", details={"field": name})


def query_parameters_check(*, params: Any, declared: Iterable[OpenApiParameter]) -> None:
    """Refuse a query that names a parameter not in ``declared`` or gives a declared one
    a value outside its enum or type (``params`` is a QueryDict)."""
    by_name = {parameter.name: parameter for parameter in declared}
    for name in params:
        parameter = by_name.get(name)
        if parameter is None:
            accepted = sorted(by_name)
            hint = f"this endpoint takes {', '.join(accepted)}" if accepted else "this endpoint takes no query parameters"
            raise Invalid(
                f"{name}: unknown query parameter ({hint})",
                code="unknown_parameter",
                details={"field": name, "accepted": accepted},
            )
        for value in params.getlist(name):
            _value_check(parameter, value)


class DeclaredQueryParameters(BasePermission):
    """Every API view: the query may only name the parameters its handler declares."""

    def has_permission(self, request, view) -> bool:
        query_parameters_check(params=request.query_params, declared=declared_parameters(view, request.method))
        return True


def request_language(request) -> str:
    """The language for labels: ``lang`` if given (already checked against LANG's enum),
    else the one the locale middleware chose from Accept-Language."""
    chosen = request.query_params.get("lang")
    return chosen or translation.get_language() or "en"
