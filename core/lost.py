"""A person who lost every device and their recovery phrase: marking their old place lost, and
the answer a device gives if it is marked lost while it is still in use.

Nothing of the lost person can be recovered (their private entries and identity key are gone);
what is left to do is to let the others tidy up. While a `person.lost` by someone else stands,
either remaining person may remove the lost person's devices (core/trust.py has the rule). If
the person was not lost after all, the first of their devices to sync answers `person.here`,
and from then on only they can remove their devices again.
"""

from __future__ import annotations

from tend.core.errors import UserError
from tend.core.events import PersonHere, PersonLost
from tend.core.ids import LogId, PersonId, short
from tend.core.journal import Journal


def declare_lost(journal: Journal, device: LogId) -> PersonId:
    """Mark the person of `device` (someone else's) as lost; returns that person."""
    roster = journal.roster()
    member = roster.members.get(device)
    if member is None:
        raise UserError(f"no device {short(device)} on the roster")
    if member.person == journal.device.person:
        raise UserError(
            "that device is yours: remove it with tend devices remove, or restore from your "
            "recovery phrase"
        )
    if member.person not in roster.lost:
        journal.record(PersonLost(person=member.person))
    return member.person


def answer_if_lost(journal: Journal) -> bool:
    """If someone marked this device's person lost, say we are here; whether we did."""
    if journal.device.person not in journal.roster().lost:
        return False
    if journal.roster().removed(journal.device.log):
        return False  # too late to answer from here: this device was removed already
    journal.record(PersonHere(person=journal.device.person))
    return True


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
