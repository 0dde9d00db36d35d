"""Sync benchmarks: catching up, live latency, relay ingest and relay memory, over loopback.

Run from the repository root (tend installed editable, as for bench_journal.py):

    python bench/bench_sync.py [--quick] [--only catch-up|live|ingest|memory]

Every figure goes through the real relay (`tend relay serve` as a subprocess on 127.0.0.1, with
its SQLite file under bench/.work/) and the real device code (tend.sync.client,
core/trust/ingest.py). A device that catches up, and device B of the live pair, each run in a
process of their own (this script with a hidden flag); the writer and device A run in this one. The
36,500-entry journal is bench_journal.py's ten-year journal (built once and cached); a 2,000-entry
one is built the same way and cached beside it. Results are printed as a table and as JSON, and
written to bench/results/sync.json. docs/benchmarks.md ("Sync") explains each figure.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

# Run as a script from the checkout: its tests/ and bench/ helpers import from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp

from bench.bench_journal import (  # the checkout's bench/, through the editable install
    EVENTS,
    WORK,
    build_big_home,
    copy_home,
    machine,
    publish,
)
from bench.bench_journal import big_home as ten_year_home
from tend.app.live import LiveSync
from tend.core.domain.codec import decode_event
from tend.core.domain.events import CheckIn, DeviceAdded
from tend.core.ids import LogId
from tend.core.journal import Journal
from tend.core.log.header import Header
from tend.core.trust import pairing
from tend.core.trust.ingest import IngestReport, ingest
from tend.sync import client
from tend.sync import protocol as p

SMALL_EVENTS = 2_000
SMALL_DAYS = 200  # about ten entries a day, as in the ten-year journal
SMALL_VERSION = 3  # bump when the generated 2,000-entry journal changes shape
IDLE_DEVICES = 1_000
CONNECT_AT_ONCE = 64  # idle devices connecting concurrently
RELAY_START_SECONDS = 30.0

TARGETS = {
    "catch_up_2000_ms": 250.0,
    "catch_up_36500_ms": 1000.0,
    "command_catch_up_36500_ms": 1500.0,
    "command_nothing_new_ms": 250.0,
    "live_p50_ms": 10.0,
    "live_p99_ms": 30.0,
    "idle_kb_per_connection": 100.0,
}


# --- figures --------------------------------------------------------------------------------------


def _p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]  # nearest rank


@dataclass
class Figure:
    """One row: samples in `unit`; `targets` maps "median" or "p99" to a limit."""

    name: str
    samples: list[float]
    unit: str = "ms"
    targets: dict[str, float] = field(default_factory=dict)
    higher_is_better: bool = False
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        return _p99(self.samples)

    def stat(self, name: str) -> float:
        return self.p99 if name == "p99" else self.median

    @property
    def ok(self) -> bool | None:
        if not self.targets:
            return None
        if self.higher_is_better:
            return all(self.stat(s) >= limit for s, limit in self.targets.items())
        return all(self.stat(s) <= limit for s, limit in self.targets.items())

    def ratios(self) -> dict[str, float]:
        """Measured / target for each target (below 1 is better, unless higher is better)."""
        return {s: round(self.stat(s) / limit, 3) for s, limit in self.targets.items()}

    def target_text(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        parts = []
        for s, limit in self.targets.items():
            prefix = "" if s == "median" else f"{s} "
            parts.append(f"{prefix}{sign}{limit:g}")
        return ", ".join(parts) or "-"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "n": self.n,
            "median": round(self.median, 3),
            "p99": round(self.p99, 3),
            "min": round(min(self.samples), 3),
            "max": round(max(self.samples), 3),
            "targets": self.targets,
            "ratios": self.ratios(),
            "ok": self.ok,
            "note": self.note,
            **self.extra,
        }


def table(figures: Sequence[Figure]) -> str:
    head = (
        f"{'benchmark':<50} {'n':>4} {'median':>10} {'p99':>10} {'unit':<10} "
        f"{'target':<18} {'ratio':>6}  ok"
    )
    lines = [head, "-" * len(head)]
    for f in figures:
        ok = {True: "yes", False: "NO", None: ""}[f.ok]
        ratio = f"{f.ratios()['median']:.2f}" if "median" in f.targets else ""
        if "p99" in f.targets:
            ratio += ("/" if ratio else "") + f"{f.ratios()['p99']:.2f}"
        lines.append(
            f"{f.name:<50} {f.n:>4} {f.median:>10.2f} {f.p99:>10.2f} {f.unit:<10} "
            f"{f.target_text():<18} {ratio:>6}  {ok}"
        )
    return "\n".join(lines)


@dataclass
class Rounds:
    catch_up_small: int
    catch_up_big: int
    live: int
    live_big: int
    ingest: int
    memory: int
    idle_seconds: float
    command: int

    @classmethod
    def for_mode(cls, quick: bool) -> Rounds:
        if quick:
            return cls(5, 2, 60, 40, 1, 1, 2.0, 3)
        return cls(15, 5, 200, 200, 3, 3, 5.0, 5)


# --- the relay as a subprocess --------------------------------------------------------------------


def raise_open_files_limit() -> int:
    """Soft limit up to the hard one; inherited by the relay subprocesses started after this."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tend_command() -> str:
    beside = Path(sys.executable).parent / "tend"
    if beside.is_file():
        return str(beside)
    found = shutil.which("tend")
    if found is None:
        raise SystemExit("cannot find the `tend` command; install the project first")
    return found


