"""Who reached out: the celebrations, thank-yous and offers each of you made for the other.

Told as moments in the order they happened, in words, never as a tally: there is no count, no
total and nothing side by side that could rank one of you above the other. Only what both of
you can read is in it (an entry kept private is not reaching out yet), so it reads the same on
both devices.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from tend.app import privacy, weeks
from tend.core.domain import events as ev
from tend.core.domain.codec import decode_event
from tend.core.domain.validate import iso_week, week_of
from tend.core.errors import ValidationError
from tend.core.ids import EventId, PersonId
from tend.core.journal import Journal
from tend.core.views import projections
from tend.core.views.read_model import Item

Kind = Literal["celebrated", "thanked", "offered"]
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
KINDS = frozenset({ev.Celebration.TYPE, ev.Gratitude.TYPE, ev.CheckIn.TYPE})


@dataclass(frozen=True)
class Moment:
    date: dt.date
    person: PersonId
    name: str | None
    kind: Kind
    text: str  # what was celebrated, the thank-you, or what was offered
    note: str | None  # a celebration's note
    for_person: PersonId | None  # the other one of you, when this device knows exactly one
    for_name: str | None


@dataclass(frozen=True)
class ReachedOut:
    start: dt.date
    end: dt.date
    month: bool  # a month rather than a week
    moments: tuple[Moment, ...]  # by day, then in merge order


def span(
    week: str | None = None, month: str | None = None, today: dt.date | None = None
) -> tuple[dt.date, dt.date, bool]:
    """The days a --week or --month names (default: this week)."""
    if week and month:
        raise ValidationError("week", "a week or a month, not both")
    if month:
        found = MONTH_RE.match(month)
        if not found:
            raise ValidationError("month", "a month like 2026-03", month)
        start, end = projections.month_bounds(dt.date(int(found[1]), int(found[2]), 1))
        return start, end, True
    chosen = week or week_of(today or dt.date.today())
    iso_week("week", chosen)
    start = weeks.monday_of(chosen)
    return start, start + dt.timedelta(days=6), False


def reached_out(
    journal: Journal, *, week: str | None = None, month: str | None = None
) -> ReachedOut:
    start, end, is_month = span(week, month)
    items = journal.items()
    names = projections.names(items)
    wins = _win_titles(items)
    lo, hi = start.isoformat(), end.isoformat()
    chosen = [i for i in items if i.type in KINDS and lo <= i.local_date <= hi]
    private = privacy.kept_private(journal, chosen)
    moments = []
    for event in projections.timeline(items, start, end, KINDS):
        if event.id in private:
            continue
        moment = _moment(event, names, wins)
        if moment is not None:
            moments.append(moment)
    moments.sort(key=lambda m: m.date)  # stable: merge order within a day
    return ReachedOut(start, end, is_month, tuple(moments))


def _moment(event: ev.Event, names: dict[PersonId, str], wins: dict[EventId, str]) -> Moment | None:
    body = event.body
    note = None
    kind: Kind
    if isinstance(body, ev.Celebration):
        kind, text, note = "celebrated", wins.get(body.milestone, "a small win"), body.note
    elif isinstance(body, ev.Gratitude):
        kind, text = "thanked", body.text
    elif isinstance(body, ev.CheckIn) and body.offer:
        kind, text = "offered", body.offer
    else:
        return None
    others = [p for p in names if p != event.author]
    other = others[0] if len(others) == 1 else None
    return Moment(
        dt.date.fromisoformat(event.local_date),
        event.author,
        names.get(event.author),
        kind,
        text,
        note,
        other,
        names.get(other) if other else None,
    )


def _win_titles(items: list[Item]) -> dict[EventId, str]:
    found = {}
    for item in items:
        if item.type == ev.Milestone.TYPE:
            event = decode_event(item.raw)
            assert isinstance(event.body, ev.Milestone)
            found[event.id] = event.body.title
    return found
