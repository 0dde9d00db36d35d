"""Benchmarks for tend: record, open ten years, replay a week, rebuild from the log, whole commands.

Run from the repository root:

    python bench/bench_journal.py [--quick]

The ten-year journal (36,500 entries by two partners) is built once and cached under bench/.work/;
every run works on copies of it in bench/.work/run/, on the working disk (never a tmpfs), so a
"durable" write really waits for fsync. Results are printed as a table and as JSON, and written
to bench/results/latest.json. docs/benchmarks.md explains each figure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cryptography
import msgpack

from tend.cli.main import main as tend_main
from tend.core.crypto import keys, keystore
from tend.core.crypto.keystore import Anchor, DeviceKeys
from tend.core.domain import events as ev
from tend.core.domain.validate import week_of
from tend.core.ids import EventId
from tend.core.journal import DB_NAME, Journal
from tend.core.log.store import MemoryLogStore
from tend.core.views import projections, read_model

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / ".work"
RESULTS = BENCH_DIR / "results"
EVENTS = 36_500
YEARS_DAYS = 3650
BUILD_VERSION = 5  # bump when the generated journal changes shape
BATCH = 4096  # entries per store.append transaction when building
SEED = 20_260_314

TARGETS_MS = {
    "record": 2.0,
    "open_today_warm": 300.0,
    "replay_week": 100.0,
    "month_view": 300.0,
    "rebuild": 3000.0,
    "proc_checkin": 150.0,
}


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    samples_ms: list[float]
    target_ms: float | None = None
    note: str = ""
    cpu_ms: list[float] = field(default_factory=list)  # child CPU (user + sys), processes only

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]  # nearest rank

    @property
    def ok(self) -> bool | None:
        return None if self.target_ms is None else self.median_ms <= self.target_ms

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": self.n,
            "median_ms": round(self.median_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "min_ms": round(min(self.samples_ms), 3),
            "cpu_median_ms": round(statistics.median(self.cpu_ms), 3) if self.cpu_ms else None,
            "target_ms": self.target_ms,
            "ok": self.ok,
            "note": self.note,
        }


def measure(
    fn: Callable[[], object],
    rounds: int,
    *,
    setup: Callable[[], object] | None = None,
    warmup: int = 1,
) -> list[float]:
    """Milliseconds per call of `fn`; `setup` runs before each call, outside the timing."""
    samples: list[float] = []
    for i in range(warmup + rounds):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        elapsed = (time.perf_counter() - start) * 1000
        if i >= warmup:
            samples.append(elapsed)
    return samples


@dataclass
class Rounds:
    record: int
    record_big: int
    open_warm: int
    open_cold: int
    week: int
    replay: int
    rebuild: int
    timeline: int
    process: int

    @classmethod
    def for_mode(cls, quick: bool) -> Rounds:
        if quick:
            return cls(60, 30, 8, 2, 40, 8, 2, 3, 6)
        return cls(300, 100, 30, 5, 200, 30, 5, 10, 20)


# --- building ten years of two partners ------------------------------------------------------


class WalkingClock:
    """The `now` of a journal being built: set to each planned moment before it records."""

    def __init__(self, start: dt.datetime) -> None:
        self.at = start

    def __call__(self) -> dt.datetime:
        return self.at


@dataclass(order=True)
class Plan:
    at: dt.datetime
    who: int  # 0: this device's person, 1: the partner
    kind: str = field(compare=False)


OPTIONAL_KINDS = ("gratitude", "milestone", "calendar", "celebrate", "checkin.evening")
GRATITUDE = (
    "I appreciated how you made coffee while I rested",
    "thank you for sitting with me at the appointment",
    "you noticed I was tired and took over dinner",
    "thank you for the walk, slow as it was",
)
MILESTONES: tuple[tuple[str, ev.MilestoneCategory], ...] = (
    ("walked to the corner together", "movement"),
    ("laughed at the old photos", "laughter"),
    ("cooked a meal side by side", "meal"),
    ("a long hug on the sofa", "touch"),
    ("talked about next summer", "conversation"),
)
NEEDS = ("quiet company", "soup", "heat pad", "dim lights", "a short walk", "no visitors")


def _moment(day: dt.date, rng: random.Random, lo_h: int, hi_h: int) -> dt.datetime:
    minute = rng.randrange(lo_h * 60, hi_h * 60)
    at = dt.datetime.combine(day, dt.time(minute // 60, minute % 60, rng.randrange(60)))
    return at.astimezone()


def plan_days(first: dt.date, days: int, total: int, rng: random.Random) -> list[Plan]:
    """About ten entries a day for the two of them, adjusted to exactly `total` plans."""
    plans: list[Plan] = []
    for d in range(days):
        day = first + dt.timedelta(d)
        for who in (0, 1):
            plans.append(Plan(_moment(day, rng, 7, 9), who, "checkin"))
            roll = rng.random()
            if roll < 0.1:
                plans.append(Plan(_moment(day, rng, 12, 14), who, "checkin.correct"))
            elif roll < 0.3:
                plans.append(Plan(_moment(day, rng, 12, 14), who, "checkin.private"))
            plans.append(Plan(_moment(day, rng, 20, 22), who, "checkin.evening"))
            for kind, chance in (
                ("gratitude", 0.9),
                ("milestone", 0.8),
                ("celebrate", 0.5),
                ("calendar", 0.4),
                ("retract", 0.05),
            ):
                if rng.random() < chance:
                    plans.append(Plan(_moment(day, rng, 9, 20), who, kind))
        if day.weekday() == 0:
            plans.append(Plan(_moment(day, rng, 18, 19), rng.randrange(2), "joy.added"))
        if day.weekday() == 5:
            plans.append(Plan(_moment(day, rng, 18, 19), rng.randrange(2), "joy.status"))
    optional = [i for i, p in enumerate(plans) if p.kind in OPTIONAL_KINDS]
    if len(plans) > total:
        drop = set(rng.sample(optional, len(plans) - total))
        plans = [p for i, p in enumerate(plans) if i not in drop]
    while len(plans) < total:
        day = first + dt.timedelta(rng.randrange(days))
        plans.append(Plan(_moment(day, rng, 9, 20), rng.randrange(2), "gratitude"))
    plans.sort()
    return plans


def partner_of(me: DeviceKeys) -> DeviceKeys:
    """A second person's device in the same space (as pairing makes one): the same space keys,
    its own person, log and keys; `me` pins it, as the inviting device does."""
    root = keys.new_root()
    partner = DeviceKeys.generate(me.space, keys.PersonSecrets.from_root(root), root)
    partner.space_keys, partner.epoch = dict(me.space_keys), me.epoch
    me.anchors[partner.log] = Anchor(partner.sign_public, partner.identity)
    partner.anchors[me.log] = Anchor(me.sign_public, me.identity)
    return partner


@dataclass
class Story:
    """What the generator remembers so that later entries can refer to earlier ones."""

    milestones: list[list[EventId]] = field(default_factory=lambda: [[], []])
    gratitude: list[list[EventId]] = field(default_factory=lambda: [[], []])
    morning: dict[tuple[int, dt.date], EventId] = field(default_factory=dict)
    joy: dict[str, EventId] = field(default_factory=dict)


def _record(j: Journal, plan: Plan, story: Story, rng: random.Random) -> None:
    day = plan.at.date()
    who = plan.who
    kind = plan.kind
    if kind == "celebrate" and not story.milestones[1 - who]:
        kind = "gratitude"
    if kind == "retract" and not story.gratitude[who]:
        kind = "gratitude"
    if kind == "checkin.correct" and (who, day) not in story.morning:
        kind = "checkin.evening"
    if kind == "joy.status" and week_of(day) not in story.joy:
        kind = "joy.added"
    if kind.startswith("checkin"):
        body = ev.CheckIn(
            day=rng.choice(ev.DAY_KINDS),
            energy=rng.randrange(11),
            pain=rng.randrange(11) if rng.random() < 0.7 else None,
            mood=rng.randrange(1, 6) if rng.random() < 0.7 else None,
            needs=tuple(rng.sample(NEEDS, rng.randrange(3))),
            offer="a film tonight" if rng.random() < 0.3 else None,
            note="slept badly, going gently" if rng.random() < 0.2 else None,
        )
        if kind == "checkin":
            story.morning[(who, day)] = j.record(body).id
        elif kind == "checkin.correct":
            j.record(body, supersedes=story.morning[(who, day)], on=day)
        else:
            j.record(body, private=kind == "checkin.private")
    elif kind == "gratitude":
        story.gratitude[who].append(j.record(ev.Gratitude(text=rng.choice(GRATITUDE))).id)
    elif kind == "milestone":
        title, category = rng.choice(MILESTONES)
        story.milestones[who].append(j.record(ev.Milestone(title=title, category=category)).id)
    elif kind == "celebrate":
        target = rng.choice(story.milestones[1 - who][-10:])
        j.record(ev.Celebration(milestone=target, note="so proud of you"))
    elif kind == "calendar":
        when = day + dt.timedelta(rng.randrange(1, 30))
        if rng.random() < 0.5:
            body_cal = ev.CalendarEntry(kind="rest", date=when.isoformat())
        else:
            body_cal = ev.CalendarEntry(
                kind="appointment", date=when.isoformat(), time="10:30", title="physio"
            )
        j.record(body_cal)
    elif kind == "retract":
        j.record(ev.Retraction(target=story.gratitude[who].pop(), reason="said it twice"))
    elif kind == "joy.added":
        week = week_of(day)
        made = j.record(lambda item: ev.JoyIdea(item=item, week=week, title="tea on the balcony"))
        story.joy[week] = made.id
    elif kind == "joy.status":
        week = week_of(day)
        j.record(ev.JoyStatus(item=story.joy[week], week=week, status="done"))
    else:
        raise AssertionError(kind)


def build_big_home(home: Path, total: int = EVENTS, days: int = YEARS_DAYS) -> dict[str, Any]:
    """Ten years of two partners in `home`, built in memory and stored in big transactions."""
    started = time.perf_counter()
    rng = random.Random(SEED)
    last_day = dt.date.today() - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=days - 1)
    now = WalkingClock(dt.datetime.combine(first_day, dt.time(6, 0)).astimezone())
    me = Journal.create(home, "Robin", label="bench", now=now)
    partner = partner_of(me.device)

    # Both devices record through Journal.record into one in-memory store (no fsync per entry),
    # seeded with the two entries Journal.create stored on disk.
    memory = MemoryLogStore()
    memory.append([(s.entry, s.received_at) for s in me.store.since(0)])
    mine = Journal(home, me.device, memory, now)
    theirs = Journal(home, partner, memory, now)
    now.at = now.at + dt.timedelta(minutes=30)
    theirs.record(theirs.own_claim("partner"))
    me.save_device()  # with the partner pinned
    theirs.record(ev.PersonNamed(person=partner.person, name="Sam"))
    story = Story()
    plans = plan_days(first_day, days, total - memory.count(), rng)
    for plan in plans:
        now.at = plan.at
        _record(mine if plan.who == 0 else theirs, plan, story, rng)

    # The partner's entries arrive by sync a little after they were written.
    rows: list[tuple[int, bytes]] = []
    arrived = 0
    for s in memory.since(2):
        received = s.received_at
        if s.log == partner.log:
            arrived = max(arrived, received + rng.randrange(60_000, 3 * 3_600_000))
            received = arrived
        rows.append((received, s.entry))
    rows.sort(key=lambda r: r[0])  # stable: each log stays in seq order
    hlc = memory.meta("hlc")
    assert hlc is not None
    keys = {s.entry: ((s.log, int(s.seq)), s.key) for s in memory.since(0) if s.key is not None}
    for start in range(0, len(rows), BATCH):
        chunk = [(raw, received) for received, raw in rows[start : start + BATCH]]
        # Each entry's key record beside it, as sync brings them.
        beside = dict(keys[raw] for raw, _r in chunk if raw in keys)
        me.store.append(chunk, meta={"hlc": hlc}, keys=beside)
    count = me.store.count()
    me.close()
    with Journal.open(home) as j:  # seals the view cache, as the first read after a sync would
        items = j.items()
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item.type] = kinds.get(item.type, 0) + 1
    return {
        "version": BUILD_VERSION,
        "events": count,
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "me": me.device.person.hex(),
        "partner": partner.person.hex(),
        "types": dict(sorted(kinds.items())),
        "build_seconds": round(time.perf_counter() - started, 1),
    }


def big_home() -> tuple[Path, dict[str, Any]]:
    """The cached ten-year home, building it if it is missing or stale."""
    home = WORK / f"home-{EVENTS}"
    manifest = home / "manifest.json"
    if manifest.exists():
        info: dict[str, Any] = json.loads(manifest.read_text())
        if info.get("version") == BUILD_VERSION and info.get("events") == EVENTS:
            return home, info
    print(f"building the {EVENTS:,}-entry journal once (cached in {home}) ...", flush=True)
    staging = WORK / f"home-{EVENTS}.building"
    shutil.rmtree(staging, ignore_errors=True)
    info = build_big_home(staging)
    assert info["events"] == EVENTS, info
    (staging / "manifest.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    print(f"built in {info['build_seconds']} s", flush=True)
    return home, info


def copy_home(src: Path, dst: Path, *, drop_snapshot: bool = False) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(mode=0o700, parents=True)
    for name in (keystore.FILE_NAME, DB_NAME, DB_NAME + "-wal"):
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
    if drop_snapshot:
        db = sqlite3.connect(dst / DB_NAME, isolation_level=None)
        db.execute("DELETE FROM snapshot")
        db.close()
    return dst


# --- the benchmarks ------------------------------------------------------------------------------


def _fsync_reference(path: Path, rounds: int) -> list[float]:
    """What one durable write costs on this disk: rewrite 4 KiB of a file, then fdatasync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, bytes(1 << 16))
        os.fsync(fd)
        page = b"x" * 4096

        def durable_write() -> None:
            os.pwrite(fd, page, 0)
            os.fdatasync(fd)

        return measure(durable_write, rounds, warmup=5)
    finally:
        os.close(fd)
        path.unlink()


