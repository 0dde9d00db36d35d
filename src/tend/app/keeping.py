"""Keeping what you share over time: the lists of rituals and boundaries, marking a ritual kept,
and editing, retiring and bringing back rituals, boundaries, gentle goals and care tasks.

An edit changes only the fields it is given; retiring sets an object aside (`active` false), and
bringing it back undoes that. Retired ones are left out of the lists unless asked for. Who may
change what is the object's rule, checked here to say so plainly and enforced again where the
shared state is derived (core/domain/shared_state.py), so a modified client gains nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from tend.app import dates, finding, look
from tend.app.record import Recorded
from tend.core.domain import events as ev
from tend.core.domain.validate import week_of
from tend.core.errors import UserError
from tend.core.ids import EventId, PersonId
from tend.core.journal import Journal
from tend.core.views import keeping, projections

R = TypeVar("R", projections.GoalRow, projections.CareRow, keeping.RitualRow, keeping.BoundaryRow)
Kind = Literal["goal", "ritual", "boundary", "care task"]


def current_week(journal: Journal) -> str:
    """The ISO week this device's clock is in."""
    return week_of(journal.now().date())


# --- the lists ------------------------------------------------------------------------------------


def rituals(journal: Journal, *, everything: bool = False) -> list[keeping.RitualRow]:
    """The rituals you keep (with `everything`, the retired ones too)."""
    return [r for r in keeping.rituals(journal.items()) if everything or r.active]


@dataclass(frozen=True)
class Boundaries:
    rows: list[keeping.BoundaryRow]
    names: look.Names
    me: PersonId

    def whose(self, row: keeping.BoundaryRow) -> str:
        if row.by == self.me.hex():
            return "yours"
        name = next((n for p, n in self.names.items() if p.hex() == row.by), None)
        return f"{name}'s" if name else "your partner's"


def boundaries(journal: Journal, *, everything: bool = False) -> Boundaries:
    """The boundaries each of you set (with `everything`, the ones set aside too)."""
    items = journal.items()
    rows = [b for b in keeping.boundaries(items) if everything or b.active]
    return Boundaries(rows, projections.names(items), journal.device.person)


def goals(
    journal: Journal, week: str | None = None, *, everything: bool = False
) -> list[projections.GoalRow]:
    """Gentle goals and how `week` (default: this week) went for each."""
    rows = projections.goals(journal.items(), [week or current_week(journal)])
    return [g for g in rows if everything or g.active]


# --- keeping a ritual -----------------------------------------------------------------------------


def keep_ritual(journal: Journal, ritual_id: str, on: dt.date | None = None) -> Recorded:
    """Say "we did it": a ritual kept today, or on a day that has come."""
    row = _ritual(journal, ritual_id)
    if not row.active:
        raise UserError(f"the ritual '{row.title}' is retired; bring it back first")
    today = journal.now().date()
    day = dates.not_after("date", on or today, today, "a ritual is kept on a day that has come")
    body = ev.RitualKept(ritual=EventId(bytes.fromhex(row.id)), date=day.isoformat())
    return Recorded(journal.record(body), False)


# --- edits, retiring, bringing back ---------------------------------------------------------------


def edit_goal(
    journal: Journal,
    goal_id: str,
    *,
    title: str | None = None,
    per_week: int | None = None,
    flare_rule: ev.FlareRule | None = None,
    fallback: str | None = None,
    active: bool | None = None,
) -> Recorded:
    """Change only what is given ("" as the fallback takes it away)."""
    row = _one(goal_id, projections.goals(journal.items()), "goal")
    _check_active_changes(row.active, active, "goal", row.title)
    body = ev.GoalEdit(
        goal=_id(row.id),
        title=title,
        per_week=per_week,
        flare_rule=flare_rule,
        fallback=fallback,
        active=active,
    )
    return Recorded(journal.record(body), False)


