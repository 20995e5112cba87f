"""tools/verify_release.py: what a manufacturer runs offline, with only `cryptography`."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

from rest_framework.test import APIClient

from tests.releases.conftest import PRODUCT

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_release.py"


def run(tmp_path, release: bytes, keys: bytes):
    (tmp_path / "release.json").write_bytes(release)
    (tmp_path / "keys.json").write_bytes(keys)
    return subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "release.json"), str(tmp_path / "keys.json")], capture_output=True, text=True
    )


def test_a_real_release_verifies_and_its_scale_reads_without_float_artifacts(tmp_path, world, django_capture_on_commit_callbacks):
    people = world.consumers(2)
    world.consent(people)
    world.signals([{"consumer": person, "category": "furniture/sofa", "attribute": "modular", "value": 3} for person in people])
    client = world.manufacturer.client()
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post("/api/v1/releases", {"purpose": PRODUCT, "measure": "mean_value", "epsilon": "0.3"}, format="json")
    release = client.get(f"/api/v1/releases/{created.json()['id']}").json()
    keys = json.dumps(APIClient().get("/api/v1/keys").json()).encode()
    result = run(tmp_path, json.dumps(release, ensure_ascii=False).encode(), keys)
    assert result.returncode == 0, result.stdout + result.stderr
    scales = re.findall(r"scale (\S+?)[,)]", result.stdout)
    assert scales and all(len(scale.replace(".", "")) <= 12 for scale in scales), result.stdout
    # The signed reach is printed with its half-widths.
    people = r"(\d+|0 \(drawn -\d+\)) ±\d+"
    assert re.search(rf"reach: covers about {people} eligible people, left out at their cap about {people}", result.stdout), result.stdout


def test_a_noisy_count_of_people_below_zero_reads_as_zero_beside_the_signed_draw():
    spec = importlib.util.spec_from_file_location("verify_release", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    line = tool.reach_line(
        {"reach": {"share": "0.05", "covered": {"value": 179, "half_width": 133}, "left_out": {"value": -13, "half_width": 133}}}
    )
    assert (
        line == "reach: covers about 179 ±133 eligible people, left out at their cap about 0 (drawn -13) ±133 (paid from 0.05 of the cost)"
    )


def test_scales_print_as_a_person_reads_them():
    spec = importlib.util.spec_from_file_location("verify_release", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.readable_scale("6.000000000000001") == "6"
    assert tool.readable_scale("33.333333333333336") == "33.3333333333"
    assert tool.readable_scale("0.5") == "0.5"


def test_files_that_are_not_a_release_get_one_line_saying_why(tmp_path, world, consumer_a, purposes):
    from tests.conftest import grant_body, link_subject

    keys = json.dumps(APIClient().get("/api/v1/keys").json()).encode()
    link_subject(consumer_a, world.platform, "alice-at-p")
    receipt = consumer_a.client().post("/api/v1/me/consents", grant_body(purposes[PRODUCT], world.platform.slug), format="json").json()
    cases = {
        json.dumps(receipt).encode(): "release.json is not a release: expected the body of GET /api/v1/releases/{id}",
        b'{"id": "r1", "status": "queued", "result": null}': "release r1 has no signed result yet (status 'queued')",
        b"not json at all": "release.json is not a JSON file (Expecting value",
        b"": "release.json is not a JSON file (Expecting value",
    }
    for text, reason in cases.items():
        result = run(tmp_path, text, keys)
        assert result.returncode == 1, result
        assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: ") and reason in result.stderr, result.stderr
    # The bare receipt envelope is an envelope, but not signed with a releases key.
    bare = run(tmp_path, json.dumps(receipt["receipt"]).encode(), keys)
    assert bare.returncode == 1 and "not for releases" in bare.stdout
