"""What the clearinghouse holds about one person, gathered from every app that holds it."""

from __future__ import annotations

from django.utils import timezone

from clearinghouse.accounts.models import Consumer
from clearinghouse.accounts.selectors import consumer_links_list
from clearinghouse.consent.selectors import consent_events_list, consent_states_list
from clearinghouse.intake.selectors import consumer_intake_export
from clearinghouse.releases.selectors import privacy_ledger_export

# --- Export (GET /api/v1/me/export, the portal's download) ------------------------------

EXPORT_FORMAT = "clearinghouse-export/1"


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def consumer_export(*, consumer: Consumer) -> dict:
    """Everything the clearinghouse holds about one person, as JSON-ready values.

    Links show the platform and when, never the subject pseudonym: it is a key derived
    for that platform, not information about the person.
    """
    user = consumer.user
    export = {
        "format": EXPORT_FORMAT,
        "generated_at": timezone.now().isoformat(),
        "account": {
            "pseudonym": str(consumer.pseudonym),
            "username": user.username if user is not None else None,
            "created_at": _iso(consumer.created_at),
            "age_confirmed_at": _iso(consumer.age_confirmed_at),
            "erased_at": _iso(consumer.erased_at),
        },
        "consents": [
            {
                "purpose": state.purpose_code,
                "version": state.version,
                "platform": state.platform.slug,
                "granted": state.granted,
                "updated_at": _iso(state.updated_at),
                "receipt_id": str(state.last_event.receipt_id),
            }
            for state in consent_states_list(consumer=consumer)
        ],
        "consent_history": [
            {
                "receipt_id": str(event.receipt_id),
                "purpose": event.purpose.code,
                "version": event.purpose.version,
                "platform": event.platform.slug,
                "action": event.action,
                "channel": event.channel,
                "created_at": _iso(event.created_at),
                "receipt": event.receipt,
            }
            for event in consent_events_list(consumer=consumer)
        ],
        "links": [
            {"platform": link.platform.slug, "platform_name": link.platform.name, "linked_at": _iso(link.created_at)}
            for link in consumer_links_list(consumer=consumer)
        ],
    }
    for section in (consumer_intake_export(consumer=consumer), privacy_ledger_export(consumer=consumer)):
        for key, value in section.items():
            if key in export:
                raise RuntimeError(f"export section {key!r} is provided twice")
            export[key] = value
    return export
