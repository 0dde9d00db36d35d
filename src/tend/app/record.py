"""Recording each kind of entry: validate, apply the person's defaults, append one event.

Every function returns the event as recorded (its id, and whether it went in private). The
words that confirm it to the person are the interface's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from tend.app import dates, finding, flare, settings, weeks
from tend.core.domain import events as ev
from tend.core.domain.validate import week_of
from tend.core.errors import UserError
from tend.core.ids import EventId
from tend.core.journal import Journal


@dataclass(frozen=True)
class Recorded:
    event: ev.Event
    private: bool
    flare: flare.FlareResponse | None = None  # a flare check-in: what it did to the goals

    @property
    def id(self) -> EventId:
        return self.event.id


def this_week(week: str | None) -> str:
    return week or week_of(dt.date.today())


def check_in(
    journal: Journal,
    *,
    day: ev.DayKind | None = None,
    energy: int | None = None,
    pain: int | None = None,
    mood: int | None = None,
    needs: Sequence[str] = (),
    offer: str | None = None,
    note: str | None = None,
    private: bool = False,
    on: dt.date | None = None,
    replaces: str | None = None,
) -> Recorded:
    """A check-in; with `replaces` (an id prefix), a correction of one of the person's own, on
    that check-in's day unless another is given."""
    body = ev.CheckIn(
        day=day, energy=energy, pain=pain, mood=mood, needs=tuple(needs), offer=offer, note=note
    )
    if on is not None:
        dates.not_after("date", on, journal.now().date(), "a check-in is about a day that has come")
    private = private or settings.private_by_default(journal, "checkin")
    supersedes = None
    if replaces:
        mine = finding.own_events(journal, ev.CheckIn.TYPE)
        supersedes = finding.resolve_id(replaces, mine, "check-in of yours")
        on = on or dt.date.fromisoformat(mine[supersedes].local_date)
    recorded = journal.record(body, private=private, on=on, supersedes=supersedes)
    return Recorded(recorded, private, flare.respond(journal, recorded, private))


@dataclass(frozen=True)
class ToCorrect:
    """One of the person's own check-ins, as it stands, to be corrected."""

    event: ev.Event
    body: ev.CheckIn
    private: bool


def check_in_to_correct(journal: Journal, entry_id: str) -> ToCorrect:
    """The person's own check-in an id prefix names, with whether it went in private (a
    correction of a private one stays private unless the person says otherwise)."""
    from tend.app import privacy

    mine = finding.own_events(journal, ev.CheckIn.TYPE)
    found = mine[finding.resolve_id(entry_id, mine, "check-in of yours")]
    assert isinstance(found.body, ev.CheckIn)
    private = found.id in privacy.kept_private(journal, journal.items())
    return ToCorrect(found, found.body, private)


def small_win(
    journal: Journal,
    title: str,
    *,
    category: ev.MilestoneCategory = "other",
    who: ev.Who = "both",
    note: str | None = None,
    private: bool = False,
) -> Recorded:
    body = ev.Milestone(title=title, category=category, who=who, note=note)
    return Recorded(journal.record(body, private=private), private)


def celebrate(journal: Journal, small_win_id: str, note: str | None = None) -> Recorded:
    target = finding.resolve_id(small_win_id, finding.small_wins(journal), "small win")
    return Recorded(journal.record(ev.Celebration(milestone=target, note=note)), False)


def thank(journal: Journal, text: str, *, private: bool = False) -> Recorded:
    return Recorded(journal.record(ev.Gratitude(text=text), private=private), private)


def take_back(journal: Journal, entry_id: str, reason: str | None = None) -> Recorded:
    """Take back one of the person's own entries: a new entry; nothing is rewritten."""
    target = finding.resolve_id(entry_id, finding.own_events(journal), "entry of yours")
    return Recorded(journal.record(ev.Retraction(target=target, reason=reason)), False)


def joy_idea(journal: Journal, title: str, *, cost: int = 1, week: str | None = None) -> Recorded:
    """A small-joy idea, for the week given or the week being planned (the coming one, after
    the week turns on Sunday evening: app/weeks.py)."""
    chosen = week or weeks.next_planning_week(journal)
    added = journal.record(lambda item: ev.JoyIdea(item=item, week=chosen, title=title, cost=cost))
    return Recorded(added, False)


