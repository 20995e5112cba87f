"""The consent ledger: append an event, fold it into the current state, sign a receipt,
and audit, all in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Platform
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.services import audit_append, audit_log_identity
from clearinghouse.consent.models import LAWFUL_BASES, ConsentEvent, ConsentState, Purpose
from clearinghouse.consent.signals import consent_withdrawn
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import signer_get
from clearinghouse.core.errors import Conflict, DomainError, Invalid
from clearinghouse.core.operator import controller_name

RECEIPT_SCHEMA = "clearinghouse-consent-receipt/1 (ISO/IEC TS 27560:2023; Kantara Consent Receipt 1.1)"
CHANNELS = {"api", "portal"}


@dataclass(frozen=True)
class ConsentRequest:
    purpose_code: str
    platform_slug: str
    action: str
    version: int | None = None
    notice_digest: str | None = None
    language: str | None = None


# The receipt's sentences, in the language of the notice the person read: a Chinese receipt
# carries no English legal strings (issue 14). Codes (lawful_basis.code, sectors) stay codes.
_RECEIPT_TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "lawful_basis": LAWFUL_BASES,
        "recipients": "manufacturers in these sectors, receiving only differentially private aggregates",
        "withdrawal_method": (
            "One action at any time: the Withdraw button (or Stop all sharing) on the portal's My consents page, "
            "or POST /api/v1/me/consents with action=withdraw."
        ),
    },
    "zh-hans": {
        "lawful_basis": {"consent": "《个人信息保护法》第十三条第一款第（一）项：取得个人的同意；GDPR 第 6 条第 1 款 (a) 项"},
        "recipients": "这些行业的制造商，只能得到加入了随机噪声的统计结果（差分隐私）",
        "withdrawal_method": (
            "随时一步撤回：门户“我的同意”页面上的“撤回”按钮（或“停止全部共享”），或调用 POST /api/v1/me/consents 并设 action=withdraw。"
        ),
    },
}


def _receipt_payload(
    *,
    receipt_id: uuid.UUID,
    consumer: Consumer,
    purpose: Purpose,
    platform: Platform,
    action: str,
    channel: str,
    language: str,
    notice_digest: str,
    moment,
    supersedes: uuid.UUID | None,
    ended_because: dict[str, Any] | None = None,
    audit_event: AuditEvent | None = None,
) -> dict[str, Any]:
    controller = settings.CH_CONTROLLER
    payload = {
        "receipt_id": str(receipt_id),
        "schema_version": RECEIPT_SCHEMA,
        "jurisdiction": controller["jurisdiction"],
        "controller": {"name": controller_name(language=language), "contact": controller["contact"]},
        "issued_at": moment.isoformat(),
        "language": language,
        "subject": {"pseudonym": str(consumer.pseudonym)},
        "purpose": {
            "code": purpose.code,
            "version": purpose.version,
            "title": purpose.title[language],
            "legitimate_interest": purpose.legitimate_interest[language],
        },
        "lawful_basis": {"code": purpose.lawful_basis, "reference": _RECEIPT_TEXT[language]["lawful_basis"][purpose.lawful_basis]},
        "data_categories": purpose.fields,
        "recipients": {
            "description": _RECEIPT_TEXT[language]["recipients"],
            "sectors": purpose.recipient_sectors,
        },
        "retention_days": purpose.retention_days,
        "collection_platform": platform.slug,
        "state": _RECEIPT_STATES[action],
        "channel": channel,
        "notice_digest": {"algorithm": "sha-256", "value": notice_digest},
        "withdrawal_method": _RECEIPT_TEXT[language]["withdrawal_method"],
        "supersedes": str(supersedes) if supersedes else None,
    }
    if ended_because is not None:
        # An expiry: the service ended the consent, and says why (the purpose version was
        # retired, or replaced by one that needs new consent).
        payload["ended_because"] = ended_because
    if audit_event is not None:
        # The audit event that records this receipt, named by its RFC 6962 leaf hash: the
        # hash an inclusion proof proves (RFC 6962 get-proof-by-hash). Its leaf index is
        # given by the sealer after the commit, off the writer's path, so it cannot be
        # signed here; the hash fixes the event, and with it the index, for good.
        payload["audit_event"] = {"log_id": str(audit_log_identity()), "leaf_hash": audit_event.leaf_hash}
    return payload


_RECEIPT_STATES = {ConsentEvent.GRANT: "granted", ConsentEvent.WITHDRAW: "withdrawn", ConsentEvent.EXPIRE: "expired"}


def consent_event_build(
    *,
    consumer: Consumer,
    purpose: Purpose,
    platform: Platform,
    action: str,
    channel: str,
    language: str,
    notice_digest: str,
    moment,
    supersedes: uuid.UUID | None,
    reason: str = "",
    ended_because: dict[str, Any] | None = None,
    receipt_id: uuid.UUID | None = None,
    audit_event: AuditEvent | None = None,
) -> ConsentEvent:
    """An unsaved event with its signed receipt. consent_change saves one under the
    consumer's lock; seed_demo bulk-creates many (and keeps ConsentState in step itself).
    ``audit_event``, appended first with ``receipt_id`` in its details, is named inside
    the signed receipt (issue 15)."""
    receipt_id = receipt_id or uuid.uuid4()
    payload = _receipt_payload(
        receipt_id=receipt_id,
        consumer=consumer,
        purpose=purpose,
        platform=platform,
        action=action,
        channel=channel,
        language=language,
        notice_digest=notice_digest,
        moment=moment,
        supersedes=supersedes,
        ended_because=ended_because,
        audit_event=audit_event,
    )
    return ConsentEvent(
        receipt_id=receipt_id,
        consumer=consumer,
        purpose=purpose,
        platform=platform,
        action=action,
        channel=channel,
        language=language,
        notice_digest=notice_digest,
        created_at=moment,
        supersedes=supersedes,
        reason=reason,
        receipt=signer_get("receipts").envelope(payload),
    )


def _refuse(*, actor: Actor, target: str, error: DomainError) -> DomainError:
    with transaction.atomic():
        audit_append(
            actor=actor,
            action=AuditAction.CONSENT_REFUSED,
            target=target,
            outcome="denied",
            details={"code": error.code},
        )
    return error


def consent_change(*, consumer: Consumer, request: ConsentRequest, channel: str, actor: Actor) -> ConsentEvent:
    """Grant or withdraw one consent and return the event with its signed receipt.

    A grant must name the purpose's current approved version and the SHA-256 of the
    notice text the consumer was shown; anything else means they consented to something
    we no longer do (409 notice_changed). A withdrawal is always accepted.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if request.action not in (ConsentEvent.GRANT, ConsentEvent.WITHDRAW):
        raise Invalid("action: must be 'grant' or 'withdraw'", details={"field": "action"})
    platform = Platform.objects.filter(slug=request.platform_slug).first()
    if platform is None:
        raise Invalid(f"platform: no platform {request.platform_slug!r}", code="unknown_platform", details={"field": "platform"})
    versions = list(Purpose.objects.filter(code=request.purpose_code).order_by("-version"))
    if not versions:
        raise Invalid(f"purpose: no purpose {request.purpose_code!r}", code="unknown_purpose", details={"field": "purpose"})
    target = f"purpose:{request.purpose_code}@platform:{platform.slug}"
    current = next((p for p in versions if p.status == Purpose.APPROVED), None)

    if request.action == ConsentEvent.GRANT:
        if current is None:
            raise _refuse(
                actor=actor,
                target=target,
                error=Conflict("This purpose is not approved, so it cannot accept consent.", code="purpose_not_approved"),
            )
        language = next((lang for lang, digest in current.notice_digests.items() if digest == request.notice_digest), None)
        if request.version != current.version or language is None:
            raise _refuse(
                actor=actor,
                target=target,
                error=Conflict(
                    "The notice for this purpose has changed; show the current notice and ask again.",
                    code="notice_changed",
                    details={"current_version": current.version, "notice_digests": current.notice_digests},
                ),
            )
        # The stored digest the request's equals: a str, where the request's field may be None.
        purpose, notice_digest = current, current.notice_digests[language]
    else:
        language = request.language if request.language in ("zh-hans", "en") else settings.LANGUAGE_CODE
        notice_digest = ""
        purpose = None

    with transaction.atomic():
        # One consumer's changes are serialised so that the state row always equals the
        # fold of the events, even when two withdrawals race.
        Consumer.objects.select_for_update().get(pk=consumer.pk)
        state = (
            ConsentState.objects.select_related("last_event")
            .filter(consumer=consumer, purpose_code=request.purpose_code, platform=platform)
            .first()
        )
        if purpose is None:
            # A withdrawal applies to whatever version was last consented to.
            purpose = next((p for p in versions if state and p.version == state.version), None) or current or versions[0]
        moment = timezone.now()
        granted = request.action == ConsentEvent.GRANT
        receipt_id = uuid.uuid4()
        # The audit event first, so that the signed receipt can name it.
        audited = audit_append(
            actor=actor,
            action=AuditAction.CONSENT_GRANTED if granted else AuditAction.CONSENT_WITHDRAWN,
            target=target,
            details={
                "subject": str(consumer.pseudonym),
                "purpose_version": purpose.version,
                "receipt_id": str(receipt_id),
                "channel": channel,
            },
        )
        event = consent_event_build(
            consumer=consumer,
            purpose=purpose,
            platform=platform,
            action=request.action,
            channel=channel,
            language=language,
            notice_digest=notice_digest,
            moment=moment,
            supersedes=state.last_event.receipt_id if state else None,
            receipt_id=receipt_id,
            audit_event=audited,
        )
        event.save(force_insert=True)
        # Under the consumer's row lock, so the read above and this write cannot interleave.
        ConsentState.objects.update_or_create(
            consumer=consumer,
            purpose_code=purpose.code,
            platform=platform,
            defaults={"version": purpose.version, "granted": granted, "last_event": event, "updated_at": moment},
        )
        if not granted:
            consent_withdrawn.send(
                sender=ConsentEvent,
                consumer_id=consumer.pk,
                purpose_code=purpose.code,
                platform_id=platform.pk,
                reason="consent_withdrawn",
                receipt_id=event.receipt_id,
                language=language,
            )
    return event


