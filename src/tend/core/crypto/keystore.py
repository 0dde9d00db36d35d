"""This device's secrets on disk: one file, mode 0600, optionally wrapped by a passphrase.

The file never holds names or journal content; those live only inside encrypted log entries.
Without a passphrase the file relies on the operating system's file permissions (and disk
encryption) alone; docs/security.md says what that means for a thief.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

import msgpack

from tend.core.crypto import envelope, keys, passphrase
from tend.core.errors import CorruptStore, InvalidEnvelope, WrongPassphrase
from tend.core.fsutil import write_private_atomic
from tend.core.ids import LogId, PersonId, SpaceId
from tend.core.log.header import log_id_of
from tend.core.log.identity import IDENTITY_LEN, cert_message, person_of

FILE_NAME = "device.tend"
VERSION = 2
_AAD = b"tend/device-file/v1"


class DeviceSettings(TypedDict, total=False):
    """What a device remembers besides its keys, kept in the device file (sealed with it)."""

    relay: str  # the relay this journal syncs through
    relay_epoch: int  # the newest key epoch whose capability the relay was shown
    private_kinds: list[str]  # kinds of entry kept private by default on this device
    compared: list[str]  # identities (hex) whose safety code was compared in person
    invitations: list[dict[str, Any]]  # links made here, until each is answered or expires
    escrow: str  # what the recovery escrow last left at the relay held (a digest)
    escrow_at: float  # when it was last left there (wall-clock seconds): rewritten monthly
    escrow_refused_at: float  # when a relay last said not now to it (offered again later)
    escrow_refused_by: str  # which relay said so, to which record (sync/client.py)
    joining: dict[str, Any]  # while a device that answered a link waits to be let in
    week_turns_at: str  # "HH:MM" on Sunday, from when planning looks at the coming week
    admission_code: str  # a relay operator's one-time code, until the relay creates our space


# The type each setting must have when a device file is read back.
SETTING_TYPES: dict[str, type] = {
    "relay": str,
    "relay_epoch": int,
    "private_kinds": list,
    "compared": list,
    "invitations": list,
    "escrow": str,
    "escrow_at": float,
    "escrow_refused_at": float,
    "escrow_refused_by": str,
    "joining": dict,
    "week_turns_at": str,
    "admission_code": str,
}


@dataclass(frozen=True)
class Anchor:
    """A device trusted directly, as pairing authenticated it: its key and its person."""

    sign_pub: bytes
    identity: bytes


class DeviceKeyHolder:
    """What a device's two secret keys give: its public keys and its log id. Shared by a
    device in its journal (DeviceKeys) and one still waiting to be let in (pairing.Pending)."""

    sign_seed: bytes
    dh_secret: bytes

    @property
    def sign_public(self) -> bytes:
        return keys.signing_public(self.sign_seed)

    @property
    def dh_public(self) -> bytes:
        return keys.dh_public(self.dh_secret)

    @property
    def log(self) -> LogId:
        return log_id_of(self.sign_public)


@dataclass
class DeviceKeys(DeviceKeyHolder):
    space: SpaceId
    sign_seed: bytes  # this device's log key: signs every entry it writes
    dh_secret: bytes
    identity_seed: bytes  # the person's identity key, held by each of their devices
    identity: bytes  # the person's identity record (core/log/identity.py)
    epoch: int
    space_keys: dict[int, bytes]
    private_key: bytes  # shared by one person's own devices only: seals private entries
    local_key: bytes  # this device only: seals caches that never leave it
    settings: DeviceSettings = field(default_factory=DeviceSettings)
    # Devices trusted directly: this one, and what its inviter trusted at pairing time.
    # Everything else on the roster is trusted because one of these brought it in.
    anchors: dict[LogId, Anchor] = field(default_factory=dict)
    root: bytes | None = None  # the person's root secret, while this device still keeps it

    @property
    def space_key(self) -> bytes:
        return self.space_keys[self.epoch]

    @property
    def person(self) -> PersonId:
        return person_of(self.identity)

    def cert(self) -> bytes:
        """This device's certificate, signed by its person's identity key."""
        message = cert_message(self.space, self.sign_public, self.dh_public)
        return keys.sign(self.identity_seed, message)

    def trust_anchors(self) -> dict[LogId, Anchor]:
        return {**self.anchors, self.log: Anchor(self.sign_public, self.identity)}

    @classmethod
    def generate(cls, space: SpaceId, person: keys.PersonSecrets, root: bytes | None) -> DeviceKeys:
        return cls(
            space=space,
            sign_seed=keys.new_signing_seed(),
            dh_secret=keys.new_dh_secret(),
            identity_seed=person.identity_seed,
            identity=person.identity().encode(),
            epoch=1,
            space_keys={1: keys.new_key()},
            private_key=person.private_key,
            local_key=keys.new_key(),
            root=root,
        )


def _to_record(k: DeviceKeys) -> dict[str, Any]:
    record: dict[str, Any] = {
        "space": k.space,
        "sign": k.sign_seed,
        "dh": k.dh_secret,
        "identity_seed": k.identity_seed,
        "identity": k.identity,
        "epoch": k.epoch,
        "keys": k.space_keys,
        "private": k.private_key,
        "local": k.local_key,
        "settings": k.settings,
        "anchors": {log: [a.sign_pub, a.identity] for log, a in k.anchors.items()},
    }
    if k.root is not None:
        record["root"] = k.root
    return record


def _from_record(r: dict[str, Any]) -> DeviceKeys:
    if not isinstance(r, dict):
        raise ValueError("device record is not a map")
    device = DeviceKeys(
        space=SpaceId(_sized(r["space"], 16)),
        sign_seed=_sized(r["sign"], 32),
        dh_secret=_sized(r["dh"], 32),
        identity_seed=_sized(r["identity_seed"], 32),
        identity=_sized(r["identity"], IDENTITY_LEN),
        epoch=r["epoch"],
        space_keys=_epoch_keys(r["keys"]),
        private_key=_sized(r["private"], 32),
        local_key=_sized(r["local"], 32),
        settings=_settings(r["settings"]),
        anchors=_anchors(r.get("anchors", {})),
        root=_sized(r["root"], 32) if "root" in r else None,
    )
    if not (isinstance(device.epoch, int) and device.epoch in device.space_keys):
        raise ValueError("device record has no key for its epoch")
    return device


def _sized(value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError("device record has the wrong shape")
    return value


def _epoch_keys(value: object) -> dict[int, bytes]:
    if not isinstance(value, dict) or not 0 < len(value) <= 1 << 16:
        raise ValueError("device record has no space keys")
    out: dict[int, bytes] = {}
    for epoch, key in value.items():
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 1 <= epoch < 1 << 31:
            raise ValueError("device record has an impossible epoch")
        out[epoch] = _sized(key, 32)
    return out


def _settings(value: object) -> DeviceSettings:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("device settings are not a map")
    for key, kind in SETTING_TYPES.items():
        if key in value and not isinstance(value[key], kind):
            raise ValueError(f"the device setting {key} has the wrong type")
    return cast(DeviceSettings, dict(value))


def _anchors(value: object) -> dict[LogId, Anchor]:
    if not isinstance(value, dict) or len(value) > 256:
        raise ValueError("device anchors are not a small map")
    out: dict[LogId, Anchor] = {}
    for log, pair in value.items():
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError("device anchors have the wrong shape")
        anchor = Anchor(_sized(pair[0], 32), _sized(pair[1], IDENTITY_LEN))
        if log_id_of(anchor.sign_pub) != log:
            raise ValueError("a device anchor does not match its key")
        out[LogId(log)] = anchor
    return out


@dataclass(frozen=True)
class Binding:
    """What a journal's database records of its device file (core/journal/keyring.py): a MAC over
    the file's secret content and its wrapping, under a key only that content holds. A device file
    planted in the home (another device's keys, another passphrase, or none) does not match."""

    locked: bool
    mac: bytes


@dataclass(frozen=True)
class Prepared:
    """A device file ready to be written, and the binding it will have once it is."""

    raw: bytes
    binding: Binding


_BINDING_LABEL = b"device-file-binding/v1"


def _binding(local_key: bytes, outer: dict[str, Any], body: bytes) -> Binding:
    """The binding of a device file: its wrapping (none, or Argon2id with this salt and cost)
    and its plaintext body, MACed under a subkey of the body's own local key."""
    locked = outer.get("wrap") == WRAP
    wrapping = [WRAP, outer["salt"], outer["cost"]] if locked else ["none"]
    message = msgpack.packb([_BINDING_LABEL, wrapping, body], use_bin_type=True)
    key = keys.derive(local_key, _BINDING_LABEL)
    return Binding(locked, hmac.new(key, message, hashlib.sha256).digest())


def prepare(path: Path, device: DeviceKeys, lock: passphrase.Lock | None = None) -> Prepared:
    """The device file `save` would write at `path`, sealed under `lock` when it has one.

    A lock with the salt of the file already at `path` must also have its cost: a salt is made
    fresh for every new passphrase, so the same salt with another cost is no lock of this file
    (an agent's, say), and writing its cost would leave a file the passphrase no longer opens."""
    record = _to_record(device)
    try:
        _from_record(record)  # never write a file that load would refuse
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptStore(f"refusing to save a device record load would refuse ({e})") from e
    body: bytes = msgpack.packb(record, use_bin_type=True)
    outer: dict[str, Any] = {"tend": "device", "v": VERSION}
    if lock is not None:
        lock.cost.check()
        if len(lock.salt) != passphrase.SALT_LEN or len(lock.key) != passphrase.KEY_LEN:
            raise CorruptStore("refusing to save a device file under a damaged lock")
        on_disk = _wrapping_on_disk(path)
        if on_disk is not None and on_disk[0] == lock.salt and on_disk[1] != lock.cost:
            raise CorruptStore(
                f"refusing to save {path.name} with a passphrase cost its passphrase was not "
                "stretched with"
            )
        outer.update(
            wrap=WRAP,
            salt=lock.salt,
            cost=[lock.cost.time, lock.cost.memory_kib, lock.cost.lanes],
            body=envelope.seal(lock.key, body, _AAD),
        )
    else:
        # A checksum, so a damaged file is refused rather than used with a wrong key (which
        # would seal new entries that nothing can ever open).
        outer.update(wrap="none", body=body, sum=hashlib.sha256(body).digest())
    raw: bytes = msgpack.packb(outer, use_bin_type=True)
    return Prepared(raw, _binding(device.local_key, outer, body))


def write(path: Path, prepared: Prepared) -> None:
    write_private_atomic(path, prepared.raw)


def save(path: Path, device: DeviceKeys, lock: passphrase.Lock | None = None) -> Binding:
    """Write the device file, sealed under `lock` when the device has a passphrase.

    A journal saves through its keyring (core/journal/keyring.py), which also records the
    binding."""
    prepared = prepare(path, device, lock)
    write(path, prepared)
    return prepared.binding


def _wrapping_on_disk(path: Path) -> tuple[bytes, passphrase.Cost] | None:
    """The salt and cost of the wrapped file at `path`, if there is a readable one."""
    try:
        if not path.exists() or not is_wrapped(path):
            return None
        return salt_and_cost(path)
    except (CorruptStore, OSError):
        return None  # nothing readable to keep: the new file is the whole truth


WRAP = "argon2id"


def is_wrapped(path: Path) -> bool:
    return bool(_read_outer(path).get("wrap") == WRAP)


def _read_outer(path: Path) -> dict[str, Any]:
    try:
        outer = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as e:  # TypeError: a map as a key
        raise CorruptStore(f"{path.name} is not a tend device file") from e
    if not isinstance(outer, dict) or outer.get("tend") != "device":
        raise CorruptStore(f"{path.name} is not a tend device file")
    if outer.get("v") != VERSION:
        raise CorruptStore(f"{path.name} was written by another version of tend")
    return outer


def salt_and_cost(path: Path, outer: dict[str, Any] | None = None) -> tuple[bytes, passphrase.Cost]:
    """What a passphrase for this file is stretched with, read before anyone is asked."""
    if outer is None:
        outer = _read_outer(path)
    salt, cost = outer.get("salt"), outer.get("cost")
    if not (
        isinstance(salt, bytes)
        and len(salt) == passphrase.SALT_LEN
        and isinstance(cost, list)
        and len(cost) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) for c in cost)
    ):
        raise CorruptStore(f"{path.name} is damaged")
    found = passphrase.Cost(*cost)
    found.check()
    return salt, found


