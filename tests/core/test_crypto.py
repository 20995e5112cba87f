import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from clearinghouse.accounts import pseudonyms
from clearinghouse.core import crypto

ROOT = Path(__file__).resolve().parent.parent.parent


def test_canonical_json_is_sorted_compact_utf8_and_refuses_floats():
    assert crypto.canonical_json({"b": 1, "a": ["中", None, True]}) == '{"a":["中",null,true],"b":1}'.encode()
    with pytest.raises(TypeError, match="floats"):
        crypto.canonical_json({"epsilon": 0.1})


def test_keys_are_generated_once_and_rotation_keeps_the_old_public_key(tmp_path):
    with override_settings(CH_KEY_DIR=str(tmp_path), CH_GENERATE_KEYS=True):
        crypto.reset_key_cache()
        try:
            first = crypto.signer_get("receipts")
            crypto.reset_key_cache()
            assert crypto.signer_get("receipts").key_id == first.key_id  # loaded, not regenerated
            envelope = first.envelope({"hello": "world"})
            rotated = crypto.signing_key_rotate("receipts")
            assert rotated.key_id != first.key_id
            published = {k["id"]: k for k in crypto.published_keys()}
            assert published[first.key_id]["status"] == "retired"
            assert published[first.key_id]["valid_until"]
            assert published[rotated.key_id]["status"] == "current"
            # Receipts signed before the rotation still verify with the published old key.
            assert crypto.verify_signature(
                public_key_raw=crypto.public_key_for(first.key_id), document=envelope["payload"], signature_b64=envelope["signature"]
            )
            assert (tmp_path / "signing-receipts.pem").stat().st_mode & 0o077 == 0
        finally:
            crypto.reset_key_cache()


def test_pseudonyms_differ_per_platform_and_are_stable(tmp_path):
    with override_settings(CH_KEY_DIR=str(tmp_path), CH_GENERATE_KEYS=True):
        crypto.reset_key_cache()
        try:
            a1 = pseudonyms.subject_pseudonym(platform_id=1, subject_ref="user-1")
            assert a1 == pseudonyms.subject_pseudonym(platform_id=1, subject_ref="user-1")
            assert a1 != pseudonyms.subject_pseudonym(platform_id=2, subject_ref="user-1")
            assert len(a1) == 64 and "user-1" not in a1
        finally:
            crypto.reset_key_cache()


def _rotate_in_another_process(key_dir, use: str) -> str:
    """Run the rotation the way `manage.py rotate_signing_key` does, in a separate process,
    so this process's key cache only sees the files change underneath it."""
    code = f"import django; django.setup()\nfrom clearinghouse.core import crypto\nprint(crypto.signing_key_rotate({use!r}).key_id)\n"
    env = os.environ | {"CH_KEY_DIR": str(key_dir), "DJANGO_SETTINGS_MODULE": "tests.settings", "CH_GENERATE_KEYS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_running_process_picks_up_a_key_rotated_by_another_process(tmp_path):
    with override_settings(CH_KEY_DIR=str(tmp_path), CH_GENERATE_KEYS=True):
        crypto.reset_key_cache()
        try:
            old = crypto.signer_get("receipts")  # cached, as in a gunicorn or Celery worker
            assert [k["id"] for k in crypto.published_keys() if k["use"] == "receipts"] == [old.key_id]
            new_id = _rotate_in_another_process(tmp_path, "receipts")
            assert new_id.startswith("ed25519:") and new_id != old.key_id

            envelope = crypto.signer_get("receipts").envelope({"hello": "world"})
            assert envelope["key_id"] == new_id
            published = [k for k in crypto.published_keys() if k["use"] == "receipts"]
            assert sorted((k["id"], k["status"]) for k in published) == sorted([(new_id, "current"), (old.key_id, "retired")])
            by_id = {k["id"]: k for k in published}
            assert by_id[old.key_id]["valid_until"] == by_id[new_id]["valid_from"]
            assert crypto.verify_signature(
                public_key_raw=crypto.public_key_for(new_id), document=envelope["payload"], signature_b64=envelope["signature"]
            )
            assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind
        finally:
            crypto.reset_key_cache()


def test_the_old_key_is_published_once_at_every_step_of_a_rotation(tmp_path, monkeypatch):
    with override_settings(CH_KEY_DIR=str(tmp_path), CH_GENERATE_KEYS=True):
        crypto.reset_key_cache()
        try:
            old = crypto.signer_get("releases")
            seen = []
            replace = crypto._replace_secret

            def watching_replace(path, data):
                # What this process, and one starting with an empty cache, publish just
                # before each file is swapped in.
                cached = crypto.published_keys()
                crypto._signers.clear()
                fresh = crypto.published_keys()
                assert fresh == cached
                seen.append([(k["id"], k["status"]) for k in fresh if k["use"] == "releases"])
                replace(path, data)

            monkeypatch.setattr(crypto, "_replace_secret", watching_replace)
            new = crypto.signing_key_rotate("releases")
            seen.append([(k["id"], k["status"]) for k in crypto.published_keys() if k["use"] == "releases"])
            assert seen[0] == [(old.key_id, "current")]
            assert seen[1] == [(old.key_id, "current")]  # retired record written, not yet swapped: listed once
            assert seen[2] == [(old.key_id, "current")]  # new metadata in place, old key still signing
            assert sorted(seen[3]) == sorted([(new.key_id, "current"), (old.key_id, "retired")])
        finally:
            crypto.reset_key_cache()
