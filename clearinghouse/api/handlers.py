from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error

from clearinghouse.api.errors import json_404, json_500


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def not_found(request, exception=None):
    if _wants_json(request):
        return json_404(request, exception)
    return page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return json_500(request)
    return html_server_error(request)
