"""The view cache's small snapshot (core/views/read_model.py): who is here, and how many items
are placeholders of words not held, read without opening every item; the same answers as the
items give, kept up to date as entries come and words are forgotten, and never a word anyone
wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tend.app import record
from tend.core.domain.events import EventType, Gratitude
from tend.core.journal import Journal, shredding
from tend.core.views.read_model import MEMBERSHIP, open_membership
from tests.conftest import gossip, invite

WORDS = "the words said in a hard moment"
SORRY = "sorry, I was exhausted"


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    for day in range(5):
        sam.record(Gratitude(text=f"day {day}: {WORDS}"))
    gossip(sam, alex)
    return sam, alex


def small_snapshot_words(journal: Journal) -> list[bytes]:
    snap = journal.store.membership_snapshot()
    assert snap is not None
    small = open_membership(journal.device.local_key, snap[1], snap[0])
    assert small is not None
    assert {i.type for i in small.items} <= MEMBERSHIP
    return [i.raw for i in small.items]


def test_who_is_here_is_read_without_opening_every_item_and_matches_the_items(
    couple: tuple[Journal, Journal],
) -> None:
    sam, _alex = couple
    expected = [tuple(i) for i in sam.membership()]
    roster = sam.roster()
    with Journal.open(sam.home) as again:  # as the next `tend sync` does
        assert [tuple(i) for i in again.membership()] == expected
        assert again.reading.cache._items is None  # the items were never opened
        assert again.roster().persons() == roster.persons()
        assert shredding.wanted(again) == []
        assert again.reading.cache._items is None


def test_a_device_added_since_the_small_snapshot_is_seen_on_the_next_read(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    sam, _alex = couple
    before = len(sam.membership())
    phone = invite(sam, tmp_path / "phone", own=True, name=None, label="phone")
    with Journal.open(sam.home) as again:
        seen = again.membership()
        assert again.reading.cache._items is None
        assert len(seen) > before
        assert phone.device.log in again.roster().devices_of(sam.device.person)
        again.all_items()  # the long way gives the same
        assert [tuple(i) for i in again.membership()] == [tuple(i) for i in seen]


def test_forgotten_words_leave_nothing_readable_in_the_small_snapshot(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    target = sam.record(Gratitude(text=WORDS)).id
    gossip(sam, alex)
    record.take_back(sam, target.hex()[:8], SORRY, forget=True)
    gossip(sam, alex)
    for journal in (sam, alex):
        assert not any(WORDS.encode() in raw for raw in small_snapshot_words(journal))
        keyless = sum(1 for i in journal.all_items() if i.type == EventType.KEYED)
        assert keyless >= 1  # the forgotten entry's placeholder
        with Journal.open(journal.home) as again:
            assert again.reading.cache.keyless_without_items() == keyless
            assert shredding.wanted(again) == []  # forgotten: not asked for again


def test_an_unusable_small_snapshot_is_rebuilt_from_the_items(
    couple: tuple[Journal, Journal],
) -> None:
    sam, _alex = couple
    expected = [tuple(i) for i in sam.membership()]
    sam.store.save_membership_snapshot(1, b"not a sealed snapshot")
    with Journal.open(sam.home) as again:
        assert [tuple(i) for i in again.membership()] == expected
        assert again.reading.cache._items is not None  # read the long way, once
    with Journal.open(sam.home) as later:
        assert [tuple(i) for i in later.membership()] == expected
        assert later.reading.cache._items is None
