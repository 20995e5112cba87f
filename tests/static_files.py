"""WhiteNoise for the test suite: the static files are found once per process, not once
per test client.

Django's test client builds a fresh handler, and so a fresh middleware chain, for every
``Client()``; WhiteNoise's middleware walks every static-files finder and stats every file
(about 180 of them) in its constructor. Tests make a client per party and per request
helper, so that walk was close to half of the CPU time of an API test module. A running
server builds its chain once per process, and so does this: the scan is kept per process
for as long as the settings that shape it stay the same, and every file is served exactly
as WhiteNoise serves it (the same ``StaticFile`` objects, headers and all).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from whitenoise.middleware import WhiteNoiseMiddleware


class WhiteNoiseScannedOnce(WhiteNoiseMiddleware):
    _scans: ClassVar[dict[tuple, dict]] = {}

    def add_files_from_finders(self) -> None:
        # Everything that shapes the scan or the StaticFile objects it makes (headers,
        # media types), read from the settings, which override_settings may change.
        key = (
            self.static_prefix,
            self.max_age,
            self.allow_all_origins,
            self.charset,
            self.index_file,
            repr([getattr(settings, f"WHITENOISE_{name}", None) for name in ("MIMETYPES", "ADD_HEADERS_FUNCTION", "IMMUTABLE_FILE_TEST")]),
            repr(settings.STATICFILES_DIRS),
            tuple(settings.STATICFILES_FINDERS),
            tuple(settings.INSTALLED_APPS),
        )
        scanned = self._scans.get(key)
        if scanned is None:
            # What STATIC_ROOT gave (add_files ran first) stays; the finders' files win
            # on a clash, as in WhiteNoise's own order.
            from_root, self.files = self.files, {}
            super().add_files_from_finders()
            scanned = self._scans[key] = self.files
            self.files = from_root
        self.files = {**self.files, **scanned}
