"""Key material and the public-key operations tend uses. The only module besides envelope.py
that imports `cryptography`.

* Ed25519 signs every entry a device writes; readers verify against the roster.
* X25519 lets a device receive keys sealed to it (new epochs, invites).
* scrypt turns an optional passphrase into the key that wraps a device's secrets at rest.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tend.core import envelope
from tend.core.errors import InvalidEnvelope

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw

# scrypt cost: about 0.1 s on this class of machine, paid once per command when a passphrase is set.
SCRYPT_N = 1 << 15
SCRYPT_R = 8
SCRYPT_P = 1


def new_key() -> bytes:
    return secrets.token_bytes(envelope.KEY_LEN)


def new_signing_seed() -> bytes:
    return secrets.token_bytes(32)


@lru_cache(maxsize=16)
def _signer(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


@lru_cache(maxsize=256)
def _verifier(public: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public)


def signing_public(seed: bytes) -> bytes:
    return _signer(seed).public_key().public_bytes(_RAW, _RAW_PUB)


def sign(seed: bytes, message: bytes) -> bytes:
    return _signer(seed).sign(message)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        _verifier(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def new_dh_secret() -> bytes:
    return secrets.token_bytes(32)


def dh_public(secret: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(_RAW, _RAW_PUB)


def derive(key: bytes, label: bytes, salt: bytes | None = None) -> bytes:
    """A 32-byte subkey of `key` for one purpose, named by `label`."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"tend/" + label).derive(key)


def seal_to(recipient_dh_public: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Seal bytes so only the holder of the X25519 secret can open them (ephemeral-static DH)."""
    ephemeral = X25519PrivateKey.generate()
    eph_pub = ephemeral.public_key().public_bytes(_RAW, _RAW_PUB)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_dh_public))
    key = derive(shared, b"seal-to", salt=eph_pub + recipient_dh_public)
    return eph_pub + envelope.seal(key, plaintext, context)


def open_sealed(dh_secret: bytes, sealed: bytes, context: bytes) -> bytes:
    if len(sealed) < 32:
        raise InvalidEnvelope
    eph_pub, body = sealed[:32], sealed[32:]
    me = X25519PrivateKey.from_private_bytes(dh_secret)
    try:
        shared = me.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    except ValueError:
        raise InvalidEnvelope from None
    key = derive(shared, b"seal-to", salt=eph_pub + dh_public(dh_secret))
    return envelope.open_envelope(key, body, context)


def passphrase_key(passphrase: str, salt: bytes, n: int = SCRYPT_N) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode("utf-8"))
