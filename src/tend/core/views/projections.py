"""Views for looking back, as pure functions of the items a device can read.

Every view is a fold over events in merge order. To stay fast on ten years of entries a view
first selects the items it needs by the cheap fields the view cache keeps (date, type, document)
and decodes only those. Corrections are folded the same way everywhere: an author may take back
(retract) or replace (supersede) only their own entries; what is taken back or replaced is not
shown, and nothing is ever rewritten.

`as_known_at` is what makes replay exact: the items this device had received by a moment,
whatever arrived later, however old it claims to be. The one exception is what its author took
back: `as_replayed_at` leaves out the words of anything taken back since (whenever that was),
and `taken_back` says, in their place, that something was taken back there.

An entry whose words are not here (forgotten, or its key never came: core/journal/mapper.py)
is a placeholder of kind "keyed": no view shows it as an entry; `taken_back` names the
forgotten ones and `unavailable` the others.

The day's values (`day_values`): per field, the day's latest check-in that names the field
counts. A check-in that says only how the pain is leaves the day's energy, kind of day and
needs as they were, and a note (its own kind) never touches them. A correction stands where the
check-in it corrects stood, so it changes only what it names, and a private entry shared later
keeps its place (it is read as the original itself).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tend.core.domain import shared_state
from tend.core.domain.codec import decode_event
from tend.core.domain.events import (
    Boundary,
    CalendarEntry,
    CareSwap,
    Celebration,
    CheckIn,
    ComfortSignal,
    Event,
    EventType,
    GoalWeek,
    Gratitude,
    Keyed,
    Milestone,
    PartnershipWeek,
    PersonNamed,
    Retraction,
    Scalar,
    Sealed,
    Share,
)
from tend.core.domain.validate import week_of
from tend.core.ids import ID_LEN, EventId, PersonId, event_id_at
from tend.core.views.read_model import Item

ALWAYS = frozenset({EventType.PERSON_NAMED, EventType.RETRACT})


def as_known_at(items: Sequence[Item], at_ms: int) -> list[Item]:
    return [i for i in items if i.received_at <= at_ms]


def names(items: Iterable[Item]) -> dict[PersonId, str]:
    out: dict[PersonId, str] = {}
    for item in items:
        if item.type == EventType.PERSON_NAMED:
            ev = decode_event(item.raw)
            assert isinstance(ev.body, PersonNamed)
            if ev.body.person == ev.author:  # a person names only themselves
                out[ev.body.person] = ev.body.name
    return out


def hidden_ids(events: Iterable[Event]) -> set[tuple[PersonId, EventId]]:
    """(author, id) of the entries their own author took back or replaced.

    Keyed by author as well as id, so nobody can hide someone else's entry by reusing its id.
    """
    hidden: set[tuple[PersonId, EventId]] = set()
    for ev in events:
        if isinstance(ev.body, Retraction):
            hidden.add((ev.author, ev.body.target))
            hidden.update((ev.author, version) for version in ev.body.versions)
        if ev.supersedes is not None:
            hidden.add((ev.author, ev.supersedes))
    return hidden


def visible(events: Sequence[Event]) -> list[Event]:
    hidden = hidden_ids(events)
    # Retractions themselves, private entries sealed to someone else, shares that did not hold
    # (core/journal/mapper.py), and entries whose words are not here, are not shown.
    _unshown = Retraction | Sealed | Share | Keyed
    return [
        ev
        for ev in events
        if (ev.author, ev.id) not in hidden and not isinstance(ev.body, _unshown)
    ]


def private_ids(items: Iterable[Item]) -> frozenset[EventId]:
    """The ids of the private entries among `items`: shown "(only you)" to their author."""
    return frozenset(event_id_at(i.log, i.seq) for i in items if i.private)


# --- the day's values ---------------------------------------------------------------------------

_NAMED = ("day", "energy", "pain", "mood", "needs", "offer", "note")


def day_values(events: Sequence[Event]) -> dict[tuple[PersonId, str], CheckIn]:
    """Each (person, day)'s values from their check-ins among `events` (in merge order, before
    `visible`): per field, the latest visible check-in that names it. A correction stands where
    the check-in it corrects stood, so a later check-in of the day still counts after it."""
    place: dict[EventId, tuple[PersonId, int]] = {}
    for ev in events:
        # A private entry this device cannot open still has its place: a correction of it,
        # shared later, stands there on the partner's device as on the author's.
        if isinstance(ev.body, CheckIn | Sealed):
            earlier = place.get(ev.supersedes) if ev.supersedes is not None else None
            owned = earlier is not None and earlier[0] == ev.author
            at = min(ev.hlc, earlier[1]) if earlier and owned else ev.hlc
            place[ev.id] = (ev.author, at)
    by_day: dict[tuple[PersonId, str], list[tuple[int, int, CheckIn]]] = {}
    for seen, ev in enumerate(visible(events)):
        if isinstance(ev.body, CheckIn):
            at = place[ev.id][1]
            by_day.setdefault((ev.author, ev.local_date), []).append((at, seen, ev.body))
    return {key: _fold(found) for key, found in by_day.items()}


def _fold(checkins: list[tuple[int, int, CheckIn]]) -> CheckIn:
    values: dict[str, Any] = {}
    for _at, _seen, body in sorted(checkins, key=lambda c: (c[0], c[1])):
        for name in _NAMED:
            value = getattr(body, name)
            if value is not None and value != ():
                values[name] = value
    return CheckIn(**values)


def select(
    items: Sequence[Item], start: dt.date, end: dt.date, extra_types: frozenset[str] = frozenset()
) -> list[Event]:
    """Decoded events dated within [start, end], plus names, retractions and `extra_types`."""
    lo, hi = start.isoformat(), end.isoformat()
    wanted = ALWAYS | extra_types
    return [decode_event(i.raw) for i in items if i.type in wanted or lo <= i.local_date <= hi]


# --- what was taken back ----------------------------------------------------------------------


@dataclass(frozen=True)
class TakenBack:
    """Something its author took back: who, the day it was for, its kind (when held here),
    the reason they gave, and whether its words were forgotten. Never the words."""

    author: PersonId
    target: EventId
    day: str
    kind: str | None  # "sealed" for a private entry; None if the entry is not held here
    reason: str | None
    forgotten: bool


def _retractions(items: Iterable[Item]) -> list[Event]:
    return [decode_event(i.raw) for i in items if i.type == EventType.RETRACT]


def _kind(item: Item) -> str:
    if item.type != EventType.KEYED:
        return item.type
    body = decode_event(item.raw).body
    assert isinstance(body, Keyed)
    return body.kind


def read_as(item: Item) -> EventId:
    """The id an item is read as: its own, or, for a shared copy, the id of the entry it carries
    (core/journal/mapper.py), which is the one its author sees and takes back."""
    if item.origin is not None:
        return decode_event(item.raw).id
    return event_id_at(item.log, item.seq)


def _shows_more(item: Item, than: Item) -> bool:
    """Whether `item` says more of its kind than `than` (a shared copy more than the private
    original or a placeholder): the one a taken-back line names the kind of."""
    unread = (EventType.KEYED, EventType.SEALED)
    return than.type in unread and item.type not in unread


def taken_back(items: Sequence[Item], among: Sequence[Item] | None = None) -> list[TakenBack]:
    """What its own author took back, by the day it was for: the retractions in `items`, about
    entries of `among` (by default `items` too). A retraction counts only when its author is
    the target's: nobody takes back, or forgets, someone else's words."""
    return [taken for taken, _items in _taken_back(items, among)]


def _taken_back(
    items: Sequence[Item], among: Sequence[Item] | None
) -> list[tuple[TakenBack, list[Item]]]:
    """Each thing taken back, with the items it takes out of a replay: the target under every
    id it is read as (a private entry and its shared copy), and, when forgotten, the other
    versions the retraction names."""
    retractions = _retractions(items)
    if not retractions:
        return []
    wanted: set[EventId] = set()
    for r in retractions:
        assert isinstance(r.body, Retraction)
        wanted.add(r.body.target)
        wanted.update(r.body.versions)
    held: dict[EventId, list[Item]] = {}
    for item in items if among is None else among:
        if item.type == EventType.RETRACT:
            continue
        ident = event_id_at(item.log, item.seq)
        if ident in wanted:
            held.setdefault(ident, []).append(item)
        if item.origin is not None and (carried := read_as(item)) in wanted:
            held.setdefault(carried, []).append(item)
    out: dict[tuple[PersonId, EventId], tuple[TakenBack, list[Item]]] = {}
    for r in retractions:
        body = r.body
        assert isinstance(body, Retraction)
        found = [i for i in held.get(body.target, ()) if i.author == r.author]
        if not found:
            continue
        target = found[0]
        for item in found[1:]:
            if _shows_more(item, target):
                target = item
        before = out.get((r.author, body.target))
        earlier = before[0] if before else None
        forgotten = body.forget or (earlier is not None and earlier.forgotten)
        gone = [*found, *(before[1] if before else ())]
        if body.forget:
            gone += [i for v in body.versions for i in held.get(v, ()) if i.author == r.author]
        kind = _kind(target)
        if kind == EventType.SEALED and any(_kind(i) == EventType.SHARE for i in gone):
            kind = EventType.SHARE  # a private entry shared later, forgotten with its copy
        taken = TakenBack(
            r.author,
            body.target,
            target.local_date,
            kind,
            body.reason if body.reason else (earlier.reason if earlier else None),
            forgotten,
        )
        out[(r.author, body.target)] = (taken, gone)
    return sorted(out.values(), key=lambda pair: (pair[0].day, pair[0].author))


def unavailable(items: Sequence[Item]) -> list[Item]:
    """Entries held here without their words that nobody took back: their key record never came
    or did not open (the relay withheld or damaged it; `tend verify` reports them)."""
    keyed = [i for i in items if i.type == EventType.KEYED]
    if not keyed:
        return []
    shown = {(i.log, i.seq) for _taken, gone in _taken_back(items, None) for i in gone}
    return [i for i in keyed if (i.log, i.seq) not in shown]


def as_replayed_at(items: Sequence[Item], at_ms: int) -> tuple[list[Item], list[TakenBack]]:
    """The items held at `at_ms`, less the words of anything its author has taken back since
    (a replay never shows them again), and what was taken back among them, to say where."""
    known = as_known_at(items, at_ms)
    found = _taken_back(items, known)
    if not found:
        return known, []
    gone = {(item.log, item.seq) for _taken, taken_out in found for item in taken_out}
    return [i for i in known if (i.log, i.seq) not in gone], [taken for taken, _i in found]


# --- today -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comfort:
    """A person's comfort signal as it stands now (the latest they set)."""

    signal: str  # green, yellow, red or pause
    note: str | None
    private: bool = False  # the signal in force is one its author kept to themselves

    @property
    def pause(self) -> bool:
        return self.signal == "pause"