def edit_ritual(
    journal: Journal,
    ritual_id: str,
    *,
    title: str | None = None,
    cadence: ev.Cadence | None = None,
    fallback: str | None = None,
    active: bool | None = None,
) -> Recorded:
    """Change only what is given ("" as the fallback takes it away)."""
    row = _ritual(journal, ritual_id)
    _check_active_changes(row.active, active, "ritual", row.title)
    body = ev.RitualEdit(
        ritual=_id(row.id), title=title, cadence=cadence, fallback=fallback, active=active
    )
    return Recorded(journal.record(body), False)


def edit_boundary(
    journal: Journal, boundary_id: str, *, text: str | None = None, active: bool | None = None
) -> Recorded:
    """Change a boundary's words, or set it aside: only the person who set it may."""
    shown = boundaries(journal, everything=True)
    row = _one(boundary_id, shown.rows, "boundary")
    if row.by != journal.device.person.hex():
        raise UserError(
            f"a boundary speaks for the person who set it: this one is {shown.whose(row)}, "
            "and only they can change it"
        )
    _check_active_changes(row.active, active, "boundary", row.text)
    body = ev.BoundaryEdit(boundary=_id(row.id), text=text, active=active)
    return Recorded(journal.record(body), False)


def edit_care_task(
    journal: Journal,
    task_id: str,
    *,
    title: str | None = None,
    owner: ev.Who | None = None,
    cadence: ev.Cadence | None = None,
    rotate: bool | None = None,
    active: bool | None = None,
) -> Recorded:
    """Change only what is given. A new owner counts from this week; turning the rotation off
    leaves the task with whoever has it this week."""
    week = current_week(journal)
    items = journal.items()
    row = _one(task_id, projections.care_rota(items, week), "care task")
    _check_active_changes(row.active, active, "care task", row.title)
    if rotate is not None and rotate == row.rotate:
        rotate = None  # as it is already: re-counting the turns would move them
    names = projections.names(items)
    if rotate is not None and owner is None:
        # Turning about starts, or stops, with whoever has it this week.
        owner = _relative(row.owner, journal.device.person, names)
        if rotate and owner == "both":
            raise UserError("a task you both do cannot turn about: give it one owner to rotate it")
    body = ev.CareEdit(
        task=_id(row.id), title=title, owner=owner, cadence=cadence, rotate=rotate, active=active
    )
    return Recorded(journal.record(body), False)


Editor = Callable[..., Recorded]
EDITORS: dict[Kind, Editor] = {
    "goal": edit_goal,
    "ritual": edit_ritual,
    "boundary": edit_boundary,
    "care task": edit_care_task,
}


def retire(journal: Journal, kind: Kind, object_id: str) -> Recorded:
    """Set one aside: it leaves the lists (and the flare rules), and can be brought back."""
    return EDITORS[kind](journal, object_id, active=False)


def bring_back(journal: Journal, kind: Kind, object_id: str) -> Recorded:
    """Undo a retirement."""
    return EDITORS[kind](journal, object_id, active=True)


# --- finding --------------------------------------------------------------------------------------


def _ritual(journal: Journal, ritual_id: str) -> keeping.RitualRow:
    return _one(ritual_id, keeping.rituals(journal.items()), "ritual")


def _one(prefix: str, rows: Sequence[R], what: str) -> R:
    """The row whose id starts with `prefix` (at least four characters, as everywhere)."""
    by_id = {_id(r.id): r for r in rows}
    return by_id[finding.resolve_id(prefix, by_id, what)]


def _id(hex_id: str) -> EventId:
    return EventId(bytes.fromhex(hex_id))


def _check_active_changes(now: bool, wanted: bool | None, what: str, title: str) -> None:
    if wanted is False and not now:
        raise UserError(f"the {what} '{title}' is already retired")
    if wanted is True and now:
        raise UserError(f"the {what} '{title}' is not retired")


def _relative(owner: str, me: PersonId, names: look.Names) -> ev.Who:
    """An owner as stored, in the words of the person editing: me, partner or both."""
    person = projections.owner_of(owner, names)
    if person == me:
        return "me"
    if person is not None or owner.startswith("partner-of:"):
        return "partner"
    return "both"
