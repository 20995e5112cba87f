import pytest
from django.test import override_settings

from clearinghouse.core import crypto


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
            a1 = crypto.subject_pseudonym(platform_id=1, subject_ref="user-1")
            assert a1 == crypto.subject_pseudonym(platform_id=1, subject_ref="user-1")
            assert a1 != crypto.subject_pseudonym(platform_id=2, subject_ref="user-1")
            assert len(a1) == 64 and "user-1" not in a1
        finally:
            crypto.reset_key_cache()