class Relay:
    """`tend relay serve` on 127.0.0.1 with its own database, as a separate process."""

    def __init__(self, folder: Path, db: str | None = None) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.db = db or str(folder / "relay.db")  # a SQLite file, or a postgresql:// DSN
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Relay:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEND_")}
        argv = [tend_command(), "relay", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        # Every device here is on 127.0.0.1, where a real relay sees one address per household:
        # at ten escrow writes a minute from one address, the bench's new devices (each leaves
        # its escrow) used them all up, and each later sync then tried its own again.
        argv += ["--escrow-puts-per-minute", "100000"]
        # And the honest Hello probe alone opens ten connections a second from it.
        argv += ["--connection-opens-per-minute", "100000"]
        with (self.folder / "relay.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [*argv, "--db", self.db],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + RELAY_START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the relay exited; see {self.folder / 'relay.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the relay did not start")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory_kb(self) -> dict[str, int]:
        """VmRSS and VmHWM of the relay process, in kB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time of the relay process (all its threads) so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@contextlib.contextmanager
def relay_running(folder: Path) -> Iterator[Relay]:
    relay = Relay(folder).start()
    try:
        yield relay
    finally:
        relay.stop()


# --- journals -------------------------------------------------------------------------------------


def small_home() -> Path:
    """A 2,000-entry journal of two partners (200 days), built like the ten-year one, cached."""
    home = WORK / f"sync-home-{SMALL_EVENTS}"
    manifest = home / "manifest.json"
    if manifest.exists():
        info = json.loads(manifest.read_text())
        if info.get("sync_version") == SMALL_VERSION and info.get("events") == SMALL_EVENTS:
            return home
    staging = WORK / f"sync-home-{SMALL_EVENTS}.building"
    shutil.rmtree(staging, ignore_errors=True)
    info = build_big_home(staging, total=SMALL_EVENTS, days=SMALL_DAYS)
    assert info["events"] == SMALL_EVENTS, info
    info["sync_version"] = SMALL_VERSION
    (staging / "manifest.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    return home


def writer_from(source: Path, home: Path) -> Journal:
    """A copy of a generated journal whose entries all verify on another device.

    The generator's partner device added itself (no device of the space signed its
    `device.added`), which is enough to read but not to be on anyone's roster. Here the
    journal's own device vouches for it with a `device.added` of its own, as `tend invite`
    would have done, so a device that joins through this one trusts every log.
    """
    writer = Journal.open(copy_home(source, home))
    me = writer.device.log
    for item in writer.items():
        if item.type == "device.added" and item.log != me:
            body = decode_event(item.raw).body
            assert isinstance(body, DeviceAdded)
            writer.record(body)
    assert len(writer.roster().active()) == 2
    return writer


def join_fresh_device(writer: Journal, home: Path, relay_url: str) -> Journal:
    """A new device of the writer's person, paired in-process (tests/test_ingest.py)."""
    shutil.rmtree(home, ignore_errors=True)
    return pairing.pair_directly(
        writer, home, own=True, name=None, label="new phone", relay=relay_url
    )


