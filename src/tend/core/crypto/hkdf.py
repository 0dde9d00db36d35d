"""HKDF (RFC 5869), on the standard library's HMAC.

The same bytes as `cryptography`'s HKDF classes, at a fraction of the cost: opening an entry
derives twice (its envelope, its key record), so for a device catching up on years of entries
the object set-up around each call is a large share of the whole. tests/test_hkdf.py compares
the two, and the test vectors pin the output.

`expand` is HKDF-Expand alone, for a key that is already uniformly random (a space key, or the
output of a KDF): RFC 5869 section 3.3 lets such a key be the pseudorandom key itself, and one
HMAC then gives up to a hash's length of output. Every envelope key is of that kind.
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


def expand(prk: bytes, info: bytes, length: int, hash_name: str = "sha256") -> bytes:
    """HKDF-Expand(prk, info, length) with SHA-256 or SHA-512, for one block of output at
    most (32 or 64 bytes): a single HMAC. `prk` must be a uniformly random key."""
    size = {"sha256": 32, "sha512": 64}[hash_name]
    if not 0 < length <= size or len(prk) < size // 2:
        raise ValueError("one block of HKDF-Expand, from a key of at least half its size")
    return hmac.digest(prk, info + b"\x01", hash_name)[:length]
