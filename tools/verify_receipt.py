#!/usr/bin/env python3
"""Verify a Clearinghouse consent receipt or erasure certificate offline. Depends only on
`cryptography`.

    python tools/verify_receipt.py RECEIPT.json KEYS.json

RECEIPT.json is a receipt envelope {"payload", "signature", "key_id", "alg"} or any JSON
document holding one under "receipt" (the response of POST /api/v1/me/consents, or one
entry of /api/v1/me/consents/history). An erasure certificate is checked the same way: the
envelope itself (the portal's download, GET /api/v1/me/erasure-certificates/ID) or a
document holding one under "certificate" (the response of DELETE /api/v1/me); both are
signed with the receipts key. KEYS.json is the body of GET /api/v1/keys, saved
when you trust it (pin it). Exit status 0: valid; 1: invalid, or a file that is not a
receipt or a key list (one line on stderr says why).

The signature is Ed25519 over the canonical JSON of "payload": keys sorted, no spaces,
UTF-8, non-ASCII characters unescaped.
"""

import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(document) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


ENVELOPE_FIELDS = ("payload", "signature", "key_id", "alg")
CERTIFICATE_SCHEMA = "clearinghouse-erasure-certificate/"


class Unusable(Exception):
    """An input file that cannot be what it should be."""


def load_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise Unusable(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise Unusable(f"{path} is not a JSON file (not UTF-8 text)") from None
    except ValueError as exc:
        raise Unusable(f"{path} is not a JSON file ({exc})") from None


def receipt_envelope(document, path: str) -> dict:
    envelope = document.get("receipt", document.get("certificate", document)) if isinstance(document, dict) else None
    if not (
        isinstance(envelope, dict)
        and all(field in envelope for field in ENVELOPE_FIELDS)
        and isinstance(envelope["payload"], dict)
        and all(isinstance(envelope[field], str) for field in ("signature", "key_id", "alg"))
    ):
        raise Unusable(
            f"{path} is not a consent receipt: expected an object with payload, signature, key_id and alg, "
            'or a document holding one under "receipt" (or "certificate")'
        )
    return envelope


def key_list(document, path: str) -> list[dict]:
    keys = document.get("keys") if isinstance(document, dict) else document
    if not isinstance(keys, list) or not all(isinstance(k, dict) and "id" in k and "public_key" in k for k in keys):
        raise Unusable(f"{path} is not a key list: expected the body of GET /api/v1/keys")
    return keys


def verify(envelope: dict, keys: list[dict]) -> tuple[bool, str]:
    if envelope.get("alg") != "Ed25519":
        return False, f"unsupported algorithm {envelope.get('alg')!r}"
    key = next((k for k in keys if k.get("id") == envelope.get("key_id")), None)
    if key is None:
        return False, f"key {envelope.get('key_id')!r} is not among the pinned keys"
    if key.get("use") != "receipts":
        return False, f"key {key['id']} is published for {key.get('use')!r}, not for receipts: this is not a consent receipt"
    try:
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"], validate=True))
    except (ValueError, TypeError):
        return False, f"key {key['id']} in the key list is not a valid Ed25519 public key"
    try:
        public_key.verify(base64.b64decode(envelope["signature"]), canonical(envelope["payload"]))
    except (InvalidSignature, ValueError, KeyError):
        return False, "signature does not match the receipt's content"
    return True, f"valid: signed by {key['id']} ({key.get('use', '?')} key)"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        envelope = receipt_envelope(load_json(argv[1]), argv[1])
        keys = key_list(load_json(argv[2]), argv[2])
    except Unusable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ok, message = verify(envelope, keys)
    payload = envelope["payload"]
    print(message)
    if ok and str(payload.get("schema_version", "")).startswith(CERTIFICATE_SCHEMA):
        deleted = ", ".join(f"{row.get('signals')} on {row.get('platform')} for {row.get('purpose')}" for row in payload.get("deleted", []))
        print(
            f"erasure certificate {payload.get('certificate_id')}: {payload.get('total_signals')} signals deleted "
            f"({deleted or 'nothing was held'}) at {payload.get('completed_at')}, because {payload.get('reason', {}).get('code')}"
        )
    elif ok:
        purpose = payload.get("purpose", {})
        print(
            f"receipt {payload.get('receipt_id')}: {payload.get('state')} "
            f"{purpose.get('code')} v{purpose.get('version')} on {payload.get('collection_platform')} at {payload.get('issued_at')}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