def bench_record(run: Path, rounds: Rounds, big: Path) -> list[Result]:
    fresh = Journal.create(run / "record-fresh", "Robin")
    body = ev.CheckIn(day="gentle", energy=3)
    fresh_ms = measure(lambda: fresh.record(body), rounds.record, warmup=5)
    in_memory = Journal(fresh.home, fresh.device, MemoryLogStore())
    cpu_ms = measure(lambda: in_memory.record(body), rounds.record, warmup=5)
    fresh.close()
    large = Journal.open(copy_home(big, run / "record-big"))
    big_ms = measure(lambda: large.record(body), rounds.record_big, warmup=5)
    large.close()
    return [
        Result("1 record check-in (fresh journal)", fresh_ms, TARGETS_MS["record"]),
        Result("1 record check-in (36,500 entries)", big_ms, TARGETS_MS["record"]),
        Result("  record, in-memory store (no disk)", cpu_ms, None, "sign + seal + encode"),
        Result(
            "  reference: 4 KiB pwrite + fdatasync",
            _fsync_reference(run / "fsync.bin", rounds.record),
            None,
            "the floor for any durable write here",
        ),
    ]


def _open_today(home: Path) -> projections.TodayView:
    with Journal.open(home) as j:
        return projections.today(j.items(), j.device.person, dt.date.today())


