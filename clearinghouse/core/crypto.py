"""Canonical encoding, Ed25519 signing keys and per-platform pseudonym keys.

All key material lives in files under ``settings.CH_KEY_DIR`` (generated on first use
outside production). The database only ever holds public keys.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SIGNING_USES = ("receipts", "releases", "checkpoints", "reports", "notifications")
ALGORITHM = "Ed25519"


def canonical_json(document: Any) -> bytes:
    """The one byte encoding that is hashed or signed: sorted keys, no spaces, UTF-8.

    Floats are refused: their text form differs between languages and JSON libraries, so
    a verifier in another language could not reproduce the bytes. Callers format
    fractional numbers (such as epsilon) as decimal strings.
    """
    _refuse_floats(document)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError(f"floats cannot be canonically encoded, format {value!r} as a string")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_floats(item)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class Signer:
    use: str
    key_id: str
    private_key: Ed25519PrivateKey

    @property
    def public_key_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, document: Any) -> str:
        return b64encode(self.private_key.sign(canonical_json(document)))

    def sign_bytes(self, data: bytes) -> str:
        """Signature over exactly these bytes (a notification's body as sent)."""
        return b64encode(self.private_key.sign(data))

    def envelope(self, document: Any) -> dict[str, Any]:
        """A self-describing signed document: verify ``signature`` over canonical_json(payload)."""
        return {"payload": document, "signature": self.sign(document), "key_id": self.key_id, "alg": ALGORITHM}


def key_id_for(public_key_raw: bytes) -> str:
    return "ed25519:" + sha256_hex(public_key_raw)[:16]


def verify_signature(*, public_key_raw: bytes, document: Any, signature_b64: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(b64decode(signature_b64), canonical_json(document))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


_lock = threading.Lock()
_signers: dict[str, _CachedSigner] = {}
_pseudonym_master: bytes | None = None


@dataclass(frozen=True)
class _CachedSigner:
    signer: Signer
    valid_from: str | None
    # Identity of the key file the signer was read from. Rotation replaces the file (a new
    # inode), so every process notices it on its next call without being restarted. None
    # when the file was gone as it was read (mid-swap): unequal to any present file's
    # identity, so the next call reads the key again.
    file_identity: tuple[int, int, int, int] | None


def _file_identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _key_dir() -> Path:
    path = Path(settings.CH_KEY_DIR)
    if not path.exists():
        if not settings.CH_GENERATE_KEYS:
            raise ImproperlyConfigured(f"key directory CH_KEY_DIR={path} does not exist")
        path.mkdir(parents=True, mode=0o700)
    return path


def _temp_file(path: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data`` unless it exists. Written aside and linked into
    place, so a reader never sees a half-written key and, when two processes start at
    once, the first link wins and both use the same key."""
    temp = _temp_file(path, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()


def _replace_secret(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one."""
    temp = _temp_file(path, data)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _load_or_create(path: Path, create: Callable[[], bytes]) -> bytes:
    if not path.exists():
        if not settings.CH_GENERATE_KEYS:
            raise ImproperlyConfigured(f"key file {path} is missing (CH_KEY_DIR) and CH_GENERATE_KEYS is off")
        _write_secret(path, create())
    return path.read_bytes()


def _new_private_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _signer_from_pem(use: str, pem: bytes) -> Signer:
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"signing key for {use} is not an Ed25519 key")
    public_raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Signer(use=use, key_id=key_id_for(public_raw), private_key=private_key)


def _signer_load(use: str) -> _CachedSigner:
    directory = _key_dir()
    pem_path = directory / f"signing-{use}.pem"
    meta_path = directory / f"signing-{use}.json"
    _load_or_create(pem_path, _new_private_key_pem)
    # A rotation in another process replaces the metadata, then the key: reading the key's
    # identity first and re-reading when it moved (or the metadata names another key)
    # never pairs one key with the other's valid_from.
    for attempt in range(10):
        identity = _file_identity(pem_path)
        signer = _signer_from_pem(use, pem_path.read_bytes())
        if not meta_path.exists():
            _write_secret(meta_path, json.dumps({"use": use, "id": signer.key_id, "valid_from": _now_iso()}).encode())
        meta = json.loads(meta_path.read_text())
        if identity != _file_identity(pem_path):
            continue
        # Key directories from before rotation recorded the id have metadata without one.
        if meta.get("id", signer.key_id) == signer.key_id:
            return _CachedSigner(signer=signer, valid_from=meta.get("valid_from"), file_identity=identity)
        if attempt < 9:
            time.sleep(0.002)
    # A rotation stopped between the two swaps: the old key still signs, and its retired
    # record (written first) has its valid_from.
    retired = directory / "retired" / f"{signer.key_id.replace(':', '-')}.json"
    valid_from = json.loads(retired.read_text()).get("valid_from") if retired.exists() else None
    return _CachedSigner(signer=signer, valid_from=valid_from, file_identity=identity)


def _signer_entry(use: str) -> _CachedSigner:
    if use not in SIGNING_USES:
        raise ValueError(f"unknown signing key use {use!r}")
    with _lock:
        cached = _signers.get(use)
        if cached is not None and cached.file_identity == _file_identity(Path(settings.CH_KEY_DIR) / f"signing-{use}.pem"):
            return cached
        entry = _signer_load(use)
        _signers[use] = entry
        return entry


def signer_get(use: str) -> Signer:
    """The current signer for ``use``. Cached, but checked against the key file on every
    call (one stat), so a key rotated by another process is used from its next call."""
    return _signer_entry(use).signer


def _now_iso() -> str:
    from django.utils import timezone

    return timezone.now().isoformat()


def published_keys() -> list[dict[str, Any]]:
    """Current and retired public keys, for GET /api/v1/keys and offline verifiers.

    A key is listed once: while a rotation is between writing the old key's retired
    record and swapping in the new key, the old key is still the one signing, so it is
    listed as current and its retired record is held back.
    """
    keys = []
    for use in SIGNING_USES:
        entry = _signer_entry(use)
        keys.append(
            {
                "id": entry.signer.key_id,
                "use": use,
                "algorithm": ALGORITHM,
                "public_key": b64encode(entry.signer.public_key_raw),
                "valid_from": entry.valid_from,
                "valid_until": None,
                "status": "current",
            }
        )
    current_ids = {key["id"] for key in keys}
    retired_dir = _key_dir() / "retired"
    if retired_dir.exists():
        for path in sorted(retired_dir.glob("*.json")):
            record = json.loads(path.read_text())
            if record["id"] not in current_ids:
                keys.append(record | {"status": "retired"})
    return keys


def signing_key_rotate(use: str) -> Signer:
    """Retire the current key for ``use`` (its public half stays published) and make a new one.

    Order matters for processes reading the directory meanwhile: the retired record is
    written before the swap, so the old public key is published at every instant; the new
    key's metadata is swapped in before the key itself (see _signer_load).
    """
    if use not in SIGNING_USES:
        raise ValueError(f"unknown signing key use {use!r}")
    directory = _key_dir()
    retired_dir = directory / "retired"
    retired_dir.mkdir(exist_ok=True, mode=0o700)
    with _rotation_lock(directory):
        old = _signer_entry(use)
        now = _now_iso()
        record = {
            "id": old.signer.key_id,
            "use": use,
            "algorithm": ALGORITHM,
            "public_key": b64encode(old.signer.public_key_raw),
            "valid_from": old.valid_from,
            "valid_until": now,
        }
        _replace_secret(retired_dir / f"{old.signer.key_id.replace(':', '-')}.json", json.dumps(record).encode())
        pem = _new_private_key_pem()
        new = _signer_from_pem(use, pem)
        _replace_secret(directory / f"signing-{use}.json", json.dumps({"use": use, "id": new.key_id, "valid_from": now}).encode())
        _replace_secret(directory / f"signing-{use}.pem", pem)
    return signer_get(use)


@contextmanager
def _rotation_lock(directory: Path):
    # Two rotations at once would each retire the same key and one new key would be lost.
    with open(directory / ".rotation.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def public_key_for(key_id: str) -> bytes | None:
    for record in published_keys():
        if record["id"] == key_id:
            return b64decode(record["public_key"])
    return None


def _pseudonym_master_key() -> bytes:
    global _pseudonym_master
    with _lock:
        if _pseudonym_master is None:
            data = _load_or_create(_key_dir() / "pseudonym.key", lambda: os.urandom(32))
            if len(data) < 32:
                raise ImproperlyConfigured("pseudonym.key must hold at least 32 bytes")
            _pseudonym_master = data
        return _pseudonym_master


_master_derived: dict[tuple[bytes, bytes], bytes] = {}


def master_key_derive(*, salt: bytes, info: bytes) -> bytes:
    """A 32-byte key derived from the master key with HKDF-SHA256 (salt and info name its
    use), cached per process. The master key never leaves this module."""
    key = _master_derived.get((salt, info))
    if key is None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(_pseudonym_master_key())
        _master_derived[(salt, info)] = key
    return key


def derived_key(label: str) -> bytes:
    """A 32-byte key for one use (``label``), derived from the master key with HKDF: for
    keyed hashes whose outputs must be unpredictable to anyone outside the service."""
    return master_key_derive(salt=b"clearinghouse/derived/v1", info=label.encode())


def master_key_load() -> None:
    """Load the master key now (creating it where keys may be generated)."""
    _pseudonym_master_key()


def reset_key_cache() -> None:
    """For tests that point CH_KEY_DIR somewhere else."""
    global _pseudonym_master
    with _lock:
        _signers.clear()
        _master_derived.clear()
        _pseudonym_master = None
