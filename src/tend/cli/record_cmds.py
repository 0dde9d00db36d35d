"""Commands that record something: each validates, appends one event, and says so gently."""

from __future__ import annotations

import datetime as dt

import click

from tend.cli.app import App, interactive, parse_date, resolve_id
from tend.core.domain import events as ev
from tend.core.domain.validate import week_of
from tend.core.ids import EventId, short

pass_app = click.make_pass_decorator(App)


def _say(message: str) -> None:
    click.echo(message)


def _ids_of(app: App, *types: str) -> list[bytes]:
    from tend.core.domain.codec import decode_event

    found: list[bytes] = []
    for item in app.journal().items():
        if item.type in types:
            body = decode_event(item.raw).body
            key = next(
                (getattr(body, k) for k in ("item", "goal", "task", "ritual") if hasattr(body, k)),
                None,
            )
            found.append(key if isinstance(key, bytes) else decode_event(item.raw).id)
    return found


@click.command()
@click.option("--day", type=click.Choice(ev.DAY_KINDS), help="What kind of day it is.")
@click.option("--energy", type=int, help="Energy, 0 (none) to 10.")
@click.option("--pain", type=int, help="Pain, 0 (none) to 10.")
@click.option("--mood", type=int, help="Mood, 1 to 5.")
@click.option("--need", "needs", multiple=True, help="What would help today (repeatable).")
@click.option("--offer", help="What I can offer today.")
@click.option("--note", help="Anything else.")
@click.option("--private", is_flag=True, help="Only my own devices can read this entry.")
@click.option("--date", "on", help="The day this is about, if not today (e.g. yesterday).")
@click.option("--replaces", help="Id of an earlier check-in of yours that this one corrects.")
@pass_app
def checkin(
    app: App,
    day: str | None,
    energy: int | None,
    pain: int | None,
    mood: int | None,
    needs: tuple[str, ...],
    offer: str | None,
    note: str | None,
    private: bool,
    on: str | None,
    replaces: str | None,
) -> None:
    """Record how today is. A rest day alone is a whole check-in."""
    if (
        day is None
        and energy is None
        and pain is None
        and mood is None
        and not (needs or offer or note)
        and interactive()
    ):
        day = click.prompt("What kind of day is it?", type=click.Choice(ev.DAY_KINDS))
    body = ev.CheckIn(
        day=day, energy=energy, pain=pain, mood=mood, needs=needs, offer=offer, note=note
    )
    journal = app.journal()
    private = private or "checkin" in journal.device.settings.get("private_kinds", [])
    day_of, supersedes = parse_date("date", on), None
    if replaces:
        mine = _own_events(app, "checkin")
        supersedes = resolve_id(replaces, mine, "check-in of yours")
        day_of = day_of or dt.date.fromisoformat(mine[supersedes].local_date)
    recorded = journal.record(body, private=private, on=day_of, supersedes=supersedes)
    kind = {"rest": " Rest counts.", "flare": " Go gently; rest counts."}.get(day or "", "")
    _say(f"Recorded your check-in{' (private)' if private else ''}.{kind} [{short(recorded.id)}]")


def _own_events(app: App, *types: str) -> dict[bytes, ev.Event]:
    from tend.core.domain.codec import decode_event

    journal = app.journal()
    return {
        e.id: e
        for e in (decode_event(i.raw) for i in journal.items() if not types or i.type in types)
        if e.author == journal.device.person
    }


@click.command()
@click.argument("title")
@click.option(
    "--category", type=click.Choice(ev.MILESTONE_CATEGORIES), default="other", show_default=True
)
@click.option("--who", type=click.Choice(ev.WHO), default="both", show_default=True)
@click.option("--note")
@click.option("--private", is_flag=True, help="Only my own devices can read this entry.")
@pass_app
def milestone(
    app: App, title: str, category: str, who: str, note: str | None, private: bool
) -> None:
    """Note a small win ("walked to the corner together")."""
    recorded = app.journal().record(
        ev.Milestone(title=title, category=category, who=who, note=note), private=private
    )
    _say(f"A small win, noted. [{short(recorded.id)}]")


