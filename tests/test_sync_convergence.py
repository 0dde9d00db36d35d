"""Property: devices that exchange entries through verified ingest, in any order, with
duplicates and gaps, end in identical state (three or four devices, two people)."""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tend.core.domain.events import CheckIn, Gratitude, JoyIdea, JoyStatus, Milestone, Retraction
from tend.core.ids import EventId, PersonId
from tend.core.journal import Journal
from tend.core.trust import pairing
from tend.core.trust.ingest import ingest
from tend.core.views import projections
from tests.conftest import keys_of

JOY = EventId(bytes([7]) * 16)
ME = PersonId(bytes(16))  # "mine first" in today: the same reference person on every device
WEEK = "2026-W11"


class Clock:
    def __init__(self, seed: int) -> None:
        self.at = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seed)

    def __call__(self) -> dt.datetime:
        self.at += dt.timedelta(minutes=7)
        return self.at


def devices(folder: Path, count: int) -> list[Journal]:
    """Sam's first device, Alex (partner), then more devices of either person."""
    sam = Journal.create(folder / "d0", "Sam", now=Clock(0))
    out = [sam]
    for n in range(1, count):
        host = out[0] if n != 3 else out[1]
        own = n >= 2
        joined = pairing.pair_directly(
            host,
            folder / f"d{n}",
            own=own,
            name=None if own else "Alex",
            label=f"d{n}",
            clock=Clock(n),
        )
        out.append(joined)
    return out


def act(journal: Journal, action: int, rng: random.Random) -> None:
    match action:
        case 0:
            journal.record(CheckIn(energy=rng.randint(0, 10), day=rng.choice(["rest", "good"])))
        case 1:
            journal.record(Milestone(title=f"win {rng.randint(0, 99)}"))
        case 2:
            journal.record(Gratitude(text=f"thanks {rng.randint(0, 99)}"))
        case 3:
            journal.record(lambda item: JoyIdea(item=item, week=WEEK, title="tea", cost=1))
        case 4:
            known = [*projections.board(journal.items(), f"joy/{WEEK}"), JOY.hex()]
            item = EventId(bytes.fromhex(rng.choice(known)))
            journal.record(JoyStatus(item=item, week=WEEK, status=rng.choice(["done", "let-go"])))
        case _:
            mine = [e for e in journal.events() if e.author == journal.device.person]
            if mine:
                journal.record(Retraction(target=rng.choice(mine).id))


def state(journal: Journal) -> object:
    items = journal.items()
    return (
        [i.order for i in items],
        [(e.id, e.body) for e in projections.timeline(items)],
        projections.today(items, ME, dt.date(2026, 3, 20)).people,
        projections.board(items, f"joy/{WEEK}"),
    )


def deliver_randomly(target: Journal, sources: list[Journal], rng: random.Random) -> None:
    pool = [s.entry for src in sources for s in src.store.since(0)]
    keys = {p: k for src in sources for p, k in keys_of(src).items()}
    pool += rng.sample(pool, k=len(pool) // 3)  # duplicates
    for _round in range(200):
        rng.shuffle(pool)
        cut = rng.randint(1, len(pool))
        ingest(target, pool[:cut], keys=keys)  # gaps are refused now and sent again later
        held = {(s.log, s.seq) for s in target.store.since(0)}
        wanted = {(s.log, s.seq) for src in sources for s in src.store.since(0)}
        if wanted <= held:
            return
    raise AssertionError("delivery did not converge")


@pytest.mark.slow
@given(
    count=st.integers(min_value=3, max_value=4),
    programs=st.lists(st.lists(st.integers(0, 5), max_size=6), min_size=4, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_devices_converge_whatever_order_entries_arrive_in(
    count: int, programs: list[list[int]], seed: int
) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        group = devices(Path(folder), count)
        for journal, program in zip(group, programs, strict=False):
            for action in program:
                act(journal, action, rng)
        for journal in group:
            deliver_randomly(journal, [g for g in group if g is not journal], rng)
        first = state(group[0])
        assert all(state(j) == first for j in group[1:])
        for journal in group:
            journal.close()
