"""The committed translation catalogues are valid and compiled: Django reads only the .mo,
so a .po edited without compiling (or with a broken plural entry) silently shows English
or fails to load on a Chinese page."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = sorted(path for path in ROOT.glob("*/**/locale/*/LC_MESSAGES/django.po") if ".venv" not in path.parts)

pytestmark = pytest.mark.skipif(
    shutil.which("msgfmt") is None and os.environ.get("REQUIRE_SERVICES") != "1",
    reason="GNU gettext's msgfmt is not installed (CI installs it)",
)


def test_every_app_with_templates_has_a_catalogue():
    assert {path.relative_to(ROOT).parts[:2] for path in CATALOGUES} >= {("clearinghouse", "portal"), ("clearinghouse", "console")}


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda path: str(path.relative_to(ROOT)))
def test_catalogue_is_valid_and_its_committed_mo_is_up_to_date(po: Path, tmp_path: Path):
    compiled = tmp_path / "django.mo"
    result = subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(po)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert compiled.read_bytes() == po.with_suffix(".mo").read_bytes(), f"{po.with_suffix('.mo')} is stale: run manage.py compilemessages"
