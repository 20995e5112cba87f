"""Denied attempts in the audit log, without letting a flood of them flood the log.

A denial (403, a bad or revoked key, a CSRF failure, another party's object, a locked
sign-in) is recorded as ``access.denied`` (or the caller's own action) the 1st, 2nd, 4th,
8th, ... time the same thing happens within ``CH_AUDIT_DENIAL_WINDOW_SECONDS``: at most
about log2(n) + 1 events for n repeats, each carrying ``count``, the number seen so far
in the window. A single probe is always written; a million identical probes write 21
events and still show their number. "The same thing" is the same action, reason,
endpoint and caller (the party, or a hash of the client address for anonymous callers).
The counters live in the cache; should it lose them, more events are written, never fewer.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

from clearinghouse.api.actors import request_actor
from clearinghouse.api.addresses import client_address
from clearinghouse.api.errors import api_exception_handler
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_record
from clearinghouse.core.actors import Actor

logger = logging.getLogger(__name__)


def _occurrence(key: str) -> int:
    window = settings.CH_AUDIT_DENIAL_WINDOW_SECONDS
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:
        cache.add(key, 1, timeout=window)
        return 1


def audit_sampled(
    *, actor: Actor, action: AuditAction, sample_key: str, target: str = "", outcome: str = "denied", details: dict[str, Any]
) -> bool:
    """Record this event if its occurrence number within the window is a power of two.
    Returns whether it was written."""
    digest = hashlib.sha256(f"{action}\x1f{sample_key}".encode()).hexdigest()[:32]
    count = _occurrence(f"audit:sample:{digest}")
    if count & (count - 1):
        return False
    audit_record(actor=actor, action=action, target=target, outcome=outcome, details={**details, "count": count})
    return True


def _endpoint(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name:
        return match.view_name[:64]
    return "-"


def denial_record(*, request, reason: str, status: int, target: str = "") -> None:
    """Record one denied request (sampled). Never raises: a denial must still be answered
    even if the log cannot take it."""
    try:
        actor = request_actor(request)
        if actor.kind == "anonymous":
            caller = "address:" + hashlib.sha256(client_address(request).encode()).hexdigest()[:16]
        else:
            caller = f"{actor.kind}:{actor.id}"
        endpoint = _endpoint(request)
        method = str(getattr(request, "method", "") or "")[:8]
        audit_sampled(
            actor=actor,
            action=AuditAction.ACCESS_DENIED,
            sample_key=f"{reason}\x1f{endpoint}\x1f{method}\x1f{caller}",
            target=target,
            details={"reason": reason, "status": status, "endpoint": endpoint, "method": method},
        )
    except Exception:  # the refusal itself must still go out
        logger.exception("could not audit a denied request")


def api_exception_handler_audited(exc: Exception, context: dict[str, Any]):
    """settings.REST_FRAMEWORK's exception handler: the API's error format
    (api.errors.api_exception_handler), and every 401 and 403 recorded as a denial."""
    response = api_exception_handler(exc, context)
    request = context.get("request")
    if request is not None and response.status_code in (401, 403):
        if response.status_code == 401:
            reason = "bad_credential" if request.META.get("HTTP_AUTHORIZATION") else "unauthenticated"
        else:
            reason = "csrf" if "CSRF" in str(getattr(exc, "detail", "")) else "forbidden"
        denial_record(request=request, reason=reason, status=response.status_code)
    return response
