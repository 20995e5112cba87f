"""Request guards that run before any view, for the API and the pages alike.

* **Body size.** A body larger than ``CH_REQUEST_MAX_BYTES`` (default 1 MiB) is refused
  with 413 before it is read. A view that enforces a limit of its own and audits the
  refusal (platform signal intake, 16 MB) sets ``checks_body_size = True``.
* **Strings in the URL.** A NUL character in a query parameter or a URL part is refused
  with 400 naming the parameter (it cannot be stored in PostgreSQL; it used to surface as
  a 500 from deep inside a service). JSON bodies are checked by
  ``clearinghouse.api.parsers.StrictJSONParser``; Django's form fields refuse NUL
  themselves.
* **Dependency outages.** Redis or the broker being unreachable answers 503 with
  ``Retry-After`` (the error format under /api/, a bilingual page elsewhere), never 500.
* **No caching of personal data.** Every answer that is not a static file says
  ``Cache-Control: no-store, private`` (``NoStoreMiddleware``): API answers and portal and
  console pages carry consents, receipts, link codes, exports and the audit log, and the
  login pages their CSRF tokens. An answer that already says what to cache keeps its header.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse
from django.template import loader
from django.utils.cache import patch_cache_control
from django.views.defaults import bad_request

from clearinghouse.api.errors import json_413, json_503, json_error
from clearinghouse.core.outages import RETRY_AFTER_SECONDS, is_outage

logger = logging.getLogger(__name__)

_JSON_PREFIXES = ("/api/", "/healthz")


def _wants_json(request) -> bool:
    return request.path_info.startswith(_JSON_PREFIXES)


def _page(template: str, *, status: int) -> HttpResponse:
    # Static bilingual pages (like 500.html): nothing in them can fail to render.
    return HttpResponse(loader.get_template(template).render(), status=status)


def outage_response(request) -> HttpResponse:
    if _wants_json(request):
        return json_503(request)
    response = _page("503.html", status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _declares_own_limit(view_func) -> bool:
    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    return bool(getattr(view_class, "checks_body_size", False))


def _bad_parameter(request, view_kwargs) -> str | None:
    for name, values in request.GET.lists():
        if "\x00" in name:
            return name.replace("\x00", "\\x00")
        if any("\x00" in value for value in values):
            return name
    for name, value in view_kwargs.items():
        if isinstance(value, str) and "\x00" in value:
            return name
    return None


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.CH_REQUEST_MAX_BYTES
        if length > limit and not _declares_own_limit(view_func):
            if _wants_json(request):
                return json_413(request, limit=limit)
            return _page("413.html", status=413)
        field = _bad_parameter(request, view_kwargs)
        if field is not None:
            if _wants_json(request):
                return json_error(
                    code="invalid_string", message=f"{field}: must not contain a NUL character.", details={"field": field}, status_code=400
                )
            return bad_request(request, exception=None)
        return None

    def process_exception(self, request, exception):
        if is_outage(exception):
            logger.warning("dependency unavailable: %s: %s", type(exception).__name__, exception)
            return outage_response(request)
        return None


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path_info.startswith(self.static_prefix) and "Cache-Control" not in response:
            patch_cache_control(response, no_store=True, private=True)
        return response
