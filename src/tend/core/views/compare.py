"""Two periods side by side ("this March beside last March"), as a pure function of items.

A period is a month ("2026-03"), an ISO week ("2026-W11") or a year ("2026"). What is counted
leads with small wins and rest honoured: small wins, celebrations, thank-yous, joys done, rest
days honoured, goal weeks met, adapted or paused for rest. Only then come the averages of
energy and pain per partner, which are what was noted, never a score.

Days are counted as the week and month views count them: each person's last check-in of a day
(after corrections), and only entries that were not taken back. Joys and goal weeks belong to an
ISO week; a week belongs to the month or year that holds its Thursday (the ISO 8601 rule), so a
week that straddles two months is counted once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tend.core.domain.codec import decode_event
from tend.core.domain.events import Celebration, Gratitude, Milestone
from tend.core.domain.validate import week_of
from tend.core.errors import ValidationError
from tend.core.ids import PersonId
from tend.core.views import projections
from tend.core.views.projections import day_values, visible
from tend.core.views.projections import names as person_names
from tend.core.views.read_model import Item

PERIOD_HELP = "a month like 2026-03, an ISO week like 2026-W11, or a year like 2026"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_COUNTED = frozenset({"checkin", "milestone", "milestone.celebrated", "gratitude"})
_ALWAYS = frozenset({"person.named", "retract"})
REST_KINDS = ("rest", "flare")  # a flare day is a rest day too: both count as rest honoured


@dataclass(frozen=True)
class Period:
    """A named span of days, both ends included."""

    text: str  # as given: "2026-03", "2026-W11" or "2026"
    kind: str  # "month", "week" or "year"
    start: dt.date
    end: dt.date

    @property
    def label(self) -> str:
        """How people say it: "March 2026", "week of 9 March 2026", "2026"."""
        if self.kind == "month":
            return f"{self.start:%B %Y}"
        if self.kind == "week":
            return f"week of {self.start:%-d %B %Y}"
        return self.text

    @property
    def short_label(self) -> str:
        """As short as a column heading needs: "March 2026", "9-15 Mar 2026", "2026"."""
        if self.kind != "week":
            return self.label
        first, last = self.start, self.end
        if first.year != last.year:
            return f"{first:%-d %b %Y}-{last:%-d %b %Y}"
        if first.month != last.month:
            return f"{first:%-d %b}-{last:%-d %b %Y}"
        return f"{first.day}-{last:%-d %b %Y}"

    def weeks(self) -> list[str]:
        """The ISO weeks that belong to this period: those whose Thursday falls inside it."""
        first = self.start - dt.timedelta(days=self.start.weekday()) + dt.timedelta(days=3)
        if first < self.start:
            first += dt.timedelta(days=7)
        out = []
        thursday = first
        while thursday <= self.end:
            out.append(week_of(thursday))
            thursday += dt.timedelta(days=7)
        return out


def parse_period(field_name: str, text: str) -> Period:
    """A month, ISO week or year; a ValidationError naming `field_name` otherwise."""
    value = text.strip()
    try:
        if found := _MONTH.match(value):
            start = dt.date(int(found.group(1)), int(found.group(2)), 1)
            following = (start + dt.timedelta(days=32)).replace(day=1)
            return Period(value, "month", start, following - dt.timedelta(days=1))
        if found := _WEEK.match(value):
            start = dt.date.fromisocalendar(int(found.group(1)), int(found.group(2)), 1)
            return Period(value, "week", start, start + dt.timedelta(days=6))
        if _YEAR.match(value):
            year = int(value)
            return Period(value, "year", dt.date(year, 1, 1), dt.date(year, 12, 31))
    except (ValueError, OverflowError):
        pass  # month 13, week 54, year 0000, or past the end of the calendar
    raise ValidationError(field_name, PERIOD_HELP, text)


@dataclass
class PersonSummary:
    person: PersonId
    name: str
    rest_days_honoured: int = 0
    energy: list[int] = field(default_factory=list)  # one value per day that noted energy
    pain: list[int] = field(default_factory=list)

    @staticmethod
    def _average(values: list[int]) -> float | None:
        return round(sum(values) / len(values), 2) if values else None

    @property
    def energy_average(self) -> float | None:
        return self._average(self.energy)

    @property
    def pain_average(self) -> float | None:
        return self._average(self.pain)


@dataclass
class PeriodSummary:
    period: Period
    milestones: int = 0
    celebrations: int = 0
    gratitude: int = 0
    joys_done: int = 0
    goals_met: int = 0
    goals_adapted: int = 0
    goals_paused: int = 0
    people: list[PersonSummary] = field(default_factory=list)

    @property
    def rest_days_honoured(self) -> int:
        return sum(p.rest_days_honoured for p in self.people)

    def is_empty(self) -> bool:
        counts = (self.milestones, self.celebrations, self.gratitude, self.joys_done)
        goals = self.goals_met + self.goals_adapted + self.goals_paused
        noted = any(p.energy or p.pain or p.rest_days_honoured for p in self.people)
        return not any(counts) and not goals and not noted


def summarise(items: Sequence[Item], period: Period, me: PersonId | None = None) -> PeriodSummary:
    """What one period holds: small wins and rest first, then what each person noted.

    People are listed `me` first, then by name, as `tend today` lists them.
    """
    known = person_names(items)
    lo, hi = period.start.isoformat(), period.end.isoformat()
    chosen = [
        decode_event(i.raw)
        for i in items
        if i.type in _ALWAYS or (i.type in _COUNTED and lo <= i.local_date <= hi)
    ]
    summary = PeriodSummary(period)
    last = {  # the day's values: per field, its latest check-in that names it
        key: values for key, values in day_values(chosen).items() if lo <= key[1] <= hi
    }
    for ev in visible(chosen):
        if not lo <= ev.local_date <= hi:
            continue
        body = ev.body
        if isinstance(body, Milestone):
            summary.milestones += 1
        elif isinstance(body, Celebration):
            summary.celebrations += 1
        elif isinstance(body, Gratitude):
            summary.gratitude += 1
    order = sorted(known, key=lambda p: (p != me, known[p]))
    people = {p: PersonSummary(p, known[p]) for p in order}
    for (author, _day), checkin in sorted(last.items(), key=lambda kv: kv[0][1]):
        person = people.get(author)
        if person is None:
            continue  # someone whose name has not reached this device: not shown anywhere
        if checkin.day in REST_KINDS:
            person.rest_days_honoured += 1
        if checkin.energy is not None:
            person.energy.append(checkin.energy)
        if checkin.pain is not None:
            person.pain.append(checkin.pain)
    summary.people = list(people.values())
    _count_shared(items, period, summary)
    return summary


def _count_shared(items: Sequence[Item], period: Period, summary: PeriodSummary) -> None:
    """Joys done and goal weeks, from the shared documents."""
    weeks = set(period.weeks())
    wanted = {f"joy/{w}" for w in weeks} | {"goals"}
    present = {item.doc for item in items if item.doc in wanted}
    for doc in sorted(d for d in present if d is not None):
        content = projections.board(items, doc)
        if doc == "goals":
            for key, fields in content.items():
                goal, _at, week = key.partition("@")
                if not (goal and week in weeks):
                    continue
                outcome = fields.get("outcome")
                summary.goals_met += int(outcome == "met")
                summary.goals_adapted += int(outcome == "adapted")
                summary.goals_paused += int(outcome == "paused")
        else:
            summary.joys_done += sum(1 for f in content.values() if f.get("status") == "done")


def compare(
    items: Sequence[Item], periods: Sequence[Period], me: PersonId | None = None
) -> list[PeriodSummary]:
    """Each period summarised, in the order given."""
    return [summarise(items, p, me) for p in periods]
