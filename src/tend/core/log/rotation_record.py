"""The signed record of a key rotation: read by devices and checked by the relay, with no key.

Theory of operation
-------------------
When a person removes one of their devices, one of their other devices moves the space to a new
key epoch. The record says, in a msgpack map with short keys:

    "s" space id (16)     "e" new epoch (2 to 2^31 - 1)
    "p" SHA-256 of the capability being replaced (32)     "c" SHA-256 of the new capability (32)
    "k" [[log id (16), new epoch key sealed to that device (bin)], ...]   1 to 64 devices that stay
    "h" [[person id (16), new epoch key sealed to their recovery key (bin)], ...]  0 to 64 people
    "x" [[log id (16), upto seq, upto hash (32), identity proof (64)], ...]  0 to 64 devices removed
    "w" the log id of the device that rotates (16)

and is signed by the rotating device's log key:  Ed25519(log key, "tend/rotation/v1" | record).

The same signed record travels twice: inside the rotating device's `key.rotated` event, and to
the relay in the Rotate frame, which the relay checks (the signer is a log of this space it has
not seen removed, "p" is the capability it holds) before it files the record for devices that
were offline. It then refuses pushes from the removed logs. A device that gets the record from
the relay checks the signer against its own roster, and believes it was removed only if the
record carries a removal of itself signed by its own person's identity key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from tend.core.errors import MalformedRecord
from tend.core.ids import ID_LEN, LogId, PersonId, SpaceId
from tend.core.log.authorship import verify
from tend.core.log.header import HASH_LEN, MAX_RECORD

SIGNED_PREFIX = b"tend/rotation/v1"
MAX_DEVICES = 64
MAX_SEALED_KEY = 512
MIN_EPOCH, MAX_EPOCH = 2, (1 << 31) - 1


@dataclass(frozen=True, slots=True)
class Removal:
    device: LogId
    upto: int
    upto_hash: bytes
    proof: bytes


@dataclass(frozen=True, slots=True)
class RotationRecord:
    space: SpaceId
    epoch: int
    previous: bytes  # capability hash replaced
    capability: bytes  # new capability hash
    sealed: tuple[tuple[LogId, bytes], ...]
    removed: tuple[Removal, ...]
    signer: LogId
    # The new key for each person, sealed to the recovery key only their phrase holds: how a
    # device restored from the phrase follows a rotation none of its devices saw.
    recovery: tuple[tuple[PersonId, bytes], ...] = ()

    def encode(self) -> bytes:
        body = {
            "s": self.space,
            "e": self.epoch,
            "p": self.previous,
            "c": self.capability,
            "k": [[d, k] for d, k in self.sealed],
            "x": [[r.device, r.upto, r.upto_hash, r.proof] for r in self.removed],
            "w": self.signer,
            "h": [[p, k] for p, k in self.recovery],
        }
        out: bytes = msgpack.packb(body, use_bin_type=True)
        if len(out) > MAX_RECORD:
            raise MalformedRecord("a rotation record is too large")
        return out

    def sealed_to(self, device: bytes) -> bytes | None:
        return next((k for d, k in self.sealed if d == device), None)

    def sealed_for_recovery(self, person: bytes) -> bytes | None:
        return next((k for p, k in self.recovery if p == person), None)


def signing_input(record: bytes) -> bytes:
    return SIGNED_PREFIX + record


def signed_by(record: bytes, signature: bytes, signer_key: bytes) -> bool:
    return verify(signer_key, signing_input(record), signature)


def parse(record: object) -> RotationRecord:
    """Read a record from anywhere (the relay, a partner's event); MalformedRecord if it is not
    exactly one tend writes. Nothing is allocated by a size the record chooses."""
    if not isinstance(record, bytes) or not 0 < len(record) <= MAX_RECORD:
        raise MalformedRecord("a rotation record has an impossible size")
    try:
        body = msgpack.unpackb(
            record,
            raw=False,
            strict_map_key=True,
            max_bin_len=MAX_SEALED_KEY,
            max_str_len=8,
            max_array_len=MAX_DEVICES,
            max_map_len=8,
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError):
        raise MalformedRecord("a rotation record could not be read") from None
    if not isinstance(body, dict) or set(body) != set("sepckxwh"):
        raise MalformedRecord("a rotation record has the wrong fields")
    parsed = RotationRecord(
        space=SpaceId(_fixed(body["s"], ID_LEN)),
        epoch=_int(body["e"], MIN_EPOCH, MAX_EPOCH),
        previous=_fixed(body["p"], HASH_LEN),
        capability=_fixed(body["c"], HASH_LEN),
        sealed=_list(body["k"], _sealed, minimum=1),
        removed=_list(body["x"], _removal, minimum=0),
        signer=LogId(_fixed(body["w"], ID_LEN)),
        recovery=tuple((PersonId(d), k) for d, k in _list(body["h"], _sealed, minimum=0)),
    )
    staying = [d for d, _k in parsed.sealed]
    removed = [r.device for r in parsed.removed]
    people = [p for p, _k in parsed.recovery]
    if (
        len({*staying}) != len(staying)
        or len({*removed}) != len(removed)
        or len({*people}) != len(people)
    ):
        raise MalformedRecord("a rotation record names a device twice")
    if set(staying) & set(removed) or parsed.signer in removed:
        raise MalformedRecord("a rotation record keeps a device it removes")
    if parsed.encode() != record:
        # One encoding per record: what is signed is exactly what tend would write.
        raise MalformedRecord("a rotation record is not in the form tend writes")
    return parsed


def _fixed(value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise MalformedRecord(f"a rotation record holds a field that is not {size} bytes")
    return value


def _int(value: object, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise MalformedRecord("a rotation record holds a number out of range")
    return value


def _list(value: object, item: Callable[[Any], Any], *, minimum: int) -> tuple[Any, ...]:
    if not isinstance(value, list) or not minimum <= len(value) <= MAX_DEVICES:
        raise MalformedRecord("a rotation record names too few or too many devices")
    return tuple(item(v) for v in value)


def _sealed(value: object) -> tuple[LogId, bytes]:
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], bytes)):
        raise MalformedRecord("a rotation record holds a malformed sealed key")
    if not 0 < len(value[1]) <= MAX_SEALED_KEY:
        raise MalformedRecord("a rotation record holds a sealed key of an impossible size")
    return LogId(_fixed(value[0], ID_LEN)), value[1]


def _removal(value: object) -> Removal:
    if not (isinstance(value, list) and len(value) == 4):
        raise MalformedRecord("a rotation record holds a malformed removal")
    return Removal(
        LogId(_fixed(value[0], ID_LEN)),
        _int(value[1], 0, (1 << 63) - 1),
        _fixed(value[2], HASH_LEN),
        _fixed(value[3], 64),
    )
