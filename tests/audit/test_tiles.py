"""Issue 15 item 2: the log as static tiles (C2SP tlog-tiles), served read-only and written
to a directory that an auditor mirrors and verifies offline with tools/audit_verify.py."""

import base64
import json
import shutil
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from clearinghouse.audit.merkle import root_of
from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.services import audit_checkpoint_sign
from clearinghouse.audit.tiles import tile_path, tile_path_parse, tiles_write
from clearinghouse.core.errors import NotFound
from tests.audit.conftest import TOOL_PATH, make_events
from tests.conftest import module_build, module_world


@pytest.fixture(scope="module")
def mirror_of_module(module_db, django_db_blocker, tmp_path_factory):
    """The log and its mirror, built once for the module (tests/conftest.py's module_db):
    every test here uses ``db``, and the ones that need a log without these events are in
    test_tiles_fresh_log.py."""
    built = tmp_path_factory.mktemp("mirror")
    with module_build(django_db_blocker):
        make_events(600)  # two full level-0 tiles and a partial one of 88
        checkpoint, _ = audit_checkpoint_sign()
        tiles_write(directory=built / "mirror")
        keys = APIClient().get("/api/v1/keys").json()
    (built / "keys.json").write_text(json.dumps(keys))
    return built, checkpoint


@pytest.fixture
def mirror(mirror_of_module, db, tmp_path):
    """The module's mirror, copied into this test's own directory (tests change it)."""
    built, checkpoint = mirror_of_module
    shutil.copytree(built / "mirror", tmp_path / "mirror")
    shutil.copyfile(built / "keys.json", tmp_path / "keys.json")
    return tmp_path / "mirror", tmp_path / "keys.json", module_world(checkpoint)


def verify(directory, keys, *extra):
    return subprocess.run(
        [sys.executable, str(TOOL_PATH), "tiles", "--dir", str(directory), "--keys", str(keys), *extra], capture_output=True, text=True
    )


def test_tile_paths_follow_tlog_tiles():
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path("entries", 2, 88) == "tile/entries/002.p/88"
    assert tile_path_parse("1/x001/x234/067.p/9") == ("1", 1234067, 9)
    for bad in ("0/0", "0/000.p/256", "0/000.p/0", "0/x000/001", "9/000", "0/000/", "entries/abc"):
        with pytest.raises(NotFound):
            tile_path_parse(bad)


def test_a_mirrored_directory_verifies_offline_with_nothing_else(mirror):
    directory, keys, checkpoint = mirror
    size = checkpoint.tree_size
    assert size >= 600
    result = verify(directory, keys)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{size} events in the mirrored tiles" in result.stdout and checkpoint.root_hash in result.stdout
    leaves = [bytes.fromhex(h) for h in AuditEvent.objects.filter(seq__lte=size).order_by("seq").values_list("leaf_hash", flat=True)]
    assert (directory / "tile/0/000").read_bytes() == b"".join(leaves[:256])
    assert (directory / f"tile/0/002.p/{size - 512}").read_bytes() == b"".join(leaves[512:size])
    assert (directory / "tile/1/000.p/2").read_bytes() == root_of(leaves[:256]) + root_of(leaves[256:512])
    note = (directory / "checkpoint").read_text()
    origin, tree_size, root = note.split("\n")[:3]
    assert origin == f"clearinghouse/audit/{checkpoint.log_id}" and int(tree_size) == size
    assert base64.b64decode(root).hex() == checkpoint.root_hash
    # Entries name people only as the export does.
    bundle = (directory / "tile/entries/000").read_bytes()
    first = json.loads(bundle[2 : 2 + int.from_bytes(bundle[:2], "big")])
    assert set(first) == {"time", "actor_kind", "actor_id", "action", "target", "outcome", "details"}


