"""A scoped rate limit that costs one cache round trip per request.

DRF's ScopedRateThrottle keeps a list of every request's time in the window and reads and
writes it back whole (two round trips, and a list as long as the rate allows). The public
audit endpoints (checkpoints, proofs, tiles) are asked for often and answer in a few
milliseconds, so the limit itself was most of their time (issue 15: tile serving, profiled
in docs/audit.md §8). This one counts requests in fixed windows instead: on Redis one
pipelined INCR and EXPIRE. A client may send up to twice the rate across a window boundary,
which is what a fixed window trades for the single round trip.
"""

from __future__ import annotations

import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import ScopedRateThrottle


def _count(key: str, seconds: int) -> int:
    """Add one to ``key`` (created with a ``seconds`` expiry) and return the count."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        client = backend._cache.get_client(full_key, write=True)
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(full_key)
        pipeline.expire(full_key, seconds + 1, nx=True)
        count, _ = pipeline.execute()
        return int(count)
    backend.add(key, 0, seconds + 1)
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, seconds + 1)
        return 1


class WindowRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle's scopes and rates (``throttle_scope`` on the view), counted in
    fixed windows with one round trip."""

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        window = int(time.time() // self.duration)
        self.window_end = (window + 1) * self.duration
        self.count = _count(f"{self.key}:{window}", self.duration)
        return self.count <= self.num_requests

    def wait(self):
        return max(1.0, self.window_end - time.time())
