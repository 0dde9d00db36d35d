"""Views for looking back: today, a week, replay (as_known_at) and the timeline.

Two partners, Sam (a journal made by Journal.create) and Alex (a device of another person in the
same space, in memory), record at controlled times; Alex's entries are delivered to Sam's store
the way sync would, and the views are read from Sam's journal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event
from tend.core.domain.events import (
    CalendarEntry,
    Celebration,
    CheckIn,
    Event,
    GoalWeek,
    Gratitude,
    Milestone,
    PartnershipWeek,
    Payload,
    PersonNamed,
    Retraction,
)
from tend.core.ids import EventId, PersonId, new_space_id
from tend.core.journal import Journal
from tend.core.log.store import MemoryLogStore
from tend.core.views.projections import (
    PeriodView,
    PersonDays,
    TodayView,
    as_known_at,
    period,
    timeline,
    today,
    week_bounds,
)
from tend.core.views.read_model import Item
from tests.conftest import keys_of, new_person_device, pin

TZ = dt.timezone(dt.timedelta(hours=1))
SUN = dt.date(2026, 3, 8)
MON = dt.date(2026, 3, 9)  # 2026-W11 runs from MON to MON + 6
TUE, WED, THU, FRI, SAT = (MON + dt.timedelta(days=d) for d in range(1, 6))
NEXT_MON = MON + dt.timedelta(days=7)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def partner_keys(of: DeviceKeys) -> DeviceKeys:
    """A device of another person in the same space: same space keys, own everything else."""
    device: DeviceKeys = new_person_device(of.space, like=of)
    pin(of, device)
    return device


def record(journal: Journal, when: dt.datetime, body: Payload, **kw: object) -> Event:
    journal.now = lambda: when
    return journal.record(body, **kw)  # type: ignore[arg-type]


def deliver(source: Journal, to: Journal, received: dt.datetime) -> None:
    """What sync does: hand every entry the source holds to the other store."""
    to.store.append([(s.entry, ms(received)) for s in source.store.since(0)], keys=keys_of(source))


@dataclass
class Couple:
    sam: Journal
    alex: Journal

    @property
    def sam_id(self) -> PersonId:
        return self.sam.device.person

    @property
    def alex_id(self) -> PersonId:
        return self.alex.device.person

    def items(self, received: dt.datetime | None = None) -> list[Item]:
        deliver(self.alex, self.sam, received or at(NEXT_MON, 23))
        return self.sam.items()


def make_couple(sam: Journal) -> Couple:
    alex = Journal(sam.home, partner_keys(sam.device), MemoryLogStore())
    record(alex, at(SUN, 12, 29), alex.own_claim())  # every log begins with its own claim
    record(alex, at(SUN, 12, 30), PersonNamed(person=alex.device.person, name="Alex"))
    return Couple(sam, alex)


@pytest.fixture
def couple(tmp_path: Path) -> Couple:
    return make_couple(Journal.create(tmp_path / "sam", "Sam", now=lambda: at(SUN, 12)))


def in_memory_couple() -> Couple:
    space = new_space_id()
    keys_: DeviceKeys = new_person_device(space)
    sam = Journal(Path("unused"), keys_, MemoryLogStore())
    record(sam, at(SUN, 11, 59), sam.own_claim())
    record(sam, at(SUN, 12), PersonNamed(person=keys_.person, name="Sam"))
    return make_couple(sam)


# --- today ---------------------------------------------------------------------------------------


def test_today_shows_each_persons_latest_check_in_mine_first(couple: Couple) -> None:
    record(couple.sam, at(MON, 8), CheckIn(energy=3))
    sam_later = record(couple.sam, at(MON, 20), CheckIn(energy=5, day="gentle"))
    alex_only = record(couple.alex, at(MON, 9), CheckIn(day="rest"))
    items = couple.items()

    assert today(items, couple.sam_id, MON) == TodayView(
        MON, [(couple.sam_id, "Sam", sam_later), (couple.alex_id, "Alex", alex_only)]
    )
    assert today(items, couple.alex_id, MON) == TodayView(
        MON, [(couple.alex_id, "Alex", alex_only), (couple.sam_id, "Sam", sam_later)]
    )


def test_today_shows_no_check_in_for_someone_who_has_not_checked_in(couple: Couple) -> None:
    mine = record(couple.sam, at(MON, 8), CheckIn(energy=3))

    assert today(couple.items(), couple.sam_id, MON) == TodayView(
        MON, [(couple.sam_id, "Sam", mine), (couple.alex_id, "Alex", None)]
    )


def test_today_ignores_check_ins_dated_after_the_day_asked_about(couple: Couple) -> None:
    monday = record(couple.sam, at(MON, 8), CheckIn(energy=3))
    tuesday = record(couple.sam, at(TUE, 8), CheckIn(energy=6))
    items = couple.items()

    assert today(items, couple.sam_id, MON).people[0] == (couple.sam_id, "Sam", monday)
    assert today(items, couple.sam_id, TUE).people[0] == (couple.sam_id, "Sam", tuesday)


def test_today_falls_back_to_the_check_in_before_one_its_author_retracted(couple: Couple) -> None:
    first = record(couple.sam, at(MON, 8), CheckIn(energy=3))
    second = record(couple.sam, at(MON, 9), CheckIn(energy=9))
    record(couple.sam, at(MON, 10), Retraction(target=second.id, reason="wrong button"))
    assert today(couple.items(), couple.sam_id, MON).people[0] == (couple.sam_id, "Sam", first)

    record(couple.sam, at(MON, 11), Retraction(target=first.id))
    assert today(couple.items(), couple.sam_id, MON).people[0] == (couple.sam_id, "Sam", None)


def test_today_shows_the_correction_not_the_check_in_it_supersedes(couple: Couple) -> None:
    before = record(couple.sam, at(SUN, 18), CheckIn(energy=4))
    wrong = record(couple.sam, at(MON, 8), CheckIn(energy=1))
    fixed = record(couple.sam, at(MON, 9), CheckIn(energy=7), supersedes=wrong.id)
    assert today(couple.items(), couple.sam_id, MON).people[0] == (couple.sam_id, "Sam", fixed)

    # The correction taken back leaves neither it nor what it replaced: the timeline agrees.
    record(couple.sam, at(MON, 10), Retraction(target=fixed.id))
    items = couple.items()
    assert today(items, couple.sam_id, MON).people[0] == (couple.sam_id, "Sam", before)
    assert timeline(items, since=SUN, types=frozenset({"checkin"})) == [before]


def test_today_ignores_a_retraction_by_someone_other_than_the_author(couple: Couple) -> None:
    mine = record(couple.sam, at(MON, 8), CheckIn(energy=3))
    theirs = record(couple.alex, at(MON, 9), CheckIn(day="good"))
    record(couple.alex, at(MON, 10), Retraction(target=mine.id))

    assert today(couple.items(), couple.sam_id, MON) == TodayView(
        MON, [(couple.sam_id, "Sam", mine), (couple.alex_id, "Alex", theirs)]
    )


def test_today_ignores_a_supersession_by_someone_other_than_the_author(couple: Couple) -> None:
    mine = record(couple.sam, at(MON, 8), CheckIn(energy=3))
    theirs = record(couple.alex, at(MON, 9), CheckIn(day="good"), supersedes=mine.id)

    assert today(couple.items(), couple.sam_id, MON) == TodayView(
        MON, [(couple.sam_id, "Sam", mine), (couple.alex_id, "Alex", theirs)]
    )


# Hypothesis: whatever check-ins, retractions and corrections either partner records (including
# ones aimed at the other's entries), today's entry for each person is the last check-in the
# timeline still shows for them up to that day.

STEP = st.tuples(
    st.sampled_from(["sam", "alex"]),
    st.sampled_from(["checkin", "checkin", "retract", "supersede"]),
    st.integers(0, 2),  # check-in: which day (MON + n); retract/supersede: whose entry, mod count
    st.integers(0, 10),  # energy
    st.integers(1, 600),  # minutes since the step before
)


@given(steps=st.lists(STEP, min_size=1, max_size=12), on_offset=st.integers(0, 3))
@settings(max_examples=40, deadline=None)
def test_today_agrees_with_the_timeline_whatever_is_retracted_or_corrected(
    steps: list[tuple[str, str, int, int, int]], on_offset: int
) -> None:
    couple = in_memory_couple()
    people = {"sam": couple.sam, "alex": couple.alex}
    checkins: list[Event] = []
    when = at(MON, 6)
    for who, action, pick, energy, minutes in steps:
        when += dt.timedelta(minutes=minutes)
        journal = people[who]
        if action == "checkin" or not checkins:
            day = MON + dt.timedelta(days=pick)
            checkins.append(record(journal, when, CheckIn(energy=energy), on=day))
        elif action == "retract":
            record(journal, when, Retraction(target=checkins[pick % len(checkins)].id))
        else:
            target = checkins[pick % len(checkins)]
            checkins.append(
                record(
                    journal,
                    when,
                    CheckIn(energy=energy),
                    supersedes=target.id,
                    on=dt.date.fromisoformat(target.local_date),
                )
            )
    items = couple.items(received=when)
    on = MON + dt.timedelta(days=on_offset)

    shown = timeline(items, until=on, types=frozenset({"checkin"}))

    by_id = {e.id: e for e in checkins}

    def place(e: Event) -> int:
        # A correction stands where the check-in it corrects stood (its own author's only).
        while e.supersedes in by_id and by_id[e.supersedes].author == e.author:
            e = by_id[e.supersedes]
        return e.hlc

    def last_shown(person: PersonId) -> Event | None:
        theirs = [e for e in shown if e.author == person]
        if not theirs:
            return None
        last = theirs[-1]
        same_day = [e for e in theirs if e.local_date == last.local_date]
        latest = max(same_day, key=lambda e: (place(e), shown.index(e)))
        return dataclasses.replace(last, body=latest.body)  # every check-in names only energy

    assert today(items, couple.sam_id, on) == TodayView(
        on,
        [
            (couple.sam_id, "Sam", last_shown(couple.sam_id)),
            (couple.alex_id, "Alex", last_shown(couple.alex_id)),
        ],
    )


# --- a week ---------------------------------------------------------------------------------------


def test_a_week_puts_check_ins_on_their_days_and_counts_rest_days_honoured(couple: Couple) -> None:
    sam, alex = couple.sam, couple.alex
    record(sam, at(SUN, 20), CheckIn(day="rest"))  # the week before: not in this week
    record(sam, at(MON, 8), CheckIn(day="good", energy=6))
    record(sam, at(WED, 8), CheckIn(day="gentle", energy=3))
    record(sam, at(WED, 21), CheckIn(day="rest", energy=2))  # the day's last check-in counts
    record(sam, at(FRI, 9), CheckIn(day="flare", pain=8))
    record(sam, at(SAT, 9), CheckIn(energy=4))  # no day kind: not a rest day
    record(alex, at(TUE, 7), CheckIn(day="rest"))
    record(alex, at(THU, 7), CheckIn(day="good", mood=4))
    record(alex, at(NEXT_MON, 7), CheckIn(day="rest"))  # the week after
    start, end = week_bounds(THU)

    view = period(couple.items(), start, end)

    assert (start, end) == (MON, MON + dt.timedelta(days=6))
    assert view.people == {
        couple.sam_id: PersonDays(
            "Sam",
            {
                MON.isoformat(): CheckIn(day="good", energy=6),
                WED.isoformat(): CheckIn(day="rest", energy=2),
                FRI.isoformat(): CheckIn(day="flare", pain=8),
                SAT.isoformat(): CheckIn(energy=4),
            },
        ),
        couple.alex_id: PersonDays(
            "Alex",
            {
                TUE.isoformat(): CheckIn(day="rest"),
                THU.isoformat(): CheckIn(day="good", mood=4),
            },
        ),
    }
    assert (view.rest_days_honoured(couple.sam_id), view.rest_days_honoured(couple.alex_id)) == (
        2,
        1,
    )
    assert view.days() == [MON + dt.timedelta(days=d) for d in range(7)]


def test_a_week_includes_milestones_gratitude_calendar_and_goals_in_range_and_not_outside(
    couple: Couple,
) -> None:
    sam, alex = couple.sam, couple.alex
    goal = EventId(bytes([5]) * 16)
    record(sam, at(SUN, 21), Milestone(title="last week's walk"))
    walk = record(sam, at(TUE, 15), Milestone(title="walked to the park", category="movement"))
    cheer = record(alex, at(TUE, 18), Celebration(milestone=walk.id, note="so proud"))
    record(alex, at(NEXT_MON, 8), Gratitude(text="next week's thanks"))
    thanks = record(alex, at(WED, 8), Gratitude(text="coffee while I rested"))
    # Calendar entries count by the day they are for, not the day they were written.
    physio = record(
        sam,
        at(SUN, 10),
        CalendarEntry(kind="appointment", date=FRI.isoformat(), title="physio", time="14:00"),
    )
    rest = record(alex, at(THU, 10), CalendarEntry(kind="rest", date=FRI.isoformat(), time="09:00"))
    gp = record(
        sam, at(TUE, 10), CalendarEntry(kind="appointment", date=MON.isoformat(), title="GP")
    )
    record(sam, at(TUE, 10, 5), CalendarEntry(kind="rest", date=NEXT_MON.isoformat()))
    record(sam, at(TUE, 10, 6), CalendarEntry(kind="rest", date=SUN.isoformat()))
    together = record(sam, at(SAT, 20), PartnershipWeek(week="2026-W11", went_well="talking"))
    record(sam, at(SAT, 20, 5), PartnershipWeek(week="2026-W12", went_well="not yet"))
    paused = record(alex, at(NEXT_MON, 9), GoalWeek(goal=goal, week="2026-W11", outcome="paused"))
    record(alex, at(NEXT_MON, 9, 5), GoalWeek(goal=goal, week="2026-W10", outcome="met"))

    view = period(couple.items(), MON, MON + dt.timedelta(days=6))

    assert view == PeriodView(
        start=MON,
        end=MON + dt.timedelta(days=6),
        people={couple.sam_id: PersonDays("Sam"), couple.alex_id: PersonDays("Alex")},
        milestones=[walk],
        celebrations={walk.id: [cheer]},
        gratitude=[thanks],
        calendar=[gp, rest, physio],
        partnership=[together],
        goal_weeks=[paused],
    )


def test_a_week_leaves_out_what_its_author_took_back(couple: Couple) -> None:
    sam, alex = couple.sam, couple.alex
    kept = record(sam, at(MON, 15), Milestone(title="a meal together", category="meal"))
    dropped = record(sam, at(TUE, 15), Milestone(title="duplicate"))
    record(sam, at(TUE, 16), Retraction(target=dropped.id))
    thanks = record(alex, at(WED, 8), Gratitude(text="thank you"))
    record(sam, at(WED, 9), Retraction(target=thanks.id))  # not Sam's to take back
    record(sam, at(THU, 8), CheckIn(day="good"))
    record(sam, at(THU, 9), CheckIn(day="rest"))
    fixed = record(sam, at(FRI, 8), CheckIn(day="gentle"))
    record(sam, at(FRI, 9), CheckIn(day="flare"), supersedes=fixed.id, on=FRI)

    view = period(couple.items(), MON, MON + dt.timedelta(days=6))

    assert (view.milestones, view.gratitude) == ([kept], [thanks])
    assert view.people[couple.sam_id].checkins == {
        THU.isoformat(): CheckIn(day="rest"),
        FRI.isoformat(): CheckIn(day="flare"),
    }


# --- replay -----------------------------------------------------------------------------------


def test_as_known_at_leaves_out_what_arrived_later_however_old_it_claims_to_be(
    couple: Couple,
) -> None:
    sam, alex = couple.sam, couple.alex
    early = record(alex, at(MON, 7), CheckIn(day="rest"))  # written offline, early
    mine = record(sam, at(MON, 8), CheckIn(energy=5))
    deliver(alex, sam, received=at(MON, 12))
    items = sam.items()

    def ids(known: list[Item]) -> list[EventId]:
        return [decode_event(i.raw).id for i in known]

    from_alex = {e.id for e in alex.events()}
    assert early.id in from_alex
    before = as_known_at(items, ms(at(MON, 11, 59)))
    after = as_known_at(items, ms(at(MON, 12)))

    assert ids(before) == [i for i in ids(items) if i not in from_alex]
    assert [(i.type, i.author) for i in before] == [
        ("device.added", couple.sam_id),
        ("person.named", couple.sam_id),
        ("checkin", couple.sam_id),
    ]
    assert ids(after) == ids(items)
    assert today(before, sam.device.person, MON) == TodayView(
        MON, [(couple.sam_id, "Sam", mine)]
    )  # Alex's name had not arrived either
    assert today(after, sam.device.person, MON) == TodayView(
        MON, [(couple.sam_id, "Sam", mine), (couple.alex_id, "Alex", early)]
    )
    assert as_known_at(items, ms(at(SUN, 11))) == []


# --- timeline ---------------------------------------------------------------------------------


@pytest.fixture
def story(couple: Couple) -> tuple[Couple, dict[str, Event]]:
    sam, alex = couple.sam, couple.alex
    ev = {
        "mon": record(sam, at(MON, 8), CheckIn(energy=4)),
        "walk": record(sam, at(MON, 15), Milestone(title="walk")),
        "tue": record(alex, at(TUE, 8), CheckIn(day="rest")),
        "thanks": record(alex, at(TUE, 20), Gratitude(text="for dinner")),
        "oops": record(sam, at(WED, 8), Gratitude(text="typo")),
        "wed": record(sam, at(WED, 9), CheckIn(energy=6)),
        "fri": record(alex, at(FRI, 8), CheckIn(energy=2)),
    }
    ev["take_back"] = record(sam, at(WED, 10), Retraction(target=ev["oops"].id))
    ev["fixed"] = record(alex, at(FRI, 9), CheckIn(energy=3), supersedes=ev["fri"].id)
    return couple, ev


def test_timeline_lists_every_visible_event_in_merge_order(
    story: tuple[Couple, dict[str, Event]],
) -> None:
    couple, ev = story
    items = couple.items()
    first_days = [decode_event(i.raw) for i in items if i.local_date == SUN.isoformat()]

    assert [e.type for e in first_days] == ["device.added", "person.named"] * 2
    assert timeline(items) == [
        *first_days,
        ev["mon"],
        ev["walk"],
        ev["tue"],
        ev["thanks"],
        ev["wed"],
        ev["fixed"],
    ]


def test_timeline_since_and_until_are_inclusive_local_dates(
    story: tuple[Couple, dict[str, Event]],
) -> None:
    couple, ev = story
    items = couple.items()

    assert timeline(items, since=TUE, until=WED) == [ev["tue"], ev["thanks"], ev["wed"]]
    assert timeline(items, since=WED) == [ev["wed"], ev["fixed"]]
    assert timeline(items, since=MON, until=MON) == [ev["mon"], ev["walk"]]
    assert timeline(items, since=SAT) == []


def test_timeline_type_filter_keeps_only_those_types(
    story: tuple[Couple, dict[str, Event]],
) -> None:
    couple, ev = story
    items = couple.items()

    assert timeline(items, types=frozenset({"checkin"})) == [
        ev["mon"],
        ev["tue"],
        ev["wed"],
        ev["fixed"],
    ]
    assert timeline(items, types=frozenset({"gratitude", "milestone"})) == [
        ev["walk"],
        ev["thanks"],
    ]
    assert timeline(items, since=TUE, types=frozenset({"checkin"})) == [
        ev["tue"],
        ev["wed"],
        ev["fixed"],
    ]
    assert timeline(items, types=frozenset({"retract"})) == []


def test_timeline_ignores_corrections_by_someone_other_than_the_author(
    story: tuple[Couple, dict[str, Event]],
) -> None:
    couple, ev = story
    record(couple.alex, at(SAT, 8), Retraction(target=ev["walk"].id))
    not_theirs = record(couple.alex, at(SAT, 9), CheckIn(energy=1), supersedes=ev["wed"].id)

    assert timeline(couple.items(), types=frozenset({"checkin", "milestone"})) == [
        ev["mon"],
        ev["walk"],
        ev["tue"],
        ev["wed"],
        ev["fixed"],
        not_theirs,
    ]
