"""Looking back: week and month with charts, and two periods side by side (`tend compare`).

One journal on disk holds two partners' March 2025 and March 2026. Sam's is made with
Journal.create and a clock the test walks forward; Alex is a device of another person in the
same space (in memory), whose entries are handed to Sam's store the way sync would. The pure
computations are checked in-process; the commands run as real processes on that home, without a
terminal (and, for colour, on a pseudo-terminal).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tend.cli import charts, jsonview
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event
from tend.core.domain.events import (
    CalendarEntry,
    Celebration,
    CheckIn,
    Event,
    GoalSet,
    GoalWeek,
    Gratitude,
    JoyIdea,
    JoyStatus,
    Milestone,
    Payload,
    PersonNamed,
    Retraction,
)
from tend.core.domain.validate import week_of
from tend.core.errors import ValidationError
from tend.core.ids import PersonId, new_space_id
from tend.core.journal import Body, Journal
from tend.core.log.store import MemoryLogStore
from tend.core.views import projections
from tend.core.views.compare import Period, compare, parse_period, summarise
from tend.core.views.read_model import Item
from tests.conftest import TendCLI, keys_of, new_person_device, pin, tend_env

TZ = dt.timezone(dt.timedelta(hours=1))
WIDTH = 80
ANSI = "\x1b"
JUDGING = ("worse", "better", "improv", "declin", "fail", "missed", "streak", "score", "badge")
COMPARE_KEYS = {
    "period",
    "kind",
    "label",
    "start",
    "end",
    "weeks",
    "milestones",
    "celebrations",
    "gratitude",
    "joys_done",
    "rest_days_honoured",
    "goals_met",
    "goals_adapted",
    "goals_paused",
    "people",
}
PERSON_KEYS = {
    "person",
    "name",
    "rest_days_honoured",
    "energy_average",
    "energy_days",
    "pain_average",
    "pain_days",
}


def on(day: str, hour: int = 9) -> dt.datetime:
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, hour, tzinfo=TZ)


class Clock:
    """The `now` of a journal: whatever moment the test set last."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def partner_keys(of: DeviceKeys) -> DeviceKeys:
    device: DeviceKeys = new_person_device(of.space, like=of)
    pin(of, device)
    return device


@dataclass
class Story:
    home: Path
    sam: PersonId
    alex: PersonId
    ids: dict[str, Event] = field(default_factory=dict)

    @property
    def cli(self) -> TendCLI:
        return TendCLI(self.home)

    def items(self) -> list[Item]:
        with Journal.open(self.home) as j:
            return j.items()


