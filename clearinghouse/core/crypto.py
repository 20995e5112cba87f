"""Canonical encoding, Ed25519 signing keys and per-platform pseudonym keys.

All key material lives in files under ``settings.CH_KEY_DIR`` (generated on first use
outside production). The database only ever holds public keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SIGNING_USES = ("receipts", "releases", "checkpoints")
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
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, document: Any) -> str:
        return b64encode(self.private_key.sign(canonical_json(document)))

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
_signers: dict[str, Signer] = {}
_pseudonym_master: bytes | None = None


def _key_dir() -> Path:
    path = Path(settings.CH_KEY_DIR)
    if not path.exists():
        if not settings.CH_GENERATE_KEYS:
            raise ImproperlyConfigured(f"key directory CH_KEY_DIR={path} does not exist")
        path.mkdir(parents=True, mode=0o700)
    return path


def _write_secret(path: Path, data: bytes) -> None:
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _load_or_create(path: Path, create: callable) -> bytes:
    if not path.exists():
        if not settings.CH_GENERATE_KEYS:
            raise ImproperlyConfigured(f"key file {path} is missing (CH_KEY_DIR) and CH_GENERATE_KEYS is off")
        _write_secret(path, create())
    return path.read_bytes()


def signer_get(use: str) -> Signer:
    if use not in SIGNING_USES:
        raise ValueError(f"unknown signing key use {use!r}")
    with _lock:
        cached = _signers.get(use)
        if cached is not None:
            return cached
        pem = _load_or_create(
            _key_dir() / f"signing-{use}.pem",
            lambda: Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        meta_path = _key_dir() / f"signing-{use}.json"
        if not meta_path.exists():
            _write_secret(meta_path, json.dumps({"use": use, "valid_from": _now_iso()}).encode())
        private_key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise ImproperlyConfigured(f"signing key for {use} is not an Ed25519 key")
        public_raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        signer = Signer(use=use, key_id=key_id_for(public_raw), private_key=private_key)
        _signers[use] = signer
        return signer


def _now_iso() -> str:
    from django.utils import timezone

    return timezone.now().isoformat()


def published_keys() -> list[dict[str, Any]]:
    """Current and retired public keys, for GET /api/v1/keys and offline verifiers."""
    keys = []
    for use in SIGNING_USES:
        signer = signer_get(use)
        meta = json.loads((_key_dir() / f"signing-{use}.json").read_text())
        keys.append(
            {
                "id": signer.key_id,
                "use": use,
                "algorithm": ALGORITHM,
                "public_key": b64encode(signer.public_key_raw),
                "valid_from": meta.get("valid_from"),
                "valid_until": None,
                "status": "current",
            }
        )
    retired_dir = _key_dir() / "retired"
    if retired_dir.exists():
        for path in sorted(retired_dir.glob("*.json")):
            keys.append(json.loads(path.read_text()) | {"status": "retired"})
    return keys


def signing_key_rotate(use: str) -> Signer:
    """Retire the current key for ``use`` (its public half stays published) and make a new one."""
    old = signer_get(use)
    directory = _key_dir()
    retired_dir = directory / "retired"
    retired_dir.mkdir(exist_ok=True, mode=0o700)
    meta = json.loads((directory / f"signing-{use}.json").read_text())
    record = {
        "id": old.key_id,
        "use": use,
        "algorithm": ALGORITHM,
        "public_key": b64encode(old.public_key_raw),
        "valid_from": meta.get("valid_from"),
        "valid_until": _now_iso(),
    }
    (retired_dir / f"{old.key_id.replace(':', '-')}.json").write_text(json.dumps(record))
    (directory / f"signing-{use}.pem").unlink()
    (directory / f"signing-{use}.json").unlink()
    with _lock:
        _signers.pop(use, None)
    return signer_get(use)


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


_platform_keys: dict[int, bytes] = {}


def platform_pseudonym_key(platform_id: int) -> bytes:
    """Per-platform HMAC key derived from the master key.

    Derived rather than stored so that the database never holds a key able to link a
    pseudonym back to a platform's subject reference, and so that the same person on two
    platforms yields two unrelated pseudonyms.
    """
    key = _platform_keys.get(platform_id)
    if key is None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"clearinghouse/platform-pseudonym/v1", info=f"platform:{platform_id}".encode()
        ).derive(_pseudonym_master_key())
        _platform_keys[platform_id] = key
    return key


_derived_keys: dict[str, bytes] = {}


def derived_key(label: str) -> bytes:
    """A 32-byte key for one use (``label``), derived from the master key with HKDF: for
    keyed hashes whose outputs must be unpredictable to anyone outside the service."""
    key = _derived_keys.get(label)
    if key is None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"clearinghouse/derived/v1", info=label.encode()).derive(
            _pseudonym_master_key()
        )
        _derived_keys[label] = key
    return key


def subject_pseudonym(*, platform_id: int, subject_ref: str) -> str:
    mac = hmac.HMAC(platform_pseudonym_key(platform_id), hashes.SHA256())
    mac.update(subject_ref.encode("utf-8"))
    return mac.finalize().hex()


def reset_key_cache() -> None:
    """For tests that point CH_KEY_DIR somewhere else."""
    global _pseudonym_master
    with _lock:
        _signers.clear()
        _platform_keys.clear()
        _derived_keys.clear()
        _pseudonym_master = None