@click.command()
@click.argument("milestone_id")
@click.option("--note")
@pass_app
def celebrate(app: App, milestone_id: str, note: str | None) -> None:
    """Celebrate a small win (yours or your partner's)."""
    target = resolve_id(milestone_id, _ids_of(app, "milestone"), "small win")
    app.journal().record(ev.Celebration(milestone=target, note=note))
    _say("Celebrated.")


@click.command()
@click.argument("text")
@click.option("--private", is_flag=True, help="Keep it to myself for now.")
@pass_app
def gratitude(app: App, text: str, private: bool) -> None:
    """Thank your partner for something specific."""
    recorded = app.journal().record(ev.Gratitude(text=text), private=private)
    _say(f"Thank-you recorded. [{short(recorded.id)}]")


@click.command()
@click.argument("entry_id")
@click.option("--reason")
@pass_app
def retract(app: App, entry_id: str, reason: str | None) -> None:
    """Take back one of your own entries (nothing is rewritten; this is a new entry)."""
    target = resolve_id(entry_id, _own_events(app), "entry of yours")
    app.journal().record(ev.Retraction(target=EventId(target), reason=reason))
    _say("Taken back.")


# --- joy map ------------------------------------------------------------------------------------


@click.group()
def joy() -> None:
    """The week's small joys: idea, planned, done, or let go."""


def _this_week(week: str | None) -> str:
    return week or week_of(dt.date.today())


@joy.command("add")
@click.argument("title")
@click.option("--cost", type=int, default=1, show_default=True, help="Energy cost, 0 to 3.")
@click.option("--week", help="ISO week, e.g. 2026-W47 (default: this week).")
@pass_app
def joy_add(app: App, title: str, cost: int, week: str | None) -> None:
    """Add a small-joy idea."""
    added = app.journal().record(
        lambda item: ev.JoyIdea(item=item, week=_this_week(week), title=title, cost=cost)
    )
    _say(f"Joy idea added. [{short(added.id)}]")


def _joy_status(status: str, word: str) -> click.Command:
    @click.pass_obj
    def run(app: App, item_id: str, week: str | None) -> None:
        from tend.core.domain.codec import decode_event

        journal = app.journal()
        ideas = {}
        for i in journal.items():
            if i.type == "joy.added":
                body = decode_event(i.raw).body
                assert isinstance(body, ev.JoyIdea)
                ideas[body.item] = body.week
        item = resolve_id(item_id, ideas, "joy idea")
        journal.record(ev.JoyStatus(item=EventId(item), week=week or ideas[item], status=status))
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
@click.option("--kind", type=click.Choice(ev.CALENDAR_KINDS), required=True)
@click.option("--date", "on", required=True, help="e.g. 2026-12-03")
@click.option("--time", "at", help="e.g. 09:30")
@click.option("--title")
@click.option("--who", type=click.Choice(ev.WHO), default="me", show_default=True)
@pass_app
def calendar_add(app: App, kind: str, on: str, at: str | None, title: str | None, who: str) -> None:
    """Put a rest day or an appointment on the calendar."""
    day = parse_date("date", on)
    assert day is not None
    recorded = app.journal().record(
        ev.CalendarEntry(kind=kind, date=day.isoformat(), time=at, title=title, who=who)
    )
    _say(f"On the calendar: {recorded.body.summary()}. [{short(recorded.id)}]")


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
def goal_add(app: App, title: str, per_week: int, flare_rule: str) -> None:
    """Set a gentle goal."""
    added = app.journal().record(
        lambda gid: ev.GoalSet(goal=gid, title=title, per_week=per_week, flare_rule=flare_rule)
    )
    _say(f"Gentle goal set. [{short(added.id)}]")


@goal.command("week")
@click.argument("goal_id")
@click.argument("outcome", type=click.Choice(ev.GOAL_OUTCOMES))
@click.option("--week", help="ISO week (default: this week).")
@click.option("--note")
@pass_app
def goal_week(app: App, goal_id: str, outcome: str, week: str | None, note: str | None) -> None:
    """Say how a week went for a goal: met, adapted, or paused (for rest)."""
    gid = resolve_id(goal_id, _ids_of(app, "goal.set"), "goal")
    app.journal().record(ev.GoalWeek(goal=gid, week=_this_week(week), outcome=outcome, note=note))
    _say(
        {
            "met": "Met. Well done, both of you.",
            "adapted": "Adapted. Bending is part of it.",
            "paused": "Paused for rest. Rest counts.",
        }[outcome]
    )


