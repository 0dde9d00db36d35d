"""What a report to look back with (or to show a clinician) says: the report's model.

A report covers a range of days and says, for each person, their energy and pain over time and
the rest days they honoured (rest counts as kept), then the small wins and the thank-yous.
Nothing is scored or counted against anyone: a day with no check-in simply has no point.

Over long ranges a daily line is both slow to draw and hard to read, so beyond
`DAILY_UP_TO_DAYS` a chart's point is a week's mean and a small-win mark stands for a week that
had one or more (`Report.chart`).

This is a frozen tree of plain values, pure over the items a device can read: no words of the
page, no HTML, no drawing, no file. The faces render it (tend.present.report_page); a name that
has not reached this device is None here, and each face says it its own way.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tend.core.domain.events import (
    Boundary,
    Celebration,
    ClinicianQuestion,
    ComfortSignal,
    Event,
    EventType,
    Gratitude,
    Milestone,
    PartnershipWeek,
)
from tend.core.ids import PersonId
from tend.core.views import projections
from tend.core.views.read_model import Item

DAILY_UP_TO_DAYS = 731  # about two years: beyond this, charts show weekly means
DATED_TYPES = frozenset({"checkin", "milestone", "gratitude", "milestone.celebrated", "calendar"})
REST_KINDS = ("rest", "flare")  # a flare day is rest too, and counts as kept

Point = tuple[dt.date, float]  # a day (or a week's Thursday) and its value, 0 to 10


class Whose(StrEnum):
    """Whose small win it is, as the person who noted it said (Milestone.who)."""

    NOTER = "me"
    PARTNER = "partner"
    BOTH = "both"


@dataclass(frozen=True)
class PersonSeries:
    """One person's days: (day, value) points and their rest days, one per day noted."""

    person: PersonId
    name: str
    energy: tuple[Point, ...] = ()
    pain: tuple[Point, ...] = ()
    rest: tuple[dt.date, ...] = ()

    @property
    def rest_days(self) -> int:
        return len(self.rest)

    def has_values(self) -> bool:
        return bool(self.energy or self.pain)


@dataclass(frozen=True)
class Chart:
    """What one person's chart shows over [start, end]: in a weekly report, weekly means, one
    win mark per week that had a win, and no rest marks (a week is not a rest day)."""

    start: dt.date
    end: dt.date
    weekly: bool
    energy: tuple[Point, ...]
    pain: tuple[Point, ...]
    wins: tuple[dt.date, ...]
    rest: tuple[dt.date, ...]


@dataclass(frozen=True)
class Cheer:
    """One celebration of a small win, with what was said."""

    by: str | None
    note: str | None


@dataclass(frozen=True)
class SmallWin:
    day: dt.date
    title: str
    category: str
    note: str | None
    noted_by: str | None  # the name of the person who wrote it down
    whose: Whose
    partner: str | None  # the noter's partner: the one other name this device knows, if one
    celebrated_by: tuple[str | None, ...]  # each name once, in the order they celebrated
    private: bool = False  # only its author's devices read it: "(only you)"
    cheers: tuple[Cheer, ...] = ()  # every celebration, with its note, in merge order


@dataclass(frozen=True)
class ThankYou:
    day: dt.date
    by: str | None
    text: str
    private: bool = False  # only its author's devices read it: "(only you)"


@dataclass(frozen=True)
class Question:
    """A question for the clinician, and the day it was noted."""

    day: dt.date
    text: str


@dataclass(frozen=True)
class PartnershipNote:
    """A weekly state of the partnership, in full; `day` is its week's Monday."""

    day: dt.date
    week: str
    by: str | None
    appreciations: tuple[str, ...]
    went_well: str | None
    adjustment: str | None


@dataclass(frozen=True)
class BoundaryNote:
    day: dt.date
    by: str | None
    text: str
    active: bool  # False: set aside


@dataclass(frozen=True)
class SignalNote:
    day: dt.date
    by: str | None
    signal: str
    note: str | None
    private: bool = False  # only its author's devices read it: "(only you)"


