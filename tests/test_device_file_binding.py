"""The device file belongs to one journal, and a lock to one device file.

journal.db records a binding of its device file (a MAC over the file's secret content and its
wrapping, core/crypto/keystore.py): a device file planted in the home, with keys, a passphrase or no
passphrase of someone else's choosing, is refused before anything is written with it. An
unlock agent hands over a key only: the salt and the Argon2id cost always come from the file.

Real files, real Argon2id (at a small cost), and a real unlock agent process on a real socket.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from tend.cli import unlock_agent
from tend.core.crypto import keys, keystore, passphrase
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.events import CheckIn
from tend.core.errors import CorruptStore, WrongPassphrase
from tend.core.journal import BINDING_META, DB_NAME, Journal, keyring
from tend.core.trust import recovery
from tests.conftest import TendCLI, invite, restored_from, stored_entries

STRONG = "maple river lantern cobalt"
OTHER = "quartz meadow tangerine falcon"
FAST = passphrase.Cost(time=1, memory_kib=64, lanes=1)
SLOWER = passphrase.Cost(time=2, memory_kib=128, lanes=1)  # within bounds, not the file's


@pytest.fixture
def runtime(agent_runtime: Path, tmp_path: Path) -> Iterator[Path]:
    yield agent_runtime
    unlock_agent.forget(tmp_path / "home")


def _agent_holds(home: Path, lock: passphrase.Lock) -> None:
    unlock_agent.start(home, lock)
    deadline = time.monotonic() + 10
    while unlock_agent.held_lock(home) != lock:
        assert time.monotonic() < deadline, "the agent did not start"
        time.sleep(0.05)


def _outer(path: Path) -> dict[str, object]:
    found = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    assert isinstance(found, dict)
    return found


def _planted(like: Journal) -> DeviceKeys:
    """An attacker's device file for the same space: keys of their own, a space key they chose."""
    return DeviceKeys.generate(
        like.device.space, keys.PersonSecrets.from_root(keys.new_root()), None
    )


def _locked_journal(home: Path) -> passphrase.Lock:
    lock = passphrase.new_lock(STRONG, FAST)
    journal = Journal.create(home, "Sam", lock=lock)
    journal.record(CheckIn(day="good", note="before"))
    journal.close()
    return lock


def _reopen(home: Path, secret: str | None = STRONG) -> Journal:
    path = home / keystore.FILE_NAME
    lock = keystore.unlock(path, secret) if secret and keystore.is_wrapped(path) else None
    return Journal.open(home, lock=lock)


# --- F8: an agent's lock, and the cost written back ---------------------------------------------


def test_an_agent_lock_naming_another_cost_never_gets_that_cost_written_into_the_file(
    runtime: Path, tmp_path: Path
) -> None:
    """Claim: the agent's salt and cost are never used; a re-save keeps the file's cost, and
    the passphrase still opens the file (through the real CLI, as private-default re-saves)."""
    home = tmp_path / "home"
    lock = _locked_journal(home)
    path = home / keystore.FILE_NAME
    _agent_holds(home, passphrase.Lock(lock.salt, SLOWER, lock.key))
    TendCLI(home).ok("private-default", "checkin")  # opened by the agent, re-saves the file
    assert _outer(path)["cost"] == [FAST.time, FAST.memory_kib, FAST.lanes]
    reopened = _reopen(home)
    assert reopened.device.settings.get("private_kinds") == ["checkin"]
    reopened.close()


def test_an_agent_key_that_does_not_open_the_file_is_not_used(
    runtime: Path, tmp_path: Path
) -> None:
    """Claim: an agent with the file's salt and cost but another key (a fake agent) is not
    handed on: open_lock falls through (here, with no terminal and no TEND_PASSPHRASE, None)."""
    from tend.cli.unlock import open_lock

    home = tmp_path / "home"
    lock = _locked_journal(home)
    _agent_holds(home, passphrase.Lock(lock.salt, lock.cost, keys.new_key()))
    assert open_lock(home) is None


def test_load_refuses_a_lock_whose_cost_is_not_the_files(tmp_path: Path) -> None:
    """Claim: keystore.load compares the cost, not only the salt: the right key labelled with
    another cost is refused, so no caller can go on to save that cost."""
    home = tmp_path / "home"
    lock = _locked_journal(home)
    path = home / keystore.FILE_NAME
    with pytest.raises(WrongPassphrase, match="another device file"):
        keystore.load(path, passphrase.Lock(lock.salt, SLOWER, lock.key))
    with pytest.raises(WrongPassphrase):
        Journal.open(home, lock=passphrase.Lock(lock.salt, SLOWER, lock.key))
    assert keystore.load(path, lock).log == _reopen(home).device.log


