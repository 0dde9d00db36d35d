"""Practices the two of you can pick up when they help: drafting the week's state of the
partnership, anchor memories for hard days, a list for learning together, questions for the
clinician, and a gentle look at who reached out. Each is optional, and none keeps a score."""

from __future__ import annotations

import shlex
from typing import Any

import click

from tend.app import anchors, clinician, learning, reaching
from tend.app import partnership as drafting
from tend.cli import jsonview, record_cmds
from tend.cli.app import App, parse_date
from tend.cli.text import safe
from tend.core.domain import events as ev
from tend.core.ids import short

pass_app = click.make_pass_decorator(App)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")


def _say(message: str) -> None:
    click.echo(safe(message))


class TextFirst(click.Group):
    """A group whose first word, when it is none of its commands, is the text of `default`:
    `tend ask "What about sleep?"` is `tend ask add "What about sleep?"`."""

    default = "add"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


# --- the state of the partnership: record one, or draft it from the week -------------------------

_record_week = record_cmds.partnership


@click.group(
    invoke_without_command=True,
    help=f"{_record_week.help}\n\n`tend partnership draft` drafts one from the week's entries.",
)
@click.pass_context
def partnership(ctx: click.Context, /, **options: Any) -> None:
    if ctx.invoked_subcommand is None:
        ctx.invoke(_record_week, **options)


partnership.params = list(_record_week.params)  # the same options as ever, whatever they are


@partnership.command("draft")
@click.option("--week", help="ISO week, e.g. 2026-W49 (default: this week).")
@click.option("--drop", type=int, multiple=True, metavar="N", help="Leave suggestion N out.")
@click.option("--adjustment", help="One small adjustment for next week, saved with --save.")
@click.option("--save", is_flag=True, help="Save the suggestions you kept as the week's entry.")
@json_option
@pass_app
def partnership_draft(
    app: App,
    week: str | None,
    drop: tuple[int, ...],
    adjustment: str | None,
    save: bool,
    as_json: bool,
) -> None:
    """A draft of the week's state of the partnership, from what you two recorded.

    It gathers the week's small wins, rest days honoured, thank-yous, joys done and what each
    of you asked for, and suggests appreciations and what went well: keep them (--save),
    leave some out (--drop N), or copy the command it prints and edit the words. Prompt cards
    offer a way into the harder things.
    """
    journal = app.journal()
    made = drafting.draft(journal, week)
    made.kept(drop)  # a number that is not shown is refused before anything is printed
    saved = drafting.save(journal, made, drop=drop, adjustment=adjustment) if save else None
    if as_json:
        click.echo(jsonview.dumps(_draft_json(made, saved)))
        return
    _show_draft(made, drop)
    if saved is not None:
        _say(f"Saved as the state of the partnership for {made.week}. [{short(saved.id)}]")
    else:
        _how_to_keep(made, drop, adjustment)


def _show_draft(made: drafting.Draft, drop: tuple[int, ...]) -> None:
    _say(f"The state of the partnership, week of {made.start:%-d %B} ({made.week}): a draft")
    _say("")
    gathered = [
        ("Small wins", [f"{w.text} ({_name(w.name)})" for w in made.small_wins]),
        ("Rest honoured", [f"{_name(r.name)} on {_days(r.days)}" for r in made.rest]),
        ("Thank-yous", [f"{_name(t.name)}: {t.text}" for t in made.thank_yous]),
        ("Joys done", list(made.joys_done)),
        ("Asked for", [f"{_name(a.name)}: {', '.join(a.needs)}" for a in made.asked_for]),
    ]
    shown = [(title, lines) for title, lines in gathered if lines]
    _say("From your week" if shown else "Your week is quiet so far, and that is fine.")
    for title, lines in shown:
        _say(f"  {title}: " + "; ".join(lines))
    if made.suggestions:
        _say("")
        _say("Suggestions to keep, edit or drop")
        for kind, heading in (("appreciation", "Appreciations"), ("went_well", "What went well")):
            chosen = [s for s in made.suggestions if s.kind == kind]
            if chosen:
                _say(f"  {heading}")
            for s in chosen:
                mark = "  (dropped)" if s.number in drop else ""
                _say(f"    [{s.number}] {s.text}{mark}")
    _say("")
    _say("Prompt cards, if they help")
    for card in made.cards:
        _say(f"  {card.name.capitalize()}: {card.prompt}")


