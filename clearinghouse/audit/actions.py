"""Every action the audit log records, in one place.

Product code names actions only through this enum (tests/test_architecture.py checks every
``audit_append`` / ``audit_record`` call), so the console's action filter, the reports and
the documentation derive from one list that cannot drift from what is written.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    CONSUMER_REGISTERED = "consumer.registered"
    CONSUMER_ERASED = "consumer.erased"
    AUTH_TOKEN_ISSUED = "auth.token_issued"
    AUTH_TOKEN_REFUSED = "auth.token_refused"
    AUTH_LOGIN_REFUSED = "auth.login_refused"
    # Recovery without personal data (issue 14): recovery codes, password change, passkeys.
    AUTH_RECOVERY_CODES_ISSUED = "auth.recovery_codes_issued"
    AUTH_RECOVERY_USED = "auth.recovery_used"
    AUTH_RECOVERY_REFUSED = "auth.recovery_refused"
    AUTH_PASSWORD_CHANGED = "auth.password_changed"
    AUTH_PASSWORD_CHANGE_REFUSED = "auth.password_change_refused"
    AUTH_PASSKEY_ADDED = "auth.passkey_added"
    AUTH_PASSKEY_REMOVED = "auth.passkey_removed"
    AUTH_PASSKEY_LOGIN = "auth.passkey_login"
    AUTH_PASSKEY_REFUSED = "auth.passkey_refused"
    CONSENT_GRANTED = "consent.granted"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CONSENT_REFUSED = "consent.refused"
    # The service ended a consent: its purpose version was retired or replaced (issue 14).
    CONSENT_EXPIRED = "consent.expired"
    LINK_CODE_ISSUED = "link.code_issued"
    LINK_CREATED = "link.created"
    LINK_REPLACED = "link.replaced"
    LINK_REFUSED = "link.refused"
    LINK_REMOVED = "link.removed"
    LINK_CODES_PURGED = "link.codes_purged"
    PURPOSE_PUBLISHED = "purpose.published"
    PURPOSE_APPROVED = "purpose.approved"
    PURPOSE_RETIRED = "purpose.retired"
    PLATFORM_REGISTERED = "platform.registered"
    PLATFORM_CROSS_ACCESS_BLOCKED = "platform.cross_access_blocked"
    MANUFACTURER_REGISTERED = "manufacturer.registered"
    # A person who uses the workbench for one manufacturer (issue 13).
    MANUFACTURER_STAFF_CREATED = "manufacturer.staff_created"
    CREDENTIAL_ROTATED = "credential.rotated"
    CREDENTIAL_REVOKED = "credential.revoked"
    COMPLIANCE_OFFICER_CREATED = "compliance.officer_created"
    TAXONOMY_LOADED = "taxonomy.loaded"
    INTAKE_BATCH = "intake.batch"
    ERASURE_COMPLETED = "erasure.completed"
    RETENTION_PURGED = "retention.purged"
    RETENTION_CERTIFIED = "retention.certified"
    EXPORT_COMPLETED = "export.completed"
    RELEASE_REQUESTED = "release.requested"
    RELEASE_REFUSED = "release.refused"
    RELEASE_COMPLETED = "release.completed"
    RELEASE_FAILED = "release.failed"
    BUDGET_ALLOCATED = "budget.allocated"
    BUDGET_RESERVED = "budget.reserved"
    BUDGET_REFUNDED = "budget.refunded"
    BUDGET_ROLLED_OVER = "budget.rolled_over"
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_VERIFIED = "audit.verified"
    # Credential attacks and every use of power (issue 12, docs/security.md)
    AUTH_LOCKED = "auth.locked"
    AUTH_UNLOCKED = "auth.unlocked"
    ADMIN_LOGIN = "admin.login"
    ADMIN_CHANGED = "admin.changed"
    USER_GROUPS_CHANGED = "user.groups_changed"
    USER_PERMISSIONS_CHANGED = "user.permissions_changed"
    ACCESS_DENIED = "access.denied"
    SIGNUP_REFUSED = "signup.refused"
    REPORT_EXPORTED = "report.exported"
    # Signed notifications to manufacturers (clearinghouse/notices): the callback, and every
    # attempt at delivering a notice.
    CALLBACK_SET = "callback.set"
    CALLBACK_REMOVED = "callback.removed"
    NOTICE_DELIVERED = "notice.delivered"
    NOTICE_ATTEMPT_FAILED = "notice.attempt_failed"
    NOTICE_GIVEN_UP = "notice.given_up"
    NOTICE_RESEND_REQUESTED = "notice.resend_requested"
