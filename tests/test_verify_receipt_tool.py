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
