"""One lockout policy for every door a password goes through: the portal's login form,
``POST /api/v1/auth/token``, the admin's login, the manufacturers' workbench login, and the password asked again before an
account is erased (portal and ``DELETE /api/v1/me``).

``login_attempt`` is the only place a password is checked. Counts live in Django's cache
(Redis in production, shared by every web worker), keyed by hashes, never by a username
or an address in clear text:

- **per username** (``CH_LOGIN_FAILURES_PER_USERNAME`` failures within
  ``CH_LOGIN_FAILURE_WINDOW_SECONDS``): the username is locked for one window, at every
  door, whatever address the attempts come from. Usernames are compared case-insensitively,
  and one that does not exist is counted like one that does, so a lock says nothing about
  whether the account exists.
- **per address** (``CH_LOGIN_FAILURES_PER_ADDRESS``): the address is locked for one
  window, except for a username that logged in successfully from that address within
  ``CH_LOGIN_KNOWN_DAYS``. So one client spraying guesses from a shared address (a NAT, a
  proxy not listed in ``CH_TRUSTED_PROXIES``) cannot lock out the people who use it.

A locked attempt is refused *before* the password is hashed, so guessing stops dead and
costs the server nothing; it answers 429 with ``Retry-After``. A compliance officer can
lift a lock early (``login_unlock``; the console's "Sign-in locks" page). Every refusal,
lock and unlock is audited without the username.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.cache import cache

from clearinghouse.accounts.models import Consumer
from clearinghouse.accounts.selectors import user_by_username
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.denials import audit_sampled
from clearinghouse.audit.services import audit_record
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import Invalid, TooManyRequests

# The doors, as the audit log names them.
CHANNELS = frozenset(
    {"portal", "api", "admin", "portal-erase", "api-erase", "portal-recover", "portal-passkey", "portal-password", "workbench"}
)

LOCKED_MESSAGE = "Too many failed attempts: signing in to this account is paused. Try again later."


@dataclass(frozen=True)
class _Keys:
    username_failures: str
    username_lock: str
    address_failures: str | None
    address_lock: str | None
    known: str | None


def _digest(*parts: str) -> str:
    # Hashed so that the cache never holds usernames or addresses in clear text.
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def username_normal(username: str) -> str:
    return username.strip().casefold()


def _keys(*, username: str, address: str) -> _Keys:
    name = _digest("username", username_normal(username))
    place = _digest("address", address) if address else None
    return _Keys(
        username_failures=f"login:failures:username:{name}",
        username_lock=f"login:lock:username:{name}",
        address_failures=f"login:failures:address:{place}" if place else None,
        address_lock=f"login:lock:address:{place}" if place else None,
        known=f"login:known:{_digest('known', username_normal(username), address)}" if place else None,
    )


def user_target(user: User | None) -> str:
    """The audit target for a user: a consumer by pseudonym, anyone else by user id."""
    if user is None:
        return ""
    consumer = Consumer.objects.filter(user=user).first()
    return f"consumer:{consumer.pseudonym}" if consumer is not None else f"user:{user.pk}"


def _lock_state(*, username: str, address: str) -> tuple[int, str] | None:
    """(seconds left, "username" or "address") while locked, else None."""
    keys = _keys(username=username, address=address)
    names = [key for key in (keys.username_lock, keys.address_lock, keys.known) if key]
    found = cache.get_many(names)
    now = time.time()
    by_name = found.get(keys.username_lock) or 0
    by_place = found.get(keys.address_lock) or 0 if keys.address_lock and not found.get(keys.known) else 0
    until = max(by_name, by_place)
    if until <= now:
        return None
    return math.ceil(until - now), "username" if by_name > now else "address"


def login_lock_remaining(*, username: str, address: str) -> int | None:
    """Seconds until this username may try again from this address, or None."""
    state = _lock_state(username=username, address=address)
    return state[0] if state else None


def _failure_count(key: str) -> int:
    window = settings.CH_LOGIN_FAILURE_WINDOW_SECONDS
    # add() starts the window on the first failure; incr() keeps its expiry.
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=window)
        return 1


def _lock(key: str) -> None:
    window = settings.CH_LOGIN_FAILURE_WINDOW_SECONDS
    cache.set(key, time.time() + window, timeout=window)


def _failure_record(*, keys: _Keys, username: str, channel: str) -> None:
    if _failure_count(keys.username_failures) >= settings.CH_LOGIN_FAILURES_PER_USERNAME:
        if not cache.get(keys.username_lock):
            _lock(keys.username_lock)
            audit_record(
                actor=Actor.anonymous(),
                action=AuditAction.AUTH_LOCKED,
                target=user_target(user_by_username(username=username)),
                outcome="denied",
                details={"scope": "username", "channel": channel, "seconds": settings.CH_LOGIN_FAILURE_WINDOW_SECONDS},
            )
    if keys.address_failures and keys.address_lock:
        if _failure_count(keys.address_failures) >= settings.CH_LOGIN_FAILURES_PER_ADDRESS and not cache.get(keys.address_lock):
            _lock(keys.address_lock)
            audit_record(
                actor=Actor.anonymous(),
                action=AuditAction.AUTH_LOCKED,
                outcome="denied",
                details={"scope": "address", "channel": channel, "seconds": settings.CH_LOGIN_FAILURE_WINDOW_SECONDS},
            )


def login_attempt(*, username: str, password: str, address: str, channel: str) -> User | None:
    """Check a password under the lockout policy.

    Returns the user, or None for a wrong password or unknown username (counted, audited).
    Raises ``TooManyRequests`` (429, ``details.retry_after_seconds``) without hashing
    anything while the username, or the address for a username new to it, is locked.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown login channel {channel!r}")
    if not isinstance(username, str) or not isinstance(password, str) or not username.strip():
        audit_record(
            actor=Actor.anonymous(),
            action=AuditAction.AUTH_TOKEN_REFUSED if channel == "api" else AuditAction.AUTH_LOGIN_REFUSED,
            outcome="denied",
            details={"channel": channel, "reason": "invalid_credentials"},
        )
        return None
    state = _lock_state(username=username, address=address)
    if state is not None:
        remaining, scope = state
        # Sampled per lock (audit.denials): a guesser hammering a lock, even with a new
        # username each time, must not flood the log.
        audit_sampled(
            actor=Actor.anonymous(),
            action=AuditAction.AUTH_TOKEN_REFUSED if channel == "api" else AuditAction.AUTH_LOGIN_REFUSED,
            sample_key=_digest("throttled", channel, scope, username_normal(username) if scope == "username" else address),
            details={"channel": channel, "reason": "throttled", "scope": scope},
        )
        raise TooManyRequests(LOCKED_MESSAGE, code="login_locked", details={"retry_after_seconds": remaining})
    keys = _keys(username=username, address=address)
    user = authenticate(username=username, password=password)
    if user is None:
        _failure_record(keys=keys, username=username, channel=channel)
        audit_record(
            actor=Actor.anonymous(),
            action=AuditAction.AUTH_TOKEN_REFUSED if channel == "api" else AuditAction.AUTH_LOGIN_REFUSED,
            outcome="denied",
            details={"channel": channel, "reason": "invalid_credentials"},
        )
        return None
    cache.delete(keys.username_failures)
    if keys.known:
        cache.set(keys.known, 1, timeout=settings.CH_LOGIN_KNOWN_DAYS * 86400)
    return user


