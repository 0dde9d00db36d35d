"""Commands that record something: each validates, appends one event, and says so gently."""

from __future__ import annotations

import click

from tend.app import record, settings
from tend.cli.app import App, interactive, parse_date
from tend.core.domain import events as ev
from tend.core.ids import short

pass_app = click.make_pass_decorator(App)


def _say(message: str) -> None:
    click.echo(message)


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
    day: ev.DayKind | None,  # click.Choice gives only these words
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
    recorded = record.check_in(
        app.journal(),
        day=day,
        energy=energy,
        pain=pain,
        mood=mood,
        needs=needs,
        offer=offer,
        note=note,
        private=private,
        on=parse_date("date", on),
        replaces=replaces,
    )
    kind = {"rest": " Rest counts.", "flare": " Go gently; rest counts."}.get(day or "", "")
    private_note = " (private)" if recorded.private else ""
    _say(f"Recorded your check-in{private_note}.{kind} [{short(recorded.id)}]")
    if recorded.flare is not None:
        from tend.cli.flare_words import tell

        tell(app.journal(), recorded.flare)


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
    app: App,
    title: str,
    category: ev.MilestoneCategory,
    who: ev.Who,
    note: str | None,
    private: bool,
) -> None:
    """Note a small win ("walked to the corner together")."""
    recorded = record.small_win(
        app.journal(), title, category=category, who=who, note=note, private=private
    )
    _say(f"A small win, noted. [{short(recorded.id)}]")


@click.command()
@click.argument("milestone_id")
@click.option("--note")
@pass_app
def celebrate(app: App, milestone_id: str, note: str | None) -> None:
    """Celebrate a small win (yours or your partner's)."""
    record.celebrate(app.journal(), milestone_id, note)
    _say("Celebrated.")


@click.command()
@click.argument("text")
@click.option("--private", is_flag=True, help="Keep it to myself for now.")
@pass_app
def gratitude(app: App, text: str, private: bool) -> None:
    """Thank your partner for something specific."""
    recorded = record.thank(app.journal(), text, private=private)
    _say(f"Thank-you recorded. [{short(recorded.id)}]")


@click.command()
@click.argument("entry_id")
@click.option("--reason")
@pass_app
def retract(app: App, entry_id: str, reason: str | None) -> None:
    """Take back one of your own entries (nothing is rewritten; this is a new entry)."""
    record.take_back(app.journal(), entry_id, reason)
    _say("Taken back.")


# --- rituals, partnership, comfort, care ---------------------------------------------------


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
    record.partnership_week(
        app.journal(),
        week=week,
        appreciations=appreciations,
        went_well=went_well,
        adjustment=adjustment,
    )
    _say("Noted for this week.")


@click.command()
@click.argument("signal", type=click.Choice(ev.SIGNALS))
@click.option("--note")
@click.option("--private", is_flag=True, help="Only my own devices can read this signal.")
@click.option(
    "--share",
    is_flag=True,
    help="Share this signal with my partner, even if comfort signals are private by default.",
)
@pass_app
def comfort(app: App, signal: ev.Signal, note: str | None, private: bool, share: bool) -> None:
    """Share a comfort signal: green, yellow, red, or pause."""
    recorded = record.comfort_signal(app.journal(), signal, note=note, private=private, share=share)
    if recorded.private:
        _say(
            "Kept private: only your own devices can read this signal. "
            "To share one with your partner: tend comfort SIGNAL --share"
        )
    else:
        _say("Thank you for saying. Signals can change any time.")


@click.command("private-default")
@click.argument("kinds", nargs=-1, type=click.Choice(settings.PRIVATE_KINDS))
@click.option("--off", is_flag=True, help="Stop keeping these kinds private by default.")
@pass_app
def private_default(app: App, kinds: tuple[str, ...], off: bool) -> None:
    """Keep sensitive kinds of entry private by default (shown with no arguments)."""
    journal = app.journal()
    current = (
        settings.keep_private_by_default(journal, kinds, on=not off)
        if kinds
        else settings.private_kinds(journal)
    )
    _say("Private by default: " + (", ".join(current) or "nothing"))
