from __future__ import annotations

import hashlib
import hmac

from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Credential, Platform, PlatformLink

PREFIXES = {"chc": Credential.KIND_CONSUMER, "chp": Credential.KIND_PLATFORM, "chm": Credential.KIND_MANUFACTURER}


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def credential_authenticate(*, token: str) -> Credential | None:
    """The live credential for a bearer token, or None. Revocation takes effect at once:
    every request reads the credential row; nothing is cached."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] not in PREFIXES:
        return None
    prefix, key_id, secret = parts
    credential = (
        Credential.objects.select_related("user", "platform", "manufacturer")
        .filter(key_id=key_id, kind=PREFIXES[prefix], revoked_at__isnull=True)
        .first()
    )
    if credential is None:
        # Hash anyway so that an unknown key id costs the same as a wrong secret.
        hmac.compare_digest(secret_hash(secret), "0" * 64)
        return None
    if not hmac.compare_digest(secret_hash(secret), credential.secret_hash):
        return None
    if credential.expires_at is not None and credential.expires_at <= timezone.now():
        return None
    return credential


def consumer_for_user(*, user) -> Consumer | None:
    return Consumer.objects.filter(user=user, erased_at__isnull=True).first()


def platform_get(*, slug: str) -> Platform | None:
    return Platform.objects.filter(slug=slug).first()


def consumer_links_list(*, consumer: Consumer) -> list[PlatformLink]:
    return list(PlatformLink.objects.filter(consumer=consumer).select_related("platform").order_by("platform__slug"))


def platform_link_for_subject(*, platform: Platform, subject_pseudonym: str) -> PlatformLink | None:
    return (
        PlatformLink.objects.select_related("consumer")
        .filter(platform=platform, subject_pseudonym=subject_pseudonym, consumer__erased_at__isnull=True)
        .first()
    )


# --- Export (GET /api/v1/me/export, the portal's download) ------------------------------

# Callables ``fn(*, consumer) -> dict[str, Any]`` adding sections to a consumer's export
# (e.g. intake's signals, the release engine's privacy ledger). Registered from
# AppConfig.ready; each returns JSON-ready values under keys of its own.
EXPORT_SECTIONS: list = []
EXPORT_FORMAT = "clearinghouse-export/1"


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def consumer_export(*, consumer: Consumer) -> dict:
    """Everything the clearinghouse holds about one person, as JSON-ready values.

    Links show the platform and when, never the subject pseudonym: it is a key derived
    for that platform, not information about the person.
    """
    from django.utils import timezone

    from consent.selectors import consent_events_list, consent_states_list

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
    for section in EXPORT_SECTIONS:
        for key, value in section(consumer=consumer).items():
            if key in export:
                raise RuntimeError(f"export section {key!r} is provided twice")
            export[key] = value
    return export
