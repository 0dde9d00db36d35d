"""The relay under load and under attack: many couples syncing through one relay at once.

    python bench/bench_relay_load.py [--quick] [--spaces N] [--seconds S] [--runs R]
                                     [--only load|idle]

The relay is a real `tend relay serve` subprocess on 127.0.0.1 (SQLite under bench/.work/).
The load comes from other processes, kept light for a 2-core machine: no journals, only the
protocol library (tend.sync.protocol) over raw aiohttp websockets, with signed, sealed entries
built before the clock starts (tests/relay_fixtures.py).

* Workers (this script with a hidden flag, a few processes, asyncio each) hold the couples:
  both devices of a space live in one worker, so it can check, with no coordination, that
  every entry one device pushed and got acknowledged reached its partner exactly once and
  byte for byte. Each device says Hello, pulls, then pushes one to three entries at a time,
  waiting for the Ack (one push in flight per device) and a jittered pause between pushes.
  A dropped connection is reopened and resumes from what the device holds. Each couple
  connects from its own loopback address (127.1.x.y: Linux routes all of 127.0.0.0/8 to lo),
  as households do, so the relay's per-address bounds see 500 households, not one.
* Two hostile clients, a process each, for the whole run: one sends 4 MiB Hello frames whose
  extra key holds a wide tree of empty arrays (every array within the decoder's length limit,
  millions of them), over a few connections at a time; the other POSTs 64 KiB bodies to random
  mailbox ids on the pairing routes, as fast as it is answered. Each comes from one address
  (HOSTILE), so the per-address bounds apply to it as they would on the internet.
* This process probes: every PROBE_EVERY seconds a fresh connection times its Hello until the
  Welcome (the honest figure an attacker would push up), and it samples the relay's RSS.

Separately, `idle`: the relay's RSS with IDLE_DEVICES devices connected and idle.
Exit status 1 if an entry was lost or duplicated; the performance targets are reported only.
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
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.bench_journal import WORK
from bench.bench_sync import (
    Households,
    Relay,
    _close_all,
    _connect_many,
    _p99,
    raise_open_files_limit,
)
from tend.core.errors import ProtocolError
from tend.core.ids import SpaceId
from tend.core.log.header import Header
from tend.sync import protocol as p
from tend.sync.client import sync_url
from tests.relay_fixtures import Log

PROBE_EVERY = 0.1  # seconds between honest Hello probes
RSS_EVERY = 0.2  # seconds between samples of the relay's RSS
CONNECT_AT_ONCE = 32  # devices of one worker connecting concurrently
DRAIN_SECONDS = 60.0  # after the pushes stop, for the last entries to arrive
BIG_HELLO_CONNECTIONS = 2  # the oversized-Hello client's connections at a time
FLOOD_AT_ONCE = 8  # the mailbox flood's requests at a time
FLOOD_BYTES = 64 << 10
IDLE_DEVICES = 1_000
# Each attacker from one address of its own, so the relay's per-address bounds apply to it as
# they would on the internet; honest couples each come from theirs (household_address).
HOSTILE = {"big-hello": "127.66.0.1", "mailbox-flood": "127.66.0.2"}

TARGETS = {"hello_p99_ms": 100.0, "peak_rss_mib": 150.0, "idle_rss_mib": 50.0}


# --- the oversized Hello --------------------------------------------------------------------------


def _array(count: int) -> bytes:
    """A msgpack array header for `count` items."""
    return b"\xdc" + count.to_bytes(2, "big") if count > 15 else bytes([0x90 | count])


def big_hello(limit: int = p.MAX_FRAME_BYTES) -> bytes:
    """A Hello of just under `limit` bytes whose extra key "x" holds arrays of 256 arrays of
    256 empty arrays: each array within the decoder's max_array_len, about four million of
    them in all, each one a Python list if the frame is decoded."""
    leaf = _array(256) + _array(0) * 256
    branch = _array(256) + leaf * 256
    head = {"t": "hello", "v": [3], "s": os.urandom(16), "c": os.urandom(32), "n": False}
    import msgpack

    prefix = b"\x86" + msgpack.packb(head, use_bin_type=True)[1:] + msgpack.packb("x")
    count = (limit - len(prefix) - 3) // len(branch)
    frame = prefix + _array(count) + branch * count
    assert len(frame) <= limit
    return frame


# --- one couple's devices, in a worker ------------------------------------------------------------


@dataclass
class Device:
    """One device of a couple: its log (entries built ahead), what it pushed, what it got."""

    space: SpaceId
    capability: bytes
    log: Log
    home: int  # the household: its number names the address its devices connect from
    pushed: int = 0  # the highest seq the relay has acknowledged (or said it holds)
    received: Counter[int] = field(default_factory=Counter)  # partner's seqs, times received
    wrong: int = 0  # partner entries whose bytes were not the ones built
    partner: Device | None = None

    def have(self) -> p.Vector:
        """What to pull from: this device's own log as pushed, the partner's as received."""
        assert self.partner is not None
        got = 0
        while self.received[got + 1]:
            got += 1
        return {self.log.log: self.pushed, self.partner.log.log: got}

    def take(self, raw: bytes) -> None:
        assert self.partner is not None
        header = Header.decode(raw)
        seq = int(header.seq)
        self.received[seq] += 1
        built = self.partner.log.entries
        if seq > len(built) or built[seq - 1] != raw:
            self.wrong += 1


@dataclass
class WorkerStats:
    hello_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    acked_entries: int = 0
    reconnects: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def couples(count: int, entries: int, first_home: int) -> list[Device]:
    """`count` spaces of two devices each, every log `entries` entries long, built now; the
    couples are households `first_home`, `first_home` + 1, ..."""
    devices: list[Device] = []
    for home in range(first_home, first_home + count):
        space, capability = SpaceId(secrets.token_bytes(16)), secrets.token_bytes(32)
        a, b = (Device(space, capability, Log(space), home) for _ in "ab")
        a.partner, b.partner = b, a
        for device in (a, b):
            device.log.extend(entries)
        devices += [a, b]
    return devices


class Link:
    """One device's open websocket: reads frames, hands Acks to the waiting push."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, device: Device) -> None:
        self.ws = ws
        self.device = device
        self.conn = p.Connection(p.Role.DEVICE)
        self.acks: dict[int, asyncio.Future[p.Frame]] = {}
        self.caught_up = asyncio.Event()
        self.next_id = 1

    async def send(self, frame: p.Frame) -> None:
        await self.ws.send_bytes(self.conn.send(frame))

    async def frame(self) -> p.Frame:
        msg = await self.ws.receive()
        if msg.type is not aiohttp.WSMsgType.BINARY:
            raise ConnectionError(f"the relay closed the connection ({msg.type.name})")
        frame: p.Frame = self.conn.receive(msg.data)
        return frame

    async def hello(self) -> p.Welcome:
        d = self.device
        await self.send(p.Hello(p.PROTOCOL_VERSIONS, d.space, d.capability, create=True))
        welcome = await self.frame()
        if not isinstance(welcome, p.Welcome):
            raise ConnectionError(f"the relay answered {welcome} to hello")
        return welcome

    async def read(self) -> None:
        """Until the connection ends: entries to the device, Acks to their pushes."""
        try:
            while True:
                frame = await self.frame()
                if isinstance(frame, p.Entries):
                    for raw in frame.entries:
                        self.device.take(raw)
                elif isinstance(frame, p.CaughtUp):
                    self.caught_up.set()
                elif isinstance(frame, p.Ack | p.Error) and frame.id in self.acks:
                    self.acks.pop(frame.id).set_result(frame)
                elif isinstance(frame, p.Error):
                    raise ConnectionError(f"the relay sent {frame.code}: {frame.message}")
        finally:
            for waiting in self.acks.values():
                if not waiting.done():
                    waiting.set_exception(ConnectionError("the connection ended"))

    async def push(self, entries: Sequence[bytes]) -> p.Frame:
        request, self.next_id = self.next_id, self.next_id + 1
        answer: asyncio.Future[p.Frame] = asyncio.get_running_loop().create_future()
        self.acks[request] = answer
        await self.send(p.Push(request, tuple(entries)))
        return await answer


