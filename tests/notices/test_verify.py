"""The client's verify_notice accepts what the clearinghouse signed and nothing else; the
offline tool says the same."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import override_settings

from clearinghouse.core import crypto
from clearinghouse.notices.models import Notice
from clearinghouse.notices.services import notice_deliver
from tests.notices.conftest import ROOT, client_notices
from tests.notices.test_delivery import ended_job, keys, register


@pytest.fixture
def delivered(world, receiver):
    """One real notice as the receiver got it, and the published keys."""
    client = world.manufacturer.client()
    register(client, receiver.url)
    notice_deliver(notice_id=Notice.objects.get(job_id=ended_job(client)).pk)
    (got,) = receiver.received
    return got, keys(client)


def _raw(private_key: Ed25519PrivateKey) -> str:
    return base64.b64encode(private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def test_the_real_notice_verifies_and_any_change_to_it_does_not(delivered):
    got, published = delivered
    module = client_notices()
    assert module.verify_notice(body=got.body, headers=got.headers, keys=published)["status"] == "failed"
    lowercase = {name.lower(): value for name, value in got.headers.items()}  # header names are case-insensitive
    assert module.verify_notice(body=got.body, headers=lowercase, keys=published)["kind"] == "release"
    tampered = got.body.replace(b'"status":"failed"', b'"status":"done"')
    assert tampered != got.body
    with pytest.raises(module.NoticeSignatureError, match="does not match"):
        module.verify_notice(body=tampered, headers=got.headers, keys=published)
    with pytest.raises(module.NoticeSignatureError, match="does not match"):
        module.verify_notice(body=got.body + b" ", headers=got.headers, keys=published)
    with pytest.raises(module.NoticeSignatureError, match="Clearinghouse-Signature header is missing"):
        module.verify_notice(body=got.body, headers={"Clearinghouse-Key-Id": got.headers["Clearinghouse-Key-Id"]}, keys=published)
    with pytest.raises(module.NoticeSignatureError, match="base64"):
        module.verify_notice(body=got.body, headers=got.headers | {"Clearinghouse-Signature": "not base64!"}, keys=published)


def test_a_forged_notice_is_refused_whatever_key_it_names(delivered):
    got, published = delivered
    module = client_notices()
    notice = json.loads(got.body)
    forged_body = json.dumps(notice | {"status": "done"}, sort_keys=True, separators=(",", ":")).encode()
    forger = Ed25519PrivateKey.generate()
    forged_signature = base64.b64encode(forger.sign(forged_body)).decode()
    # Naming the real notifications key: the signature is not its.
    with pytest.raises(module.NoticeSignatureError, match="does not match"):
        module.verify_notice(body=forged_body, headers=got.headers | {"Clearinghouse-Signature": forged_signature}, keys=published)
    # Naming a key that is not published.
    with pytest.raises(module.NoticeSignatureError, match="not among the published keys"):
        module.verify_notice(
            body=forged_body,
            headers={"Clearinghouse-Key-Id": "ed25519:0000000000000000", "Clearinghouse-Signature": forged_signature},
            keys=published,
        )
    # Signed by a genuine clearinghouse key of another use (releases): refused for its use,
    # so nothing else the service signs can pass for a notice.
    releases = crypto.signer_get("releases")
    with pytest.raises(module.NoticeSignatureError, match="'releases', not for 'notifications'"):
        module.verify_notice(
            body=forged_body,
            headers={"Clearinghouse-Key-Id": releases.key_id, "Clearinghouse-Signature": releases.sign_bytes(forged_body)},
            keys=published,
        )
    # A well-signed body that is not a notice.
    signer = crypto.signer_get("notifications")
    other = b'{"hello":"world"}'
    with pytest.raises(module.NoticeSignatureError, match="not a notice"):
        module.verify_notice(
            body=other, headers={"Clearinghouse-Key-Id": signer.key_id, "Clearinghouse-Signature": signer.sign_bytes(other)}, keys=published
        )


def test_a_retired_key_verifies_only_notices_from_while_it_was_valid(delivered):
    got, published = delivered
    module = client_notices()
    occurred_at = json.loads(got.body)["occurred_at"]
    key_id = got.headers["Clearinghouse-Key-Id"]
    current = next(k for k in published if k["id"] == key_id)
    retired_later = current | {"status": "retired", "valid_until": "2999-01-01T00:00:00+00:00"}
    assert module.verify_notice(body=got.body, headers=got.headers, keys=[retired_later])["occurred_at"] == occurred_at
    retired_before = current | {"status": "retired", "valid_from": "2000-01-01T00:00:00+00:00", "valid_until": "2001-01-01T00:00:00+00:00"}
    with pytest.raises(module.NoticeSignatureError, match="was not valid when the notice occurred"):
        module.verify_notice(body=got.body, headers=got.headers, keys=[retired_before])


def test_rotating_the_notifications_key_publishes_it_and_retires_the_old_one(tmp_path):
    with override_settings(CH_KEY_DIR=str(tmp_path), CH_GENERATE_KEYS=True):
        crypto.reset_key_cache()
        try:
            old = crypto.signer_get("notifications")
            new = crypto.signing_key_rotate("notifications")
            published = {k["id"]: k for k in crypto.published_keys()}
            assert (published[old.key_id]["use"], published[old.key_id]["status"]) == ("notifications", "retired")
            assert (published[new.key_id]["use"], published[new.key_id]["status"]) == ("notifications", "current")
        finally:
            crypto.reset_key_cache()


def test_the_offline_tool_agrees(delivered, tmp_path):
    got, published = delivered
    (tmp_path / "keys.json").write_text(json.dumps({"keys": published}))
    (tmp_path / "body").write_bytes(got.body)
    (tmp_path / "tampered").write_bytes(got.body.replace(b"failed", b"done"))

    def run(body: str):
        return subprocess.run(
            [
                sys.executable,
                str(ROOT / "tools" / "verify_notice.py"),
                str(tmp_path / body),
                got.headers["Clearinghouse-Key-Id"],
                got.headers["Clearinghouse-Signature"],
                str(tmp_path / "keys.json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    valid = run("body")
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("valid: release ") and " failed, signed by " in valid.stdout
    invalid = run("tampered")
    assert invalid.returncode == 1 and invalid.stderr.startswith("invalid: the signature does not match")


def test_the_packaged_client_verifies_a_notice_and_fetches_keys_again_only_for_an_unseen_key(delivered, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "clients" / "python"))
    from clearinghouse_client import Client, NoticeSignatureError

    got, published = delivered
    pinned = Client("http://clearinghouse.invalid", "chm_unused", keys={"keys": published})
    assert pinned.verify_notice(body=got.body, headers=got.headers)["kind"] == "release"
    others = [key for key in published if key["use"] != "notifications"]
    stale = Client("http://clearinghouse.invalid", "chm_unused", keys={"keys": others})
    with pytest.raises(NoticeSignatureError, match="not among the published keys"):
        stale.verify_notice(body=got.body, headers=got.headers)  # pinned keys are never refreshed

    fetched = []
    unpinned = Client("http://clearinghouse.invalid", "chm_unused")
    # The notifications key appears only after the first fetch, as after a rotation.
    monkeypatch.setattr(unpinned, "get", lambda path: fetched.append(path) or {"keys": others if len(fetched) == 1 else published})
    assert unpinned.verify_notice(body=got.body, headers=got.headers)["status"] == "failed"
    assert fetched == ["/keys", "/keys"]
    with pytest.raises(NoticeSignatureError, match="does not match"):
        unpinned.verify_notice(body=got.body.replace(b'"failed"', b'"done"'), headers=got.headers)
