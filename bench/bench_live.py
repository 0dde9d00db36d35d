"""Live sync without polling (app/live.py), measured through the real relay on loopback.

    python bench/bench_live.py [--quick] [--against REV]

The relay is `tend relay serve` as a subprocess on 127.0.0.1 (bench_sync.py's). Two new
journals, A and B, are paired; B runs a LiveSync in a process of its own (this script with a
hidden flag) and prints, for every ingest that applied something, the CLOCK_MONOTONIC moment it
returned (the entries durable in B's store): one clock for every process on the machine. Each
round writes one check-in on A and waits until B has it; rounds are spaced by a random pause
(0-20 ms) so no rhythm biases the figure. Measured:

1. in-process: A's LiveSync runs in this process; an entry is recorded (signed, sealed,
   durable) and `LiveSync.recorded()` called, as the page does: from the start of the record to
   B's store having it. Target p50 <= 3 ms, p99 <= 10 ms.
2. a separate `tend checkin` process on A's home, A's LiveSync here: from the spawn to B's store
   having it, split at the moment A's LiveSync is poked (the command's start-up, opening and
   writing, before it; the delivery after it).
3. `tend sync --watch` as a process on A's home, the entry recorded here on a second handle of
   A's journal, which then pokes as every command does: from the start of the record to B's
   store having it. With `--against REV` the same with the watch command of commit REV (its
   source exported under bench/.work, run with this environment's packages), interleaved block
   by block, which polled the store every 10 ms.
4. idle CPU over 10 s (3 s with --quick), connected and live, nothing happening: A's LiveSync in
   this process (time.process_time), B's process and the `tend sync --watch` processes
   (/proc/PID/stat). Target < 0.5 % of one core.
5. what one `poke` costs a command, with nothing listening and with a socket bound.

Results are printed as a table and as JSON, and written to bench/results/live.json;
docs/benchmarks.md ("Live sync") explains them.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.bench_journal import WORK, machine, publish
from bench.bench_sync import (
    Figure,
    command_env,
    join_partner,
    relay_running,
    table,
    tend_command,
)
from bench.bench_sync import Follower as SyncFollower
from tend.app import home
from tend.app.live import LiveSync, poke
from tend.app.poke import SOCKET_NAME
from tend.core.domain.events import CheckIn
from tend.core.ids import LogId
from tend.core.journal import Journal
from tend.core.log.header import Header
from tend.core.trust.ingest import IngestReport, ingest
from tend.sync import client

TARGETS = {"live_p50_ms": 3.0, "live_p99_ms": 10.0, "idle_cpu_percent": 0.5}
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Rounds:
    in_process: int
    command: int
    watch: int
    idle_seconds: float

    @classmethod
    def for_mode(cls, quick: bool) -> Rounds:
        return cls(60, 10, 40, 3.0) if quick else cls(500, 60, 300, 10.0)


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- device B, in its own process --------------------------------------------------------------


def follower_main(home: Path, url: str) -> int:
    """Device B (`bench_live.py --follower HOME URL`): a LiveSync until SIGTERM; prints "live"
    once caught up, then "applied WHEN MS LOG:SEQ..." for every ingest that applied entries."""
    journal = Journal.open(home)

    def hooked(
        journal: Journal,
        entries: Sequence[bytes],
        now_ms: int | None = None,
        *,
        keys: Mapping[tuple[LogId, int], bytes] | None = None,
    ) -> IngestReport:
        # With the key records the relay sends beside them: the words readable on return.
        start = time.monotonic()
        report = ingest(journal, entries, now_ms, keys=keys)
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
        live = LiveSync(journal, url, home)
        changes = live.subscribe()
        await live.start()

        async def say_live() -> None:
            async for _change in changes:
                if live.status().state == "live":
                    print("live", flush=True)
                    return

        told = asyncio.create_task(say_live())
        await stop.wait()
        told.cancel()
        await live.stop()
        report = await live.finished()
        print(f"refused {len(report.refused)}", flush=True)
        return 1 if report.refused else 0

    try:
        return asyncio.run(follow())
    finally:
        journal.close()


class Follower(SyncFollower):
    """Device B in its own process (this script's --follower): when each of A's entries was
    durable in its store. The same reading of B's lines as bench_sync's follower."""

    SCRIPT = Path(__file__).resolve()


# --- A's side ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def live_here(journal: Journal, url: str) -> AsyncIterator[LiveSync]:
    live = LiveSync(journal, url, journal.home)
    changes = live.subscribe()
    await live.start()
    try:
        async with asyncio.timeout(60):
            async for _change in changes:
                if live.status().state == "live":
                    break
        await asyncio.sleep(0.2)

        async def drain() -> None:  # as the page does: it hears of every change
            async for _change in changes:
                pass

        listener = asyncio.create_task(drain())
        yield live
    finally:
        await live.stop()
        with contextlib.suppress(NameError):
            await listener
        report = await live.finished()
        if report.refused:
            raise AssertionError(f"A: refused {report.refused[:3]}")


@contextlib.asynccontextmanager
async def watch_process(tend: str, home: Path, env: dict[str, str]) -> AsyncIterator[int]:
    """`tend --home HOME sync --watch` until its first catch-up is done; yields its pid."""
    proc = await asyncio.create_subprocess_exec(
        tend,
        "--home",
        str(home),
        "sync",
        "--watch",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    try:
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not raw:
                err = await proc.stderr.read() if proc.stderr else b""
                raise RuntimeError(f"tend sync --watch exited: {err.decode()[-300:]}")
            if raw.startswith(b"Synced"):
                break
        await asyncio.sleep(0.2)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)


async def rounds_of(
    writer: Journal,
    follower: Follower,
    rounds: int,
    after_record: Callable[[], Awaitable[None] | None],
) -> tuple[list[float], list[float]]:
    """ms from the start of A's record to B having the entry, and of the record alone."""
    rng = random.Random(11)
    log = writer.device.log
    head = writer.store.head(log)
    await follower.applied(log, head[0] if head else 0)
    total: list[float] = []
    record: list[float] = []
    for i in range(3 + rounds):
        await asyncio.sleep(rng.uniform(0, 0.02))
        start = time.monotonic()
        writer.record(CheckIn(energy=i % 11))
        recorded = time.monotonic()
        maybe = after_record()
        if maybe is not None:
            await maybe
        head = writer.store.head(log)
        assert head is not None
        applied = await follower.applied(log, head[0])
        if i >= 3:  # the first few warm the caches
            total.append((applied - start) * 1000)
            record.append((recorded - start) * 1000)
    return total, record


def _med(samples: Sequence[float]) -> float:
    return statistics.median(samples)


async def bench_in_process(a: Journal, url: str, follower: Follower, rounds: int) -> list[Figure]:
    mark = len(follower.ingest_ms)
    async with live_here(a, url) as live:
        total, record = await rounds_of(a, follower, rounds, live.recorded)
    ingest_ms = follower.ingest_ms[mark:]
    return [
        # The target is the sync's: from the moment the entry is recorded on A (its record
        # returned: durable there) until it is in B's store. A's own write comes before that
        # moment, and is reported beside it.
        Figure(
            "1 in-process: recorded on A (record returned) -> B's store",
            [t - r for t, r in zip(total, record, strict=True)],
            targets={"median": TARGETS["live_p50_ms"], "p99": TARGETS["live_p99_ms"]},
            note=(
                f"B's ingest {_med(ingest_ms):.2f} ms (median); the rest is A's push, "
                "the relay and the two sockets"
            ),
        ),
        Figure(
            "  with A's own record before it: record + recorded() -> B's store",
            total,
            note=f"A's record {_med(record):.2f} ms (median)",
            extra={"record_ms_median": round(_med(record), 3)},
        ),
    ]


async def bench_command(
    a: Journal, url: str, follower: Follower, rounds: int, tend: str, env: dict[str, str]
) -> list[Figure]:
    """`tend checkin` in its own process while A's LiveSync runs here."""
    rng = random.Random(13)
    log = a.device.log
    total: list[float] = []
    startup: list[float] = []
    delivery: list[float] = []
    sent: list[float] = []
    push = client.Session._push

    async def timed(self: client.Session, batch: list[bytes]) -> int:
        request = await push(self, batch)
        sent.append(time.monotonic())
        return request

    client.Session._push = timed  # type: ignore[method-assign]
    to_sent: list[float] = []
    lingered: list[float] = []  # from the poke to the command's exit
    async with live_here(a, url) as live:
        poked: list[float] = []
        original = live._poked

        def noted() -> None:
            poked.append(time.monotonic())
            original()

        loop = asyncio.get_running_loop()
        sock = live._sock
        assert sock is not None
        loop.remove_reader(sock.fileno())
        loop.add_reader(sock.fileno(), noted)
        for i in range(2 + rounds):
            await asyncio.sleep(rng.uniform(0, 0.02))
            head = a.store.head(log)
            assert head is not None
            poked.clear()
            start = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                tend,
                "--home",
                str(a.home),
                "checkin",
                "--energy",
                str(i % 11),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            exited = asyncio.create_task(_exit_time(proc))
            applied = await follower.applied(log, head[0] + 1)
            _out, err = await proc.communicate()
            await exited
            if proc.returncode != 0:
                raise RuntimeError(f"tend checkin failed: {err.decode()[-300:]}")
            if i < 2:
                continue
            assert poked, "A's LiveSync was not poked"
            total.append((applied - start) * 1000)
            to_sent.append((sent[-1] - poked[0]) * 1000)
            lingered.append((exited.result() - poked[0]) * 1000)
            startup.append((poked[0] - start) * 1000)
            delivery.append((applied - poked[0]) * 1000)
    client.Session._push = push  # type: ignore[method-assign]
    return [
        Figure(
            "2 `tend checkin` process -> B's store",
            total,
            note="from the spawn; A's LiveSync in the bench process",
        ),
        Figure("  of which the command, up to its poke", startup),
        Figure(
            "  of which the delivery, poke -> B's store",
            delivery,
            targets={"median": TARGETS["live_p50_ms"], "p99": TARGETS["live_p99_ms"]},
            note=(
                f"poke -> A's push sent {_med(to_sent):.2f} ms; the command exits "
                f"{_med(lingered):.1f} ms after its poke, sharing the 2 cores meanwhile (medians)"
            ),
        ),
    ]


async def _exit_time(proc: asyncio.subprocess.Process) -> float:
    await proc.wait()
    return time.monotonic()


def export_before(rev: str) -> str:
    """The `tend` of commit REV: its source exported under bench/.work, run by this Python
    (with this environment's packages) ahead of the installed one."""
    folder = WORK / f"live-before-{rev}"
    if not (folder / "src" / "tend").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    script = folder / "tend"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(folder / 'src')!r})\n"
        "from tend.cli.main import entry_point\nsys.exit(entry_point())\n"
    )
    script.chmod(0o755)
    return str(script)


