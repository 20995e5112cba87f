from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clearinghouse.accounts.lockout import login_attempt, signup_probe_check, signup_taken_record
from clearinghouse.accounts.models import Consumer, Credential, LinkCode, Manufacturer, ManufacturerStaff, Platform, PlatformLink
from clearinghouse.accounts.power import acting_as
from clearinghouse.accounts.pseudonyms import subject_pseudonym
from clearinghouse.accounts.selectors import secret_hash
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append, audit_record
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import sha256_hex
from clearinghouse.core.errors import Conflict, Gone, Invalid, NotFound

_PREFIX = {Credential.KIND_CONSUMER: "chc", Credential.KIND_PLATFORM: "chp", Credential.KIND_MANUFACTURER: "chm"}
_KEY_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
# Crockford-style: no I, L, O, U, so a code read aloud or typed is unambiguous.
_LINK_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def _new_key_id() -> str:
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(12))


def credential_issue(*, kind: str, expires_at: datetime | None = None, **owner) -> str:
    secret = secrets.token_urlsafe(32)
    key_id = _new_key_id()
    Credential.objects.create(kind=kind, key_id=key_id, secret_hash=secret_hash(secret), expires_at=expires_at, **owner)
    return f"{_PREFIX[kind]}_{key_id}_{secret}"


# --- Consumers and officers -------------------------------------------------------------


def _validate_new_user(username: str, password: str) -> None:
    if not isinstance(username, str) or not 3 <= len(username) <= 150:
        raise Invalid("username: must be 3 to 150 characters", details={"field": "username"})
    try:
        User.username_validator(username)
    except ValidationError:
        raise Invalid("username: may contain only letters, digits and @ . + - _", details={"field": "username"}) from None
    if not isinstance(password, str):
        raise Invalid("password: required", details={"field": "password"})
    try:
        password_validation.validate_password(password, User(username=username))
    except ValidationError as exc:
        raise Invalid(f"password: {' '.join(exc.messages)}", details={"field": "password"}) from None


def consumer_register(*, username: str, password: str, age_confirmed: bool, channel: str, address: str = "") -> tuple[Consumer, str | None]:
    """Create a consumer account. PIPL Art. 31 needs a guardian's consent under 14, which
    we cannot collect, so the person must confirm they are 14 or older.

    Usernames are unique case-insensitively. "Taken" tells the caller something about
    another person, so it is told at most CH_SIGNUP_TAKEN_PER_ADDRESS times per window to
    one address (then 429), and costs the same password hash as a sign-up that succeeds."""
    signup_probe_check(address=address)
    if age_confirmed is not True:
        raise Invalid(
            "age_confirmed: you must confirm you are 14 or older (PIPL Art. 31); younger people need a guardian's consent",
            code="age_not_confirmed",
            details={"field": "age_confirmed"},
        )
    _validate_new_user(username, password)
    hashed = make_password(password)
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                raise IntegrityError("username taken (case-insensitively)")
            user = User.objects.create(username=username, password=hashed)
            consumer = Consumer.objects.create(user=user, age_confirmed_at=timezone.now())
            token = consumer_token_issue(user=user) if channel == "api" else None
            audit_append(
                actor=Actor(kind="consumer", id=str(consumer.pseudonym)),
                action=AuditAction.CONSUMER_REGISTERED,
                target=f"consumer:{consumer.pseudonym}",
                details={"channel": channel},
            )
    except IntegrityError:
        signup_taken_record(address=address)
        audit_record(
            actor=Actor.anonymous(),
            action=AuditAction.SIGNUP_REFUSED,
            outcome="denied",
            details={"channel": channel, "reason": "username_taken"},
        )
        raise Conflict("username: this username is taken", code="username_taken", details={"field": "username"}) from None
    return consumer, token


def consumer_token_issue(*, user: User) -> str:
    return credential_issue(kind=Credential.KIND_CONSUMER, user=user, expires_at=timezone.now() + settings.CONSUMER_TOKEN_TTL)


