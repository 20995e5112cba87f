"""Getting back into an account without personal data: one-time recovery codes and a
password change. The service holds no phone number or e-mail address, so a person who
forgets the password proves who they are with a code they printed or saved (or a passkey,
see ``passkeys.py``).

Codes are 12 characters from an unambiguous alphabet (about 59 bits), shown once. Only a
keyed hash is stored: HMAC-SHA256 under a key derived from the master key, so a copy of
the database alone cannot test guesses. Each code works once; issuing a new set deletes
the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clearinghouse.accounts.models import Consumer, Credential, RecoveryCode
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append, audit_record
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import derived_key
from clearinghouse.core.errors import Invalid

RECOVERY_CODE_COUNT = 10
_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
_GROUP, _GROUPS = 4, 3


def recovery_code_normalise(code: str) -> str:
    """What a person typed, as it is hashed: capitals, without spaces or dashes."""
    return "".join(ch for ch in str(code).upper() if ch.isascii() and ch.isalnum())


def _code_hash(*, user_id: int, code: str) -> str:
    message = f"{user_id}:{recovery_code_normalise(code)}".encode()
    return hmac.new(derived_key("recovery-codes"), message, hashlib.sha256).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUP * _GROUPS))
    return "-".join(raw[i : i + _GROUP] for i in range(0, len(raw), _GROUP))


def _consumer_actor(consumer: Consumer) -> Actor:
    return Actor(kind="consumer", id=str(consumer.pseudonym))


def _live_consumer(user: User | None) -> Consumer | None:
    if user is None or not user.is_active:
        return None
    return Consumer.objects.filter(user=user, erased_at__isnull=True).first()


def recovery_codes_issue(*, consumer: Consumer, channel: str = "portal") -> list[str]:
    """A fresh set of recovery codes for this person, returned once in clear; every code
    of the previous set stops working in the same transaction."""
    user = consumer.user
    if user is None:
        raise Invalid("this account has been erased", code="erased")
    codes = [_new_code() for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        replaced, _ = RecoveryCode.objects.filter(user=user).delete()
        RecoveryCode.objects.bulk_create([RecoveryCode(user=user, code_hash=_code_hash(user_id=user.pk, code=code)) for code in codes])
        audit_append(
            actor=_consumer_actor(consumer),
            action=AuditAction.AUTH_RECOVERY_CODES_ISSUED,
            target=f"consumer:{consumer.pseudonym}",
            details={"channel": channel, "codes": len(codes), "replaced": replaced},
        )
    return codes


def recovery_codes_left(*, user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def _password_check(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise Invalid(f"password: {' '.join(exc.messages)}", code="weak_password", details={"field": "new_password"}) from None


def _password_set(*, user: User, password: str) -> int:
    """Set the password and revoke the person's API tokens (whoever held the old password
    may have made one). Django's session hash changes with the password, so every other
    logged-in browser is logged out too. Returns how many tokens were revoked."""
    user.set_password(password)
    user.save(update_fields=["password"])
    return Credential.objects.filter(user=user, kind=Credential.KIND_CONSUMER, revoked_at__isnull=True).update(revoked_at=timezone.now())


def recovery_code_redeem(*, username: str, code: str, new_password: str, channel: str = "portal") -> User:
    """Set a new password for ``username`` with one of its unused recovery codes. The code
    is spent only if everything else is in order; a refusal is audited without the
    username or the code, and says no more than "not right" (whether the username exists
    stays unknown)."""
    user = User.objects.filter(username=username).first() if isinstance(username, str) and username else None
    consumer = _live_consumer(user)
    if user is not None and consumer is not None:
        _password_check(new_password, user)
        with transaction.atomic():
            spent = RecoveryCode.objects.filter(user=user, code_hash=_code_hash(user_id=user.pk, code=code), used_at__isnull=True).update(
                used_at=timezone.now()
            )
            if spent == 1:
                revoked = _password_set(user=user, password=new_password)
                audit_append(
                    actor=_consumer_actor(consumer),
                    action=AuditAction.AUTH_RECOVERY_USED,
                    target=f"consumer:{consumer.pseudonym}",
                    details={"channel": channel, "codes_left": recovery_codes_left(user=user), "tokens_revoked": revoked},
                )
                return user
    audit_record(
        actor=Actor.anonymous(),
        action=AuditAction.AUTH_RECOVERY_REFUSED,
        outcome="denied",
        details={"channel": channel, "reason": "invalid_code"},
    )
    raise Invalid("The username or recovery code is not right.", code="invalid_recovery_code")


def password_change(*, consumer: Consumer, new_password: str, proof: str, channel: str = "portal") -> User:
    """Change a logged-in person's password. ``proof`` says how they showed it is them
    (``password``: the current one, checked by the caller; ``passkey``: a passkey login
    moments ago) and goes into the audit event."""
    user = consumer.user
    if user is None:
        raise Invalid("this account has been erased", code="erased")
    _password_check(new_password, user)
    with transaction.atomic():
        revoked = _password_set(user=user, password=new_password)
        audit_append(
            actor=_consumer_actor(consumer),
            action=AuditAction.AUTH_PASSWORD_CHANGED,
            target=f"consumer:{consumer.pseudonym}",
            details={"channel": channel, "proof": proof, "tokens_revoked": revoked},
        )
    return user


def password_change_refuse(*, consumer: Consumer, reason: str, channel: str = "portal") -> None:
    audit_record(
        actor=_consumer_actor(consumer),
        action=AuditAction.AUTH_PASSWORD_CHANGE_REFUSED,
        target=f"consumer:{consumer.pseudonym}",
        outcome="denied",
        details={"channel": channel, "reason": reason},
    )
