"""Commands that look back. Every one takes --json (stable keys, see docs/cli.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import click

from tend.cli import jsonview, render
from tend.cli.app import App, parse_date, parse_moment
from tend.cli.record_cmds import calendar, care, goal, joy
from tend.cli.text import safe
from tend.core.domain.validate import week_of
from tend.core.views import projections
from tend.core.views.read_model import Item

pass_app = click.make_pass_decorator(App)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")


def _emit(as_json: bool, data: Callable[[], Any], text: Callable[[], None]) -> None:
    if as_json:
        click.echo(jsonview.dumps(data()))
    else:
        text()


@click.command()
@json_option
@pass_app
def today(app: App, as_json: bool) -> None:
    """Both partners' latest check-ins, side by side."""
    journal = app.journal()
    items = journal.items()
    view = projections.today(items, journal.device.person, dt.date.today())
    names = projections.names(items)
    _emit(as_json, lambda: jsonview.today(view, names), lambda: render.today(view))


def show_period(
    items: Sequence[Item], start: dt.date, end: dt.date, title: str, as_json: bool
) -> None:
    view = projections.period(projections.period_items(items, start, end), start, end)
    names = projections.names(items)
    weeks = sorted({week_of(d) for d in view.days()})
    joys = [j for w in weeks for j in projections.joys(items, w)]
    goals = projections.goals(items, weeks)
    _emit(
        as_json,
        lambda: jsonview.period(
            view, names, {"joys": joys, "goals": goals, "series": series_json(view)}
        ),
        lambda: render.period(view, title, joys, goals, names),
    )


def series_json(view: projections.PeriodView) -> list[dict[str, Any]]:
    """Each person's energy and pain on every day of the period (null: nothing noted)."""
    return [
        {
            "person": person.hex(),
            "name": view.people[person].name,
            "days": [{"date": d.isoformat(), "energy": e, "pain": p} for d, e, p in rows],
        }
        for person, rows in projections.series(view).items()
    ]


@click.command()
@click.option("--at", "at", help="Any day in the week to show (default: today).")
@json_option
@pass_app
def week(app: App, at: str | None, as_json: bool) -> None:
    """This week (or the week of --at): check-ins, small wins, thank-yous, joys, goals."""
    start, end = projections.week_bounds(parse_date("at", at) or dt.date.today())
    show_period(app.journal().items(), start, end, f"Week of {start:%-d %B %Y}", as_json)


@click.command()
@click.option("--at", "at", help="Any day in the month to show (default: today).")
@json_option
@pass_app
def month(app: App, at: str | None, as_json: bool) -> None:
    """This month (or the month of --at)."""
    start, end = projections.month_bounds(parse_date("at", at) or dt.date.today())
    show_period(app.journal().items(), start, end, f"{start:%B %Y}", as_json)


@click.command()
@click.argument("periods", nargs=2, metavar="PERIOD PERIOD")
@json_option
@pass_app
def compare(app: App, periods: tuple[str, str], as_json: bool) -> None:
    """Two periods side by side, small wins and rest first, e.g. 2026-03 2025-03.

    A PERIOD is a month (2026-03), an ISO week (2026-W11) or a year (2026). Small wins,
    celebrations, thank-yous, joys done, rest days honoured and goal weeks come first; then
    each person's average energy and pain, only as they were noted.
    """
    from tend.core.views import compare as comparing

    chosen = [comparing.parse_period("PERIOD", text) for text in periods]
    journal = app.journal()
    summaries = comparing.compare(journal.items(), chosen, journal.device.person)
    _emit(
        as_json,
        lambda: jsonview.compare(summaries),
        lambda: render.compare(summaries, dt.date.today()),
    )


@click.command()
@click.option("--since", help="First day to include.")
@click.option("--until", help="Last day to include.")
@click.option("--type", "types", multiple=True, help="Only these kinds (repeatable), e.g. checkin.")
@json_option
@pass_app
def timeline(
    app: App, since: str | None, until: str | None, types: tuple[str, ...], as_json: bool
) -> None:
    """Every entry, oldest first."""
    items = app.journal().items()
    events = projections.timeline(
        items,
        parse_date("since", since),
        parse_date("until", until),
        frozenset(types) if types else None,
    )
    names = projections.names(items)
    _emit(
        as_json,
        lambda: {"events": [jsonview.event(e, names) for e in events]},
        lambda: render.timeline(events, names),
    )


