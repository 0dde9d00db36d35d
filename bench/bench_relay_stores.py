"""The relay's stores side by side: SQLite and PostgreSQL, and two instances beside one.

    python bench/bench_relay_stores.py [--quick] [--entries N] [--rounds R] [--pg DSN]

Every figure goes through real `tend relay serve` subprocesses on 127.0.0.1, driven over raw
websockets with the protocol library and entries built (signed and sealed) before the clock
starts (tests/relay_fixtures.py), as bench_relay_load.py does. PostgreSQL is the server named
by --pg (default: $TEND_TEST_POSTGRES); each round gets a fresh database there, dropped after.

* ingest: one device pushes N entries to an empty relay in full Push frames (256 entries),
  one push in flight at a time, each durable before its Ack; entries/s.
* catch-up: a fresh device pulls all N from nothing until CaughtUp; milliseconds.
* bytes per entry: the store's size on disk (SQLite file and WAL; PostgreSQL: the relay
  schema's tables with their indexes and TOAST) over the entries it holds.
* two instances on one PostgreSQL: an entry pushed on one reaches a live device on the other
  (push to receipt, one entry at a time); and the aggregate ingest of two devices, in two
  spaces, pushing at once, both on one instance or one on each.
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
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.bench_journal import WORK
from bench.bench_sync import Relay, _p99, raise_open_files_limit
from tend.core.ids import SpaceId
from tend.sync import protocol as p
from tend.sync.client import sync_url
from tests.relay_fixtures import Log

SCHEMA = "tend_relay"  # the relay's default schema, which `tend relay serve` uses


class Device:
    """One device's websocket, speaking the protocol directly."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.conn = p.Connection(p.Role.DEVICE)
        self.next_id = 1

    @classmethod
    async def hello(cls, http: aiohttp.ClientSession, url: str, space: bytes, cap: bytes) -> Device:
        ws = await http.ws_connect(sync_url(url), max_msg_size=p.MAX_FRAME_BYTES)
        device = cls(ws)
        await device.send(p.Hello(p.PROTOCOL_VERSIONS, space, cap, create=True))
        assert isinstance(await device.frame(), p.Welcome)
        return device

    async def send(self, frame: p.Frame) -> None:
        await self.ws.send_bytes(self.conn.send(frame))

    async def frame(self) -> p.Frame:
        frame: p.Frame = self.conn.receive((await self.ws.receive()).data)
        return frame

    async def push(self, entries: Sequence[bytes]) -> None:
        request, self.next_id = self.next_id, self.next_id + 1
        await self.send(p.Push(request, tuple(entries)))
        while not isinstance(answer := await self.frame(), p.Ack):
            assert not isinstance(answer, p.Error), answer

    async def upload(self, entries: Sequence[bytes]) -> None:
        for start in range(0, len(entries), p.MAX_ENTRIES_PER_FRAME):
            await self.push(entries[start : start + p.MAX_ENTRIES_PER_FRAME])

    async def pull_all(self) -> int:
        await self.send(p.Pull({}))
        count = 0
        while not isinstance(frame := await self.frame(), p.CaughtUp):
            assert isinstance(frame, p.Entries), frame
            count += len(frame.entries)
        return count

    async def live(self) -> None:
        await self.send(p.Pull({}))
        while not isinstance(await self.frame(), p.CaughtUp):
            pass

    async def close(self) -> None:
        await self.ws.close()


def space() -> tuple[SpaceId, bytes]:
    return SpaceId(secrets.token_bytes(16)), secrets.token_bytes(32)


# --- where the store lives ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(server: str) -> AsyncIterator[str]:
    """A new database on the PostgreSQL server `server`; its DSN, dropped afterwards."""
    name = f"tend_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.contextmanager
def relays(name: str, db: str | None, count: int = 1) -> Iterator[list[Relay]]:
    started = [Relay(WORK / "relay-stores" / f"{name}-{i}", db).start() for i in range(count)]
    try:
        yield started
    finally:
        for relay in started:
            relay.stop()


async def store_bytes(relay: Relay) -> int:
    if relay.db.startswith("postgres"):
        db = await asyncpg.connect(relay.db)
        try:
            size = await db.fetchval(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind = 'r'",
                SCHEMA,
            )
        finally:
            await db.close()
        return int(size)  # a numeric: PostgreSQL's sum of bigints
    files = [Path(relay.db + suffix) for suffix in ("", "-wal", "-shm")]
    return sum(f.stat().st_size for f in files if f.exists())


# --- one instance -------------------------------------------------------------------------------


async def ingest_and_catch_up(
    relay: Relay, entries: Sequence[bytes], where: bytes, cap: bytes
) -> tuple[float, float, int]:
    """Seconds to ingest `entries`, then to catch a fresh device up on them; bytes stored."""
    async with aiohttp.ClientSession() as http:
        writer = await Device.hello(http, relay.url, where, cap)
        started = time.perf_counter()
        await writer.upload(entries)
        ingest_s = time.perf_counter() - started
        await writer.close()
        reader = await Device.hello(http, relay.url, where, cap)
        started = time.perf_counter()
        got = await reader.pull_all()
        catch_up_s = time.perf_counter() - started
        await reader.close()
    assert got == len(entries), (got, len(entries))
    await asyncio.sleep(1.0)  # let SQLite's WAL and PostgreSQL's relation sizes settle
    return ingest_s, catch_up_s, await store_bytes(relay)


