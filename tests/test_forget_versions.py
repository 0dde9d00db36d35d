"""Forgetting reaches every version of an entry: the private original and the copy shared
later (`tend share`), and every version under a chain of corrections (`--replaces`), whichever
of their ids is given; on the author's devices, the partner's, and in what each keeps in its
view cache. A forget names those versions, so a device that cannot read them erases them too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tend.app import anchors, clinician, integrity, learning, look, record
from tend.core.domain.events import KEYED_KINDS, OPEN_KINDS, PAYLOADS, CheckIn, Retraction
from tend.core.errors import UserError
from tend.core.ids import EventId, LogId, event_id_at
from tend.core.journal import Journal, shredding
from tend.core.journal.mapper import EntryMapper
from tend.core.trust.ingest import ingest
from tend.core.views import projections
from tend.core.views.read_model import open_snapshot
from tests.attacker import event_in, write_own
from tests.conftest import entries_of, gossip, invite, keys_of

FIRST = "the first words Quillonbrae"
SECOND = "the corrected words Marrowvale"
SORRY = "I should not have written that"


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    gossip(sam, alex)
    return sam, alex


def held(journal: Journal, text: str) -> bool:
    """Whether anything this journal keeps still gives `text`: an entry opened with any key
    record it holds, its items, or its view cache."""
    mapper = EntryMapper(journal.device)
    stored = list(journal.store.since(0))
    records = [s.key for s in stored if s.key]
    for s in stored:
        for key in [None, *records]:
            try:
                if text.encode() in mapper.to_readable(s.entry, key).event_bytes:
                    return True
            except Exception:  # a key that does not open this entry
                continue
    if any(text.encode() in i.raw for i in journal.all_items()):
        return True
    snap = journal.store.snapshot()
    cached = (open_snapshot(journal.device.local_key, snap[1], snap[0]) or []) if snap else []
    return any(text.encode() in i.raw for i in cached)


def positions_of(journal: Journal, author: Journal) -> list[tuple[LogId, int]]:
    """Where `author`'s keyed entries stand on `journal` (every one, placeholders included)."""
    logs = {author.device.log}
    return [(s.log, s.seq) for s in journal.store.since(0) if s.log in logs and s.seq > 1]


def key_records(journal: Journal, where: list[tuple[LogId, int]]) -> int:
    return sum(journal.store.key_at(*p) is not None for p in where)


def timeline_words(journal: Journal) -> str:
    return repr(look.timeline(journal).events)


