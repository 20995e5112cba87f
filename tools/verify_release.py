#!/usr/bin/env python3
"""Verify a Clearinghouse DP release offline. Depends only on `cryptography`.

    python tools/verify_release.py RELEASE.json KEYS.json

RELEASE.json is the body of GET /api/v1/releases/{id} (the signed envelope is under
"result") or the envelope itself {"payload", "signature", "key_id", "alg"}. KEYS.json is the
body of GET /api/v1/keys, saved when you trust it (pin it). Exit status 0: valid (and
signed by a key published for releases); 1: invalid.

The signature is Ed25519 over the canonical JSON of "payload": keys sorted, no spaces,
UTF-8, non-ASCII characters unescaped. Anyone holding the payload, the signature and the
public key can check what the clearinghouse released, to whom, with which ε and noise.
"""

import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(document) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify(envelope: dict, keys: list) -> tuple:
    if envelope.get("alg") != "Ed25519":
        return False, f"unsupported algorithm {envelope.get('alg')!r}"
    key = next((k for k in keys if k.get("id") == envelope.get("key_id")), None)
    if key is None:
        return False, f"key {envelope.get('key_id')!r} is not among the pinned keys"
    if key.get("use") != "releases":
        return False, f"key {key['id']} is published for {key.get('use')!r}, not for releases"
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    try:
        public_key.verify(base64.b64decode(envelope["signature"]), canonical(envelope["payload"]))
    except (InvalidSignature, ValueError, KeyError):
        return False, "signature does not match the release's content"
    return True, f"valid: signed by {key['id']} (releases key, {key.get('status', '?')})"


def main(argv: list) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        document = json.load(handle)
    envelope = document.get("result") or document
    with open(argv[2], encoding="utf-8") as handle:
        keys = json.load(handle)
    keys = keys.get("keys", keys) if isinstance(keys, dict) else keys
    ok, message = verify(envelope, keys)
    print(message)
    if ok:
        payload = envelope["payload"]
        mechanisms = ", ".join(f"{m['name']} scale {m['scale']}" for m in payload.get("mechanisms", []))
        print(
            f"release {payload['release_id']} for {payload['manufacturer']}: {payload['measure']} of {payload['purpose']} "
            f"v{payload['purpose_version']} by {payload['group_by'] or 'nothing'}, ε {payload['epsilon']} ({mechanisms}), "
            f"data as of {payload['snapshot_at']}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
