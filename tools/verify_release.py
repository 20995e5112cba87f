#!/usr/bin/env python3
"""Verify a Clearinghouse DP release offline. Depends only on `cryptography`.

    python tools/verify_release.py RELEASE.json KEYS.json

RELEASE.json is the body of GET /api/v1/releases/{id} (the signed envelope is under
"result") or the envelope itself {"payload", "signature", "key_id", "alg"}. KEYS.json is the
body of GET /api/v1/keys, saved when you trust it (pin it). Exit status 0: valid (and
signed by a key published for releases); 1: invalid, or a file that is not a release or a
key list (one line on stderr says why).

The signature is Ed25519 over the canonical JSON of "payload": keys sorted, no spaces,
UTF-8, non-ASCII characters unescaped. Anyone holding the payload, the signature and the
public key can check what the clearinghouse released, to whom, with which ε and noise.
"""

import base64
import json
import math
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(document) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


ENVELOPE_FIELDS = ("payload", "signature", "key_id", "alg")


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


def release_envelope(document, path: str) -> dict:
    if isinstance(document, dict) and "status" in document and document.get("result") is None:
        raise Unusable(f"{path}: release {document.get('id')} has no signed result yet (status {document.get('status')!r})")
    envelope = document.get("result") or document if isinstance(document, dict) else None
    if not (
        isinstance(envelope, dict)
        and all(field in envelope for field in ENVELOPE_FIELDS)
        and isinstance(envelope["payload"], dict)
        and all(isinstance(envelope[field], str) for field in ("signature", "key_id", "alg"))
    ):
        raise Unusable(
            f'{path} is not a release: expected the body of GET /api/v1/releases/{{id}} or its "result", '
            "an object with payload, signature, key_id and alg"
        )
    return envelope


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
    if key.get("use") != "releases":
        return False, f"key {key['id']} is published for {key.get('use')!r}, not for releases"
    try:
        public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"], validate=True))
    except (ValueError, TypeError):
        return False, f"key {key['id']} in the key list is not a valid Ed25519 public key"
    try:
        public_key.verify(base64.b64decode(envelope["signature"]), canonical(envelope["payload"]))
    except (InvalidSignature, ValueError, KeyError):
        return False, "signature does not match the release's content"
    return True, f"valid: signed by {key['id']} (releases key, {key.get('status', '?')})"


def readable_scale(text) -> str:
    """The payload states the exact float the noise used (calibration may step it one ulp
    up, 6.000000000000001); twelve significant digits are what a person needs to read."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return str(text)
    return f"{value:.12g}" if math.isfinite(value) else str(text)


def reach_line(payload: dict) -> str | None:
    """The answer's reach as signed (DP estimates with their 95% half-widths)."""
    reach = payload.get("reach")
    if not isinstance(reach, dict):
        return None
    covered, left_out = reach.get("covered") or {}, reach.get("left_out") or {}

    def people(estimate: dict) -> str:
        # A count of people is never below zero: a noisy draw below it reads as 0 (the
        # signed value, unchanged in the document, is shown beside it).
        value = estimate.get("value")
        try:
            drawn = float(str(value))
        except ValueError:
            return f"{value} ±{estimate.get('half_width')}"
        shown = f"0 (drawn {value})" if drawn < 0 else str(value)
        return f"{shown} ±{estimate.get('half_width')}"

    return (
        f"reach: covers about {people(covered)} eligible people, "
        f"left out at their cap about {people(left_out)} "
        f"(paid from {reach.get('share')} of the cost)"
    )


def main(argv: list) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        envelope = release_envelope(load_json(argv[1]), argv[1])
        keys = key_list(load_json(argv[2]), argv[2])
    except Unusable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ok, message = verify(envelope, keys)
    print(message)
    if ok:
        payload = envelope["payload"]
        if payload.get("kind") == "report":
            tables = "; ".join(" x ".join(m["dimensions"]) + f" ±{m['half_width']}" for m in payload["marginals"])
            print(
                f"report {payload['release_id']} for {payload['manufacturer']}: {payload['measure']} of {payload['purpose']} "
                f"v{payload['purpose_version']}, {tables}; ρ {payload['rho']} = (ε {payload['epsilon']}, δ {payload['delta']}) "
                f"({payload['mechanism']['name']}), data as of {payload['snapshot_at']}"
            )
            if reach_line(payload):
                print(reach_line(payload))
            return 0
        mechanisms = ", ".join(f"{m['name']} scale {readable_scale(m['scale'])}" for m in payload.get("mechanisms", []))
        # What each person the answer used was charged (the ε above is what the budget paid).
        guarantee = payload.get("guarantee")
        charged = f"; each person charged (ε {guarantee['epsilon']}, δ {guarantee['delta']})" if guarantee else ""
        print(
            f"release {payload['release_id']} for {payload['manufacturer']}: {payload['measure']} of {payload['purpose']} "
            f"v{payload['purpose_version']} by {payload['group_by'] or 'nothing'}, ε {payload['epsilon']} ({mechanisms}){charged}, "
            f"data as of {payload['snapshot_at']}"
        )
        if reach_line(payload):
            print(reach_line(payload))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
