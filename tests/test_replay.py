"""Replay at T is the journal exactly as this device held it at T, whatever arrives later."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tend.core.domain.events import CheckIn, Gratitude, Milestone
from tend.core.journal import Journal
from tend.core.trust import pairing
from tend.core.trust.ingest import ingest
from tend.core.views import projections
from tests.conftest import keys_of


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.at = start

    def __call__(self) -> dt.datetime:
        self.at += dt.timedelta(minutes=5)
        return self.at


def view_at(journal: Journal, moment: dt.datetime) -> object:
    known = projections.as_known_at(journal.items(), int(moment.timestamp() * 1000))
    start, end = projections.week_bounds(moment.date())
    return (
        [i.order for i in known],
        projections.today(known, journal.device.person, moment.date()),
        projections.period(known, start, end),
        [(e.id, e.body) for e in projections.timeline(known)],
    )


def test_replay_at_a_moment_ignores_entries_that_arrived_later_even_older_ones(
    tmp_path: Path,
) -> None:
    monday = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)
    sam_clock, alex_clock = Clock(monday), Clock(monday)
    sam = Journal.create(tmp_path / "sam", "Sam", now=sam_clock)
    alex = pairing.pair_directly(
        sam, tmp_path / "alex", own=False, name="Alex", label="", clock=alex_clock
    )
    ingest(sam, [s.entry for s in alex.store.since(0)], keys=keys_of(alex))

    sam.record(CheckIn(day="rest", energy=3))
    # Alex records on Tuesday, offline: older than Sam's Wednesday replay moment...
    alex_clock.at = monday + dt.timedelta(days=1)
    alex.record(CheckIn(day="good", energy=8, offer="soup"))
    alex.record(Milestone(title="walked to the corner together"))
    sam_clock.at = monday + dt.timedelta(days=2)
    sam.record(Gratitude(text="thank you for the tea"))
    wednesday_evening = monday + dt.timedelta(days=2, hours=12)
    before = view_at(sam, wednesday_evening)

    # ...and it only reaches Sam's device on Friday, with more from Sam after that.
    sam_clock.at = monday + dt.timedelta(days=4)
    report = ingest(sam, [s.entry for s in alex.store.since(0)], keys=keys_of(alex))
    assert report.applied == 2 and not report.refused
    sam.record(CheckIn(day="gentle", energy=5))

    assert view_at(sam, wednesday_evening) == before
    friday = monday + dt.timedelta(days=4, hours=12)
    names_then = [
        name
        for _p, name, ev in projections.today(
            projections.as_known_at(sam.items(), int(friday.timestamp() * 1000)),
            sam.device.person,
            friday.date(),
        ).people
        if ev is not None
    ]
    assert sorted(names_then) == ["Alex", "Sam"]  # ...while a later replay does show them
