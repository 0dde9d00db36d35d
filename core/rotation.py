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

import msgpack

from tend.core import keys, roster
from tend.core.codec import decode_event
from tend.core.errors import InvalidEnvelope, UnreadableEntry, UserError
from tend.core.events import DeviceRemoved, Event, KeyRotated
from tend.core.ids import LogId, short
from tend.core.journal import Journal

_CONTEXT = b"tend/epoch-key/v1"


def _context(space: bytes, epoch: int) -> bytes:
    return _CONTEXT + space + epoch.to_bytes(4, "big")


def current_roster(journal: Journal) -> roster.Roster:
    events = [decode_event(i.raw) for i in journal.membership() if i.type.startswith("device.")]
    return roster.build(journal.trust_anchors(), events)


def remove_device(journal: Journal, device: LogId) -> KeyRotated:
    """Take `device` off the roster and move the space to a new key only the others get."""
    members = current_roster(journal)
    if device == journal.device.log:
        raise UserError("this device cannot remove itself; remove it from another device")
    if device not in members.keys or device in members.removed:
        raise UserError(f"no device {short(device)} on the roster")
    if members.people.get(device) != journal.device.person:
        # Each person removes their own devices (core/roster.py ignores anything else).
        raise UserError(
            f"device {short(device)} is your partner's: only one of their own devices can remove it"
        )
    journal.record(DeviceRemoved(device=device))
    new_key = keys.new_key()
    epoch = max(journal.device.space_keys) + 1
    context = _context(journal.device.space, epoch)
    staying = [d for d in members.active() if d != device and d in members.dh_keys]
    sealed = tuple((bytes(d), keys.seal_to(members.dh_keys[d], new_key, context)) for d in staying)
    rotated = KeyRotated(epoch=epoch, removed=device, sealed=sealed)
    # Keep the new key before anything records that it exists: a crash between the two must
    # not leave an epoch nobody holds.
    journal.adopt_epoch(epoch, new_key, write=False)
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
        if body.epoch <= journal.device.epoch:
            continue
        mine = dict(body.sealed).get(journal.device.log)
        if mine is None:
            continue  # not sealed to us: we were the one removed
        try:
            key = keys.open_sealed(
                journal.device.dh_secret, mine, _context(journal.device.space, body.epoch)
            )
        except InvalidEnvelope:
            continue  # a copy that does not open is someone's mistake, not ours to crash on
        # Signed by a device on the roster: this key may now seal what we write (and it
        # replaces anything a relay handed over for this epoch).
        journal.adopt_epoch(body.epoch, key)
        learnt = True
    return learnt


# --- the relay's side of a rotation -----------------------------------------------------------
# The relay's capability is derived from an epoch key, so after a rotation a device that was
# offline knows only the old one. The device that rotates leaves the relay a "rekey" blob (the
# same sealed keys as the key.rotated event) filed under the old capability; a device that
# says hello with the old capability gets the blob, opens its copy and comes back with the new
# capability. The removed device finds no copy for itself.


def catch_up_keys(journal: Journal) -> bool:
    """Adopt any new epoch sealed to us in rotations already stored (idempotent: run before a
    sync, so a crash between storing a rotation and adopting its key is mended)."""
    stored = [decode_event(i.raw) for i in journal.membership() if i.type == "key.rotated"]
    return bool(stored) and adopt_rotations(journal, stored)


def relay_epoch(journal: Journal) -> int:
    """The epoch whose capability the relay knows, as far as this device last heard."""
    held = journal.device.space_keys
    epoch = int(journal.device.settings.get("relay_epoch", min(held)))
    return epoch if epoch in held else min(held)


def set_relay_epoch(journal: Journal, epoch: int) -> None:
    journal.device.settings["relay_epoch"] = epoch
    journal.save_device()


def pending_rekey(journal: Journal) -> tuple[int, bytes] | None:
    """(epoch, blob) to hand the relay if it still knows an older capability than ours."""
    current = journal.device.epoch
    if current <= relay_epoch(journal):
        return None
    for item in reversed(journal.membership()):
        if item.type == "key.rotated":
            body = decode_event(item.raw).body
            if isinstance(body, KeyRotated) and body.epoch == current:
                blob: bytes = msgpack.packb(
                    {"epoch": body.epoch, "sealed": list(body.sealed)}, use_bin_type=True
                )
                return current, blob
    return None


def adopt_rekey(journal: Journal, blob: bytes) -> bool:
    """Take this device's key out of a relay's rekey blob; False if none is sealed to it.

    The key is held for reading and reconnecting only: what this device writes moves to the
    new epoch when the signed key.rotated event arrives (a relay cannot choose our key).
    """
    try:
        record = msgpack.unpackb(blob, raw=False, max_bin_len=1 << 16, max_array_len=64)
        epoch = int(record["epoch"])
        if not 1 <= epoch < 1 << 31:
            raise ValueError("epoch out of range")
        sealed = {bytes(d): bytes(k) for d, k in record["sealed"]}
    except (ValueError, TypeError, KeyError, msgpack.UnpackException):
        raise UnreadableEntry("the relay's key hand-over", "is malformed") from None
    if epoch not in journal.device.space_keys:
        mine = sealed.get(journal.device.log)
        if mine is None:
            return False
        key = keys.open_sealed(
            journal.device.dh_secret, mine, _context(journal.device.space, epoch)
        )
        journal.adopt_epoch(epoch, key, write=False)
    set_relay_epoch(journal, epoch)
    return True