def test_a_tampered_mirror_is_caught(mirror, tmp_path):
    directory, keys, _checkpoint = mirror
    edited = tmp_path / "edited"
    shutil.copytree(directory, edited)
    bundle = bytearray((edited / "tile/entries/001").read_bytes())
    at = bundle.index(b'"n":')
    bundle[at + 4 : at + 5] = b"9" if bundle[at + 4 : at + 5] != b"9" else b"8"
    (edited / "tile/entries/001").write_bytes(bytes(bundle))
    result = verify(edited, keys)
    assert result.returncode == 1 and "tile_mismatch" in result.stderr and "tile/0/001" in result.stderr

    missing = tmp_path / "missing"
    shutil.copytree(directory, missing)
    (missing / "tile/1/000.p/2").unlink()
    result = verify(missing, keys)
    assert result.returncode == 1 and "tile/1/000.p/2 is missing" in result.stderr

    forged = tmp_path / "forged"
    shutil.copytree(directory, forged)
    note = (forged / "checkpoint").read_text().split("\n")
    note[1] = str(int(note[1]) - 1)  # a smaller tree under the old signature
    (forged / "checkpoint").write_text("\n".join(note))
    result = verify(forged, keys)
    assert result.returncode == 1 and "bad_signature" in result.stderr

    other_keys = json.loads(keys.read_text())
    other_keys["keys"] = [k for k in other_keys["keys"] if k["use"] != "checkpoints"] + [
        dict(k, use="checkpoints") for k in other_keys["keys"] if k["use"] == "receipts"
    ]
    unpinned = tmp_path / "unpinned.json"
    unpinned.write_text(json.dumps(other_keys))
    result = verify(directory, unpinned)
    assert result.returncode == 1 and "unknown_key" in result.stderr


def test_rewriting_adds_only_what_is_new(mirror):
    directory, keys, checkpoint = mirror
    full_tile = directory / "tile/0/000"
    before = full_tile.stat().st_mtime_ns
    make_events(10)
    audit_checkpoint_sign()
    _checkpoint, written = tiles_write(directory=directory)
    assert full_tile.stat().st_mtime_ns == before
    assert written <= 6  # the new partial tiles of each level, their entries, the checkpoint
    assert verify(directory, keys).returncode == 0


def test_the_tile_view_is_served_read_only(mirror, officer, consumer_a):
    directory, _keys, checkpoint = mirror
    anonymous = APIClient()
    response = anonymous.get("/api/v1/audit/tlog/checkpoint")
    assert response.status_code == 200 and response.content == (directory / "checkpoint").read_bytes()
    tile = anonymous.get("/api/v1/audit/tlog/tile/0/000")
    assert tile.status_code == 200 and tile.content == (directory / "tile/0/000").read_bytes()
    assert "immutable" in tile["Cache-Control"]
    partial = anonymous.get(f"/api/v1/audit/tlog/tile/0/002.p/{checkpoint.tree_size - 512}")
    assert partial.status_code == 200 and "immutable" not in partial["Cache-Control"]
    assert anonymous.get("/api/v1/audit/tlog/tile/0/009").status_code == 404  # not in the log yet
    assert anonymous.get("/api/v1/audit/tlog/tile/0/0").status_code == 404  # not a canonical path
    # Entry bundles are the events themselves: compliance only, like the export.
    assert anonymous.get("/api/v1/audit/tlog/tile/entries/000").status_code in (401, 403)
    assert consumer_a.client().get("/api/v1/audit/tlog/tile/entries/000").status_code == 403
    entries = officer_client_for(officer).get("/api/v1/audit/tlog/tile/entries/000")
    assert entries.status_code == 200 and entries.content == (directory / "tile/entries/000").read_bytes()
    assert anonymous.post("/api/v1/audit/tlog/tile/0/000").status_code in (403, 405)


