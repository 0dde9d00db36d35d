"""Commands that record something: each validates, appends one event, and says so gently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tend.app import correcting, dates, record, settings
from tend.cli.app import App, interactive, needed, parse_date
from tend.core.domain import events as ev
from tend.core.ids import short

pass_app = click.make_pass_decorator(App)
F = TypeVar("F", bound=Callable[..., Any])


def _say(message: str) -> None:
    click.echo(message)


DATE_HELP = f"The day this is about, if not today: {dates.HELP}."


def _date_option(command: F) -> F:
    return click.option("--date", "on", help=DATE_HELP)(command)


def _replaces_option(what: str, kind: type[ev.Payload] | None = None) -> Callable[[F], F]:
    """--replaces ID (and, for a kind with fields that may be emptied, --clear FIELD): a
    correction that changes only what it names."""

    def add(command: F) -> F:
        if kind is not None and correcting.clearable(kind):
            command = click.option(
                "--clear",
                multiple=True,
                type=click.Choice(correcting.clearable(kind)),
                help="With --replaces: empty this field (repeatable).",
            )(command)
        return click.option(
            "--replaces",
            metavar="ID",
            help=f"Correct an earlier {what} of yours: only what you give changes.",
        )(command)

    return add


def _corrected(recorded: record.Recorded, what: str, replaces: str | None) -> str:
    if replaces:
        return f"Corrected your {what}; the rest is as it was. [{short(recorded.id)}]"
    return ""


@click.command()
@click.option("--day", type=click.Choice(ev.DAY_KINDS), help="What kind of day it is.")
@click.option("--energy", type=int, help="Energy, 0 (none) to 10.")
@click.option("--pain", type=int, help="Pain, 0 (none) to 10.")
@click.option("--mood", type=int, help="Mood, 1 to 5.")
@click.option("--need", "needs", multiple=True, help="What would help today (repeatable).")
@click.option("--offer", help="What I can offer today.")
@click.option("--note", help="Anything else.")
@click.option("--private", is_flag=True, help="Only my own devices can read this entry.")
@click.option("--date", "on", help=DATE_HELP)
@_replaces_option("check-in", ev.CheckIn)
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
    clear: tuple[str, ...],
) -> None:
    """Record how today is. A rest day alone is a whole check-in.

    With --replaces ID, correct an earlier check-in: only the fields you give change (and
    those you --clear); the rest stays as it was.
    """
    if (
        not replaces
        and day is None
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
        clear=clear,
    )
    if replaces:
        _say(_corrected(recorded, "check-in", replaces))
    else:
        kind = {"rest": " Rest counts.", "flare": " Go gently; rest counts."}.get(day or "", "")
        private_note = " (private)" if recorded.private else ""
        _say(f"Recorded your check-in{private_note}.{kind} [{short(recorded.id)}]")
    if recorded.flare is not None:
        from tend.cli.flare_words import tell

        tell(app.journal(), recorded.flare)


@click.command()
@click.argument("title", required=False)
@click.option(
    "--category",
    type=click.Choice(ev.MILESTONE_CATEGORIES),
    help="What kind of win it is (default: other).",
)
@click.option("--who", type=click.Choice(ev.WHO), help="Whose win it is (default: both).")
@click.option("--note")
@click.option("--private", is_flag=True, help="Only my own devices can read this entry.")
@_date_option
@_replaces_option("small win", ev.Milestone)
@pass_app
def milestone(
    app: App,
    title: str | None,
    category: ev.MilestoneCategory | None,
    who: ev.Who | None,
    note: str | None,
    private: bool,
    on: str | None,
    replaces: str | None,
    clear: tuple[str, ...],
) -> None:
    """Note a small win ("walked to the corner together")."""
    needed(replaces, title=title)
    recorded = record.small_win(
        app.journal(),
        title,
        category=category,
        who=who,
        note=note,
        private=private,
        on=parse_date("date", on),
        replaces=replaces,
        clear=clear,
    )
    _say(
        _corrected(recorded, "small win", replaces) or f"A small win, noted. [{short(recorded.id)}]"
    )


@click.command()
@click.argument("milestone_id", required=False)
@click.option("--note")
@_date_option
@_replaces_option("celebration", ev.Celebration)
@pass_app
def celebrate(
    app: App,
    milestone_id: str | None,
    note: str | None,
    on: str | None,
    replaces: str | None,
    clear: tuple[str, ...],
) -> None:
    """Celebrate a small win (yours or your partner's)."""
    needed(replaces, milestone_id=milestone_id)
    recorded = record.celebrate(
        app.journal(),
        milestone_id,
        note,
        on=parse_date("date", on),
        replaces=replaces,
        clear=clear,
    )
    _say(_corrected(recorded, "celebration", replaces) or "Celebrated.")


@click.command()
@click.argument("text", required=False)
@click.option("--private", is_flag=True, help="Keep it to myself for now.")
@_date_option
@_replaces_option("thank-you")
@pass_app
def gratitude(
    app: App, text: str | None, private: bool, on: str | None, replaces: str | None
) -> None:
    """Thank your partner for something specific."""
    needed(replaces, text=text)
    recorded = record.thank(
        app.journal(), text, private=private, on=parse_date("date", on), replaces=replaces
    )
    _say(
        _corrected(recorded, "thank-you", replaces) or f"Thank-you recorded. [{short(recorded.id)}]"
    )


@click.command()
@click.argument("text", required=False)
@click.option("--share", is_flag=True, help="Let my partner read it too (default: only me).")
@_date_option
@_replaces_option("note")
@pass_app
def note(app: App, text: str | None, share: bool, on: str | None, replaces: str | None) -> None:
    """Write a note of your own about a day: private unless --share.

    A note is not a check-in: it never changes the day's energy, pain or kind of day.
    """
    needed(replaces, text=text)
    recorded = record.note(
        app.journal(), text, share=share, on=parse_date("date", on), replaces=replaces
    )
    private = " (only you can read it)" if recorded.private else ""
    _say(_corrected(recorded, "note", replaces) or f"Noted{private}. [{short(recorded.id)}]")


@click.command()
@click.argument("entry_id")
@pass_app
def share(app: App, entry_id: str) -> None:
    """Share one of your private entries with your partner, as it is (same day, same words)."""
    recorded = record.share(app.journal(), entry_id)
    _say(f"Shared with your partner; it stays on its own day. [{short(recorded.id)}]")


@click.command()
@click.argument("entry_id")
@click.option("--reason", help="A word for your partner (an apology, say); it stays readable.")
@click.option(
    "--forget",
    is_flag=True,
    help=(
        "Also erase the words (of every version, and of a copy shared later), here and on "
        "every honest device and the relay as they sync."
    ),
)
@pass_app
def retract(app: App, entry_id: str, reason: str | None, forget: bool) -> None:
    """Take back one of your own entries. Views then show that something was taken back
    there (with your reason), never its words; nothing is rewritten, this is a new entry.
    With --forget the words are erased too, those of the entry it corrects and of every
    correction of it, and of a copy shared later: a copy made before (an export, a
    screenshot, a backup) cannot be recalled."""
    record.take_back(app.journal(), entry_id, reason, forget=forget)
    _say("Taken back, and its words forgotten here." if forget else "Taken back.")


# --- rituals, partnership, comfort, care ---------------------------------------------------


@click.command()
@click.option("--week", help="ISO week, or a day in it, e.g. mon (default: this week).")
@click.option("--appreciation", "appreciations", multiple=True, help="Repeatable.")
@click.option("--went-well")
@click.option("--adjustment", help="One small adjustment for next week.")
@_replaces_option("partnership note", ev.PartnershipWeek)
@pass_app
def partnership(
    app: App,
    week: str | None,
    appreciations: tuple[str, ...],
    went_well: str | None,
    adjustment: str | None,
    replaces: str | None,
    clear: tuple[str, ...],
) -> None:
    """The weekly state of the partnership: appreciations, what went well, one adjustment."""
    recorded = record.partnership_week(
        app.journal(),
        week=week,
        appreciations=appreciations,
        went_well=went_well,
        adjustment=adjustment,
        replaces=replaces,
        clear=clear,
    )
    _say(_corrected(recorded, "partnership note", replaces) or "Noted for this week.")


@click.command()
@click.argument("signal", type=click.Choice(ev.SIGNALS), required=False)
@click.option("--note")
@click.option("--private", is_flag=True, help="Only my own devices can read this signal.")
@click.option(
    "--share",
    is_flag=True,
    help="Share this signal with my partner, even if comfort signals are private by default.",
)
@_date_option
@_replaces_option("comfort signal", ev.ComfortSignal)
@pass_app
def comfort(
    app: App,
    signal: ev.Signal | None,
    note: str | None,
    private: bool,
    share: bool,
    on: str | None,
    replaces: str | None,
    clear: tuple[str, ...],
) -> None:
    """Share a comfort signal: green, yellow, red, or pause."""
    needed(replaces, signal=signal)
    recorded = record.comfort_signal(
        app.journal(),
        signal,
        note=note,
        private=private,
        share=share,
        on=parse_date("date", on),
        replaces=replaces,
        clear=clear,
    )
    corrected = _corrected(recorded, "comfort signal", replaces)
    if corrected:
        _say(corrected)
    elif recorded.private:
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
