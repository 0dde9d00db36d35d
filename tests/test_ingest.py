"""Entries from elsewhere are verified before anything is applied (core/trust/ingest.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tend.core.crypto import entry
from tend.core.domain.events import CheckIn, DeviceAdded, Gratitude, PersonNamed
from tend.core.journal import Journal
from tend.core.log.store import MemoryLogStore
from tend.core.trust.engine import Reason
from tend.core.trust.ingest import ingest
from tend.core.views import projections
from tests.attacker import event_in, forge_in_log, write_own
from tests.conftest import entries_of, invite, keys_of, new_person_device, started


def names_in_today(journal: Journal) -> list[str]:
    view = projections.today(journal.items(), journal.device.person, dt.date.today())
    return [name for _p, name, ev in view.people if ev is not None]


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    """Sam's journal and Alex's, paired through a real invitation (no relay needed here)."""
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex", label="phone")
    return sam, alex


def exchange(a: Journal, b: Journal) -> None:
    assert not ingest(b, entries_of(a), keys=keys_of(a)).refused
    assert not ingest(a, entries_of(b), keys=keys_of(b)).refused


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
    first = ingest(alex, entries_of(sam), keys=keys_of(sam))
    again = ingest(alex, entries_of(sam), keys=keys_of(sam))
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
    bad[-100] ^= 0x01  # inside the envelope
    report = ingest(alex, [*raws[:4], bytes(bad), *raws[5:]])
    assert [(r.seq, r.reason) for r in report.refused] == [(5, Reason.UNREADABLE)]
    assert alex.store.head(sam.device.log) == (4, entry.entry_hash(raws[3]))


def test_withheld_entries_are_refused_as_a_gap(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    for energy in range(3):
        sam.record(CheckIn(energy=energy))
    raws = entries_of(sam)
    report = ingest(alex, [raws[0], raws[2], raws[3]])
    assert [(r.seq, r.reason) for r in report.refused] == [(3, Reason.GAP)]
    assert alex.store.head(sam.device.log)[0] == 1  # type: ignore[index]


def test_an_entry_forged_by_the_partner_in_my_log_is_refused(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    # Alex holds the space key, so the envelope opens; but Alex cannot sign as Sam's device.
    forged = forge_in_log(sam, alex, event_in(sam, CheckIn(note="I give up")))
    report = ingest(alex, [forged])
    assert [(r.reason, r.who) for r in report.refused] == [(Reason.BAD_SIGNATURE, "Sam")]
    assert all("I give up" not in str(e.body) for e in alex.events())


def test_entries_from_a_device_nobody_brought_in_are_kept_aside_not_applied(
    tmp_path: Path, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    stranger = started(
        Journal(tmp_path, new_person_device(sam.device.space, sam.device), MemoryLogStore()), "Eve"
    )
    stranger.record(CheckIn(note="let me in"))
    report = ingest(alex, entries_of(stranger), keys=keys_of(stranger))
    assert (report.refused, report.applied, len(report.pending)) == ([], 0, 3)
    assert stranger.device.log not in alex.store.heads()


def test_entries_of_another_space_are_refused(
    tmp_path: Path, couple: tuple[Journal, Journal]
) -> None:
    _sam, alex = couple
    other = Journal.create(tmp_path / "other", "Other")
    other.device.space_keys = dict(alex.device.space_keys)  # even with the right key
    report = ingest(alex, entries_of(other), keys=keys_of(other))
    assert [r.reason for r in report.refused][:1] == [Reason.OTHER_SPACE]


def test_a_forgery_at_the_end_of_a_run_keeps_the_honest_entries_before_it(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    for energy in range(3):
        sam.record(CheckIn(energy=energy))
    seq, _prev = sam.store.head(sam.device.log)  # type: ignore[misc]
    forged = forge_in_log(sam, alex, event_in(sam, CheckIn(note="forged")))
    held = alex.store.head(sam.device.log)
    report = ingest(alex, [*entries_of(sam), forged])
    assert [(r.seq, r.who) for r in report.refused] == [(seq + 1, "Sam")]
    assert report.applied == seq - held[0]  # type: ignore[index]
    assert alex.store.head(sam.device.log) == sam.store.head(sam.device.log)


def test_an_event_claiming_the_partner_as_author_is_refused(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    alex.record(CheckIn(day="good", energy=9))
    seq = int(alex.store.head(alex.device.log)[0])  # type: ignore[index]
    # Alex's own device, signing as itself, claims Sam wrote this.
    write_own(alex, event_in(alex, CheckIn(note="I give up"), author=sam.device.person))
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert [(r.seq, r.reason) for r in report.refused] == [(seq + 1, Reason.WRONG_AUTHOR)]
    assert all("I give up" not in str(e.body) for e in sam.events())


def test_nobody_can_rename_their_partner(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    exchange(sam, alex)
    write_own(alex, event_in(alex, PersonNamed(person=sam.device.person, name="Eve")))
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert [r.reason for r in report.refused] == [Reason.WRONG_AUTHOR]
    assert projections.names(sam.items())[sam.device.person] == "Sam"


def test_a_device_added_in_a_forged_entry_gets_nothing_in(
    tmp_path: Path, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    intruder = started(
        Journal(tmp_path / "i", new_person_device(sam.device.space, sam.device), MemoryLogStore())
    )
    intruder.record(CheckIn(note="from a stolen key"))
    added = event_in(sam, intruder.own_claim())
    forged = forge_in_log(sam, alex, added)  # in Sam's log, but Alex cannot sign as Sam
    report = ingest(alex, [forged, *entries_of(intruder)])
    assert [r.reason for r in report.refused] == [Reason.BAD_SIGNATURE]
    assert intruder.device.log not in alex.store.heads() and report.pending


def test_a_log_must_open_with_its_own_device_claim(
    tmp_path: Path, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    newcomer = Journal(
        tmp_path / "n", new_person_device(sam.device.space, sam.device), MemoryLogStore()
    )
    write_own(newcomer, event_in(newcomer, CheckIn(note="no claim first")))
    report = ingest(alex, entries_of(newcomer), keys=keys_of(newcomer))
    assert [(r.seq, r.reason) for r in report.refused] == [(1, Reason.NO_CLAIM)]


def test_an_entry_dated_far_in_the_future_is_refused_and_the_clock_stays(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    write_own(alex, event_in(alex, CheckIn(note="from the far future"), hlc=1 << 61))
    clock_before = sam.store.meta("hlc")
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert [r.reason for r in report.refused] == [Reason.FUTURE]
    assert sam.store.meta("hlc") == clock_before
    sam.record(CheckIn(day="rest"))  # and recording still works


def test_the_device_that_invites_brings_the_new_device_in_with_a_matching_record(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    exchange(sam, alex)
    added = [e.body for e in sam.events() if isinstance(e.body, DeviceAdded)]
    # Sam's own claim, Sam bringing Alex's phone in, and Alex's phone's own claim: the two
    # records of Alex's phone say exactly the same.
    alex_records = [a for a in added if a.device == alex.device.log]
    assert len(alex_records) == 2 and alex_records[0] == alex_records[1]
    roster = sam.roster()
    assert roster.person(alex.device.log) == alex.device.person
    assert roster.members[alex.device.log].brought_in_by is None  # pinned at pairing