async def open_link(
    homes: Households, url: str, device: Device, stats: WorkerStats
) -> tuple[Link, asyncio.Task[None]]:
    ws = await homes.client(device.home).ws_connect(sync_url(url), max_msg_size=p.MAX_FRAME_BYTES)
    link = Link(ws, device)
    started = time.monotonic()
    welcome = await link.hello()
    stats.hello_ms.append((time.monotonic() - started) * 1000)
    # The relay may hold more of this log than was acknowledged (an Ack lost with a drop).
    device.pushed = max(device.pushed, welcome.heads.get(device.log.log, 0))
    await link.send(p.Pull(device.have()))
    return link, asyncio.create_task(link.read())


async def push_until(
    link: Link, reader: asyncio.Task[None], stop_at: float, pause: float, stats: WorkerStats
) -> None:
    """Push one to three entries at a time, waiting for each Ack, until `stop_at`."""
    device = link.device
    rng = random.Random()
    await asyncio.wait_for(link.caught_up.wait(), DRAIN_SECONDS)
    while time.monotonic() < stop_at and device.pushed < len(device.log.entries):
        await asyncio.sleep(rng.uniform(0.5, 1.5) * pause)
        if reader.done():
            raise ConnectionError("the connection ended")
        count = min(rng.randint(1, 3), len(device.log.entries) - device.pushed)
        batch = device.log.entries[device.pushed : device.pushed + count]
        started = time.monotonic()
        answer = await link.push(batch)
        if not isinstance(answer, p.Ack):
            raise ConnectionError(f"push refused: {answer}")
        stats.ack_ms.append((time.monotonic() - started) * 1000)
        device.pushed += count
        stats.acked_entries += count


