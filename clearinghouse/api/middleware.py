"""Cache-Control: no-store on every answer that is not a static file.

API answers and portal and console pages carry personal data (consents, receipts, link
codes, exports, the audit log); a shared or browser cache must keep none of them, nor
the login pages with their CSRF tokens. Static files (under STATIC_URL) keep their own
caching. An answer that already says what to cache keeps its header.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path_info.startswith(self.static_prefix) and "Cache-Control" not in response:
            patch_cache_control(response, no_store=True, private=True)
        return response