def consent_withdraw_all(*, consumer: Consumer, channel: str, actor: Actor, language: str | None = None) -> list[ConsentEvent]:
    """Withdraw every consent this person still gives, in one transaction: one event with
    its own signed receipt per consent ended (and, through ``consent_withdrawn``, one
    erasure each), so each can be shown and checked on its own. Nothing granted: []."""
    with transaction.atomic():
        Consumer.objects.select_for_update().get(pk=consumer.pk)
        states = list(
            ConsentState.objects.granted().filter(consumer=consumer).select_related("platform").order_by("purpose_code", "platform__slug")
        )
        return [
            consent_change(
                consumer=consumer,
                request=ConsentRequest(
                    purpose_code=state.purpose_code, platform_slug=state.platform.slug, action=ConsentEvent.WITHDRAW, language=language
                ),
                channel=channel,
                actor=actor,
            )
            for state in states
        ]


def consents_expire(*, purpose: Purpose, reason: str, actor: Actor, by_version: int | None = None) -> int:
    """End every consent given to this purpose version, inside the caller's transaction
    (the retirement or the approval that replaces it): per consent an ``expire`` event
    with a signed receipt (state ``expired``, ``ended_because`` naming why), the state
    switched off, an audit event, and ``consent_withdrawn`` so that intake erases what the
    consent let in, exactly as after a withdrawal. Returns how many ended."""
    if reason not in (ConsentEvent.PURPOSE_RETIRED, ConsentEvent.PURPOSE_SUPERSEDED):
        raise ValueError(f"unknown reason {reason!r}")
    ended_because: dict[str, Any] = {"code": reason}
    if by_version is not None:
        ended_because["by_version"] = by_version
    states = list(
        ConsentState.objects.granted()
        .filter(purpose_code=purpose.code, version=purpose.version)
        .select_related("consumer", "platform", "last_event")
        .order_by("consumer_id", "platform_id")
    )
    for state in states:
        # The same lock a person's own change takes, in consumer order, so an expiry and a
        # withdrawal racing on one consent serialise and the state stays the fold.
        Consumer.objects.select_for_update().get(pk=state.consumer_id)
        state.refresh_from_db()
        if not state.granted or state.version != purpose.version:
            continue
        moment = timezone.now()
        receipt_id = uuid.uuid4()
        audited = audit_append(
            actor=actor,
            action=AuditAction.CONSENT_EXPIRED,
            target=f"purpose:{purpose.code}@platform:{state.platform.slug}",
            details={
                "subject": str(state.consumer.pseudonym),
                "purpose_version": purpose.version,
                "receipt_id": str(receipt_id),
                "reason": reason,
            },
        )
        event = consent_event_build(
            consumer=state.consumer,
            purpose=purpose,
            platform=state.platform,
            action=ConsentEvent.EXPIRE,
            channel="system",
            language=state.last_event.language if state.last_event_id else settings.LANGUAGE_CODE,
            notice_digest="",
            moment=moment,
            supersedes=state.last_event.receipt_id if state.last_event_id else None,
            reason=reason,
            ended_because=ended_because,
            receipt_id=receipt_id,
            audit_event=audited,
        )
        event.save(force_insert=True)
        ConsentState.objects.filter(pk=state.pk).update(granted=False, last_event=event, updated_at=moment)
        consent_withdrawn.send(
            sender=ConsentEvent,
            consumer_id=state.consumer_id,
            purpose_code=purpose.code,
            platform_id=state.platform_id,
            reason=reason,
            receipt_id=event.receipt_id,
            language=event.language,
        )
    return len(states)