async def run_device(
    homes: Households,
    url: str,
    device: Device,
    gate: asyncio.Semaphore,
    stop_at: float,
    pause: float,
    stats: WorkerStats,
) -> tuple[Link, asyncio.Task[None]] | None:
    """Push until `stop_at`, reconnecting when dropped; returns the link still open."""
    while time.monotonic() < stop_at + DRAIN_SECONDS:
        try:
            async with gate:
                link, reader = await open_link(homes, url, device, stats)
            await push_until(link, reader, stop_at, pause, stats)
            return link, reader
        except (ConnectionError, aiohttp.ClientError, TimeoutError, ProtocolError) as e:
            stats.errors[type(e).__name__] += 1
            stats.reconnects += 1
            await asyncio.sleep(random.uniform(0.1, 1.0))
    return None


def delivered(devices: Sequence[Device]) -> bool:
    return all(d.have()[d.partner.log.log] >= d.partner.pushed for d in devices if d.partner)


async def worker(
    url: str, spaces: int, seconds: float, pause: float, first_home: int
) -> dict[str, Any]:
    stats = WorkerStats()
    pushes = int(seconds / pause * 1.5) + 2
    devices = couples(spaces, pushes * 3, first_home)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "go": every worker has built its entries
    async with Households() as homes:
        stop_at = time.monotonic() + seconds
        gate = asyncio.Semaphore(CONNECT_AT_ONCE)
        links = await asyncio.gather(
            *(run_device(homes, url, d, gate, stop_at, pause, stats) for d in devices)
        )
        await drain(homes, url, devices, list(links), stats)
    return result_of(devices, stats)


