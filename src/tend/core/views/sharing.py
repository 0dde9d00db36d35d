"""Private entries shared later: each is shown once, as the shared copy, and only if it is the
author's own.

A share is read as the entry it carries (core/journal/mapper.py), with the same id, so the
author's own devices hold that event twice: the private original, and the shared copy. What
counts is the shared copy alone; the private original stops showing. A shared copy counts only
when the device that first wrote it is one of the author's own, so nobody can pass off an entry
of a log that is not theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tend.core.domain.codec import decode_event
from tend.core.ids import EventId, LogId, PersonId, event_id_at
from tend.core.views.read_model import Item


def settled(items: Sequence[Item], person_of: Callable[[LogId], PersonId | None]) -> list[Item]:
    """`items` without shares of someone else's device, and without private originals that
    their author has shared since. Usually there is no share at all and nothing is decoded."""
    shares = [i for i in items if i.origin is not None]
    if not shares:
        return items if isinstance(items, list) else list(items)
    kept = {id(i) for i in shares if person_of(LogId(i.origin or b"")) == i.author}
    shared: set[tuple[PersonId, EventId]] = {
        (i.author, decode_event(i.raw).id) for i in shares if id(i) in kept
    }
    return [
        i
        for i in items
        if (i.origin is None or id(i) in kept)
        and not (i.private and (i.author, event_id_at(i.log, i.seq)) in shared)
    ]
