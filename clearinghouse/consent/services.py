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
from clearinghouse.audit.services import audit_append
from clearinghouse.consent.models import ConsentEvent, ConsentState, Purpose
from clearinghouse.consent.purposes import LAWFUL_BASES
from clearinghouse.consent.signals import consent_withdrawn
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import signer_get
from clearinghouse.core.errors import Conflict, DomainError, Invalid

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
) -> dict[str, Any]:
    controller = settings.CH_CONTROLLER
    return {
        "receipt_id": str(receipt_id),
        "schema_version": RECEIPT_SCHEMA,
        "jurisdiction": controller["jurisdiction"],
        "controller": {"name": controller["name"], "contact": controller["contact"]},
        "issued_at": moment.isoformat(),
        "language": language,
        "subject": {"pseudonym": str(consumer.pseudonym)},
        "purpose": {
            "code": purpose.code,
            "version": purpose.version,
            "title": purpose.title[language],
            "legitimate_interest": purpose.legitimate_interest[language],
        },
        "lawful_basis": {"code": purpose.lawful_basis, "reference": LAWFUL_BASES[purpose.lawful_basis]},
        "data_categories": purpose.fields,
        "recipients": {
            "description": "manufacturers in these sectors, receiving only differentially private aggregates",
            "sectors": purpose.recipient_sectors,
        },
        "retention_days": purpose.retention_days,
        "collection_platform": platform.slug,
        "state": "granted" if action == ConsentEvent.GRANT else "withdrawn",
        "channel": channel,
        "notice_digest": {"algorithm": "sha-256", "value": notice_digest},
        "withdrawal_method": "One action at any time: the portal's dashboard switch, or POST /api/v1/me/consents with action=withdraw.",
        "supersedes": str(supersedes) if supersedes else None,
    }


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
) -> ConsentEvent:
    """An unsaved event with its signed receipt. consent_change saves one under the
    consumer's lock; seed_demo bulk-creates many (and keeps ConsentState in step itself)."""
    receipt_id = uuid.uuid4()
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
        purpose, notice_digest = current, request.notice_digest
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
        )
        event.save(force_insert=True)
        granted = request.action == ConsentEvent.GRANT
        # Under the consumer's row lock, so the read above and this write cannot interleave.
        ConsentState.objects.update_or_create(
            consumer=consumer,
            purpose_code=purpose.code,
            platform=platform,
            defaults={"version": purpose.version, "granted": granted, "last_event": event, "updated_at": moment},
        )
        audit_append(
            actor=actor,
            action=AuditAction.CONSENT_GRANTED if granted else AuditAction.CONSENT_WITHDRAWN,
            target=target,
            details={
                "subject": str(consumer.pseudonym),
                "purpose_version": purpose.version,
                "receipt_id": str(event.receipt_id),
                "channel": channel,
            },
        )
        if not granted:
            consent_withdrawn.send(sender=ConsentEvent, consumer_id=consumer.pk, purpose_code=purpose.code, platform_id=platform.pk)
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
