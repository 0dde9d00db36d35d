"""Who is who: a person's identity record, the person id derived from it, and what it signs.

Theory of operation
-------------------
Each person has a 32-byte secret (the root; shown to them as their recovery phrase) from which
three key pairs are derived (core/crypto/keys.py): the *identity* signing key, which every device of
that person holds and which cross-signs each of their devices; and two *recovery* keys, a
signing key and an X25519 key, kept only in the phrase, for bringing the person back on a new
device. The identity record is the three public keys, 96 bytes:

    identity  = identity public (32) | recovery signing public (32) | recovery X25519 public (32)
    person id = SHA-256("tend/person-id/v1" | identity)[:16]

so a person id cannot be claimed without the keys it is derived from. What the identity key
signs, each under its own label so that no signature can be replayed as another:

    device certificate  "tend/device-cert/v1" | space | device signing public | its X25519 public
    device removal      "tend/device-removed/v1" | space | device log id | upto seq u64 | upto hash
    a lost person's     "tend/lost-device-removed/v1" | (the same fields) | person.lost id,
      device removed      signed by the remover, another person (see core/trust/engine.py)

and what the recovery signing key signs, for a device the person restores from their phrase:

    device recovered    "tend/device-recovered/v1" | space | device signing public | X25519 public

A device belongs to person P only when P's identity key signed its certificate (cross-signing,
as Matrix and Signal do); core/trust/engine.py has the whole rule. This module holds no secret and
imports no cryptography beyond public-key verification (core/log/authorship.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from tend.core.errors import ValidationError
from tend.core.ids import ID_LEN, LogId, PersonId
from tend.core.log.authorship import verify

IDENTITY_LEN = 96
_PERSON_LABEL = b"tend/person-id/v1"
_CERT_LABEL = b"tend/device-cert/v1"
_REMOVAL_LABEL = b"tend/device-removed/v1"
_RECOVERY_LABEL = b"tend/device-recovered/v1"
_LOST_REMOVAL_LABEL = b"tend/lost-device-removed/v1"


@dataclass(frozen=True, slots=True)
class Identity:
    sign_pub: bytes
    recovery_sign_pub: bytes
    recovery_dh_pub: bytes

    def encode(self) -> bytes:
        return self.sign_pub + self.recovery_sign_pub + self.recovery_dh_pub

    @staticmethod
    def decode(raw: object) -> Identity:
        if not isinstance(raw, bytes) or len(raw) != IDENTITY_LEN:
            raise ValidationError("identity", f"{IDENTITY_LEN} bytes of public keys")
        return Identity(raw[:32], raw[32:64], raw[64:])

    @property
    def person(self) -> PersonId:
        return person_of(self.encode())


# X25519 public keys of small order (as u-coordinates, the top bit ignored), with the
# non-canonical encodings of 0 and 1: sealing to one gives a shared secret of zero (refused), or
# one an attacker knows. No device may be described with one. The list libsodium refuses.
_SMALL_ORDER_X25519 = frozenset(
    bytes.fromhex(h)
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)


def dh_key_ok(public: bytes) -> bool:
    """Whether an X25519 public key may be sealed to (32 bytes, not of small order)."""
    if not isinstance(public, bytes) or len(public) != 32:
        return False
    return public[:31] + bytes([public[31] & 0x7F]) not in _SMALL_ORDER_X25519


def person_of(identity: bytes) -> PersonId:
    return PersonId(hashlib.sha256(_PERSON_LABEL + identity).digest()[:ID_LEN])


def _sized(*fields: tuple[bytes, int]) -> None:
    if not all(isinstance(value, bytes) and len(value) == size for value, size in fields):
        raise ValueError("a signed message holds a field of the wrong size")


def cert_message(space: bytes, sign_pub: bytes, dh_pub: bytes) -> bytes:
    _sized((space, ID_LEN), (sign_pub, 32), (dh_pub, 32))
    return _CERT_LABEL + space + sign_pub + dh_pub


def recovery_message(space: bytes, sign_pub: bytes, dh_pub: bytes) -> bytes:
    _sized((space, ID_LEN), (sign_pub, 32), (dh_pub, 32))
    return _RECOVERY_LABEL + space + sign_pub + dh_pub


def removal_message(space: bytes, device: LogId, upto: int, upto_hash: bytes) -> bytes:
    _sized((space, ID_LEN), (device, ID_LEN), (upto_hash, 32))
    return _REMOVAL_LABEL + space + device + upto.to_bytes(8, "big") + upto_hash


def lost_removal_message(
    space: bytes, device: LogId, upto: int, upto_hash: bytes, mark: bytes
) -> bytes:
    """What another person signs to remove a device of someone marked lost, naming the mark
    (`person.lost` event id) it relies on: a label of its own, so it can never be read as the
    device's own person retiring it."""
    _sized((space, ID_LEN), (device, ID_LEN), (upto_hash, 32), (mark, ID_LEN))
    return _LOST_REMOVAL_LABEL + space + device + upto.to_bytes(8, "big") + upto_hash + mark


# The three checks below are pure functions of their bytes, asked again for the same facts each
# time the roster is worked out: remembering the answers keeps a live entry's ingest cheap.
@lru_cache(maxsize=4096)
def cert_valid(identity: bytes, space: bytes, sign_pub: bytes, dh_pub: bytes, cert: bytes) -> bool:
    """Whether the person of `identity` vouched that this device is theirs, in this space."""
    who = Identity.decode(identity)
    return verify(who.sign_pub, cert_message(space, sign_pub, dh_pub), cert)


@lru_cache(maxsize=1024)
def recovery_valid(
    identity: bytes, space: bytes, sign_pub: bytes, dh_pub: bytes, proof: bytes
) -> bool:
    """Whether the holder of the person's recovery phrase brought this device in."""
    who = Identity.decode(identity)
    return verify(who.recovery_sign_pub, recovery_message(space, sign_pub, dh_pub), proof)


@lru_cache(maxsize=1024)
def removal_valid(
    identity: bytes, space: bytes, device: LogId, upto: int, upto_hash: bytes, proof: bytes
) -> bool:
    who = Identity.decode(identity)
    return verify(who.sign_pub, removal_message(space, device, upto, upto_hash), proof)


@lru_cache(maxsize=1024)
def lost_removal_valid(
    identity: bytes,
    space: bytes,
    device: LogId,
    upto: int,
    upto_hash: bytes,
    mark: bytes,
    proof: bytes,
) -> bool:
    """Whether the person of `identity` (not the device's own) signed this removal."""
    if len(mark) != ID_LEN:
        return False
    who = Identity.decode(identity)
    message = lost_removal_message(space, device, upto, upto_hash, mark)
    return verify(who.sign_pub, message, proof)
