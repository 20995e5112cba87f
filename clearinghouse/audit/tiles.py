"""The log as static tiles (C2SP tlog-tiles), for mirroring and offline verification.

* ``checkpoint``: the latest signed checkpoint as a C2SP signed note (C2SP
  ``tlog-checkpoint`` body: origin, tree size, base64 root hash), signed with the
  checkpoints key (Ed25519 signature type 0x01 of C2SP ``signed-note``).
* ``tile/<L>/<N>[.p/<W>]``: the hashes of the tree at height 8·L, indices 256·N onwards,
  32 bytes each; full tiles hold 256 and never change. Level 0 is the leaf hashes. These
  are exactly the hashes the service stores (audit.tree: every leaf, every complete
  subtree at heights 8, 16, 24 …), so a tile costs one index range scan.
* ``tile/entries/<N>[.p/<W>]``: entry bundles: each entry (the canonical JSON whose
  RFC 6962 leaf hash is in the tree, docs/audit.md) as a big-endian uint16 length and the
  bytes. Entries name people only by pseudonym, as the export does.

``<N>`` is written in groups of three digits, every group but the last prefixed with
``x`` (1234067 → x001/x234/067). tools/audit_verify.py ``tiles`` verifies a mirrored
directory with nothing but the pinned keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection

from clearinghouse.audit.chain import entry_document
from clearinghouse.audit.models import AuditCheckpoint, AuditTile
from clearinghouse.audit.tree import BLOCK, STRIDE
from clearinghouse.core.crypto import canonical_json, signer_get
from clearinghouse.core.errors import NotFound

TILE_WIDTH = BLOCK  # 256
ED25519_TYPE = b"\x01"
_PATH = re.compile(r"^(?P<level>entries|\d{1,2})/(?P<index>(?:x\d{3}/)*\d{3})(?:\.p/(?P<width>\d{1,3}))?$")


def tile_index_path(index: int) -> str:
    digits = f"{index:d}"
    digits = digits.zfill((len(digits) + 2) // 3 * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{group}" for group in groups[:-1]), groups[-1]])


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{tile_index_path(index)}{suffix}"


def tile_path_parse(path: str) -> tuple[str, int, int]:
    """``<L or entries>/<N>[.p/<W>]`` (after ``tile/``) -> (level, index, width); NotFound
    for anything else, including non-canonical spellings of the same tile."""
    match = _PATH.match(path)
    if match is None:
        raise NotFound("no such tile")
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if not 1 <= width <= TILE_WIDTH or (match["width"] and width == TILE_WIDTH):
        raise NotFound("no such tile")
    level = match["level"]
    if level != "entries" and int(level) > 5:
        raise NotFound("no such tile")
    if tile_path(level, index, width) != f"tile/{path}":
        raise NotFound("no such tile")
    return level, index, width


def checkpoint_origin(log_id: str) -> str:
    return f"clearinghouse/audit/{log_id}"


def note_key_hash(name: str, public_key: bytes, signature_type: bytes = ED25519_TYPE) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + signature_type + public_key).digest()[:4]


def checkpoint_note(checkpoint: AuditCheckpoint) -> str:
    """The checkpoint as a C2SP signed note. The body commits to the same size and root as
    the JSON checkpoint; the signature is over the body's bytes (deterministic Ed25519)."""
    signer = signer_get("checkpoints")
    if signer.key_id != checkpoint.key_id:
        raise NotFound("the latest checkpoint was signed with a retired key; sign a new one")
    origin = checkpoint_origin(str(checkpoint.log_id))
    body = f"{origin}\n{checkpoint.tree_size}\n{base64.b64encode(bytes.fromhex(checkpoint.root_hash)).decode()}\n"
    signature = signer.private_key.sign(body.encode())
    line = base64.b64encode(note_key_hash(origin, signer.public_key_raw) + signature).decode()
    return f"{body}\n\u2014 {origin} {line}\n"


def checkpoint_latest() -> AuditCheckpoint:
    checkpoint = AuditCheckpoint.objects.order_by("-id").first()
    if checkpoint is None:
        raise NotFound("no checkpoint has been signed yet")
    return checkpoint


def _available(level: int, index: int, width: int, size: int) -> None:
    """A tile exists when the tree of ``size`` leaves has its ``width`` hashes."""
    if ((index * TILE_WIDTH + width) << (STRIDE * level)) > size:
        raise NotFound("no such tile in this log yet")