async def bench_watch(
    a_home: Path,
    follower: Follower,
    rounds: int,
    builds: dict[str, str],
    env: dict[str, str],
    idle_seconds: float,
) -> list[Figure]:
    """`tend sync --watch` on A's home; the entry written here on a second handle, then poked
    as every command does. Builds alternate in blocks, so the machine's load falls on each."""
    totals: dict[str, list[float]] = {name: [] for name in builds}
    idle: dict[str, list[float]] = {name: [] for name in builds}
    blocks = 4
    writer = Journal.open(a_home)
    try:
        for _block in range(blocks):
            for name, tend in builds.items():
                async with watch_process(tend, a_home, env) as pid:
                    total, _record = await rounds_of(
                        writer, follower, rounds // blocks, lambda: poke(a_home)
                    )
                    totals[name] += total
                    cpu, wall = _cpu_of(pid), time.monotonic()
                    await asyncio.sleep(idle_seconds / blocks)
                    idle[name].append(100 * (_cpu_of(pid) - cpu) / (time.monotonic() - wall))
    finally:
        writer.close()
    figures = []
    for name in builds:
        label = "this build" if name == "this" else f"commit {name}, polling every 10 ms"
        figures.append(
            Figure(f"3 `tend sync --watch` live ({label})", totals[name], note="record -> B")
        )
    for name in builds:
        label = "this build" if name == "this" else f"commit {name}"
        figures.append(
            Figure(
                f"4 idle `tend sync --watch` process CPU ({label})",
                idle[name],
                unit="% of a core",
                targets={"median": TARGETS["idle_cpu_percent"]} if name == "this" else {},
            )
        )
    return figures


