"""Convergence: any delivery order of the same entries ends in the same journal.

Two to four devices share one space: Sam's first device (made by Journal.create), more devices of
Sam (same space keys and private key, their own logs and signing keys) and sometimes a device of
Alex, the partner (same space keys, own person and private key). Each device records a random
program of events at controlled, sometimes colliding and sometimes backwards-running wall clocks,
now and then syncing from another device the way the sync layer will (append the other's entries,
then move the hybrid clock past what arrived).

Then every entry is fed to fresh journals over fresh stores in several random interleavings
(each log in seq order, as the store requires; other logs interleaved at random; some entries
delivered twice, some batches read half-way) and everything a person can see must be identical:
the items in merge order, the timeline, today for several days, the week, and every shared
document. Only `received_at` may differ, since it records local arrival.
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

from tend.core import clock
from tend.core.crypto.keystore import Anchor, DeviceKeys
from tend.core.domain.events import (
    DAY_KINDS,
    GOAL_OUTCOMES,
    JOY_STATUSES,
    CheckIn,
    Event,
    GoalSet,
    GoalWeek,
    Gratitude,
    JoyIdea,
    JoyStatus,
    Milestone,
    Retraction,
)
from tend.core.ids import EventId, LogId, PersonId
from tend.core.journal import Journal
from tend.core.log.store import MemoryLogStore
from tend.core.views import projections
from tend.core.views.read_model import Item
from tests.conftest import another_device_of, keys_of, new_person_device, started

BASE = dt.datetime(2026, 3, 9, 6, 0, tzinfo=dt.UTC)  # a Monday morning
ZONES = (dt.UTC, dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=-5)))
DAYS = tuple(BASE.date() + dt.timedelta(days=d) for d in range(-1, 4))
WEEKS = ("2026-W11", "2026-W12")
JOYS = tuple(EventId(bytes([0xA0 + k]) * 16) for k in range(3))
GOALS = tuple(EventId(bytes([0xB0 + k]) * 16) for k in range(2))
KINDS = (
    "checkin",
    "private",
    "correct",
    "milestone",
    "gratitude",
    "joy",
    "joy.status",
    "goal.set",
    "goal.week",
    "retract",
    "sync",
    "sync",
)


@dataclass(frozen=True)
class Step:
    kind: str
    dev: int  # which device acts (for sync: which device receives), modulo the device count
    minute: int  # the acting device's wall clock, minutes after BASE (clocks may run backwards)
    a: int  # kind-specific choice: which earlier entry, item, goal, week, energy or sync source
    b: int


STEPS = st.builds(
    Step,
    kind=st.sampled_from(KINDS),
    dev=st.integers(0, 3),
    minute=st.integers(0, 40).map(lambda m: m * 90),  # collisions are likely
    a=st.integers(0, 7),
    b=st.integers(0, 7),
)


@dataclass
class Device:
    journal: Journal
    zone: dt.tzinfo
    recorded: list[Event]

    def at(self, minute: int) -> None:
        when = (BASE + dt.timedelta(minutes=minute)).astimezone(self.zone)
        self.journal.now = lambda: when


def extra_device(of: DeviceKeys, *, same_person: bool) -> DeviceKeys:
    """Another device in the same space: Sam's (same identity and private key) or the partner's."""
    device: DeviceKeys = another_device_of(of) if same_person else new_person_device(of.space, of)
    return device


def pin_each_other(devices: list[Device]) -> None:
    """What pairing does: each device trusts the others directly."""
    keysets = [d.journal.device for d in devices]
    for keyset in keysets:
        keyset.anchors = {
            o.log: Anchor(o.sign_public, o.identity) for o in keysets if o.log != keyset.log
        }


def sync(into: Journal, source: Journal, received_ms: int) -> None:
    """What the sync layer does: store what the other holds, then observe its clock."""
    into.store.append([(s.entry, received_ms) for s in source.store.since(0)], keys=keys_of(source))
    seen = max((i.hlc for i in into.items()), default=0)
    last = into.store.meta("hlc")
    moved = clock.observe(int.from_bytes(last, "big") if last else 0, seen)
    into.store.append([], meta={"hlc": moved.to_bytes(8, "big")})


def run(
    step: Step, devices: list[Device], received_ms: int, made: dict[str, list[EventId]]
) -> None:
    me = devices[step.dev % len(devices)]
    if step.kind == "sync":
        source = devices[step.a % len(devices)]
        if source is not me:
            sync(me.journal, source.journal, received_ms)
        return
    me.at(step.minute)
    mine = me.recorded
    checkins = [e for e in mine if isinstance(e.body, CheckIn)]
    # Shared objects are made by one event (their id is its id) and then edited by anyone;
    # an edit may name one a device has not received yet, or a fixed id nobody made.
    joys, goals = [*made["joy"], *JOYS], [*made["goal"], *GOALS]
    week, joy, goal = WEEKS[step.b % 2], joys[step.a % len(joys)], goals[step.a % len(goals)]
    j = me.journal
    if step.kind == "retract" and mine:
        ev = j.record(Retraction(target=mine[step.a % len(mine)].id))
    elif step.kind == "correct" and checkins:
        old = checkins[step.a % len(checkins)]
        ev = j.record(
            CheckIn(energy=step.b, note="corrected"),
            supersedes=old.id,
            on=dt.date.fromisoformat(old.local_date),
        )
    elif step.kind == "private":
        ev = j.record(CheckIn(pain=step.a, note="just for me"), private=True)
    elif step.kind == "milestone":
        ev = j.record(Milestone(title=f"small win {step.a}", category="outing"))
    elif step.kind == "gratitude":
        ev = j.record(Gratitude(text=f"thank you for {step.a}"))
    elif step.kind == "joy":
        ev = j.record(lambda i: JoyIdea(item=i, week=week, title=f"joy {step.a}", cost=step.b % 4))
        made["joy"].append(ev.id)
    elif step.kind == "joy.status":
        status = JOY_STATUSES[step.b % 4]
        ev = j.record(JoyStatus(item=joy, week=week, status=status))
    elif step.kind == "goal.set":
        ev = j.record(
            lambda g: GoalSet(
                goal=g if step.b % 2 else goal,  # a new goal, or an edit of one
                title="one tender-touch session a week",
                per_week=1 + step.b,
                flare_rule="pause",
            )
        )
        if ev.id == getattr(ev.body, "goal", None):
            made["goal"].append(ev.id)
    elif step.kind == "goal.week":
        outcome = GOAL_OUTCOMES[step.b % 3]
        ev = j.record(GoalWeek(goal=goal, week=week, outcome=outcome))
    else:
        day = DAY_KINDS[step.b % 4]
        ev = j.record(CheckIn(day=day, energy=step.a), on=DAYS[step.b % len(DAYS)])
    mine.append(ev)


# --- delivery in random interleavings -------------------------------------------------------------


def all_entries(devices: list[Device]) -> dict[LogId, list[bytes]]:
    """Every entry any device holds, per log in seq order (a copy must be byte-identical)."""
    by_position: dict[tuple[LogId, int], bytes] = {}
    for device in devices:
        for stored in device.journal.store.since(0):
            assert by_position.setdefault((stored.log, stored.seq), stored.entry) == stored.entry
    logs: dict[LogId, list[bytes]] = {}
    for (log, _seq), raw in sorted(by_position.items()):
        logs.setdefault(log, []).append(raw)
    return logs


def interleaving(logs: dict[LogId, list[bytes]], rnd: random.Random) -> list[bytes]:
    """Each log's entries in order, logs interleaved at random, some entries delivered again."""
    cursor = dict.fromkeys(logs, 0)
    out: list[bytes] = []
    while any(cursor[log] < len(entries) for log, entries in logs.items()):
        log = rnd.choice(sorted(log for log in logs if cursor[log] < len(logs[log])))
        out.append(logs[log][cursor[log]])
        cursor[log] += 1
        if rnd.random() < 0.2:
            out.append(rnd.choice(out))  # a duplicate: sync retried, or two paths delivered it
    return out


