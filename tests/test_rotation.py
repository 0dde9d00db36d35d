"""Removing a device rotates the space key: the removed device reads nothing written after."""

from __future__ import annotations

from pathlib import Path

import pytest

from tend.core import pairing, rotation
from tend.core.codec import decode_event
from tend.core.errors import UserError
from tend.core.events import Gratitude
from tend.core.ingest import ingest
from tend.core.journal import Journal


def entries_of(journal: Journal) -> list[bytes]:
    return [s.entry for s in journal.store.since(0)]


def texts(journal: Journal) -> list[str]:
    return [e.body.text for e in journal.events() if isinstance(e.body, Gratitude)]


def invite(host: Journal, home: Path, *, own: bool, name: str | None) -> Journal:
    keys = pairing.derive(pairing.new_code())
    bundle = pairing.make_bundle(host, keys, own_device=own, relay="")
    joined, reply = pairing.join(home, keys, bundle, name=name, label=home.name)
    pairing.accept(host, keys, reply)
    return joined


def gossip(*journals: Journal) -> None:
    for target in journals:
        for source in journals:
            if source is not target:
                ingest(target, entries_of(source))


@pytest.fixture
def three(tmp_path: Path) -> tuple[Journal, Journal, Journal]:
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    gossip(sam, alex)
    alex_old_phone = invite(alex, tmp_path / "alex-old-phone", own=True, name=None)
    gossip(sam, alex, alex_old_phone)
    return sam, alex, alex_old_phone


def test_a_removed_device_cannot_read_what_is_written_afterwards(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, alex, old = three
    sam.record(Gratitude(text="before the phone was lost"))
    gossip(sam, alex, old)
    rotation.remove_device(alex, old.device.log)
    gossip(sam, alex)
    sam.record(Gratitude(text="after the phone was lost"))
    gossip(sam, alex)

    report = ingest(old, entries_of(sam) + entries_of(alex))
    assert report.sealed_away >= 1 and not report.refused
    assert texts(old) == ["before the phone was lost"]
    assert texts(sam) == texts(alex) == ["before the phone was lost", "after the phone was lost"]
    assert sam.device.epoch == alex.device.epoch == 2 and old.device.epoch == 1
    assert 2 not in old.device.space_keys


def test_history_stays_readable_after_rotation(three: tuple[Journal, Journal, Journal]) -> None:
    sam, alex, old = three
    alex.record(Gratitude(text="for the soup"))
    gossip(sam, alex, old)
    rotation.remove_device(alex, old.device.log)
    gossip(sam, alex)
    reopened = Journal.open(sam.home)
    assert [e.body.text for e in reopened.events() if isinstance(e.body, Gratitude)] == [
        "for the soup"
    ]
    assert set(reopened.device.space_keys) == {1, 2}


def test_entries_a_removed_device_writes_later_are_refused(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, alex, old = three
    rotation.remove_device(alex, old.device.log)
    gossip(sam, alex)
    old.record(Gratitude(text="written by a lost phone"))
    report = ingest(sam, entries_of(old))
    assert [r.reason for r in report.refused] == ["from a device removed from this space"]
    assert "written by a lost phone" not in texts(sam)


def test_the_rotation_is_sealed_to_every_device_that_stays(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, alex, old = three
    rotated = rotation.remove_device(alex, old.device.log)
    assert {bytes(d) for d, _sealed in rotated.sealed} == {sam.device.log, alex.device.log}
    last = decode_event(alex.items()[-1].raw)
    assert last.type == "key.rotated"


def test_a_device_cannot_remove_itself_or_a_stranger(
    three: tuple[Journal, Journal, Journal], tmp_path: Path
) -> None:
    sam, _alex, _old = three
    with pytest.raises(UserError, match="cannot remove itself"):
        rotation.remove_device(sam, sam.device.log)
    stranger = Journal.create(tmp_path / "stranger", "Stranger")
    with pytest.raises(UserError, match="no device"):
        rotation.remove_device(sam, stranger.device.log)


def test_a_partner_cannot_remove_the_other_persons_device(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, _alex, old = three
    with pytest.raises(UserError, match="only one of their own devices"):
        rotation.remove_device(sam, old.device.log)
    assert sam.device.epoch == 1
