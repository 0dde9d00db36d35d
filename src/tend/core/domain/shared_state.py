"""The state partners edit together, derived from validated payloads: one fold, one rule.

Theory of operation
-------------------
Shared kinds (joy map, goals, rituals, boundaries and comfort signals, the care rota) are events
like any other. Each says which small document it writes (`doc_name`), which object
(`subject`: an object's id is the id of the event that created it, derived from that event's log
and seq, so nobody can copy it), and which flat (object, field, value) writes it makes (`puts`).
The document's content is the last write to each key, in merge order (HLC, log id, seq): a
last-writer-wins map, a CRDT whose state is the same on every device that holds the same events,
whatever order they arrived in.

Who may write what is decided here, from the event's author, which ingest has bound to the
writing device's person:
  * an object exists once the event that created it is here (a write about an object nobody
    created, or created in another document, is ignored);
  * kinds that speak for one person (a boundary, a joy idea's words) may be changed only by the
    person who created the object; the couple's shared lists (goals, rituals, care tasks, a joy's
    status) by either partner;
  * a comfort signal is keyed by its author, so each person sets only their own.
Nothing but what a validated payload says is ever written: there are no change bytes to forge.
The cost is one decode and one pass over the document's events, O(n), whatever their order.

`tend export --format automerge` writes the same writes, in the same order, into a standard
Automerge document (core/domain/automerge_export.py), so the shared state stays openable elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from tend.core.domain.events import Event, Scalar
from tend.core.ids import PersonId

Fields = dict[str, dict[str, Scalar]]


@dataclass(frozen=True, slots=True)
class Write:
    event: Event
    puts: tuple[tuple[str, str, Scalar], ...]


def creators(events: Iterable[Event]) -> dict[bytes, PersonId]:
    """Object id -> the person whose event created it."""
    out: dict[bytes, PersonId] = {}
    for ev in events:
        body = ev.body
        if body.CREATES and body.subject() == ev.id:
            out[ev.id] = ev.author
    return out


def accepted(events: Sequence[Event]) -> Iterator[Write]:
    """The writes that count, in the order given (merge order): what each may write, by whom."""
    made = creators(events)
    for ev in events:
        body = ev.body
        if not body.SHARED:
            continue
        target = body.subject()
        if target is not None:
            creator = made.get(target)
            if creator is None:
                continue  # about something not created (here, or in this document)
            if body.EDITS == "creator" and ev.author != creator:
                continue  # only its creator may change it
        yield Write(ev, tuple(body.puts(ev)))


def board(events: Sequence[Event]) -> Fields:
    """One document's content as {object: {field: value}}: the last accepted write per key."""
    out: Fields = {}
    for write in accepted(events):
        for obj, field, value in write.puts:
            out.setdefault(obj, {})[field] = value
    return out
