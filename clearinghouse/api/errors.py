"""One error shape for every API response: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from clearinghouse.core.errors import DomainError
from clearinghouse.core.outages import RETRY_AFTER_SECONDS, is_outage

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _validation_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _validation_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _validation_message(detail[0])
    return str(detail)


_DRF_CODES = {
    exceptions.NotAuthenticated: ("unauthenticated", status.HTTP_401_UNAUTHORIZED),
    exceptions.AuthenticationFailed: ("unauthenticated", status.HTTP_401_UNAUTHORIZED),
    exceptions.PermissionDenied: ("forbidden", status.HTTP_403_FORBIDDEN),
    exceptions.NotFound: ("not_found", status.HTTP_404_NOT_FOUND),
    exceptions.MethodNotAllowed: ("method_not_allowed", status.HTTP_405_METHOD_NOT_ALLOWED),
    exceptions.NotAcceptable: ("not_acceptable", status.HTTP_406_NOT_ACCEPTABLE),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    exceptions.Throttled: ("throttled", status.HTTP_429_TOO_MANY_REQUESTS),
    exceptions.ParseError: ("malformed_body", status.HTTP_400_BAD_REQUEST),
}


UNAVAILABLE_MESSAGE = "A service this request needs is temporarily unavailable. Try again shortly."


def unavailable_body() -> dict[str, Any]:
    return error_body("unavailable", UNAVAILABLE_MESSAGE, {"retry_after_seconds": RETRY_AFTER_SECONDS})


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        if isinstance(exc.details.get("retry_after_seconds"), int):
            headers["Retry-After"] = str(exc.details["retry_after_seconds"])
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status, headers=headers)
    if is_outage(exc):
        logger.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
        return Response(unavailable_body(), status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            error_body("invalid", _validation_message(exc.detail), {"fields": exc.detail}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        code, status_code = next(
            ((c, s) for klass, (c, s) in _DRF_CODES.items() if isinstance(exc, klass)),
            ("error", exc.status_code),
        )
        # Neither is declared on APIException: APIView.handle_exception sets auth_header on
        # a 401, and Throttled carries wait.
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)
        if wait:
            headers["Retry-After"] = str(int(wait))
        details = {"retry_after_seconds": int(wait)} if wait else {}
        return Response(error_body(code, str(exc.detail), details), status=status_code, headers=headers)
    logger.exception("unhandled API error", exc_info=exc)
    return Response(error_body("internal_error", "Internal server error."), status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _rendered(body: dict[str, Any], *, status_code: int) -> HttpResponse:
    # The renderer DRF uses for every other API response: a URL that does not resolve
    # (say, a non-UUID release id) must answer byte for byte like a missing object, or
    # the two could be told apart.
    return HttpResponse(JSONRenderer().render(body), status=status_code, content_type=JSONRenderer.media_type)


def json_error(*, code: str, message: str, details: dict[str, Any] | None = None, status_code: int) -> HttpResponse:
    return _rendered(error_body(code, message, details), status_code=status_code)


def json_404(request, exception=None):
    return _rendered(error_body("not_found", "Not found."), status_code=404)


def json_500(request):
    return _rendered(error_body("internal_error", "Internal server error."), status_code=500)


def json_503(request):
    response = _rendered(unavailable_body(), status_code=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def json_413(request, *, limit: int):
    return _rendered(
        error_body(
            "too_large",
            f"The request body is larger than this endpoint accepts ({limit:,} bytes).",
            {"max_bytes": limit},
        ),
        status_code=413,
    )