def consumer_token_obtain(*, username: str, password: str, address: str = "") -> str:
    """Exchange a username and password for a bearer token (consumers and officers), under
    the lockout policy every door shares (accounts.lockout): 429 while locked."""
    user = login_attempt(username=username, password=password, address=address, channel="api")
    if user is None:
        raise Invalid("Unknown username or wrong password.", code="invalid_credentials")
    consumer = Consumer.objects.filter(user=user, erased_at__isnull=True).first()
    is_officer = user.groups.filter(name=settings.COMPLIANCE_GROUP).exists()
    if is_officer:
        actor = Actor(kind="compliance", id=f"officer:{user.pk}")
    elif consumer is not None:
        actor = Actor(kind="consumer", id=str(consumer.pseudonym))
    else:
        audit_record(actor=Actor.anonymous(), action=AuditAction.AUTH_TOKEN_REFUSED, outcome="denied", details={"reason": "no_api_role"})
        raise Invalid("Unknown username or wrong password.", code="invalid_credentials")
    with transaction.atomic():
        token = consumer_token_issue(user=user)
        audit_append(actor=actor, action=AuditAction.AUTH_TOKEN_ISSUED, target=f"{actor.kind}:{actor.id}")
    return token


def compliance_officer_create(*, username: str, password: str, actor: Actor) -> User:
    _validate_new_user(username, password)
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                raise IntegrityError("username taken (case-insensitively)")
            user = User.objects.create_user(username=username, password=password)
            group, _ = Group.objects.get_or_create(name=settings.COMPLIANCE_GROUP)
            with acting_as(actor, groups=True):
                user.groups.add(group)
            audit_append(actor=actor, action=AuditAction.COMPLIANCE_OFFICER_CREATED, target=f"officer:{user.pk}")
    except IntegrityError:
        raise Conflict(f"username {username!r} is taken", code="username_taken") from None
    return user


def manufacturer_user_create(*, manufacturer_slug: str, username: str, password: str, actor: Actor) -> User:
    """A person who uses the web workbench for one manufacturer: a Django user with a
    password (under the one lockout at login), never a consumer, an officer or an API
    actor. The manufacturer's API key is not touched."""
    manufacturer = Manufacturer.objects.filter(slug=manufacturer_slug).first()
    if manufacturer is None:
        raise NotFound(f"no manufacturer {manufacturer_slug!r}", details={"field": "manufacturer"})
    _validate_new_user(username, password)
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                raise IntegrityError("username taken (case-insensitively)")
            user = User.objects.create_user(username=username, password=password)
            ManufacturerStaff.objects.create(user=user, manufacturer=manufacturer)
            audit_append(
                actor=actor,
                action=AuditAction.MANUFACTURER_STAFF_CREATED,
                target=f"user:{user.pk}",
                details={"manufacturer": manufacturer.slug},
            )
    except IntegrityError:
        raise Conflict(f"username {username!r} is taken", code="username_taken") from None
    return user


# --- Platforms and manufacturers --------------------------------------------------------


@dataclass(frozen=True)
class Party:
    kind: str
    obj: Platform | Manufacturer


def party_get(*, slug: str) -> Party:
    platform = Platform.objects.filter(slug=slug).first()
    if platform is not None:
        return Party(Credential.KIND_PLATFORM, platform)
    manufacturer = Manufacturer.objects.filter(slug=slug).first()
    if manufacturer is not None:
        return Party(Credential.KIND_MANUFACTURER, manufacturer)
    raise NotFound(f"no platform or manufacturer {slug!r}")


def party_slug_check(*, slug: str, name: str) -> None:
    if not isinstance(slug, str) or not slug or len(slug) > 64 or not all(c.isalnum() or c in "-_" for c in slug) or not slug.isascii():
        raise Invalid(f"slug {slug!r} must be ASCII letters, digits, '-' or '_' (at most 64)", details={"field": "slug"})
    if not name or len(name) > 200:
        raise Invalid("name must be 1 to 200 characters", details={"field": "name"})
    # Slugs are one namespace so that rotate_key SLUG can never hit the wrong party.
    if Platform.objects.filter(slug=slug).exists() or Manufacturer.objects.filter(slug=slug).exists():
        raise Conflict(f"slug {slug!r} is already registered", code="slug_taken", details={"field": "slug"})


