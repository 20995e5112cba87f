"""Checking a signed release, report or trend offline, with nothing but the document and
the published keys (``GET /api/v1/keys``, ideally saved once and pinned).

A signed document is ``{"payload", "signature", "key_id", "alg"}``: an Ed25519 signature
over the canonical JSON of ``payload`` (keys sorted, separators ``,`` and ``:``, UTF-8 with
non-ASCII characters unescaped), exactly what ``tools/verify_release.py`` checks. On top of
the signature this module checks that the document is the one asked about and that the key
was published for that use and in force when the document was made: a valid signature by
the wrong key (a receipts key, a key retired before the data was read) proves nothing."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from clearinghouse_client.errors import SignatureError

ALGORITHM = "Ed25519"
# Releases, reports and trends are all signed by the release engine with its one key.
KEY_USE = {"release": "releases", "report": "releases", "trend": "releases"}
SCHEMAS = {"release": "clearinghouse-release/1", "report": "clearinghouse-report/1", "trend": "clearinghouse-trend/1"}
# The document is signed just after the data snapshot it names, once the noise is drawn
# (seconds for a large trend); a key that came into force within this long after the
# snapshot may still have signed it.
SIGNING_GRACE = timedelta(minutes=10)


def canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Verification:
    """What a successful check established."""

    kind: str
    document_id: str
    key_id: str
    key_use: str
    key_status: str | None
    snapshot_at: datetime


def document_kind(payload: dict[str, Any]) -> str | None:
    """``release``, ``report`` or ``trend`` from the payload's own schema and kind."""
    schema = payload.get("schema")
    if schema == SCHEMAS["release"] and payload.get("kind", "release") == "release":
        return "release"
    # A compliance report shares the schema name but has no kind and another key (reports).
    if schema == SCHEMAS["report"] and payload.get("kind") == "report":
        return "report"
    if schema == SCHEMAS["trend"] and payload.get("kind") == "trend":
        return "trend"
    return None


def document_id(payload: dict[str, Any]) -> str | None:
    value = payload.get("trend_id") if payload.get("kind") == "trend" else payload.get("release_id")
    return value if isinstance(value, str) else None


def key_list(keys: Any) -> list[dict[str, Any]]:
    """The keys from a ``GET /api/v1/keys`` body or the list under its ``keys``."""
    listed = keys.get("keys") if isinstance(keys, dict) else keys
    if not isinstance(listed, list) or not all(isinstance(k, dict) and "id" in k and "public_key" in k for k in listed):
        raise ValueError('expected the body of GET /api/v1/keys ({"keys": [...]}) or its list of keys')
    return listed


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify_document(
    document: dict[str, Any],
    keys: Any,
    *,
    kind: str | None = None,
    document_id_expected: str | None = None,
    grace: timedelta = SIGNING_GRACE,
) -> Verification:
    """Check a signed release, report or trend against ``keys``; raise SignatureError naming
    the first check that fails, or return what was established.

    ``document`` is the job's body (``GET /api/v1/releases/{id}``, the envelope under
    ``result``) or the envelope itself. ``kind`` (release, report, trend), when given, must
    be what the payload says it is; ``document_id_expected`` must be the payload's id."""
    envelope = document.get("result") if isinstance(document, dict) and "payload" not in document else document
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict):
        raise SignatureError("there is no signed result to verify (the job is not done)", code="no_result")
    payload = envelope["payload"]
    if envelope.get("alg") != ALGORITHM:
        raise SignatureError(f"unsupported signature algorithm {envelope.get('alg')!r}", code="unsupported_algorithm")
    found = document_kind(payload)
    if found is None or (kind is not None and found != kind):
        raise SignatureError(
            f"the signed document is not a {kind or 'release, report or trend'} (schema {payload.get('schema')!r}, "
            f"kind {payload.get('kind')!r})",
            code="wrong_document",
        )
    signed_id = document_id(payload)
    if document_id_expected is not None and signed_id != str(document_id_expected):
        raise SignatureError(
            f"the signed document is {found} {signed_id}, not {document_id_expected}",
            code="wrong_document",
            detail={"signed_id": signed_id},
        )
    key_id = envelope.get("key_id")
    key = next((k for k in key_list(keys) if k.get("id") == key_id), None)
    if key is None:
        raise SignatureError(f"key {key_id!r} is not among the published (or pinned) keys", code="unknown_key")
    use = KEY_USE[found]
    if key.get("use") != use:
        raise SignatureError(f"key {key_id} is published for {key.get('use')!r}, not for {use}", code="wrong_key_use")
    snapshot = parse_time(payload.get("snapshot_at"))
    if snapshot is None:
        raise SignatureError("the signed document states no valid snapshot_at", code="wrong_document")
    valid_from, valid_until = parse_time(key.get("valid_from")), parse_time(key.get("valid_until"))
    if (valid_until is not None and valid_until <= snapshot) or (valid_from is not None and valid_from > snapshot + grace):
        raise SignatureError(
            f"key {key_id} was not in force when the document was made ({payload.get('snapshot_at')}; the key is valid from "
            f"{key.get('valid_from')} until {key.get('valid_until') or 'now'})",
            code="key_not_valid_then",
        )
    try:
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"], validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise SignatureError(f"key {key_id} is not a valid Ed25519 public key", code="invalid_key") from None
    try:
        signature = base64.b64decode(str(envelope.get("signature")), validate=True)
        public_key.verify(signature, canonical(payload))
    except (InvalidSignature, ValueError, binascii.Error):
        raise SignatureError(f"the signature does not match the {found}'s content", code="bad_signature") from None
    return Verification(
        kind=found,
        document_id=signed_id or "",
        key_id=str(key_id),
        key_use=use,
        key_status=key.get("status"),
        snapshot_at=snapshot,
    )
