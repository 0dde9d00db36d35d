"""`tend demo`: one partner's week, recorded and looked back on, offline, in a temporary journal.

It drives the same journal, views and renderers the commands use, with a clock that walks
through the week, so the story has real days in it. Nothing is left behind unless --keep.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import click

from tend.cli import render
from tend.cli.look_cmds import show_period
from tend.core import events as ev
from tend.core import projections
from tend.core.ids import new_event_id
from tend.core.journal import Journal
from tend.core.validate import week_of
from tend.core.verify import verify


class WalkingClock:
    """A clock the story moves forward: each call is a little later than the last."""

    def __init__(self, start: dt.datetime) -> None:
        self.at = start

    def __call__(self) -> dt.datetime:
        self.at += dt.timedelta(minutes=3)
        return self.at

    def morning_of(self, day: dt.date) -> None:
        self.at = dt.datetime.combine(day, dt.time(8, 30)).astimezone()


def _say(text: str) -> None:
    click.echo(click.style("» ", fg="green") + text)


def _story(journal: Journal, clock: WalkingClock, monday: dt.date) -> None:
    week = week_of(monday)
    days = [monday + dt.timedelta(d) for d in range(7)]
    clock.morning_of(days[0])
    walk = new_event_id()
    journal.record(ev.JoyIdea(item=walk, week=week, title="tea on the balcony", cost=1))
    journal.record(ev.JoyIdea(item=new_event_id(), week=week, title="call my sister", cost=2))
    touch = new_event_id()
    journal.record(
        ev.GoalSet(goal=touch, title="one tender-touch session a week", flare_rule="pause")
    )
    plan = [
        dict(day="gentle", energy=4, pain=3, mood=3, needs=("quiet company",), offer="a film"),
        dict(day="good", energy=6, pain=2, mood=4, offer="cook dinner together"),
        dict(day="rest", energy=2, needs=("soup", "no visitors")),
        dict(day="flare", energy=1, pain=7, needs=("heat pad", "dim lights")),
        dict(day="rest", energy=3, pain=4, mood=3),
        dict(day="gentle", energy=5, pain=3, mood=4, offer="a short walk"),
        dict(day="good", energy=6, pain=2, mood=5),
    ]
    for day, values in zip(days, plan, strict=True):
        clock.morning_of(day)
        journal.record(ev.CheckIn(**values))  # type: ignore[arg-type]
    clock.morning_of(days[1])
    journal.record(ev.Milestone(title="walked to the corner together", category="movement"))
    journal.record(ev.Gratitude(text="I appreciated how you made coffee while I rested"))
    journal.record(
        ev.CalendarEntry(kind="appointment", date=days[4].isoformat(), time="10:30", title="physio")
    )
    journal.record(ev.CalendarEntry(kind="rest", date=days[2].isoformat()))
    clock.morning_of(days[3])
    journal.record(ev.JoyStatus(item=walk, week=week, status="planned"))
    journal.record(ev.ComfortSignal(signal="yellow", note="gentle hugs only today"))
    clock.morning_of(days[5])
    journal.record(ev.JoyStatus(item=walk, week=week, status="done"))
    journal.record(ev.Milestone(title="laughed at the old photos", category="laughter"))
    clock.morning_of(days[6])
    journal.record(
        ev.GoalWeek(goal=touch, week=week, outcome="adapted", note="shorter, and lovely")
    )
    journal.record(
        ev.PartnershipWeek(
            week=week,
            appreciations=("your patience on Thursday",),
            went_well="we asked for things plainly",
            adjustment="plan rest before the physio",
        )
    )


def run(keep: Path | None) -> None:
    home = keep or Path(tempfile.mkdtemp(prefix="tend-demo-")) / "home"
    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday() + 7)  # last week, all seven days of it
    clock = WalkingClock(dt.datetime.combine(monday, dt.time(8, 0)).astimezone())
    try:
        _say(f"A new journal for Robin, in {home} (nothing leaves this machine).")
        journal = Journal.create(home, "Robin", label="laptop", now=clock)
        _say("Robin's week: check-ins (one tap on rest days), a flare, small wins, a thank-you.")
        _story(journal, clock, monday)
        items = journal.items()
        _say(f"{len(items)} entries, each sealed and signed in an append-only log.")
        click.echo()
        show_period(
            items,
            monday,
            monday + dt.timedelta(6),
            f"Robin's week of {monday:%-d %B}",
            as_json=False,
        )
        click.echo()
        midweek = dt.datetime.combine(monday + dt.timedelta(2), dt.time(20, 0)).astimezone()
        known = projections.as_known_at(items, int(midweek.timestamp() * 1000))
        _say(
            f"Replay: the journal exactly as it was on {midweek:%A evening} "
            f"({len(known)} entries then):"
        )
        render.today(projections.today(known, journal.device.person, midweek.date()))
        report = verify(journal)
        _say(
            f"Verified {report.entries} entries: chains, envelopes and signatures "
            f"{'all check out' if report.ok else 'have problems'}."
        )
        journal.close()
        _say("Next: tend init --name YOU, then tend checkin --day rest. Rest counts.")
    finally:
        if keep is None:
            shutil.rmtree(home.parent, ignore_errors=True)
