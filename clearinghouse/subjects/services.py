"""Data-subject rights that span the apps: erasing a person and issuing their export."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Credential, LinkCode, PlatformLink
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append
from clearinghouse.consent.models import ConsentState
from clearinghouse.consent.services import ConsentRequest, consent_change
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import NotFound
from clearinghouse.intake.erasure import consumer_signals_erase
from clearinghouse.subjects.selectors import consumer_export

# --- Account deletion and export --------------------------------------------------------


def consumer_erase(*, consumer: Consumer, actor: Actor, channel: str = "api", language: str = "") -> dict:
    """Erase a person: their signals,
    platform links and link codes; withdraw every consent still granted; delete the Django
    user with its credentials. The Consumer row stays as a bare pseudonym so that the
    consent ledger and the audit log, which never held personal data, remain intact.
    Returns the counts and the signed erasure certificate (in ``language``), which the
    person can keep: once this returns, nothing can log in to fetch it again.
    """
    with transaction.atomic():
        consumer = Consumer.objects.select_for_update(of=("self",)).select_related("user").get(pk=consumer.pk)
        if consumer.erased_at is not None:
            raise NotFound()
        subject = str(consumer.pseudonym)
        # Marked first: intake's withdrawal receiver sees an account being deleted and
        # leaves the erasure to this transaction.
        consumer.erased_at = timezone.now()
        consumer.save(update_fields=["erased_at"])
        # Signals first, right after the consumer row is locked and before anything else is
        # written: intake's lock ranks below the audit chain's.
        erased = consumer_signals_erase(consumer=consumer, language=language)
        certificate = erased["certificate"]
        counts: dict[str, int] = {"signals": erased["signals"]}
        withdrawn = 0
        for state in ConsentState.objects.granted().filter(consumer=consumer).select_related("platform"):
            consent_change(
                consumer=consumer,
                request=ConsentRequest(purpose_code=state.purpose_code, platform_slug=state.platform.slug, action="withdraw"),
                channel=channel,
                actor=actor,
            )
            withdrawn += 1
        links, _ = PlatformLink.objects.filter(consumer=consumer).delete()
        codes, _ = LinkCode.objects.filter(consumer=consumer).delete()
        credentials = 0
        user = consumer.user
        if user is not None:
            credentials = Credential.objects.filter(user=user).count()
            consumer.user = None
            consumer.save(update_fields=["user"])
            user.delete()
        counts.update({"links": links, "link_codes": codes, "consents_withdrawn": withdrawn, "credentials": credentials})
        audit_append(actor=actor, action=AuditAction.CONSUMER_ERASED, target=f"consumer:{subject}", details={"channel": channel, **counts})
        audit_append(
            actor=actor,
            action=AuditAction.ERASURE_COMPLETED,
            target=f"consumer:{subject}",
            details={
                "reason": "account_deletion",
                "subject": subject,
                **counts,
                "certificate_id": certificate["payload"]["certificate_id"],
            },
        )
    return {"subject": subject, "erased_at": consumer.erased_at.isoformat(), **counts, "certificate": certificate}


def consumer_export_issue(*, consumer: Consumer, actor: Actor, channel: str = "api") -> dict:
    """The export (subjects.selectors.consumer_export), audited as ``export.completed``."""
    with transaction.atomic():
        export = consumer_export(consumer=consumer)
        sizes = {key: len(value) for key, value in export.items() if isinstance(value, list)}
        audit_append(
            actor=actor,
            action=AuditAction.EXPORT_COMPLETED,
            target=f"consumer:{consumer.pseudonym}",
            details={"channel": channel, "format": export["format"], "items": sizes},
        )
    return export