async def bench_idle(a: Journal, url: str, follower: Follower, seconds: float) -> list[Figure]:
    here: list[float] = []
    there: list[float] = []
    async with live_here(a, url):
        for _ in range(5):
            cpu, b_cpu, wall = time.process_time(), _cpu_of(follower.proc.pid), time.monotonic()
            await asyncio.sleep(seconds / 5)
            spent = time.monotonic() - wall
            here.append(100 * (time.process_time() - cpu) / spent)
            there.append(100 * (_cpu_of(follower.proc.pid) - b_cpu) / spent)
    limit = {"median": TARGETS["idle_cpu_percent"]}
    return [
        Figure("4 idle LiveSync CPU, in this process (A)", here, unit="% of a core", targets=limit),
        Figure("4 idle LiveSync CPU, B's whole process", there, unit="% of a core", targets=limit),
    ]


def _relay_puts(folder: Path) -> list[float]:
    """The relay's own timing of each push it stored (checked, committed), from its log."""
    out = []
    for line in (folder / "relay.log").read_text().splitlines():
        if '"push.stored"' in line:
            out.append(float(json.loads(line[line.index("{") :])["ms"]))
    return out


def bench_poke(run: Path, calls: int) -> list[Figure]:
    """What a command pays for its poke: nothing listening, and a socket bound (not read, so
    its queue fills and the later sends are refused at once, as they would be by a busy one)."""
    figures = []
    home = run / "poke-home"
    home.mkdir()
    for label in ("nothing listening", "a LiveSync's socket bound"):
        bound = None
        if label != "nothing listening":
            bound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            bound.bind(str(home / SOCKET_NAME))
        took = []
        for _ in range(calls):
            start = time.perf_counter()
            poke(home)
            took.append((time.perf_counter() - start) * 1e6)
        if bound is not None:
            bound.close()
            (home / SOCKET_NAME).unlink()
        figures.append(Figure(f"5 poke(), {label}", took, unit="us"))
    return figures


