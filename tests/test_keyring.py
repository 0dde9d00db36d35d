"""The keyring (core/journal/keyring.py) on its own: epochs held, the device file and its binding.

An epoch key this device may have written under is never replaced, whoever offers another; a
key held only for reading may still give way to the one a signed rotation brings. Whatever is
adopted is saved at once. The device file opens only with the store that records it as its own,
and a store opened for a refused file is closed again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tend.core.crypto import keys, keystore
from tend.core.crypto.keystore import DeviceKeys
from tend.core.errors import CorruptStore, MalformedRecord
from tend.core.journal import DB_NAME, Journal
from tend.core.journal.keyring import Keyring, open_bound
from tend.core.log.store import LogStore, SqliteLogStore


def saved_keys(home: Path) -> DeviceKeys:
    return keystore.load(home / keystore.FILE_NAME)


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[Keyring]:
    journal = Journal.create(tmp_path / "home", "Sam")
    yield journal.keyring
    journal.close()


def bound(home: Path) -> tuple[DeviceKeys, LogStore]:
    return open_bound(home, None, lambda: SqliteLogStore(home / DB_NAME))


def test_the_key_of_an_epoch_held_and_written_under_is_never_replaced(keyring: Keyring) -> None:
    held = dict(keyring.device.space_keys)
    for write in (True, False):
        with pytest.raises(MalformedRecord, match="second, different key for epoch 1"):
            keyring.adopt_epoch(1, keys.new_key(), write=write)
    assert keyring.device.space_keys == held
    assert keyring.device.epoch == 1
    assert saved_keys(keyring.home).space_keys == held
    keyring.adopt_epoch(1, held[1])  # the same key again is no change, and no error
    assert saved_keys(keyring.home).space_keys == held


def test_a_new_epoch_is_saved_at_once_and_written_under_only_when_asked(keyring: Keyring) -> None:
    read_only, final = keys.new_key(), keys.new_key()
    keyring.adopt_epoch(2, read_only, write=False)
    on_disk = saved_keys(keyring.home)
    assert (on_disk.epoch, on_disk.space_keys[2]) == (1, read_only)
    # Held only to read and reconnect, never written under: a signed rotation's key replaces it.
    keyring.adopt_epoch(2, final)
    on_disk = saved_keys(keyring.home)
    assert (on_disk.epoch, on_disk.space_keys[2]) == (2, final)
    with pytest.raises(MalformedRecord):
        keyring.adopt_epoch(2, read_only)  # written under now: kept
    assert saved_keys(keyring.home).space_keys[2] == final


class ClosingStore(SqliteLogStore):
    """A journal.db that says whether it was closed."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def test_a_swapped_device_file_is_refused_and_the_store_opened_for_it_is_closed(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    own = Journal.create(home, "Sam")
    own.close()
    path = home / keystore.FILE_NAME
    ours = path.read_bytes()
    person = keys.PersonSecrets.from_root(keys.new_root())
    keystore.save(path, DeviceKeys.generate(own.device.space, person, None))
    opened: list[ClosingStore] = []

    def open_store() -> LogStore:
        opened.append(ClosingStore(home / DB_NAME))
        return opened[-1]

    with pytest.raises(CorruptStore, match="does not belong to this journal"):
        open_bound(home, None, open_store)
    assert [s.closed for s in opened] == [True]
    path.write_bytes(ours)
    device, store = open_bound(home, None, open_store)
    assert device.log == own.device.log
    assert [s.closed for s in opened] == [True, False]
    store.close()


def test_a_save_binds_the_new_file_and_lets_the_one_it_replaced_go(keyring: Keyring) -> None:
    path = keyring.home / keystore.FILE_NAME
    before = path.read_bytes()
    keyring.device.settings["relay"] = "http://elsewhere"
    keyring.save()
    after = path.read_bytes()
    path.write_bytes(before)
    with pytest.raises(CorruptStore, match="does not belong to this journal"):
        bound(keyring.home)
    path.write_bytes(after)
    device, store = bound(keyring.home)
    assert device.settings["relay"] == "http://elsewhere"
    store.close()