def platform_register(*, slug: str, name: str, actor: Actor) -> tuple[Platform, str]:
    party_slug_check(slug=slug, name=name)
    with transaction.atomic():
        platform = Platform.objects.create(slug=slug, name=name)
        key = credential_issue(kind=Credential.KIND_PLATFORM, platform=platform)
        audit_append(actor=actor, action=AuditAction.PLATFORM_REGISTERED, target=f"platform:{slug}")
    return platform, key


def party_key_revoke(*, slug: str, actor: Actor) -> int:
    party = party_get(slug=slug)
    with transaction.atomic():
        revoked = Credential.objects.filter(kind=party.kind, revoked_at__isnull=True, **{party.kind: party.obj}).update(
            revoked_at=timezone.now()
        )
        audit_append(actor=actor, action=AuditAction.CREDENTIAL_REVOKED, target=f"{party.kind}:{slug}", details={"keys_revoked": revoked})
    return revoked


def party_key_rotate(*, slug: str, actor: Actor) -> str:
    """Revoke every live key of the party and issue one new key, atomically."""
    party = party_get(slug=slug)
    with transaction.atomic():
        revoked = Credential.objects.filter(kind=party.kind, revoked_at__isnull=True, **{party.kind: party.obj}).update(
            revoked_at=timezone.now()
        )
        # Party keys do not expire; saying so keeps the checker from matching the owner mapping to expires_at.
        key = credential_issue(kind=party.kind, expires_at=None, **{party.kind: party.obj})
        audit_append(actor=actor, action=AuditAction.CREDENTIAL_ROTATED, target=f"{party.kind}:{slug}", details={"keys_revoked": revoked})
    return key


# --- Platform links ---------------------------------------------------------------------


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def link_code_issue(*, consumer: Consumer, platform_slug: str, actor: Actor) -> tuple[str, datetime]:
    platform = Platform.objects.filter(slug=platform_slug).first()
    if platform is None:
        raise Invalid(f"platform: no platform {platform_slug!r}", code="unknown_platform", details={"field": "platform"})
    raw = "".join(secrets.choice(_LINK_CODE_ALPHABET) for _ in range(10))
    expires_at = timezone.now() + settings.LINK_CODE_TTL
    with transaction.atomic():
        # Serialises two requests of the same person, so that at most one code of theirs for
        # this platform is ever valid: a code seen over someone's shoulder, or left in an old
        # tab, stops working as soon as a newer one exists.
        Consumer.objects.select_for_update().filter(pk=consumer.pk).first()
        superseded, _ = LinkCode.objects.filter(consumer=consumer, platform=platform, used_at__isnull=True).delete()
        LinkCode.objects.create(code_hash=sha256_hex(raw.encode()), consumer=consumer, platform=platform, expires_at=expires_at)
        audit_append(
            actor=actor,
            action=AuditAction.LINK_CODE_ISSUED,
            target=f"platform:{platform.slug}",
            details={"subject": str(consumer.pseudonym), "superseded": superseded},
        )
    return f"{raw[:5]}-{raw[5:]}", expires_at


# One message for a code that does not exist and a code of another platform: they must
# be indistinguishable, yet a person typing a code deserves more than "Not found."
_UNKNOWN_CODE = "Unknown link code: check it with the person, or ask them for a new one."