def _utc(moment) -> datetime:
    """A raw cursor's timestamp as an aware UTC time: PostgreSQL gives one; SQLite gives
    the stored UTC text or a naive datetime (Django stores UTC there)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def tile_read(*, level: str, index: int, width: int, size: int | None = None, keep: bool = True) -> bytes:
    """The bytes of one tile or entry bundle. A full tile is read from ``AuditTile`` once
    it was built (full tiles never change); otherwise it is built from the sealed log (one
    index range scan) and, when full, kept. A tile whose hashes are not all there yet
    (unsealed or beyond ``size``) is NotFound."""
    if size is not None:
        _available(0 if level == "entries" else int(level), index, width, size)
    if width != TILE_WIDTH:
        return _tile_build(level=level, index=index, width=width)
    code = AuditTile.ENTRIES if level == "entries" else int(level)
    with connection.cursor() as cursor:
        cursor.execute('SELECT data FROM audit_audittile WHERE level = %s AND "index" = %s', [code, index])
        row = cursor.fetchone()
    if row is not None:
        return bytes(row[0])
    data = _tile_build(level=level, index=index, width=width)
    if keep:
        # Two requests may build the same tile at once; both built the same bytes.
        AuditTile.objects.bulk_create([AuditTile(level=code, index=index, data=data)], ignore_conflicts=True)
    return data


def _tile_build(*, level: str, index: int, width: int) -> bytes:
    first = index * TILE_WIDTH
    with connection.cursor() as cursor:
        if level == "entries":
            cursor.execute(
                "SELECT time, actor_kind, actor_id, action, target, outcome, details FROM audit_auditevent "
                "WHERE seq > %s AND seq <= %s ORDER BY seq",
                [first, first + width],
            )
            rows = cursor.fetchall()
            if len(rows) != width:
                raise NotFound("no such tile in this log yet")
            out = bytearray()
            for moment, actor_kind, actor_id, action, target, outcome, details in rows:
                entry = canonical_json(
                    entry_document(
                        time=_utc(moment),
                        actor_kind=actor_kind,
                        actor_id=actor_id,
                        action=action,
                        target=target,
                        outcome=outcome,
                        details=json.loads(details) if isinstance(details, str) else details,
                    )
                )
                out += len(entry).to_bytes(2, "big") + entry
            return bytes(out)
        height = int(level) * STRIDE
        if height == 0:
            cursor.execute("SELECT leaf_hash FROM audit_auditevent WHERE seq > %s AND seq <= %s ORDER BY seq", [first, first + width])
        else:
            cursor.execute(
                'SELECT hash FROM audit_audittreenode WHERE level = %s AND "index" >= %s AND "index" < %s ORDER BY "index"',
                [height, first, first + width],
            )
        hashes = [bytes.fromhex(row[0]) for row in cursor.fetchall()]
    if len(hashes) != width:
        raise NotFound("no such tile in this log yet")
    return b"".join(hashes)


def tiles_for_size(size: int) -> list[tuple[str, int, int]]:
    """Every tile and entry bundle a tree of ``size`` leaves is served from: full tiles and
    the rightmost partial tile of each level."""
    tiles: list[tuple[str, int, int]] = []
    level, count = 0, size
    while count > 0:
        for index in range(count // TILE_WIDTH):
            tiles.append((str(level), index, TILE_WIDTH))
            if level == 0:
                tiles.append(("entries", index, TILE_WIDTH))
        if count % TILE_WIDTH:
            tiles.append((str(level), count // TILE_WIDTH, count % TILE_WIDTH))
            if level == 0:
                tiles.append(("entries", count // TILE_WIDTH, count % TILE_WIDTH))
        level, count = level + 1, count >> STRIDE
    return tiles


def tiles_write(*, directory: Path) -> tuple[AuditCheckpoint, int]:
    """Write the latest checkpoint and every tile it needs under ``directory`` (full tiles
    already there are kept: they never change). Returns (checkpoint, files written)."""
    checkpoint = checkpoint_latest()
    written = 0
    for level, index, width in tiles_for_size(checkpoint.tree_size):
        path = directory / tile_path(level, index, width)
        if width == TILE_WIDTH and path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not kept in the database: a mirror of the whole log would copy it there once more.
        path.write_bytes(tile_read(level=level, index=index, width=width, size=checkpoint.tree_size, keep=False))
        written += 1
    # The checkpoint last, so that a mirror never names tiles it does not hold yet; with the
    # witnesses' cosignatures collected so far.
    from clearinghouse.audit.witnessing import checkpoint_note_cosigned

    (directory / "checkpoint").write_text(checkpoint_note_cosigned(checkpoint), encoding="utf-8")
    return checkpoint, written + 1