@dataclass(frozen=True)
class TodayView:
    on: dt.date
    people: list[tuple[PersonId, str, Event | None]]
    # The shown check-ins whose day draws on a private entry: "(only you)".
    private: frozenset[EventId] = frozenset()
    comfort: dict[PersonId, Comfort] = field(default_factory=dict)
    calendar: list[Event] = field(default_factory=list)  # the day's rest days and appointments

    def paused(self) -> list[tuple[PersonId, str]]:
        """Who has a pause in force, in the view's order."""
        return [(p, n) for p, n, _ev in self.people if p in self.comfort and self.comfort[p].pause]


def comfort_now(items: Sequence[Item]) -> dict[PersonId, Comfort]:
    """Each person's current comfort signal, from the shared "comfort" document (keyed by its
    author there, so nobody's signal can be set by anyone else)."""
    latest = {ev.author: ev for ev in shared_events(items, "comfort")}  # the one the board holds
    private = private_ids(i for i in items if i.doc == "comfort")
    out: dict[PersonId, Comfort] = {}
    for key, fields in board(items, "comfort").items():
        kind, _, who = key.partition(":")
        person = _person(who) if kind == "signal" else None
        if person is not None and fields.get("signal"):
            note = fields.get("note")
            kept = person in latest and latest[person].id in private
            out[person] = Comfort(str(fields["signal"]), str(note) if note else None, kept)
    return out


