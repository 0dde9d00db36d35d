"""Taking back and forgetting on real SQLite journals, without a relay: who may forget what,
what every view says afterwards, and what is left in the files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tend.app import look, record
from tend.core.domain.events import Gratitude, Retraction
from tend.core.errors import ValidationError
from tend.core.ids import EventId, event_id_at
from tend.core.journal import Journal
from tend.core.trust.ingest import ingest
from tend.core.views import projections
from tend.core.views.read_model import open_snapshot
from tests.attacker import event_in, write_own
from tests.conftest import entries_of, gossip, invite, keys_of

WORDS = "the words said in a hard moment"
SORRY = "sorry, I was exhausted"


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    gossip(sam, alex)
    return sam, alex


def said(journal: Journal, text: str = WORDS) -> EventId:
    return journal.record(Gratitude(text=text)).id


def shows_words(journal: Journal) -> bool:
    items = journal.items()
    snap = journal.store.snapshot()
    cached = open_snapshot(journal.device.local_key, snap[1], snap[0]) or [] if snap else []
    return any(WORDS.encode() in i.raw for i in [*items, *cached])


def test_the_author_forgets_and_the_partners_journal_erases_its_copy_on_receipt(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    target = said(sam)
    gossip(sam, alex)
    assert shows_words(alex)
    record.take_back(sam, target.hex()[:8], SORRY, forget=True)
    assert not shows_words(sam)
    gossip(sam, alex)
    assert not shows_words(alex)
    for journal in (sam, alex):
        where = next((i.log, i.seq) for i in journal.items() if event_id_at(i.log, i.seq) == target)
        assert journal.store.key_at(*where) is None
        [taken] = projections.taken_back(journal.items())
        assert (taken.author, taken.kind, taken.reason, taken.forgotten) == (
            sam.device.person,
            "gratitude",
            SORRY,
            True,
        )


def test_a_forget_stored_by_another_process_is_applied_before_this_one_reads_or_saves(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    sam, alex = couple
    target = said(sam)
    gossip(sam, alex)
    assert shows_words(alex)  # this process (say, `tend watch`) holds the words in memory
    record.take_back(sam, target.hex()[:8], forget=True)
    with Journal.open(alex.home) as other:  # `tend sync` in another process
        ingest(other, entries_of(sam), keys=keys_of(sam))
    assert not shows_words(alex)
    with Journal.open(alex.home) as again:
        assert not shows_words(again)


def test_a_forget_retraction_by_the_partner_erases_nothing(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    target = said(sam)
    gossip(sam, alex)
    forged = Retraction(target=target, reason="gone", forget=True)
    write_own(alex, event_in(alex, forged))
    gossip(sam, alex)
    for journal in (sam, alex):
        assert shows_words(journal)
        assert projections.taken_back(journal.items()) == []
        assert any(i.type == "gratitude" for i in journal.items())


def test_a_key_record_arriving_after_its_forget_is_never_taken_in(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    target = said(sam)
    record.take_back(sam, target.hex()[:8], forget=True)
    keys_before = keys_of(sam)
    # A late key record for the forgotten entry (a copy from before the forget) is refused.
    where = next((i.log, i.seq) for i in sam.items() if event_id_at(i.log, i.seq) == target)
    with Journal.open(sam.home) as copy:
        assert copy.store.key_at(*where) is None
    ingest(alex, entries_of(sam), keys=keys_before)
    assert not shows_words(alex)


def test_replay_before_a_plain_retraction_never_shows_the_words_and_says_why(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    target = said(sam)
    gossip(sam, alex)
    before = dt.datetime.now().astimezone()
    record.take_back(sam, target.hex()[:8], SORRY)
    gossip(sam, alex)
    then = look.replay(alex, before)
    assert [(t.reason, t.forgotten) for t in then.taken_back] == [(SORRY, False)]
    assert all(e.body != Gratitude(text=WORDS) for e in then.week.view.gratitude)
    assert then.entries_known == len(projections.as_known_at(alex.items(), 1 << 62)) - 1
    shown = look.timeline(alex)
    assert [t.reason for t in shown.taken_back] == [SORRY]
    assert all(getattr(e.body, "text", None) != WORDS for e in shown.events)


def test_only_ones_own_entries_can_be_forgotten(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    target = said(sam)
    gossip(sam, alex)
    with pytest.raises(Exception, match="entry of yours"):
        record.take_back(alex, target.hex()[:8], forget=True)


def test_forgetting_an_entry_that_keeps_no_words_of_its_own_is_refused_in_one_line(
    couple: tuple[Journal, Journal],
) -> None:
    sam, _alex = couple
    named = next(e for e in sam.events() if e.type == "person.named")
    with pytest.raises(ValidationError, match="forget"):
        record.take_back(sam, named.id.hex()[:8], forget=True)
