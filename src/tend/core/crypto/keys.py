"""Key material and the public-key operations tend uses. With envelope.py, the only modules
that import `cryptography` (beside core/log/authorship.py, which only verifies).

* Ed25519 signs every entry a device writes (its log key), and a person's identity key signs
  their devices' certificates; verifying needs only public keys (core/log/authorship.py).
* A person's keys all come from one 32-byte root, the secret their recovery phrase encodes.
* X25519 lets a device receive keys sealed to it (new epochs, invites).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tend.core.crypto import envelope
from tend.core.errors import InvalidEnvelope
from tend.core.log import authorship
from tend.core.log.identity import Identity

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw


def new_key() -> bytes:
    return secrets.token_bytes(envelope.KEY_LEN)


def new_signing_seed() -> bytes:
    return secrets.token_bytes(32)


@lru_cache(maxsize=16)
def _signer(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


@lru_cache(maxsize=64)
def signing_public(seed: bytes) -> bytes:
    return _signer(seed).public_key().public_bytes(_RAW, _RAW_PUB)


def sign(seed: bytes, message: bytes) -> bytes:
    return _signer(seed).sign(message)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    return authorship.verify(public, message, signature)


def new_dh_secret() -> bytes:
    return secrets.token_bytes(32)


def dh_public(secret: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(_RAW, _RAW_PUB)


def dh_shared(secret: bytes, peer_public: bytes) -> bytes:
    """X25519 between our secret and a peer's public key; InvalidEnvelope for a peer key that
    gives an all-zero secret (a low-order point)."""
    try:
        return X25519PrivateKey.from_private_bytes(secret).exchange(
            X25519PublicKey.from_public_bytes(peer_public)
        )
    except ValueError:
        raise InvalidEnvelope from None


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


@dataclass(frozen=True)
class PersonSecrets:
    """Everything one person's keys derive from their root (see core/log/identity.py).

    The identity seed and the private-entry key are held by each of their devices; the recovery
    seeds only in the root itself, which the person keeps as their recovery phrase.
    """

    identity_seed: bytes
    recovery_seed: bytes
    recovery_dh_secret: bytes
    private_key: bytes

    @classmethod
    def from_root(cls, root: bytes) -> PersonSecrets:
        if len(root) != 32:
            raise ValueError("a person's root secret is 32 bytes")
        return cls(
            identity_seed=derive(root, b"person/identity"),
            recovery_seed=derive(root, b"person/recovery-sign"),
            recovery_dh_secret=derive(root, b"person/recovery-dh"),
            private_key=derive(root, b"person/private-entries"),
        )

    def identity(self) -> Identity:
        return Identity(
            signing_public(self.identity_seed),
            signing_public(self.recovery_seed),
            dh_public(self.recovery_dh_secret),
        )


def new_root() -> bytes:
    return secrets.token_bytes(32)
