"""Entries from elsewhere are verified before anything is applied (core/ingest.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from tend.core import entry, pairing, projections
from tend.core.codec import encode_event
from tend.core.events import CheckIn, DeviceAdded, Event, Gratitude, Payload, PersonNamed
from tend.core.header import Header
from tend.core.ids import EventId, Seq, new_log_id
from tend.core.ingest import ingest
from tend.core.journal import Journal
from tend.core.keystore import DeviceKeys
from tend.core.store import MemoryLogStore


def entries_of(journal: Journal) -> list[bytes]:
    return [s.entry for s in journal.store.since(0)]


def names_in_today(journal: Journal) -> list[str]:
    view = projections.today(journal.items(), journal.device.person, dt.date.today())
    return [name for _p, name, ev in view.people if ev is not None]


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    """Sam's journal and Alex's, paired through a real invitation (no relay needed here)."""
    sam = Journal.create(tmp_path / "sam", "Sam")
    invite = pairing.derive(pairing.new_code())
    bundle = pairing.make_bundle(sam, invite, own_device=False, relay="http://127.0.0.1:1")
    alex, reply = pairing.join(tmp_path / "alex", invite, bundle, name="Alex", label="phone")
    pairing.accept(sam, invite, reply)
    return sam, alex


def exchange(a: Journal, b: Journal) -> None:
    assert not ingest(b, entries_of(a)).refused
    assert not ingest(a, entries_of(b)).refused


def test_paired_partners_see_each_other_after_exchanging_entries(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    sam.record(CheckIn(day="rest", energy=3))
    alex.record(CheckIn(day="good", energy=7, offer="soup"))
    exchange(sam, alex)
    assert sorted(names_in_today(sam)) == ["Alex", "Sam"]
    assert sorted(names_in_today(alex)) == ["Alex", "Sam"]
    assert [i.order for i in sam.items()] == [i.order for i in alex.items()]


def test_ingesting_the_same_entries_twice_applies_them_once(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    sam.record(Gratitude(text="thank you for the tea"))
    alex_own = alex.store.count()
    first = ingest(alex, entries_of(sam))
    again = ingest(alex, entries_of(sam))
    assert first.applied == len(entries_of(sam)) and again.applied == 0
    assert again.duplicates == len(entries_of(sam))
    assert alex.store.count() == alex_own + len(entries_of(sam))


def test_a_tampered_entry_is_refused_and_what_follows_it_is_not_applied(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    for energy in range(4):
        sam.record(CheckIn(energy=energy))
    raws = entries_of(sam)
    bad = bytearray(raws[4])
    bad[-20] ^= 0x01
    report = ingest(alex, [*raws[:4], bytes(bad), *raws[5:]])
    assert [r.seq for r in report.refused] == [5], report.refused
    assert "cannot be opened" in report.refused[0].reason, report.refused
    assert alex.store.head(sam.device.log) == (4, entry.entry_hash(raws[3]))


def test_withheld_entries_are_refused_as_a_gap(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    for energy in range(3):
        sam.record(CheckIn(energy=energy))
    raws = entries_of(sam)
    report = ingest(alex, [raws[0], raws[2], raws[3]])
    assert [r.seq for r in report.refused] == [3]
    assert "expected seq 2" in report.refused[0].reason
    assert alex.store.head(sam.device.log) is not None
    assert alex.store.head(sam.device.log)[0] == 1  # type: ignore[index]


def test_an_entry_forged_by_the_partner_in_my_log_is_refused(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    # Alex holds the space key, so the envelope opens; but Alex cannot sign as Sam's device.
    forged = forge_in_log(sam, alex, claim(sam, sam, CheckIn(note="I give up")))
    report = ingest(alex, [forged])
    assert [r.reason for r in report.refused] == ["signature does not verify (forged or altered)"]
    assert report.refused[0].who == "Sam"
    assert all("I give up" not in str(e.body) for e in alex.events())


def test_entries_from_a_device_nobody_added_are_refused(
    tmp_path: Path, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    intruder_keys = pairing.derive(pairing.new_code())
    bundle = pairing.make_bundle(sam, intruder_keys, own_device=False, relay="")
    intruder, _reply = pairing.join(
        tmp_path / "intruder", intruder_keys, bundle, name="Eve", label=""
    )
    # Sam never accepts Eve's reply, so Eve's device is on nobody's roster.
    report = ingest(alex, entries_of(intruder))
    assert [r.reason for r in report.refused] == ["from a device that is not on the roster"]


def test_entries_of_another_space_are_refused(
    tmp_path: Path, couple: tuple[Journal, Journal]
) -> None:
    _sam, alex = couple
    other = Journal.create(tmp_path / "other", "Other")
    report = ingest(alex, entries_of(other))
    assert report.refused and "another space" in report.refused[0].reason


def test_a_forgery_at_the_end_of_a_run_keeps_the_honest_entries_before_it(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    for energy in range(3):
        sam.record(CheckIn(energy=energy))
    seq, _prev = sam.store.head(sam.device.log)  # type: ignore[misc]
    forged = forge_in_log(sam, alex, claim(sam, sam, CheckIn(note="forged")))
    held = alex.store.head(sam.device.log)
    report = ingest(alex, [*entries_of(sam), forged])
    assert [(r.seq, r.who) for r in report.refused] == [(seq + 1, "Sam")]
    assert report.applied == seq - held[0]  # type: ignore[index]
    assert alex.store.head(sam.device.log) == sam.store.head(sam.device.log)


def claim(author: Journal, device: Journal, body: Payload, hlc: int = 1 << 40) -> Event:
    """An event saying `author` wrote `body` on `device` (true or not)."""
    return Event(
        id=EventId(bytes(16)),
        author=author.device.person,
        device=device.device.log,
        hlc=hlc,
        wall_ms=1,
        local_date="2026-01-01",
        tz_minutes=0,
        body=body,
    )


def forge_in_log(owner: Journal, signer: Journal, event: Event) -> bytes:
    """An entry at the next seq of `owner`'s log, sealed with the space key, signed by `signer`."""
    seq, prev = owner.store.head(owner.device.log)  # type: ignore[misc]
    header = Header(owner.device.space, owner.device.log, Seq(seq + 1), owner.device.epoch, prev)
    return entry.build(
        header, encode_event(event), signer.device.sign_seed, signer.device.space_key
    )


