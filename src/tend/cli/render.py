"""Text output for people: gentle words, tables that fit 80 columns, colour only on a terminal."""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
from collections.abc import Sequence, Set
from typing import TYPE_CHECKING

from tend.app.words import checkin_lines
from tend.cli.text import safe
from tend.core.domain.events import (
    Boundary,
    Celebration,
    CheckIn,
    ComfortSignal,
    Event,
    GoalWeek,
    Gratitude,
    Milestone,
    PartnershipWeek,
)
from tend.core.ids import EventId, PersonId, short
from tend.core.views import describe
from tend.core.views.export import ONLY_YOU
from tend.core.views.projections import Comfort, GoalRow, JoyRow, PeriodView, TodayView

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from tend.core.views.compare import PeriodSummary, PersonSummary


def words(value: object) -> Text:
    """Someone's words as rich text: shown literally, never read as markup, no control codes."""
    from rich.text import Text

    return Text(safe(str(value)))


def colour_wanted() -> bool:
    """Colour (and any other terminal styling) only on a terminal that has not said no to it."""
    if os.environ.get("NO_COLOR", "") != "" or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def console() -> Console:
    from rich.console import Console  # rich is loaded only by commands that print tables

    # color_system=None: no escape codes at all, not even bold, when colour is not wanted.
    return Console(
        highlight=False, soft_wrap=False, color_system="auto" if colour_wanted() else None
    )


def today(view: TodayView) -> None:
    from rich.table import Table

    table = Table(title=f"Today, {view.on:%A %-d %B}", show_lines=False, expand=False)
    for _person, name, _ev in view.people:
        table.add_column(words(name), overflow="fold", max_width=38)
    bodies = [
        ev.body if ev is not None and isinstance(ev.body, CheckIn) else None
        for _p, _n, ev in view.people
    ]
    columns = [checkin_lines(b) for b in bodies]
    for dated, (person, _n, ev) in enumerate(view.people):
        if ev is not None and ev.local_date != view.on.isoformat():
            columns[dated].insert(0, f"(last check-in: {ev.local_date})")
        if ev is not None and ev.id in view.private:
            columns[dated].append(ONLY_YOU)
        if person in view.comfort:
            columns[dated].append(comfort_words(view.comfort[person]))
    for row in range(max(len(c) for c in columns) if columns else 0):
        table.add_row(*[words(c[row]) if row < len(c) else "" for c in columns])
    out = console()
    out.print(table)
    for _person, name in view.paused():
        out.print(words(f"{name} asked for a pause."))
    names = {p: n for p, n, _ev in view.people}
    _section(
        out, "On the calendar today", [describe.calendar_line(e, names) for e in view.calendar]
    )


def comfort_words(comfort: Comfort) -> str:
    note = f" ({comfort.note})" if comfort.note else ""
    return f"comfort: {comfort.signal}{note}" + (f" {ONLY_YOU}" if comfort.private else "")


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
    joys: Sequence[JoyRow],
    goals: Sequence[GoalRow],
    names: dict[PersonId, str],
    *,
    charts: bool = True,
    lookup: describe.Lookup | None = None,
) -> None:
    """A week or a month: days (rest days as kept), energy and pain charts, then what went well."""
    from rich.table import Table

    out = console()
    table = Table(title=title)
    table.add_column("day")
    people = list(view.people.items())
    for _p, days in people:
        table.add_column(words(days.name), overflow="fold")  # a name is never read as markup
    for day in view.days():
        key = day.isoformat()
        table.add_row(
            f"{day:%a %-d %b}",
            *[
                _day_cell(d.checkins.get(key)) + (f" {ONLY_YOU}" if key in d.private_days else "")
                for _p, d in people
            ],
        )
    out.print(table)
    out.print("e = energy 0-10, p = pain 0-10; rest days count as kept", markup=False)
    if charts:
        energy_pain_charts(out, view)
    for _p, days in people:  # each person's own days, in their own words: never side by side
        _section(out, f"{days.name}'s days", own_days_lines(days.checkins, days.private_days))
    _section(out, "Small wins", [_milestone_line(e, view, names) for e in view.milestones])
    _section(
        out,
        "Thank-yous",
        [_gratitude_line(e, names) + _only_you(e, view.private) for e in view.gratitude],
    )
    _section(
        out, "State of the partnership", [partnership_line(e, names) for e in view.partnership]
    )
    _section(out, "Boundaries", [boundary_line(e, names) for e in view.boundaries])
    _section(
        out,
        "Comfort signals",
        [comfort_line(e, names) + _only_you(e, view.private) for e in view.comfort],
    )
    done = [j for j in joys if j.status == "done"]
    waiting = [j for j in joys if j.status != "done"]
    _section(out, "Joys done", [f"{j.title} ✓ (energy cost {j.cost})" for j in done])
    _section(
        out,
        "Still on the joy map",
        [f"{j.title} · {JOY_WORDS.get(j.status, j.status)}" for j in waiting],
    )
    goal_lines = []
    for g in goals:
        marks = ", ".join(f"{w}: {GOAL_WORDS.get(o, o)}" for w, o in sorted(g.weeks.items()))
        notes = [
            e.body.note
            for e in view.goal_weeks
            if isinstance(e.body, GoalWeek) and e.body.goal.hex() == g.id and e.body.note
        ]
        said = "".join(f" · {n}" for n in notes)
        goal_lines.append(g.title + (f" · {marks}" if marks else "") + said)
    _section(out, "Gentle goals", goal_lines)
    found = lookup or describe.Lookup(names, {})
    _section(out, "Care swaps", [describe.line(e, found) for e in view.care_swaps])
    _section(
        out,
        "Rest days and appointments",
        [describe.calendar_line(e, names) for e in view.calendar],
    )