def build_story(home: Path) -> Story:
    """March 2025 and March 2026 of Sam and Alex, every kind of thing the views count."""
    clock = Clock(on("2025-02-27"))
    sam = Journal.create(home, "Sam", now=clock)
    alex = Journal(home, partner_keys(sam.device), MemoryLogStore(), now=clock)
    alex.record(alex.own_claim())  # every log begins with its own claim
    sam.save_device()  # with Alex pinned, as pairing leaves it
    story = Story(home, sam.device.person, alex.device.person)
    ids = story.ids

    def at(when: str, who: Journal, body: Body, **kw: Any) -> Event:
        clock.at = dt.datetime.fromisoformat(when + ":00").replace(tzinfo=TZ)
        return who.record(body, **kw)

    at("2025-02-27T10", alex, PersonNamed(person=alex.device.person, name="Alex"))
    goal = at(
        "2025-02-27T11", sam, lambda g: GoalSet(goal=g, title="one tender-touch session a week")
    ).id
    # March 2025: Sam has a flare and rests; one small win, one thank-you, a goal week met.
    at("2025-03-03T09", sam, CheckIn(day="flare", energy=3, pain=6))
    at("2025-03-03T10", alex, CheckIn(day="good", energy=6))
    at("2025-03-04T09", sam, CheckIn(day="rest", energy=4, pain=5))
    at("2025-03-05T09", sam, CheckIn(energy=5))
    at("2025-03-05T18", sam, Milestone(title="sat in the garden", category="outing"))
    at("2025-03-06T20", alex, Gratitude(text="thank you for telling me how you felt"))
    at("2025-03-07T20", sam, GoalWeek(goal=goal, week="2025-W10", outcome="met"))
    at("2025-03-10T09", alex, CheckIn(day="rest"))
    # Planned before March 2026: an appointment and a rest day in March.
    at(
        "2026-02-20T12",
        sam,
        CalendarEntry(kind="appointment", date="2026-03-12", time="10:30", title="physio"),
    )
    at("2026-03-01T12", sam, CalendarEntry(kind="rest", date="2026-03-15"))
    # March 2026, week 11 (9-15 March) and after.
    at("2026-03-09T08", sam, CheckIn(day="gentle", energy=4, pain=3))
    at("2026-03-09T09", alex, CheckIn(day="good", energy=6))
    wrong = at("2026-03-10T08", sam, CheckIn(energy=5, pain=2))
    at("2026-03-10T09", sam, CheckIn(energy=6, pain=2), supersedes=wrong.id)
    ids["walk"] = at(
        "2026-03-10T17", sam, Milestone(title="walked to the corner together", category="movement")
    )
    at("2026-03-10T20", alex, Gratitude(text="thank you for the soup"))
    at("2026-03-11T08", sam, CheckIn(day="rest", energy=3))
    at("2026-03-11T12", alex, Celebration(milestone=ids["walk"].id, note="so proud"))
    tea = at(
        "2026-03-11T13", sam, lambda i: JoyIdea(item=i, week="2026-W11", title="tea on the balcony")
    ).id
    at(
        "2026-03-11T14",
        sam,
        lambda i: JoyIdea(item=i, week="2026-W11", title="kite flying", cost=2),
    )
    at("2026-03-12T08", sam, CheckIn(day="flare", energy=2, pain=7))
    ids["photos"] = at(
        "2026-03-12T19", alex, Milestone(title="laughed at the old photos", category="laughter")
    )
    mistake = at("2026-03-12T20", sam, Milestone(title="recorded by mistake"))
    at("2026-03-12T21", sam, Retraction(target=mistake.id))
    at("2026-03-13T09", alex, CheckIn(day="rest", energy=5))
    at("2026-03-13T18", sam, JoyStatus(item=tea, week="2026-W11", status="done"))
    at("2026-03-14T09", sam, CheckIn(day="good", energy=7, pain=1))
    at("2026-03-14T20", sam, Gratitude(text="I appreciated your patience"))
    at("2026-03-15T20", sam, GoalWeek(goal=goal, week="2026-W11", outcome="adapted"))
    at("2026-03-22T20", sam, GoalWeek(goal=goal, week="2026-W12", outcome="met"))
    film = at(
        "2026-03-25T12", sam, lambda i: JoyIdea(item=i, week="2026-W13", title="film night")
    ).id
    at("2026-03-27T20", sam, JoyStatus(item=film, week="2026-W13", status="done"))
    at("2026-03-29T20", sam, GoalWeek(goal=goal, week="2026-W13", outcome="paused"))
    # The week of 30 March has its Thursday in April: it belongs to April, not March.
    picnic = at("2026-03-31T12", sam, lambda i: JoyIdea(item=i, week="2026-W14", title="picnic")).id
    at("2026-03-31T18", sam, JoyStatus(item=picnic, week="2026-W14", status="done"))
    # April: Sam celebrates Alex's March small win late (the month view still shows it).
    ids["late-cheer"] = at("2026-04-02T10", sam, Celebration(milestone=ids["photos"].id))
    at("2026-04-02T11", sam, CheckIn(energy=9, pain=0))

    received = int(on("2026-04-03").timestamp() * 1000)
    sam.store.append(  # what sync does
        [(s.entry, received) for s in alex.store.since(0)], keys=keys_of(alex)
    )
    sam.close()
    return story


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    return build_story(tmp_path_factory.mktemp("reflection") / "x")