def test_an_event_claiming_the_partner_as_author_is_refused(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    alex.record(CheckIn(day="good", energy=9))
    # Alex's own device, signing as itself, claims Sam wrote this.
    seq, _prev = alex.store.head(alex.device.log)  # type: ignore[misc]
    forged_event = claim(sam, alex, CheckIn(note="I give up"))
    forged = forge_in_log(alex, alex, forged_event)
    report = ingest(sam, [*entries_of(alex), forged])
    assert [(r.seq, "someone other" in r.reason) for r in report.refused] == [(seq + 1, True)]
    assert all("I give up" not in str(e.body) for e in sam.events())


def test_nobody_can_rename_their_partner(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    exchange(sam, alex)
    rename = claim(alex, alex, PersonNamed(person=sam.device.person, name="Eve"))
    report = ingest(sam, [forge_in_log(alex, alex, rename)])
    assert report.refused and "someone other" in report.refused[0].reason
    assert projections.names(sam.items())[sam.device.person] == "Sam"


def test_a_device_added_by_a_forged_entry_gets_nothing_in(
    tmp_path: Path, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    keys = dataclasses.replace(
        DeviceKeys.generate(sam.device.space, sam.device.person, new_log_id()),
        space_keys=dict(sam.device.space_keys),
    )
    intruder = Journal(tmp_path / "intruder", keys, MemoryLogStore())
    intruder.record(CheckIn(note="from a stolen key"))
    added = claim(
        sam,
        sam,
        DeviceAdded(
            device=intruder.device.log,
            person=sam.device.person,
            sign_pub=intruder.device.sign_public,
            dh_pub=intruder.device.dh_public,
        ),
    )
    forged = forge_in_log(sam, alex, added)  # in Sam's log, but Alex cannot sign as Sam
    report = ingest(alex, [forged, *entries_of(intruder)])
    reasons = sorted(r.reason for r in report.refused)
    assert reasons == [
        "from a device that is not on the roster",
        "signature does not verify (forged or altered)",
    ]
    assert intruder.device.log not in alex.store.heads()


def test_an_entry_dated_far_in_the_future_is_refused_and_the_clock_stays(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    future = claim(alex, alex, CheckIn(note="from the far future"), hlc=1 << 61)
    clock_before = sam.store.meta("hlc")
    report = ingest(sam, [forge_in_log(alex, alex, future)])
    assert [r.reason for r in report.refused] == ["is dated more than a day in the future"]
    assert sam.store.meta("hlc") == clock_before
    sam.record(CheckIn(day="rest"))  # and recording still works
