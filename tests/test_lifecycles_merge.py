"""Edits, retirements, keeps and swaps made on two partners' devices, at colliding and
backwards-running clocks, with syncs in between, converge: every delivery order of the same
entries, to a device of either partner, shows the same rituals, boundaries, goals and care rota.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tend.core.domain import events as ev
from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.core.log.store import MemoryLogStore
from tend.core.views import keeping, projections
from tests.conftest import started
from tests.test_convergence import (
    BASE,
    Device,
    all_entries,
    all_keys,
    deliver,
    extra_device,
    interleaving,
    pin_each_other,
    sync,
)

WEEKS = ("2026-W11", "2026-W12", "2026-W13")
DAYS = tuple((BASE.date() + dt.timedelta(days=d)).isoformat() for d in range(-3, 3))
OPS = (
    "ritual.edit",
    "ritual.retire",
    "ritual.keep",
    "goal.edit",
    "goal.retire",
    "care.edit",
    "care.swap",
    "boundary.edit",
    "retract",
    "sync",
)


@dataclass(frozen=True)
class Step:
    op: str
    dev: int
    minute: int
    a: int
    b: int


STEPS = st.builds(
    Step,
    op=st.sampled_from(OPS),
    dev=st.integers(0, 1),
    minute=st.integers(0, 30).map(lambda m: m * 45),  # collisions are likely
    a=st.integers(0, 5),
    b=st.integers(0, 5),
)


@dataclass
class Shared:
    ritual: EventId
    goal: EventId
    task: EventId
    boundaries: tuple[EventId, EventId]  # Sam's, then Alex's


def body_of(step: Step, shared: Shared) -> ev.Payload | None:
    a, b, yes = step.a, step.b, step.b % 2 == 0
    if step.op == "ritual.edit":
        return ev.RitualEdit(
            ritual=shared.ritual,
            title=f"tea {a}",
            cadence=ev.CADENCES[b % 3],
            fallback="" if a else "rest",
        )
    if step.op == "ritual.retire":
        return ev.RitualEdit(ritual=shared.ritual, active=yes)
    if step.op == "ritual.keep":
        return ev.RitualKept(ritual=shared.ritual, date=DAYS[a])
    if step.op == "goal.edit":
        return ev.GoalEdit(goal=shared.goal, per_week=1 + a, flare_rule=ev.FLARE_RULES[b % 3])
    if step.op == "goal.retire":
        return ev.GoalEdit(goal=shared.goal, active=yes)
    if step.op == "care.edit":
        return ev.CareEdit(
            task=shared.task, owner=("me", "partner")[a % 2], rotate=yes, active=a != 5
        )
    if step.op == "care.swap":
        week = WEEKS[a % 3] if a < 4 else None  # for one week, or from then on
        return ev.CareSwap(task=shared.task, to=ev.WHO[b % 3], week=week)
    if step.op == "boundary.edit":  # either partner tries either boundary: only its setter counts
        which = shared.boundaries[a % 2]
        return ev.BoundaryEdit(boundary=which, text=f"ask first, from {step.dev}", active=yes)
    return None


def lists(journal: Journal) -> dict[str, Any]:
    items = journal.items()
    return {
        "rituals": keeping.rituals(items),
        "boundaries": keeping.boundaries(items),
        "goals": projections.goals(items, WEEKS),
        "care": {w: projections.care_rota(items, w) for w in WEEKS},
    }


def couple(home: Path) -> tuple[list[Device], Shared]:
    sam = Journal.create(home, "Sam", now=lambda: BASE)
    alex = Journal(home, extra_device(sam.device, same_person=False), MemoryLogStore())
    devices = [Device(sam, dt.UTC, []), Device(alex, dt.UTC, [])]
    devices[1].at(0)
    started(alex, "Alex")
    pin_each_other(devices)
    ritual = sam.record(lambda i: ev.RitualSet(ritual=i, title="tea")).id
    goal = sam.record(lambda i: ev.GoalSet(goal=i, title="walk", per_week=2)).id
    task = sam.record(lambda i: ev.CareTask(task=i, title="laundry", rotate=True)).id
    mine = sam.record(lambda i: ev.Boundary(boundary=i, text="no tickling")).id
    theirs = alex.record(lambda i: ev.Boundary(boundary=i, text="ask before hugs")).id
    sync(sam, alex, 0)
    sync(alex, sam, 0)
    return devices, Shared(ritual, goal, task, (mine, theirs))


@pytest.mark.slow
@given(
    steps=st.lists(STEPS, min_size=4, max_size=25),
    seeds=st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=2),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_edits_retires_keeps_and_swaps_in_any_delivery_order_end_in_the_same_lists(
    steps: list[Step], seeds: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "sam"
        devices, shared = couple(home)
        try:
            for number, step in enumerate(steps):
                me, other = devices[step.dev], devices[1 - step.dev]
                if step.op == "sync":
                    sync(me.journal, other.journal, number)
                    continue
                me.at(step.minute)
                if step.op == "retract":
                    if me.recorded:
                        target = me.recorded[step.a % len(me.recorded)].id
                        me.journal.record(ev.Retraction(target=target))
                    continue
                body = body_of(step, shared)
                assert body is not None
                me.recorded.append(me.journal.record(body))
            logs = all_entries(devices)
            seen = []
            for device in devices:
                for seed in seeds:
                    rnd = random.Random(seed)
                    reader = Journal(home, device.journal.device, MemoryLogStore())
                    deliver(interleaving(logs, rnd), reader, rnd, all_keys(devices))
                    seen.append(lists(reader))
            assert all(outcome == seen[0] for outcome in seen[1:])
            # A boundary stays its setter's, in its setter's words, whoever tried to change it.
            sam, alex = (d.journal.device.person.hex() for d in devices)
            words = {
                shared.boundaries[0].hex(): (sam, {"no tickling", "ask first, from 0"}),
                shared.boundaries[1].hex(): (alex, {"ask before hugs", "ask first, from 1"}),
            }
            for row in seen[0]["boundaries"]:
                setter, said = words[row.id]
                assert row.by == setter and row.text in said
        finally:
            for device in devices:
                device.journal.close()
