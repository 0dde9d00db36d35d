"""A person who lost every device and their phrase: marked lost, their devices removable by
either of the others; and what a partner's modified client cannot do with that rule."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from tend.core.crypto import keys
from tend.core.domain.events import CheckIn, DeviceRemoved, PersonHere, PersonLost
from tend.core.errors import UserError
from tend.core.ids import EventId, event_id_at
from tend.core.journal import Journal
from tend.core.log.header import GENESIS
from tend.core.log.identity import lost_removal_message, removal_message
from tend.core.trust import lost, rotation
from tend.core.trust.engine import Issue
from tend.core.trust.ingest import ingest
from tests.attacker import event_in, next_seq, write_own
from tests.conftest import entries_of, gossip, invite, keys_of


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


def _mark_of(by: Journal, device: Journal) -> EventId:
    """The id of the newest `person.lost` that `by` wrote (whether or not it still stands)."""
    head = by.store.head(by.device.log)
    assert head is not None
    for seq in range(int(head[0]), 0, -1):
        if event_id_at(by.device.log, seq) in by.roster().marks.marks:
            return event_id_at(by.device.log, seq)
    raise AssertionError("no mark by this device")


def _lost_removal(by: Journal, device: Journal, **fields: object) -> DeviceRemoved:
    """What a modified client signs: a removal under the newest mark, at any cut it likes."""
    honest = rotation.removal_of(by, device.device.log, mark=_mark_of(by, device))
    upto = int(fields.get("upto", honest.upto))  # type: ignore[call-overload]
    upto_hash = bytes(fields.get("upto_hash", honest.upto_hash))  # type: ignore[call-overload]
    mark = honest.mark
    signed = lost_removal_message(by.device.space, device.device.log, upto, upto_hash, mark)
    proof = keys.sign(by.device.identity_seed, signed)
    return DeviceRemoved(device.device.log, upto, upto_hash, proof, mark=mark)


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
    report = ingest(sam, entries_of(old), keys=keys_of(old))
    assert (report.applied, report.removed_history, report.refused) == (0, 1, [])
    assert "written by whoever found it" not in str([i.raw for i in sam.items()])


def test_without_a_lost_mark_a_partner_cannot_remove_the_other_persons_device(
    couple: Couple,
) -> None:
    sam, alex = couple.sam, couple.alex
    with pytest.raises(UserError, match="only one of their own devices"):
        rotation.remove_device(sam, alex.device.log)
    # The modified client signs the removal anyway, under the lost label and under the own one.
    head = sam.store.head(alex.device.log)
    assert head is not None
    upto, upto_hash = head[0], head[1]
    space, log = sam.device.space, alex.device.log
    invented = EventId(bytes(16))  # a mark nobody wrote
    signed = lost_removal_message(space, log, upto, upto_hash, invented)
    proof = keys.sign(sam.device.identity_seed, signed)
    write_own(sam, event_in(sam, DeviceRemoved(log, upto, upto_hash, proof, mark=invented)))
    proof = keys.sign(sam.device.identity_seed, removal_message(space, log, upto, upto_hash))
    write_own(sam, event_in(sam, DeviceRemoved(log, upto, upto_hash, proof)))
    ingest(alex, entries_of(sam), keys=keys_of(sam))
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
    ingest(alex, entries_of(sam), keys=keys_of(sam))
    assert alex.roster().removed(alex.device.log)
    assert not lost.answer_if_lost(alex)
    mark = _mark_of(sam, alex)
    write_own(alex, event_in(alex, PersonHere(person=alex.device.person, mark=mark)))
    ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert sam.roster().removed(alex.device.log)


def test_nobody_can_mark_themselves_lost_or_answer_for_someone_else(couple: Couple) -> None:
    sam, alex = couple.sam, couple.alex
    with pytest.raises(UserError, match="that device is yours"):
        lost.declare_lost(alex, alex.device.log)
    # Alex's modified client marks Alex lost (to have Sam's removal count later) ...
    head = alex.store.head(alex.device.log)
    assert head is not None
    heads = ((alex.device.log, int(head[0]), bytes(head[1])),)
    own_mark = event_id_at(alex.device.log, next_seq(alex))
    write_own(alex, event_in(alex, PersonLost(person=alex.device.person, heads=heads)))
    # ... and answers "here" for Sam, as if Sam had been marked lost and answered.
    write_own(alex, event_in(alex, PersonHere(person=sam.device.person, mark=own_mark)))
    ingest(sam, entries_of(alex), keys=keys_of(alex))
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


def test_a_backdated_removal_after_the_answer_does_not_count(couple: Couple) -> None:
    # Merge order follows each entry's own clock, which its writer picks: the rule therefore
    # looks at what the removal covers (the answer is at or before its cut), not at when it
    # claims to have been written.
    sam, alex = couple.sam, couple.alex
    lost.declare_lost(sam, alex.device.log)
    marked = sam.last_hlc()
    gossip(sam, alex)
    assert lost.answer_if_lost(alex)
    gossip(sam, alex)
    write_own(sam, event_in(sam, _lost_removal(sam, alex), hlc=marked + 1))
    gossip(sam, alex)
    for journal in (sam, alex):
        assert not journal.roster().removed(alex.device.log)
        assert [i.issue for i in journal.roster().ignored] == [Issue.NOT_LOST]


def test_a_removal_under_a_mark_cannot_erase_what_was_written_before_the_mark(
    couple: Couple,
) -> None:
    sam, alex = couple.sam, couple.alex
    lost.declare_lost(sam, alex.device.log)
    [(_log, head_seq, head_hash)] = sam.roster().marks.marks[_mark_of(sam, alex)].heads
    earlier = _lost_removal(sam, alex, upto=0, upto_hash=GENESIS)
    below = _lost_removal(sam, alex, upto=head_seq - 1, upto_hash=head_hash)
    wrong_hash = _lost_removal(sam, alex, upto=head_seq, upto_hash=bytes(32))
    for removal in (earlier, below, wrong_hash):
        write_own(sam, event_in(sam, removal))
    gossip(sam, alex)
    for journal in (sam, alex):
        roster = journal.roster()
        assert not roster.removed(alex.device.log) and not roster.forked
        assert [i.issue for i in roster.ignored] == [Issue.NOT_LOST] * 3
    assert "before the phone was lost" in str([i.raw for i in sam.items()])


def test_a_removal_under_a_mark_cannot_fork_the_log_it_cuts(couple: Couple) -> None:
    # Past the mark's head, the remover names an entry Alex's phone never wrote: a removal
    # that would make every device refuse the whole log as forked. It does not count.
    sam, alex = couple.sam, couple.alex
    lost.declare_lost(sam, alex.device.log)
    alex.record(CheckIn(day="rest", note="still here, offline"))
    ingest(sam, entries_of(alex), keys=keys_of(alex))
    head = sam.store.head(alex.device.log)
    assert head is not None
    write_own(sam, event_in(sam, _lost_removal(sam, alex, upto_hash=bytes(32))))
    ingest(alex, entries_of(sam), keys=keys_of(sam))
    for journal in (sam, alex):
        roster = journal.roster()
        assert not roster.removed(alex.device.log) and not roster.forked


def test_a_mark_does_not_reach_a_device_added_after_it(couple: Couple, tmp_path: Path) -> None:
    sam, alex = couple.sam, couple.alex
    lost.declare_lost(sam, alex.device.log)
    tablet = invite(alex, tmp_path / "alex-tablet", own=True, name=None)
    gossip(sam, alex, tablet)
    with pytest.raises(UserError, match="only one of their own devices"):
        rotation.remove_device(sam, tablet.device.log)
    write_own(sam, event_in(sam, _lost_removal(sam, tablet)))
    gossip(sam, alex, tablet)
    for journal in (sam, alex, tablet):
        assert not journal.roster().removed(tablet.device.log)
