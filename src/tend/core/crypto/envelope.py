"""The encryption envelope: one versioned format for every sealed byte tend stores or sends.

Theory of operation
-------------------
    envelope = version (2) | key id (8) | salt (32) | commitment (32) | ciphertext + tag (16)

* A fresh random 32-byte salt per envelope and the key give, by one block of HKDF-Expand-SHA512
  (the key is uniformly random: core/crypto/hkdf.py), a one-time ChaCha20-Poly1305 key and a
  32-byte key commitment; the nonce is zero, since that cipher key seals this envelope alone.
  Nothing repeats under one key, whatever the clock or the counter state of a device.
* The commitment binds the envelope to exactly one key: an attacker cannot craft a ciphertext
  that opens under two keys (the "invisible salamander" problem of bare AEADs).
* Associated data = the envelope's own prefix (version, key id, salt) + the caller's context
  (for log entries, the entry header), so neither can be swapped.
* Plaintext is padded before sealing, 256-byte steps up to 4 KiB and Padmé above, so the length
  of a note does not show through.
* Every way opening can fail raises the same `InvalidEnvelope`: no oracle.

Randomness is a parameter (`salt=`) so the test vectors in tests/vectors/ are byte-exact.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tend.core.crypto import hkdf
from tend.core.errors import InvalidEnvelope

VERSION = 2  # v2: one HKDF-Expand-SHA512 block (v1: HKDF-SHA256, 76 bytes)
KEY_LEN = 32
KEY_ID_LEN = 8
SALT_LEN = 32
COMMIT_LEN = 32
TAG_LEN = 16
PREFIX_LEN = 1 + KEY_ID_LEN + SALT_LEN
OVERHEAD = PREFIX_LEN + COMMIT_LEN + TAG_LEN
MAX_PLAINTEXT = 1 << 20  # one event is small; this bounds what any envelope may carry
_INFO = b"tend/envelope/v2"
_NONCE = bytes(12)
_STEP = 256
_LINEAR_LIMIT = 4096


def key_id(key: bytes) -> bytes:
    """A short public name for a key, so a reader knows which key to try."""
    return hashlib.blake2b(key, digest_size=KEY_ID_LEN, person=b"tend-key-id").digest()


def padded_length(n: int) -> int:
    """Bucket size for n bytes of content (the pad marker included)."""
    if n <= _LINEAR_LIMIT:
        return max(_STEP, -(-n // _STEP) * _STEP)
    exponent = n.bit_length() - 1
    low_bits = exponent - exponent.bit_length()
    mask = (1 << low_bits) - 1
    return (n + mask) & ~mask


def pad(data: bytes) -> bytes:
    # ISO/IEC 7816-4: a 0x80 marker then zeros, so any content (even trailing zeros) round-trips.
    size = padded_length(len(data) + 1)
    return data + b"\x80" + bytes(size - len(data) - 1)


def unpad(data: bytes) -> bytes:
    body = data.rstrip(b"\x00")
    if not body or body[-1] != 0x80:
        raise InvalidEnvelope
    return body[:-1]


def _derive(key: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    """(one-time cipher key, nonce, commitment) for `key` and an envelope's `salt`."""
    okm = hkdf.expand(key, _INFO + salt, KEY_LEN + COMMIT_LEN, "sha512")
    return okm[:KEY_LEN], _NONCE, okm[KEY_LEN:]


def seal(
    key: bytes,
    plaintext: bytes,
    aad: bytes = b"",
    *,
    salt: bytes | None = None,
    limit: int = MAX_PLAINTEXT,
) -> bytes:
    if len(key) != KEY_LEN:
        raise ValueError("envelope keys are 32 bytes")
    if len(plaintext) > limit:
        raise ValueError("plaintext too large for one envelope")
    salt = secrets.token_bytes(SALT_LEN) if salt is None else salt
    if len(salt) != SALT_LEN:
        raise ValueError("salt must be 32 bytes")
    prefix = bytes([VERSION]) + key_id(key) + salt
    enc_key, nonce, commitment = _derive(key, salt)
    ciphertext = ChaCha20Poly1305(enc_key).encrypt(nonce, pad(plaintext), prefix + aad)
    return prefix + commitment + ciphertext


# The longest envelope of MAX_PLAINTEXT, worked out once: every entry a device opens is checked
# against it.
_LONGEST = OVERHEAD + padded_length(MAX_PLAINTEXT + 1)


def envelope_key_id(envelope: bytes) -> bytes:
    if len(envelope) < OVERHEAD or envelope[0] != VERSION:
        raise InvalidEnvelope
    return envelope[1 : 1 + KEY_ID_LEN]


def open_envelope(
    key: bytes, envelope: bytes, aad: bytes = b"", *, limit: int = MAX_PLAINTEXT
) -> bytes:
    longest = _LONGEST if limit == MAX_PLAINTEXT else OVERHEAD + padded_length(limit + 1)
    if (
        len(key) != KEY_LEN
        or len(envelope) < OVERHEAD + _STEP
        or len(envelope) > longest
        or envelope[0] != VERSION
    ):
        raise InvalidEnvelope
    prefix = envelope[:PREFIX_LEN]
    salt = prefix[1 + KEY_ID_LEN :]
    commitment = envelope[PREFIX_LEN : PREFIX_LEN + COMMIT_LEN]
    enc_key, nonce, expected = _derive(key, salt)
    if not hmac.compare_digest(commitment, expected):
        raise InvalidEnvelope
    try:
        padded = ChaCha20Poly1305(enc_key).decrypt(
            nonce, envelope[PREFIX_LEN + COMMIT_LEN :], prefix + aad
        )
    except InvalidTag:
        raise InvalidEnvelope from None
    return unpad(padded)
