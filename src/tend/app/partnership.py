"""The weekly "state of the partnership", drafted from the week you two just had.

A draft gathers what the week's entries already say (small wins, rest days honoured,
thank-yous, joys done, what each of you asked for in check-ins) and suggests appreciations and
what went well, which the person keeps, edits or drops before saving it as the week's
partnership entry (record.partnership_week). Prompt cards offer ways to say the harder things.
Nothing here counts or compares the two of you: it is words, in the order things happened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tend.app import look, record, weeks
from tend.core.domain import events as ev
from tend.core.domain.validate import MAX_CHIPS, MAX_TEXT, MAX_TITLE, iso_week
from tend.core.errors import ValidationError
from tend.core.ids import PersonId
from tend.core.journal import Journal
from tend.core.views import projections

SuggestionKind = Literal["appreciation", "went_well"]
REST_KINDS = ("rest", "flare")
# Ways in, for when a week needs more than a list: each a stem to finish in your own words.
CARDS = (
    ("appreciation", "I appreciated it when you ..."),
    ("i-statement", "I felt ... when ... ; what would help is ..."),
    ("listening back", "What I heard you say is ..."),
    ("repair", "I'm sorry for ...; next time I'd like to ..."),
)


@dataclass(frozen=True)
class Said:
    """Something one of you did or wrote this week, and who (their name, if known here)."""

    person: PersonId
    name: str | None
    text: str


@dataclass(frozen=True)
class RestKept:
    person: PersonId
    name: str | None
    days: tuple[dt.date, ...]


@dataclass(frozen=True)
class AskedFor:
    person: PersonId
    name: str | None
    needs: tuple[str, ...]  # each thing asked for once, in the order first asked


@dataclass(frozen=True)
class Suggestion:
    number: int  # what --drop takes: 1, 2, 3 ... in the order shown
    kind: SuggestionKind
    text: str


@dataclass(frozen=True)
class Card:
    name: str
    prompt: str


@dataclass(frozen=True)
class Draft:
    week: str
    start: dt.date
    end: dt.date
    small_wins: tuple[Said, ...]  # the win's title, by who noted it
    rest: tuple[RestKept, ...]
    thank_yous: tuple[Said, ...]
    joys_done: tuple[str, ...]
    asked_for: tuple[AskedFor, ...]
    suggestions: tuple[Suggestion, ...]
    cards: tuple[Card, ...]

    def kept(self, drop: Iterable[int] = ()) -> tuple[list[str], list[str]]:
        """(appreciations, what went well) once the suggestions numbered in `drop` are left out."""
        dropped = set(drop)
        unknown = dropped - {s.number for s in self.suggestions}
        if unknown:
            shown = f"1 to {len(self.suggestions)}" if self.suggestions else "this draft has none"
            raise ValidationError("drop", f"the number of a suggestion shown ({shown})")
        chosen = [s for s in self.suggestions if s.number not in dropped]
        return (
            [s.text for s in chosen if s.kind == "appreciation"],
            [s.text for s in chosen if s.kind == "went_well"],
        )


def draft(journal: Journal, week: str | None = None) -> Draft:
    """A draft for `week` (default: this week), from what both of you recorded in it."""
    chosen = record.this_week(week)
    iso_week("week", chosen)
    start = weeks.monday_of(chosen)
    end = start + dt.timedelta(days=6)
    shown = look.period_of(journal.items(), start, end)
    view, names = shown.view, shown.names
    me = journal.device.person
    order = sorted(view.people, key=lambda p: (p != me, view.people[p].name))
    wins = tuple(_said(e, names, _title(e)) for e in view.milestones)
    thanks = tuple(_said(e, names, _thanks(e)) for e in view.gratitude)
    joys = tuple(j.title for j in shown.joys if j.status == "done")
    rest = tuple(RestKept(p, names.get(p), days) for p in order if (days := _rest_days(view, p)))
    asked = tuple(AskedFor(p, names.get(p), needs) for p in order if (needs := _needs(view, p)))
    appreciations = _appreciations(journal, view, thanks)
    went_well = [*(w.text for w in wins), *joys]
    if rest:
        went_well.append("we made room for rest when it was needed")
    return Draft(
        chosen,
        start,
        end,
        wins,
        rest,
        thanks,
        joys,
        asked,
        _numbered(appreciations, went_well),
        tuple(Card(name, prompt) for name, prompt in CARDS),
    )


def save(
    journal: Journal,
    made: Draft,
    *,
    drop: Sequence[int] = (),
    adjustment: str | None = None,
) -> record.Recorded:
    """Save a draft's suggestions (less those dropped) as the week's partnership entry."""
    appreciations, went_well = made.kept(drop)
    return record.partnership_week(
        journal,
        week=made.week,
        appreciations=[_fit(a, MAX_TITLE) for a in dict.fromkeys(appreciations)][:MAX_CHIPS],
        went_well=_fit("; ".join(went_well), MAX_TEXT) if went_well else None,
        adjustment=adjustment,
    )


def _numbered(appreciations: Sequence[str], went_well: Sequence[str]) -> tuple[Suggestion, ...]:
    kinds: list[tuple[SuggestionKind, str]] = [
        *(("appreciation", a) for a in dict.fromkeys(appreciations)),
        *(("went_well", w) for w in dict.fromkeys(went_well)),
    ]
    return tuple(Suggestion(n, kind, text) for n, (kind, text) in enumerate(kinds, start=1))


def _appreciations(
    journal: Journal, view: projections.PeriodView, thanks: Sequence[Said]
) -> list[str]:
    """What the drafting person might appreciate in their partner: the thank-yous they wrote,
    the partner's celebrations of their small wins, the partner's offers in check-ins."""
    me = journal.device.person
    found = [t.text for t in thanks if t.person == me]
    for win in view.milestones:
        if win.author != me:
            continue
        whose = "our" if isinstance(win.body, ev.Milestone) and win.body.who == "both" else "my"
        if any(cheer.author != me for cheer in view.celebrations.get(win.id, [])):
            found.append(f"celebrating {whose} small win: {_title(win)}")
    for person, days in view.people.items():
        if person == me:
            continue
        for _day, checkin in sorted(days.checkins.items()):
            if checkin.offer:
                found.append(f"offering {checkin.offer}")
    return found


def _said(event: ev.Event, names: dict[PersonId, str], text: str) -> Said:
    return Said(event.author, names.get(event.author), text)


def _title(event: ev.Event) -> str:
    assert isinstance(event.body, ev.Milestone)
    return event.body.title


def _thanks(event: ev.Event) -> str:
    assert isinstance(event.body, ev.Gratitude)
    return event.body.text


def _rest_days(view: projections.PeriodView, person: PersonId) -> tuple[dt.date, ...]:
    days = view.people[person].checkins
    return tuple(dt.date.fromisoformat(d) for d, c in sorted(days.items()) if c.day in REST_KINDS)


def _needs(view: projections.PeriodView, person: PersonId) -> tuple[str, ...]:
    days = view.people[person].checkins
    return tuple(dict.fromkeys(n for _d, c in sorted(days.items()) for n in c.needs))


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
