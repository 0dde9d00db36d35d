"""Rituals and boundaries, and what every shared thing you keep can do over time: be listed,
changed, retired and brought back. `tend goal` and `tend care` take the same words
(cli/together_cmds.py builds them from here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click

from tend.app import keeping, record
from tend.cli import jsonview
from tend.cli.app import App, parse_date
from tend.cli.text import safe
from tend.core.domain import events as ev
from tend.core.ids import short
from tend.core.views.keeping import RitualRow

pass_app = click.make_pass_decorator(App)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")
all_option = click.option("--all", "everything", is_flag=True, help="Show the retired ones too.")
FALLBACK_HELP = 'If fatigue comes, then ... ("a short call instead"); offered on a flare day.'


class AddByDefault(click.Group):
    """A group whose words are its subcommands, and anything else is what to add:
    `tend ritual "TITLE"` is `tend ritual add "TITLE"`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["add", *args]
        return super().parse_args(ctx, args)


def lifecycle(group: click.Group, kind: keeping.Kind) -> None:
    """Add `retire` and `bring-back` for one kind of thing to its group."""

    @group.command("retire", help=f"Set a {kind} aside (it leaves the lists; bring-back undoes).")
    @click.argument("object_id", metavar="ID")
    @pass_app
    def retire(app: App, object_id: str) -> None:
        keeping.retire(app.journal(), kind, object_id)
        said = f"Set aside. `tend {group.name} bring-back {object_id}` brings it back."
        click.echo(safe(said))

    @group.command("bring-back", help=f"Bring a retired {kind} back.")
    @click.argument("object_id", metavar="ID")
    @pass_app
    def bring_back(app: App, object_id: str) -> None:
        keeping.bring_back(app.journal(), kind, object_id)
        click.echo("Brought back.")

    del retire, bring_back


def print_rows(rows: list[Any], as_json: bool, line: Callable[[Any], str]) -> None:
    if as_json:
        click.echo(jsonview.dumps({"items": jsonview.rows(rows)}))
    elif not rows:
        click.echo("Nothing here yet.")
    else:
        for row in rows:
            click.echo(safe(line(row) + ("  ·  retired" if not row.active else "")))


def fallback_words(fallback: str | None) -> str:
    return f"  ·  if fatigue comes: {fallback}" if fallback else ""


def active_option(what: str) -> Callable[[Any], Any]:
    return click.option(
        "--active/--retired",
        "active",
        default=None,
        help=f"Bring the {what} back, or set it aside.",
    )


# --- rituals --------------------------------------------------------------------------------------


@click.group(cls=AddByDefault)
def ritual() -> None:
    """Small rituals you keep together (`tend ritual TITLE` adds one)."""


@ritual.command("add")
@click.argument("title")
@click.option("--cadence", type=click.Choice(ev.CADENCES), default="weekly", show_default=True)
@click.option("--fallback", help=FALLBACK_HELP)
@pass_app
def ritual_add(app: App, title: str, cadence: ev.Cadence, fallback: str | None) -> None:
    """Add a small ritual you keep together."""
    added = record.ritual(app.journal(), title, cadence=cadence, fallback=fallback)
    click.echo(f"Ritual added. [{short(added.id)}]")


@ritual.command("list")
@all_option
@json_option
@pass_app
def ritual_list(app: App, everything: bool, as_json: bool) -> None:
    """Your rituals, and when each was last kept."""
    rows = keeping.rituals(app.journal(), everything=everything)
    print_rows(rows, as_json, _ritual_line)


def _ritual_line(row: RitualRow) -> str:
    kept = ""
    if row.last_kept:
        kept = f"  ·  last kept {dt.date.fromisoformat(row.last_kept):%A %-d %B}"
    return f"{row.id[:8]}  {row.title}  ·  {row.cadence}{kept}{fallback_words(row.fallback)}"


@ritual.command("keep")
@click.argument("ritual_id", metavar="ID")
@click.option("--date", "on", help="The day you kept it, if not today (e.g. yesterday).")
@pass_app
def ritual_keep(app: App, ritual_id: str, on: str | None) -> None:
    """We did it: mark a ritual kept (today, or on --date)."""
    kept = keeping.keep_ritual(app.journal(), ritual_id, parse_date("date", on))
    click.echo(f"Kept. Lovely. [{short(kept.id)}]")


@ritual.command("edit")
@click.argument("ritual_id", metavar="ID")
@click.option("--title")
@click.option("--cadence", type=click.Choice(ev.CADENCES))
@click.option("--fallback", help=FALLBACK_HELP + ' "" takes it away.')
@active_option("ritual")
@pass_app
def ritual_edit(
    app: App,
    ritual_id: str,
    title: str | None,
    cadence: ev.Cadence | None,
    fallback: str | None,
    active: bool | None,
) -> None:
    """Change a ritual: only what you name changes."""
    keeping.edit_ritual(
        app.journal(), ritual_id, title=title, cadence=cadence, fallback=fallback, active=active
    )
    click.echo("Changed.")


lifecycle(ritual, "ritual")


# --- boundaries -----------------------------------------------------------------------------------


@click.group(cls=AddByDefault)
def boundary() -> None:
    """Boundaries each of you set (`tend boundary TEXT` shares one). Only the person who set a
    boundary can change or retire it."""


@boundary.command("add")
@click.argument("text")
@pass_app
def boundary_add(app: App, text: str) -> None:
    """Share a boundary."""
    added = record.boundary(app.journal(), text)
    click.echo(f"Boundary shared. [{short(added.id)}]")


@boundary.command("list")
@all_option
@json_option
@pass_app
def boundary_list(app: App, everything: bool, as_json: bool) -> None:
    """The boundaries you each set, and whose each is."""
    shown = keeping.boundaries(app.journal(), everything=everything)
    print_rows(shown.rows, as_json, lambda b: f"{b.id[:8]}  {b.text}  ·  {shown.whose(b)}")


@boundary.command("edit")
@click.argument("boundary_id", metavar="ID")
@click.option("--text", help="The boundary in new words.")
@active_option("boundary")
@pass_app
def boundary_edit(app: App, boundary_id: str, text: str | None, active: bool | None) -> None:
    """Change one of your boundaries."""
    keeping.edit_boundary(app.journal(), boundary_id, text=text, active=active)
    click.echo("Changed.")


lifecycle(boundary, "boundary")