def all_keys(devices: list[Device]) -> dict[tuple[LogId, int], bytes]:
    """Every key record any device holds (sync carries them beside the entries)."""
    return {p: k for device in devices for p, k in keys_of(device.journal).items()}


def deliver(
    order: list[bytes], reader: Journal, rnd: random.Random, keys: dict[tuple[LogId, int], bytes]
) -> None:
    seen: set[bytes] = set()
    arrival = 0
    i = 0
    while i < len(order):
        batch = order[i : i + rnd.randint(1, 4)]
        i += len(batch)
        arrival += 1
        new = len(set(batch) - seen)
        assert reader.store.append([(raw, arrival) for raw in batch], keys=keys) == new
        seen |= set(batch)
        if rnd.random() < 0.3:
            reader.items()  # read half-way: later entries are merged into a cached view
    assert reader.store.count() == len(seen)


# --- what a person sees ---------------------------------------------------------------------------


def seen_by(journal: Journal) -> dict[str, Any]:
    items = journal.items()
    me: PersonId = journal.device.person
    docs = sorted({i.doc for i in items if i.doc is not None})
    return {
        "items": [i._replace(received_at=0) for i in items],
        "timeline": projections.timeline(items),
        "today": [projections.today(items, me, day) for day in DAYS],
        "week": projections.period(items, *projections.week_bounds(BASE.date())),
        "docs": {doc: projections.board(items, doc) for doc in docs},
    }