def unlock(path: Path, secret: str) -> passphrase.Lock:
    """The lock a typed passphrase gives for this file (the slow step); checked by `load`."""
    salt, cost = salt_and_cost(path)
    return passphrase.Lock(salt, cost, passphrase.derive(secret, salt, cost))


def load(path: Path, lock: passphrase.Lock | None = None) -> DeviceKeys:
    return open_file(path, lock)[0]


def open_file(path: Path, lock: passphrase.Lock | None = None) -> tuple[DeviceKeys, Binding]:
    """The device keys in the file at `path`, and the file's binding (see `Binding`)."""
    outer = _read_outer(path)
    body = outer.get("body")
    if not isinstance(body, bytes):
        raise CorruptStore(f"{path.name} is damaged")
    plain = body
    if outer.get("wrap") == WRAP:
        if lock is None:
            raise WrongPassphrase(
                "this journal is locked with a passphrase; run from a terminal to be asked "
                "(or, in a script, set TEND_PASSPHRASE)"
            )
        salt, cost = salt_and_cost(path, outer)  # bounds checked here too, whoever asks
        if lock.salt != salt or lock.cost != cost:
            # Only the key opens the file, but the salt and cost are written back with it: a
            # lock that names others is not this file's, and must not be saved over it.
            raise WrongPassphrase("that unlock is for another device file")
        try:
            plain = envelope.open_envelope(lock.key, body, _AAD)
        except InvalidEnvelope:
            raise WrongPassphrase("that passphrase does not open this journal") from None
    else:
        check = outer.get("sum")
        if (
            outer.get("wrap") != "none"
            or not isinstance(check, bytes)
            or not hmac.compare_digest(check, hashlib.sha256(body).digest())
        ):
            raise CorruptStore(f"{path.name} is damaged (its checksum does not match)")
    try:
        device = _from_record(msgpack.unpackb(plain, raw=False, strict_map_key=False))
    except (KeyError, TypeError, ValueError, msgpack.UnpackException) as e:
        raise CorruptStore(f"{path.name} is damaged") from e
    return device, _binding(device.local_key, outer, plain)