async def one_store(name: str, db: str | None, entries: int, rounds: int) -> dict[str, Any]:
    ingest: list[float] = []
    catch_up: list[float] = []
    per_entry: list[float] = []
    for i in range(rounds):
        where, cap = space()
        built = Log(where).extend(entries)
        with relays(f"{name}-{i}", db) as (relay,):
            ingest_s, catch_up_s, size = await ingest_and_catch_up(relay, built, where, cap)
        ingest.append(entries / ingest_s)
        catch_up.append(catch_up_s * 1000)
        per_entry.append(size / entries)
        print(
            f"    {name}: ingest {entries / ingest_s:.0f} entries/s, catch-up "
            f"{catch_up_s * 1000:.0f} ms, {size / entries:.0f} bytes/entry",
            flush=True,
        )
    return {
        "store": name,
        "entries": entries,
        "rounds": rounds,
        "ingest_entries_per_s": round(statistics.median(ingest), 1),
        "catch_up_ms": round(statistics.median(catch_up), 1),
        "bytes_per_entry": round(statistics.median(per_entry), 1),
        "entry_bytes": len(built[0]),
    }


async def with_store(kind: str, server: str | None) -> AsyncIterator[str | None]:
    """None (a SQLite file) or a fresh PostgreSQL database's DSN."""
    if kind == "sqlite":
        yield None
        return
    assert server is not None
    async with fresh_database(server) as dsn:
        yield dsn


# --- two instances --------------------------------------------------------------------------------


async def cross_instance_latency(a: Relay, b: Relay, rounds: int) -> list[float]:
    """Push one entry on `a`; ms until a live device on `b` has it."""
    where, cap = space()
    log = Log(where)
    built = log.extend(rounds + 5)
    samples: list[float] = []
    async with aiohttp.ClientSession() as http:
        writer = await Device.hello(http, a.url, where, cap)
        reader = await Device.hello(http, b.url, where, cap)
        await reader.live()
        for i, raw in enumerate(built):
            started = time.perf_counter()
            await writer.push([raw])
            while not isinstance(frame := await reader.frame(), p.Entries):
                pass
            assert frame.entries == (raw,)
            if i >= 5:  # warm-up
                samples.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)
        await writer.close()
        await reader.close()
    return samples


async def aggregate_ingest(targets: Sequence[Relay], entries: int) -> float:
    """Two devices in two spaces pushing `entries` each at once, one per target; entries/s."""
    spaces = [space() for _ in targets]
    logs = [Log(where).extend(entries) for where, _cap in spaces]
    async with aiohttp.ClientSession() as http:
        devices = [
            await Device.hello(http, relay.url, where, cap)
            for relay, (where, cap) in zip(targets, spaces, strict=True)
        ]
        started = time.perf_counter()
        await asyncio.gather(*(d.upload(built) for d, built in zip(devices, logs, strict=True)))
        elapsed = time.perf_counter() - started
        for device in devices:
            await device.close()
    return len(targets) * entries / elapsed


async def two_instances(server: str, entries: int, rounds: int, live_rounds: int) -> dict[str, Any]:
    latency: list[float] = []
    one: list[float] = []
    two: list[float] = []
    for i in range(rounds):
        async with fresh_database(server) as dsn:
            with relays(f"pair-{i}", dsn, 2) as (a, b):
                latency += await cross_instance_latency(a, b, live_rounds)
                one.append(await aggregate_ingest([a, a], entries))
                two.append(await aggregate_ingest([a, b], entries))
        print(
            f"    two instances: live p50 {statistics.median(latency):.2f} ms; aggregate "
            f"ingest one instance {one[-1]:.0f}, two {two[-1]:.0f} entries/s",
            flush=True,
        )
    return {
        "rounds": rounds,
        "live_samples": len(latency),
        "cross_instance_live_p50_ms": round(statistics.median(latency), 2),
        "cross_instance_live_p99_ms": round(_p99(latency), 2),
        "aggregate_ingest_one_instance": round(statistics.median(one), 1),
        "aggregate_ingest_two_instances": round(statistics.median(two), 1),
        "entries_per_device": entries,
    }


async def same_instance_latency(server: str, rounds: int) -> list[float]:
    """The same live figure with both devices on one instance, for comparison."""
    async with fresh_database(server) as dsn:
        with relays("same", dsn) as (a,):
            return await cross_instance_latency(a, a, rounds)


# --- running it -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stores = []
    for kind in ("sqlite", "postgresql"):
        if kind == "postgresql" and not args.pg:
            print("    postgresql: skipped (no --pg and no TEND_TEST_POSTGRES)", flush=True)
            continue
        async for db in with_store(kind, args.pg):
            stores.append(await one_store(kind, db, args.entries, args.rounds))
    report: dict[str, Any] = {"stores": stores}
    if args.pg:
        report["two_instances"] = await two_instances(
            args.pg, args.entries // 2, args.rounds, args.live
        )
        same = await same_instance_latency(args.pg, args.live)
        print(f"    one instance: live p50 {statistics.median(same):.2f} ms", flush=True)
        report["one_instance_live_p50_ms"] = round(statistics.median(same), 2)
        report["one_instance_live_p99_ms"] = round(_p99(same), 2)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--live", type=int, default=200, help="live rounds per instance pair")
    parser.add_argument("--pg", default=os.environ.get("TEND_TEST_POSTGRES"))
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.rounds, args.live = 1_000, 1, 20
    raise_open_files_limit()
    print(f"relay stores ({dt.date.today()}, {os.cpu_count()} cores):", flush=True)
    report = asyncio.run(run(args))
    report["when"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    print(json.dumps(report, indent=2), flush=True)
    out = Path(__file__).resolve().parent / "results" / "relay_stores.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
