import sys

from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error

from clearinghouse.api.errors import json_404, json_500
from clearinghouse.api.middleware import outage_response
from clearinghouse.core.outages import is_outage


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def not_found(request, exception=None):
    if _wants_json(request):
        return json_404(request, exception)
    return page_not_found(request, exception)


def server_error(request):
    # Called inside Django's except block: an outage raised outside a view (a middleware)
    # still answers 503, not 500.
    if is_outage(sys.exc_info()[1]):
        return outage_response(request)
    if _wants_json(request):
        return json_500(request)
    return html_server_error(request)
