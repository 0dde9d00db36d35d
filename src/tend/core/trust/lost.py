"""A person who lost every device and their recovery phrase: marking their old place lost, and
the answer a device gives if it is marked lost while it is still in use.

Nothing of the lost person can be recovered (their private entries and identity key are gone);
what is left to do is to let the others tidy up. While a `person.lost` mark by someone else
stands, either remaining person may remove the lost person's devices (core/trust/lost_rule.py has
the rule). If the person was not lost after all, each of their devices answers `person.here` at its
next sync, and from then on a removal by anyone else does not count for that device.
"""

from __future__ import annotations

from tend.core.domain.events import PersonHere, PersonLost
from tend.core.errors import NextStep, UserError
from tend.core.ids import EventId, LogId, PersonId, short
from tend.core.journal import Journal
from tend.core.trust.engine import Roster


def declare_lost(journal: Journal, device: LogId) -> PersonId:
    """Mark the person of `device` (someone else's) as lost; returns that person."""
    roster = journal.roster()
    member = roster.members.get(device)
    if member is None:
        raise UserError(f"no device {short(device)} on the roster")
    if member.person == journal.device.person:
        raise UserError("that device is yours", next_step=NextStep.REMOVE_OWN_DEVICE)
    if member.person in roster.lost:
        return member.person
    heads = []
    for log in roster.devices_of(member.person):
        head = journal.store.head(log)
        if head is not None and not roster.removed(log):
            heads.append((log, int(head[0]), bytes(head[1])))
    if not heads:
        raise UserError(f"nothing of device {short(device)}'s person has reached this device")
    journal.record(PersonLost(person=member.person, heads=tuple(heads)))
    return member.person


def standing_mark(roster: Roster, person: PersonId, device: LogId) -> EventId | None:
    """A mark of `person` that names `device` and none of their devices has answered."""
    for mark_id, mark in roster.marks.marks.items():
        if mark.person != person or mark_id in roster.marks.answered_by_person:
            continue
        if any(log == device for log, _seq, _hash in mark.heads):
            return mark_id
    return None


def answer_if_lost(journal: Journal) -> bool:
    """Answer every mark of this device's person that this device has not answered yet."""
    roster = journal.roster()
    me = journal.device
    if roster.removed(me.log):
        return False  # too late to answer from here: this device was removed already
    unanswered = [
        mark_id
        for mark_id, mark in roster.marks.marks.items()
        if mark.person == me.person and (me.log, mark_id) not in roster.marks.answered
    ]
    for mark_id in unanswered:
        journal.record(PersonHere(person=me.person, mark=mark_id))
    return bool(unanswered)


def people_present(journal: Journal) -> list[bytes]:
    """The identities of the other people with a device still on the roster, not lost."""
    roster = journal.roster()
    me = journal.device.identity
    return sorted(
        {
            m.identity
            for d, m in roster.members.items()
            if m.person not in roster.lost and not roster.removed(d)
        }
        - {me}
    )
