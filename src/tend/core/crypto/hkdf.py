"""HKDF-SHA256 (RFC 5869), on the standard library's HMAC.

The same bytes as `cryptography`'s HKDF class, at about half the cost: opening an entry runs it
twice (its envelope, its key record), so for a device catching up on years of entries the
object set-up around each call is a large share of the whole. tests/test_hkdf.py compares the
two, and the test vectors pin the output.
"""

from __future__ import annotations

import hmac

_HASH = "sha256"
_HASH_LEN = 32
MAX_LENGTH = 255 * _HASH_LEN


def derive(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """`length` bytes of output keying material for `ikm`, under `salt` and `info`."""
    if not 0 < length <= MAX_LENGTH:
        raise ValueError("HKDF-SHA256 gives 1 to 8160 bytes")
    prk = hmac.digest(salt or bytes(_HASH_LEN), ikm, _HASH)
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), _HASH)
        out += block
        counter += 1
    return out[:length]
