#!/usr/bin/env python3
"""Verify a Clearinghouse compliance report offline. Depends only on `cryptography`.

    python tools/verify_report.py REPORT.json KEYS.json

REPORT.json is a report downloaded from the compliance console as signed JSON (Download
signed JSON on any report page): {"payload", "signature", "key_id", "alg"}. KEYS.json is
the body of GET /api/v1/keys, saved when you trust it (pin it). Exit status 0: valid (and
signed by a key published for reports); 1: invalid, or a file that is not a report or a
key list (one line on stderr says why).

The signature is Ed25519 over the canonical JSON of "payload": keys sorted, no spaces,
UTF-8, non-ASCII characters unescaped, exactly as for receipts and releases. The payload
names the audit log it was computed from (tree size and the latest signed checkpoint).
"""

import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ENVELOPE_FIELDS = ("payload", "signature", "key_id", "alg")
SCHEMA = "clearinghouse-report/1"


def canonical(document) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Unusable(Exception):
    """An input file that cannot be what it should be."""


def load_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise Unusable(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise Unusable(f"{path} is not a JSON file ({exc})") from None


def report_envelope(document, path: str) -> dict:
    if not (
        isinstance(document, dict)
        and all(field in document for field in ENVELOPE_FIELDS)
        and isinstance(document["payload"], dict)
        and document["payload"].get("schema") == SCHEMA
        and all(isinstance(document[field], str) for field in ("signature", "key_id", "alg"))
    ):
        raise Unusable(f"{path} is not a signed report: expected payload (schema {SCHEMA}), signature, key_id and alg")
    return document


def key_list(document, path: str) -> list:
    keys = document.get("keys") if isinstance(document, dict) else document
    if not isinstance(keys, list) or not all(isinstance(k, dict) and "id" in k and "public_key" in k for k in keys):
        raise Unusable(f"{path} is not a key list: expected the body of GET /api/v1/keys")
    return keys


def verify(envelope: dict, keys: list) -> tuple:
    if envelope.get("alg") != "Ed25519":
        return False, f"unsupported algorithm {envelope.get('alg')!r}"
    key = next((k for k in keys if k.get("id") == envelope.get("key_id")), None)
    if key is None:
        return False, f"key {envelope.get('key_id')!r} is not among the pinned keys"
    if key.get("use") != "reports":
        return False, f"key {key['id']} is published for {key.get('use')!r}, not for reports"
    try:
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"], validate=True))
        public_key.verify(base64.b64decode(envelope["signature"], validate=True), canonical(envelope["payload"]))
    except InvalidSignature:
        return False, "signature does not match the report's content"
    except (ValueError, TypeError):
        return False, "the signature or the key is not valid base64 Ed25519"
    return True, f"valid: signed by {key['id']} (reports key, {key.get('status', '?')})"


def main(argv: list) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        envelope = report_envelope(load_json(argv[1]), argv[1])
        keys = key_list(load_json(argv[2]), argv[2])
    except Unusable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ok, message = verify(envelope, keys)
    print(message)
    if ok:
        payload = envelope["payload"]
        period = payload.get("period") or {}
        checkpoint = (payload.get("log") or {}).get("checkpoint") or {}
        print(
            f"report {payload['report']} {period.get('since', '')}..{period.get('until', '')}: {len(payload.get('rows', []))} rows, "
            f"log of {payload['log']['tree_size']} events (checkpoint {checkpoint.get('tree_size', 'none')} {checkpoint.get('root_hash', '')})"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
