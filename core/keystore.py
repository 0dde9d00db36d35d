"""This device's secrets on disk: one file, mode 0600, optionally wrapped by a passphrase.

The file never holds names or journal content; those live only inside encrypted log entries.
Without a passphrase the file relies on the operating system's file permissions (and disk
encryption) alone; docs/security.md says what that means for a thief.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from tend.core import envelope, keys
from tend.core.errors import CorruptStore, InvalidEnvelope, WrongPassphrase
from tend.core.fsutil import write_private_atomic
from tend.core.ids import LogId, PersonId, SpaceId

FILE_NAME = "device.tend"
_AAD = b"tend/device-file/v1"


@dataclass
class DeviceKeys:
    space: SpaceId
    person: PersonId
    log: LogId
    sign_seed: bytes
    dh_secret: bytes
    epoch: int
    space_keys: dict[int, bytes]
    private_key: bytes  # shared by one person's own devices only: seals private entries
    local_key: bytes  # this device only: seals caches that never leave it
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def space_key(self) -> bytes:
        return self.space_keys[self.epoch]

    @property
    def sign_public(self) -> bytes:
        return keys.signing_public(self.sign_seed)

    @property
    def dh_public(self) -> bytes:
        return keys.dh_public(self.dh_secret)

    @classmethod
    def generate(cls, space: SpaceId, person: PersonId, log: LogId) -> DeviceKeys:
        return cls(
            space=space,
            person=person,
            log=log,
            sign_seed=keys.new_signing_seed(),
            dh_secret=keys.new_dh_secret(),
            epoch=1,
            space_keys={1: keys.new_key()},
            private_key=keys.new_key(),
            local_key=keys.new_key(),
        )


def _to_record(k: DeviceKeys) -> dict[str, Any]:
    return {
        "space": k.space,
        "person": k.person,
        "log": k.log,
        "sign": k.sign_seed,
        "dh": k.dh_secret,
        "epoch": k.epoch,
        "keys": k.space_keys,
        "private": k.private_key,
        "local": k.local_key,
        "settings": k.settings,
    }


def _from_record(r: dict[str, Any]) -> DeviceKeys:
    return DeviceKeys(
        space=SpaceId(r["space"]),
        person=PersonId(r["person"]),
        log=LogId(r["log"]),
        sign_seed=r["sign"],
        dh_secret=r["dh"],
        epoch=r["epoch"],
        space_keys=dict(r["keys"]),
        private_key=r["private"],
        local_key=r["local"],
        settings=dict(r["settings"]),
    )


def save(path: Path, device: DeviceKeys, passphrase: str | None = None) -> None:
    body: bytes = msgpack.packb(_to_record(device), use_bin_type=True)
    outer: dict[str, Any] = {"tend": "device", "v": 1}
    if passphrase:
        salt = secrets.token_bytes(16)
        outer.update(
            wrap="scrypt",
            n=keys.SCRYPT_N,
            salt=salt,
            body=envelope.seal(keys.passphrase_key(passphrase, salt), body, _AAD),
        )
    else:
        outer.update(wrap="none", body=body)
    write_private_atomic(path, msgpack.packb(outer, use_bin_type=True))


def is_wrapped(path: Path) -> bool:
    return bool(_read_outer(path).get("wrap") == "scrypt")


def _read_outer(path: Path) -> dict[str, Any]:
    try:
        outer = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as e:
        raise CorruptStore(f"{path.name} is not a tend device file") from e
    if not isinstance(outer, dict) or outer.get("tend") != "device":
        raise CorruptStore(f"{path.name} is not a tend device file")
    return outer


def load(path: Path, passphrase: str | None = None) -> DeviceKeys:
    outer = _read_outer(path)
    body = outer.get("body")
    if not isinstance(body, bytes):
        raise CorruptStore(f"{path.name} is damaged")
    if outer.get("wrap") == "scrypt":
        if not passphrase:
            raise WrongPassphrase(
                "this journal is locked with a passphrase; set TEND_PASSPHRASE "
                "or run from a terminal to be asked"
            )
        try:
            key = keys.passphrase_key(passphrase, outer["salt"], outer["n"])
            body = envelope.open_envelope(key, body, _AAD)
        except InvalidEnvelope:
            raise WrongPassphrase("that passphrase does not open this journal") from None
    try:
        return _from_record(msgpack.unpackb(body, raw=False, strict_map_key=False))
    except (KeyError, TypeError, ValueError, msgpack.UnpackException) as e:
        raise CorruptStore(f"{path.name} is damaged") from e
