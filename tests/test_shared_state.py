"""Shared state is a fold of validated payloads; its Automerge export holds exactly the same."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tend.core.domain import automerge_export, shared_state
from tend.core.domain.events import (
    Boundary,
    CareSwap,
    CareTask,
    GoalSet,
    GoalWeek,
    JoyIdea,
    JoyStatus,
)
from tend.core.journal import Journal
from tend.core.views import projections
from tests.attacker import event_in, write_own
from tests.conftest import gossip, invite

WEEK = "2026-W49"


def couple(tmp: Path) -> tuple[Journal, Journal]:
    sam = Journal.create(tmp / "sam", "Sam")
    alex = invite(sam, tmp / "alex", own=False, name="Alex")
    gossip(sam, alex)
    return sam, alex


def test_the_automerge_export_holds_exactly_what_the_fold_shows(tmp_path: Path) -> None:
    sam, alex = couple(tmp_path)
    joy = sam.record(lambda i: JoyIdea(item=i, week=WEEK, title="tea", cost=2))
    goal = alex.record(lambda g: GoalSet(goal=g, title="a walk"))
    gossip(sam, alex)
    alex.record(JoyStatus(item=joy.id, week=WEEK, status="planned"))
    sam.record(GoalWeek(goal=goal.id, week=WEEK, outcome="adapted"))
    sam.record(lambda b: Boundary(boundary=b, text="ask first"))
    write_own(alex, event_in(alex, JoyIdea(item=joy.id, week=WEEK, title="chores")))  # ignored
    gossip(sam, alex)
    items = sam.items()
    for doc in (f"joy/{WEEK}", "goals", "comfort"):
        events = projections.shared_events(items, doc)
        exported = automerge_export.document(shared_state.accepted(events))
        assert automerge_export.read(exported) == projections.board(items, doc), doc
    assert projections.board(items, f"joy/{WEEK}")[joy.id.hex()]["title"] == "tea"


def test_of_two_swaps_the_later_one_in_time_wins_whoever_made_it(tmp_path: Path) -> None:
    sam, alex = couple(tmp_path)
    task = sam.record(lambda t: CareTask(task=t, title="laundry", owner="me"))
    gossip(sam, alex)
    now = dt.datetime.now().astimezone()
    # Alex swaps it to themselves three days ago, offline; Sam swaps it back today.
    alex.now = lambda: now - dt.timedelta(days=3)
    alex.record(CareSwap(task=task.id, to="me"))
    sam.now = lambda: now
    sam.record(CareSwap(task=task.id, to="me"))
    gossip(sam, alex)
    for journal in (sam, alex):
        owner = projections.board(journal.items(), "care")[task.id.hex()]["owner"]
        assert owner == sam.device.person.hex()