def officer_client_for(officer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {officer.token}")
    return client


def test_a_full_tile_is_kept_once_built_and_served_from_there(mirror, officer):
    """Full tiles never change: the first request builds one from the log and keeps it;
    later ones read it back whole. Partial tiles (they grow) and the mirror command's own
    writes are not kept."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clearinghouse.audit.models import AuditTile

    directory, _keys, checkpoint = mirror
    assert not AuditTile.objects.exists()  # audit_tiles wrote a mirror without filling the cache
    anonymous = APIClient()
    first = anonymous.get("/api/v1/audit/tlog/tile/0/001")
    assert first.status_code == 200 and first.content == (directory / "tile/0/001").read_bytes()
    assert list(AuditTile.objects.values_list("level", "index")) == [(0, 1)]
    with CaptureQueriesContext(connection) as queries:
        again = anonymous.get("/api/v1/audit/tlog/tile/0/001")
    assert again.content == first.content and "max-age=31536000, immutable" in again["Cache-Control"]
    assert not any("audit_auditevent" in query["sql"] for query in queries.captured_queries)
    officer_client_for(officer).get("/api/v1/audit/tlog/tile/entries/000")
    assert bytes(AuditTile.objects.get(level=AuditTile.ENTRIES, index=0).data) == (directory / "tile/entries/000").read_bytes()
    anonymous.get(f"/api/v1/audit/tlog/tile/0/002.p/{checkpoint.tree_size - 512}")
    assert AuditTile.objects.count() == 2
    # A tile not complete yet is not kept, and served once it is.
    assert anonymous.get("/api/v1/audit/tlog/tile/0/003").status_code == 404
    make_events(1024 - checkpoint.tree_size)
    assert anonymous.get("/api/v1/audit/tlog/tile/0/003").status_code == 200 and AuditTile.objects.count() == 3


def _bundle_entries(data: bytes) -> list[bytes]:
    entries, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 2], "big")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries


def test_a_kept_entry_bundle_is_byte_identical_to_one_built_from_the_log(mirror, officer):
    """What is served from AuditTile must be what the log says: the same bytes as a bundle
    built afresh, each entry hashing to its leaf in the level-0 tile."""
    import hashlib

    from clearinghouse.audit.models import AuditTile
    from clearinghouse.audit.tiles import _tile_build

    directory, _keys, _checkpoint = mirror
    client = officer_client_for(officer)
    first = client.get("/api/v1/audit/tlog/tile/entries/001")
    kept = bytes(AuditTile.objects.get(level=AuditTile.ENTRIES, index=1).data)
    assert kept == first.content == _tile_build(level="entries", index=1, width=256) == (directory / "tile/entries/001").read_bytes()
    again = client.get("/api/v1/audit/tlog/tile/entries/001")
    assert again.content == kept and "immutable" in again["Cache-Control"]
    entries = _bundle_entries(kept)
    leaves = (directory / "tile/0/001").read_bytes()
    assert len(entries) == 256
    assert [hashlib.sha256(b"\x00" + entry).digest() for entry in entries] == [leaves[i : i + 32] for i in range(0, 8192, 32)]


def test_a_partial_entry_bundle_is_never_kept(mirror, officer):
    """The rightmost bundle grows: it is built each time and never kept, and neither is a
    full one asked for before the log holds it; once complete, the full one is kept."""
    from clearinghouse.audit.models import AuditTile
    from clearinghouse.audit.tiles import _tile_build, tile_read

    directory, _keys, checkpoint = mirror
    client = officer_client_for(officer)
    partial_width = checkpoint.tree_size - 512
    partial = client.get(f"/api/v1/audit/tlog/tile/entries/002.p/{partial_width}")
    assert partial.status_code == 200 and "immutable" not in partial["Cache-Control"]
    assert partial.content == (directory / f"tile/entries/002.p/{partial_width}").read_bytes()
    assert len(_bundle_entries(partial.content)) == partial_width
    assert tile_read(level="entries", index=2, width=partial_width) == partial.content
    assert client.get("/api/v1/audit/tlog/tile/entries/002").status_code == 404  # not complete yet
    assert not AuditTile.objects.filter(level=AuditTile.ENTRIES).exists()
    make_events(768 - checkpoint.tree_size)
    full = client.get("/api/v1/audit/tlog/tile/entries/002")
    assert full.status_code == 200 and len(_bundle_entries(full.content)) == 256
    assert list(AuditTile.objects.filter(level=AuditTile.ENTRIES).values_list("index", flat=True)) == [2]
    assert full.content == _tile_build(level="entries", index=2, width=256)
    assert full.content[: len(partial.content)] == partial.content  # the partial bundle was its beginning


def test_an_officer_reading_a_kept_bundle_costs_two_queries(mirror, officer):
    """The bearer token's credential comes with the user's roles in one query (api.actors
    asks nothing more), and a kept bundle is one primary-key read: the path whose tail
    issue 15 measures (docs/audit.md §8)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = officer_client_for(officer)
    assert client.get("/api/v1/audit/tlog/tile/entries/000").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        again = client.get("/api/v1/audit/tlog/tile/entries/000")
    assert again.status_code == 200
    sql = [query["sql"] for query in queries.captured_queries]
    assert len(sql) == 2, sql
    assert 'FROM "accounts_credential"' in sql[0] and "auth_user_groups" in sql[0]
    assert "FROM audit_audittile" in sql[1]
