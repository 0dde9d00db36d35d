"""This device's secrets on disk: one file, mode 0600, optionally wrapped by a passphrase.

The file never holds names or journal content; those live only inside encrypted log entries.
Without a passphrase the file relies on the operating system's file permissions (and disk
encryption) alone; docs/security.md says what that means for a thief.
"""

from __future__ import annotations

import hashlib
import hmac
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
_MAX_SCRYPT_N = 1 << 20  # room to raise keys.SCRYPT_N later; caps scrypt memory at 1 GiB


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
    # Devices trusted directly (log id -> Ed25519 public key): this one, and the device that
    # invited it. Everything else on the roster is trusted because one of these added it.
    anchors: dict[bytes, bytes] = field(default_factory=dict)

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
        "anchors": k.anchors,
    }


def _from_record(r: dict[str, Any]) -> DeviceKeys:
    device = DeviceKeys(
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
        anchors=dict(r.get("anchors", {})),
    )
    _check_shape(device)
    return device


def _check_shape(k: DeviceKeys) -> None:
    """ValueError unless ids and keys have their sizes and the current epoch has a key."""
    ids = (k.space, k.person, k.log)
    secret = (k.sign_seed, k.dh_secret, k.private_key, k.local_key, *k.space_keys.values())
    if not (
        all(isinstance(x, bytes) and len(x) == 16 for x in ids)
        and all(isinstance(x, bytes) and len(x) == 32 for x in secret)
        and isinstance(k.epoch, int)
        and k.epoch in k.space_keys
    ):
        raise ValueError("device record has the wrong shape")


def save(path: Path, device: DeviceKeys, passphrase: str | None = None) -> None:
    body: bytes = msgpack.packb(_to_record(device), use_bin_type=True)
    outer: dict[str, Any] = {"tend": "device", "v": 1}
    if passphrase:
        salt = secrets.token_bytes(16)
        n = keys.SCRYPT_N  # derive with the cost we record, even if SCRYPT_N was changed
        outer.update(
            wrap="scrypt",
            n=n,
            salt=salt,
            body=envelope.seal(keys.passphrase_key(passphrase, salt, n), body, _AAD),
        )
    else:
        # A checksum, so a damaged file is refused rather than used with a wrong key (which
        # would seal new entries that nothing can ever open).
        outer.update(wrap="none", body=body, sum=hashlib.sha256(body).digest())
    write_private_atomic(path, msgpack.packb(outer, use_bin_type=True))


def is_wrapped(path: Path) -> bool:
    return bool(_read_outer(path).get("wrap") == "scrypt")


def _read_outer(path: Path) -> dict[str, Any]:
    try:
        outer = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as e:  # TypeError: a map as a key
        raise CorruptStore(f"{path.name} is not a tend device file") from e
    if not isinstance(outer, dict) or outer.get("tend") != "device":
        raise CorruptStore(f"{path.name} is not a tend device file")
    return outer


def _valid_scrypt_n(n: int) -> bool:
    return 2 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0


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
        n, salt = outer.get("n"), outer.get("salt")
        # Checked before use: a damaged file must not become a raw ValueError or a huge scrypt.
        if not (isinstance(salt, bytes) and isinstance(n, int) and _valid_scrypt_n(n)):
            raise CorruptStore(f"{path.name} is damaged")
        try:
            key = keys.passphrase_key(passphrase, salt, n)
            body = envelope.open_envelope(key, body, _AAD)
        except InvalidEnvelope:
            raise WrongPassphrase("that passphrase does not open this journal") from None
    elif "sum" in outer:  # files written before the checksum was added have none
        check = outer["sum"]
        if not isinstance(check, bytes) or not hmac.compare_digest(
            check, hashlib.sha256(body).digest()
        ):
            raise CorruptStore(f"{path.name} is damaged (its checksum does not match)")
    try:
        return _from_record(msgpack.unpackb(body, raw=False, strict_map_key=False))
    except (KeyError, TypeError, ValueError, msgpack.UnpackException) as e:
        raise CorruptStore(f"{path.name} is damaged") from e
