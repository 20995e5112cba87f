from __future__ import annotations

from datetime import UTC

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation
from django.utils.translation.trans_real import parse_accept_lang_header

# Machine-facing paths negotiate from Accept-Language alone; Swagger UI and the admin
# bring their own scripts and styles, so the portal's strict CSP stays off them.
_MACHINE_PREFIXES = ("/api/", "/healthz")
_CSP_EXEMPT_PREFIXES = ("/api/", "/admin/", "/healthz")
# The API's own messages are English; DRF's and Django's must not fall back to the
# portal's Chinese for a client that asked for no language we have.
_MACHINE_DEFAULT_LANGUAGE = "en"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class PortalLocaleMiddleware(LocaleMiddleware):
    """Portal pages follow the language switch (Django's language cookie, remembered for a
    year) and, on a first visit, the browser's Accept-Language: English for a browser
    that prefers English to any Chinese, Simplified Chinese for one that asks for any
    Chinese (zh, zh-CN, zh-TW, zh-HK…) first or for no language we have. The service is
    for people in China, so Chinese is what nothing-in-particular gets.

    Times: the JSON API renders every time in UTC, like the receipts and exports it
    signs; portal pages show TIME_ZONE (Asia/Shanghai). Business rules that depend on the
    local calendar (budget months, report days) name TIME_ZONE themselves."""

    def process_request(self, request):
        if request.path_info.startswith(_MACHINE_PREFIXES):
            timezone.activate(UTC)
            translation.activate(_machine_language(request))
            request.LANGUAGE_CODE = translation.get_language()
            return
        timezone.deactivate()
        translation.activate(portal_language(request))
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        # The thread serves other work next (another request, a test's own code): leave
        # it in TIME_ZONE, not in the API's UTC.
        timezone.deactivate()
        return super().process_response(request, response)


def portal_language(request) -> str:
    """The switch's choice if there is one, else the browser's first language we have,
    where any Chinese counts as zh-hans; else zh-hans (settings.LANGUAGE_CODE)."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen:
        try:
            return translation.get_supported_language_variant(chosen)
        except LookupError:
            pass
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if code == "*":
            break
        if code.split("-")[0] == "zh":
            return settings.LANGUAGE_CODE
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


def _machine_language(request) -> str:
    """Django's negotiation (the language cookie, then Accept-Language; zh-CN counts as
    zh-hans), except that naming no language we have gives English, not LANGUAGE_CODE."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen:
        try:
            return translation.get_supported_language_variant(chosen)
        except LookupError:
            pass
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return _MACHINE_DEFAULT_LANGUAGE


class ContentSecurityPolicyMiddleware:
    """No inline script or style, nothing from other origins, no framing, forms post only
    to us: a stolen-content or injected-markup bug cannot run code on portal pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            not request.path_info.startswith(_CSP_EXEMPT_PREFIXES)
            and response.get("Content-Type", "").startswith("text/html")
            and "Content-Security-Policy" not in response
        ):
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response