def calendar_on(items: Sequence[Item], on: dt.date) -> list[Event]:
    """The visible rest days and appointments for one day, by time."""
    day = on.isoformat()
    found = [
        decode_event(i.raw)
        for i in items
        if (i.type == EventType.CALENDAR and day.encode() in i.raw) or i.type == EventType.RETRACT
    ]
    entries = [
        ev for ev in visible(found) if isinstance(ev.body, CalendarEntry) and ev.body.date == day
    ]
    return sorted(entries, key=_calendar_key)


def today(items: Sequence[Item], me: PersonId, on: dt.date) -> TodayView:
    """Each partner's latest day of check-ins, side by side (mine first): the latest check-in,
    holding its day's values (`day_values`); their comfort signals, and the day's calendar."""
    known = names(items)
    # Who took back which entry; only the entry's own author counts (checked when we meet it).
    takers: dict[EventId, set[PersonId]] = {}
    for item in items:
        if item.type == EventType.RETRACT:
            ev = decode_event(item.raw)
            assert isinstance(ev.body, Retraction)
            takers.setdefault(ev.body.target, set()).add(ev.author)
    latest: dict[PersonId, Event] = {}
    last_day = on.isoformat()
    for item in reversed(items):  # newest first; stop once everyone has one
        if (
            item.type != EventType.CHECKIN
            or PersonId(item.author) in latest
            or item.local_date > last_day
        ):
            continue
        ev = decode_event(item.raw)
        if ev.supersedes is not None:
            takers.setdefault(ev.supersedes, set()).add(ev.author)
        if ev.author not in takers.get(ev.id, ()):
            latest[ev.author] = ev
        if len(latest) >= len(known):
            break
    shown, private = _with_day_values(items, latest)
    order = sorted(known, key=lambda p: (p != me, known[p]))
    return TodayView(
        on,
        [(p, known[p], shown.get(p)) for p in order],
        private,
        {p: c for p, c in comfort_now(items).items() if p in known},
        calendar_on(items, on),
    )


