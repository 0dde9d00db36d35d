"""Recording each kind of entry: validate, apply the person's defaults, append one event.

Every function returns the event as recorded (its id, and whether it went in private). The
words that confirm it to the person are the interface's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tend.app import correcting, dates, finding, flare, settings, weeks
from tend.core.domain import events as ev
from tend.core.domain.codec import decode_event
from tend.core.domain.validate import week_of
from tend.core.errors import UserError, ValidationError
from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.core.views import projections


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
    clear: Sequence[str] = (),
) -> Recorded:
    """A check-in; with `replaces` (an id prefix), a correction of one of the person's own that
    changes only what is given (and what `clear` names), on that check-in's day unless another
    is given."""
    _has_come(journal, on, "a check-in is about a day that has come")
    if replaces:
        _keeps_its_privacy("private", private)
        changes: dict[str, object] = dict(day=day, energy=energy, pain=pain, mood=mood)
        changes.update(needs=tuple(needs), offer=offer, note=note)
        return _corrected_check_in(journal, replaces, changes, clear, on)
    body = ev.CheckIn(
        day=day, energy=energy, pain=pain, mood=mood, needs=tuple(needs), offer=offer, note=note
    )
    private = private or settings.private_by_default(journal, "checkin")
    recorded = journal.record(body, private=private, on=on)
    return Recorded(recorded, private, flare.respond(journal, recorded, private))


def _corrected_check_in(
    journal: Journal,
    replaces: str,
    changes: Mapping[str, object],
    clear: Sequence[str],
    on: dt.date | None,
) -> Recorded:
    """A correction of a check-in. It is a new flare day only when it makes its day a flare day
    that was not one before (the day's values, `projections.day_values`): then the goals bend and
    the flare's offers come, as for a flare check-in. Correcting anything else of a flare day
    writes nothing more to the goals and offers nothing again."""
    target = correcting.current(journal, replaces, frozenset({ev.CheckIn.TYPE}), "check-in")
    day = on or dt.date.fromisoformat(target.event.local_date)
    was_flare = _flare_day(journal, day.isoformat())
    corrected = _corrected(journal, replaces, ev.CheckIn, changes, clear, on)
    if was_flare or not _flare_day(journal, corrected.event.local_date):
        return corrected
    response = flare.respond(journal, corrected.event, corrected.private)
    return Recorded(corrected.event, corrected.private, response)


def _flare_day(journal: Journal, day: str) -> bool:
    """Whether the person's day is a flare day by its values (its check-ins, as they stand)."""
    me = journal.device.person
    chosen = [
        decode_event(i.raw)
        for i in journal.items()
        if i.type == ev.EventType.RETRACT
        or (i.type == ev.EventType.CHECKIN and i.author == me and i.local_date == day)
    ]
    values = projections.day_values(chosen).get((me, day))
    return values is not None and values.day == "flare"


def small_win(
    journal: Journal,
    title: str | None,
    *,
    category: ev.MilestoneCategory | None = None,
    who: ev.Who | None = None,
    note: str | None = None,
    private: bool = False,
    on: dt.date | None = None,
    replaces: str | None = None,
    clear: Sequence[str] = (),
) -> Recorded:
    _has_come(journal, on, "a small win is about a day that has come")
    if replaces:
        _keeps_its_privacy("private", private)
        changes = dict(title=title, category=category, who=who, note=note)
        return _corrected(journal, replaces, ev.Milestone, changes, clear, on)
    body = ev.Milestone(
        title=_given("title", title), category=category or "other", who=who or "both", note=note
    )
    return Recorded(journal.record(body, private=private, on=on), private)


def celebrate(
    journal: Journal,
    small_win_id: str | None,
    note: str | None = None,
    *,
    on: dt.date | None = None,
    replaces: str | None = None,
    clear: Sequence[str] = (),
) -> Recorded:
    _has_come(journal, on, "a celebration is about a day that has come")
    if replaces:
        return _corrected(journal, replaces, ev.Celebration, {"note": note}, clear, on)
    wins = finding.small_wins(journal)
    target = finding.resolve_id(_given("small win id", small_win_id), wins, "small win")
    return Recorded(journal.record(ev.Celebration(milestone=target, note=note), on=on), False)


def thank(
    journal: Journal,
    text: str | None,
    *,
    private: bool = False,
    on: dt.date | None = None,
    replaces: str | None = None,
) -> Recorded:
    _has_come(journal, on, "a thank-you is about a day that has come")
    if replaces:
        _keeps_its_privacy("private", private)
        return _corrected(journal, replaces, ev.Gratitude, {"text": text}, (), on)
    body = ev.Gratitude(text=_given("text", text))
    return Recorded(journal.record(body, private=private, on=on), private)


def note(
    journal: Journal,
    text: str | None,
    *,
    share: bool = False,
    on: dt.date | None = None,
    replaces: str | None = None,
) -> Recorded:
    """A note of one's own about a day: private unless `share`; never a check-in, so it never
    changes the day's values."""
    _has_come(journal, on, "a note is about a day that has come")
    if replaces:
        _keeps_its_privacy("share", share)
        return _corrected(journal, replaces, ev.Note, {"text": text}, (), on)
    body = ev.Note(text=_given("text", text))
    return Recorded(journal.record(body, private=not share, on=on), not share)


def share(journal: Journal, entry_id: str) -> Recorded:
    """Share one of the person's own private entries with their partner, as it is."""
    return Recorded(correcting.share(journal, entry_id), False)


def _corrected(
    journal: Journal,
    replaces: str,
    kind: type[ev.Payload],
    changes: Mapping[str, object],
    clear: Sequence[str],
    on: dt.date | None,
) -> Recorded:
    recorded, private = correcting.correct(journal, replaces, kind, changes, clear, on=on)
    return Recorded(recorded, private)


def _keeps_its_privacy(option: str, given: bool) -> None:
    """A correction is private exactly when the entry it corrects is (sharing is its own step)."""
    if given:
        raise ValidationError(
            option, "left out when correcting: a correction is private when its entry is"
        )


def _has_come(journal: Journal, on: dt.date | None, what: str) -> None:
    if on is not None:
        dates.not_after(
            "date",
            on,
            journal.now().date(),
            f"{what}; for a day still to come, put it on the calendar",
        )


def _given(field: str, value: str | None) -> str:
    if value is None:
        raise ValidationError(field, "given (or --replaces ID to correct an entry of yours)")
    return value


def take_back(
    journal: Journal, entry_id: str, reason: str | None = None, *, forget: bool = False
) -> Recorded:
    """Take back one of the person's own entries: a new entry; nothing is rewritten. With
    `forget`, its words are also erased here at once, and on every honest device (and at the
    relay, at the next sync) as the retraction reaches them (core/journal/shredding.py): the
    words of every version of it, the ones it corrects, those that correct it, and a shared
    copy of any of them."""
    mine = finding.own_events(journal)
    target = finding.resolve_id(entry_id, mine, "entry of yours")
    if not forget:
        return Recorded(journal.record(ev.Retraction(target=target, reason=reason)), False)
    if mine[target].type not in ev.KEYED_KINDS:
        raise ValidationError(
            "forget", "an entry whose words you wrote (this one keeps none of its own)"
        )
    from tend.core.journal import shredding

    versions = shredding.versions(journal, target, mine[target].type)
    if len(versions) > ev.MAX_VERSIONS:
        raise UserError(
            f"that entry has more versions than one forget can name ({ev.MAX_VERSIONS})"
        )
    body = ev.Retraction(target=target, reason=reason, forget=True, versions=versions)
    recorded = Recorded(journal.record(body), False)
    shredding.apply_forgets(journal)
    return recorded


def joy_idea(journal: Journal, title: str, *, cost: int = 1, week: str | None = None) -> Recorded:
    """A small-joy idea, for the week given or the week being planned (the coming one, after
    the week turns on Sunday evening: app/weeks.py)."""
    chosen = weeks.named("week", week, ahead=True) or weeks.next_planning_week(journal)
    added = journal.record(lambda item: ev.JoyIdea(item=item, week=chosen, title=title, cost=cost))
    return Recorded(added, False)


def joy_status(
    journal: Journal, idea_id: str, status: ev.JoyStatusWord, week: str | None = None
) -> Recorded:
    """Mark a joy idea planned, done or let go (in its own week unless another is given)."""
    ideas = finding.joy_ideas(journal)
    item = finding.resolve_id(idea_id, ideas, "joy idea")
    chosen = weeks.named("week", week, ahead=True) or ideas[item]
    body = ev.JoyStatus(item=item, week=chosen, status=status)
    return Recorded(journal.record(body), False)


def calendar_entry(
    journal: Journal,
    kind: ev.CalendarKind | None,
    on: dt.date | None,
    *,
    at: str | None = None,
    title: str | None = None,
    who: ev.Who | None = None,
    replaces: str | None = None,
    clear: Sequence[str] = (),
) -> Recorded:
    """A rest day or an appointment, on any day (one still to come too)."""
    day = on.isoformat() if on else None
    if replaces:
        changes = dict(kind=kind, date=day, time=at, title=title, who=who)
        return _corrected(journal, replaces, ev.CalendarEntry, changes, clear, None)
    if kind is None:
        raise ValidationError("kind", "given: rest or appointment")
    body = ev.CalendarEntry(
        kind=kind, date=_given("date", day), time=at, title=title, who=who or "me"
    )
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
    replaces: str | None = None,
    clear: Sequence[str] = (),
) -> Recorded:
    if replaces:
        named = weeks.named("week", week, ahead=False)
        changes = dict(week=named, appreciations=tuple(appreciations), went_well=went_well)
        changes.update(adjustment=adjustment)
        return _corrected(journal, replaces, ev.PartnershipWeek, changes, clear, None)
    body = ev.PartnershipWeek(
        week=this_week(weeks.named("week", week, ahead=False)),
        appreciations=tuple(appreciations),
        went_well=went_well,
        adjustment=adjustment,
    )
    return Recorded(journal.record(body), False)


def comfort_signal(
    journal: Journal,
    signal: ev.Signal | None,
    *,
    note: str | None = None,
    private: bool = False,
    share: bool = False,
    on: dt.date | None = None,
    replaces: str | None = None,
    clear: Sequence[str] = (),
) -> Recorded:
    """A comfort signal: private when asked, or by default if this device keeps them so,
    unless `share` asks to share this one anyway. With `replaces`, a correction of one of the
    person's own, private exactly when that one is."""
    _has_come(journal, on, "a comfort signal is about a day that has come")
    if replaces:
        _keeps_its_privacy("private", private)
        _keeps_its_privacy("share", share)
        changes = {"signal": signal, "note": note}
        return _corrected(journal, replaces, ev.ComfortSignal, changes, clear, on)
    if signal is None:
        raise ValidationError("signal", "given: green, yellow, red or pause")
    if private and share:
        raise UserError("a comfort signal is either private or shared: give --private or --share")
    private = private or (settings.private_by_default(journal, "comfort") and not share)
    body = ev.ComfortSignal(signal=signal, note=note)
    return Recorded(journal.record(body, private=private, on=on), private)


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
