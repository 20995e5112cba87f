"""The release engine's settings fail at start, naming the variable, when malformed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("CH_RELEASE_WORK_MEM", "lots", "CH_RELEASE_WORK_MEM must look like 256MB"),
        ("CH_RELEASE_MAX_CELLS", "0", "CH_RELEASE_MAX_CELLS must be at least 1"),
        ("CH_RELEASE_LEASE_SECONDS", "soon", "CH_RELEASE_LEASE_SECONDS must be an integer"),
    ],
)
def test_malformed_release_settings_stop_the_start(tmp_path, name, value, message):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="clearinghouse.settings", CH_VAR_DIR=str(tmp_path), **{name: value})
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert message in result.stderr