def _with_day_values(
    items: Sequence[Item], latest: dict[PersonId, Event]
) -> tuple[dict[PersonId, Event], frozenset[EventId]]:
    """Each latest check-in holding its day's values, and which of them draw on a private one."""
    days = {(p, ev.local_date) for p, ev in latest.items()}
    chosen = [
        i
        for i in items
        if i.type == EventType.RETRACT
        or (
            i.type in (EventType.CHECKIN, EventType.SEALED)
            and (PersonId(i.author), i.local_date) in days
        )
    ]
    values = day_values([decode_event(i.raw) for i in chosen])
    private_days = {
        (PersonId(i.author), i.local_date) for i in chosen if i.private and i.type != "sealed"
    }
    shown = {
        p: replace(ev, body=values.get((p, ev.local_date), ev.body)) for p, ev in latest.items()
    }
    private = frozenset(ev.id for p, ev in latest.items() if (p, ev.local_date) in private_days)
    return shown, private


# --- a period (week, month) --------------------------------------------------------------------


@dataclass
class PersonDays:
    name: str
    checkins: dict[str, CheckIn] = field(default_factory=dict)  # the day's values (day_values)
    private_days: set[str] = field(default_factory=set)  # days whose values are partly private


@dataclass
class PeriodView:
    start: dt.date
    end: dt.date
    people: dict[PersonId, PersonDays]
    milestones: list[Event]
    celebrations: dict[EventId, list[Event]]
    gratitude: list[Event]
    calendar: list[Event]
    partnership: list[Event]
    goal_weeks: list[Event]
    private: frozenset[EventId] = frozenset()  # ids of private entries: "(only you)"
    comfort: list[Event] = field(default_factory=list)  # comfort signals set in the period
    boundaries: list[Event] = field(default_factory=list)  # boundaries shared or set aside
    care_swaps: list[Event] = field(default_factory=list)

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(d) for d in range((self.end - self.start).days + 1)]

    def rest_days_honoured(self, person: PersonId) -> int:
        return sum(1 for c in self.people[person].checkins.values() if c.day in ("rest", "flare"))


