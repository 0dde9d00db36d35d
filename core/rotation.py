"""Removing a device, and the new space key epoch that follows.

Removal is two signed events in the remover's log, both under the current epoch: a
`device.removed`, and a `key.rotated` carrying a fresh 32-byte space key sealed to the X25519
key of every device that stays (including the remover's other devices and the partner's).
From then on this device writes under the new epoch; every remaining device picks the new key
out of the `key.rotated` event when it ingests it. Old epochs stay in every keyring, so history
stays readable, while the removed device holds no key for anything written afterwards. The
relay capability is derived from the epoch key, so it changes too (see sync/client.py).
"""

from __future__ import annotations

from tend.core import keys, roster
from tend.core.codec import decode_event
from tend.core.errors import UserError
from tend.core.events import DeviceRemoved, Event, KeyRotated
from tend.core.ids import LogId, short
from tend.core.journal import Journal

_CONTEXT = b"tend/epoch-key/v1"


def _context(space: bytes, epoch: int) -> bytes:
    return _CONTEXT + space + epoch.to_bytes(4, "big")


def current_roster(journal: Journal) -> roster.Roster:
    events = [decode_event(i.raw) for i in journal.items() if i.type.startswith(("device.",))]
    return roster.build(journal.trust_anchors(), events)


def remove_device(journal: Journal, device: LogId) -> KeyRotated:
    """Take `device` off the roster and move the space to a new key only the others get."""
    members = current_roster(journal)
    if device == journal.device.log:
        raise UserError("this device cannot remove itself; remove it from another device")
    if device not in members.keys or device in members.removed:
        raise UserError(f"no device {short(device)} on the roster")
    journal.record(DeviceRemoved(device=device))
    new_key = keys.new_key()
    epoch = max(journal.device.space_keys) + 1
    context = _context(journal.device.space, epoch)
    staying = [d for d in members.active() if d != device and d in members.dh_keys]
    sealed = tuple((bytes(d), keys.seal_to(members.dh_keys[d], new_key, context)) for d in staying)
    rotated = KeyRotated(epoch=epoch, removed=device, sealed=sealed)
    journal.record(rotated)
    journal.adopt_epoch(epoch, new_key)
    return rotated


def adopt_rotations(journal: Journal, events: list[Event]) -> bool:
    """Take new epoch keys sealed to this device out of trusted `key.rotated` events."""
    members = current_roster(journal)
    learnt = False
    for ev in events:
        body = ev.body
        if not isinstance(body, KeyRotated) or not members.may_write(ev.device):
            continue
        if body.epoch in journal.device.space_keys:
            continue
        mine = dict(body.sealed).get(journal.device.log)
        if mine is None:
            continue  # not sealed to us: we were the one removed
        key = keys.open_sealed(
            journal.device.dh_secret, mine, _context(journal.device.space, body.epoch)
        )
        journal.adopt_epoch(body.epoch, key)
        learnt = True
    return learnt
