"""What the two of you keep together: the week's joy map, the calendar, gentle goals and the
care rota. Each group adds, changes and lists its own (--json on every list)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from tend.app import correcting, dates, look, record, weeks
from tend.cli import jsonview
from tend.cli.app import App, parse_date
from tend.cli.text import safe
from tend.core.domain import events as ev
from tend.core.ids import PersonId, short

pass_app = click.make_pass_decorator(App)
PLANNED_WEEK = "this week; from Sunday 18:00, the coming one (see tend week-turns)"
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")


def _say(message: str) -> None:
    click.echo(message)


# --- joy map ------------------------------------------------------------------------------------


@click.group()
def joy() -> None:
    """The week's small joys: idea, planned, done, or let go."""


@joy.command("add")
@click.argument("title")
@click.option("--cost", type=int, default=1, show_default=True, help="Energy cost, 0 to 3.")
@click.option(
    "--week", help=f"ISO week, e.g. 2026-W47, or a day in it, e.g. fri (default: {PLANNED_WEEK})."
)
@pass_app
def joy_add(app: App, title: str, cost: int, week: str | None) -> None:
    """Add a small-joy idea."""
    added = record.joy_idea(app.journal(), title, cost=cost, week=week)
    body = added.event.body
    assert isinstance(body, ev.JoyIdea)
    monday = weeks.monday_of(body.week)
    _say(f"Joy idea added for the week of {monday:%-d %B} ({body.week}). [{short(added.id)}]")


def _joy_status(status: ev.JoyStatusWord, word: str) -> click.Command:
    @click.pass_obj
    def run(app: App, item_id: str, week: str | None) -> None:
        record.joy_status(app.journal(), item_id, status, week)
        _say(word)

    command = click.command(status, help=f"Mark a joy idea as {status}.")(run)
    click.argument("item_id")(command)
    click.option("--week", help="ISO week (default: the idea's week).")(command)
    return command


joy.add_command(_joy_status("planned", "Planned. Something to look forward to."))
joy.add_command(_joy_status("done", "Done. Lovely."))
joy.add_command(_joy_status("let-go", "Let go, and that's fine."))


# --- calendar ------------------------------------------------------------------------------------


@click.group()
def calendar() -> None:
    """Rest days and appointments."""


@calendar.command("add")
@click.option("--kind", type=click.Choice(ev.CALENDAR_KINDS), help="rest or appointment.")
@click.option("--date", "on", help=f"The day: {dates.AHEAD_HELP}.")
@click.option("--time", "at", help="e.g. 09:30")
@click.option("--title")
@click.option("--who", type=click.Choice(ev.WHO), help="Whose it is (default: me).")
@click.option(
    "--replaces", metavar="ID", help="Correct an entry of yours: only what you give changes."
)
@click.option(
    "--clear",
    multiple=True,
    type=click.Choice(correcting.clearable(ev.CalendarEntry)),
    help="With --replaces: empty this field (repeatable).",
)
@pass_app
def calendar_add(
    app: App,
    kind: ev.CalendarKind | None,
    on: str | None,
    at: str | None,
    title: str | None,
    who: ev.Who | None,
    replaces: str | None,
    clear: tuple[str, ...],
) -> None:
    """Put a rest day or an appointment on the calendar (--kind and --date), or correct one."""
    day = parse_date("date", on, ahead=True)
    recorded = record.calendar_entry(
        app.journal(), kind, day, at=at, title=title, who=who, replaces=replaces, clear=clear
    )
    done = "Corrected; the rest is as it was" if replaces else "On the calendar"
    _say(f"{done}: {recorded.event.body.summary()}. [{short(recorded.id)}]")


# --- gentle goals --------------------------------------------------------------------------------


@click.group()
def goal() -> None:
    """Gentle goals that bend when a flare comes."""


@goal.command("add")
@click.argument("title")
@click.option("--per-week", type=int, default=1, show_default=True)
@click.option(
    "--flare",
    "flare_rule",
    type=click.Choice(ev.FLARE_RULES),
    default="pause",
    show_default=True,
    help="What a flare does to this goal.",
)
@pass_app
def goal_add(app: App, title: str, per_week: int, flare_rule: ev.FlareRule) -> None:
    """Set a gentle goal."""
    added = record.gentle_goal(app.journal(), title, per_week=per_week, flare_rule=flare_rule)
    _say(f"Gentle goal set. [{short(added.id)}]")