def period(
    items: Sequence[Item], start: dt.date, end: dt.date, me: PersonId | None = None
) -> PeriodView:
    """A week or a month; people in the order `today` shows them (`me` first, then by name)."""
    selected = select(
        items,
        start,
        end,
        frozenset({EventType.MILESTONE_CELEBRATED, EventType.CALENDAR, EventType.GOAL_WEEK}),
    )
    events = visible(selected)
    known = names(items)
    order = sorted(known, key=lambda p: (p != me, known[p]))
    people = {p: PersonDays(known[p]) for p in order}
    private = private_ids(items)
    view = PeriodView(start, end, people, [], {}, [], [], [], [], private)
    lo, hi = start.isoformat(), end.isoformat()
    weeks = {week_of(d) for d in view.days()}
    _days_of(people, selected, events, private, (lo, hi))
    for ev in events:
        body = ev.body
        in_range = lo <= ev.local_date <= hi
        if isinstance(body, Milestone) and in_range:
            view.milestones.append(ev)
        elif isinstance(body, Celebration):
            view.celebrations.setdefault(body.milestone, []).append(ev)
        elif isinstance(body, Gratitude) and in_range:
            view.gratitude.append(ev)
        elif isinstance(body, CalendarEntry) and lo <= body.date <= hi:
            view.calendar.append(ev)
        elif isinstance(body, PartnershipWeek) and body.week in weeks:
            view.partnership.append(ev)
        elif isinstance(body, GoalWeek) and body.week in weeks:
            view.goal_weeks.append(ev)
        elif isinstance(body, ComfortSignal) and in_range:
            view.comfort.append(ev)
        elif isinstance(body, Boundary) and in_range:
            view.boundaries.append(ev)
        elif isinstance(body, CareSwap) and in_range:
            view.care_swaps.append(ev)
    view.calendar.sort(key=_calendar_key)
    return view


def _days_of(
    people: dict[PersonId, PersonDays],
    selected: Sequence[Event],
    events: Sequence[Event],
    private: frozenset[EventId],
    span: tuple[str, str],
) -> None:
    """Each person's days in `span`: the day's values, and which days draw on a private
    check-in."""
    lo, hi = span
    for (author, day), values in sorted(day_values(selected).items(), key=lambda kv: kv[0][1]):
        if lo <= day <= hi and author in people:
            people[author].checkins[day] = values
    for ev in events:
        shown = ev.author in people and lo <= ev.local_date <= hi
        if shown and isinstance(ev.body, CheckIn) and ev.id in private:
            people[ev.author].private_days.add(ev.local_date)


def _calendar_key(ev: Event) -> tuple[str, str]:
    body = ev.body
    assert isinstance(body, CalendarEntry)
    return (body.date, body.time or "")


def week_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day - dt.timedelta(days=day.weekday())
    return start, start + dt.timedelta(days=6)


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return start, following - dt.timedelta(days=1)


DaySeries = list[tuple[dt.date, int | None, int | None]]


def series(view: PeriodView) -> dict[PersonId, DaySeries]:
    """Each person's (day, energy, pain) for every day of the period; None where none was noted.

    Values are the day's values (`day_values`), as the period's days show them.
    """
    out: dict[PersonId, DaySeries] = {}
    for person, days in view.people.items():
        rows: DaySeries = []
        for day in view.days():
            c = days.checkins.get(day.isoformat())
            rows.append((day, c.energy if c else None, c.pain if c else None))
        out[person] = rows
    return out


# How msgpack writes a celebration's "milestone" field: the 9-letter key, then 16 bytes of id.
_CELEBRATED = b"\xa9milestone\xc4\x10"


