"""Closing the window after a removal: entries that never left this device move to the new key.

A device learns of a rotation when it syncs. What it wrote before that, offline, was sealed under
the epoch the removed device still holds. Entries the relay already has are out of reach (that
is the window docs/security.md states); but entries the relay does not have yet never left this
device, so before uploading they are re-sealed under the current epoch: the same event bytes,
a new header (epoch, and the link from the entry before), a new signature. The store swaps that
tail in one transaction (core/store.py `reseal`), the one exception to append-only.
"""

from __future__ import annotations

from tend.core import entry
from tend.core.header import Header, sealed_part
from tend.core.journal import Journal


def reseal_unsent(journal: Journal, relay_has: int) -> int:
    """Re-seal this device's entries after seq `relay_has` if any is under an older epoch."""
    device = journal.device
    tail = [s for s in journal.store.log_entries(device.log) if s.seq > relay_has]
    stale = next(
        (i for i, s in enumerate(tail) if Header.decode(s.entry).epoch < device.epoch), None
    )
    if stale is None:
        return 0
    tail = tail[stale:]
    before = journal.store.hash_at(device.log, tail[0].seq - 1)
    rebuilt: list[bytes] = []
    for stored in tail:
        opened = entry.open_entry(stored.entry, device.space_keys.get)
        if stored.seq == 1:
            header = entry.first_header(device.space, device.sign_public, device.epoch)
        else:
            prev = entry.entry_hash(rebuilt[-1]) if rebuilt else before
            assert prev is not None
            header = entry.next_header(device.space, device.log, stored.seq, device.epoch, prev)
        rebuilt.append(entry.build(header, opened.event, device.sign_seed, device.space_key))
    journal.store.reseal(device.log, rebuilt)
    return len(rebuilt)


__all__ = ["reseal_unsent", "sealed_part"]
