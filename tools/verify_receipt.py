#!/usr/bin/env python3
"""Verify a Clearinghouse consent receipt offline. Depends only on `cryptography`.

    python tools/verify_receipt.py RECEIPT.json KEYS.json

RECEIPT.json is a receipt envelope {"payload", "signature", "key_id", "alg"} or any JSON
document holding one under "receipt" (the response of POST /api/v1/me/consents, or one
entry of /api/v1/me/consents/history). KEYS.json is the body of GET /api/v1/keys, saved
when you trust it (pin it). Exit status 0: valid; 1: invalid.

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


def verify(envelope: dict, keys: list[dict]) -> tuple[bool, str]:
    if envelope.get("alg") != "Ed25519":
        return False, f"unsupported algorithm {envelope.get('alg')!r}"
    key = next((k for k in keys if k.get("id") == envelope.get("key_id")), None)
    if key is None:
        return False, f"key {envelope.get('key_id')!r} is not among the pinned keys"
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    try:
        public_key.verify(base64.b64decode(envelope["signature"]), canonical(envelope["payload"]))
    except (InvalidSignature, ValueError, KeyError):
        return False, "signature does not match the receipt's content"
    return True, f"valid: signed by {key['id']} ({key.get('use', '?')} key)"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        document = json.load(handle)
    envelope = document.get("receipt", document)
    with open(argv[2], encoding="utf-8") as handle:
        keys = json.load(handle)
    keys = keys.get("keys", keys) if isinstance(keys, dict) else keys
    ok, message = verify(envelope, keys)
    payload = envelope.get("payload", {})
    print(message)
    if ok:
        purpose = payload.get("purpose", {})
        print(f"receipt {payload.get('receipt_id')}: {payload.get('state')} "
              f"{purpose.get('code')} v{purpose.get('version')} on {payload.get('collection_platform')} at {payload.get('issued_at')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
