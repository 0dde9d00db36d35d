"""Shared state under the worst order a partner can craft: one view must stay under a second.

A partner's modified client can write any number of shared-state edits into its own log, with
any HLC it likes (in the past), about objects that exist and objects that do not. Before, the
Automerge changes inside events made one view reload the accepted prefix again and again
(300 crafted joy-status changes: 20 to 26 s for one view). Now shared state is a fold of
validated payloads in merge order (core/domain/shared_state.py), so the cost is one decode and one
step per event, whatever the order. This builds 10,000 such edits in a real journal (descending
HLCs, an orphan every seventh, several objects, several documents), delivers them through ingest as
sync would, and times the joy view, the goals view and the whole board, median of rounds.

    python bench/bench_shared.py [--changes N] [--rounds R]
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

# Run as a script from the checkout: its tests/ and bench/ helpers import from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tend.core.domain.events import JOY_STATUSES, GoalSet, GoalWeek, JoyIdea, JoyStatus, Payload
from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.core.trust.ingest import ingest
from tend.core.views import projections
from tests.attacker import event_in, write_own
from tests.conftest import entries_of, invite

WEEK = "2026-W49"


def _joy(title: str) -> Callable[[EventId], JoyIdea]:
    return lambda item: JoyIdea(item=item, week=WEEK, title=title)


def build(folder: Path, changes: int) -> Journal:
    sam = Journal.create(folder / "sam", "Sam")
    alex = invite(sam, folder / "alex", own=False, name="Alex")
    ingest(alex, entries_of(sam))
    ingest(sam, entries_of(alex))
    joys = [sam.record(_joy(f"joy {n}")).id for n in range(8)]
    goal = sam.record(lambda g: GoalSet(goal=g, title="a gentle walk")).id
    ingest(alex, entries_of(sam))
    base = alex.last_hlc()
    statuses = JOY_STATUSES
    for n in range(changes):
        hlc = base - (n + 1) * 1000  # every one earlier than the last: the worst merge order
        body: Payload
        if n % 3 == 2:
            body = GoalWeek(goal=goal, week=f"2026-W{n % 52 + 1:02d}", outcome="adapted")
        else:
            target = joys[n % len(joys)] if n % 7 else EventId(alex.device.log)  # an orphan
            body = JoyStatus(item=target, week=WEEK, status=statuses[n % 4])
        write_own(alex, event_in(alex, body, hlc=hlc))
    mine = sam.store.head(alex.device.log)
    fresh = [
        s.entry for s in alex.store.log_entries(alex.device.log) if not mine or s.seq > mine[0]
    ]
    for start in range(0, len(fresh), 4096):
        ingest(sam, fresh[start : start + 4096])
    return sam


def timed(run: object, rounds: int) -> float:
    assert callable(run)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        sam = build(Path(tmp), args.changes)
        built = time.perf_counter() - started
        items = sam.items()
        joy = timed(lambda: projections.joys(items, WEEK), args.rounds)
        goals = timed(
            lambda: projections.goals(items, [f"2026-W{w:02d}" for w in range(1, 53)]), args.rounds
        )
        board = timed(lambda: projections.board(items, f"joy/{WEEK}"), args.rounds)
        done = sum(1 for j in projections.joys(items, WEEK) if j.status == "done")
        sam.close()
    print(f"shared state, {args.changes} crafted edits in the worst order ({dt.date.today()}):")
    print(f"  built and ingested in {built:.1f} s")
    print(f"  joy view        median {joy * 1000:8.1f} ms   (target 1000 ms)")
    print(f"  goals view      median {goals * 1000:8.1f} ms")
    print(f"  joy board       median {board * 1000:8.1f} ms   ({done} joys done)")
    return 0 if max(joy, goals, board) < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