def test_forgetting_an_entry_shared_later_erases_the_private_original_and_the_shared_copy(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    noted = record.note(sam, FIRST)  # private
    gossip(sam, alex)
    record.share(sam, noted.id.hex()[:8])
    gossip(sam, alex)
    assert FIRST in timeline_words(alex)
    both = [p for p in positions_of(sam, sam) if sam.store.key_at(*p) is not None]
    assert (sam.device.log, seq_of(sam, noted.id)) in both
    assert len(both) == 2  # the private note, and the share that carries it

    record.take_back(sam, noted.id.hex()[:8], SORRY, forget=True)
    assert not held(sam, FIRST)
    gossip(sam, alex)
    for journal in (sam, alex):
        assert not held(journal, FIRST)
        assert key_records(journal, both) == 0
        assert FIRST not in timeline_words(journal)
        [taken] = projections.taken_back(journal.items())
        assert (taken.target, taken.kind, taken.reason, taken.forgotten) == (
            noted.id,
            "share",  # "a shared entry": what it was, for both of them, once its words are gone
            SORRY,
            True,
        )
        assert projections.unavailable(journal.items()) == []  # said once, as taken back
        assert integrity.verify(journal).problems == []
    with pytest.raises(UserError, match="no entry of yours"):  # no words left to share
        record.share(sam, noted.id.hex()[:8])


def seq_of(journal: Journal, ident: EventId) -> int:
    """The seq of the entry `ident` on its own device's log."""
    return next(s.seq for s in journal.store.since(0) if event_id_at(s.log, s.seq) == ident)


@pytest.mark.parametrize("given", ["first", "latest"])
def test_forgetting_a_corrected_entry_erases_the_words_of_every_version(
    couple: tuple[Journal, Journal], given: str
) -> None:
    sam, alex = couple
    first = record.check_in(sam, energy=3, note=FIRST)
    second = record.check_in(sam, note=SECOND, replaces=first.id.hex())
    third = record.check_in(sam, mood=4, replaces=first.id.hex())  # corrects what stands now
    gossip(sam, alex)
    assert SECOND in timeline_words(alex)
    chosen = {"first": first, "latest": third}[given]

    record.take_back(sam, chosen.id.hex()[:8], SORRY, forget=True)
    gossip(sam, alex)
    versions = [(sam.device.log, seq_of(sam, r.id)) for r in (first, second, third)]
    for journal in (sam, alex):
        assert not held(journal, FIRST) and not held(journal, SECOND)
        assert key_records(journal, versions) == 0
        assert [t.target for t in projections.taken_back(journal.items())] == [chosen.id]
        assert projections.unavailable(journal.items()) == []
        assert look.timeline(journal, types=["checkin"]).events == []
        assert integrity.verify(journal).problems == []
    with pytest.raises(UserError, match="no check-in of yours"):  # no words left to correct
        record.check_in(sam, pain=2, replaces=first.id.hex())


def test_a_private_entry_corrected_then_shared_is_forgotten_whole_on_the_partners_device(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    early = record.check_in(sam, energy=2, note=FIRST, private=True)
    fixed = record.check_in(sam, note=SECOND, replaces=early.id.hex())
    assert fixed.private
    gossip(sam, alex)
    record.share(sam, fixed.id.hex()[:8])
    gossip(sam, alex)
    assert SECOND in timeline_words(alex)
    mine = [p for p in positions_of(alex, sam) if alex.store.key_at(*p) is not None]
    assert len(mine) == 3  # two private versions (sealed to Sam) and the share

    record.take_back(sam, early.id.hex()[:8], forget=True)
    gossip(sam, alex)
    for journal in (sam, alex):
        assert not held(journal, SECOND)
        assert key_records(journal, mine) == 0  # what Alex could not read goes too
        assert look.timeline(journal, types=["checkin"]).events == []


def test_a_correction_written_before_the_forget_reached_its_device_is_forgotten_too(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    sam, alex = couple
    tablet = invite(sam, tmp_path / "tablet", own=True, name=None, label="tablet")
    gossip(sam, alex, tablet)
    first = record.check_in(sam, energy=3, note=FIRST)
    gossip(sam, alex, tablet)
    # Offline, Sam's tablet corrects it; meanwhile Sam's phone forgets the check-in.
    later = record.check_in(tablet, note=SECOND, replaces=first.id.hex())
    copied = keys_of(tablet)  # a copy of its key record, from before it was erased
    forget = record.take_back(sam, first.id.hex()[:8], forget=True)
    assert isinstance(forget.event.body, Retraction) and forget.event.body.versions == ()
    gossip(sam, alex, tablet)
    where = [(tablet.device.log, seq_of(tablet, later.id))]
    for journal in (sam, alex, tablet):
        assert not held(journal, FIRST) and not held(journal, SECOND)
        assert key_records(journal, where) == 0
        assert integrity.verify(journal).problems == []  # forgotten, not withheld
    # A device that took the entries in before their key records never takes in the late one.
    reader = invite(alex, tmp_path / "reader", own=True, name=None, label="reader")
    ingest(reader, entries_of(sam) + entries_of(tablet) + entries_of(alex))
    late = (tablet.device.log, seq_of(tablet, later.id))
    assert late in copied
    assert shredding.adopt_keys(reader, copied) == (0, [])
    assert late not in keys_of(reader)
    assert not held(reader, FIRST) and not held(reader, SECOND)


def test_a_forget_naming_someone_elses_entries_as_its_versions_erases_nothing(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    first = record.check_in(sam, energy=3, note=FIRST)
    second = record.check_in(sam, note=SECOND, replaces=first.id.hex())
    own = record.check_in(alex, energy=1)
    gossip(sam, alex)
    forged = Retraction(target=own.id, forget=True, versions=(first.id, second.id))
    write_own(alex, event_in(alex, forged))
    gossip(sam, alex)
    for journal in (sam, alex):
        assert held(journal, SECOND)
        assert look.week(journal).view.people[sam.device.person].checkins[
            dt.date.today().isoformat()
        ] == CheckIn(energy=3, note=SECOND)


def test_replay_before_a_plain_retraction_of_a_shared_entry_never_shows_the_shared_copy(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    noted = record.note(sam, FIRST)
    record.share(sam, noted.id.hex()[:8])
    gossip(sam, alex)
    before = dt.datetime.now().astimezone()
    record.take_back(sam, noted.id.hex()[:8], SORRY)
    gossip(sam, alex)
    for journal in (sam, alex):
        then = look.replay(journal, before)
        assert FIRST not in repr(then.today) + repr(then.week)
        assert [t.target for t in then.taken_back] == [noted.id]


def test_every_kind_a_person_writes_is_keyed_and_membership_and_retractions_are_not() -> None:
    assert {
        "person.named",
        "device.added",
        "device.removed",
        "person.lost",
        "person.here",
        "key.rotated",
        "retract",
        "keyed",
    } == OPEN_KINDS
    assert set(PAYLOADS) - OPEN_KINDS == KEYED_KINDS
    for kind in (  # the kinds that came with notes, sharing, the practices and the lifecycles
        "note",
        "share",
        "anchor",
        "learn.added",
        "learn.status",
        "clinician.question",
        "goal.edit",
        "ritual.edit",
        "ritual.kept",
        "boundary.edit",
        "care.edit",
    ):
        assert kind in KEYED_KINDS, kind


def test_the_new_kinds_are_written_with_a_key_record_and_can_be_forgotten(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    written = [
        record.note(sam, FIRST, share=True),
        anchors.add(sam, FIRST),
        clinician.ask(sam, FIRST, share=True),
        learning.add(sam, FIRST, kind="book"),
    ]
    gossip(sam, alex)
    for done in written:
        where = (sam.device.log, seq_of(sam, done.id))
        assert sam.store.key_at(*where) is not None and alex.store.key_at(*where) is not None
        record.take_back(sam, done.id.hex(), forget=True)
    gossip(sam, alex)
    for journal in (sam, alex):
        assert not held(journal, FIRST)
        assert len(projections.taken_back(journal.items())) == len(written)


def test_a_later_version_arriving_alone_after_the_forget_and_other_entries_is_erased_on_arrival(
    couple: tuple[Journal, Journal], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a forget is applied, an ingest of unrelated entries does not look at everything
    again, yet a version of the forgotten entry that comes later, on its own, is erased as it
    arrives, with its key record."""
    sam, alex = couple
    tablet = invite(sam, tmp_path / "tablet", own=True, name=None, label="tablet")
    gossip(sam, alex, tablet)
    first = record.check_in(sam, energy=3, note=FIRST)
    gossip(sam, alex, tablet)
    later = record.check_in(tablet, note=SECOND, replaces=first.id.hex())  # offline
    record.take_back(sam, first.id.hex()[:8], forget=True)
    gossip(sam, alex)  # the forget reaches Alex; the tablet's correction has not yet
    assert not held(alex, FIRST)
    looks: list[int] = []
    full_look = shredding._forgotten_and_ids

    def counted_look(*args: Any) -> Any:
        looks.append(1)
        return full_look(*args)

    monkeypatch.setattr(shredding, "_forgotten_and_ids", counted_look)
    record.thank(sam, "for the soup")
    ingest(alex, entries_of(sam), keys=keys_of(sam))
    assert looks == []  # nothing new could be forgotten: no second look at ten years
    ingest(alex, entries_of(tablet), keys=keys_of(tablet))
    assert looks == [1]
    assert not held(alex, SECOND)
    assert key_records(alex, [(tablet.device.log, seq_of(tablet, later.id))]) == 0
