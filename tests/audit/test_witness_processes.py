"""Issue 15: witnesses as the demo and docker/compose.yaml run them. Each is its own
process (``python -m clearinghouse.audit.witness``, no Django settings, no database) with
its own key and state, pinning the log from the origin line ``manage.py audit_origin``
writes and publishing its verifier key into a file the service reads
(``CH_AUDIT_WITNESSES=file:<path>@<url>``); ``audit_checkpoint --cosign`` then leaves the
checkpoint cosigned by both, and a witness that has not published its key yet is skipped."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from rest_framework.test import APIClient

from clearinghouse.audit.models import AuditCosignature
from clearinghouse.audit.services import audit_checkpoint_sign
from clearinghouse.audit.witnessing import audit_checkpoint_cosign
from tests.audit.conftest import TOOL_PATH, make_events

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def witness_processes(db, tmp_path):
    origin = tmp_path / "origin"
    out = StringIO()
    call_command("audit_origin", "--output", str(origin), stdout=out)
    assert origin.read_text().strip() == out.getvalue().strip() and out.getvalue().startswith("clearinghouse/audit/")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}  # nothing of the service
    processes, urls = [], []
    for number in (1, 2):
        home = tmp_path / f"witness-{number}"
        home.mkdir()
        # fmt: off
        process = subprocess.Popen(
            [sys.executable, "-m", "clearinghouse.audit.witness", "serve", "--name", f"w{number}.example/1",
             "--key", str(home / "key.pem"), "--state", str(home / "state.json"), "--log-file", str(origin),
             "--publish", str(home / "vkey"), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )
        # fmt: on
        processes.append(process)
        ready = process.stdout.readline().split()
        assert ready[2] == "listening", ready
        urls.append(f"http://{ready[4]}")
    yield tmp_path, urls
    for process in processes:
        process.terminate()
        process.wait(10)


def test_two_witness_processes_cosign_what_the_service_offers(witness_processes, settings, tmp_path):
    directory, urls = witness_processes
    settings.CH_AUDIT_WITNESSES = [f"file:{directory / f'witness-{n}' / 'vkey'}@{url}" for n, url in zip((1, 2), urls)]
    make_events(5)
    errors = StringIO()
    call_command("audit_checkpoint", "--cosign", stdout=StringIO(), stderr=errors)
    assert "witness w1.example/1: cosigned" in errors.getvalue() and "witness w2.example/1: cosigned" in errors.getvalue()
    make_events(3)
    later, _ = audit_checkpoint_sign()
    assert set(audit_checkpoint_cosign(checkpoint_id=later.pk).values()) == {"cosigned"}
    assert AuditCosignature.objects.filter(checkpoint=later).count() == 2
    for n in (1, 2):
        state = json.loads((directory / f"witness-{n}" / "state.json").read_text())
        assert [entry["size"] for entry in state["logs"].values()] == [later.tree_size] and state["alerts"] == []

    # The auditor's side: pin both published keys, require both.
    call_command("audit_tiles", "--output", str(tmp_path / "mirror"), stdout=StringIO())
    (tmp_path / "keys.json").write_text(json.dumps(APIClient().get("/api/v1/keys").json()))
    pinned = [arg for n in (1, 2) for arg in ("--witness", (directory / f"witness-{n}" / "vkey").read_text().strip())]
    result = subprocess.run(
        [sys.executable, str(TOOL_PATH), "tiles", "--dir", str(tmp_path / "mirror"), "--keys", str(tmp_path / "keys.json"), *pinned]
        + ["--require-witnesses", "2"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "cosigned by w1.example/1, w2.example/1" in result.stdout


def test_a_witness_whose_key_is_not_published_yet_is_skipped(witness_processes, settings):
    directory, urls = witness_processes
    settings.CH_AUDIT_WITNESSES = [f"file:{directory / 'witness-1' / 'vkey'}@{urls[0]}", f"file:{directory / 'nowhere'}@{urls[1]}"]
    make_events(2)
    checkpoint, _ = audit_checkpoint_sign()
    assert audit_checkpoint_cosign(checkpoint_id=checkpoint.pk) == {"w1.example/1": "cosigned"}


@pytest.mark.parametrize("value", ["w.example+1234@http://x", "file:/k", "nonsense@ftp://x"])
def test_a_malformed_witness_list_stops_the_service_at_start(value):
    env = dict(os.environ, CH_AUDIT_WITNESSES=value, DJANGO_SETTINGS_MODULE="clearinghouse.settings")
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode != 0 and "CH_AUDIT_WITNESSES" in result.stderr and ImproperlyConfigured.__name__ in result.stderr
