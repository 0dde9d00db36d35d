"""Crypto-shredding: the words of an entry under a key kept apart from the log, so they can be
forgotten while every log still verifies.

Theory of operation
-------------------
    CK       = 32 fresh random bytes, one per entry (the content key)
    box      = ChaCha20-Poly1305(CK, nonce 0, event bytes, aad = "tend/keyed/v1" | space | id)
    WK       = HKDF-Expand-SHA256(prk = space key of the entry's epoch,
                                  info = "tend/content-key/v2" | entry hash, 32 bytes)
    sidecar  = ChaCha20-Poly1305(WK, nonce 0, CK, aad = "")        48 bytes
    ft       = HKDF-SHA256(ikm = the author's own-devices private key, salt = entry id,
                           info = "tend/forget/v1")               the forget token
    H(ft)    = SHA-256("tend/forget/v1" | ft)                    (core/log/forgetting.py)

The box rides inside the entry (core/journal/mapper.py), so the hash chain and the signature
cover it; the sidecar travels beside the entry and is stored in its own deletable row. Erase the
sidecar and CK is gone: the box is noise, the chain is whole. A zero nonce is safe because each
key seals exactly one message: CK is fresh per entry, and WK is bound to one entry's hash (a
sidecar moved to another entry does not unwrap). What a member can do with the space key is
unwrap a sidecar it holds: forgetting needs every honest device to erase its copy, which is what
they do on a forget retraction from the entry's own author. Only the author's devices hold the
private key ft is derived from, so only they can ask the relay to erase its copy; the relay
keeps H(ft) and learns nothing from it.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tend.core.crypto import hkdf
from tend.core.errors import InvalidEnvelope

KEY_LEN = 32
SIDECAR_LEN = KEY_LEN + 16
_NONCE = bytes(12)
_BOX_AAD = b"tend/keyed/v1"
_WRAP_INFO = b"tend/content-key/v2"
_FORGET_INFO = b"tend/forget/v1"


def new_content_key() -> bytes:
    return secrets.token_bytes(KEY_LEN)


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return hkdf.derive(ikm, salt, info, KEY_LEN)


def _wrap_key(space_key: bytes, entry_hash: bytes) -> bytes:
    # One HMAC: the space key is uniformly random, so HKDF-Expand needs no Extract before it.
    return hkdf.expand(space_key, _WRAP_INFO + entry_hash, KEY_LEN)


def seal_words(content_key: bytes, plaintext: bytes, space: bytes, event_id: bytes) -> bytes:
    """The box an entry carries: its event's bytes under its own content key."""
    aad = _BOX_AAD + space + event_id
    return ChaCha20Poly1305(content_key).encrypt(_NONCE, plaintext, aad)


def open_words(content_key: bytes, box: bytes, space: bytes, event_id: bytes) -> bytes:
    try:
        return ChaCha20Poly1305(content_key).decrypt(_NONCE, box, _BOX_AAD + space + event_id)
    except (InvalidTag, ValueError):
        raise InvalidEnvelope from None


def wrap(space_key: bytes, entry_hash: bytes, content_key: bytes) -> bytes:
    """The sidecar: `content_key` under a key only this entry's hash and its epoch's key give."""
    return ChaCha20Poly1305(_wrap_key(space_key, entry_hash)).encrypt(_NONCE, content_key, b"")


def unwrap(space_key: bytes, entry_hash: bytes, sidecar: bytes) -> bytes:
    """The content key, or InvalidEnvelope for a sidecar that is not this entry's (or damaged)."""
    if len(sidecar) != SIDECAR_LEN:
        raise InvalidEnvelope
    try:
        return ChaCha20Poly1305(_wrap_key(space_key, entry_hash)).decrypt(_NONCE, sidecar, b"")
    except InvalidTag:
        raise InvalidEnvelope from None


def forget_token(private_key: bytes, event_id: bytes) -> bytes:
    """What proves to a blind relay that an erase comes from the entry's author's own device."""
    return _hkdf(private_key, event_id, _FORGET_INFO)


__all__ = [
    "KEY_LEN",
    "SIDECAR_LEN",
    "forget_token",
    "new_content_key",
    "open_words",
    "seal_words",
    "unwrap",
    "wrap",
]
