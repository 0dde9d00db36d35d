"""Closing the window after a removal: entries that never left this device move to the new key.

A device learns of a rotation when it syncs. What it wrote before that, offline, was sealed under
the epoch the removed device still holds. Entries the relay already has are out of reach (that
is the window docs/security.md states); but entries the relay does not have yet never left this
device, so before uploading they are re-sealed under the current epoch: the same event bytes,
a new header (epoch, and the link from the entry before), a new signature. The store swaps that
tail in one transaction (core/log/store.py `reseal`), the one exception to append-only, each
with its key record re-wrapped for its new entry.
"""

from __future__ import annotations

from tend.core.crypto import entry
from tend.core.ids import event_id_at
from tend.core.journal import Journal
from tend.core.log.header import Header
from tend.core.log.store import Position

PUSHED = "pushed"  # metadata: the highest seq of this device's log it ever sent to a relay


def note_pushed(journal: Journal, seq: int) -> None:
    """Remember, before they are sent, that entries up to `seq` may have left this device."""
    if seq > pushed(journal):
        # Not flushed on its own (that would cost a disk flush per live push): it is lost only
        # in a power cut before the next durable write, and then all a later re-seal can do is
        # rewrite what a relay both took and then lost, a second fault on top of the first.
        journal.store.replace_meta(PUSHED, seq.to_bytes(8, "big"), durable=False)


def pushed(journal: Journal) -> int:
    raw = journal.store.meta(PUSHED)
    return int.from_bytes(raw, "big") if raw and len(raw) == 8 else 0


def reseal_unsent(journal: Journal, relay_has: int) -> int:
    """Re-seal this device's entries the relay does not have, and that were never sent to any
    relay, if any is under an older epoch. What was sent may be held elsewhere (another relay,
    or this one before it lost it): rewriting it would fork this device's own log."""
    device = journal.device
    left = max(relay_has, pushed(journal))
    tail = list(journal.store.log_entries(device.log, left))
    stale = next(
        (i for i, s in enumerate(tail) if Header.decode(s.entry).epoch < device.epoch), None
    )
    if stale is None:
        return 0
    tail = tail[stale:]
    before = journal.store.hash_at(device.log, tail[0].seq - 1)
    rebuilt: list[bytes] = []
    keys: dict[Position, bytes] = {}
    for stored in tail:
        opened = entry.open_entry(stored.entry, device.space_keys.get)
        if stored.seq == 1:
            header = entry.first_header(device.space, device.sign_public, device.epoch)
        else:
            prev = entry.entry_hash(rebuilt[-1]) if rebuilt else before
            assert prev is not None
            header = entry.next_header(device.space, device.log, stored.seq, device.epoch, prev)
        rebuilt.append(entry.build(header, opened.event, device.sign_seed, device.space_key))
        if stored.key is not None:
            keys[(device.log, stored.seq)] = _rewrapped(
                journal, stored.entry, stored.key, rebuilt[-1]
            )
    journal.store.reseal(device.log, rebuilt, keys)
    return len(rebuilt)


def _rewrapped(journal: Journal, old: bytes, record: bytes, new: bytes) -> bytes:
    """The key record of `new` for the content key `record` holds for `old`: the same words and
    content key, wrapped for the new entry's epoch and hash."""
    mapper = journal.mapper
    header = Header.decode(new)
    content_key = mapper.content_key(old, record)
    return mapper.key_record(new, header.epoch, event_id_at(header.log, header.seq), content_key)
