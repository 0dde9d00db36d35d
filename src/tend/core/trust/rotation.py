"""Removing a device, and the new space key epoch that follows.

Removal is two signed events in the remover's log, both under the current epoch: a
`device.removed`, which the removed device's own person's identity key signs and which names
the last entry of that device that counts (`upto`), and a `key.rotated` carrying a signed
rotation record (core/log/rotation_record.py): a fresh 32-byte space key sealed to the X25519 key of
every device that stays (the remover's other devices and the partner's). Every remaining device
adopts the new key when it ingests the event; old epochs stay in every keyring, so history stays
readable, while the removed device holds no key for anything written afterwards.

The relay capability is derived from the epoch key, so it changes too: the rotating device gives
the relay the same signed record, which the relay checks and files under the old capability, so
a device that was offline during the rotation and says hello with the old capability is handed
the record, opens its own copy and reconnects. A device that finds no copy for itself believes
it was removed only if the record carries a removal of itself signed by its own person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from tend.core.crypto import keys
from tend.core.crypto.capability import hash_for
from tend.core.domain.codec import decode_event
from tend.core.domain.events import DeviceRemoved, Event, EventType, KeyRotated
from tend.core.errors import InvalidEnvelope, MalformedRecord, UserError
from tend.core.ids import EventId, LogId, SpaceId, short
from tend.core.journal import Journal
from tend.core.log import rotation_record
from tend.core.log.header import GENESIS
from tend.core.log.identity import (
    Identity,
    dh_key_ok,
    lost_removal_message,
    removal_message,
    removal_valid,
)
from tend.core.log.rotation_record import Removal, RotationRecord
from tend.core.trust import lost
from tend.core.trust.engine import Roster

_CONTEXT = b"tend/epoch-key/v1"


def _context(space: bytes, epoch: int) -> bytes:
    return _CONTEXT + space + epoch.to_bytes(4, "big")


def removal_of(journal: Journal, device: LogId, *, mark: EventId | None = None) -> DeviceRemoved:
    """A removal of `device` after the last of its entries held here: of one of this person's
    own devices, or, naming the `person.lost` it relies on, of a device of someone marked lost."""
    head = journal.store.head(device)
    upto, upto_hash = (int(head[0]), head[1]) if head else (0, GENESIS)
    space, seed = journal.device.space, journal.device.identity_seed
    if mark is None:
        proof = keys.sign(seed, removal_message(space, device, upto, upto_hash))
        return DeviceRemoved(device, upto, upto_hash, proof)
    proof = keys.sign(seed, lost_removal_message(space, device, upto, upto_hash, mark))
    return DeviceRemoved(device, upto, upto_hash, proof, mark=mark)


def remove_device(journal: Journal, device: LogId) -> KeyRotated:
    """Take `device` off the roster and move the space to a new key only the others get."""
    return remove_devices(journal, [device])


def remove_devices(journal: Journal, devices: Sequence[LogId]) -> KeyRotated:
    """Take `devices` off the roster with one new key epoch, sealed only to those who stay."""
    roster = journal.roster()
    removals = [_removal_for(journal, roster, device) for device in dict.fromkeys(devices)]
    held = journal.device.space_keys
    epoch, new_key = max(held) + 1, keys.new_key()
    if epoch > rotation_record.MAX_EPOCH:
        raise UserError("this journal has used every key epoch it can; start a new journal")
    # Everything is built before anything is recorded: nothing half-done if a step fails.
    rotated = _rotation(journal, roster, removals, epoch, new_key)
    # Keep the new key before anything records that it exists: a crash between the two must
    # not leave an epoch nobody holds.
    journal.keyring.adopt_epoch(epoch, new_key, write=False)
    for removal in removals:
        journal.record(removal)
    journal.record(rotated)
    journal.keyring.adopt_epoch(epoch, new_key)
    return rotated


def _removal_for(journal: Journal, roster: Roster, device: LogId) -> DeviceRemoved:
    member = roster.members.get(device)
    if device == journal.device.log:
        raise UserError("this device cannot remove itself; remove it from another device")
    if member is None or roster.removed(device):
        raise UserError(f"no device {short(device)} on the roster")
    if member.person == journal.device.person:
        return removal_of(journal, device)
    # Each person removes their own devices (core/trust/engine.py ignores anything else), unless
    # they were marked lost and have not answered: then anyone else may, under that mark.
    mark = lost.standing_mark(roster, member.person, device)
    if mark is None:
        raise UserError(
            f"device {short(device)} is your partner's: only one of their own devices can remove it"
        )
    return removal_of(journal, device, mark=mark)


def _rotation(
    journal: Journal,
    roster: Roster,
    removals: Sequence[DeviceRemoved],
    epoch: int,
    new_key: bytes,
) -> KeyRotated:
    context = _context(journal.device.space, epoch)
    going = {r.device for r in removals}
    staying = [d for d in roster.active() if d not in going and dh_key_ok(roster.members[d].dh_pub)]
    people = {roster.members[d].person: roster.members[d].identity for d in roster.active()}
    record = RotationRecord(
        space=journal.device.space,
        epoch=epoch,
        previous=hash_for(journal.device.space_keys[epoch - 1]),
        capability=hash_for(new_key),
        sealed=tuple(
            (d, keys.seal_to(roster.members[d].dh_pub, new_key, context)) for d in staying
        ),
        removed=tuple(Removal(r.device, r.upto, r.upto_hash, r.proof) for r in removals),
        signer=journal.device.log,
        recovery=tuple(
            (person, keys.seal_to(Identity.decode(identity).recovery_dh_pub, new_key, context))
            for person, identity in sorted(people.items())
            if dh_key_ok(Identity.decode(identity).recovery_dh_pub)
        ),
    ).encode()
    signature = keys.sign(journal.device.sign_seed, rotation_record.signing_input(record))
    return KeyRotated(record=record, signature=signature)


def verified_record(journal: Journal, rotated: KeyRotated, writer: LogId) -> RotationRecord | None:
    """The record of a `key.rotated` written by `writer`, if it is theirs and well formed."""
    try:
        record = rotation_record.parse(rotated.record)
    except MalformedRecord:
        return None
    key = journal.reading.log_key(writer)
    if record.signer != writer or record.space != journal.device.space or key is None:
        return None
    if not rotation_record.signed_by(rotated.record, rotated.signature, key):
        return None
    return record


def adopt_rotations(journal: Journal, events: list[Event]) -> bool:
    """Take new epoch keys sealed to this device out of `key.rotated` events that count."""
    learnt = False
    for ev in events:
        if not isinstance(ev.body, KeyRotated):
            continue
        record = verified_record(journal, ev.body, ev.device)
        if record is None or record.epoch <= journal.device.epoch or not _follows(journal, record):
            continue
        key = _open_copy(journal, record)
        if key is not None:
            journal.keyring.adopt_epoch(record.epoch, key)
            learnt = True
    return learnt


def _follows(journal: Journal, record: RotationRecord) -> bool:
    """Whether a rotation moves on from an epoch this device holds, to the next one: no jump a
    signer chose (to the last epoch there is, say) and no branch from a capability not ours."""
    before = journal.device.space_keys.get(record.epoch - 1)
    return before is not None and hash_for(before) == record.previous


def _open_copy(journal: Journal, record: RotationRecord) -> bytes | None:
    mine, secret = record.sealed_to(journal.device.log), journal.device.dh_secret
    if mine is None and journal.keyring.restoring is not None:
        # Only while a device is being restored from its person's phrase (never a device
        # merely still holding its root: a removed one must not read on): the person's copy.
        mine = record.sealed_for_recovery(journal.device.person)
        secret = journal.keyring.restoring
    if mine is None:
        return None  # not sealed to us: we were the one removed, or left out
    try:
        key = keys.open_sealed(secret, mine, _context(journal.device.space, record.epoch))
    except InvalidEnvelope:
        return None  # a copy that does not open is someone's mistake, not ours to crash on
    # The record commits to the new key (its capability hash): a copy of any other key, which a
    # signer could seal to one device or to one person's recovery key alone, is not adopted.
    return key if len(key) == 32 and hash_for(key) == record.capability else None


def catch_up_keys(journal: Journal) -> bool:
    """Adopt any new epoch sealed to us in rotations already stored (idempotent: run before a
    sync, so a crash between storing a rotation and adopting its key is mended)."""
    stored = [decode_event(i.raw) for i in journal.membership() if i.type == EventType.KEY_ROTATED]
    return bool(stored) and adopt_rotations(journal, stored)


# --- the relay's side of a rotation -----------------------------------------------------------


def relay_epoch(journal: Journal) -> int:
    """The epoch whose capability the relay knows, as far as this device last heard."""
    held = journal.device.space_keys
    value = journal.device.settings.get("relay_epoch", min(held))
    epoch = value if isinstance(value, int) and not isinstance(value, bool) else min(held)
    return epoch if epoch in held else min(held)


def set_relay_epoch(journal: Journal, epoch: int) -> None:
    journal.device.settings["relay_epoch"] = epoch
    journal.save_device()


def pending_rotations(journal: Journal) -> list[tuple[int, bytes, bytes]]:
    """(epoch, record, signature) of every stored rotation the relay has not been given yet,
    oldest first: any device may hand one over, since the relay checks who signed it."""
    known = relay_epoch(journal)
    found: dict[int, tuple[bytes, bytes]] = {}
    for item in journal.membership():
        if item.type != EventType.KEY_ROTATED:
            continue
        ev = decode_event(item.raw)
        assert isinstance(ev.body, KeyRotated)
        record = verified_record(journal, ev.body, ev.device)
        if (
            record is not None
            and record.epoch > known
            and record.epoch in journal.device.space_keys
        ):
            found.setdefault(record.epoch, (ev.body.record, ev.body.signature))
    return [(epoch, *found[epoch]) for epoch in sorted(found)]


class Rekeyed(Enum):
    ADOPTED = "adopted"  # a copy for us: reconnect with the new capability
    REMOVED = "removed"  # a removal of this device signed by its own person
    LEFT_OUT = "left out"  # no copy for us, and no removal of us by our own person


@dataclass(frozen=True)
class RekeyOutcome:
    result: Rekeyed
    signer: LogId
    signer_known: bool  # the signer is on this device's roster and its signature verified


def adopt_rekey(journal: Journal, record_bytes: bytes, signature: bytes) -> RekeyOutcome:
    """Take this device's key out of a rotation record the relay handed over.

    With a signer this device knows, the key may seal what it writes; one it cannot check yet
    is held for reading and reconnecting only (the signed `key.rotated` settles it later)."""
    record = rotation_record.parse(record_bytes)  # MalformedRecord: an integrity problem
    if record.space != journal.device.space:
        raise MalformedRecord("the relay handed over a key rotation of another journal")
    if not _follows(journal, record):
        raise MalformedRecord("the relay handed over a key rotation that does not follow ours")
    roster = journal.roster()
    signer = roster.members.get(record.signer)
    known = signer is not None and not roster.removed(record.signer)
    if signer is not None and not rotation_record.signed_by(
        record_bytes, signature, signer.sign_pub
    ):
        raise MalformedRecord("the relay handed over a key rotation its signer did not sign")
    key = _open_copy(journal, record)
    if key is not None:
        if record.epoch not in journal.device.space_keys or known:
            # A second, different key for an epoch written under is refused there (MalformedRecord).
            journal.keyring.adopt_epoch(record.epoch, key, write=known)
        set_relay_epoch(journal, record.epoch)
        return RekeyOutcome(Rekeyed.ADOPTED, record.signer, known)
    removed = any(_removes_me(journal, record.space, r) for r in record.removed)
    return RekeyOutcome(Rekeyed.REMOVED if removed else Rekeyed.LEFT_OUT, record.signer, known)


def _removes_me(journal: Journal, space: SpaceId, removal: Removal) -> bool:
    me = journal.device
    return removal.device == me.log and removal_valid(
        me.identity, space, removal.device, removal.upto, removal.upto_hash, removal.proof
    )
