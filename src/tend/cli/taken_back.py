"""How the command line says that something was taken back: who, the day, the kind, the reason
given, and whether its words were forgotten. Never the words (core/views/projections.py).

Text lines and the stable JSON shape (`taken_back` and `unavailable` in `tend timeline --json`,
`taken_back` in `tend replay --json`; docs/user-guide.md documents the keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tend.cli.text import safe
from tend.core.ids import PersonId, event_id_at, short
from tend.core.views.projections import TakenBack
from tend.core.views.read_model import Item

_KINDS = {
    "checkin": "a check-in",
    "milestone": "a small win",
    "milestone.celebrated": "a celebration",
    "gratitude": "a thank-you",
    "calendar": "a calendar entry",
    "partnership.week": "a state of the partnership",
    "sealed": "a private entry",
    "share": "a shared entry",
    "note": "a note",
    "anchor": "an anchor memory",
    "learn.added": "something to learn about",
    "learn.status": "a mark on the learning list",
    "clinician.question": "a question for the clinician",
    "comfort.signal": "a comfort signal",
    "joy.added": "a joy idea",
    "joy.status": "a joy idea's status",
    "goal.set": "a goal",
    "goal.week": "a goal's week",
    "goal.edit": "a change to a goal",
    "ritual.set": "a ritual",
    "ritual.edit": "a change to a ritual",
    "ritual.kept": "a ritual kept",
    "boundary.set": "a boundary",
    "boundary.edit": "a change to a boundary",
    "care.task": "a care task",
    "care.swap": "a care swap",
    "care.edit": "a change to a care task",
}


def kind_words(kind: str | None) -> str:
    if kind is None:
        return "an entry"
    return _KINDS.get(kind, f"an entry ({kind})")


def line(row: TakenBack, names: dict[PersonId, str]) -> str:
    who = names.get(row.author, "?")
    what = f"{row.day}  {who} took back {kind_words(row.kind)}"
    if row.forgotten:
        what += "; its words are forgotten"
    if row.reason:
        what += f": \u201c{row.reason}\u201d"
    return safe(what)


def echo(
    rows: Sequence[TakenBack], names: dict[PersonId, str], missing: Sequence[Item] = ()
) -> None:
    if rows:
        click.echo("Taken back (the words are not shown):")
        for row in rows:
            click.echo(f"  {line(row, names)}")
    if missing:
        click.echo("Words not available here (tend doctor says more):")
        for item in missing:
            who = names.get(item.author, "?")
            ident = short(event_id_at(item.log, item.seq))
            click.echo(safe(f"  {item.local_date}  {who}  [{ident}]"))


def record(row: TakenBack, names: dict[PersonId, str]) -> dict[str, Any]:
    return {
        "person": row.author.hex(),
        "name": names.get(row.author),
        "id": row.target.hex(),
        "date": row.day,
        "kind": row.kind,
        "reason": row.reason,
        "forgotten": row.forgotten,
    }


def missing_record(item: Item, names: dict[PersonId, str]) -> dict[str, Any]:
    return {
        "person": item.author.hex(),
        "name": names.get(item.author),
        "id": event_id_at(item.log, item.seq).hex(),
        "date": item.local_date,
    }
