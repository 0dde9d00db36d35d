"""A person who lost every device and their phrase: marked lost, their devices removable by
either of the others; and what a partner's modified client cannot do with that rule."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from tend.core import keys, lost, rotation
from tend.core.errors import UserError
from tend.core.events import CheckIn, DeviceRemoved, PersonHere, PersonLost
from tend.core.identity import lost_removal_message, removal_message
from tend.core.ingest import ingest
from tend.core.journal import Journal
from tend.core.trust import Issue
from tend.tests.attacker import event_in, write_own
from tend.tests.conftest import entries_of, gossip, invite


@dataclass
class Couple:
    sam: Journal
    alex: Journal  # the device Alex lost, with everything on it


@pytest.fixture
def couple(tmp_path: Path) -> Couple:
    sam = Journal.create(tmp_path / "sam", "Sam", label="laptop")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex", label="phone")
    alex.record(CheckIn(day="gentle", note="before the phone was lost"))
    gossip(sam, alex)
    return Couple(sam, alex)


def _lost_removal(by: Journal, device: Journal) -> DeviceRemoved:
    return rotation.removal_of(by, device.device.log, lost=True)


def test_sam_marks_alex_lost_and_removes_the_old_phone_and_alex_new_can_too(
    couple: Couple, tmp_path: Path
) -> None:
    sam, old = couple.sam, couple.alex
    lost.declare_lost(sam, old.device.log)
    assert old.device.person in sam.roster().lost
    new = invite(sam, tmp_path / "alex-new", own=False, name="Alex", label="new phone")
    gossip(sam, new)
    # Both devices show the old place as lost: removable by either of them.
    assert old.device.person in new.roster().lost
    assert new.device.person != old.device.person  # a new identity: nothing was recoverable
    rotation.remove_device(new, old.device.log)
    gossip(sam, new)
    for journal in (sam, new):
        assert journal.roster().removed(old.device.log)
    # The old history stays; anything the lost phone writes afterwards (a thief) is refused.
    assert any(i.type == "checkin" and i.log == old.device.log for i in sam.items())
    write_own(old, event_in(old, CheckIn(day="good", note="written by whoever found it")))
    report = ingest(sam, entries_of(old))
    assert (report.applied, report.removed_history, report.refused) == (0, 1, [])
    assert "written by whoever found it" not in str([i.raw for i in sam.items()])


def test_without_a_lost_mark_a_partner_cannot_remove_the_other_persons_device(
    couple: Couple,
) -> None:
    sam, alex = couple.sam, couple.alex
    with pytest.raises(UserError, match="only one of their own devices"):
        rotation.remove_device(sam, alex.device.log)
    # The modified client signs the removal anyway, under the lost label and under the own one.
    for message in (lost_removal_message, removal_message):
        head = sam.store.head(alex.device.log)
        assert head is not None
        signed = message(sam.device.space, alex.device.log, head[0], head[1])
        proof = keys.sign(sam.device.identity_seed, signed)
        removal = DeviceRemoved(alex.device.log, head[0], head[1], proof)
        write_own(sam, event_in(sam, removal))
    ingest(alex, entries_of(sam))
    for journal in (sam, alex):
        roster = journal.roster()
        assert not roster.removed(alex.device.log)
        assert [i.issue for i in roster.ignored] == [Issue.NOT_LOST, Issue.UNSIGNED_REMOVAL]


def test_a_person_marked_lost_who_answers_keeps_their_devices_theirs(couple: Couple) -> None:
    sam, alex = couple.sam, couple.alex
    lost.declare_lost(sam, alex.device.log)
    gossip(sam, alex)
    assert lost.answer_if_lost(alex)  # what sync does on Alex's phone
    assert not lost.answer_if_lost(alex)  # once is enough
    gossip(sam, alex)
    assert alex.device.person not in sam.roster().lost
    with pytest.raises(UserError, match="only one of their own devices"):
        rotation.remove_device(sam, alex.device.log)
    # A removal the modified client makes anyway, after the answer, does not count.
    write_own(sam, event_in(sam, _lost_removal(sam, alex)))
    gossip(sam, alex)
    for journal in (sam, alex):
        assert not journal.roster().removed(alex.device.log)
        assert [i.issue for i in journal.roster().ignored] == [Issue.NOT_LOST]


def test_a_removal_made_while_the_mark_stood_counts_even_if_an_answer_comes_later(
    couple: Couple,
) -> None:
    sam, alex = couple.sam, couple.alex
    lost.declare_lost(sam, alex.device.log)
    rotation.remove_device(sam, alex.device.log)
    # The phone was not lost after all, but it was removed before it could answer: it is cut
    # off (it sees so itself) and can rejoin by a new invitation. Its answer comes too late.
    ingest(alex, entries_of(sam))
    assert alex.roster().removed(alex.device.log)
    assert not lost.answer_if_lost(alex)
    write_own(alex, event_in(alex, PersonHere(person=alex.device.person)))
    ingest(sam, entries_of(alex))
    assert sam.roster().removed(alex.device.log)


def test_nobody_can_mark_themselves_lost_or_answer_for_someone_else(couple: Couple) -> None:
    sam, alex = couple.sam, couple.alex
    with pytest.raises(UserError, match="that device is yours"):
        lost.declare_lost(alex, alex.device.log)
    # Alex's modified client marks Alex lost (to have Sam's removal count later) ...
    write_own(alex, event_in(alex, PersonLost(person=alex.device.person)))
    # ... and answers "here" for Sam, as if Sam had been marked lost and answered.
    write_own(alex, event_in(alex, PersonHere(person=sam.device.person)))
    ingest(sam, entries_of(alex))
    roster = sam.roster()
    assert roster.lost == set()
    assert Issue.OWN_LOSS in [i.issue for i in roster.ignored]
    # Sam marks Alex lost; Alex's forged "here" for Sam, written earlier, changes nothing.
    lost.declare_lost(sam, alex.device.log)
    assert sam.roster().lost == {alex.device.person}


def test_a_partner_marking_the_other_lost_cannot_remove_the_other_persons_new_answer(
    couple: Couple,
) -> None:
    # Marking someone lost is a claim about the past: the lost person's "here" ends it, and a
    # second mark after the answer is needed before any removal by another counts again.
    sam, alex = couple.sam, couple.alex
    lost.declare_lost(sam, alex.device.log)
    gossip(sam, alex)
    lost.answer_if_lost(alex)
    gossip(sam, alex)
    lost.declare_lost(sam, alex.device.log)  # marked again, after the answer
    gossip(sam, alex)
    assert alex.device.person in alex.roster().lost
    assert lost.answer_if_lost(alex)
    gossip(sam, alex)
    assert sam.roster().lost == alex.roster().lost == set()


def test_the_lost_rules_give_the_same_roster_whatever_order_entries_arrive_in(
    couple: Couple, tmp_path: Path
) -> None:
    sam, old = couple.sam, couple.alex
    lost.declare_lost(sam, old.device.log)
    new = invite(sam, tmp_path / "alex-new", own=False, name="Alex", label="new phone")
    gossip(sam, new)
    rotation.remove_device(new, old.device.log)
    gossip(sam, new)
    logs = {j.device.log: entries_of(j) for j in (sam, old, new)}
    outcomes = set()
    for n, order in enumerate(itertools.permutations(logs)):
        fresh = invite(sam, tmp_path / f"tablet-{n}", own=True, name=None)
        for log in order:
            ingest(fresh, logs[log])
        ingest(fresh, [e for log in order for e in logs[log]])
        roster = fresh.roster()
        outcomes.add((frozenset(roster.cutoffs.items()), frozenset(roster.lost)))
    assert len(outcomes) == 1
    [(cutoffs, _lost)] = outcomes
    assert old.device.log in dict(cutoffs)
