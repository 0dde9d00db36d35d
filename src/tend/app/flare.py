"""What a flare day does to the gentle goals: each active goal's flare rule, applied to its week.

`pause` marks the goal's week paused (rest honoured), `halve` marks it adapted with half the
target (rounded up, at least one), `keep` leaves it. A week already marked (by either of you),
or already bent by a flare once, is left as it is, so a second flare day in the week writes
nothing more. What a flare wrote is undone by taking back those entries (`undo`), which only
their author can do. A private flare check-in bends no shared goal: the goals' weeks would
tell the partner what the check-in keeps to oneself.

The response also gathers what a flare day offers: the fallbacks of goals and rituals
("if fatigue comes, then ...") and the care tasks one does alone this week.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tend.app import look
from tend.core.domain import events as ev
from tend.core.domain.codec import decode_event
from tend.core.domain.validate import week_of
from tend.core.errors import UserError
from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.core.views import keeping, projections

if TYPE_CHECKING:
    from tend.app.anchors import AnchorRow

Bend = Literal["paused", "halved", "kept", "left"]


@dataclass(frozen=True)
class GoalBend:
    """What a flare did to one goal's week: `left` when it was already marked or bent."""

    goal: projections.GoalRow
    did: Bend
    target: int | None = None  # halved: the week's own target
    already: str | None = None  # left: the outcome the week already had, if any


@dataclass(frozen=True)
class FlareResponse:
    week: str
    private: bool  # a private check-in: the shared goals were left as they were
    bends: list[GoalBend] = field(default_factory=list)
    fallbacks: list[tuple[str, str]] = field(default_factory=list)  # (goal or ritual, fallback)
    swappable: list[projections.CareRow] = field(default_factory=list)
    anchor: AnchorRow | None = None  # a memory to hold on to, if any were noted

    @property
    def wrote(self) -> bool:
        return any(b.did in ("paused", "halved") for b in self.bends)


def respond(journal: Journal, checkin: ev.Event, private: bool) -> FlareResponse | None:
    """After a check-in: on a flare day, bend the goals of its week and gather what to offer."""
    body = checkin.body
    if not isinstance(body, ev.CheckIn) or body.day != "flare":
        return None
    week = week_of(dt.date.fromisoformat(checkin.local_date))
    from tend.app import anchors  # anchors records through app.record, which calls here

    bends = [] if private else bend_goals(journal, week, again=False)
    return FlareResponse(
        week,
        private,
        bends,
        fallbacks(journal),
        look.own_care_tasks(journal, week),
        anchors.for_a_hard_day(journal, body.day),
    )


def bend_goals(journal: Journal, week: str, *, again: bool = True) -> list[GoalBend]:
    """Apply each active goal's flare rule to `week`. Without `again`, a goal a flare already
    bent this week (even if that was undone since) is left as it is."""
    bent = set() if again else _bent_by_a_flare(journal, week)
    out = []
    for goal in projections.goals(journal.items(), [week]):
        if not goal.active:
            continue
        outcome = goal.weeks.get(week)
        if goal.id in bent:
            out.append(GoalBend(goal, "left"))  # a flare bent it already this week
        elif outcome:
            out.append(GoalBend(goal, "left", already=outcome))
        elif goal.flare_rule == "keep":
            out.append(GoalBend(goal, "kept"))
        elif goal.flare_rule == "halve":
            target = max(1, -(-goal.per_week // 2))
            _write(journal, goal, week, "adapted", target)
            out.append(GoalBend(goal, "halved", target))
        else:
            _write(journal, goal, week, "paused", None)
            out.append(GoalBend(goal, "paused"))
    return out


def undo(journal: Journal, week: str | None = None) -> list[str]:
    """Take back what a flare of yours wrote to the goals' `week` (default: this week); returns
    the titles of the goals put back as they were."""
    chosen = week or week_of(journal.now().date())
    titles = {g.id: g.title for g in projections.goals(journal.items())}
    me = journal.device.person
    shown = projections.shared_events(journal.items(), "goals")
    mine = [
        e
        for e in shown
        if e.author == me and isinstance(e.body, ev.GoalWeek) and e.body.flare
        if e.body.week == chosen
    ]
    if not mine:
        raise UserError(f"nothing a flare of yours changed in the goals of {chosen} to undo")
    for entry in mine:
        journal.record(ev.Retraction(target=entry.id, reason="undo a flare's change"))
    return [titles.get(_goal_of(e).hex(), "a goal") for e in mine]


def fallbacks(journal: Journal) -> list[tuple[str, str]]:
    """(title, fallback) of each active goal and ritual that has one."""
    items = journal.items()
    goals = [(g.title, g.fallback) for g in projections.goals(items) if g.active]
    rituals = [(r.title, r.fallback) for r in keeping.rituals(items) if r.active]
    return [(title, fb) for title, fb in goals + rituals if fb]


def _write(
    journal: Journal,
    goal: projections.GoalRow,
    week: str,
    outcome: ev.GoalOutcome,
    target: int | None,
) -> None:
    body = ev.GoalWeek(
        goal=EventId(bytes.fromhex(goal.id)), week=week, outcome=outcome, target=target, flare=True
    )
    journal.record(body)


def _bent_by_a_flare(journal: Journal, week: str) -> set[str]:
    """The goals a flare (anyone's) wrote in `week`, including writes taken back since."""
    bent = set()
    for item in journal.items():
        if item.type == ev.GoalWeek.TYPE:
            body = decode_event(item.raw).body
            if isinstance(body, ev.GoalWeek) and body.flare and body.week == week:
                bent.add(body.goal.hex())
    return bent


def _goal_of(entry: ev.Event) -> EventId:
    assert isinstance(entry.body, ev.GoalWeek)
    return entry.body.goal
