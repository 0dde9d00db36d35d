"""Private entries: sealed for the author's own devices; the partner sees only that one exists."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tend.core.crypto import entry, keys, shred
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event
from tend.core.domain.events import CheckIn, Keyed, Sealed
from tend.core.journal import Journal
from tend.core.log.store import MemoryLogStore
from tests.conftest import keys_of, new_person_device, pin, started


class Clock:
    def __init__(self) -> None:
        self.at = dt.datetime(2026, 3, 14, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.at += dt.timedelta(minutes=1)
        return self.at


def partner_of(sam: Journal, clock: Clock) -> Journal:
    """A second person's device in the same space: same space keys, own private key."""
    device: DeviceKeys = new_person_device(sam.device.space, like=sam.device)
    pin(sam.device, device)
    return started(Journal(sam.home, device, MemoryLogStore(), now=clock), "Alex")


def deliver(source: Journal, target: Journal) -> None:
    target.store.append(
        [(s.entry, s.received_at) for s in source.store.since(0)], keys=keys_of(source)
    )


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Journal, Journal]:
    clock = Clock()
    sam = Journal.create(tmp_path / "sam", "Sam", now=clock)
    return sam, partner_of(sam, clock)


def test_a_private_entry_reads_back_for_its_author(pair: tuple[Journal, Journal]) -> None:
    sam, _alex = pair
    sam.record(CheckIn(pain=7, note="marmalade-umbrella"), private=True)
    last = decode_event(sam.items()[-1].raw)
    assert last.body == CheckIn(pain=7, note="marmalade-umbrella")


def test_the_partner_sees_only_that_a_private_entry_exists(pair: tuple[Journal, Journal]) -> None:
    sam, alex = pair
    sam.record(CheckIn(pain=7, note="marmalade-umbrella"), private=True)
    deliver(sam, alex)
    seen = [decode_event(i.raw) for i in alex.items()]
    assert [e.type for e in seen][-1] == "sealed"
    assert all(not isinstance(e.body, CheckIn) for e in seen)
    assert b"marmalade" not in b"".join(i.raw for i in alex.items())


def test_a_sealed_box_copied_into_another_entry_is_never_shown(
    pair: tuple[Journal, Journal],
) -> None:
    sam, alex = pair
    sam.record(CheckIn(note="only mine"), private=True)
    # Sam's view holds the opened event; the stored entry holds the sealed box.
    stored = list(sam.store.since(0))[-1]
    outer = decode_event(entry.open_entry(stored.entry, sam.device.space_keys.get).event)
    assert isinstance(outer.body, Keyed) and outer.body.kind == "sealed" and stored.key
    content_key = sam.mapper.content_key(stored.entry, stored.key)
    words = decode_event(shred.open_words(content_key, outer.body.box, sam.device.space, outer.id))
    assert isinstance(words.body, Sealed)
    # Alex, who cannot open it, replays the box in an entry of Alex's own.
    copy = alex.record(Sealed(box=words.body.box))
    deliver(alex, sam)
    # Read as a private entry of Alex's that nobody opens, as Alex's own devices read it: Sam's
    # note is shown once, as Sam's, and never as Alex's.
    events = Journal(sam.home, sam.device, sam.store).events()
    notes = [e for e in events if isinstance(e.body, CheckIn) and e.body.note == "only mine"]
    assert [e.author for e in notes] == [sam.device.person]
    [carried] = [e for e in events if e.id == copy.id]
    assert carried.author == alex.device.person and isinstance(carried.body, Sealed)


def test_private_and_space_keys_differ(pair: tuple[Journal, Journal]) -> None:
    sam, alex = pair
    assert sam.device.private_key != alex.device.private_key
    assert keys.new_key() != sam.device.private_key
