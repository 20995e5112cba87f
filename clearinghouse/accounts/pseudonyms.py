"""Per-platform pseudonyms of subject references: the wall between platforms.

A platform's subject reference is stored only as an HMAC under a key derived for that
platform alone, so the same person on two platforms yields two unrelated pseudonyms and
the database never holds a key able to link a pseudonym back to a reference.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac

from clearinghouse.core.crypto import master_key_derive

# Changing the salt or the info re-keys every link: existing pseudonyms would stop matching.
_SALT = b"clearinghouse/platform-pseudonym/v1"


def platform_pseudonym_key(platform_id: int) -> bytes:
    """Per-platform HMAC key derived from the master key (derived, never stored)."""
    return master_key_derive(salt=_SALT, info=f"platform:{platform_id}".encode())


def subject_pseudonym(*, platform_id: int, subject_ref: str) -> str:
    mac = hmac.HMAC(platform_pseudonym_key(platform_id), hashes.SHA256())
    mac.update(subject_ref.encode("utf-8"))
    return mac.finalize().hex()
