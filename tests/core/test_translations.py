"""The committed translation catalogues are valid and compiled: Django reads only the .mo,
so a .po edited without compiling (or with a broken plural entry) silently shows English
or fails to load on a Chinese page."""

from __future__ import annotations

import os
import re
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


def _msgids(po: Path) -> list[str]:
    """The msgids of a catalogue (singular forms), unescaped."""
    ids, current, reading = [], None, False
    for line in po.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("msgid "):
            current, reading = line[6:].strip()[1:-1], True
        elif reading and line.startswith('"'):
            current += line.strip()[1:-1]
        else:
            if reading and current:
                ids.append(current.replace('\\"', '"').replace("\\n", "\n"))
            reading = False
    return ids


def _sources(app: Path) -> str:
    texts = [
        path.read_text(encoding="utf-8")
        for path in app.rglob("*")
        if path.suffix in {".py", ".html", ".txt"} and "locale" not in path.parts and "__pycache__" not in path.parts
    ]
    # Python joins adjacent literals ("…14. " "Chinese law…"), so the joins go too.
    return re.sub(r"\"\s*\"|'\s*'", "", " ".join(" ".join(texts).split()))


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_entry_is_written_in_its_own_apps_code(po: Path):
    """Each app's catalogue holds only strings that app's own code marks, because the
    recipe in the README (makemessages inside the app, --no-obsolete) drops every other:
    a string translated in another app's catalogue would read English on a Chinese page
    the next time someone runs it (the console once held the audit log's reasons)."""
    app = po.parents[3]
    sources = _sources(app)
    missing = []
    for msgid in _msgids(po):
        # The longest stretch without a placeholder: templates write {{ x }} where the
        # catalogue has %(x)s, and both collapse whitespace differently.
        pieces = [" ".join(piece.split()) for piece in re.split(r"%\(\w+\)[sd]|%%|%[sd]", msgid)]
        longest = max(pieces, key=len)
        if len(longest) >= 4 and longest not in sources and longest.replace("'", "\\'") not in sources:
            missing.append(msgid)
    assert not missing, f"{po.relative_to(ROOT)} translates strings its app does not mark: {missing}"