def login_failure_count(*, username: str, address: str, channel: str) -> None:
    """A failed proof of identity that is not a password (a recovery code, a passkey): it
    counts towards the same locks as a wrong password, so no other door can be used to
    guess around them."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown login channel {channel!r}")
    _failure_record(keys=_keys(username=username, address=address), username=username, channel=channel)


def login_success_count(*, username: str, address: str) -> None:
    """A proof of identity that is not a password succeeded: forget the username's failures
    and remember the address as known to it, as a successful login does."""
    keys = _keys(username=username, address=address)
    cache.delete(keys.username_failures)
    if keys.known:
        cache.set(keys.known, 1, timeout=settings.CH_LOGIN_KNOWN_DAYS * 86400)


def login_unlock(*, username: str | None, address: str | None, actor: Actor) -> bool:
    """Lift the lock (and forget the failures) of a username or an address. Returns
    whether there was a lock. For compliance officers: someone locked out by another's
    guessing calls, and the officer lets them in again."""
    if actor.kind not in {"compliance", "operator"}:
        raise ValueError("only a compliance officer or an operator may unlock a sign-in")
    found = False
    scope = "username" if username else "address"
    if username:
        keys = _keys(username=username, address="")
        found = cache.get(keys.username_lock) is not None
        cache.delete_many([keys.username_lock, keys.username_failures])
    if address:
        place = _digest("address", address)
        lock, failures = f"login:lock:address:{place}", f"login:failures:address:{place}"
        found = found or cache.get(lock) is not None
        cache.delete_many([lock, failures])
        scope = "both" if username else "address"
    audit_record(
        actor=actor,
        action=AuditAction.AUTH_UNLOCKED,
        target=user_target(user_by_username(username=username)) if username else "",
        details={"scope": scope, "was_locked": found},
    )
    return found


def password_confirm(*, user: User, password: str, address: str) -> None:
    """The password asked again before an irreversible act (``DELETE /api/v1/me``): under
    the same lockout as a login. Raises Invalid (``wrong_password``) or TooManyRequests."""
    confirmed = login_attempt(username=user.get_username(), password=password, address=address, channel="api-erase")
    if confirmed is None or confirmed.pk != user.pk:
        raise Invalid("password: that is not your password", code="wrong_password", details={"field": "password"})


# --- Sign-up: "this username is taken" is an answer about someone else --------------------

SIGNUP_MESSAGE = "Too many sign-up attempts with usernames that are taken. Try again later."


def _signup_key(address: str) -> str:
    return f"signup:taken:{_digest('signup', address)}"


def signup_probe_check(*, address: str) -> None:
    """Refuse (429) an address that has been told "username taken" too often this window,
    before anything is looked up: whether a username exists is told at most
    ``CH_SIGNUP_TAKEN_PER_ADDRESS`` times per window to one client."""
    if not address:
        return
    key = _signup_key(address)
    stamp = cache.get(key + ":lock")
    if stamp and stamp > time.time():
        raise TooManyRequests(SIGNUP_MESSAGE, code="signup_throttled", details={"retry_after_seconds": math.ceil(stamp - time.time())})


def signup_taken_record(*, address: str) -> None:
    if not address:
        return
    key = _signup_key(address)
    window = settings.CH_LOGIN_FAILURE_WINDOW_SECONDS
    if cache.add(key, 1, timeout=window):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:
            cache.add(key, 1, timeout=window)
            count = 1
    if count >= settings.CH_SIGNUP_TAKEN_PER_ADDRESS:
        cache.set(key + ":lock", time.time() + window, timeout=window)
