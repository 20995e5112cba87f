"""Passkeys (WebAuthn) for logging in without a password, with the maintained ``webauthn``
library. Passkeys are discoverable credentials: the login page asks for no username, the
authenticator offers the person's passkey and the credential id leads to the account.

The relying party id and origin come from the caller (the portal derives them from the
request's host, which ALLOWED_HOSTS has vetted, or from CH_WEBAUTHN_RP_ID). The one-time
challenge is kept by the caller (the portal's server-side session) between the two steps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidJSONStructure, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from clearinghouse.accounts.models import Consumer, Passkey
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append, audit_record
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import derived_key
from clearinghouse.core.errors import Invalid, NotFound

MAX_PASSKEYS = 10


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origin: str


def _user_handle(user: User) -> bytes:
    # Stable per account, meaningless outside this service, carries no username.
    return hmac.new(derived_key("webauthn-user-handle"), str(user.pk).encode(), hashlib.sha256).digest()


def _actor(consumer: Consumer) -> Actor:
    return Actor(kind="consumer", id=str(consumer.pseudonym))


def passkey_registration_begin(*, consumer: Consumer, rp: RelyingParty) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.create`` (JSON) and the challenge to keep."""
    user = consumer.user
    if user is None:
        raise NotFound()
    existing = [PublicKeyCredentialDescriptor(id=bytes(key.credential_id)) for key in Passkey.objects.filter(user=user)]
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=_user_handle(user),
        user_name=user.get_username(),
        user_display_name=user.get_username(),
        exclude_credentials=existing,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return options_to_json(options), options.challenge


def _refuse(*, consumer: Consumer | None, step: str, reason: str) -> Invalid:
    audit_record(
        actor=_actor(consumer) if consumer is not None else Actor.anonymous(),
        action=AuditAction.AUTH_PASSKEY_REFUSED,
        target=f"consumer:{consumer.pseudonym}" if consumer is not None else "",
        outcome="denied",
        details={"step": step, "reason": reason},
    )
    return Invalid("The passkey was not accepted.", code="passkey_refused")


def passkey_registration_finish(*, consumer: Consumer, rp: RelyingParty, challenge: bytes, credential: str, name: str) -> Passkey:
    user = consumer.user
    if user is None:
        raise NotFound()
    if Passkey.objects.filter(user=user).count() >= MAX_PASSKEYS:
        raise _refuse(consumer=consumer, step="register", reason="too_many")
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id, expected_origin=rp.origin
        )
    except (InvalidRegistrationResponse, InvalidJSONStructure, ValueError, KeyError, TypeError):
        raise _refuse(consumer=consumer, step="register", reason="invalid_response") from None
    if Passkey.objects.filter(credential_id=verified.credential_id).exists():
        raise _refuse(consumer=consumer, step="register", reason="already_registered")
    label = (name or "").strip()[:64] or timezone.localtime().strftime("%Y-%m-%d %H:%M")
    with transaction.atomic():
        passkey = Passkey.objects.create(
            user=user,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=label,
        )
        audit_append(
            actor=_actor(consumer),
            action=AuditAction.AUTH_PASSKEY_ADDED,
            target=f"consumer:{consumer.pseudonym}",
            details={"passkey": passkey.pk, "user_verified": verified.user_verified},
        )
    return passkey


def passkey_login_begin(*, rp: RelyingParty) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.get`` with no allow-list: the authenticator
    offers whichever passkey the person has for this site."""
    options = generate_authentication_options(rp_id=rp.id, user_verification=UserVerificationRequirement.PREFERRED)
    return options_to_json(options), options.challenge


def passkey_login_finish(*, rp: RelyingParty, challenge: bytes, credential: str) -> User:
    """The account whose passkey signed the challenge; refused (audited, nothing named)
    for an unknown passkey, a bad signature, or an erased account."""
    try:
        parsed = parse_authentication_credential_json(credential)
    except (InvalidJSONStructure, ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise _refuse(consumer=None, step="login", reason="malformed") from None
    passkey = Passkey.objects.select_related("user").filter(credential_id=parsed.raw_id).first()
    consumer = Consumer.objects.filter(user=passkey.user, erased_at__isnull=True).first() if passkey else None
    if passkey is None or consumer is None or not passkey.user.is_active:
        raise _refuse(consumer=None, step="login", reason="unknown_passkey")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
        )
    except (InvalidAuthenticationResponse, InvalidJSONStructure, ValueError, KeyError, TypeError):
        raise _refuse(consumer=consumer, step="login", reason="invalid_signature") from None
    with transaction.atomic():
        Passkey.objects.filter(pk=passkey.pk).update(sign_count=verified.new_sign_count, last_used_at=timezone.now())
        audit_append(
            actor=_actor(consumer),
            action=AuditAction.AUTH_PASSKEY_LOGIN,
            target=f"consumer:{consumer.pseudonym}",
            details={"passkey": passkey.pk, "user_verified": verified.user_verified},
        )
    return passkey.user


def passkeys_list(*, user: User) -> list[Passkey]:
    return list(Passkey.objects.filter(user=user).order_by("created_at"))


def passkey_delete(*, consumer: Consumer, passkey_id: int) -> None:
    with transaction.atomic():
        deleted, _ = Passkey.objects.filter(user=consumer.user, pk=passkey_id).delete()
        if not deleted:
            raise NotFound()
        audit_append(
            actor=_actor(consumer),
            action=AuditAction.AUTH_PASSKEY_REMOVED,
            target=f"consumer:{consumer.pseudonym}",
            details={"passkey": passkey_id},
        )
