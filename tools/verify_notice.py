#!/usr/bin/env python3
"""Verify a signed notification offline, as your callback received it. Depends only on `cryptography`.

    python tools/verify_notice.py BODY KEY_ID SIGNATURE KEYS.json

BODY is a file holding the exact bytes POSTed to your callback; KEY_ID and SIGNATURE are the
values of its Clearinghouse-Key-Id and Clearinghouse-Signature headers; KEYS.json is the
body of GET /api/v1/keys, saved when you trust it. Exit status 0: valid (the notice is
printed); 1: invalid, or an unreadable file (one line on stderr says why).

The check is the Python client's (clients/python/clearinghouse_client/notices.py, loaded
from this checkout so there is one implementation): the key is published with use
"notifications" and is current or was valid when the notice occurred, and the signature is
Ed25519 over exactly the body's bytes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

CLIENT_MODULE = Path(__file__).resolve().parents[1] / "clients" / "python" / "clearinghouse_client" / "notices.py"


def _client():
    spec = importlib.util.spec_from_file_location("clearinghouse_client_notices", CLIENT_MODULE)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {CLIENT_MODULE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    body_path, key_id, signature, keys_path = argv
    client = _client()
    try:
        body = Path(body_path).read_bytes()
        keys = json.loads(Path(keys_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"invalid: cannot read the input: {exc}", file=sys.stderr)
        return 1
    headers = {client.KEY_ID_HEADER: key_id, client.SIGNATURE_HEADER: signature}
    try:
        notice = client.verify_notice(body=body, headers=headers, keys=keys.get("keys", []) if isinstance(keys, dict) else keys)
    except client.NoticeSignatureError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    print(f"valid: {notice['kind']} {notice['id']} {notice['status']}, signed by {key_id}")
    print(json.dumps(notice, ensure_ascii=False, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