def _how_to_keep(made: drafting.Draft, drop: tuple[int, ...], adjustment: str | None) -> None:
    _say("")
    if made.suggestions:
        _say("To keep these as they are: tend partnership draft --save (--drop N leaves one out).")
    appreciations, went_well = made.kept(drop)
    words = ["tend", "partnership", "--week", made.week]
    for text in appreciations:
        words += ["--appreciation", text]
    if went_well:
        words += ["--went-well", "; ".join(went_well)]
    words += ["--adjustment", adjustment or "..."]
    _say("Or in your own words:")
    _say("  " + shlex.join(words))


def _draft_json(made: drafting.Draft, saved: Any) -> dict[str, Any]:
    def said(found: tuple[drafting.Said, ...]) -> list[dict[str, Any]]:
        return [{"person": s.person.hex(), "name": s.name, "text": s.text} for s in found]

    return {
        "week": made.week,
        "start": made.start.isoformat(),
        "end": made.end.isoformat(),
        "small_wins": said(made.small_wins),
        "rest": [
            {"person": r.person.hex(), "name": r.name, "days": [d.isoformat() for d in r.days]}
            for r in made.rest
        ],
        "thank_yous": said(made.thank_yous),
        "joys_done": list(made.joys_done),
        "asked_for": [
            {"person": a.person.hex(), "name": a.name, "needs": list(a.needs)}
            for a in made.asked_for
        ],
        "suggestions": jsonview.rows(made.suggestions),
        "cards": jsonview.rows(made.cards),
        "saved": saved.id.hex() if saved is not None else None,
    }


def _name(name: str | None) -> str:
    return "someone" if name is None else name


def _days(days: tuple[Any, ...]) -> str:
    words = [f"{d:%A}" for d in days]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# --- anchor memories ----------------------------------------------------------------------------


@click.group(cls=TextFirst, invoke_without_command=True)
@click.pass_context
def anchor(ctx: click.Context) -> None:
    """Anchor memories to hold on to on a hard day.

    Alone, `tend anchor` shows one, chosen at random; `tend anchor TEXT` keeps a new one
    (the same as `tend anchor add TEXT`).
    """
    if ctx.invoked_subcommand is not None:
        return
    found = anchors.one_at_random(ctx.ensure_object(App).journal())
    if found is None:
        _say('No anchor memories yet. When a moment feels worth keeping: tend anchor add "..."')
    else:
        _say(f"Something to hold on to: {_anchor_line(found)}")


@anchor.command("add")
@click.argument("text")
@click.option("--date", "on", help="The day it happened, if you like (e.g. 2025-08-14).")
@click.option("--private", is_flag=True, help="Only my own devices can read this entry.")
@pass_app
def anchor_add(app: App, text: str, on: str | None, private: bool) -> None:
    """Keep a memory to come back to (shared with your partner unless --private)."""
    added = anchors.add(app.journal(), text, on=parse_date("date", on), private=private)
    kept = " (private)" if added.private else ""
    _say(f"Kept as an anchor{kept}. [{short(added.id)}]")


@anchor.command("list")
@json_option
@pass_app
def anchor_list(app: App, as_json: bool) -> None:
    """Every anchor memory you can read."""
    rows = anchors.listing(app.journal())
    if as_json:
        click.echo(jsonview.dumps({"items": jsonview.rows(rows)}))
    elif not rows:
        _say("Nothing here yet.")
    for row in rows if not as_json else ():
        _say(f"{row.id[:8]}  {_anchor_line(row)}  ·  {_name(row.name)}")


def _anchor_line(row: anchors.AnchorRow) -> str:
    when = f" ({row.date})" if row.date else ""
    return f"{row.text}{when}" + ("  (private)" if row.private else "")


# --- learning together --------------------------------------------------------------------------


@click.group()
def learn() -> None:
    """Books, articles and questions to learn about together, at your own pace."""


@learn.command("add")
@click.argument("title")
@click.option("--kind", type=click.Choice(ev.LEARN_KINDS), default="other", show_default=True)
@click.option("--link", help="A web address, if there is one (https://...).")
@pass_app
def learn_add(app: App, title: str, kind: ev.LearnKind, link: str | None) -> None:
    """Put something on the list you share."""
    added = learning.add(app.journal(), title, kind=kind, link=link)
    _say(f"On the list. [{short(added.id)}]")