@goal.command("week")
@click.argument("goal_id")
@click.argument("outcome", type=click.Choice(ev.GOAL_OUTCOMES))
@click.option("--week", help="ISO week (default: this week).")
@click.option("--note")
@pass_app
def goal_week(
    app: App, goal_id: str, outcome: ev.GoalOutcome, week: str | None, note: str | None
) -> None:
    """Say how a week went for a goal: met, adapted, or paused (for rest)."""
    record.goal_week(app.journal(), goal_id, outcome, week=week, note=note)
    _say(
        {
            "met": "Met. Well done, both of you.",
            "adapted": "Adapted. Bending is part of it.",
            "paused": "Paused for rest. Rest counts.",
        }[outcome]
    )


@click.group()
def care() -> None:
    """The care-task rota, with swaps."""


@care.command("add")
@click.argument("title")
@click.option("--owner", type=click.Choice(ev.WHO), default="me", show_default=True)
@click.option("--cadence", type=click.Choice(ev.CADENCES), default="weekly", show_default=True)
@pass_app
def care_add(app: App, title: str, owner: ev.Who, cadence: ev.Cadence) -> None:
    """Add a care task."""
    added = record.care_task(app.journal(), title, owner=owner, cadence=cadence)
    _say(f"Care task added. [{short(added.id)}]")


@care.command("swap")
@click.argument("task_id")
@click.option("--to", type=click.Choice(ev.WHO), required=True)
@click.option("--note")
@pass_app
def care_swap(app: App, task_id: str, to: ev.Who, note: str | None) -> None:
    """Swap who does a care task."""
    record.care_swap(app.journal(), task_id, to, note=note)
    _say("Swapped.")


# --- the lists ----------------------------------------------------------------------------------

Rows = Callable[[App, str | None], list[dict[str, Any]]]


def _list_command(
    group: click.Group,
    help_text: str,
    rows_of: Rows,
    line: Callable[[dict[str, Any]], str],
    week_help: str = "ISO week (default: this week), where it applies.",
) -> None:
    @group.command("list", help=help_text)
    @click.option("--week", help=week_help)
    @json_option
    @pass_app
    def run(app: App, week: str | None, as_json: bool) -> None:
        rows = rows_of(app, week)
        if as_json:
            click.echo(jsonview.dumps({"items": rows}))
        elif not rows:
            click.echo("Nothing here yet.")
        else:
            for row in rows:
                click.echo(safe(line(row)))


def _calendar_rows(app: App, _week: str | None) -> list[dict[str, Any]]:
    shown = look.calendar(app.journal())
    return [jsonview.event(e, shown.names) for e in shown.events]


_list_command(
    joy,
    "This week's joy map.",
    lambda app, week: jsonview.rows(look.joy_map(app.journal(), week)),
    lambda r: f"{r['id'][:8]}  {r['title']}  ·  {r['status']}  (energy cost {r['cost']})",
    f"ISO week (default: {PLANNED_WEEK}).",
)
_list_command(
    goal,
    "Gentle goals and how this week went.",
    lambda app, week: jsonview.rows(look.gentle_goals(app.journal(), week)),
    lambda r: (
        f"{r['id'][:8]}  {r['title']}  ·  {r['per_week']}/week, on a flare: "
        f"{r['flare_rule']}" + "".join(f"  ·  {w}: {o}" for w, o in r["weeks"].items())
    ),
)
_list_command(
    calendar,
    "Rest days and appointments.",
    _calendar_rows,
    lambda r: (
        f"{r['id'][:8]}  {r['fields']['date']} {r['fields']['time'] or ''}  "
        f"{r['fields']['title'] or r['fields']['kind']}"
    ),
)


@care.command("list")
@click.option("--week", help="ISO week (default: this week), where it applies.")
@json_option
@pass_app
def care_list(app: App, week: str | None, as_json: bool) -> None:
    """The care-task rota: who does what."""
    del week  # the rota is the same every week; the option is there as for every list
    duties, names = look.care_duties(app.journal())
    if as_json:
        click.echo(jsonview.dumps({"items": jsonview.rows([d.task for d in duties])}))
        return
    if not duties:
        click.echo("Nothing here yet.")
    for duty in duties:
        task = duty.task
        line = f"{task.id[:8]}  {task.title}  ·  {task.cadence}  ·  {_who(duty, names)}"
        click.echo(safe(line))


def _who(duty: look.CareDuty, names: dict[PersonId, str]) -> str:
    if duty.person is None:
        return "both of you"
    return "you" if duty.mine else names.get(duty.person, "someone")
