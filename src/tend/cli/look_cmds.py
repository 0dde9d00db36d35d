"""Commands that look back. Every one takes --json (stable keys, see docs/cli.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

import click

from tend.app import dates, look
from tend.cli import jsonview, render, taken_back
from tend.cli.app import App, parse_date, parse_moment

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
    """Both partners' latest check-ins side by side, comfort signals and today's calendar."""
    shown = look.today(app.journal())
    _emit(
        as_json, lambda: jsonview.today(shown.view, shown.names), lambda: render.today(shown.view)
    )


def show_period(shown: look.Period, title: str, as_json: bool) -> None:
    _emit(
        as_json,
        lambda: jsonview.period(
            shown.view,
            shown.names,
            {
                "joys": jsonview.rows(shown.joys),
                "goals": jsonview.rows(shown.goals),
                "series": jsonview.series(shown),
            },
            shown.lookup,
        ),
        lambda: render.period(
            shown.view, title, shown.joys, shown.goals, shown.names, lookup=shown.lookup
        ),
    )


@click.command()
@click.option("--at", "at", help=f"Any day in the week to show (default: today): {dates.HELP}.")
@json_option
@pass_app
def week(app: App, at: str | None, as_json: bool) -> None:
    """This week (or the week of --at): check-ins, small wins, thank-yous, joys, goals.

    Then what each of you wrote: your days in your own words, the state of the partnership,
    boundaries, comfort signals, care swaps and the calendar.
    """
    shown = look.week(app.journal(), parse_date("at", at))
    show_period(shown, f"Week of {shown.view.start:%-d %B %Y}", as_json)


@click.command()
@click.option("--at", "at", help=f"Any day in the month to show (default: today): {dates.HELP}.")
@json_option
@pass_app
def month(app: App, at: str | None, as_json: bool) -> None:
    """This month (or the month of --at)."""
    shown = look.month(app.journal(), parse_date("at", at))
    show_period(shown, f"{shown.view.start:%B %Y}", as_json)


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
    summaries = look.compare(app.journal(), periods)
    _emit(
        as_json,
        lambda: jsonview.compare(summaries),
        lambda: render.compare(summaries, dt.date.today()),
    )


@click.command()
@click.option("--since", help=f"First day to include: {dates.HELP}.")
@click.option("--until", help="Last day to include.")
@click.option("--type", "types", multiple=True, help="Only these kinds (repeatable), e.g. checkin.")
@click.option(
    "--whose",
    type=click.Choice(["me", "partner"]),
    help="Only your own entries, or only your partner's.",
)
@json_option
@pass_app
def timeline(
    app: App,
    since: str | None,
    until: str | None,
    types: tuple[str, ...],
    whose: Literal["me", "partner"] | None,
    as_json: bool,
) -> None:
    """Every entry, oldest first."""
    shown = look.timeline(
        app.journal(), parse_date("since", since), parse_date("until", until), types, whose
    )
    names = shown.names

    def text() -> None:
        render.timeline(shown.events, names, shown.lookup, shown.private)
        taken_back.echo(shown.taken_back, names, shown.unavailable)

    _emit(
        as_json,
        lambda: {
            "events": [jsonview.timeline_event(e, shown) for e in shown.events],
            "taken_back": [taken_back.record(t, names) for t in shown.taken_back],
            "unavailable": [taken_back.missing_record(i, names) for i in shown.unavailable],
        },
        text,
    )


@click.command()
@click.option(
    "--at",
    "at",
    required=True,
    help="A day (its end) or a moment, e.g. 2026-03-14T18:30, yesterday or mon (the latest).",
)
@json_option
@pass_app
def replay(app: App, at: str, as_json: bool) -> None:
    """The journal exactly as it was on this device at a past moment."""
    then = look.replay(app.journal(), parse_moment("at", at))
    names = then.today.names
    if as_json:
        shown = jsonview.replay(then)
        shown["taken_back"] = [taken_back.record(t, names) for t in then.taken_back]
        click.echo(jsonview.dumps(shown))
        return
    click.echo(
        f"As this journal was at {then.at:%A %-d %B %Y, %H:%M} ({then.entries_known} entries):"
    )
    render.today(then.today.view)
    show_period(then.week, f"Week of {then.week.view.start:%-d %B %Y}, as it was then", False)
    taken_back.echo(then.taken_back, names)