def period_items(items: Sequence[Item], start: dt.date, end: dt.date) -> list[Item]:
    """The items `period(items, start, end)` can use, chosen without decoding most of them.

    `period` also looks at calendar entries, celebrations and goal weeks from any day, by one
    field of each: the day a calendar entry is for, the small win celebrated, the ISO week. On a
    long journal decoding all of those is most of the time a month view takes. But an event is
    stored as msgpack, which writes text as its UTF-8 bytes and ids as their raw bytes, so an
    entry whose field falls in the period holds that field's bytes: its date ("2026-03-12"; for
    a period longer than a week, its month "2026-03-"), its week ("2026-W11"), or the id of a
    small win of the period after the key "milestone". Keeping every entry that holds them keeps
    all that matters (and perhaps a few that do not, which `period` then leaves out); a
    celebration whose key cannot be found is kept. So `period(period_items(items, s, e), s, e)`
    is the same view as `period(items, s, e)`.
    """
    from tend.core.domain.codec import decode_event

    lo, hi = start.isoformat(), end.isoformat()
    days = [start + dt.timedelta(d) for d in range((end - start).days + 1)]
    # A week looks for its seven dates; anything longer, for its months ("2026-03-").
    dates = tuple({(d.isoformat() if len(days) <= 7 else f"{d:%Y-%m}-").encode() for d in days})
    weeks = tuple({week_of(d).encode() for d in days})
    wins = {
        decode_event(i.raw).id
        for i in items
        if i.type == EventType.MILESTONE and lo <= i.local_date <= hi
    }
    out = []
    for item in items:
        kind = item.type
        if kind in ALWAYS or lo <= item.local_date <= hi:
            out.append(item)
        elif kind == EventType.CALENDAR:
            if any(d in item.raw for d in dates):
                out.append(item)
        elif kind == EventType.MILESTONE_CELEBRATED:
            if wins and _celebrates_one_of(item.raw, wins):
                out.append(item)
        elif kind == EventType.GOAL_WEEK and any(w in item.raw for w in weeks):
            out.append(item)
    return out


def _celebrates_one_of(raw: bytes, wins: set[EventId]) -> bool:
    at = raw.find(_CELEBRATED)
    if at < 0:
        return True  # not as expected: keep it, and let `period` decide
    while at >= 0:
        begin = at + len(_CELEBRATED)
        if raw[begin : begin + 16] in wins:
            return True
        at = raw.find(_CELEBRATED, begin)
    return False


# --- timeline ---------------------------------------------------------------------------------


def timeline(
    items: Sequence[Item],
    since: dt.date | None = None,
    until: dt.date | None = None,
    types: frozenset[str] | None = None,
) -> list[Event]:
    """Every visible event dated within [since, until], optionally of some types only."""
    lo = since.isoformat() if since else ""
    hi = until.isoformat() if until else "9999-12-31"
    chosen = [
        i
        for i in items
        if i.type == EventType.RETRACT
        or (lo <= i.local_date <= hi and (types is None or i.type in types))
    ]
    return visible([decode_event(i.raw) for i in chosen])


# --- shared, editable state (Automerge documents) -----------------------------------------------


def shared_events(items: Sequence[Item], doc: str) -> list[Event]:
    """The visible events that write one shared document, in merge order (retractions and
    corrections by their own authors taken into account).

    Only the retractions that can be about one of the document's events are decoded: a
    retraction is stored as msgpack, which writes its target id as those 16 raw bytes, so one
    whose bytes hold none of the document's ids cannot take any of them back."""
    writes = [(i, decode_event(i.raw)) for i in items if i.doc == doc]
    ids: list[bytes] = [ev.id for _i, ev in writes]
    takers = [
        (i, decode_event(i.raw))
        for i in items
        if i.type == EventType.RETRACT and any(target in bytes(i.raw) for target in ids)
    ]
    chosen = sorted([*writes, *takers], key=lambda pair: pair[0].order)
    return visible([ev for _i, ev in chosen])


def board(items: Sequence[Item], doc: str) -> dict[str, dict[str, Scalar]]:
    """The content of one shared document as {object id: {field: value}}."""
    return shared_state.board(shared_events(items, doc))


@dataclass(frozen=True)
class JoyRow:
    """One idea on a week's joy map."""

    id: str
    title: str
    cost: int
    status: str  # idea, planned, done, let-go
    by: str  # the person who had the idea (hex)


@dataclass(frozen=True)
class GoalRow:
    """A gentle goal and, for the weeks asked about, how each went."""

    id: str
    title: str
    per_week: int
    flare_rule: str
    active: bool
    weeks: dict[str, str]  # ISO week -> met, adapted or paused
    fallback: str | None = None  # "if fatigue comes, then ..."
    targets: dict[str, int] = field(default_factory=dict)  # an adapted week's own target


