"""Verify a signed notification from the clearinghouse (depends only on ``cryptography``).

When a release, report or trend of yours ends (done, failed or refused), the clearinghouse
POSTs to your registered callback (``PUT /api/v1/callback``) a body that is canonical JSON::

    {"id": "<job uuid>", "kind": "release|report|trend", "manufacturer": "<your slug>",
     "notice_id": "<uuid>", "occurred_at": "2026-12-06T22:23:00.000000Z",
     "status": "done|failed|refused", "url": "/api/v1/<releases|reports|trends>/<id>"}

with the headers ``Clearinghouse-Key-Id``, ``Clearinghouse-Signature`` (base64 Ed25519 over
the exact body bytes) and ``Clearinghouse-Attempt`` (1, 2, …). In your handler::

    keys = requests.get(BASE + "/api/v1/keys").json()["keys"]   # cache it; refresh on an unknown key id
    notice = verify_notice(body=request.body, headers=request.headers, keys=keys)
    # answer 2xx; deduplicate on notice["notice_id"] (a retry sends the same body again)

Anything else answered, or no answer within a few seconds, is retried with backoff.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

KEY_USE = "notifications"
KEY_ID_HEADER = "Clearinghouse-Key-Id"
SIGNATURE_HEADER = "Clearinghouse-Signature"
ATTEMPT_HEADER = "Clearinghouse-Attempt"
FIELDS = ("notice_id", "kind", "id", "status", "manufacturer", "url", "occurred_at")
KINDS = {"release": "releases", "report": "reports", "trend": "trends"}
STATUSES = ("done", "failed", "refused")


class NoticeSignatureError(ValueError):
    """The notice is not one the clearinghouse signed: unknown or wrong key, bad signature,
    or a body that is not a notice. Answer it with 4xx and do not act on it."""


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    raise NoticeSignatureError(f"the {name} header is missing")


def _moment(text: Any, what: str) -> datetime:
    if not isinstance(text, str):
        raise NoticeSignatureError(f"{what} is not a timestamp")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NoticeSignatureError(f"{what} is not an ISO 8601 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        raise NoticeSignatureError(f"{what} has no time zone: {text!r}")
    return moment


def _key_for(key_id: str, keys: list[dict] | Mapping[str, Any]) -> dict:
    if isinstance(keys, Mapping):  # the whole answer of GET /api/v1/keys
        keys = keys.get("keys", [])
    for key in keys:
        if isinstance(key, Mapping) and key.get("id") == key_id:
            if key.get("use") != KEY_USE:
                raise NoticeSignatureError(f"key {key_id} is published for {key.get('use')!r}, not for {KEY_USE!r}")
            if key.get("algorithm", "Ed25519") != "Ed25519":
                raise NoticeSignatureError(f"key {key_id} is not an Ed25519 key")
            return dict(key)
    raise NoticeSignatureError(f"key {key_id} is not among the published keys (fetch /api/v1/keys again)")


def _key_was_valid(key: dict, occurred_at: datetime) -> None:
    if key.get("status", "current") == "current" and key.get("valid_until") is None:
        return
    valid_from = _moment(key["valid_from"], "the key's valid_from") if key.get("valid_from") else None
    valid_until = _moment(key["valid_until"], "the key's valid_until") if key.get("valid_until") else None
    if (valid_from is not None and occurred_at < valid_from) or (valid_until is not None and occurred_at >= valid_until):
        raise NoticeSignatureError(f"key {key['id']} was not valid when the notice occurred ({occurred_at.isoformat()})")


def verify_notice(*, body: bytes, headers: Mapping[str, str], keys: list[dict]) -> dict:
    """The notice in ``body`` if the clearinghouse signed it, else NoticeSignatureError.

    Checks that the key named by ``Clearinghouse-Key-Id`` is published with use
    "notifications" and is current (or, retired since, was valid at the notice's
    occurred_at), that ``Clearinghouse-Signature`` is its Ed25519 signature over exactly
    ``body``, and that the body is a notice. ``keys`` is the list at ``GET /api/v1/keys``.
    """
    if isinstance(body, str):
        raise NoticeSignatureError("pass the body as the bytes received, not as text")
    key = _key_for(_header(headers, KEY_ID_HEADER), keys)
    signature_text = _header(headers, SIGNATURE_HEADER)
    try:
        signature = base64.b64decode(signature_text.encode("ascii"), validate=True)
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(key["public_key"]).encode("ascii"), validate=True))
    except (binascii.Error, UnicodeEncodeError, ValueError, KeyError):
        raise NoticeSignatureError("the signature or the published key is not valid base64 of the right length") from None
    try:
        public_key.verify(signature, bytes(body))
    except InvalidSignature:
        raise NoticeSignatureError("the signature does not match the body: it was changed or not signed by the clearinghouse") from None
    try:
        notice = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NoticeSignatureError("the body is not JSON") from None
    if not isinstance(notice, dict) or sorted(notice) != sorted(FIELDS):
        raise NoticeSignatureError(f"the body is not a notice (expected the fields {', '.join(FIELDS)})")
    if notice["kind"] not in KINDS or notice["status"] not in STATUSES:
        raise NoticeSignatureError("the notice names an unknown kind or status")
    _key_was_valid(key, _moment(notice["occurred_at"], "occurred_at"))
    return notice
