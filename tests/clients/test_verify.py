"""verify(): the client checks a signed result's signature, that the key was published for
releases and in force when the data was read, and that the document is the job asked about."""

from __future__ import annotations

import copy

import pytest
from clearinghouse_client import Job, SignatureError, verify_document

from clearinghouse.core import crypto
from tests.clients.conftest import TWO_TABLES, chair_release

pytestmark = pytest.mark.django_db(transaction=True)


# --- Verification ------------------------------------------------------------------------------


def test_verify_accepts_the_signed_result_and_refuses_a_tampered_one(connect):
    client = connect("en")
    job = client.report(**TWO_TABLES, epsilon="0.5").wait(timeout=60)
    checked = job.verify()
    assert checked.kind == "report" and checked.document_id == job.id
    assert checked.key_use == "releases" and checked.key_id == job.result["key_id"] and checked.key_status == "current"

    keys = client.keys()
    tampered = copy.deepcopy(job.data)
    tampered["result"]["payload"]["marginals"][0]["cells"][0]["value"] = "999.00"
    with pytest.raises(SignatureError) as caught:
        verify_document(tampered, keys, kind="report", document_id_expected=job.id)
    assert caught.value.code == "bad_signature"

    job.data = tampered  # the handle holding an altered document fails the same way
    with pytest.raises(SignatureError, match="does not match"):
        job.verify()


def test_verify_checks_the_key_use_the_document_and_pinning(connect, tmp_path):
    import json

    client = connect("en")
    job = client.release(**chair_release()).wait(timeout=60)
    keys = client.keys()

    wrong_use = [k | {"use": "receipts"} if k["id"] == job.result["key_id"] else k for k in keys]
    with pytest.raises(SignatureError) as caught:
        job.verify(wrong_use)
    assert caught.value.code == "wrong_key_use"

    receipts_key_only = [k for k in keys if k["use"] == "receipts"]
    with pytest.raises(SignatureError) as caught:
        job.verify({"keys": receipts_key_only})
    assert caught.value.code == "unknown_key"

    other = client.release(**chair_release(epsilon="0.6")).wait(timeout=60)
    swapped = Job(client, "release", other.data | {"id": job.id})
    with pytest.raises(SignatureError) as caught:
        swapped.verify()
    assert caught.value.code == "wrong_document"  # validly signed, but another release
    as_report = Job(client, "report", job.data)
    with pytest.raises(SignatureError) as caught:
        as_report.verify()
    assert caught.value.code == "wrong_document"  # a release is not a report
    assert client.job("release", job.id).verify().document_id == job.id

    pinned = tmp_path / "keys.json"
    pinned.write_text(json.dumps({"keys": keys}))
    offline = connect("en", keys=str(pinned))
    assert offline.keys() == keys
    assert offline.job("release", job.id).verify().key_id == job.result["key_id"]


def test_a_rotated_key_still_verifies_what_it_signed_but_not_a_key_retired_before(connect, signing_keys):
    client = connect("en")
    job = client.release(**chair_release()).wait(timeout=60)
    old_key = job.result["key_id"]
    crypto.signing_key_rotate("releases")
    keys = client.keys()
    retired = next(k for k in keys if k["id"] == old_key)
    assert retired["status"] == "retired" and retired["valid_until"]
    assert client.job("release", job.id).verify().key_status == "retired"

    # A key list claiming the key was retired before the data was read: it could not have signed.
    early = [k | {"valid_until": "2020-01-01T00:00:00+00:00"} if k["id"] == old_key else k for k in keys]
    with pytest.raises(SignatureError) as caught:
        job.verify(early)
    assert caught.value.code == "key_not_valid_then"
    late = [k | {"valid_from": "2099-01-01T00:00:00Z"} if k["id"] == old_key else k for k in keys]
    with pytest.raises(SignatureError) as caught:
        job.verify(late)
    assert caught.value.code == "key_not_valid_then"