def join_partner(writer: Journal, home: Path, relay_url: str) -> Journal:
    shutil.rmtree(home, ignore_errors=True)
    return pairing.pair_directly(
        writer, home, own=False, name="Sam", label="phone", relay=relay_url
    )


def _check_clean(report: client.SyncReport, what: str) -> None:
    if report.refused:
        raise AssertionError(f"{what}: refused {report.refused[:3]}")


# --- 1. a fresh device catching up ----------------------------------------------------------------


def catch_up_main(home: Path, url: str) -> int:
    """A fresh device, run as `bench_sync.py --catch-up HOME URL`: one timed `sync_once`.

    In a process of its own, so that its heap holds only its own journal (the writer's
    36,500 items in the bench process would make every garbage collection here slower).
    Prints one JSON line: the times, the counts, and what was refused.
    """
    with Journal.open(home) as journal:
        own = journal.store.count()

        async def timed() -> tuple[client.SyncReport, float]:
            start = time.perf_counter()
            report = await client.sync_once(journal, url)
            return report, (time.perf_counter() - start) * 1000

        report, sync_ms = asyncio.run(timed())
        start = time.perf_counter()
        items = journal.items()
        read_ms = (time.perf_counter() - start) * 1000
        stored = journal.store.count()
    result = {
        "sync_ms": sync_ms,
        "first_items_ms": read_ms,
        "downloaded": report.downloaded,
        "applied_all": stored == own + report.downloaded and len(items) == stored,
        "sealed_away": report.sealed_away,
        "refused": [str(r) for r in report.refused[:3]],
    }
    print(json.dumps(result), flush=True)
    return 0


async def bench_catch_up(
    run: Path, relay: Relay, writer: Journal, label: str, rounds: int, target: float
) -> tuple[list[Figure], Journal]:
    """Time `sync_once` on freshly joined devices; returns the last one, caught up."""
    started = time.perf_counter()
    uploaded = await client.sync_once(writer, relay.url)
    upload_s = time.perf_counter() - started
    _check_clean(uploaded, "writer upload")
    samples: list[float] = []
    first_read: list[float] = []
    home = run / f"joiner-{label}"
    downloaded = 0
    for i in range(rounds + 1):  # the first round warms up
        shutil.rmtree(home, ignore_errors=True)
        join_fresh_device(writer, home, relay.url).close()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--catch-up",
            str(home),
            relay.url,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the catching-up device failed ({proc.returncode})")
        result = json.loads(out.decode().strip().splitlines()[-1])
        if result["refused"] or result["sealed_away"] or not result["applied_all"]:
            raise AssertionError(f"catch-up {label}: {result}")
        downloaded = result["downloaded"]
        if i:
            samples.append(result["sync_ms"])
            first_read.append(result["first_items_ms"])
        print(
            f"    catch-up {label}: {result['sync_ms']:.0f} ms ({downloaded} entries)", flush=True
        )
    per_entry_us = statistics.median(samples) * 1000 / downloaded
    return [
        Figure(
            f"1 catch up {label} entries (fresh device)",
            samples,
            targets={"median": target},
            note=f"{downloaded} entries applied; {per_entry_us:.0f} us per entry",
            extra={"entries": downloaded, "writer_upload_s": round(upload_s, 2)},
        ),
        Figure(
            f"  then its first items() ({label})",
            first_read,
            note="view-cache work left to the first read after the sync",
        ),
    ], Journal.open(home)


# --- 2. live latency ------------------------------------------------------------------------------