@learn.command("done")
@click.argument("item_id")
@click.option("--again", is_flag=True, help="Put it back on the list instead.")
@pass_app
def learn_done(app: App, item_id: str, again: bool) -> None:
    """Mark an item read, or talked over (either of you may)."""
    marked = learning.mark(app.journal(), item_id, "open" if again else "done")
    _say(
        "Back on the list." if again else f"{learning.done_word(marked.kind).capitalize()}. Lovely."
    )


@learn.command("list")
@json_option
@pass_app
def learn_list(app: App, as_json: bool) -> None:
    """The learning list, in the order things were added."""
    rows = learning.listing(app.journal())
    if as_json:
        click.echo(jsonview.dumps({"items": jsonview.rows(rows)}))
        return
    if not rows:
        _say("Nothing here yet.")
    for row in rows:
        status = learning.done_word(row.kind) if row.status == "done" else "on the list"
        link = f"  {row.link}" if row.link else ""
        _say(f"{row.id[:8]}  {row.title}  ·  {row.kind}  ·  {status}{link}")


# --- questions for the clinician ----------------------------------------------------------------


@click.group(cls=TextFirst, invoke_without_command=True)
@click.pass_context
def ask(ctx: click.Context) -> None:
    """Questions for the clinician, private unless you share them.

    `tend ask TEXT` notes one (the same as `tend ask add TEXT`); alone, `tend ask` lists
    yours, and `tend report --only-mine` gathers them into the report you take to an
    appointment.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(ask_list, as_json=False)


@ask.command("add")
@click.argument("text")
@click.option("--share", is_flag=True, help="Let your partner read this one too.")
@pass_app
def ask_add(app: App, text: str, share: bool) -> None:
    """Note a question for your next appointment (private unless --share)."""
    added = clinician.ask(app.journal(), text, share=share)
    kept = "private" if added.private else "shared"
    _say(f"Noted for your next appointment ({kept}). [{short(added.id)}]")
    _say("tend report --only-mine gathers your questions into the report.")


@ask.command("list")
@json_option
@pass_app
def ask_list(app: App, as_json: bool) -> None:
    """Your questions for the clinician."""
    rows = clinician.questions(app.journal())
    if as_json:
        click.echo(jsonview.dumps({"items": jsonview.rows(rows)}))
        return
    if not rows:
        _say("Nothing here yet.")
    for row in rows:
        _say(f"{row.id[:8]}  {row.date}  {row.text}" + ("" if row.private else "  (shared)"))


# --- who reached out -----------------------------------------------------------------------------


@click.command("reached-out")
@click.option("--week", help="ISO week, e.g. 2026-W49 (default: this week).")
@click.option("--month", help="A month, e.g. 2026-03.")
@json_option
@pass_app
def reached_out(app: App, week: str | None, month: str | None, as_json: bool) -> None:
    """The celebrations, thank-yous and offers each of you made for the other, in words."""
    shown = reaching.reached_out(app.journal(), week=week, month=month)
    if as_json:
        click.echo(jsonview.dumps(_reached_json(shown)))
        return
    span = f"{shown.start:%B %Y}" if shown.month else f"the week of {shown.start:%-d %B}"
    _say(f"Reaching out, {span}")
    if not shown.moments:
        _say("Nothing here yet. Reaching out can be small: a thank-you, a celebration, an offer.")
    day = None
    for moment in shown.moments:
        if moment.date != day:
            day = moment.date
            _say(f"{day:%A %-d %B}" if shown.month else f"{day:%A}")
        _say("  " + _moment_line(moment))


def _moment_line(moment: reaching.Moment) -> str:
    who = _name(moment.name)
    other = moment.for_name or "their partner"
    if moment.kind == "celebrated":
        note = f": {moment.note}" if moment.note else ""
        return f"{who} celebrated a small win, {moment.text}{note}"
    if moment.kind == "thanked":
        return f"{who} thanked {other}: {moment.text}"
    return f"{who} offered {moment.text}"


def _reached_json(shown: reaching.ReachedOut) -> dict[str, Any]:
    return {
        "start": shown.start.isoformat(),
        "end": shown.end.isoformat(),
        "moments": [
            {
                "date": m.date.isoformat(),
                "person": m.person.hex(),
                "name": m.name,
                "kind": m.kind,
                "text": m.text,
                "note": m.note,
                "for_person": m.for_person.hex() if m.for_person else None,
                "for_name": m.for_name,
            }
            for m in shown.moments
        ],
    }
