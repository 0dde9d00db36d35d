"""The view cache: every decoded event this device can read, in merge order, sealed at rest.

Opening ten years of a journal must not mean opening 36,500 envelopes, so the journal keeps one
snapshot of what it has already opened: a list of `Item`s (the event's bytes plus the few fields
views select on), sealed with this device's local key and stamped with the last store row it
covers. It is only ever a cache: the log is the truth, a snapshot that fails to open is thrown
away and rebuilt, and `tend verify` never trusts it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import msgpack

from tend.core.crypto import envelope
from tend.core.errors import InvalidEnvelope

SNAPSHOT_LIMIT = 256 << 20
_AAD = b"tend/view-cache/v1"


class Item(NamedTuple):
    hlc: int
    log: bytes
    seq: int
    received_at: int
    local_date: str
    type: str
    author: bytes
    doc: str | None  # the shared document this event edits, if any
    raw: bytes  # the encoded event (the inner one, for a private entry we could open)

    @property
    def order(self) -> tuple[int, bytes, int]:
        return (self.hlc, self.log, self.seq)


def seal_snapshot(key: bytes, upto: int, items: list[Item]) -> bytes:
    body: bytes = msgpack.packb([upto, [tuple(i) for i in items]], use_bin_type=True)
    return envelope.seal(key, body, _AAD, limit=SNAPSHOT_LIMIT)


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Unpacking ten years makes ~100,000 objects that all live on; collecting them as they are
    # made is pure waste (about a third of the time; see docs/benchmarks.md).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def open_snapshot(key: bytes, blob: bytes, upto: int) -> list[Item] | None:
    """The cached items, or None if the snapshot is unusable (then the caller rebuilds)."""
    try:
        body = envelope.open_envelope(key, blob, _AAD, limit=SNAPSHOT_LIMIT)
        with _gc_paused():
            stamped, rows = msgpack.unpackb(body, raw=False, use_list=False)
    except (InvalidEnvelope, ValueError, TypeError, msgpack.UnpackException):
        return None
    if stamped != upto:
        return None
    with _gc_paused():
        return list(map(Item._make, rows))  # as Item(*row), without a Python call per row