@dataclass(frozen=True)
class CareRow:
    """A care task on the rota; `owner` is a person (hex), or "partner-of:"/"both-of:" one:
    who does it in the week asked about (after the weekly turn and any swap for that week)."""

    id: str
    title: str
    owner: str
    cadence: str
    active: bool
    rotate: bool = False  # turns about weekly between the two of you
    week_swap: bool = False  # `owner` is a swap for that week only


def joys(items: Sequence[Item], week: str) -> list[JoyRow]:
    return [
        JoyRow(
            key,
            str(fields.get("title", "")),
            int(fields.get("cost") or 0),
            str(fields.get("status", "idea")),
            str(fields.get("by", "")),
        )
        for key, fields in board(items, f"joy/{week}").items()
    ]


def goals(items: Sequence[Item], weeks: Iterable[str] = ()) -> list[GoalRow]:
    content = board(items, "goals")
    asked = list(weeks)
    out: list[GoalRow] = []
    for key, fields in content.items():
        if "@" in key:
            continue
        outcomes = {w: content.get(f"{key}@{w}", {}).get("outcome") for w in asked}
        targets = {w: content.get(f"{key}@{w}", {}).get("target") for w in asked}
        fallback = fields.get("fallback")
        out.append(
            GoalRow(
                key,
                str(fields.get("title", "")),
                int(fields.get("per_week") or 0),
                str(fields.get("flare_rule", "")),
                bool(fields.get("active", True)),
                {w: str(o) for w, o in outcomes.items() if o},
                str(fallback) if fallback else None,
                {w: t for w, t in targets.items() if isinstance(t, int) and outcomes[w]},
            )
        )
    return out


def owner_of(owner: str, people: Iterable[PersonId]) -> PersonId | None:
    """The one person a care task's owner names, or None for both of you (or for someone this
    device does not know). Owners are stored absolutely by whoever wrote them: a person id, or
    "partner-of:"/"both-of:" and that writer's id (core/domain/events.py)."""
    kind, _, who = owner.rpartition(":")
    if not kind:
        return _person(who)
    if kind != "partner-of":
        return None  # both of you
    others = [p for p in people if p.hex() != who]
    return others[0] if len(others) == 1 else None


def _person(text: str) -> PersonId | None:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return PersonId(raw) if len(raw) == ID_LEN else None


def care_rota(items: Sequence[Item], week: str | None = None) -> list[CareRow]:
    """Every care task, with who does it in `week` (an ISO week; None: its owner as set)."""
    content = board(items, "care")
    out = []
    for key, fields in content.items():
        if "@" in key:
            continue  # a swap for one week (below)
        rotate = bool(fields.get("rotate", False))
        owner = str(fields.get("owner", ""))
        if week is not None and rotate:
            owner = turn_in(owner, str(fields.get("since", week)), week)
        swapped = content.get(f"{key}@{week}", {}).get("owner") if week else None
        out.append(
            CareRow(
                key,
                str(fields.get("title", "")),
                str(swapped or owner),
                str(fields.get("cadence", "")),
                bool(fields.get("active", True)),
                rotate,
                swapped is not None,
            )
        )
    return out


def turn_in(owner: str, since: str, week: str) -> str:
    """Whose turn a rotating task is in `week`: `owner` had it in `since`, and it changes hands
    every ISO week from there (before it too). Both of you, or a week unreadable, stays as is."""
    try:
        apart = (_monday(week) - _monday(since)).days // 7
    except ValueError:
        return owner
    return owner if apart % 2 == 0 else other_than(owner)


def other_than(owner: str) -> str:
    """The other partner of an owner as stored: a person and "partner-of:" them swap places."""
    kind, _, who = owner.rpartition(":")
    if not kind:
        return f"partner-of:{who}"
    return who if kind == "partner-of" else owner


def _monday(week: str) -> dt.date:
    year, number = week.split("-W")
    return dt.date.fromisocalendar(int(year), int(number), 1)
