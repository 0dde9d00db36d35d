"""Correcting and sharing one's own entries: a new entry each time; nothing is rewritten.

A correction names only what changes: every other field of the entry it replaces is kept, and
a field is emptied only when asked (`clear`). It is recorded on the replaced entry's day unless
another day is given, kept private if the entry was, and stands where the entry stood in its
day (core/views/projections.py). A private entry shared later keeps its day and its content;
the private original stops showing.

Only the person's own entries can be found here; the views ignore a correction or a share of
someone else's entry whatever a modified client writes (core/views/projections.py,
core/journal/mapper.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from tend.app import finding
from tend.core.domain import events as ev
from tend.core.domain.codec import decode_event, encode_event
from tend.core.errors import UserError, ValidationError
from tend.core.ids import EventId
from tend.core.journal import Journal

# What each kind calls its entries, as the person reads it in an error.
WHAT = {
    ev.EventType.CHECKIN: "check-in",
    ev.EventType.MILESTONE: "small win",
    ev.EventType.MILESTONE_CELEBRATED: "celebration",
    ev.EventType.GRATITUDE: "thank-you",
    ev.EventType.CALENDAR: "calendar entry",
    ev.EventType.PARTNERSHIP_WEEK: "partnership note",
    ev.EventType.COMFORT_SIGNAL: "comfort signal",
    ev.EventType.NOTE: "note",
    ev.EventType.ANCHOR: "anchor memory",
    ev.EventType.CLINICIAN_QUESTION: "question for the clinician",
}


class Own(NamedTuple):
    """One of the person's own entries as it stands now, and whether it is private."""

    event: ev.Event
    private: bool
    seq: int  # where it stands in the log of the device that wrote it


def current(journal: Journal, prefix: str, types: frozenset[str], what: str) -> Own:
    """The person's own entry of `types` whose id starts with `prefix`, as it stands now: an
    entry already corrected means its latest correction."""
    me = journal.device.person
    items = journal.items()
    mine: dict[EventId, Own] = {}
    retracted: set[EventId] = set()
    for item in items:
        if item.author != me or not (item.type in types or item.type == ev.EventType.RETRACT):
            continue
        event = decode_event(item.raw)
        if isinstance(event.body, ev.Retraction):
            retracted.add(event.body.target)
            retracted.update(event.body.versions)  # forgotten with it
        else:
            mine[event.id] = Own(event, item.private, item.seq)
    chosen = finding.resolve_id(prefix, mine, f"{what} of yours")
    later = {o.event.supersedes: o for o in mine.values() if o.event.supersedes in mine}
    found = mine[chosen]
    while found.event.id in later:
        found = later[found.event.id]
    if found.event.id in retracted:
        raise UserError(f"that {what} was taken back; record a new one instead")
    return found


def correct(
    journal: Journal,
    replaces: str,
    kind: type[ev.Payload],
    changes: Mapping[str, Any],
    clear: Sequence[str] = (),
    *,
    on: dt.date | None = None,
) -> tuple[ev.Event, bool]:
    """Correct one of the person's own entries of `kind`: the named `changes` (None or empty
    means not named), the fields in `clear` emptied, every other field kept."""
    what = WHAT.get(kind.TYPE, "entry")
    found = current(journal, replaces, frozenset({kind.TYPE}), what)
    named = {k: v for k, v in changes.items() if v is not None and v != ()}
    emptied = _emptied(kind, clear)
    both = set(named) & set(emptied)
    if both:
        raise ValidationError("clear", f"not also given a new value ({', '.join(sorted(both))})")
    if not named and not emptied:
        raise ValidationError(
            "replaces", f"given what changes (the rest of the {what} is kept), or --clear FIELD"
        )
    body: ev.Payload = dataclasses.replace(  # validates the corrected entry
        found.event.body,  # type: ignore[type-var]
        **named,
        **emptied,
    )
    day = on or dt.date.fromisoformat(found.event.local_date)
    recorded = journal.record(body, private=found.private, on=day, supersedes=found.event.id)
    return recorded, found.private


def _first_place(journal: Journal, entry: ev.Event) -> int:
    """The clock of the first entry of the chain of corrections `entry` ends: where it stands in
    its day (core/views/projections.py `day_values`)."""
    mine = {
        e.id: e
        for e in (decode_event(i.raw) for i in journal.items() if i.type == entry.type)
        if e.author == entry.author
    }
    at = entry
    while at.supersedes in mine:
        at = mine[at.supersedes]
    return at.hlc


def clearable(kind: type[ev.Payload]) -> list[str]:
    """The fields of `kind` a correction may empty (those an entry may be without: the
    essential ones have no default), as the options name them."""
    return [
        _word(f.name)
        for f in dataclasses.fields(kind)  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING
    ]


def _emptied(kind: type[ev.Payload], clear: Sequence[str]) -> dict[str, Any]:
    fields = {_word(f.name): f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for word in clear:
        f = fields.get(word.strip().lower())
        if f is None or f.default is dataclasses.MISSING:
            allowed = ", ".join(clearable(kind)) or "nothing"
            raise ValidationError("clear", f"one of {allowed}", word)
        out[f.name] = f.default
    return out


def _word(name: str) -> str:
    """A field's name as its option spells it: `needs` is --need, `went_well` --went-well."""
    singular = {"needs": "need", "appreciations": "appreciation"}.get(name, name)
    return singular.replace("_", "-")


def share(journal: Journal, entry_id: str) -> ev.Event:
    """Share one of the person's own private entries with their partner, as it stands now: the
    same day and content, in the same place in its day."""
    found = current(journal, entry_id, ev.SHAREABLE_TYPES, "entry")
    if not found.private:
        raise UserError("that entry is already shared with your partner; nothing to do")
    place = _first_place(journal, found.event)
    body = ev.Share(
        entry=encode_event(found.event),
        seq=found.seq,
        place=place if place < found.event.hlc else 0,
    )
    return journal.record(body, on=dt.date.fromisoformat(found.event.local_date))