def test_save_refuses_the_files_salt_with_another_cost_or_a_cost_out_of_bounds(
    tmp_path: Path,
) -> None:
    """Claim: a save never writes a cost taken from a lock that does not match the file, nor
    one out of bounds; the file on disk is left as it was."""
    home = tmp_path / "home"
    lock = _locked_journal(home)
    path = home / keystore.FILE_NAME
    good = path.read_bytes()
    journal = _reopen(home)
    for bad in (
        passphrase.Lock(lock.salt, SLOWER, lock.key),
        passphrase.Lock(lock.salt, passphrase.Cost(64, 64 << 20, 64), lock.key),
        passphrase.Lock(b"\x01" * 16, passphrase.Cost(99, 64, 1), lock.key),
    ):
        journal.lock = bad
        with pytest.raises(CorruptStore):
            journal.save_device()
        assert path.read_bytes() == good
    journal.close()
    _reopen(home).close()


# --- F9: a device file planted in the home ------------------------------------------------------


def test_a_planted_device_file_with_its_own_agent_is_refused_in_one_line_and_nothing_is_written(
    runtime: Path, tmp_path: Path
) -> None:
    """Claim: the attacker's device file (their keys, their passphrase) and an agent holding
    its key make `tend checkin` refuse with one line naming the device file; no entry is
    stored, and the person's own device file, put back, opens as before."""
    home = tmp_path / "home"
    _locked_journal(home)
    path = home / keystore.FILE_NAME
    own = path.read_bytes()
    before = stored_entries(home)
    real = _reopen(home)
    real.close()
    theirs = passphrase.new_lock("a passphrase of their own choosing", FAST)
    keystore.save(path, _planted(real), theirs)
    _agent_holds(home, theirs)
    cli = TendCLI(home)
    for args in (["checkin", "--day", "flare", "--note", "after"], ["today"]):
        result = cli(*args)
        assert result.returncode == 3, result
        [line] = [x for x in result.stderr.splitlines() if x.strip()]
        assert "device.tend does not belong to this journal" in line
    assert stored_entries(home) == before
    path.write_bytes(own)
    assert _reopen(home).device.log == real.device.log


def test_a_planted_device_file_without_a_passphrase_is_refused_when_the_journals_had_one(
    tmp_path: Path,
) -> None:
    """Claim: an unwrapped device file (no agent needed) is refused when journal.db records
    that this journal's device file is passphrase-locked, and the error says so."""
    home = tmp_path / "home"
    _locked_journal(home)
    real = _reopen(home)
    real.close()
    keystore.save(home / keystore.FILE_NAME, _planted(real))
    with pytest.raises(CorruptStore, match="has no passphrase"):
        Journal.open(home)


def test_the_same_devices_keys_with_another_space_key_are_refused(tmp_path: Path) -> None:
    """Claim: the binding covers the file's whole secret content, not only the device id: an
    attacker who once copied an unwrapped device file (so knows its keys) cannot plant it
    back with a space key of their own choosing."""
    home = tmp_path / "home"
    journal = Journal.create(home, "Sam")
    device = journal.device
    journal.close()
    device.space_keys[device.epoch] = keys.new_key()
    keystore.save(home / keystore.FILE_NAME, device)
    with pytest.raises(CorruptStore, match="does not belong to this journal"):
        Journal.open(home)


def test_the_old_unwrapped_copy_is_refused_once_a_passphrase_was_added_and_an_old_one_too(
    tmp_path: Path,
) -> None:
    """Claim: adding, changing and removing the passphrase (a save with a new lock) keeps the
    journal opening; a copy of the device file from before (no passphrase, or the previous
    one) is refused afterwards, though it holds the same keys."""
    home = tmp_path / "home"
    path = home / keystore.FILE_NAME
    Journal.create(home, "Sam").close()
    unwrapped = path.read_bytes()

    journal = _reopen(home, None)
    journal.lock = passphrase.new_lock(STRONG, FAST)
    journal.save_device()
    journal.close()
    first_passphrase = path.read_bytes()
    journal = _reopen(home, STRONG)
    journal.lock = passphrase.new_lock(OTHER, FAST)
    journal.save_device()
    journal.close()
    _reopen(home, OTHER).close()

    current = path.read_bytes()
    path.write_bytes(unwrapped)
    with pytest.raises(CorruptStore, match="has no passphrase"):
        Journal.open(home)
    path.write_bytes(first_passphrase)
    with pytest.raises(CorruptStore, match="does not belong to this journal"):
        _reopen(home, STRONG)
    path.write_bytes(current)

    journal = _reopen(home, OTHER)
    journal.lock = None  # the passphrase removed
    journal.save_device()
    journal.close()
    assert not keystore.is_wrapped(path)
    _reopen(home, None).close()


