"""Which of a person's own entries went in private (sealed to their own devices).

A view meant for both partners must show the same on both devices, so it leaves out what only
one of them can read. The partner's private entries never open here; this person's own do, and
only the stored entry (whose outer event is a sealed box) tells them apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from tend.core.domain.codec import decode_event
from tend.core.domain.events import Sealed
from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.core.views.read_model import Item


def kept_private(journal: Journal, items: Iterable[Item]) -> set[EventId]:
    """The ids of this person's own entries among `items` that went in private."""
    me = journal.device.person
    private: set[EventId] = set()
    for item in items:
        if item.author != me:
            continue
        stored = journal.store.entry_at(item.log, item.seq)
        if stored is not None and isinstance(journal.mapper.to_readable(stored).outer.body, Sealed):
            private.add(decode_event(item.raw).id)
    return private
