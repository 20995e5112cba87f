"""The one permission table: which actor kinds may call which method of which endpoint.

Anything not listed is denied. Scoping (a consumer sees only their own consents, a
platform only its own subjects) is done by the selectors the views call; this table
answers only "may this kind of party call this at all". tests/api/test_permission_matrix.py
checks every cell against an independently written expectation.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from clearinghouse.api.actors import request_actor

ANYONE = "anyone"
CONSUMER = "consumer"
PLATFORM = "platform"
MANUFACTURER = "manufacturer"
COMPLIANCE = "compliance"

PERMISSION_TABLE: dict[str, dict[str, frozenset[str]]] = {
    # Accounts
    "api:consumers": {"POST": frozenset({ANYONE})},
    "api:auth-token": {"POST": frozenset({ANYONE})},
    "api:keys": {"GET": frozenset({ANYONE})},
    "healthz": {"GET": frozenset({ANYONE})},
    # The consumer's own data
    "api:me": {"DELETE": frozenset({CONSUMER})},
    "api:me-purposes": {"GET": frozenset({CONSUMER})},
    "api:me-consents": {"GET": frozenset({CONSUMER}), "POST": frozenset({CONSUMER})},
    "api:me-consent-history": {"GET": frozenset({CONSUMER})},
    "api:me-receipt-proof": {"GET": frozenset({CONSUMER})},  # one's own receipt's audit event (issue 15)
    "api:me-links": {"GET": frozenset({CONSUMER}), "POST": frozenset({CONSUMER}), "DELETE": frozenset({CONSUMER})},
    "api:me-link-detail": {"GET": frozenset({CONSUMER}), "DELETE": frozenset({CONSUMER})},
    "api:me-privacy-loss": {"GET": frozenset({CONSUMER})},
    "api:me-export": {"GET": frozenset({CONSUMER})},
    "api:me-erasure-certificates": {"GET": frozenset({CONSUMER})},
    "api:me-erasure-certificate-detail": {"GET": frozenset({CONSUMER})},
    # Platforms
    "api:platform-links": {"POST": frozenset({PLATFORM})},
    "api:platform-subject-consent": {"GET": frozenset({PLATFORM})},
    "api:platform-signals": {"POST": frozenset({PLATFORM})},
    "api:platform-batches": {"GET": frozenset({PLATFORM})},
    "api:platform-batch-detail": {"GET": frozenset({PLATFORM})},
    # Manufacturers
    "api:catalog": {"GET": frozenset({MANUFACTURER})},
    # Trends (clearinghouse/trends): weekly series by continual release, with a forecast
    "api:trends": {"GET": frozenset({MANUFACTURER}), "POST": frozenset({MANUFACTURER})},
    "api:trend-plan": {"POST": frozenset({MANUFACTURER})},
    "api:trend-detail": {"GET": frozenset({MANUFACTURER})},
    "api:releases": {"GET": frozenset({MANUFACTURER}), "POST": frozenset({MANUFACTURER})},
    "api:release-detail": {"GET": frozenset({MANUFACTURER})},
    "api:release-plan": {"POST": frozenset({MANUFACTURER})},
    "api:budget": {"GET": frozenset({MANUFACTURER})},
    # Reports (clearinghouse/reports): many marginals answered together
    "api:reports": {"GET": frozenset({MANUFACTURER}), "POST": frozenset({MANUFACTURER})},
    "api:report-plan": {"POST": frozenset({MANUFACTURER})},
    "api:report-detail": {"GET": frozenset({MANUFACTURER})},
    # Notifications (clearinghouse/notices): the manufacturer's own callback and notices
    "api:callback": {"GET": frozenset({MANUFACTURER}), "PUT": frozenset({MANUFACTURER}), "DELETE": frozenset({MANUFACTURER})},
    "api:notices": {"GET": frozenset({MANUFACTURER})},
    "api:notice-detail": {"GET": frozenset({MANUFACTURER})},
    "api:notice-resend": {"POST": frozenset({MANUFACTURER})},
    # Compliance
    "api:audit-events": {"GET": frozenset({COMPLIANCE})},
    "api:audit-event-detail": {"GET": frozenset({COMPLIANCE})},
    "api:audit-verify": {"GET": frozenset({COMPLIANCE})},
    "api:audit-export": {"GET": frozenset({COMPLIANCE})},
    "api:audit-inclusion-proof": {"GET": frozenset({COMPLIANCE})},
    "api:auth-unlock": {"POST": frozenset({COMPLIANCE})},
    # Public, for outside auditors: signed tree heads and consistency proofs reveal no
    # entry, only the log's size and tree hashes (docs/audit.md).
    "api:audit-checkpoints": {"GET": frozenset({ANYONE})},
    "api:audit-checkpoint-latest": {"GET": frozenset({ANYONE})},
    "api:audit-consistency-proof": {"GET": frozenset({ANYONE})},
    # The tile view (issue 15): hash tiles and the signed checkpoint note are public like
    # checkpoints; entry bundles are the events themselves, so compliance only.
    "api:audit-tlog-checkpoint": {"GET": frozenset({ANYONE})},
    "api:audit-tlog-tile": {"GET": frozenset({ANYONE})},
    "api:audit-tlog-entries": {"GET": frozenset({COMPLIANCE})},
}


def allowed_kinds(view_name: str, method: str) -> frozenset[str] | None:
    methods = PERMISSION_TABLE.get(view_name)
    if methods is None:
        return None
    if method == "HEAD":
        method = "GET"
    return methods.get(method)


class TablePermission(BasePermission):
    """Deny by default: a view missing from the table is closed to everyone."""

    message = "You may not do this."

    def has_permission(self, request, view) -> bool:
        match = request.resolver_match
        view_name = match.view_name if match else ""
        kinds = allowed_kinds(view_name, request.method)
        if kinds is None:
            # A method the view does not implement falls through to DRF's 405; one it does
            # implement but the table omits is refused.
            handler = getattr(view, request.method.lower(), None)
            return handler is None and view_name in PERMISSION_TABLE
        if ANYONE in kinds:
            return True
        actor = request_actor(request)
        return actor.kind in kinds