@dataclass(frozen=True)
class Report:
    start: dt.date
    end: dt.date
    private_only: bool  # only the owner's own entries, e.g. to share with a clinician
    owner: str | None  # the name of the person whose device made the report
    people: tuple[PersonSeries, ...]  # the owner first, then by name
    small_wins: tuple[SmallWin, ...]  # by day, then in merge order
    thank_yous: tuple[ThankYou, ...]
    partnership: tuple[PartnershipNote, ...] = ()  # by week
    boundaries: tuple[BoundaryNote, ...] = ()
    signals: tuple[SignalNote, ...] = ()  # only when the report's author asked for them
    with_signals: bool = False
    # The owner's questions for the clinician, only in a report of their own entries.
    questions: tuple[Question, ...] = ()

    @property
    def weekly(self) -> bool:
        return (self.end - self.start).days + 1 > DAILY_UP_TO_DAYS

    def win_days(self) -> list[dt.date]:
        return sorted({w.day for w in self.small_wins})

    def chart(self, series: PersonSeries) -> Chart:
        """What `series`'s chart shows, day by day or, over a long range, week by week."""
        if not self.weekly:
            wins = tuple(self.win_days())
            return Chart(self.start, self.end, False, series.energy, series.pain, wins, series.rest)
        return Chart(
            self.start,
            self.end,
            True,
            tuple(weekly_means(series.energy)),
            tuple(weekly_means(series.pain)),
            tuple(weeks_of(self.win_days())),
            (),
        )


def own_items(items: Iterable[Item], me: PersonId) -> list[Item]:
    """Only the entries `me` wrote (their name, check-ins, wins, thank-yous, private ones too)."""
    return [i for i in items if i.author == me]


