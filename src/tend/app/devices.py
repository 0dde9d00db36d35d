"""The devices that write to this journal: who is on the roster, comparing safety codes in
person, and removing a lost or retired device (a new key, sealed to those who stay)."""

from __future__ import annotations

from dataclasses import dataclass

from tend.app import finding, settings
from tend.core.errors import UserError
from tend.core.ids import LogId, PersonId
from tend.core.journal import Journal
from tend.core.trust import pairing, rotation
from tend.core.trust.engine import Ignored
from tend.core.views import projections


@dataclass(frozen=True)
class DeviceRow:
    """One device on the roster, as a person sees it."""

    id: LogId
    person: PersonId
    name: str | None
    label: str
    this_device: bool
    removed: bool
    lost: bool
    brought_in_by: str | None
    safety_code: str | None  # None for this person's own devices: nothing to compare
    compared: bool


@dataclass(frozen=True)
class Roster:
    devices: list[DeviceRow]
    epoch: int
    ignored: list[Ignored]  # membership claims the rules did not apply, reported
    names: dict[PersonId, str]


@dataclass(frozen=True)
class Removal:
    removed: LogId
    epoch: int  # the new key epoch
    staying: int  # devices the new key was sealed to


def roster(journal: Journal) -> Roster:
    names = projections.names(journal.items())
    held = journal.roster()
    me = journal.device
    compared = settings.compared_identities(journal)
    rows = [
        DeviceRow(
            id=device,
            person=member.person,
            name=names.get(member.person),
            label=member.label,
            this_device=device == me.log,
            removed=held.removed(device),
            lost=member.person in held.lost,
            brought_in_by=names.get(member.brought_in_by) if member.brought_in_by else None,
            safety_code=None
            if member.person == me.person
            else pairing.safety_code(me.space, me.identity, member.identity),
            compared=member.person == me.person or member.identity.hex() in compared,
        )
        for device, member in held.members.items()
    ]
    return Roster(rows, me.epoch, list(held.ignored), names)


def confirm_compared(journal: Journal, device_prefix: str | None = None) -> None:
    """Record that the safety code was compared in person and matched: for one device's person,
    or with no prefix, for everyone else on the roster."""
    members = journal.roster().members
    me = journal.device.person
    others = {d: m for d, m in members.items() if m.person != me}
    if device_prefix is not None:
        target = finding.device(journal, device_prefix, others_only=True)
        others = {d: m for d, m in others.items() if d == target}
    if not others:
        raise UserError("there is nobody else's safety code to confirm yet")
    settings.mark_compared(journal, [m.identity for m in others.values()])


def remove(journal: Journal, device_prefix: str) -> Removal:
    """Remove a device: it reads nothing written from now on. The relay learns of it at the
    next sync (syncing.sync)."""
    held = journal.roster()
    target = finding.device(journal, device_prefix)
    rotation.remove_device(journal, target)
    staying = len([d for d in held.active() if bytes(d) != bytes(target)])
    return Removal(target, journal.device.epoch, staying)


__all__ = ["DeviceRow", "Ignored", "Removal", "Roster", "confirm_compared", "remove", "roster"]
