"""The relay capability: what a device shows the relay to use the space, derived from the
current epoch's key, so members need no other secret and a new epoch gives a new capability.
The relay keeps only its SHA-256."""

from __future__ import annotations

import hashlib

from tend.core.crypto import keys


def capability(space_key: bytes) -> bytes:
    return keys.derive(space_key, b"relay-capability")


def capability_hash(cap: bytes) -> bytes:
    return hashlib.sha256(cap).digest()


def hash_for(space_key: bytes) -> bytes:
    return capability_hash(capability(space_key))
