"""The public audit endpoints' rate limit (clearinghouse/api/throttling.py): one cache round
trip per request, per client address, a sliding window (no twice-the-rate burst across a
window boundary), refused with 429 and a Retry-After after which a request is let in."""

import os
import uuid
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIClient

from clearinghouse.api import throttling
from clearinghouse.api.throttling import WindowRateThrottle
from clearinghouse.audit.services import audit_checkpoint_sign
from tests.audit.conftest import make_events


def test_public_audit_endpoints_are_limited_per_address(db, monkeypatch):
    make_events(3)
    audit_checkpoint_sign()
    monkeypatch.setattr(WindowRateThrottle, "THROTTLE_RATES", {**WindowRateThrottle.THROTTLE_RATES, "audit_public": "3/min"})
    # The limiter's clock stands 17.3 s into a minute's window. Addresses of this run's own, as
    # the window's count is shared.
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: 60 * 29_000_000 + 17.3))
    net = uuid.uuid4().bytes
    one, other = APIClient(REMOTE_ADDR=f"10.{net[0]}.{net[1]}.{net[2]}"), APIClient(REMOTE_ADDR=f"10.{net[0]}.{net[1]}.{net[2] ^ 1}")
    answers = [one.get("/api/v1/audit/tlog/checkpoint").status_code for _ in range(3)]
    refused = one.get("/api/v1/audit/checkpoints/latest")  # one scope for every public audit endpoint
    assert answers == [200, 200, 200] and refused.status_code == 429
    # The refused one is not counted: the 42.7 s left of this window, then a third of the
    # next, until 3 * (1 - 20/60) + 1 fits in 3.
    assert refused["Retry-After"] == "63"
    assert other.get("/api/v1/audit/tlog/checkpoint").status_code == 200  # another address has its own count


class Clock:
    def __init__(self, at: float):
        self.at = at

    def time(self) -> float:
        return self.at


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.redis)])
def cache_backend(request, settings):
    """The counters in the test settings' local-memory cache, and in Redis as deployed (the
    one pipelined round trip)."""
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": os.environ.get("REDIS_URL", ""),
                "KEY_PREFIX": f"test-throttle-{uuid.uuid4().hex[:8]}",
            }
        }
    return request.param


def test_the_rate_spent_at_a_windows_end_comes_back_gradually_not_at_once(db, monkeypatch, cache_backend):
    """A fixed window let a client spend the rate in the last second of one window and again
    in the first of the next; the sliding window weighs the last window's requests by how
    much of it is still within the last minute."""
    assert isinstance(caches["default"], RedisCache) == (cache_backend == "redis")
    make_events(3)
    audit_checkpoint_sign()
    monkeypatch.setattr(WindowRateThrottle, "THROTTLE_RATES", {**WindowRateThrottle.THROTTLE_RATES, "audit_public": "3/min"})
    clock = Clock(60 * 29_000_100 + 59.0)
    monkeypatch.setattr(throttling, "time", clock)
    net = uuid.uuid4().bytes
    client = APIClient(REMOTE_ADDR=f"10.{net[0]}.{net[1]}.{net[2]}")
    assert [client.get("/api/v1/audit/tlog/checkpoint").status_code for _ in range(3)] == [200, 200, 200]
    clock.at += 2.0  # one second into the next window: 3 * 59/60 + 1 > 3 (a fixed window let all 3 in)
    refused = client.get("/api/v1/audit/tlog/checkpoint")
    assert refused.status_code == 429
    # The next fits once 3 * (1 - t/60) + 1 <= 3: at 20 s into the window, 19 s from now.
    assert refused["Retry-After"] == "19"
    clock.at += 18.0  # 19 s in: 3 * 41/60 + 1 > 3
    assert client.get("/api/v1/audit/tlog/checkpoint").status_code == 429
    clock.at += 1.0  # 20 s in, as told (asking early did not push it further)
    assert client.get("/api/v1/audit/tlog/checkpoint").status_code == 200
    assert client.get("/api/v1/audit/tlog/checkpoint").status_code == 429  # 3 * 40/60 + 2 > 3
    clock.at += 20.0  # 40 s in: 3 * 20/60 + 2 = 3
    assert client.get("/api/v1/audit/tlog/checkpoint").status_code == 200