def test_a_crash_on_either_side_of_the_device_file_write_leaves_a_journal_that_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claim: the new binding is in journal.db before the device file is replaced, and the old
    one is dropped only after: a crash before the write leaves the old file accepted, one after
    it the new; once a save completes, only the new file is."""
    home = tmp_path / "home"
    path = home / keystore.FILE_NAME
    _locked_journal(home)
    old = path.read_bytes()

    class Crash(Exception):
        pass

    def crash(*_args: object) -> None:
        raise Crash

    journal = _reopen(home)
    journal.device.settings["relay"] = "http://before-the-write"
    with monkeypatch.context() as m:
        m.setattr(keystore, "write", crash)
        with pytest.raises(Crash):
            journal.save_device()
    journal.close()
    assert path.read_bytes() == old
    _reopen(home).close()  # the old file, still accepted

    real_write_bindings = keyring._write_bindings
    calls: list[int] = []

    def crash_on_the_second(store: object, bindings: list[keystore.Binding]) -> None:
        calls.append(len(bindings))
        if len(calls) == 2:
            raise Crash
        real_write_bindings(store, bindings)  # type: ignore[arg-type]

    journal = _reopen(home)
    journal.device.settings["relay"] = "http://after-the-write"
    with monkeypatch.context() as m:
        m.setattr(keyring, "_write_bindings", crash_on_the_second)
        with pytest.raises(Crash):
            journal.save_device()
    journal.close()
    # The old file's binding and the new one were both accepted while the file was replaced
    # (with the one the first crash left, for a file that never reached the disk).
    assert calls[0] >= 2
    assert path.read_bytes() != old
    reopened = _reopen(home)  # the new file, accepted
    assert reopened.device.settings["relay"] == "http://after-the-write"
    reopened.device.settings["relay"] = "http://settled"
    reopened.save_device()
    reopened.close()
    new = path.read_bytes()
    path.write_bytes(old)
    with pytest.raises(CorruptStore, match="does not belong to this journal"):
        _reopen(home)
    path.write_bytes(new)
    _reopen(home).close()


def _forget_binding(home: Path) -> None:
    db = sqlite3.connect(home / DB_NAME)
    try:
        db.execute("DELETE FROM meta WHERE key = ?", (BINDING_META,))
        db.commit()
    finally:
        db.close()


def test_a_journal_db_without_a_binding_opens_no_device_file_not_even_its_own(
    tmp_path: Path,
) -> None:
    """Claim: every journal records its binding when it begins, so one without a record (or
    with a damaged one) was altered: no device file is bound after the fact, not a planted one
    and not an older copy of its own from before a passphrase was added."""
    home = tmp_path / "home"
    _locked_journal(home)
    path = home / keystore.FILE_NAME
    real = _reopen(home)
    real.close()
    _forget_binding(home)
    theirs = passphrase.new_lock(OTHER, FAST)
    for planted in (_planted(real), real.device):
        keystore.save(path, planted, theirs)
        with pytest.raises(CorruptStore, match="records no device file of its own"):
            Journal.open(home, lock=keystore.unlock(path, OTHER))


def test_deleting_journal_db_does_not_let_a_planted_device_file_in(tmp_path: Path) -> None:
    """Claim: with journal.db gone (an empty one is made in its place), a planted device file
    is refused: nothing this device wrote is there to bind it to."""
    home = tmp_path / "home"
    Journal.create(home, "Sam").close()
    real = Journal.open(home)
    real.close()
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        (home / name).unlink(missing_ok=True)
    keystore.save(home / keystore.FILE_NAME, _planted(real))
    with pytest.raises(CorruptStore, match="records no device file of its own"):
        Journal.open(home)


def test_journals_made_by_init_join_and_restore_record_the_binding_of_their_device_file(
    tmp_path: Path,
) -> None:
    """Claim: every way a journal is begun (create, pairing join, recovery restore) records the
    binding before the device file exists, and the journal then opens with it."""
    sam = Journal.create(tmp_path / "sam", "Sam", lock=passphrase.new_lock(STRONG, FAST))
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    phrase = recovery.show_once(alex)
    blob = recovery.escrow_write(alex)[2]
    restored = restored_from(tmp_path / "alex-new", phrase, blob)
    for journal in (sam, alex, restored):
        assert journal.store.meta(BINDING_META), journal.home
        journal.close()
    for home, secret in (
        (tmp_path / "sam", STRONG),
        (tmp_path / "alex", None),
        (tmp_path / "alex-new", None),
    ):
        _reopen(home, secret).close()
        keystore.save(home / keystore.FILE_NAME, _planted(sam))
        with pytest.raises(CorruptStore):
            Journal.open(home)
