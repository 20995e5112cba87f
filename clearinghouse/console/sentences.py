"""Each audit event as one sentence in the page's language, for investigations.

The sentence is built only from what the event holds (actor, target, details); the raw
record stays one click away on the page. Every AuditAction has a sentence here
(tests/console/test_investigations.py checks it, and that each reads in Chinese).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent

ACTOR_PHRASES = {
    "consumer": gettext_noop("person %(id)s"),
    "compliance": gettext_noop("compliance officer %(id)s"),
    "platform": gettext_noop("platform %(id)s"),
    "manufacturer": gettext_noop("manufacturer %(id)s"),
    "operator": gettext_noop("the operator"),
    "system": gettext_noop("the system (%(id)s)"),
    "anonymous": gettext_noop("someone not logged in"),
}

SENTENCES: dict[str, str] = {
    AuditAction.CONSUMER_REGISTERED: gettext_noop("%(actor)s registered an account."),
    AuditAction.CONSUMER_ERASED: gettext_noop("%(actor)s erased the account of %(target)s."),
    AuditAction.AUTH_TOKEN_ISSUED: gettext_noop("%(actor)s obtained an API token."),
    AuditAction.AUTH_TOKEN_REFUSED: gettext_noop("An API token was refused: unknown username or wrong password."),
    AuditAction.AUTH_LOGIN_REFUSED: gettext_noop("A portal login was refused (%(reason)s)."),
    AuditAction.CONSENT_GRANTED: gettext_noop("%(actor)s gave consent to %(purpose)s on platform %(platform)s."),
    AuditAction.CONSENT_WITHDRAWN: gettext_noop("%(actor)s withdrew consent to %(purpose)s on platform %(platform)s."),
    AuditAction.CONSENT_REFUSED: gettext_noop("A consent change by %(actor)s for %(purpose)s was refused (%(code)s)."),
    AuditAction.LINK_CODE_ISSUED: gettext_noop("%(actor)s asked for a link code for %(target)s."),
    AuditAction.LINK_CREATED: gettext_noop("%(actor)s linked the account of person %(subject)s."),
    AuditAction.LINK_REPLACED: gettext_noop("%(actor)s replaced the link of person %(subject)s."),
    AuditAction.LINK_REFUSED: gettext_noop("%(actor)s was refused a link (%(reason)s)."),
    AuditAction.LINK_REMOVED: gettext_noop("%(actor)s removed the link to %(target)s."),
    AuditAction.LINK_CODES_PURGED: gettext_noop("%(actor)s deleted %(expired)s expired and %(used)s used link codes."),
    AuditAction.PURPOSE_PUBLISHED: gettext_noop("%(actor)s published %(target)s as a draft."),
    AuditAction.PURPOSE_APPROVED: gettext_noop("%(actor)s approved %(target)s."),
    AuditAction.PURPOSE_RETIRED: gettext_noop("%(actor)s retired %(target)s (%(reason)s)."),
    AuditAction.PLATFORM_REGISTERED: gettext_noop("%(actor)s registered %(target)s."),
    AuditAction.PLATFORM_CROSS_ACCESS_BLOCKED: gettext_noop("%(actor)s was blocked from another platform's data (%(target)s)."),
    AuditAction.MANUFACTURER_REGISTERED: gettext_noop("%(actor)s registered %(target)s."),
    AuditAction.MANUFACTURER_STAFF_CREATED: gettext_noop("%(actor)s gave %(target)s a workbench login for manufacturer %(manufacturer)s."),
    AuditAction.CREDENTIAL_ROTATED: gettext_noop("%(actor)s replaced the keys of %(target)s."),
    AuditAction.CREDENTIAL_REVOKED: gettext_noop("%(actor)s revoked the keys of %(target)s."),
    AuditAction.COMPLIANCE_OFFICER_CREATED: gettext_noop("%(actor)s created compliance officer %(target)s."),
    AuditAction.TAXONOMY_LOADED: gettext_noop("%(actor)s loaded %(target)s."),
    AuditAction.INTAKE_BATCH: gettext_noop(
        "%(actor)s sent a batch of signals: %(accepted)s accepted, %(duplicates)s duplicates, %(rejected_total)s refused."
    ),
    AuditAction.ERASURE_COMPLETED: gettext_noop("%(actor)s deleted %(signals)s signals (%(reason)s)."),
    AuditAction.RETENTION_PURGED: gettext_noop("%(actor)s deleted %(signals)s signals of %(target)s past their retention period."),
    AuditAction.RETENTION_CERTIFIED: gettext_noop(
        "%(actor)s gave %(certificates)s people a signed erasure certificate for %(signals)s signals past their retention period."
    ),
    AuditAction.EXPORT_COMPLETED: gettext_noop("%(actor)s downloaded a copy of their data."),
    AuditAction.RELEASE_REQUESTED: gettext_noop("%(actor)s asked for a release of %(purpose)s (%(measure)s, ε %(epsilon)s)."),
    AuditAction.RELEASE_REFUSED: gettext_noop("A release for %(actor)s was refused (%(code)s)."),
    AuditAction.RELEASE_COMPLETED: gettext_noop(
        "A release of %(purpose)s for manufacturer %(manufacturer)s was completed (%(measure)s, ε %(epsilon)s)."
    ),
    AuditAction.RELEASE_FAILED: gettext_noop("A release of %(purpose)s for manufacturer %(manufacturer)s failed (%(code)s)."),
    AuditAction.BUDGET_ALLOCATED: gettext_noop(
        "%(actor)s allocated ε %(epsilon)s of %(purpose)s to manufacturer %(manufacturer)s for %(period)s."
    ),
    AuditAction.BUDGET_RESERVED: gettext_noop("ε %(epsilon)s of %(purpose)s was reserved for manufacturer %(manufacturer)s (%(period)s)."),
    AuditAction.BUDGET_REFUNDED: gettext_noop("ε %(epsilon)s of %(purpose)s was given back to manufacturer %(manufacturer)s (%(period)s)."),
    AuditAction.BUDGET_ROLLED_OVER: gettext_noop(
        "%(actor)s carried ε %(epsilon)s of %(purpose)s for manufacturer %(manufacturer)s into %(period)s."
    ),
    AuditAction.AUDIT_EXPORTED: gettext_noop("%(actor)s exported the audit log up to event %(upto_seq)s."),
    AuditAction.AUDIT_VERIFIED: gettext_noop("%(actor)s verified the audit log: %(checked)s events checked."),
    AuditAction.REPORT_EXPORTED: gettext_noop("%(actor)s downloaded the report %(target)s (%(format)s)."),
    AuditAction.AUTH_RECOVERY_CODES_ISSUED: gettext_noop("%(actor)s made a new set of recovery codes."),
    AuditAction.AUTH_RECOVERY_USED: gettext_noop("%(actor)s got back into their account with a recovery code."),
    AuditAction.AUTH_RECOVERY_REFUSED: gettext_noop("A recovery attempt was refused (%(reason)s)."),
    AuditAction.AUTH_PASSWORD_CHANGED: gettext_noop("%(actor)s changed their password."),
    AuditAction.AUTH_PASSWORD_CHANGE_REFUSED: gettext_noop("A password change by %(actor)s was refused (%(reason)s)."),
    AuditAction.AUTH_PASSKEY_ADDED: gettext_noop("%(actor)s added a passkey."),
    AuditAction.AUTH_PASSKEY_REMOVED: gettext_noop("%(actor)s removed a passkey."),
    AuditAction.AUTH_PASSKEY_LOGIN: gettext_noop("%(actor)s logged in with a passkey."),
    AuditAction.AUTH_PASSKEY_REFUSED: gettext_noop("A passkey login was refused (%(reason)s)."),
    AuditAction.CONSENT_EXPIRED: gettext_noop("The service ended a consent to %(purpose)s on platform %(platform)s (%(reason)s)."),
    AuditAction.AUTH_LOCKED: gettext_noop("Signing in was paused after too many failed attempts (%(scope)s, %(channel)s)."),
    AuditAction.AUTH_UNLOCKED: gettext_noop("%(actor)s lifted a sign-in lock."),
    AuditAction.ADMIN_LOGIN: gettext_noop("An admin login by %(actor)s (%(outcome)s)."),
    AuditAction.ADMIN_CHANGED: gettext_noop("%(actor)s changed %(target)s in the admin."),
    AuditAction.USER_GROUPS_CHANGED: gettext_noop("%(actor)s changed the groups of %(target)s."),
    AuditAction.USER_PERMISSIONS_CHANGED: gettext_noop("%(actor)s changed the permissions of %(target)s."),
    AuditAction.ACCESS_DENIED: gettext_noop("%(actor)s was denied access (%(reason)s)."),
    AuditAction.SIGNUP_REFUSED: gettext_noop("A sign-up was refused (%(reason)s)."),
    AuditAction.CALLBACK_SET: gettext_noop("%(actor)s registered a callback for notifications at %(host)s."),
    AuditAction.CALLBACK_REMOVED: gettext_noop("%(actor)s removed its callback for notifications at %(host)s."),
    AuditAction.NOTICE_DELIVERED: gettext_noop(
        "The notice that %(target)s ended %(status)s was delivered to %(host)s (attempt %(attempt)s)."
    ),
    AuditAction.NOTICE_ATTEMPT_FAILED: gettext_noop(
        "Attempt %(attempt)s to deliver the notice of %(target)s to %(host)s failed (%(outcome)s); next try at %(retry_at)s."
    ),
    AuditAction.NOTICE_GIVEN_UP: gettext_noop(
        "The notice of %(target)s to %(host)s was given up after %(attempt)s attempts (%(outcome)s)."
    ),
    AuditAction.NOTICE_RESEND_REQUESTED: gettext_noop(
        "%(actor)s asked for the given-up notice of %(target)s to be sent again, to %(host)s."
    ),
}
OVER_CAP = gettext_noop("Over the cap: allocations add up to ε %(total)s of %(cap)s.")
UNKNOWN = gettext_noop("%(actor)s: %(action)s on %(target)s.")


class _Params(dict):
    """Missing details read as a dash instead of failing the page."""

    def __missing__(self, key: str) -> str:
        return "—"


def _short(value: str) -> str:
    return value[:8] if len(value) == 36 and value.count("-") == 4 else value


def actor_phrase(event: AuditEvent) -> str:
    template = ACTOR_PHRASES.get(event.actor_kind)
    if template is None:
        return f"{event.actor_kind} {event.actor_id}".strip()
    return _(template) % {"id": _short(event.actor_id) or "—"}


def _purpose_and_platform(target: str) -> tuple[str, str]:
    """``purpose:<code>@platform:<slug>`` -> (code, slug)."""
    if not target.startswith("purpose:"):
        return "—", "—"
    rest = target[len("purpose:") :]
    code, _sep, platform = rest.partition("@")
    return code, platform.removeprefix("platform:") or "—"


def event_sentence(event: AuditEvent) -> str:
    details: dict[str, Any] = event.details if isinstance(event.details, dict) else {}
    params = _Params({key: value for key, value in details.items() if isinstance(value, (str, int))})
    purpose, platform = _purpose_and_platform(event.target)
    params.setdefault("purpose", purpose)
    params["platform"] = platform
    params["actor"] = actor_phrase(event)
    params["target"] = event.target.replace("consumer:", "") if event.target else "—"
    params["action"] = event.action
    if isinstance(params.get("subject"), str):
        params["subject"] = _short(params["subject"])
    if isinstance(details.get("rejected"), dict):
        params["rejected_total"] = sum(v for v in details["rejected"].values() if isinstance(v, int))
    if "reason" not in params and isinstance(details.get("error"), str):
        params["reason"] = details["error"]
    template = SENTENCES.get(event.action, UNKNOWN)
    sentence = _(template) % params
    over = details.get("over_cap")
    if event.action == AuditAction.BUDGET_ALLOCATED and isinstance(over, dict):
        sentence += " " + _(OVER_CAP) % _Params(over)
    return sentence