def follower_main(home: Path, url: str) -> int:
    """Device B, run as `bench_sync.py --follower HOME URL`: `client.watch` until SIGTERM.

    Prints "live" once caught up, then one line per ingest that applied something: the
    time.monotonic() when it returned (the entries durable in B's store) and, per log in
    the batch, the highest seq; and how long that ingest took. CLOCK_MONOTONIC is one clock
    for every process on the machine.
    """
    journal = Journal.open(home)

    def hooked(
        journal: Journal,
        entries: Sequence[bytes],
        now_ms: int | None = None,
        *,
        keys: Mapping[tuple[LogId, int], bytes] | None = None,
    ) -> IngestReport:
        start = time.monotonic()
        report = ingest(journal, entries, now_ms, keys=keys)  # the key records too
        if report.applied:
            done = time.monotonic()
            heads: dict[bytes, int] = {}
            for raw in entries:
                header = Header.decode(raw)
                heads[header.log] = max(heads.get(header.log, 0), header.seq)
            logs = " ".join(f"{log.hex()}:{seq}" for log, seq in heads.items())
            print(f"applied {done!r} {(done - start) * 1000:.3f} {logs}", flush=True)
        return report

    client.ingest = hooked  # type: ignore[attr-defined]  # the module's own name for it

    async def follow() -> int:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        report = await client.watch(journal, url, stop, lambda _r: print("live", flush=True))
        print(f"refused {len(report.refused)}", flush=True)
        return 1 if report.refused else 0

    try:
        return asyncio.run(follow())
    finally:
        journal.close()


class Follower:
    """Device B in its own process (see follower_main): the side that applies live entries."""

    SCRIPT = Path(__file__).resolve()  # whose --follower runs B (another bench may have its own)

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.heads: dict[bytes, tuple[int, float]] = {}  # log -> (seq, when applied)
        self.ingest_ms: list[float] = []  # how long each of B's ingests that applied took

    @classmethod
    async def start(cls, journal: Journal, url: str) -> Self:
        """Close `journal` here and follow with it in a new process."""
        held = {bytes(log): seq for log, (seq, _hash) in journal.store.heads().items()}
        home = journal.home
        journal.close()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(cls.SCRIPT),
            "--follower",
            str(home),
            url,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        follower = cls(proc)
        follower.heads = {log: (seq, 0.0) for log, seq in held.items()}
        while (await follower._line()) != "live":
            pass
        return follower

    async def _line(self) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if not raw:
            raise RuntimeError("device B exited")
        line = raw.decode().strip()
        if line.startswith("applied "):
            _word, when, took, *logs = line.split()
            self.ingest_ms.append(float(took))
            for pair in logs:
                log, seq = pair.split(":")
                self.heads[bytes.fromhex(log)] = (int(seq), float(when))
        return line

    async def applied(self, log: bytes, seq: int) -> float:
        """When B had applied `log` up to `seq` (time.monotonic())."""
        while self.heads.get(log, (0, 0.0))[0] < seq:
            await self._line()
        return self.heads[log][1]

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stdout is not None
        rest = (await asyncio.wait_for(self.proc.stdout.read(), 60)).decode()
        code = await self.proc.wait()
        if code != 0:
            raise AssertionError(f"device B refused entries or failed ({code}): {rest[-300:]}")


@contextlib.asynccontextmanager
async def watching(journal: Journal, url: str) -> AsyncIterator[LiveSync]:
    """A LiveSync (what `tend sync --watch` and `tend ui` run); yields once it is live."""
    live = LiveSync(journal, url, journal.home)
    changes = live.subscribe()
    await live.start()
    try:
        async with asyncio.timeout(120):
            async for _change in changes:
                if live.status().state == "live":
                    break
        await asyncio.sleep(0.1)  # let the relay mark the session live
        yield live
    finally:
        await live.stop()
        _check_clean(await live.finished(), "watch")


@contextlib.asynccontextmanager
async def direct_session(journal: Journal, url: str) -> AsyncIterator[client.Session]:
    """A live session without LiveSync: the caller pushes with `Session._push_new`."""
    async with client.relay_at(url) as relay:
        ws, session = await client._open_session(relay, journal)
        receiver: asyncio.Future[None] | None = None
        try:
            await session.upload()
            await session.catch_up()
            receiver = asyncio.ensure_future(session._receive_live(None))  # applies, eats acks
            await asyncio.sleep(0.1)
            yield session
        finally:
            if receiver is not None:
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiver
            await ws.close()


