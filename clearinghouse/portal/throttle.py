"""Failed-login throttling for the portal's password form.

Counts live in Django's cache (Redis in production, shared by every web worker). Once a
username, or a client address, has failed too often within the window, further attempts
are refused *before* the password is checked, so guessing stops dead instead of slowing
down. A successful login clears the username's count; the address count just expires.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, value: str) -> str:
    # Hashed so that the cache never holds usernames in clear text.
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    return f"portal:login-failures:{kind}:{digest}"


def _keys(*, username: str, address: str) -> list[tuple[str, int]]:
    keys = [(_key("username", username.strip().casefold()), settings.CH_LOGIN_FAILURES_PER_USERNAME)]
    if address:
        keys.append((_key("address", address), settings.CH_LOGIN_FAILURES_PER_ADDRESS))
    return keys


def login_throttled(*, username: str, address: str) -> bool:
    counts = cache.get_many([key for key, _ in _keys(username=username, address=address)])
    return any(counts.get(key, 0) >= limit for key, limit in _keys(username=username, address=address))


def login_failure_record(*, username: str, address: str) -> None:
    window = settings.CH_LOGIN_FAILURE_WINDOW_SECONDS
    for key, _ in _keys(username=username, address=address):
        # add() starts the window on the first failure; incr() keeps its expiry.
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.add(key, 1, timeout=window)


def login_success_record(*, username: str) -> None:
    cache.delete(_key("username", username.strip().casefold()))