def own_days_lines(checkins: dict[str, CheckIn], private_days: Set[str] = frozenset()) -> list[str]:
    """One person's rest kept (the days, never a tally), and what they asked for, offered and
    noted, day by day ("(only you)" after a day whose words are partly private)."""
    days = sorted(checkins.items())
    rested = [_short_day(d) for d, c in days if c.day in ("rest", "flare")]
    lines = [f"rest kept on {', '.join(rested)}; rest counts"] if rested else []
    for day, c in days:
        said = [
            text
            for text in (
                "would help: " + ", ".join(c.needs) if c.needs else "",
                f"can offer: {c.offer}" if c.offer else "",
                f"note: {c.note}" if c.note else "",
            )
            if text
        ]
        if said:
            only = f" {ONLY_YOU}" if day in private_days else ""
            lines.append(f"{_short_day(day)}: " + "; ".join(said) + only)
    return lines


def _short_day(iso: str) -> str:
    return f"{dt.date.fromisoformat(iso):%a %-d %b}"


def partnership_line(ev: Event, names: dict[PersonId, str]) -> str:
    """The weekly state of the partnership in full: appreciations, what went well, the
    adjustment."""
    body = ev.body
    assert isinstance(body, PartnershipWeek)
    _title, _, said = body.summary().partition(": ")
    return f"{names.get(ev.author, '?')}, {body.week}: {said}"


def boundary_line(ev: Event, names: dict[PersonId, str]) -> str:
    body = ev.body
    assert isinstance(body, Boundary)
    who = names.get(ev.author, "?")
    return f"{who}: {body.text}" if body.active else f"{who} set this aside: {body.text}"


def comfort_line(ev: Event, names: dict[PersonId, str]) -> str:
    body = ev.body
    assert isinstance(body, ComfortSignal)
    note = f" ({body.note})" if body.note else ""
    return f"{_short_day(ev.local_date)} {names.get(ev.author, '?')}: {body.signal}{note}"


JOY_WORDS = {"idea": "an idea", "planned": "planned", "let-go": "let go, and that is fine"}
GOAL_WORDS = {"met": "met ✓", "adapted": "adapted ✓", "paused": "paused for rest ✓"}


def energy_pain_charts(out: Console, view: PeriodView) -> None:
    """One chart per person of energy and pain across the period (plotext, at most 80 wide)."""
    from tend.cli import charts  # plotext is loaded only by the commands that draw
    from tend.core.views.projections import series

    colour = colour_wanted()
    columns = charts.width()
    drawn_any = False
    for person, rows in series(view).items():
        name = view.people[person].name
        if all(e is None and p is None for _d, e, p in rows):
            out.print(words(f"\n{name}: no energy or pain noted in this period."))
            continue
        if not drawn_any:
            out.print("\n" + charts.legend(), markup=False)
            drawn_any = True
        chart = charts.energy_pain(
            safe(f"{name}: energy and pain"),
            [d for d, _e, _p in rows],
            [e for _d, e, _p in rows],
            [p for _d, _e, p in rows],
            colour=colour,
            columns=columns,
        )
        out.file.write("\n" + chart + "\n")
        out.file.flush()


