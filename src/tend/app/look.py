"""Looking back: today, a week, a month, the timeline, any past moment, two periods side by side,
and the lists of what the two of you keep (joys, goals, the calendar, the care rota).

Each use case returns a typed view with the names it needs, so an interface only renders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tend.app import weeks
from tend.core.domain import events as ev
from tend.core.domain.validate import week_of
from tend.core.ids import EventId, PersonId
from tend.core.journal import Journal
from tend.core.views import describe, projections
from tend.core.views.read_model import Item

if TYPE_CHECKING:  # loaded by `compare` and `report` alone: `tend today` stays quick
    from tend.core.views import compare as comparing
    from tend.core.views import report as reporting

Names = dict[PersonId, str]


@dataclass(frozen=True)
class Today:
    view: projections.TodayView
    names: Names


@dataclass(frozen=True)
class Period:
    """A week or a month: check-ins per person, small wins, thank-yous, and the shared lists."""

    view: projections.PeriodView
    names: Names
    joys: list[projections.JoyRow]
    goals: list[projections.GoalRow]
    series: dict[PersonId, projections.DaySeries]
    lookup: describe.Lookup | None = None  # titles of what the period's entries refer to


@dataclass(frozen=True)
class Timeline:
    events: list[ev.Event]
    names: Names
    lookup: describe.Lookup | None = None  # titles of what the entries refer to
    private: frozenset[EventId] = frozenset()  # the private entries among them: "(only you)"
    # What was taken back there (never its words), and entries whose words are not here.
    taken_back: list[projections.TakenBack] = field(default_factory=list)
    unavailable: list[Item] = field(default_factory=list)


@dataclass(frozen=True)
class Replay:
    """The journal exactly as this device held it at a past moment."""

    at: dt.datetime
    entries_known: int
    today: Today
    week: Period
    # Entries held then that their author has taken back since: said, never shown.
    taken_back: list[projections.TakenBack] = field(default_factory=list)


def today(journal: Journal, on: dt.date | None = None) -> Today:
    items = journal.items()
    view = projections.today(items, journal.device.person, on or dt.date.today())
    return Today(view, projections.names(items))


def week(journal: Journal, at: dt.date | None = None) -> Period:
    start, end = projections.week_bounds(at or dt.date.today())
    return period_of(journal.items(), start, end, journal.device.person)


def month(journal: Journal, at: dt.date | None = None) -> Period:
    start, end = projections.month_bounds(at or dt.date.today())
    return period_of(journal.items(), start, end, journal.device.person)


def period_of(
    items: Sequence[Item], start: dt.date, end: dt.date, me: PersonId | None = None
) -> Period:
    """A period's view, people in the order `today` shows them (`me` first)."""
    view = projections.period(projections.period_items(items, start, end), start, end, me)
    weeks = sorted({week_of(d) for d in view.days()})
    joys = [j for w in weeks for j in projections.joys(items, w)]
    return Period(
        view,
        projections.names(items),
        joys,
        shown_goals(projections.goals(items, weeks)),
        projections.series(view),
        describe.lookup(items, view.care_swaps),
    )


def timeline(
    journal: Journal,
    since: dt.date | None = None,
    until: dt.date | None = None,
    types: Iterable[str] = (),
    whose: Literal["me", "partner"] | None = None,
) -> Timeline:
    """Every entry (of these kinds, between these days), oldest first; with `whose`, only
    this person's own ("me") or only the others' ("partner")."""
    items = journal.items()
    chosen = frozenset(types) or None
    lo = since.isoformat() if since else ""
    hi = until.isoformat() if until else "9999-12-31"

    def wanted(day: str, kind: str | None) -> bool:
        return lo <= day <= hi and (chosen is None or kind in chosen)

    me = journal.device.person

    def whose_ok(author: PersonId) -> bool:
        return whose is None or (author == me) == (whose == "me")

    events = projections.timeline(items, since, until, chosen)
    if whose is not None:
        events = [e for e in events if whose_ok(e.author)]
    return Timeline(
        events,
        projections.names(items),
        describe.lookup(items, events),
        projections.private_ids(items),
        taken_back=[
            t for t in projections.taken_back(items) if wanted(t.day, t.kind) and whose_ok(t.author)
        ],
        unavailable=[
            i
            for i in projections.unavailable(items)
            if chosen is None and lo <= i.local_date <= hi and whose_ok(i.author)
        ],
    )