def default_range(
    items: Sequence[Item], since: dt.date | None, until: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """[since, until], filling a missing end with the first recorded day or today."""
    end = until or today
    if since is None:
        days = [i.local_date for i in items if i.type in DATED_TYPES]
        first = dt.date.fromisoformat(min(days)) if days else end
        since = min(first, end)
    return since, end


def gather(
    items: Sequence[Item],
    me: PersonId,
    start: dt.date,
    end: dt.date,
    *,
    private_only: bool,
    with_signals: bool = False,
) -> Report:
    """Everything the report says, from the items this device can read. Comfort signals are
    in it only `with_signals`: a report may be handed to someone outside the two of you."""
    if private_only:
        items = own_items(items, me)
    view = projections.period(items, start, end, me)
    names = projections.names(items)
    order = sorted(view.people, key=lambda p: (p != me, view.people[p].name))
    by_date = lambda ev: (ev.local_date, ev.hlc)  # noqa: E731
    return Report(
        start=start,
        end=end,
        private_only=private_only,
        owner=names.get(me),
        people=tuple(_series(p, view.people[p]) for p in order),
        small_wins=tuple(
            _small_win(ev, names, view.celebrations.get(ev.id, []), ev.id in view.private)
            for ev in sorted(view.milestones, key=by_date)
        ),
        thank_yous=tuple(
            _thank_you(ev, names, ev.id in view.private)
            for ev in sorted(view.gratitude, key=by_date)
        ),
        questions=questions_for_clinician(items, me, end) if private_only else (),
        partnership=tuple(
            _partnership(ev, names)
            for ev in sorted(view.partnership, key=lambda ev: (_week_of(ev), ev.hlc))
        ),
        boundaries=tuple(_boundary(ev, names) for ev in sorted(view.boundaries, key=by_date)),
        signals=tuple(
            _signal(ev, names, ev.id in view.private) for ev in sorted(view.comfort, key=by_date)
        )
        if with_signals
        else (),
        with_signals=with_signals,
    )


def _week_of(ev: Event) -> str:
    assert isinstance(ev.body, PartnershipWeek)
    return ev.body.week


def _partnership(ev: Event, names: dict[PersonId, str]) -> PartnershipNote:
    body = ev.body
    assert isinstance(body, PartnershipWeek)
    year, week = body.week.split("-W")
    return PartnershipNote(
        day=dt.date.fromisocalendar(int(year), int(week), 1),
        week=body.week,
        by=names.get(ev.author),
        appreciations=body.appreciations,
        went_well=body.went_well,
        adjustment=body.adjustment,
    )


def _boundary(ev: Event, names: dict[PersonId, str]) -> BoundaryNote:
    body = ev.body
    assert isinstance(body, Boundary)
    day = dt.date.fromisoformat(ev.local_date)
    return BoundaryNote(day, names.get(ev.author), body.text, body.active)


def _signal(ev: Event, names: dict[PersonId, str], private: bool) -> SignalNote:
    body = ev.body
    assert isinstance(body, ComfortSignal)
    return SignalNote(
        dt.date.fromisoformat(ev.local_date), names.get(ev.author), body.signal, body.note, private
    )


def questions_for_clinician(
    items: Sequence[Item], me: PersonId, end: dt.date
) -> tuple[Question, ...]:
    """The questions `me` noted up to `end`, oldest first: a question asked before the range
    began is still waiting for the next appointment."""
    mine = [i for i in items if i.author == me and i.type == EventType.CLINICIAN_QUESTION]
    asked = projections.timeline(
        [*mine, *(i for i in items if i.type == EventType.RETRACT and i.author == me)],
        until=end,
    )
    return tuple(
        Question(dt.date.fromisoformat(ev.local_date), ev.body.text)
        for ev in asked
        if isinstance(ev.body, ClinicianQuestion)
    )


def _series(person: PersonId, days: projections.PersonDays) -> PersonSeries:
    energy: list[Point] = []
    pain: list[Point] = []
    rest: list[dt.date] = []
    for day_iso, checkin in sorted(days.checkins.items()):
        day = dt.date.fromisoformat(day_iso)
        if checkin.energy is not None:
            energy.append((day, float(checkin.energy)))
        if checkin.pain is not None:
            pain.append((day, float(checkin.pain)))
        if checkin.day in REST_KINDS:
            rest.append(day)
    return PersonSeries(person, days.name, tuple(energy), tuple(pain), tuple(rest))


def _small_win(
    ev: Event, names: dict[PersonId, str], cheers: Sequence[Event], private: bool
) -> SmallWin:
    body = ev.body
    assert isinstance(body, Milestone)
    others = sorted({n for p, n in names.items() if p != ev.author})
    return SmallWin(
        day=dt.date.fromisoformat(ev.local_date),
        title=body.title,
        category=body.category,
        note=body.note,
        noted_by=names.get(ev.author),
        whose=_whose(body.who),
        partner=others[0] if len(others) == 1 else None,
        celebrated_by=tuple(dict.fromkeys(names.get(c.author) for c in cheers)),
        private=private,
        cheers=tuple(Cheer(names.get(c.author), _cheer_note(c)) for c in cheers),
    )


def _cheer_note(cheer: Event) -> str | None:
    return cheer.body.note if isinstance(cheer.body, Celebration) else None


def _whose(who: str) -> Whose:
    if who == Whose.BOTH:
        return Whose.BOTH
    return Whose.NOTER if who == Whose.NOTER else Whose.PARTNER


def _thank_you(ev: Event, names: dict[PersonId, str], private: bool) -> ThankYou:
    body = ev.body
    assert isinstance(body, Gratitude)
    day = dt.date.fromisoformat(ev.local_date)
    return ThankYou(day, names.get(ev.author), body.text, private)


def weekly_means(points: Sequence[Point]) -> list[Point]:
    """One point per week that has values: the mean, placed mid-week (Thursday)."""
    weeks: dict[dt.date, list[float]] = {}
    for day, value in points:
        weeks.setdefault(day - dt.timedelta(days=day.weekday()), []).append(value)
    return [
        (monday + dt.timedelta(days=3), statistics.fmean(values))
        for monday, values in sorted(weeks.items())
    ]


def weeks_of(days: Iterable[dt.date]) -> list[dt.date]:
    """The Thursday of each week that holds one of `days`, once each."""
    return sorted({d - dt.timedelta(days=d.weekday()) + dt.timedelta(days=3) for d in days})