def _section(out: Console, title: str, lines: Sequence[str]) -> None:
    """A heading and its bullets; a long line wraps under its own text, not under the bullet."""
    if not lines:
        return
    import textwrap

    from rich.text import Text

    out.print()
    out.print(Text(safe(title), style="bold"))  # a title may hold a name: never read as markup
    wrapped = [
        textwrap.fill(
            safe(line),
            width=max(20, out.width),
            initial_indent="  • ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        )
        for line in lines
    ]
    out.print(Text("\n".join(wrapped)), overflow="fold")  # fold: a wide character still fits


def _milestone_line(ev: Event, view: PeriodView, names: dict[PersonId, str]) -> str:
    body = ev.body
    assert isinstance(body, Milestone)
    said = []
    for cheer in view.celebrations.get(ev.id, []):
        cheer_note = _cheer_note(cheer)
        said.append(names.get(cheer.author, "?") + (f": {cheer_note}" if cheer_note else ""))
    extra = f" (celebrated by {'; '.join(said)})" if said else ""
    note = f" · {body.note}" if body.note else ""
    only = _only_you(ev, view.private)
    return f"{ev.local_date} {body.title} [{body.category}]{note}{extra}{only}"


def _cheer_note(cheer: Event) -> str | None:
    return cheer.body.note if isinstance(cheer.body, Celebration) else None


def _only_you(ev: Event, private: frozenset[EventId]) -> str:
    """ " (only you)" after a private entry, shown to its author alone."""
    return f" {ONLY_YOU}" if ev.id in private else ""


def _gratitude_line(ev: Event, names: dict[PersonId, str]) -> str:
    assert isinstance(ev.body, Gratitude)
    return f"{names.get(ev.author, '?')}: {ev.body.text}"


def timeline(
    events: Sequence[Event],
    names: dict[PersonId, str],
    lookup: describe.Lookup | None = None,
    private: frozenset[EventId] = frozenset(),
) -> None:
    from rich.table import Table

    table = Table(title="Timeline", show_header=True)
    table.add_column("date")
    table.add_column("who")
    table.add_column("what", overflow="fold")
    table.add_column("id")
    found = lookup or describe.Lookup(names, {})
    for ev in events:
        table.add_row(
            ev.local_date,
            words(names.get(ev.author, "?")),
            words(describe.line(ev, found) + _only_you(ev, private)),
            short(ev.id),
        )
    console().print(table)


def _count(n: int) -> str:
    return str(n) if n else "—"


def _average(value: float | None) -> str:
    if value is None:
        return "none noted"
    return f"{math.floor(value * 10 + 0.5) / 10:.1f}"  # half up, as people round: 3.25 -> 3.3


def compare(summaries: Sequence[PeriodSummary], today_is: dt.date) -> None:
    """Two periods side by side: small wins and rest honoured first, then averages, gently.
    Whatever order they were asked for in, the older comes first, so every arrow runs from the
    older period to the newer."""
    from rich.table import Table

    summaries = sorted(summaries, key=lambda s: s.period.start)
    out = console()
    labels, columns = [], []
    for s in summaries:
        p = s.period
        extra = " (so far)" if p.start <= today_is <= p.end else ""
        extra = " (still to come)" if today_is < p.start else extra
        labels.append(p.label + extra)
        columns.append(p.short_label + ("\n" + extra.strip() if extra else ""))
    title = " beside ".join(labels)
    out.print(title[:1].upper() + title[1:], markup=False, style="bold")
    table = Table(title="Small wins and rest honoured", title_justify="left", box=None)
    table.add_column("")
    for column in columns:
        table.add_column(column, justify="right")
    rows: list[tuple[str | Text, list[int]]] = [
        ("small wins", [s.milestones for s in summaries]),
        ("celebrations", [s.celebrations for s in summaries]),
        ("thank-yous", [s.gratitude for s in summaries]),
        ("joys done", [s.joys_done for s in summaries]),
        ("rest days honoured", [s.rest_days_honoured for s in summaries]),
    ]
    people = _people_of(summaries)
    if len(people) > 1:
        for person, name in people.items():
            rows.append((words(f"  by {name}"), [_rested(s, person) for s in summaries]))
    rows += [
        ("goal weeks met", [s.goals_met for s in summaries]),
        ("goal weeks adapted", [s.goals_adapted for s in summaries]),
        ("goal weeks paused for rest", [s.goals_paused for s in summaries]),
    ]
    for what, counts in rows:
        table.add_row(what, *[_count(n) for n in counts])
    out.print()
    out.print(table)
    out.print()
    shown = " → ".join(s.period.short_label for s in summaries)
    out.print(f"What each of you noted, on average (0 to 10), {shown}:", markup=False)
    averages = Table.grid(padding=(0, 2))
    for _column in range(3):
        averages.add_column()
    for person, name in people.items():
        found = [_person_in(s, person) for s in summaries]
        energy = _arrow([f.energy_average if f else None for f in found])
        pain = _arrow([f.pain_average if f else None for f in found])
        averages.add_row(words(f" {name}"), "average energy", energy)
        averages.add_row("", "average pain", pain)
    out.print(averages)
    out.print(
        "Energy and pain come and go; these are only what was noted, on the days noted.",
        markup=False,
    )
    for s, label in zip(summaries, labels, strict=True):
        if s.is_empty():
            out.print(
                f"{label[0].upper()}{label[1:]}: nothing noted, or it has not reached this "
                "device yet.",
                markup=False,
            )


def _arrow(values: Sequence[float | None]) -> str:
    if all(v is None for v in values):
        return "none noted"
    return " → ".join(_average(v) for v in values)


def _people_of(summaries: Sequence[PeriodSummary]) -> dict[PersonId, str]:
    out: dict[PersonId, str] = {}
    for s in summaries:
        for p in s.people:
            out.setdefault(p.person, p.name)
    return out


def _person_in(summary: PeriodSummary, person: PersonId) -> PersonSummary | None:
    return next((p for p in summary.people if p.person == person), None)


def _rested(summary: PeriodSummary, person: PersonId) -> int:
    found = _person_in(summary, person)
    return found.rest_days_honoured if found else 0


def goal_outcome_word(ev: Event) -> str:
    assert isinstance(ev.body, GoalWeek)
    return ev.body.outcome


def moment(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="minutes")