def order_keys(items: list[Item]) -> list[tuple[int, bytes, int]]:
    return [i.order for i in items]


@pytest.mark.slow
@given(
    n_devices=st.integers(2, 4),
    with_partner=st.booleans(),
    zones=st.lists(st.sampled_from(ZONES), min_size=4, max_size=4),
    steps=st.lists(STEPS, min_size=8, max_size=30),
    seeds=st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3),
)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_delivery_order_of_the_same_entries_ends_in_the_same_journal(
    n_devices: int, with_partner: bool, zones: list[dt.tzinfo], steps: list[Step], seeds: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "a"
        first = Journal.create(home, "Sam", now=lambda: BASE.astimezone(zones[0]))
        devices = [Device(first, zones[0], [])]
        for k in range(1, n_devices):
            partner = with_partner and k == n_devices - 1
            keyset = extra_device(first.device, same_person=not partner)
            devices.append(Device(Journal(home, keyset, MemoryLogStore()), zones[k], []))
            devices[-1].at(0)
            started(devices[-1].journal, "Alex" if partner else None)
        pin_each_other(devices)
        made: dict[str, list[EventId]] = {"joy": [], "goal": []}
        for number, step in enumerate(steps):
            run(step, devices, received_ms=number, made=made)

        logs = all_entries(devices)
        total = sum(len(entries) for entries in logs.values())
        readers = {d.journal.device.person: d.journal.device for d in devices}
        try:
            for person, keyset in readers.items():
                outcomes = []
                for seed in seeds:
                    rnd = random.Random(seed)
                    reader = Journal(home, keyset, MemoryLogStore())
                    deliver(interleaving(logs, rnd), reader, rnd, all_keys(devices))
                    outcomes.append(seen_by(reader))
                    # Nothing lost or doubled, and merge order is strict.
                    keys_ = order_keys(reader.items())
                    assert (len(keys_), keys_) == (total, sorted(set(keys_)))
                assert all(outcome == outcomes[0] for outcome in outcomes[1:]), person.hex()
                # A device of this person that then syncs everything sees the same journal.
                device = next(d for d in devices if d.journal.device.person == person)
                for entries in logs.values():
                    device.journal.store.append(
                        [(raw, 10**6) for raw in entries], keys=all_keys(devices)
                    )
                assert seen_by(device.journal) == outcomes[0]
        finally:
            for device in devices:
                device.journal.close()


def test_recording_a_shared_value_the_document_already_holds_is_accepted(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "a", "Sam", now=lambda: BASE)
    joy = journal.record(lambda i: JoyIdea(item=i, week=WEEKS[0], title="picnic")).id
    done = journal.record(JoyStatus(item=joy, week=WEEKS[0], status="done"))
    again = journal.record(JoyStatus(item=joy, week=WEEKS[0], status="done"))

    assert [e.id for e in journal.events()][-2:] == [done.id, again.id]
    assert projections.board(journal.items(), f"joy/{WEEKS[0]}") == {
        joy.hex(): {
            "title": "picnic",
            "cost": 1,
            "status": "done",
            "by": journal.device.person.hex(),
        }
    }
    journal.close()
