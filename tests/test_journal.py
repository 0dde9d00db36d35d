"""The journal as a facade (core/journal/__init__.py) over the store it is handed.

A `Journal` composes its keyring, its mapper and its read model over any `LogStore`: handed a
memory store it records and reads as it does in a home, and leaves nothing on disk. Its parts
share one set of keys, so an epoch the keyring adopts is the one the next entry is sealed under.
"""

from __future__ import annotations

from pathlib import Path

from tend.core.crypto import keys
from tend.core.crypto.entry import Header
from tend.core.domain.events import CheckIn, Gratitude
from tend.core.ids import new_space_id
from tend.core.journal import Journal
from tend.core.log.store import MemoryLogStore, SqliteLogStore
from tests.conftest import new_person_device, started


def test_a_journal_handed_a_memory_store_records_and_reads_with_nothing_on_disk(
    tmp_path: Path,
) -> None:
    home = tmp_path / "never-made"
    store = MemoryLogStore()
    journal = started(Journal(home, new_person_device(new_space_id()), store), "Sam")
    journal.record(Gratitude(text="the coffee while I rested"))
    journal.record(CheckIn(pain=6, note="only mine"), private=True)
    bodies = [e.body for e in journal.events()]
    assert bodies[2:] == [
        Gratitude(text="the coffee while I rested"),
        CheckIn(pain=6, note="only mine"),
    ]
    assert journal.store is store and store.count() == 4
    assert journal.roster().admits(journal.device.log, 4)
    assert not home.exists()


def test_an_epoch_the_keyring_adopts_is_the_one_the_next_entry_is_sealed_under(
    tmp_path: Path,
) -> None:
    journal = started(Journal(tmp_path, new_person_device(new_space_id()), MemoryLogStore()))
    journal.keyring.adopt_epoch(2, keys.new_key())
    journal.record(Gratitude(text="under the new key"))
    last = journal.store.entry_at(journal.device.log, 2)
    assert last is not None and Header.decode(last).epoch == 2
    assert journal.events()[-1].body == Gratitude(text="under the new key")
    assert journal.keyring.device is journal.device is journal.mapper.device


def test_open_and_create_build_the_sqlite_store_of_the_home(tmp_path: Path) -> None:
    created = Journal.create(tmp_path / "home", "Sam")
    created.close()
    with Journal.open(tmp_path / "home") as opened:
        assert isinstance(created.store, SqliteLogStore)
        assert isinstance(opened.store, SqliteLogStore)
        assert [e.type for e in opened.events()] == ["device.added", "person.named"]
