"""Settings for the test suite: the real settings with CH_ENV=test.

Keys and the SQLite database live under var/test so that tests never touch the
keys or data of a running demo.
"""

import os
from pathlib import Path

os.environ.setdefault("CH_ENV", "test")
# Tests read a release right after its eager job; tests/releases/test_visible_time.py sets
# the real step where it matters.
os.environ.setdefault("CH_RELEASE_VISIBLE_STEP_SECONDS", "0.001")
os.environ.setdefault("CH_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from clearinghouse.settings import *  # noqa: E402,F403

# Throttle counters must not leak between tests (or between runs, as they would in Redis).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# WhiteNoise finds the static files once per process, as under a server, instead of once
# per test client (tests/static_files.py says why).
MIDDLEWARE = [
    "tests.static_files.WhiteNoiseScannedOnce" if name == "whitenoise.middleware.WhiteNoiseMiddleware" else name
    for name in MIDDLEWARE  # noqa: F405
]