@dataclass
class Live:
    total: list[float]  # ms from A's record to B having applied the entry
    record: list[float]  # ms of A's record alone (signed, sealed, durable)
    ingest: list[float]  # ms of B's ingest that applied it

    def note(self) -> str:
        return (
            f"A's record {statistics.median(self.record):.2f} ms, "
            f"B's ingest {statistics.median(self.ingest):.2f} ms (medians)"
        )


async def live_rounds(
    writer: Journal,
    follower: Follower,
    rounds: int,
    push: Callable[[], Awaitable[None]] | None,
    jitter: float,
) -> Live:
    """Record on A, then wait for B to have applied it: one entry at a time."""
    rng = random.Random(7)
    live = Live([], [], [])
    log = writer.device.log
    head = writer.store.head(log)
    await follower.applied(log, head[0] if head else 0)  # B has everything A had so far
    warmup = 3
    mark = 0
    for i in range(warmup + rounds):
        if i == warmup:
            mark = len(follower.ingest_ms)
        # A random phase, so no rhythm of either side biases the figure.
        await asyncio.sleep(rng.uniform(0, jitter))
        start = time.monotonic()
        writer.record(CheckIn(energy=i % 11))
        recorded = time.monotonic()
        if push is not None:
            await push()
        head = writer.store.head(log)
        assert head is not None
        applied = await follower.applied(log, head[0])
        if i >= warmup:
            live.total.append((applied - start) * 1000)
            live.record.append((recorded - start) * 1000)
    live.ingest = follower.ingest_ms[mark:]
    return live


async def bench_live(a: Journal, b: Journal, url: str, label: str, rounds: int) -> list[Figure]:
    """A in this process, B (`client.watch`) in its own; B's journal is closed here meanwhile."""
    figures: list[Figure] = []
    targets = {"median": TARGETS["live_p50_ms"], "p99": TARGETS["live_p99_ms"]}
    follower = await Follower.start(b, url)
    try:
        async with direct_session(a, url) as session:
            live = await live_rounds(a, follower, rounds, session._push_new, 0.01)
        figures.append(
            Figure(
                f"2 live, direct push ({label})",
                live.total,
                targets=targets,
                note=f"A: record + Session._push_new; B: client.watch; {live.note()}",
            )
        )
        async with watching(a, url) as watched:

            async def told() -> None:
                watched.recorded()

            live = await live_rounds(a, follower, rounds, told, 0.01)
        figures.append(
            Figure(
                f"2 live, A's LiveSync told of the entry ({label})",
                live.total,
                targets=targets,
                note=f"A: record + LiveSync.recorded(); B: client.watch; {live.note()}",
            )
        )
    finally:
        await follower.stop()
    return figures


async def bench_idle_watch(journal: Journal, url: str, seconds: float, label: str) -> list[Figure]:
    """CPU used by one device's LiveSync while nothing happens."""
    samples: list[float] = []
    async with watching(journal, url):
        for _ in range(3):
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds / 3)
            used = time.process_time() - cpu
            samples.append(100 * used / (time.perf_counter() - wall))
    return [
        Figure(
            f"2 idle LiveSync CPU ({label})",
            samples,
            unit="% of a core",
            note="connected and live, nothing to send or receive",
        )
    ]


# --- 3. relay ingest ------------------------------------------------------------------------------


async def bench_ingest(run: Path, writer: Journal, rounds: int) -> list[Figure]:
    """One device pushing everything it has to an empty relay, in full Push frames."""
    rates: list[float] = []
    relay_cpu: list[float] = []
    count = 0
    for i in range(rounds):
        with relay_running(run / f"relay-ingest-{i}") as relay:
            async with client.relay_at(relay.url) as reached:
                ws, session = await client._open_session(reached, writer)
                try:
                    cpu = relay.cpu_seconds()
                    start = time.perf_counter()
                    count = await session.upload()
                    elapsed = time.perf_counter() - start
                    cpu = relay.cpu_seconds() - cpu
                finally:
                    await ws.close()
        assert count == writer.store.count(), (count, writer.store.count())
        rates.append(count / elapsed)
        relay_cpu.append(count / cpu)
        print(f"    ingest: {count} entries in {elapsed:.2f} s", flush=True)
    return [
        Figure(
            f"3 relay ingest, {count:,} entries pushed",
            rates,
            unit="entries/s",
            higher_is_better=True,
            note=f"{p.MAX_ENTRIES_PER_FRAME} entries per Push; empty relay; durable before Ack",
        ),
        Figure(
            "  relay ingest per relay CPU second",
            relay_cpu,
            unit="entries/s",
            higher_is_better=True,
            note="the relay process's user + system time",
        ),
    ]


