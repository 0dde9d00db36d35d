"""What the two of you keep together: the week's joy map, the calendar, gentle goals and the
care rota. Each group adds, changes and lists its own (--json on every list)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from tend.app import correcting, dates, flare, keeping, look, record, weeks
from tend.cli import flare_words, jsonview
from tend.cli.app import App, needed, parse_date
from tend.cli.keeping_cmds import (
    FALLBACK_HELP,
    active_option,
    all_option,
    fallback_words,
    lifecycle,
    print_rows,
)
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
    needed(replaces, kind=kind, on=on)
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
@click.option("--fallback", help=FALLBACK_HELP)
@pass_app
def goal_add(
    app: App, title: str, per_week: int, flare_rule: ev.FlareRule, fallback: str | None
) -> None:
    """Set a gentle goal."""
    added = record.gentle_goal(
        app.journal(), title, per_week=per_week, flare_rule=flare_rule, fallback=fallback
    )
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
            "met": "Met. Well done.",
            "adapted": "Adapted. Bending is part of it.",
            "paused": "Paused for rest. Rest counts.",
        }[outcome]
    )


@goal.command("edit")
@click.argument("goal_id", metavar="ID")
@click.option("--title")
@click.option("--per-week", type=int)
@click.option("--flare", "flare_rule", type=click.Choice(ev.FLARE_RULES), help="The flare rule.")
@click.option("--fallback", help=FALLBACK_HELP + ' "" takes it away.')
@active_option("goal")
@pass_app
def goal_edit(
    app: App,
    goal_id: str,
    title: str | None,
    per_week: int | None,
    flare_rule: ev.FlareRule | None,
    fallback: str | None,
    active: bool | None,
) -> None:
    """Change a gentle goal: only what you name changes."""
    keeping.edit_goal(
        app.journal(),
        goal_id,
        title=title,
        per_week=per_week,
        flare_rule=flare_rule,
        fallback=fallback,
        active=active,
    )
    _say("Changed.")


@goal.command("flare")
@click.option("--week", help="ISO week (default: this week).")
@pass_app
def goal_flare(app: App, week: str | None) -> None:
    """Bend the goals for a flare now.

    Each active goal's flare rule, for the week: pause, halve, or keep. A week already marked
    is left as it is. A flare check-in does this by itself, unless it is private."""
    journal = app.journal()
    chosen = week or keeping.current_week(journal)
    bends = flare.bend_goals(journal, chosen)
    if not bends:
        _say("No gentle goals to bend.")
    for line in flare_words.goal_lines(bends):
        _say(safe(line))
    if any(b.did in ("paused", "halved") for b in bends):
        _say(f"To put them back as they were: {flare_words.undo_command(journal, chosen)}")


@goal.command("undo-flare")
@click.option("--week", help="ISO week (default: this week).")
@pass_app
def goal_undo_flare(app: App, week: str | None) -> None:
    """Put back what a flare of yours changed in the goals' week."""
    titles = flare.undo(app.journal(), week)
    _say(safe("Put back as they were: " + ", ".join(titles) + "."))


@click.group()
def care() -> None:
    """The care-task rota, with swaps."""


@care.command("add")
@click.argument("title")
@click.option("--owner", type=click.Choice(ev.WHO), default="me", show_default=True)
@click.option("--cadence", type=click.Choice(ev.CADENCES), default="weekly", show_default=True)
@click.option(
    "--rotate",
    is_flag=True,
    help="Turn about weekly: the owner has it this ISO week, the other of you the next.",
)
@pass_app
def care_add(app: App, title: str, owner: ev.Who, cadence: ev.Cadence, rotate: bool) -> None:
    """Add a care task."""
    added = record.care_task(app.journal(), title, owner=owner, cadence=cadence, rotate=rotate)
    _say(f"Care task added. [{short(added.id)}]")


@care.command("swap")
@click.argument("task_id")
@click.option("--to", type=click.Choice(ev.WHO), required=True)
@click.option("--note")
@click.option(
    "--week",
    help="Swap for this ISO week only (a task that turns about weekly: this week, by default).",
)
@pass_app
def care_swap(app: App, task_id: str, to: ev.Who, note: str | None, week: str | None) -> None:
    """Swap who does a care task.

    From now on; or for one week with --week. A task that turns about weekly is swapped for
    this week only, and the rota carries on after it."""
    swapped = record.care_swap(app.journal(), task_id, to, note=note, week=week)
    body = swapped.event.body
    assert isinstance(body, ev.CareSwap)
    if body.week:
        _say(f"Swapped for {body.week} only; the rota carries on after it.")
    else:
        _say("Swapped, from now on.")


