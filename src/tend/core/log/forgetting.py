"""The keyless half of forgetting: what a device and the relay both compute without any key.

A content key's sidecar (core/crypto/shred.py) is stored next to its entry with the hash of the
entry's forget token; an erase request presents the token itself, and whoever holds the sidecar
erases it when the hashes match. The relay imports this module, never crypto.

    key record = sidecar (48) | H(ft) (32)         what a device hands the relay with an entry
    H(ft)      = SHA-256("tend/forget/v1" | ft)
"""

from __future__ import annotations

import hashlib
import hmac

SIDECAR_LEN = 48
TOKEN_LEN = 32
HASH_LEN = 32
RECORD_LEN = SIDECAR_LEN + HASH_LEN
_LABEL = b"tend/forget/v1"


def token_hash(token: bytes) -> bytes:
    return hashlib.sha256(_LABEL + token).digest()


def token_matches(token: bytes, stored_hash: bytes) -> bool:
    return len(token) == TOKEN_LEN and hmac.compare_digest(token_hash(token), stored_hash)


def key_record(sidecar: bytes, forget_hash: bytes) -> bytes:
    if len(sidecar) != SIDECAR_LEN or len(forget_hash) != HASH_LEN:
        raise ValueError("a key record is a 48-byte sidecar and a 32-byte hash")
    return sidecar + forget_hash


def split_record(record: bytes) -> tuple[bytes, bytes]:
    """(sidecar, forget hash) of a key record; ValueError if it is not RECORD_LEN bytes."""
    if len(record) != RECORD_LEN:
        raise ValueError("a key record is 80 bytes")
    return record[:SIDECAR_LEN], record[SIDECAR_LEN:]