# --- 4. relay memory with idle devices ------------------------------------------------------------


async def idle_device(
    http: aiohttp.ClientSession, url: str, space: bytes, capability: bytes
) -> tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]:
    """Connect, hello, pull, see CaughtUp; then stay connected, reading (pongs) and idle."""
    ws = await http.ws_connect(client.sync_url(url), max_msg_size=p.MAX_FRAME_BYTES)
    conn = p.Connection(p.Role.DEVICE)
    await ws.send_bytes(conn.send(p.Hello(p.PROTOCOL_VERSIONS, space, capability, create=True)))
    welcome = conn.receive((await ws.receive()).data)
    assert isinstance(welcome, p.Welcome), welcome
    await ws.send_bytes(conn.send(p.Pull({})))
    while not isinstance(conn.receive((await ws.receive()).data), p.CaughtUp):
        pass

    async def read_until_closed() -> None:
        async for _message in ws:
            pass

    return ws, asyncio.create_task(read_until_closed())


def household_address(n: int) -> str:
    """Household `n`'s own loopback address, in 127.1.0.0/16. Linux routes all of 127.0.0.0/8
    to lo, so each simulated household connects from its own address, as real ones do: the
    relay's per-address bounds then apply to each household, not to the whole bench."""
    if not 0 <= n < 250 * 256:
        raise ValueError(f"household {n}: only {250 * 256} addresses in 127.1.0.0/16")
    return f"127.1.{n // 250}.{n % 250 + 1}"


class Households:
    """One HTTP client per household address (aiohttp binds a connector's local address)."""

    def __init__(self) -> None:
        self._clients: dict[int, aiohttp.ClientSession] = {}

    def client(self, n: int) -> aiohttp.ClientSession:
        if n not in self._clients:
            connector = aiohttp.TCPConnector(limit=0, local_addr=(household_address(n), 0))
            self._clients[n] = aiohttp.ClientSession(connector=connector)
        return self._clients[n]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()))
        self._clients.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