async def run_all(run: Path, rounds: Rounds, against: str | None) -> list[Figure]:
    figures: list[Figure] = []

    def show(done: list[Figure]) -> None:
        for f in done:
            print(f"  {f.name}: median {f.median:.2f} p99 {f.p99:.2f} {f.unit} (n={f.n})")
        figures.extend(done)

    env = command_env(run / "pycache")
    builds = {"this": tend_command()}
    if against:
        builds[against] = export_before(against)
    show(bench_poke(run, 2000))
    with relay_running(run / "relay") as relay:
        a = home.start(run / "a", "Robin", relay=relay.url)
        b = join_partner(a, run / "b", relay.url)
        for journal in (a, b):
            report = await client.sync_once(journal, relay.url)
            assert not report.refused, report.refused
        follower = await Follower.start(b, relay.url)
        try:
            before = len(_relay_puts(relay.folder))
            done = await bench_in_process(a, relay.url, follower, rounds.in_process)
            puts = _relay_puts(relay.folder)[before:]
            done.append(Figure("  the relay's store.put of each push (its own log)", puts))
            show(done)
            show(await bench_command(a, relay.url, follower, rounds.command, builds["this"], env))
            show(await bench_idle(a, relay.url, follower, rounds.idle_seconds))
            a.close()
            show(
                await bench_watch(
                    run / "a", follower, rounds.watch, builds, env, rounds.idle_seconds
                )
            )
        finally:
            await follower.stop()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--against", metavar="REV", help="compare `tend sync --watch` with REV's")
    parser.add_argument("--follower", nargs=2, metavar=("HOME", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.follower:
        return follower_main(Path(args.follower[0]), args.follower[1])
    started = time.perf_counter()
    rounds = Rounds.for_mode(args.quick)
    WORK.mkdir(exist_ok=True)
    run = WORK / "live-run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    try:
        figures = asyncio.run(run_all(run, rounds, args.against))
    finally:
        shutil.rmtree(run, ignore_errors=True)
    report = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "against": args.against,
        "machine": {**machine(), "aiohttp": aiohttp.__version__},
        "results": [f.as_json() for f in figures],
    }
    publish(table(figures), report, "live.json", time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
