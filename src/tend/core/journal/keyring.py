"""This device's keys in memory, and the device file that keeps them (core/crypto/keystore.py).

Theory of operation
-------------------
The keyring holds one `DeviceKeys`: the device's own keys, its person's, every space key epoch
it has, and its settings. Whatever changes them (a new epoch, a setting, a passphrase) is saved
at once by re-writing the device file.

journal.db records the binding (core/crypto/keystore.py) of the one device file that is this
journal's: a device file planted in the home, with keys, a passphrase or no passphrase of
someone else's choosing, is refused at open, before anything is read or written with it. A save
adds the new binding before the file is replaced and drops the old one after, so whatever a
crash leaves on disk, journal.db accepts the device file that is there.

Saves (and opens, which read the file and its binding) are serialised between tend processes by
an advisory lock on the home folder, where the system has one.

Invariant: the key of an epoch this device may have written under is never replaced.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tend.core.crypto import keystore, passphrase
from tend.core.crypto.keystore import DeviceKeys
from tend.core.errors import CorruptStore, MalformedRecord
from tend.core.log.store import LogStore

DB_NAME = "journal.db"  # the journal's log store, beside the device file in its home
BINDING_META = "device-file"
MAX_BINDINGS = 4  # the file in place, and the one a save is writing (a crash may leave both)
_NOT_OURS = (
    f"{keystore.FILE_NAME} does not belong to this journal ({DB_NAME} records another device "
    "file): it was replaced; put back this journal's own device file"
)


class Keyring:
    """One device's keys, held in memory and saved to its home's device file."""

    def __init__(
        self, home: Path, device: DeviceKeys, store: LogStore, lock: passphrase.Lock | None = None
    ) -> None:
        self.home = home
        self.device = device
        self._store = store  # where the device file's binding is recorded
        # The key that seals the device file, when it has a passphrase (never the passphrase).
        self.lock = lock
        # The person's recovery X25519 secret, in memory only, while this device is being
        # restored from the recovery phrase (core/trust/recovery.py); None at every other time.
        self.restoring: bytes | None = None

    def adopt_epoch(self, epoch: int, key: bytes, *, write: bool = True) -> None:
        """Hold a space key epoch (saved at once); with `write`, also write under it if newest.

        Only a rotation signed by a device on the roster may set `write`; a key whose signer
        this device cannot check yet is used to read and to reconnect, never to seal. The key
        of an epoch this device may have written under is never replaced.
        """
        held = self.device.space_keys.get(epoch)
        if held is not None and held != key and epoch <= self.device.epoch:
            raise MalformedRecord(
                f"a second, different key for epoch {epoch}, which this device holds and may have "
                "written under, was not adopted: the one held is kept"
            )
        self.device.space_keys[epoch] = key
        if write:
            self.device.epoch = max(self.device.epoch, epoch)
        self.save()

    def save(self) -> None:
        """Re-write the device file, and its binding in journal.db (new added first, old
        dropped after: see the theory above)."""
        prepared = keystore.prepare(self._path, self.device, self.lock)
        with device_file_lock(self.home):
            held = _read_bindings(self._store) or []
            if prepared.binding not in held:
                _write_bindings(self._store, [*held[-(MAX_BINDINGS - 1) :], prepared.binding])
            keystore.write(self._path, prepared)
            _write_bindings(self._store, [prepared.binding])

    def save_first(self) -> None:
        """Write the device file of a journal just begun, its binding recorded first, so the file
        is this journal's from the moment it exists."""
        prepared = keystore.prepare(self._path, self.device, self.lock)
        with device_file_lock(self.home):
            _write_bindings(self._store, [prepared.binding])
            keystore.write(self._path, prepared)

    @property
    def _path(self) -> Path:
        return self.home / keystore.FILE_NAME


def open_bound(
    home: Path, lock: passphrase.Lock | None, open_store: Callable[[], LogStore]
) -> tuple[DeviceKeys, LogStore]:
    """The keys in `home`'s device file and the journal's store, once the store records that
    file as its own. The store is opened only once the file has opened (no journal.db is made
    for a wrong passphrase), and closed again if the file is not its own."""
    with device_file_lock(home, shared=True):  # never half-way through a save
        device, binding = keystore.open_file(home / keystore.FILE_NAME, lock)
        store = open_store()
        try:
            check_binding(store, binding)
        except BaseException:
            store.close()
            raise
    return device, store


def check_binding(store: LogStore, binding: keystore.Binding) -> None:
    """Refuse a device file journal.db does not record as its own.

    Every journal records its binding when it begins, so a missing or damaged record is no
    journal tend made, or one someone altered: nothing is bound after the fact (an older copy
    of the device file, from before a passphrase was added, must not find its way back in)."""
    held = _read_bindings(store)
    if held is None:
        raise CorruptStore(
            "journal.db records no device file of its own (it is damaged or was altered): "
            "nothing was opened"
        )
    if binding in held:
        return
    if any(b.locked for b in held) and not binding.locked:
        raise CorruptStore(
            f"{keystore.FILE_NAME} has no passphrase, but this journal's device file has "
            "one: it was replaced; put back this journal's own device file"
        )
    raise CorruptStore(_NOT_OURS)


def _read_bindings(store: LogStore) -> list[keystore.Binding] | None:
    """The bindings journal.db accepts, or None when it records none (or a damaged record)."""
    import msgpack

    raw = store.meta(BINDING_META)
    if raw is None:
        return None
    try:
        found = msgpack.unpackb(raw, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not (isinstance(found, list) and 0 < len(found) <= MAX_BINDINGS):
        return None
    out = []
    for pair in found:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], bool)
            and isinstance(pair[1], bytes)
            and len(pair[1]) == 32
        ):
            return None
        out.append(keystore.Binding(pair[0], pair[1]))
    return out


def _write_bindings(store: LogStore, bindings: list[keystore.Binding]) -> None:
    import msgpack

    packed = msgpack.packb([[b.locked, b.mac] for b in bindings], use_bin_type=True)
    store.replace_meta(BINDING_META, packed)


@contextmanager
def device_file_lock(home: Path, *, shared: bool = False) -> Iterator[None]:
    """Serialise saves of the device file (and opens, which read it and its binding) between
    tend processes: an advisory lock on the home folder itself, where the system has one."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here: each write is still atomic on its own
        yield
        return
    fd = os.open(home, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


__all__ = ["BINDING_META", "DB_NAME", "Keyring", "check_binding", "device_file_lock", "open_bound"]