async def _connect_many(
    households: Households, url: str, devices: int
) -> list[tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]]:
    """`devices` idle devices, two per space (a couple), each couple from its own address, at
    most CONNECT_AT_ONCE connecting at a time."""
    spaces = [(secrets.token_bytes(16), secrets.token_bytes(32)) for _ in range(devices // 2 + 1)]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one(i: int) -> tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]:
        async with gate:
            space, cap = spaces[i // 2]
            return await idle_device(households.client(i // 2), url, space, cap)

    return list(await asyncio.gather(*(one(i) for i in range(devices))))


async def _close_all(
    devices: list[tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]],
) -> None:
    await asyncio.gather(*(ws.close() for ws, _reader in devices))
    for _ws, reader in devices:
        reader.cancel()
    await asyncio.gather(*(reader for _ws, reader in devices), return_exceptions=True)


async def _connections_gauge(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url + "/metrics") as response:
        text = await response.text()
    line = next(x for x in text.splitlines() if x.startswith("tend_relay_connections "))
    return int(line.split()[1])


async def bench_memory(run: Path, rounds: int, devices: int) -> list[Figure]:
    per_conn: list[float] = []
    per_conn_peak: list[float] = []
    details: list[dict[str, Any]] = []
    for i in range(rounds):
        with relay_running(run / f"relay-memory-{i}") as relay:
            async with Households() as homes, aiohttp.ClientSession() as http:
                # Warm up: the first sessions load and allocate what every later one shares.
                await _close_all(await _connect_many(homes, relay.url, 20))
                await asyncio.sleep(0.5)
                before = relay.memory_kb()
                start = time.perf_counter()
                idle = await _connect_many(homes, relay.url, devices)
                connect_s = time.perf_counter() - start
                await asyncio.sleep(1.0)
                open_now = await _connections_gauge(http, relay.url)
                after = relay.memory_kb()
                await _close_all(idle)
                await asyncio.sleep(1.0)
                closed = relay.memory_kb()
        assert open_now == devices, (open_now, devices)
        per_conn.append((after["VmRSS"] - before["VmRSS"]) / devices)
        per_conn_peak.append((after["VmHWM"] - before["VmRSS"]) / devices)
        details.append(
            {
                "rss_before_kb": before["VmRSS"],
                "rss_with_idle_kb": after["VmRSS"],
                "hwm_kb": after["VmHWM"],
                "rss_after_close_kb": closed["VmRSS"],
                "connect_seconds": round(connect_s, 2),
            }
        )
        print(
            f"    memory: {before['VmRSS']} kB -> {after['VmRSS']} kB with {devices} idle "
            f"(HWM {after['VmHWM']} kB; {closed['VmRSS']} kB after they left)",
            flush=True,
        )
    return [
        Figure(
            f"4 relay RSS per idle connection ({devices:,} devices)",
            per_conn,
            unit="KB/conn",
            targets={"median": TARGETS["idle_kb_per_connection"]},
            note="(VmRSS with them - VmRSS before) / devices; 2 devices per space, 1 address each",
            extra={"runs": details},
        ),
        Figure(
            "  relay peak (VmHWM) per idle connection",
            per_conn_peak,
            unit="KB/conn",
            note="(VmHWM - VmRSS before) / devices",
        ),
    ]


# --- running it -----------------------------------------------------------------------------------


STEPS = ("catch-up", "live", "ingest", "memory", "command")


# --- 5. the whole `tend sync` command -----------------------------------------------------------


def command_env(cache: Path) -> dict[str, str]:
    """As an installed tend runs: bytecode cached (not beside the sources), no TEND_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEND_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


async def _timed_process(argv: Sequence[str], env: Mapping[str, str]) -> float:
    """ms from spawning `argv` until it exited (it must succeed)."""
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
    )
    out, err = await proc.communicate()
    took = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed: {(out + err).decode()[-300:]}")
    return took


async def bench_command(run: Path, relay: Relay, writer: Journal, rounds: int) -> list[Figure]:
    """`tend sync` as a person runs it, a whole process each: on the ten-year journal with
    nothing new, and on a fresh device of the same person catching all of it up."""
    tend, env = tend_command(), command_env(run / "pycache")
    _check_clean(await client.sync_once(writer, relay.url), "writer upload")
    python = [sys.executable, "-c"]
    bare: list[float] = []
    imported: list[float] = []
    nothing_new: list[float] = []
    fresh: list[float] = []
    # The generated journal names no relay; a person's home would have it saved.
    writer_sync = [tend, "--home", str(writer.home), "sync", "--relay", relay.url]
    for i in range(rounds + 1):  # the first round compiles and warms the caches
        home = run / "command-fresh"
        join_fresh_device(writer, home, relay.url).close()
        await _timed_process(writer_sync, env)  # untimed: it sends the new device's welcome
        caught_up = await _timed_process([tend, "--home", str(home), "sync"], env)
        # Untimed again: the writer takes in what the new device said about itself. Only then
        # does it have nothing new, either way, for the sync that is timed.
        await _timed_process(writer_sync, env)
        timings = (
            await _timed_process([*python, "pass"], env),
            await _timed_process([*python, "import tend.cli.main"], env),
            await _timed_process(writer_sync, env),
            caught_up,
        )
        if i:
            for samples, took in zip((bare, imported, nothing_new, fresh), timings, strict=True):
                samples.append(took)
        print(f"    tend sync: nothing new {timings[2]:.0f} ms, fresh {timings[3]:.0f} ms")
    return [
        Figure(
            f"5 `tend sync`, nothing new, {EVENTS:,} entries",
            nothing_new,
            targets={"median": TARGETS["command_nothing_new_ms"]},
            note="a whole process, the relay on loopback",
        ),
        Figure(
            f"5 `tend sync`, a fresh device catching up {EVENTS:,}",
            fresh,
            targets={"median": TARGETS["command_catch_up_36500_ms"]},
        ),
        Figure("  `python -c pass`", bare),
        Figure("  `python -c 'import tend.cli.main'`", imported),
    ]


async def _caught_up_device(run: Path, relay: Relay, writer: Journal, label: str) -> Journal:
    """A device caught up with `writer` through the relay, untimed (when catch-up is skipped)."""
    _check_clean(await client.sync_once(writer, relay.url), "writer upload")
    joiner = join_fresh_device(writer, run / f"joiner-{label}", relay.url)
    _check_clean(await client.sync_once(joiner, relay.url), "catch-up")
    return joiner


async def run_all(run: Path, rounds: Rounds, steps: Sequence[str]) -> list[Figure]:
    figures: list[Figure] = []

    def show(done: list[Figure]) -> None:
        for f in done:
            print(f"  {f.name}: median {f.median:.2f} {f.unit} (n={f.n})", flush=True)
        figures.extend(done)

    big_source, _info = ten_year_home()
    with relay_running(run / "relay") as relay:
        if "catch-up" in steps:
            small_writer = writer_from(small_home(), run / "writer-2000")
            done, small_joiner = await bench_catch_up(
                run, relay, small_writer, f"{SMALL_EVENTS:,}", rounds.catch_up_small,
                TARGETS["catch_up_2000_ms"],
            )  # fmt: skip
            show(done)
            small_joiner.close()
            small_writer.close()
        big_writer = writer_from(big_source, run / f"writer-{EVENTS}")
        if "catch-up" in steps:
            done, big_joiner = await bench_catch_up(
                run, relay, big_writer, f"{EVENTS:,}", rounds.catch_up_big,
                TARGETS["catch_up_36500_ms"],
            )  # fmt: skip
            show(done)
        elif "live" in steps:
            big_joiner = await _caught_up_device(run, relay, big_writer, f"{EVENTS:,}")
        if "live" in steps:
            fresh = Journal.create(run / "live-a", "Robin")
            partner = join_partner(fresh, run / "live-b", relay.url)
            _check_clean(await client.sync_once(fresh, relay.url), "live setup")
            _check_clean(await client.sync_once(partner, relay.url), "live setup")
            show(await bench_live(fresh, partner, relay.url, "new journals", rounds.live))
            fresh.close()
            show(
                await bench_live(big_writer, big_joiner, relay.url, f"{EVENTS:,}", rounds.live_big)
            )
            show(await bench_idle_watch(big_writer, relay.url, rounds.idle_seconds, f"{EVENTS:,}"))
        elif "catch-up" in steps:
            big_joiner.close()
        if "command" in steps:
            show(await bench_command(run, relay, big_writer, rounds.command))
    if "ingest" in steps:
        show(await bench_ingest(run, big_writer, rounds.ingest))
    big_writer.close()
    if "memory" in steps:
        show(await bench_memory(run, rounds.memory, IDLE_DEVICES))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument(
        "--only",
        choices=STEPS,
        action="append",
        help="run only this benchmark (repeatable); the default is all of them",
    )
    parser.add_argument("--follower", nargs=2, metavar=("HOME", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--catch-up", nargs=2, metavar=("HOME", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.follower:
        return follower_main(Path(args.follower[0]), args.follower[1])
    if args.catch_up:
        return catch_up_main(Path(args.catch_up[0]), args.catch_up[1])
    started = time.perf_counter()
    rounds = Rounds.for_mode(args.quick)
    nofile = raise_open_files_limit()
    if nofile < 2 * IDLE_DEVICES + 256:
        raise SystemExit(f"the open-files limit is {nofile}; the memory benchmark needs more")
    WORK.mkdir(exist_ok=True)
    run = WORK / "sync-run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    try:
        figures = asyncio.run(run_all(run, rounds, args.only or STEPS))
    finally:
        shutil.rmtree(run, ignore_errors=True)
    total = time.perf_counter() - started
    report = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "steps": list(args.only or STEPS),
        "machine": {**machine(), "aiohttp": aiohttp.__version__},
        "results": [f.as_json() for f in figures],
        "total_seconds": round(total, 1),
    }
    publish(table(figures), report, "sync.json", total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
