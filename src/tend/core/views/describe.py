"""Lines for people about entries that lean on another entry: which joy was done, which goal
met or adapted, which care task went to whom, which small win was celebrated, whose a day on
the calendar is, and whose a new device is.

An entry's own words are its `summary()` (core/domain/events.py); these lines add what only the
other entries hold (a title, a name), looked up in the items a device can read. Nothing here
decides anything: a title that has not reached this device is simply not named.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tend.core.domain.codec import decode_event
from tend.core.domain.events import (
    CalendarEntry,
    CareSwap,
    Celebration,
    DeviceAdded,
    Event,
    EventType,
    GoalWeek,
    JoyStatus,
    Milestone,
    Who,
)
from tend.core.ids import PersonId
from tend.core.views import projections
from tend.core.views.read_model import Item

BOTH = "both of you"
JOY_WORDS = {"idea": "back to an idea", "planned": "planned", "done": "done", "let-go": "let go"}
GOAL_WORDS = {"met": "met", "adapted": "adapted", "paused": "paused for rest"}


@dataclass(frozen=True)
class Lookup:
    """What lines need from other entries: names, and titles by object id (hex)."""

    names: dict[PersonId, str]
    titles: dict[str, str]

    def title(self, of: bytes, fallback: str) -> str:
        return self.titles.get(of.hex(), fallback)


def lookup(items: Sequence[Item], events: Iterable[Event]) -> Lookup:
    """The names and the titles that `events` refer to (only the documents they need)."""
    docs: set[str] = set()
    wins = False
    for ev in events:
        body = ev.body
        if isinstance(body, JoyStatus):
            docs.add(f"joy/{body.week}")
        elif isinstance(body, GoalWeek):
            docs.add("goals")
        elif isinstance(body, CareSwap):
            docs.add("care")
        elif isinstance(body, Celebration):
            wins = True
    titles: dict[str, str] = {}
    for doc in sorted(docs):
        for key, fields in projections.board(items, doc).items():
            if fields.get("title"):
                titles[key] = str(fields["title"])
    if wins:
        for item in items:
            if item.type == EventType.MILESTONE:
                win = decode_event(item.raw)
                assert isinstance(win.body, Milestone)
                titles[win.id.hex()] = win.body.title
    return Lookup(projections.names(items), titles)


def whose(who: Who, author: PersonId, names: dict[PersonId, str]) -> str:
    """Whom `who` (as its author said it: me, partner, both) means, in words."""
    if who == "both":
        return BOTH
    if who == "me":
        return names.get(author, "someone")
    others = [n for p, n in names.items() if p != author]
    return others[0] if len(others) == 1 else "their partner"


def whose_person(who: Who, author: PersonId, people: Iterable[PersonId]) -> PersonId | None:
    """The one person `who` means, or None for both of you (or a partner not known here)."""
    if who == "both":
        return None
    if who == "me":
        return author
    return projections.owner_of(f"partner-of:{author.hex()}", people)


def calendar_line(ev: Event, names: dict[PersonId, str]) -> str:
    """ "Sam: physio on 2026-03-12 at 09:30", "both of you: rest day on 2026-03-14"."""
    body = ev.body
    assert isinstance(body, CalendarEntry)
    return f"{whose(body.who, ev.author, names)}: {body.summary()}"


def line(ev: Event, found: Lookup) -> str:
    """One line about `ev`, naming what it refers to where that is known."""
    body = ev.body
    if isinstance(body, JoyStatus):
        return f"joy {JOY_WORDS[body.status]}: {found.title(body.item, 'a joy idea')}"
    if isinstance(body, GoalWeek):
        title = found.title(body.goal, "a gentle goal")
        note = f" ({body.note})" if body.note else ""
        return f"goal {GOAL_WORDS[body.outcome]} for {body.week}: {title}{note}"
    if isinstance(body, CareSwap):
        title = found.title(body.task, "a care task")
        to = whose(body.to, ev.author, found.names)
        note = f" ({body.note})" if body.note else ""
        return f"swapped a care task: {title}, now for {to}{note}"
    if isinstance(body, Celebration):
        title = found.title(body.milestone, "a small win")
        return f"celebrated a small win: {title}" + (f" ({body.note})" if body.note else "")
    if isinstance(body, CalendarEntry):
        return calendar_line(ev, found.names)
    if isinstance(body, DeviceAdded) and body.person != ev.author:
        # The device that let someone else's new device in records it too: say whose it is.
        whom = found.names.get(body.person, "their partner")
        return f"let {whom}'s new device in" + (f" ({body.label})" if body.label else "")
    return body.summary()