def replay(journal: Journal, at: dt.datetime) -> Replay:
    """The journal as this device held it at `at`, except the words of what their author has
    taken back since: those are never shown again, and `taken_back` says where they were."""
    items = journal.items()
    at_ms = int(at.timestamp() * 1000)
    held = projections.as_known_at(items, at_ms)
    known, taken = projections.as_replayed_at(items, at_ms)
    day = at.date()
    start, end = projections.week_bounds(day)
    names = projections.names(known)
    shown_today = Today(projections.today(known, journal.device.person, day), names)
    view = projections.period(known, start, end, journal.device.person)
    weeks = [week_of(start)]
    week_then = Period(
        view,
        names,
        projections.joys(known, weeks[0]),
        shown_goals(projections.goals(known, weeks)),
        projections.series(view),
        describe.lookup(known, view.care_swaps),
    )
    return Replay(at, len(held), shown_today, week_then, taken)


def shown_goals(goals: list[projections.GoalRow]) -> list[projections.GoalRow]:
    """The goals a period shows: those still kept, and retired ones only for the weeks they
    had an outcome in."""
    return [g for g in goals if g.active or g.weeks]


def compare(journal: Journal, periods: Sequence[str]) -> list[comparing.PeriodSummary]:
    """Periods side by side (each a month 2026-03, an ISO week 2026-W11 or a year 2026)."""
    from tend.core.views import compare as comparing

    chosen = [comparing.parse_period("PERIOD", text) for text in periods]
    return comparing.compare(journal.items(), chosen, journal.device.person)


def joy_map(journal: Journal, week: str | None = None) -> list[projections.JoyRow]:
    """A week's joy map: the week given, or the week being planned (app/weeks.py)."""
    chosen = weeks.named("week", week, ahead=True) or weeks.next_planning_week(journal)
    return projections.joys(journal.items(), chosen)


def gentle_goals(journal: Journal, week: str | None = None) -> list[projections.GoalRow]:
    return projections.goals(journal.items(), [week or week_of(dt.date.today())])


def calendar(journal: Journal, week: str | None = None) -> Timeline:
    """Rest days and appointments, by their date and time; only those of a week if given (an
    ISO week, or a day in it named as anywhere else: a weekday is the next one)."""
    items = journal.items()
    entries = projections.timeline(items, types=frozenset({ev.CalendarEntry.TYPE}))
    week = weeks.named("week", week, ahead=True)
    if week is not None:
        entries = [e for e in entries if week_of(dt.date.fromisoformat(_date_of(e))) == week]
    entries.sort(key=_calendar_key)
    return Timeline(entries, projections.names(items))


@dataclass(frozen=True)
class CareDuty:
    """A care task, with who does it: `person` is one of you, or None for both of you."""

    task: projections.CareRow
    person: PersonId | None
    mine: bool  # this person's own to do (alone or with their partner)


def own_care_tasks(journal: Journal, week: str | None = None) -> list[projections.CareRow]:
    """The care tasks this person does alone (this week, or `week`): on a flare day, the ones
    that might be swapped."""
    duties, _names = care_duties(journal, week)
    return [d.task for d in duties if d.person == journal.device.person]


def care_duties(
    journal: Journal, week: str | None = None, *, everything: bool = False
) -> tuple[list[CareDuty], Names]:
    """The care rota as who does what in a week (default: this one), with the names to say it;
    retired tasks only with `everything`."""
    items = journal.items()
    names = projections.names(items)
    me = journal.device.person
    duties = []
    for task in projections.care_rota(items, week or week_of(journal.now().date())):
        if not (task.active or everything):
            continue
        person = projections.owner_of(task.owner, names)
        duties.append(CareDuty(task, person, person in (me, None)))
    return duties, names


def _date_of(event: ev.Event) -> str:
    assert isinstance(event.body, ev.CalendarEntry)
    return event.body.date


def _calendar_key(event: ev.Event) -> tuple[str, str]:
    body = event.body
    assert isinstance(body, ev.CalendarEntry)
    return body.date, body.time or ""


def report(
    journal: Journal,
    first: dt.date | None = None,
    last: dt.date | None = None,
    *,
    own_only: bool = False,
    with_signals: bool = False,
) -> reporting.Report:
    """What a report to look back with says (the page draws it): by default from the first
    entry to today; with `own_only`, only this person's own entries; comfort signals only
    `with_signals` (a report may be handed to someone outside the two of you)."""
    from tend.core.views import report as reporting

    items = journal.items()
    me = journal.device.person
    scope = reporting.own_items(items, me) if own_only else items
    start, end = reporting.default_range(scope, first, last, dt.date.today())
    return reporting.gather(items, me, start, end, private_only=own_only, with_signals=with_signals)