def joy_status(
    journal: Journal, idea_id: str, status: ev.JoyStatusWord, week: str | None = None
) -> Recorded:
    """Mark a joy idea planned, done or let go (in its own week unless another is given)."""
    ideas = finding.joy_ideas(journal)
    item = finding.resolve_id(idea_id, ideas, "joy idea")
    body = ev.JoyStatus(item=item, week=week or ideas[item], status=status)
    return Recorded(journal.record(body), False)


def calendar_entry(
    journal: Journal,
    kind: ev.CalendarKind,
    on: dt.date,
    *,
    at: str | None = None,
    title: str | None = None,
    who: ev.Who = "me",
) -> Recorded:
    body = ev.CalendarEntry(kind=kind, date=on.isoformat(), time=at, title=title, who=who)
    return Recorded(journal.record(body), False)


def gentle_goal(
    journal: Journal,
    title: str,
    *,
    per_week: int = 1,
    flare_rule: ev.FlareRule = "pause",
    fallback: str | None = None,
) -> Recorded:
    added = journal.record(
        lambda gid: ev.GoalSet(
            goal=gid, title=title, per_week=per_week, flare_rule=flare_rule, fallback=fallback
        )
    )
    return Recorded(added, False)


def goal_week(
    journal: Journal,
    goal_id: str,
    outcome: ev.GoalOutcome,
    *,
    week: str | None = None,
    note: str | None = None,
) -> Recorded:
    """How a week went for a goal: met, adapted, or paused (for rest)."""
    goal = finding.resolve_id(goal_id, finding.goals(journal), "goal")
    body = ev.GoalWeek(goal=goal, week=this_week(week), outcome=outcome, note=note)
    return Recorded(journal.record(body), False)


def ritual(
    journal: Journal,
    title: str,
    *,
    cadence: ev.Cadence = "weekly",
    fallback: str | None = None,
) -> Recorded:
    added = journal.record(
        lambda rid: ev.RitualSet(ritual=rid, title=title, cadence=cadence, fallback=fallback)
    )
    return Recorded(added, False)


def partnership_week(
    journal: Journal,
    *,
    week: str | None = None,
    appreciations: Sequence[str] = (),
    went_well: str | None = None,
    adjustment: str | None = None,
) -> Recorded:
    body = ev.PartnershipWeek(
        week=this_week(week),
        appreciations=tuple(appreciations),
        went_well=went_well,
        adjustment=adjustment,
    )
    return Recorded(journal.record(body), False)


def comfort_signal(
    journal: Journal,
    signal: ev.Signal,
    *,
    note: str | None = None,
    private: bool = False,
    share: bool = False,
) -> Recorded:
    """A comfort signal: private when asked, or by default if this device keeps them so,
    unless `share` asks to share this one anyway."""
    if private and share:
        raise UserError("a comfort signal is either private or shared: give --private or --share")
    private = private or (settings.private_by_default(journal, "comfort") and not share)
    body = ev.ComfortSignal(signal=signal, note=note)
    return Recorded(journal.record(body, private=private), private)


def boundary(journal: Journal, text: str) -> Recorded:
    return Recorded(journal.record(lambda bid: ev.Boundary(boundary=bid, text=text)), False)


def care_task(
    journal: Journal,
    title: str,
    *,
    owner: ev.Who = "me",
    cadence: ev.Cadence = "weekly",
    rotate: bool = False,
) -> Recorded:
    """A care task; with `rotate`, `owner` has it this ISO week and the other partner the next."""
    added = journal.record(
        lambda tid: ev.CareTask(task=tid, title=title, owner=owner, cadence=cadence, rotate=rotate)
    )
    return Recorded(added, False)


def care_swap(
    journal: Journal,
    task_id: str,
    to: ev.Who,
    *,
    note: str | None = None,
    week: str | None = None,
) -> Recorded:
    """Swap who does a care task: for `week` only when given, and always for one week when the
    task turns about weekly (this week, unless another is given): the rota carries on after it.
    Otherwise from now on."""
    task = finding.resolve_id(task_id, finding.care_tasks(journal), "care task")
    if week is None and finding.rotates(journal, task):
        week = week_of(journal.now().date())
    body = ev.CareSwap(task=task, to=to, note=note, week=week)
    return Recorded(journal.record(body), False)
