"""Checking who wrote a log entry, with public keys only.

The one cryptographic operation the relay performs: verifying an Ed25519 signature against a
log's public key (core/log/header.py explains the write authority it enforces). It holds no secret
and can open nothing, so the relay may import it; everything that seals, opens or signs lives in
core/crypto/envelope.py and core/crypto/keys.py.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tend.core.log.header import KEY_LEN, SIGNATURE_LEN, signature_of, signed_message

# The Ed25519 points of small order, as their y coordinate (the sign bit of x cleared), with the
# non-canonical encodings of 0 and 1 (p and p + 1). A signature "by" such a key can be forged
# without any secret (for the all-zero key, one message in four verifies with an all-zero
# signature), so no key of these is ever accepted. The same list libsodium refuses.
_SMALL_ORDER = frozenset(
    bytes.fromhex(h)
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)


def small_order(public: bytes) -> bool:
    return public[:31] + bytes([public[31] & 0x7F]) in _SMALL_ORDER


@lru_cache(maxsize=1024)
def _verifier(public: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True only for a valid Ed25519 signature; any malformed input is simply False."""
    if not (
        isinstance(public, bytes)
        and isinstance(signature, bytes)
        and len(public) == KEY_LEN
        and len(signature) == SIGNATURE_LEN
    ) or small_order(public):
        return False
    try:
        _verifier(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def written_by(log_key: bytes, entry: bytes) -> bool:
    """Whether `entry` carries a valid signature of the holder of `log_key`."""
    return verify(log_key, signed_message(entry), signature_of(entry))
