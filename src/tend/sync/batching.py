"""Cutting a run of entries into frames: one rule for the device's pushes and the relay's
catch-up and live frames.

A frame carries at most MAX_ENTRIES_PER_FRAME entries (the receiver refuses more) and, so that
no frame comes near MAX_FRAME_BYTES, at most the caller's byte budget. Entries keep their order,
and each batch is filled before the next begins; an entry larger than the budget on its own
still goes, alone (every entry is at most MAX_ENTRY_BYTES, far below MAX_FRAME_BYTES). Sans-IO,
like the protocol whose limits it applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tend.sync.protocol import MAX_ENTRIES_PER_FRAME


def batches(entries: Iterable[bytes], max_bytes: int) -> Iterator[list[bytes]]:
    """Entries in order, in batches of at most MAX_ENTRIES_PER_FRAME and about `max_bytes`."""
    batch: list[bytes] = []
    size = 0
    for raw in entries:
        if batch and (len(batch) >= MAX_ENTRIES_PER_FRAME or size + len(raw) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(raw)
        size += len(raw)
    if batch:
        yield batch