def bench_open(run: Path, rounds: Rounds, warm_home: Path, big: Path) -> list[Result]:
    warm_ms = measure(lambda: _open_today(warm_home), rounds.open_warm)
    view = _open_today(warm_home)
    assert all(c is not None for _p, _n, c in view.people), "both partners should have check-ins"
    cold_home = run / "open-cold"
    cold_ms = measure(
        lambda: _open_today(cold_home),
        rounds.open_cold,
        setup=lambda: copy_home(big, cold_home, drop_snapshot=True),
        warmup=0,
    )
    return [
        Result("2 open + today, warm view cache", warm_ms, TARGETS_MS["open_today_warm"]),
        Result(
            "2 open + today, no view cache (cold)",
            cold_ms,
            None,
            "decodes every entry and re-seals the cache",
        ),
    ]


def bench_replay(rounds: Rounds, home: Path, info: dict[str, Any]) -> list[Result]:
    rng = random.Random(SEED + 1)
    first = dt.date.fromisoformat(info["first_day"]) + dt.timedelta(days=7)
    last = dt.date.fromisoformat(info["last_day"]) - dt.timedelta(days=7)
    span = (last - first).days

    def pick() -> dt.date:
        return first + dt.timedelta(rng.randrange(span))

    with Journal.open(home) as j:
        items = j.items()
    chosen: list[dt.date] = []

    def choose() -> None:
        chosen.append(pick())

    def week_query() -> projections.PeriodView:
        start, end = projections.week_bounds(chosen[-1])
        moment = dt.datetime.combine(end, dt.time(23, 59, 59, 999000)).astimezone()
        known = projections.as_known_at(items, int(moment.timestamp() * 1000))
        return projections.period(known, start, end)

    week_ms = measure(week_query, rounds.week, setup=choose, warmup=3)
    assert week_query().people, "a past week should have people in it"
    chosen.append(last)  # the most recent full week: everything before it is in the history
    latest_ms = measure(week_query, max(3, rounds.week // 4))

    def replay_cmd() -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = tend_main(["--home", str(home), "replay", "--at", chosen[-1].isoformat()])
        assert code == 0 and "As this journal was" in out.getvalue(), out.getvalue()[-500:]

    replay_ms = measure(replay_cmd, rounds.replay, setup=choose, warmup=2)

    def month_cmd() -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = tend_main(["--home", str(home), "month", "--at", chosen[-1].isoformat()])
        assert code == 0 and "energy and pain" in out.getvalue(), out.getvalue()[-500:]

    month_ms = measure(month_cmd, rounds.replay, setup=choose, warmup=2)
    return [
        Result(
            "3 replay a past week (as_known_at + period)",
            week_ms,
            TARGETS_MS["replay_week"],
            "items already loaded",
        ),
        Result(
            "3 replay the latest week (as_known_at + period)",
            latest_ms,
            TARGETS_MS["replay_week"],
            "worst case: the longest history before it",
        ),
        Result(
            "3 `replay --at` in-process, open included",
            replay_ms,
            TARGETS_MS["replay_week"],
            "open + today + week + joys + goals + render",
        ),
        Result(
            "3 month view render: `month --at` in-process",
            month_ms,
            TARGETS_MS["month_view"],
            "open + month + joys + goals + table + 2 charts",
        ),
    ]


def bench_rebuild(run: Path, rounds: Rounds, big: Path, home: Path) -> list[Result]:
    cold_home = run / "rebuild"

    def rebuild() -> int:
        with Journal.open(cold_home) as j:
            return len(j.items())

    rebuild_ms = measure(
        rebuild,
        rounds.rebuild,
        setup=lambda: copy_home(big, cold_home, drop_snapshot=True),
        warmup=0,
    )
    with Journal.open(home) as j:
        items = j.items()
        key = j.device.local_key
    upto = len(items)
    timeline_ms = measure(lambda: projections.timeline(items), rounds.timeline)
    blob = read_model.seal_snapshot(key, upto, items)
    seal_ms = measure(lambda: read_model.seal_snapshot(key, upto, items), rounds.timeline)
    open_ms = measure(lambda: read_model.open_snapshot(key, blob, upto), rounds.timeline)
    return [
        Result(
            "4 rebuild: open + items() with no view cache",
            rebuild_ms,
            TARGETS_MS["rebuild"],
            "includes re-sealing the cache",
        ),
        Result("4 timeline over all 36,500 entries", timeline_ms, TARGETS_MS["rebuild"]),
        Result("  view cache: seal 36,500 items", seal_ms, None, f"{len(blob) / 1e6:.1f} MB"),
        Result("  view cache: open 36,500 items", open_ms, None),
    ]


def _tend_command() -> list[str]:
    script = Path(sys.executable).parent / "tend"
    if script.exists():
        return [str(script)]
    found = shutil.which("tend")
    if found is None:
        raise SystemExit("cannot find the `tend` command; install the project first")
    return [found]


def _process(argv: Sequence[str], rounds: int, *, bytecode: bool = True) -> Result:
    """Wall time of whole processes, and their CPU time (user + sys) from rusage."""
    env = {k: v for k, v in os.environ.items() if k not in ("TEND_HOME", "TEND_PASSPHRASE")}
    if bytecode:
        # As an installed tend runs: imported modules come from cached bytecode. Our cache lives
        # under bench/.work so that nothing is written next to the sources.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    cpu: list[float] = []

    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(argv, env=env, capture_output=True, stdin=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        cpu.append(used * 1000)

    warmup = 2
    wall = measure(run, rounds, warmup=warmup)
    return Result("", wall, cpu_ms=cpu[warmup:])


def _named(result: Result, name: str, target: float | None = None, note: str = "") -> Result:
    result.name, result.target_ms, result.note = name, target, note
    return result


def bench_process(run: Path, rounds: Rounds, big: Path, info: dict[str, Any]) -> list[Result]:
    tend = _tend_command()
    fresh = run / "proc-fresh"
    Journal.create(fresh, "Robin").close()
    large = copy_home(big, run / "proc-big")
    past = dt.date.fromisoformat(info["last_day"]) - dt.timedelta(days=400)
    n = rounds.process
    checkin = ["checkin", "--energy", "3"]
    target = TARGETS_MS["proc_checkin"]
    out = [_named(_process([sys.executable, "-c", "pass"], n), "5 python -c pass (reference)")]
    for label, home in (("fresh", fresh), ("36,500", large)):
        base = [*tend, "--home", str(home)]
        out.append(_named(_process([*base, *checkin], n), f"5 tend checkin ({label})", target))
        out.append(_named(_process([*base, "today"], n), f"5 tend today ({label})"))
    replay = [*tend, "--home", str(large), "replay", "--at", past.isoformat()]
    out.append(_named(_process(replay, n), "5 tend replay --at (36,500)"))
    out.append(
        _named(
            _process([*tend, "--home", str(fresh), *checkin], n, bytecode=False),
            "5 tend checkin (fresh), no bytecode cache",
            None,
            "PYTHONDONTWRITEBYTECODE=1: every module compiled from source",
        )
    )
    return out


# --- reporting ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "cryptography": cryptography.__version__,
        "msgpack": ".".join(map(str, msgpack.version)),
    }


def table(results: Sequence[Result]) -> str:
    head = (
        f"{'benchmark':<46} {'n':>4} {'median ms':>10} {'p99 ms':>9} {'cpu ms':>7} "
        f"{'target':>7}  ok"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        target = f"{r.target_ms:g}" if r.target_ms is not None else "-"
        ok = {True: "yes", False: "NO", None: ""}[r.ok]
        cpu = f"{statistics.median(r.cpu_ms):.1f}" if r.cpu_ms else "-"
        lines.append(
            f"{r.name:<46} {r.n:>4} {r.median_ms:>10.2f} {r.p99_ms:>9.2f} {cpu:>7} "
            f"{target:>7}  {ok}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a minute or so)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rounds = Rounds.for_mode(args.quick)
    WORK.mkdir(exist_ok=True)
    home, info = big_home()
    run = WORK / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    results: list[Result] = []
    try:
        warm = copy_home(home, run / "warm")
        steps: list[Callable[[], list[Result]]] = [
            lambda: bench_record(run, rounds, home),
            lambda: bench_open(run, rounds, warm, home),
            lambda: bench_replay(rounds, warm, info),
            lambda: bench_rebuild(run, rounds, home, warm),
            lambda: bench_process(run, rounds, home, info),
        ]
        for step in steps:
            done = step()
            for r in done:
                print(f"  {r.name}: median {r.median_ms:.2f} ms (n={r.n})", flush=True)
            results.extend(done)
    finally:
        shutil.rmtree(run, ignore_errors=True)
    total = time.perf_counter() - started
    report = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "journal": {k: info[k] for k in ("events", "first_day", "last_day", "types")},
        "results": [r.as_json() for r in results],
        "total_seconds": round(total, 1),
    }
    publish(table(results), report, "latest.json", total)
    return 0


def publish(rendered: str, report: dict[str, Any], name: str | Path, total: float) -> None:
    """Print the table and the JSON report, and keep the report in bench/results/NAME (or at
    NAME, a path)."""
    print()
    print(rendered)
    print()
    print(json.dumps(report, indent=2))
    where = name if isinstance(name, Path) else RESULTS / name
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwhole run: {total:.1f} s; written to {where}")


if __name__ == "__main__":
    sys.exit(main())