# --- rituals, partnership, comfort, care ---------------------------------------------------


@click.command()
@click.argument("title")
@click.option("--cadence", type=click.Choice(ev.CADENCES), default="weekly", show_default=True)
@pass_app
def ritual(app: App, title: str, cadence: str) -> None:
    """Add a small ritual you keep together."""
    added = app.journal().record(lambda rid: ev.RitualSet(ritual=rid, title=title, cadence=cadence))
    _say(f"Ritual added. [{short(added.id)}]")


@click.command()
@click.option("--week", help="ISO week (default: this week).")
@click.option("--appreciation", "appreciations", multiple=True, help="Repeatable.")
@click.option("--went-well")
@click.option("--adjustment", help="One small adjustment for next week.")
@pass_app
def partnership(
    app: App,
    week: str | None,
    appreciations: tuple[str, ...],
    went_well: str | None,
    adjustment: str | None,
) -> None:
    """The weekly state of the partnership: appreciations, what went well, one adjustment."""
    app.journal().record(
        ev.PartnershipWeek(
            week=_this_week(week),
            appreciations=appreciations,
            went_well=went_well,
            adjustment=adjustment,
        )
    )
    _say("Noted for this week.")


@click.command()
@click.argument("signal", type=click.Choice(ev.SIGNALS))
@click.option("--note")
@click.option("--private", is_flag=True)
@pass_app
def comfort(app: App, signal: str, note: str | None, private: bool) -> None:
    """Share a comfort signal: green, yellow, red, or pause."""
    journal = app.journal()
    private = private or "comfort" in journal.device.settings.get("private_kinds", [])
    journal.record(ev.ComfortSignal(signal=signal, note=note), private=private)
    _say("Thank you for saying. Signals can change any time.")


@click.command()
@click.argument("text")
@pass_app
def boundary(app: App, text: str) -> None:
    """Share a boundary."""
    app.journal().record(lambda bid: ev.Boundary(boundary=bid, text=text))
    _say("Boundary shared.")


@click.group()
def care() -> None:
    """The care-task rota, with swaps."""


@care.command("add")
@click.argument("title")
@click.option("--owner", type=click.Choice(ev.WHO), default="me", show_default=True)
@click.option("--cadence", type=click.Choice(ev.CADENCES), default="weekly", show_default=True)
@pass_app
def care_add(app: App, title: str, owner: str, cadence: str) -> None:
    """Add a care task."""
    added = app.journal().record(
        lambda tid: ev.CareTask(task=tid, title=title, owner=owner, cadence=cadence)
    )
    _say(f"Care task added. [{short(added.id)}]")


@care.command("swap")
@click.argument("task_id")
@click.option("--to", type=click.Choice(ev.WHO), required=True)
@click.option("--note")
@pass_app
def care_swap(app: App, task_id: str, to: str, note: str | None) -> None:
    """Swap who does a care task."""
    tid = resolve_id(task_id, _ids_of(app, "care.task"), "care task")
    app.journal().record(ev.CareSwap(task=tid, to=to, note=note))
    _say("Swapped.")


@click.command("private-default")
@click.argument("kinds", nargs=-1, type=click.Choice(["checkin", "comfort"]))
@click.option("--off", is_flag=True, help="Stop keeping these kinds private by default.")
@pass_app
def private_default(app: App, kinds: tuple[str, ...], off: bool) -> None:
    """Keep sensitive kinds of entry private by default (shown with no arguments)."""
    journal = app.journal()
    current = set(journal.device.settings.get("private_kinds", []))
    if kinds:
        current = current - set(kinds) if off else current | set(kinds)
        journal.device.settings["private_kinds"] = sorted(current)
        journal.save_device()  # with the passphrase the journal was opened with: asked once
    _say("Private by default: " + (", ".join(sorted(current)) or "nothing"))