def cells(line: str) -> int:
    """Terminal columns a line takes (wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def assert_fits(text: str, width: int = WIDTH) -> None:
    long = [line for line in text.splitlines() if cells(line) > width]
    assert long == [], f"{len(long)} lines wider than {width}: {long[:3]}"


def text_env(**extra: str) -> dict[str, str]:
    """No terminal, 80 columns, and nothing in the environment that forces colour either way."""
    drop = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "LINES")
    env = {k: v for k, v in tend_env().items() if k not in drop}
    env.update({"COLUMNS": str(WIDTH), "TERM": "xterm-256color", **extra})
    return env


# --- periods -----------------------------------------------------------------------------------


def test_a_period_is_a_month_an_iso_week_or_a_year_with_both_ends_included() -> None:
    assert parse_period("PERIOD", "2026-03") == Period(
        "2026-03", "month", dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    )
    assert parse_period("PERIOD", "2024-02").end == dt.date(2024, 2, 29)
    assert parse_period("PERIOD", "2026-W11") == Period(
        "2026-W11", "week", dt.date(2026, 3, 9), dt.date(2026, 3, 15)
    )
    assert parse_period("PERIOD", "2026-W53").start == dt.date(2026, 12, 28)  # 2026 has 53
    assert parse_period("PERIOD", "2025") == Period(
        "2025", "year", dt.date(2025, 1, 1), dt.date(2025, 12, 31)
    )
    assert [parse_period("PERIOD", p).label for p in ("2026-03", "2026-W11", "2026")] == [
        "March 2026",
        "week of 9 March 2026",
        "2026",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "2026-13",
        "2026-00",
        "2026-W54",
        "2025-W53",
        "2026-W00",
        "26-03",
        "2026-3",
        "March",
        "0000",
        "",
        "2026-03-01",
    ],
)
def test_anything_else_is_refused_naming_the_field_and_what_is_allowed(bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_period("PERIOD", bad)
    assert refused.value.field == "PERIOD"
    assert "2026-03" in str(refused.value) and "2026-W11" in str(refused.value)


def test_a_week_belongs_to_the_month_or_year_that_holds_its_thursday() -> None:
    # 1 March 2026 is a Sunday: the week of 23 February has its Thursday in February, and the
    # week of 30 March has its Thursday (2 April) in April.
    assert parse_period("PERIOD", "2026-03").weeks() == [
        "2026-W10",
        "2026-W11",
        "2026-W12",
        "2026-W13",
    ]
    assert parse_period("PERIOD", "2026-04").weeks()[0] == "2026-W14"
    year = parse_period("PERIOD", "2026").weeks()
    assert (year[0], year[-1], len(year)) == ("2026-W01", "2026-W53", 53)
    assert parse_period("PERIOD", "2026-W11").weeks() == ["2026-W11"]


# --- compare, computed -------------------------------------------------------------------------


def test_compare_counts_small_wins_and_rest_first_then_averages_what_was_noted(
    story: Story,
) -> None:
    march26, march25 = compare(
        story.items(), [parse_period("P", "2026-03"), parse_period("P", "2025-03")], story.sam
    )
    # March 2026: two small wins (the one taken back is not counted), Alex's celebration in
    # March (Sam's, written in April, belongs to April), two thank-yous.
    assert (march26.milestones, march26.celebrations, march26.gratitude) == (2, 1, 2)
    # Joys done in weeks 11 and 13; the picnic (week 14, Thursday in April) is April's.
    assert march26.joys_done == 2
    assert (march26.goals_met, march26.goals_adapted, march26.goals_paused) == (1, 1, 1)
    sam, alex = march26.people
    assert (sam.name, alex.name) == ("Sam", "Alex")
    # Sam: rest on the 11th, a flare (rest too) on the 12th; Alex: rest on the 13th.
    assert (sam.rest_days_honoured, alex.rest_days_honoured, march26.rest_days_honoured) == (
        2,
        1,
        3,
    )
    # The corrected check-in counts (energy 6, not 5): 4, 6, 3, 2, 7; pain 3, 2, 7, 1.
    assert (sam.energy, sam.energy_average) == ([4, 6, 3, 2, 7], 4.4)
    assert (sam.pain, sam.pain_average) == ([3, 2, 7, 1], 3.25)
    assert (alex.energy_average, alex.pain_average, alex.pain) == (5.5, None, [])

    assert (march25.milestones, march25.celebrations, march25.gratitude) == (1, 0, 1)
    assert (march25.joys_done, march25.goals_met, march25.goals_adapted) == (0, 1, 0)
    assert [p.rest_days_honoured for p in march25.people] == [2, 1]
    assert [p.energy_average for p in march25.people] == [4.0, 6.0]
    assert [p.pain_average for p in march25.people] == [5.5, None]


def test_compare_puts_me_first_and_a_week_or_a_year_counts_the_same_way(story: Story) -> None:
    items = story.items()
    week = summarise(items, parse_period("P", "2026-W11"), story.alex)
    assert [p.name for p in week.people] == ["Alex", "Sam"]
    assert (week.milestones, week.celebrations, week.gratitude, week.joys_done) == (2, 1, 2, 1)
    assert (week.goals_met, week.goals_adapted, week.goals_paused) == (0, 1, 0)
    year = summarise(items, parse_period("P", "2026"), story.sam)
    # The year holds April too: the late celebration, the picnic, and the check-in of 2 April.
    assert (year.milestones, year.celebrations, year.joys_done) == (2, 2, 3)
    assert year.people[0].energy == [4, 6, 3, 2, 7, 9]
    empty = summarise(items, parse_period("P", "2024"), story.sam)
    assert empty.is_empty() and not week.is_empty()


def test_compare_json_has_exactly_the_documented_keys(story: Story) -> None:
    got = jsonview.compare(compare(story.items(), [parse_period("P", "2026-03")], story.sam))
    [period] = got["periods"]
    assert set(period) == COMPARE_KEYS
    assert all(set(p) == PERSON_KEYS for p in period["people"])
    prose = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    section = prose.split("- `compare PERIOD PERIOD`", 1)[1].split("\n- `", 1)[0]
    assert sorted(k for k in COMPARE_KEYS if f"`{k}`" not in section) == []
    people = re.search(r"`\[\{([a-z_, ]+)\}\]`", section)
    assert people is not None
    assert set(people.group(1).split(", ")) == PERSON_KEYS


# --- week and month, computed ------------------------------------------------------------------


def test_series_gives_every_day_of_the_period_its_last_energy_and_pain(story: Story) -> None:
    items = story.items()
    view = projections.period(items, dt.date(2026, 3, 9), dt.date(2026, 3, 15))
    series = projections.series(view)
    assert [(d.day, e, p) for d, e, p in series[story.sam]] == [
        (9, 4, 3),
        (10, 6, 2),
        (11, 3, None),
        (12, 2, 7),
        (13, None, None),
        (14, 7, 1),
        (15, None, None),
    ]
    assert [e for _d, e, _p in series[story.alex]] == [6, None, None, None, 5, None, None]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-01", "2026-03-31"),
        ("2026-03-09", "2026-03-15"),
        ("2026-03-16", "2026-03-22"),
        ("2025-03-01", "2025-03-31"),
        ("2026-02-01", "2026-02-28"),
        ("2026-04-01", "2026-04-30"),
    ],
)
def test_period_items_gives_the_same_view_from_fewer_entries(
    story: Story, start: str, end: str
) -> None:
    items = story.items()
    s, e = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    full, chosen = projections.period(items, s, e), projections.period_items(items, s, e)
    fast = projections.period(chosen, s, e)
    assert len(chosen) < len(items)
    assert (fast.people, fast.milestones, fast.gratitude) == (
        full.people,
        full.milestones,
        full.gratitude,
    )
    assert (fast.calendar, fast.goal_weeks, fast.partnership) == (
        full.calendar,
        full.goal_weeks,
        full.partnership,
    )
    shown = {m.id for m in full.milestones}
    assert {k: v for k, v in fast.celebrations.items() if k in shown} == {
        k: v for k, v in full.celebrations.items() if k in shown
    }


def test_period_items_keeps_what_was_written_outside_the_month_about_the_month(
    story: Story,
) -> None:
    march = projections.period(
        projections.period_items(story.items(), dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 31),
    )
    # The appointment was planned in February; Alex's small win was celebrated in April.
    assert [c.body.summary() for c in march.calendar] == [
        "physio on 2026-03-12 at 10:30",
        "rest day on 2026-03-15",
    ]
    photos = story.ids["photos"].id
    assert [c.id for c in march.celebrations[photos]] == [story.ids["late-cheer"].id]
    assert [g.body.summary() for g in march.goal_weeks] == [
        "goal adapted for 2026-W11",
        "goal met for 2026-W12",
        "goal paused for rest for 2026-W13",
    ]


def test_period_items_leaves_out_what_is_about_another_period(story: Story) -> None:
    def chosen(start: str, end: str) -> set[str]:
        items = projections.period_items(
            story.items(), dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        )
        return {decode_event(i.raw).body.summary() for i in items if i.local_date < start}

    names = {"joined as Sam", "joined as Alex"}
    always = names | {"took back an entry"}  # names and retractions are always kept
    # Written before April, about March (rest days, goal weeks, celebrations): not April's.
    assert chosen("2026-04-01", "2026-04-30") == always
    # Written before the week of 9 March, about it: the appointment and the rest day planned.
    assert chosen("2026-03-09", "2026-03-15") == names | {
        "physio on 2026-03-12 at 10:30",
        "rest day on 2026-03-15",
    }
    # Before the week of 16 March, nothing is about it: not even a celebration of a small win
    # of the week before, nor a goal week of another week.
    assert chosen("2026-03-16", "2026-03-22") == always


# Hypothesis: whatever calendar entries, small wins, celebrations and goal weeks two people
# record, on whatever days and about whatever days, period() over period_items() is period().

ACTION = st.tuples(
    st.sampled_from(["sam", "alex"]),
    st.sampled_from(["calendar", "milestone", "celebrate", "goal", "checkin", "retract"]),
    st.integers(0, 40),  # the day it is written, days after 20 February 2026
    st.integers(-20, 40),  # what it is about: a day, a week, or which earlier entry
)


@given(actions=st.lists(ACTION, min_size=2, max_size=16), first=st.integers(0, 50))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_period_items_never_changes_a_period_whatever_was_recorded(
    actions: list[tuple[str, str, int, int]], first: int
) -> None:
    clock = Clock(on("2026-02-19"))
    keys_sam: DeviceKeys = new_person_device(new_space_id())
    sam = Journal(Path("unused"), keys_sam, MemoryLogStore(), now=clock)
    alex = Journal(Path("unused"), partner_keys(keys_sam), MemoryLogStore(), now=clock)
    for journal in (sam, alex):
        journal.record(journal.own_claim())  # every log begins with its own claim
    sam.record(PersonNamed(person=keys_sam.person, name="Sam"))
    alex.record(PersonNamed(person=alex.device.person, name="Alex"))
    goal = sam.record(lambda g: GoalSet(goal=g, title="walk")).id
    base = dt.date(2026, 2, 20)
    wins: list[Event] = []
    written: list[Event] = []
    for n, (who, kind, day, about) in enumerate(actions):
        journal = sam if who == "sam" else alex
        clock.at = on((base + dt.timedelta(days=day)).isoformat(), 8) + dt.timedelta(minutes=n)
        target = base + dt.timedelta(days=day + about)
        if kind == "calendar":
            body: Payload = CalendarEntry(kind="rest", date=target.isoformat())
        elif kind == "celebrate" and wins:
            body = Celebration(milestone=wins[about % len(wins)].id)
        elif kind == "goal":
            body = GoalWeek(goal=goal, week=week_of(target), outcome="met")
            journal = sam  # the shared goals document lives on Sam's device in this test
        elif kind == "retract" and written:
            body = Retraction(target=written[about % len(written)].id)
        elif kind == "checkin":
            body = CheckIn(energy=abs(about) % 11)
        else:
            body = Milestone(title=f"small win {n}")
        ev = journal.record(body)
        written.append(ev)
        if isinstance(body, Milestone):
            wins.append(ev)
    sam.store.append([(s.entry, 0) for s in alex.store.since(0)], keys=keys_of(alex))
    items = sam.items()
    start = base + dt.timedelta(days=first)
    for s, e in (projections.week_bounds(start), projections.month_bounds(start)):
        full = projections.period(items, s, e)
        fast = projections.period(projections.period_items(items, s, e), s, e)
        assert (fast.people, fast.milestones, fast.calendar, fast.goal_weeks) == (
            full.people,
            full.milestones,
            full.calendar,
            full.goal_weeks,
        )
        for win in full.milestones:
            assert fast.celebrations.get(win.id) == full.celebrations.get(win.id)


# --- charts, drawn -----------------------------------------------------------------------------


DAYS = [dt.date(2026, 3, 1) + dt.timedelta(d) for d in range(31)]
ENERGY = [None if d % 6 == 5 else (d * 3) % 11 for d in range(31)]
PAIN = [None if d % 4 == 3 else (d * 7) % 11 for d in range(31)]


@pytest.mark.parametrize("columns", [80, 60, 40])
def test_a_chart_is_exactly_as_wide_as_asked_and_plain_without_colour(columns: int) -> None:
    drawn = charts.energy_pain(
        "Sam: energy and pain", DAYS, ENERGY, PAIN, colour=False, columns=columns
    )
    lines = drawn.splitlines()
    assert ANSI not in drawn
    assert max(cells(line) for line in lines) == columns
    assert "Sam: energy and pain" in lines[0]
    assert lines[1].lstrip().startswith("┌") and "└" in drawn and "10┤" in drawn
    assert charts.ENERGY[0] in drawn and charts.PAIN[0] in drawn


def test_a_chart_in_colour_has_escape_codes_that_take_no_columns() -> None:
    drawn = charts.energy_pain("Sam", DAYS, ENERGY, PAIN, colour=True, columns=80)
    assert ANSI in drawn
    assert max(cells(line) for line in charts.strip_ansi(drawn).splitlines()) <= 80


def test_a_week_chart_names_its_days_and_a_day_without_a_note_stays_blank() -> None:
    week = DAYS[8:15]  # Monday 9 to Sunday 15 March
    drawn = charts.energy_pain(
        "Sam", week, [4, None, None, None, None, None, 4], [None] * 7, colour=False, columns=80
    )
    assert "Mon 9" in drawn and "Sun 15" in drawn
    # Two points, no line between them across the days with nothing noted.
    assert drawn.count(charts.ENERGY[0]) == 2
    assert not re.search("[\u2800-\u28ff]", drawn)  # no braille line segments at all


def test_charts_width_follows_columns_but_never_passes_80(monkeypatch: pytest.MonkeyPatch) -> None:
    for columns, expected in (("200", 80), ("80", 80), ("64", 64), ("10", charts.MIN_WIDTH)):
        monkeypatch.setenv("COLUMNS", columns)
        assert charts.width() == expected


# --- the commands, as processes ----------------------------------------------------------------


def run_text(story: Story, *args: str, **env: str) -> str:
    result = subprocess.run(
        story.cli.argv(*args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=text_env(**env),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize(
    ("command", "title"), [("week", "Week of 9 March 2026"), ("month", "March 2026")]
)
def test_week_and_month_fit_80_columns_with_charts_and_no_escape_codes(
    story: Story, command: str, title: str
) -> None:
    out = run_text(story, command, "--at", "2026-03-11")
    assert_fits(out)
    assert ANSI not in out
    assert title in out
    # One chart per partner: the title, plotext's frame and the 0-10 axis.
    assert out.count("energy and pain") == 2
    assert out.count("┌") >= 2 and out.count("└") >= 2 and out.count("10┤") == 2
    assert "rest ✓" in out and "flare, rest ✓" in out  # rest days shown as kept
    # Each person's rest in their own section, as days kept: never a tally beside the other's.
    assert "honoured" not in out
    sam_days = out.split("Sam's days", 1)[1].split("Alex's days", 1)[0]
    assert "rest kept on Wed 11 Mar, Thu 12 Mar; rest counts" in sam_days
    assert "rest kept on Fri 13 Mar; rest counts" in out.split("Alex's days", 1)[1]
    assert re.search(r"celebrated by Alex: so\s+proud", out)  # with what Alex said
    for shown in (
        "walked to the corner together",
        "laughed at the old photos",
        "thank you for the soup",
        "I appreciated your patience",
        "Sam: physio on 2026-03-12",  # whose the appointment is
        "tea on the balcony ✓",
        "adapted ✓",
    ):
        assert shown in out, shown
    assert "recorded by mistake" not in out
    lowered = out.lower()
    assert [w for w in JUDGING if w in lowered] == []


def test_month_shows_every_goal_week_as_met_adapted_or_paused_for_rest(story: Story) -> None:
    out = run_text(story, "month", "--at", "2026-03-01")
    assert "2026-W11: adapted ✓" in out and "2026-W12: met ✓" in out
    assert "2026-W13: paused for rest ✓" in out
    assert "film night ✓" in out and "kite flying · an idea" in out


def test_no_escape_codes_with_no_color_even_on_a_terminal_and_colour_without_it(
    story: Story,
) -> None:
    plain = run_on_terminal(story, "month", "--at", "2026-03-11", NO_COLOR="1")
    assert "energy and pain" in plain and "┌" in plain
    assert ANSI not in plain
    coloured = run_on_terminal(story, "month", "--at", "2026-03-11")
    assert "energy and pain" in coloured
    assert ANSI + "[" in coloured  # so the test above could fail
    assert_fits(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", coloured))


def run_on_terminal(story: Story, *args: str, **env: str) -> str:
    """Run with stdout on a pseudo-terminal 80 columns wide; what it printed, as text."""
    import fcntl
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, WIDTH, 0, 0))
    environment = text_env(**env)
    environment.pop("COLUMNS")
    proc = subprocess.Popen(
        story.cli.argv(*args),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=environment,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _w, _x = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # the other end closed: everything has been read
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None and proc.stderr.read() == b""
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_week_and_month_json_keep_their_keys_and_add_a_series_per_person(story: Story) -> None:
    for command, days in (("week", 7), ("month", 31)):
        view = json.loads(run_text(story, command, "--at", "2026-03-11", "--json"))
        assert {
            "start",
            "end",
            "people",
            "milestones",
            "gratitude",
            "calendar",
            "partnership",
            "goal_weeks",
            "joys",
            "goals",
            "series",
        } <= set(view)
        sam, alex = view["series"]
        assert (sam["name"], sam["person"], alex["name"]) == ("Sam", story.sam.hex(), "Alex")
        assert [p["name"] for p in view["people"]] == ["Sam", "Alex"]
        assert len(sam["days"]) == days
        assert set(sam["days"][0]) == {"date", "energy", "pain"}
        noted = {d["date"]: (d["energy"], d["pain"]) for d in sam["days"] if d["energy"]}
        assert noted == {
            "2026-03-09": (4, 3),
            "2026-03-10": (6, 2),
            "2026-03-11": (3, None),
            "2026-03-12": (2, 7),
            "2026-03-14": (7, 1),
        }


def test_compare_leads_with_small_wins_and_rest_then_gentle_averages(story: Story) -> None:
    out = run_text(story, "compare", "2026-03", "2025-03")
    assert_fits(out)
    assert ANSI not in out
    # Asked newer first, drawn older first: every arrow runs from the older period to the newer.
    assert out.splitlines()[0] == "March 2025 beside March 2026"
    order = [
        out.index(s)
        for s in (
            "small wins",
            "celebrations",
            "thank-yous",
            "joys done",
            "rest days honoured",
            "goal weeks met",
            "average energy",
        )
    ]
    assert order == sorted(order)
    assert re.search(r"small wins\s+1\s+2\s*\n", out)
    assert re.search(r"rest days honoured\s+3\s+3\s*\n", out)
    assert re.search(r"goal weeks paused for rest\s+—\s+1\s*\n", out)
    assert re.search(
        r"\n +Sam +average energy +4\.0 → 4\.4 *\n +average pain +5\.5 → 3\.3 *\n", out
    )
    assert re.search(
        r"\n +Alex +average energy +6\.0 → 5\.5 *\n +average pain +none noted *\n", out
    )
    older_first = run_text(story, "compare", "2025-03", "2026-03")
    assert older_first == out  # the order asked for changes nothing drawn
    lowered = out.lower()
    assert [w for w in JUDGING if w in lowered] == []


def test_compare_json_is_each_period_in_the_order_given(story: Story) -> None:
    got = story.cli.json("compare", "2025-03", "2026-W11")
    first, second = got["periods"]
    assert set(got) == {"periods"}
    assert set(first) == COMPARE_KEYS and set(second) == COMPARE_KEYS
    assert (first["period"], first["kind"], first["start"], first["end"]) == (
        "2025-03",
        "month",
        "2025-03-01",
        "2025-03-31",
    )
    assert (second["kind"], second["weeks"], second["milestones"]) == ("week", ["2026-W11"], 2)
    sam = second["people"][0]
    assert sam == {
        "person": story.sam.hex(),
        "name": "Sam",
        "rest_days_honoured": 2,
        "energy_average": 4.4,
        "energy_days": 5,
        "pain_average": 3.25,
        "pain_days": 4,
    }


@pytest.mark.parametrize("bad", ["2026-13", "2026-W60", "last-march"])
def test_a_bad_period_is_one_line_naming_the_field_and_exit_1(story: Story, bad: str) -> None:
    for args in (("compare", bad, "2025-03"), ("compare", "2025-03", bad)):
        result = story.cli(*args)
        assert result.returncode == 1, result.stderr
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("tend: PERIOD: must be a month like 2026-03") and repr(bad) in line


def test_compare_needs_two_periods_usage_exit_2(story: Story) -> None:
    assert story.cli("compare", "2026-03").returncode == 2


LOADED = """
import json, sys
from tend.cli.main import main
code = main(["--home", sys.argv[1], *sys.argv[2:]])
print(json.dumps({"code": code, "plotext": "plotext" in sys.modules}))
"""


@pytest.mark.parametrize(
    ("args", "plotext"),
    [(("checkin", "--day", "rest"), False), (("month", "--at", "2026-03-11"), True)],
)
def test_only_the_commands_that_draw_load_plotext(
    tmp_path: Path, story: Story, args: tuple[str, ...], plotext: bool
) -> None:
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(story.home, home)
    result = subprocess.run(
        [sys.executable, "-c", LOADED, str(home), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=text_env(),
        check=False,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "plotext": plotext}, result.stderr
