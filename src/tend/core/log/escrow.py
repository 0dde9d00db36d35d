"""Where a person's recovery phrase finds their journal again: a sealed escrow at the relay.

Theory of operation
-------------------
A device restored from a recovery phrase knows only the phrase. From it come the person's keys
(core/crypto/keys.py `PersonSecrets`) and so their identity record, and from the record a *locator*:

    locator = SHA-256("tend/recovery-locator/v1" | identity record)[:16], as 32 hex digits

Under it the relay keeps one blob, sealed to the person's recovery X25519 key (which only the
phrase holds): the space id, every space key epoch, and the devices the person's devices trust
(core/trust/recovery.py writes and reads it; inside the seal the record is signed by the identity
key, since anyone can seal to a public key). Each of the person's devices replaces the blob when
what it holds changes (a new epoch, a new member). The relay lets a blob be written only with a
signature by the identity key the locator derives from:

    signature = Ed25519(identity key, "tend/escrow/v1" | locator (16 bytes) | blob)

so the partner, who knows the identity record, cannot overwrite it, and the relay (which can
check that with the record and the public key alone) cannot read it. This module holds no secret.
"""

from __future__ import annotations

import hashlib

from tend.core.log.authorship import verify
from tend.core.log.identity import IDENTITY_LEN, Identity

LOCATOR_LEN = 16
MAX_BLOB = 64 << 10
_LOCATOR_LABEL = b"tend/recovery-locator/v1"
_SIGNED_PREFIX = b"tend/escrow/v1"


def locator_of(identity: bytes) -> bytes:
    return hashlib.sha256(_LOCATOR_LABEL + identity).digest()[:LOCATOR_LEN]


def signing_input(locator: bytes, blob: bytes) -> bytes:
    return _SIGNED_PREFIX + locator + blob


def write_allowed(locator: bytes, identity: bytes, blob: bytes, signature: bytes) -> bool:
    """Whether a write of `blob` under `locator` comes from the identity it belongs to."""
    if not (
        isinstance(identity, bytes)
        and len(identity) == IDENTITY_LEN
        and isinstance(blob, bytes)
        and 0 < len(blob) <= MAX_BLOB
        and locator_of(identity) == locator
    ):
        return False
    return verify(Identity.decode(identity).sign_pub, signing_input(locator, blob), signature)
