"""The public audit endpoints' rate limit (clearinghouse/api/throttling.py): one cache round
trip per request, per client address, refused with 429 and Retry-After past the rate."""

import uuid
from types import SimpleNamespace

from rest_framework.test import APIClient

from clearinghouse.api import throttling
from clearinghouse.api.throttling import WindowRateThrottle
from clearinghouse.audit.services import audit_checkpoint_sign
from tests.audit.conftest import make_events


def test_public_audit_endpoints_are_limited_per_address(db, monkeypatch):
    make_events(3)
    audit_checkpoint_sign()
    monkeypatch.setattr(WindowRateThrottle, "THROTTLE_RATES", {**WindowRateThrottle.THROTTLE_RATES, "audit_public": "3/min"})
    # The limiter's clock stands 17.3 s into a minute's window, so Retry-After is known: the
    # 42.7 s left, rounded up. Addresses of this run's own, as the window's count is shared.
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: 60 * 29_000_000 + 17.3))
    net = uuid.uuid4().bytes
    one, other = APIClient(REMOTE_ADDR=f"10.{net[0]}.{net[1]}.{net[2]}"), APIClient(REMOTE_ADDR=f"10.{net[0]}.{net[1]}.{net[2] ^ 1}")
    answers = [one.get("/api/v1/audit/tlog/checkpoint").status_code for _ in range(3)]
    refused = one.get("/api/v1/audit/checkpoints/latest")  # one scope for every public audit endpoint
    assert answers == [200, 200, 200] and refused.status_code == 429
    assert refused["Retry-After"] == "43"
    assert other.get("/api/v1/audit/tlog/checkpoint").status_code == 200  # another address has its own count
