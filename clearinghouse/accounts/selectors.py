from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef
from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Credential, Manufacturer, ManufacturerStaff, Platform, PlatformLink
from clearinghouse.core.actors import Actor

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
    kind = PREFIXES[prefix]
    # What deciding the request's actor needs comes with the credential, in the same round
    # trip: the party, or the user with their consumer row and whether they are an officer
    # (api.actors.request_actor would otherwise ask twice more; issue 15, docs/audit.md §8).
    related = {Credential.KIND_CONSUMER: ("user", "user__consumer"), Credential.KIND_PLATFORM: ("platform",)}
    credential = (
        Credential.objects.select_related(*related.get(kind, ("manufacturer",)))
        .annotate(
            user_is_officer=Exists(User.groups.through.objects.filter(user_id=OuterRef("user_id"), group__name=settings.COMPLIANCE_GROUP))
        )
        .filter(key_id=key_id, kind=kind, revoked_at__isnull=True)
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


def user_by_username(*, username: str) -> User | None:
    """The user with this username, compared case-insensitively. Should an old pair that
    differs only in case still exist (``manage.py usernames_duplicates`` reports them), the
    exact spelling wins and otherwise nobody does."""
    exact = User.objects.filter(username=username).first()
    if exact is not None:
        return exact
    matches = list(User.objects.filter(username__iexact=username)[:2])
    return matches[0] if len(matches) == 1 else None


def manufacturer_of_staff(*, user) -> Manufacturer | None:
    """The manufacturer a logged-in person works for, or None for anyone else (a consumer,
    an officer, an operator's account)."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    staff = ManufacturerStaff.objects.select_related("manufacturer").filter(user_id=user.pk).first()
    return staff.manufacturer if staff is not None else None


def staff_actor(*, user, manufacturer: Manufacturer) -> Actor:
    """How the audit log names a staff member acting in the workbench: the manufacturer's
    kind, with the manufacturer and the person's user id (never a username)."""
    named = f"{manufacturer.slug}/staff:{user.pk}"
    return Actor(kind="manufacturer", id=named if len(named) <= 64 else f"staff:{user.pk}")
