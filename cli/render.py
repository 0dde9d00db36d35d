"""Text output for people: gentle words, tables that fit 80 columns, colour only on a terminal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tend.core.events import CalendarEntry, CheckIn, Event, GoalWeek, Gratitude, Milestone
from tend.core.ids import PersonId, short
from tend.core.projections import PeriodView, TodayView

if TYPE_CHECKING:
    from rich.console import Console

DAY_WORDS = {
    "good": "good day",
    "gentle": "gentle day",
    "rest": "rest day (kept)",
    "flare": "flare: resting",
}


def console() -> Console:
    from rich.console import Console  # rich is loaded only by commands that print tables

    return Console(highlight=False, soft_wrap=False)


def checkin_lines(c: CheckIn | None) -> list[str]:
    if c is None:
        return ["no check-in yet, whenever it feels right"]
    lines = []
    if c.day:
        lines.append(DAY_WORDS[c.day])
    numbers = [
        f"{label} {value}"
        for label, value in (("energy", c.energy), ("pain", c.pain), ("mood", c.mood))
        if value is not None
    ]
    if numbers:
        lines.append(" · ".join(numbers))
    if c.needs:
        lines.append("would help: " + ", ".join(c.needs))
    if c.offer:
        lines.append("can offer: " + c.offer)
    if c.note:
        lines.append("note: " + c.note)
    return lines


def today(view: TodayView) -> None:
    from rich.table import Table

    table = Table(title=f"Today, {view.on:%A %-d %B}", show_lines=False, expand=False)
    for _person, name, _ev in view.people:
        table.add_column(name, overflow="fold", max_width=38)
    bodies = [
        ev.body if ev is not None and isinstance(ev.body, CheckIn) else None
        for _p, _n, ev in view.people
    ]
    columns = [checkin_lines(b) for b in bodies]
    for dated, (_p, _n, ev) in enumerate(view.people):
        if ev is not None and ev.local_date != view.on.isoformat():
            columns[dated].insert(0, f"(last check-in: {ev.local_date})")
    for row in range(max(len(c) for c in columns) if columns else 0):
        table.add_row(*[c[row] if row < len(c) else "" for c in columns])
    console().print(table)


def _day_cell(c: CheckIn | None) -> str:
    if c is None:
        return ""
    parts = []
    if c.day:
        parts.append(
            {"good": "good", "gentle": "gentle", "rest": "rest ✓", "flare": "flare, rest ✓"}[c.day]
        )
    if c.energy is not None:
        parts.append(f"e{c.energy}")
    if c.pain is not None:
        parts.append(f"p{c.pain}")
    return " ".join(parts)


def period(
    view: PeriodView,
    title: str,
    joys: Sequence[dict[str, object]],
    goals: Sequence[dict[str, object]],
    names: dict[PersonId, str],
) -> None:
    from rich.table import Table

    out = console()
    table = Table(title=title, caption="e = energy 0-10, p = pain 0-10; rest days count as kept")
    table.add_column("day")
    people = list(view.people.items())
    for _p, days in people:
        table.add_column(days.name, overflow="fold")
    for day in view.days():
        key = day.isoformat()
        table.add_row(f"{day:%a %-d %b}", *[_day_cell(d.checkins.get(key)) for _p, d in people])
    out.print(table)
    for p, days in people:
        rested = view.rest_days_honoured(p)
        if rested:
            out.print(f"{days.name} honoured {rested} rest day{'s' if rested != 1 else ''}.")
    _section(out, "Small wins", [_milestone_line(e, view, names) for e in view.milestones])
    _section(out, "Thank-yous", [_gratitude_line(e, names) for e in view.gratitude])
    _section(out, "Calendar", [_calendar_line(e) for e in view.calendar])
    _section(
        out,
        "Joys",
        [f"{j.get('title')} · {j.get('status')} (energy cost {j.get('cost')})" for j in joys],
    )
    goal_lines = []
    for g in goals:
        weeks = g.get("weeks") or {}
        assert isinstance(weeks, dict)
        marks = ", ".join(
            f"{w}: {'paused for rest' if o == 'paused' else o}" for w, o in sorted(weeks.items())
        )
        goal_lines.append(f"{g.get('title')}" + (f" · {marks}" if marks else ""))
    _section(out, "Gentle goals", goal_lines)
    for e in view.partnership:
        out.print(
            f"[bold]State of the partnership[/bold] ({names.get(e.author, '?')}): "
            f"{e.body.summary()}"
        )


def _section(out: Console, title: str, lines: Sequence[str]) -> None:
    if not lines:
        return
    out.print(f"\n[bold]{title}[/bold]")
    for line in lines:
        out.print(f"  • {line}", markup=False)


def _milestone_line(ev: Event, view: PeriodView, names: dict[PersonId, str]) -> str:
    assert isinstance(ev.body, Milestone)
    cheers = view.celebrations.get(ev.id, [])
    extra = (
        f" (celebrated by {', '.join(names.get(c.author, '?') for c in cheers)})" if cheers else ""
    )
    return f"{ev.local_date} {ev.body.title} [{ev.body.category}]{extra}"


def _gratitude_line(ev: Event, names: dict[PersonId, str]) -> str:
    assert isinstance(ev.body, Gratitude)
    return f"{names.get(ev.author, '?')}: {ev.body.text}"


def _calendar_line(ev: Event) -> str:
    assert isinstance(ev.body, CalendarEntry)
    return ev.body.summary()


def timeline(events: Sequence[Event], names: dict[PersonId, str]) -> None:
    from rich.table import Table

    table = Table(title="Timeline", show_header=True)
    table.add_column("date")
    table.add_column("who")
    table.add_column("what", overflow="fold")
    table.add_column("id")
    for ev in events:
        table.add_row(ev.local_date, names.get(ev.author, "?"), ev.body.summary(), short(ev.id))
    console().print(table)


def goal_outcome_word(ev: Event) -> str:
    assert isinstance(ev.body, GoalWeek)
    return ev.body.outcome


def moment(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="minutes")