@click.command()
@click.option(
    "--at", "at", required=True, help="A day (its end) or a moment, e.g. 2026-03-14T18:30."
)
@json_option
@pass_app
def replay(app: App, at: str, as_json: bool) -> None:
    """The journal exactly as it was on this device at a past moment."""
    moment = parse_moment("at", at)
    known = projections.as_known_at(app.journal().items(), int(moment.timestamp() * 1000))
    day = moment.date()
    view = projections.today(known, app.journal().device.person, day)
    start, end = projections.week_bounds(day)
    names = projections.names(known)
    if as_json:
        period_view = projections.period(known, start, end)
        weeks = [week_of(start)]
        click.echo(
            jsonview.dumps(
                {
                    "at": moment.isoformat(timespec="seconds"),
                    "entries_known": len(known),
                    "today": jsonview.today(view, names),
                    "week": jsonview.period(
                        period_view,
                        names,
                        {
                            "joys": projections.joys(known, weeks[0]),
                            "goals": projections.goals(known, weeks),
                        },
                    ),
                }
            )
        )
        return
    click.echo(f"As this journal was at {moment:%A %-d %B %Y, %H:%M} ({len(known)} entries):")
    render.today(view)
    show_period(known, start, end, f"Week of {start:%-d %B %Y}, as it was then", False)


def _list_command(
    group: click.Group,
    name: str,
    help_text: str,
    build: Callable[[Sequence[Item], str | None], list[dict[str, Any]]],
    line: Callable[[dict[str, Any]], str],
) -> None:
    @group.command(name, help=help_text)
    @click.option("--week", help="ISO week (default: this week), where it applies.")
    @json_option
    @pass_app
    def run(app: App, week: str | None, as_json: bool) -> None:
        rows = build(app.journal().items(), week)
        if as_json:
            click.echo(jsonview.dumps({"items": rows}))
        elif not rows:
            click.echo("Nothing here yet.")
        else:
            for row in rows:
                click.echo(safe(line(row)))


def _joy_rows(items: Sequence[Item], week: str | None) -> list[dict[str, Any]]:
    return projections.joys(items, week or week_of(dt.date.today()))


def _goal_rows(items: Sequence[Item], week: str | None) -> list[dict[str, Any]]:
    return projections.goals(items, [week or week_of(dt.date.today())])


def _calendar_rows(items: Sequence[Item], _week: str | None) -> list[dict[str, Any]]:
    names = projections.names(items)
    events = projections.timeline(items, types=frozenset({"calendar"}))
    return sorted(
        (jsonview.event(e, names) for e in events),
        key=lambda r: (r["fields"]["date"], r["fields"]["time"] or ""),
    )


def _care_rows(items: Sequence[Item], _week: str | None) -> list[dict[str, Any]]:
    return [dict(v, id=k) for k, v in projections.board(items, "care").items()]


_list_command(
    joy,
    "list",
    "This week's joy map.",
    _joy_rows,
    lambda r: f"{r['id'][:8]}  {r['title']}  ·  {r['status']}  (energy cost {r['cost']})",
)
_list_command(
    goal,
    "list",
    "Gentle goals and how this week went.",
    _goal_rows,
    lambda r: (
        f"{r['id'][:8]}  {r['title']}  ·  {r['per_week']}/week, on a flare: "
        f"{r['flare_rule']}" + "".join(f"  ·  {w}: {o}" for w, o in r["weeks"].items())
    ),
)
_list_command(
    calendar,
    "list",
    "Rest days and appointments.",
    _calendar_rows,
    lambda r: (
        f"{r['id'][:8]}  {r['fields']['date']} {r['fields']['time'] or ''}  "
        f"{r['fields']['title'] or r['fields']['kind']}"
    ),
)
_list_command(
    care,
    "list",
    "The care-task rota.",
    _care_rows,
    lambda r: f"{r['id'][:8]}  {r.get('title')}  ·  {r.get('cadence')}",
)