@care.command("edit")
@click.argument("task_id", metavar="ID")
@click.option("--title")
@click.option("--owner", type=click.Choice(ev.WHO), help="Who does it, from this week.")
@click.option("--cadence", type=click.Choice(ev.CADENCES))
@click.option("--rotate/--no-rotate", default=None, help="Turn about weekly, or stop.")
@active_option("care task")
@pass_app
def care_edit(
    app: App,
    task_id: str,
    title: str | None,
    owner: ev.Who | None,
    cadence: ev.Cadence | None,
    rotate: bool | None,
    active: bool | None,
) -> None:
    """Change a care task: only what you name changes."""
    keeping.edit_care_task(
        app.journal(),
        task_id,
        title=title,
        owner=owner,
        cadence=cadence,
        rotate=rotate,
        active=active,
    )
    _say("Changed.")


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


def _calendar_rows(app: App, week: str | None) -> list[dict[str, Any]]:
    shown = look.calendar(app.journal(), week)
    return [jsonview.calendar_event(e, shown.names) for e in shown.events]


_list_command(
    joy,
    "This week's joy map.",
    lambda app, week: jsonview.rows(look.joy_map(app.journal(), week)),
    lambda r: f"{r['id'][:8]}  {r['title']}  ·  {r['status']}  (energy cost {r['cost']})",
    f"ISO week (default: {PLANNED_WEEK}).",
)


@goal.command("list")
@click.option("--week", help="ISO week (default: this week), where it applies.")
@all_option
@json_option
@pass_app
def goal_list(app: App, week: str | None, everything: bool, as_json: bool) -> None:
    """Gentle goals and how this week went."""
    rows = keeping.goals(app.journal(), week, everything=everything)
    print_rows(rows, as_json, _goal_line)


def _goal_line(row: Any) -> str:
    weeks = "".join(
        f"  ·  {w}: {o}" + (f" ({row.targets[w]} of {row.per_week})" if w in row.targets else "")
        for w, o in row.weeks.items()
    )
    return (
        f"{row.id[:8]}  {row.title}  ·  {row.per_week}/week, on a flare: {row.flare_rule}"
        f"{weeks}{fallback_words(row.fallback)}"
    )


lifecycle(goal, "goal")
_list_command(
    calendar,
    "Rest days and appointments.",
    _calendar_rows,
    lambda r: (
        f"{r['id'][:8]}  {r['fields']['date']} {r['fields']['time'] or ''}  "
        f"{r['fields']['title'] or r['fields']['kind']}  ·  "
        f"{'both of you' if r['for']['both'] else r['for']['name'] or 'someone'}"
    ),
    "Only the entries of this week: an ISO week, e.g. 2026-W49, or a day in it, e.g. fri "
    "(default: all of them).",
)


@care.command("list")
@click.option("--week", help="ISO week (default: this week): who does what that week.")
@all_option
@json_option
@pass_app
def care_list(app: App, week: str | None, everything: bool, as_json: bool) -> None:
    """The care-task rota: who does what this week."""
    duties, names = look.care_duties(app.journal(), week, everything=everything)
    if as_json:
        click.echo(jsonview.dumps({"items": jsonview.rows([d.task for d in duties])}))
        return
    if not duties:
        click.echo("Nothing here yet.")
    for duty in duties:
        task = duty.task
        line = f"{task.id[:8]}  {task.title}  ·  {task.cadence}  ·  {_who(duty, names)}"
        which = "that week" if week else "this week"
        if task.week_swap:
            line += f" (swapped for {which})"
        elif task.rotate:
            line += f" {which} (turns about weekly)"
        click.echo(safe(line + ("" if task.active else "  ·  retired")))


lifecycle(care, "care task")


def _who(duty: look.CareDuty, names: dict[PersonId, str]) -> str:
    if duty.person is None:
        # "partner-of:" a person, before that partner has joined: not both of you.
        not_joined_yet = duty.task.owner.startswith("partner-of:")
        return "your partner" if not_joined_yet else "both of you"
    return "you" if duty.mine else names.get(duty.person, "someone")
