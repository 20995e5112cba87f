"""A scoped rate limit that costs one cache round trip per request.

DRF's ScopedRateThrottle keeps a list of every request's time in the window and reads and
writes it back whole (two round trips, and a list as long as the rate allows). The public
audit endpoints (checkpoints, proofs, tiles) are asked for often and answer in a few
milliseconds, so the limit itself was most of their time (issue 15: tile serving, profiled
in docs/audit.md §8). This one keeps two counters per client, this window's and the last
one's, and on Redis reads and adds in one pipelined round trip (INCR, EXPIRE, GET); a
refused request takes its count back (DECR), so asking again early does not push the
wait further.

It is a sliding window, not a fixed one: a request is allowed while the last window's count,
weighted by how much of it still lies in the sliding window, plus this window's count stays
within the rate. A fixed window let a client send twice the rate across a window boundary
(the whole rate at the end of one window, again at the start of the next); this estimate
assumes the last window's requests were spread evenly, so a client that spent the rate at
the end of one window regains it gradually over the next.
"""

from __future__ import annotations

import contextlib
import math
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import ScopedRateThrottle


def _counts(key: str, previous_key: str, seconds: int) -> tuple[int, int]:
    """Add one to ``key`` and return (its count, ``previous_key``'s count). A counter lives
    two windows: through its own, and the next, where it is the previous one."""
    backend = caches["default"]
    lifetime = 2 * seconds + 1
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        full_previous = backend.make_and_validate_key(previous_key)
        client = backend._cache.get_client(full_key, write=True)
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(full_key)
        pipeline.expire(full_key, lifetime, nx=True)
        pipeline.get(full_previous)
        count, _, previous = pipeline.execute()
        return int(count), int(previous or 0)
    backend.add(key, 0, lifetime)
    try:
        count = backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, lifetime)
        count = 1
    return count, int(backend.get(previous_key) or 0)


def _uncount(key: str) -> None:
    """Take back a refused request's count: a client waiting as told is let in as told,
    however often it asked meanwhile. A second round trip, on refusals only."""
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing to take back
        caches["default"].decr(key)


def _refused_wait(*, limit: int, duration: float, elapsed: float, current: int, previous: int) -> float:
    """Seconds until the sliding estimate lets one more request in, for a request just
    refused ``elapsed`` seconds into a window of ``duration`` that holds ``current``
    requests (the refused one taken back) after one that held ``previous``."""
    if current < limit:
        # Refused with room in this window: the last one's weight must fall (previous > 0),
        # previous * (1 - (elapsed + t) / duration) + current + 1 <= limit.
        return max(0.0, duration * (1 - (limit - current - 1) / previous) - elapsed)
    # This window alone is full: wait for its end, then for its weight in the next to fall
    # until one more fits: current * (1 - t / duration) + 1 <= limit.
    return (duration - elapsed) + duration * (1 - (limit - 1) / current)


class WindowRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle's scopes and rates (``throttle_scope`` on the view), counted in a
    sliding window with one round trip."""

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        self.elapsed = now - window * self.duration
        key = f"{self.key}:{window}"
        self.count, self.previous = _counts(key, f"{self.key}:{window - 1}", self.duration)
        weight = 1 - self.elapsed / self.duration
        if self.previous * weight + self.count <= self.num_requests:
            return True
        _uncount(key)
        self.count -= 1
        return False

    def wait(self):
        seconds = _refused_wait(
            limit=self.num_requests, duration=self.duration, elapsed=self.elapsed, current=self.count, previous=self.previous
        )
        return max(1.0, math.ceil(seconds - 1e-6))  # whole seconds, not 20 for 19.000000000000004