def platform_link_redeem(*, platform: Platform, code: str, subject_ref: str, actor: Actor) -> PlatformLink:
    """Bind the platform's own subject reference to the consumer who issued ``code``.

    Only the per-platform HMAC of ``subject_ref`` is stored. A code issued for another
    platform answers exactly like a code that does not exist (404), and is audited as a
    blocked cross-platform access because the intent is visible.
    """
    if not isinstance(subject_ref, str) or not 1 <= len(subject_ref) <= 256:
        raise Invalid("subject_ref: must be 1 to 256 characters", details={"field": "subject_ref"})
    if not isinstance(code, str) or not code:
        raise Invalid("code: required", details={"field": "code"})
    code_hash = sha256_hex(_normalise_code(code).encode())
    target = f"platform:{platform.slug}"
    refusal: Exception | None = None
    link = None
    with transaction.atomic():
        link_code = LinkCode.objects.select_for_update().select_related("consumer", "platform").filter(code_hash=code_hash).first()
        now = timezone.now()
        if link_code is None or link_code.consumer.erased_at is not None:
            audit_append(actor=actor, action=AuditAction.LINK_REFUSED, target=target, outcome="denied", details={"reason": "unknown_code"})
            refusal = NotFound(_UNKNOWN_CODE)
        elif link_code.platform_id != platform.id:
            audit_append(
                actor=actor,
                action=AuditAction.PLATFORM_CROSS_ACCESS_BLOCKED,
                target=target,
                outcome="denied",
                details={"reason": "link code issued for another platform", "code_platform": link_code.platform.slug},
            )
            refusal = NotFound(_UNKNOWN_CODE)
        elif link_code.used_at is not None:
            audit_append(actor=actor, action=AuditAction.LINK_REFUSED, target=target, outcome="denied", details={"reason": "code_used"})
            refusal = Conflict("This link code was already used; ask the person for a new one.", code="link_code_used")
        elif link_code.expires_at <= now:
            audit_append(actor=actor, action=AuditAction.LINK_REFUSED, target=target, outcome="denied", details={"reason": "code_expired"})
            refusal = Gone("This link code has expired; ask the person for a new one.", code="link_code_expired")
        else:
            pseudonym = subject_pseudonym(platform_id=platform.id, subject_ref=subject_ref)
            consumer = link_code.consumer
            taken = PlatformLink.objects.filter(platform=platform, subject_pseudonym=pseudonym).exclude(consumer=consumer).exists()
            if taken:
                audit_append(
                    actor=actor,
                    action=AuditAction.LINK_REFUSED,
                    target=target,
                    outcome="denied",
                    details={"reason": "subject_already_linked"},
                )
                refusal = Conflict("This subject_ref is already linked to another account on your platform.", code="subject_already_linked")
            else:
                link_code.used_at = now
                link_code.save(update_fields=["used_at"])
                link, created = PlatformLink.objects.update_or_create(
                    platform=platform, consumer=consumer, defaults={"subject_pseudonym": pseudonym}
                )
                audit_append(
                    actor=actor,
                    action=AuditAction.LINK_CREATED if created else AuditAction.LINK_REPLACED,
                    target=target,
                    details={"subject": str(consumer.pseudonym)},
                )
    if refusal is not None:
        raise refusal
    assert link is not None  # every branch that did not refuse linked
    return link


def platform_link_delete(*, consumer: Consumer, platform_slug: str | None, actor: Actor) -> int:
    """Unlink one platform (or all). The platform can no longer address the person; consent
    states are left as they are and still shown in the portal."""
    with transaction.atomic():
        links = PlatformLink.objects.filter(consumer=consumer)
        if platform_slug is not None:
            links = links.filter(platform__slug=platform_slug)
        slugs = sorted(links.values_list("platform__slug", flat=True))
        if platform_slug is not None and not slugs:
            raise NotFound()
        deleted, _ = links.delete()
        for slug in slugs:
            audit_append(
                actor=actor, action=AuditAction.LINK_REMOVED, target=f"platform:{slug}", details={"subject": str(consumer.pseudonym)}
            )
    return deleted


def link_codes_purge() -> int:
    """Remove expired or used codes; they are useless and each holds a consumer reference."""
    with transaction.atomic():
        deleted, _ = LinkCode.objects.filter(expires_at__lte=timezone.now()).delete()
        used, _ = LinkCode.objects.filter(used_at__isnull=False).delete()
        if deleted or used:
            audit_append(actor=Actor.system(), action=AuditAction.LINK_CODES_PURGED, details={"expired": deleted, "used": used})
    return deleted + used