async def drain(
    homes: Households,
    url: str,
    devices: Sequence[Device],
    links: list[tuple[Link, asyncio.Task[None]] | None],
    stats: WorkerStats,
) -> None:
    """Wait for the last entries to arrive; a device dropped meanwhile reconnects and pulls
    (else what the relay holds for it would count as lost)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while not delivered(devices) and time.monotonic() < deadline:
        for i, link in enumerate(links):
            if link is None or link[1].done():
                with contextlib.suppress(ConnectionError, aiohttp.ClientError, TimeoutError):
                    stats.reconnects += 1
                    links[i] = await open_link(homes, url, devices[i], stats)
        await asyncio.sleep(0.2)
    for link in links:
        if link is not None:
            await link[0].ws.close()
            link[1].cancel()


def result_of(devices: Sequence[Device], stats: WorkerStats) -> dict[str, Any]:
    lost = duplicated = stray = 0
    for d in devices:
        assert d.partner is not None
        expected = range(1, d.partner.pushed + 1)
        lost += sum(1 for seq in expected if not d.received[seq])
        duplicated += sum(n - 1 for n in d.received.values() if n > 1)
        stray += d.wrong + sum(1 for seq in d.received if seq > d.partner.pushed)
    return {
        "devices": len(devices),
        "acked_entries": stats.acked_entries,
        "stored_entries": sum(d.pushed for d in devices),
        "lost": lost,
        "duplicated": duplicated,
        "stray": stray,  # arrived but never acknowledged (or not the bytes pushed)
        "reconnects": stats.reconnects,
        "errors": dict(stats.errors),
        "hello_ms": stats.hello_ms,
        "ack_ms": stats.ack_ms,
    }


def worker_main(args: list[str]) -> int:
    url, spaces, seconds, pause, first_home = args
    raise_open_files_limit()
    result = asyncio.run(worker(url, int(spaces), float(seconds), float(pause), int(first_home)))
    print(json.dumps(result), flush=True)
    return 0


# --- the hostile clients --------------------------------------------------------------------------


async def send_big_hellos(url: str, until: float) -> dict[str, Any]:
    """Oversized Hellos over a few connections, each waiting for the relay's answer."""
    frame = big_hello()
    answers: Counter[str] = Counter()

    async def one(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < until:
            try:
                async with http.ws_connect(sync_url(url), max_msg_size=p.MAX_FRAME_BYTES) as ws:
                    await ws.send_bytes(frame)
                    msg = await asyncio.wait_for(ws.receive(), 30)
                    answers[_answer(msg)] += 1
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                answers[type(e).__name__] += 1
                await asyncio.sleep(0.1)

    connector = aiohttp.TCPConnector(local_addr=(HOSTILE["big-hello"], 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(one(http) for _ in range(BIG_HELLO_CONNECTIONS)))
    return {"kind": "big-hello", "frame_bytes": len(frame), "answers": dict(answers)}


def _answer(msg: aiohttp.WSMessage) -> str:
    if msg.type is aiohttp.WSMsgType.BINARY:
        frame = p.decode(msg.data)
        return f"error {frame.code}" if isinstance(frame, p.Error) else frame.TYPE
    return msg.type.name.lower()


async def flood_mailboxes(url: str, until: float) -> dict[str, Any]:
    """64 KiB POSTs to random mailbox ids, FLOOD_AT_ONCE at a time, for as long as asked."""
    body = os.urandom(FLOOD_BYTES)
    answers: Counter[str] = Counter()

    async def one(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < until:
            box = secrets.token_hex(16)
            try:
                async with http.post(f"{url}/v1/mailbox/{box}?ttl=600", data=body) as response:
                    answers[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                answers[type(e).__name__] += 1
                await asyncio.sleep(0.1)

    connector = aiohttp.TCPConnector(limit=0, local_addr=(HOSTILE["mailbox-flood"], 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(one(http) for _ in range(FLOOD_AT_ONCE)))
    return {"kind": "mailbox-flood", "body_bytes": FLOOD_BYTES, "answers": dict(answers)}


def hostile_main(args: list[str]) -> int:
    kind, url, seconds = args
    until = time.monotonic() + float(seconds)
    attack = send_big_hellos if kind == "big-hello" else flood_mailboxes
    print(json.dumps(asyncio.run(attack(url, until))), flush=True)
    return 0


# --- this process: the honest probe, the relay's memory -------------------------------------------


async def probe_hellos(url: str, until: float) -> list[float]:
    """A fresh connection's Hello until its Welcome, every PROBE_EVERY seconds."""
    space, capability = secrets.token_bytes(16), secrets.token_bytes(32)
    hello = p.Hello(p.PROTOCOL_VERSIONS, space, capability, create=True)
    samples: list[float] = []
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < until:
            await asyncio.sleep(random.uniform(0.5, 1.5) * PROBE_EVERY)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                async with http.ws_connect(sync_url(url), max_msg_size=p.MAX_FRAME_BYTES) as ws:
                    conn = p.Connection(p.Role.DEVICE)
                    started = time.monotonic()
                    await ws.send_bytes(conn.send(hello))
                    msg = await asyncio.wait_for(ws.receive(), 30)
                    if isinstance(conn.receive(msg.data), p.Welcome):
                        samples.append((time.monotonic() - started) * 1000)
    return samples


async def sample_rss(relay: Relay, until: float) -> list[int]:
    samples: list[int] = []
    while time.monotonic() < until:
        samples.append(relay.memory_kb()["VmRSS"])
        await asyncio.sleep(RSS_EVERY)
    return samples


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


def _collect(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    out, _err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"a load process failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


@dataclass
class Load:
    spaces: int
    seconds: float
    workers: int
    pause: float
    hostile: bool = True


def start_workers(relay: Relay, load: Load) -> list[subprocess.Popen[bytes]]:
    """The workers, each with its share of the spaces, started once all have built theirs."""
    share = [
        load.spaces // load.workers + (i < load.spaces % load.workers) for i in range(load.workers)
    ]
    firsts = [sum(share[:i]) for i in range(len(share))]  # each worker's first household
    workers = [
        _spawn("--worker", relay.url, str(n), str(load.seconds), str(load.pause), str(first))
        for n, first in zip(share, firsts, strict=True)
    ]
    for proc in workers:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("a worker failed before it was ready")
    for proc in workers:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    return workers


async def _watch(relay: Relay, seconds: float) -> tuple[list[float], list[int]]:
    """While the load runs: probe Hellos and sample RSS."""
    until = time.monotonic() + seconds
    probes, rss = await asyncio.gather(probe_hellos(relay.url, until), sample_rss(relay, until))
    return probes, rss


def run_load(relay: Relay, load: Load) -> dict[str, Any]:
    """One run: workers and hostile clients against `relay`; every figure of it."""
    cpu = relay.cpu_seconds()
    workers = start_workers(relay, load)
    kinds = ("big-hello", "mailbox-flood") if load.hostile else ()
    hostile = [_spawn("--hostile", kind, relay.url, str(load.seconds)) for kind in kinds]
    probes, rss = asyncio.run(_watch(relay, load.seconds))
    results = [_collect(w, load.seconds + 2 * DRAIN_SECONDS + 60) for w in workers]
    cpu = relay.cpu_seconds() - cpu
    attacks = [_collect(h, 120) for h in hostile]
    return summary(results, attacks, probes, rss, relay.memory_kb()["VmHWM"], load, cpu)


def summary(
    results: Sequence[dict[str, Any]],
    attacks: Sequence[dict[str, Any]],
    probes: list[float],
    rss: list[int],
    hwm_kb: int,
    load: Load,
    cpu: float,
) -> dict[str, Any]:
    ack = [ms for r in results for ms in r["ack_ms"]]
    device_hellos = [ms for r in results for ms in r["hello_ms"]]
    acked = sum(r["acked_entries"] for r in results)

    def total(key: str) -> int:
        return sum(int(r[key]) for r in results)

    return {
        "spaces": load.spaces,
        "devices": total("devices"),
        "seconds": load.seconds,
        "hostile": load.hostile,
        "acked_entries": acked,
        "entries_per_s": round(acked / load.seconds, 1),
        "lost": total("lost"),
        "duplicated": total("duplicated"),
        "stray": total("stray"),
        "reconnects": total("reconnects"),
        "errors": sum((Counter(r["errors"]) for r in results), Counter()),
        "probe_hellos": len(probes),
        "hello_p50_ms": round(statistics.median(probes), 2) if probes else None,
        "hello_p99_ms": round(_p99(probes), 2) if probes else None,
        "device_hello_p50_ms": round(statistics.median(device_hellos), 2),
        "device_hello_p99_ms": round(_p99(device_hellos), 2),
        "ack_p50_ms": round(statistics.median(ack), 2) if ack else None,
        "ack_p99_ms": round(_p99(ack), 2) if ack else None,
        "peak_rss_mib": round(max(max(rss, default=0), hwm_kb) / 1024, 1),
        "sampled_peak_rss_mib": round(max(rss, default=0) / 1024, 1),
        "relay_cpu_s": round(cpu, 1),
        "attacks": list(attacks),
    }


# --- idle devices ---------------------------------------------------------------------------------


async def idle_rss(relay: Relay, devices: int) -> dict[str, Any]:
    async with Households() as homes:
        before = relay.memory_kb()["VmRSS"]
        idle = await _connect_many(homes, relay.url, devices)
        await asyncio.sleep(1.0)
        with_them = relay.memory_kb()
        await _close_all(idle)
    return {
        "devices": devices,
        "rss_before_mib": round(before / 1024, 1),
        "rss_mib": round(with_them["VmRSS"] / 1024, 1),
        "hwm_mib": round(with_them["VmHWM"] / 1024, 1),
        "kib_per_connection": round((with_them["VmRSS"] - before) / devices, 1),
    }


# --- running it -----------------------------------------------------------------------------------


def work_folder() -> Path:
    """This run's own folder: a smoke test may run while a full run is going."""
    return WORK / f"relay-load-{os.getpid()}"


@contextlib.contextmanager
def fresh_relay(name: str) -> Iterator[Relay]:
    relay = Relay(work_folder() / name).start()
    try:
        yield relay
    finally:
        relay.stop()


def show_load(run: dict[str, Any]) -> None:
    ok = "met" if (run["hello_p99_ms"] or 1e9) <= TARGETS["hello_p99_ms"] else "MISSED"
    mem = "met" if run["peak_rss_mib"] <= TARGETS["peak_rss_mib"] else "MISSED"
    print(
        f"  {run['spaces']} spaces, {run['devices']} devices, {run['seconds']:.0f} s, "
        f"hostile={run['hostile']}\n"
        f"    entries acknowledged {run['acked_entries']} ({run['entries_per_s']} entries/s); "
        f"lost {run['lost']}, duplicated {run['duplicated']}, stray {run['stray']}; "
        f"reconnects {run['reconnects']} {dict(run['errors'])}\n"
        f"    honest Hello->Welcome p50 {run['hello_p50_ms']} ms, p99 {run['hello_p99_ms']} ms "
        f"({run['probe_hellos']} probes; target p99 <= 100 ms: {ok}); devices' own "
        f"p50 {run['device_hello_p50_ms']} / p99 {run['device_hello_p99_ms']} ms\n"
        f"    Push->Ack p50 {run['ack_p50_ms']} ms, p99 {run['ack_p99_ms']} ms\n"
        f"    relay peak RSS {run['peak_rss_mib']} MiB (target <= 150: {mem}); "
        f"relay CPU {run['relay_cpu_s']} s",
        flush=True,
    )
    for attack in run["attacks"]:
        print(f"    {attack['kind']}: {attack['answers']}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few seconds: the smoke test's")
    parser.add_argument("--spaces", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pause", type=float, default=2.0, help="mean seconds between pushes")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-hostile", action="store_true", help="honest load only")
    parser.add_argument("--only", choices=("load", "idle"), action="append")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "relay_load.json",
        help="where to write the figures as JSON",
    )
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--hostile", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    if args.hostile:
        return hostile_main(args.hostile)
    return run_bench(args)


def run_bench(args: argparse.Namespace) -> int:
    raise_open_files_limit()
    steps = args.only or ("load", "idle")
    if args.quick:
        args.spaces, args.seconds, args.workers, args.pause = 10, 3.0, 1, 0.5
    idle_devices = 40 if args.quick else IDLE_DEVICES
    report: dict[str, Any] = {"when": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    print(f"relay under load ({dt.date.today()}, {os.cpu_count()} cores):", flush=True)
    load = Load(args.spaces, args.seconds, args.workers, args.pause, not args.no_hostile)
    runs: list[dict[str, Any]] = []
    for i in range(args.runs if "load" in steps else 0):
        with fresh_relay(f"load-{i}") as relay:
            runs.append(run_load(relay, load))
        show_load(runs[-1])
    idles: list[dict[str, Any]] = []
    for i in range(args.runs if "idle" in steps else 0):
        with fresh_relay(f"idle-{i}") as relay:
            idles.append(asyncio.run(idle_rss(relay, idle_devices)))
        print(f"  idle: {idles[-1]}", flush=True)
    report.update(quick=args.quick, load=runs, idle=idles)
    args.results.parent.mkdir(exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2, default=dict) + "\n")
    shutil.rmtree(work_folder(), ignore_errors=True)
    broken = any(r["lost"] or r["duplicated"] or r["stray"] for r in runs)
    if broken:
        print("  ENTRIES LOST OR DUPLICATED", flush=True)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
