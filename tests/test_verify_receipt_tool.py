import json
import subprocess
import sys
from pathlib import Path

from rest_framework.test import APIClient

from tests.conftest import grant_body

TOOL = Path(__file__).resolve().parent.parent / "tools" / "verify_receipt.py"


def run(tmp_path, receipt, keys):
    (tmp_path / "receipt.json").write_text(json.dumps(receipt, ensure_ascii=False))
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    return subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "receipt.json"), str(tmp_path / "keys.json")], capture_output=True, text=True
    )


def test_offline_tool_accepts_a_real_receipt_and_rejects_a_forged_one(tmp_path, consumer_a, platform_p, purposes):
    response = consumer_a.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], "shop-p"), format="json").json()
    keys = APIClient().get("/api/v1/keys").json()
    good = run(tmp_path, response, keys)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "valid" in good.stdout and "granted c2m-product-design v1 on shop-p" in good.stdout

    forged = json.loads(json.dumps(response))
    forged["receipt"]["payload"]["state"] = "withdrawn"
    bad = run(tmp_path, forged, keys)
    assert bad.returncode == 1 and "does not match" in bad.stdout

    unknown_key = run(tmp_path, response, {"keys": [k for k in keys["keys"] if k["use"] != "receipts"]})
    assert unknown_key.returncode == 1 and "not among the pinned keys" in unknown_key.stdout


def run_files(tmp_path, receipt_text: bytes, keys_text: bytes):
    (tmp_path / "receipt.json").write_bytes(receipt_text)
    (tmp_path / "keys.json").write_bytes(keys_text)
    return subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "receipt.json"), str(tmp_path / "keys.json")], capture_output=True, text=True
    )


def test_offline_tool_says_in_one_line_why_a_file_is_not_a_receipt(tmp_path, db):
    keys = json.dumps(APIClient().get("/api/v1/keys").json()).encode()
    cases = {
        b'{"hello": "world"}': "receipt.json is not a consent receipt: expected an object with payload, signature, key_id and alg",
        b"[1, 2]": "receipt.json is not a consent receipt",
        b"<html>not json</html>": "receipt.json is not a JSON file (Expecting value: line 1 column 1 (char 0))",
        b"\xff\xfe\x00": "receipt.json is not a JSON file (not UTF-8 text)",
    }
    for text, reason in cases.items():
        result = run_files(tmp_path, text, keys)
        assert result.returncode == 1, result
        assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: ") and reason in result.stderr, result.stderr
    not_keys = run_files(tmp_path, b'{"payload": {}, "signature": "", "key_id": "k", "alg": "Ed25519"}', b'{"keys": "none"}')
    assert not_keys.returncode == 1 and "keys.json is not a key list" in not_keys.stderr


def test_offline_tool_refuses_a_document_signed_with_another_use_of_key(tmp_path, db):
    from clearinghouse.core.crypto import signer_get

    release_like = signer_get("releases").envelope({"release_id": "r", "purpose": "c2m-product-design"})
    result = run(tmp_path, release_like, APIClient().get("/api/v1/keys").json())
    assert result.returncode == 1
    assert "is published for 'releases', not for receipts" in result.stdout
