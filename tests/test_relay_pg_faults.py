"""PostgreSQL and relay instances failing under load: nothing acknowledged is lost.

Real pieces only: a private PostgreSQL cluster (tests/pg_cluster.py), `tend relay serve`
subprocesses on it, and two partners' real journals kept in sync by the real device code
(`client.watch`, what `tend sync --watch` runs), each recording a check-in every few tens of
milliseconds and waking its watch to push it.

* The database stops (fast shutdown) and starts again under that load: the devices hear a
  one-line error while it is down, back off and retry, and once it is back every entry is at
  the relay and at the partner exactly once, including every one the relay had acknowledged
  (committed) before the stop.
* A relay instance is killed with SIGKILL: what it acknowledged is in the shared database, and
  its devices, reconnecting through a load balancer (tests/pg_cluster.Forwarder), carry on with
  the other instance.

Skipped, saying why, where the PostgreSQL server binaries are missing or the cluster cannot
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from tend.core.domain.events import CheckIn
from tend.core.errors import TendError
from tend.core.ids import LogId
from tend.core.journal import Journal
from tend.sync import client
from tests.conftest import Relay, invite, started
from tests.pg_cluster import Forwarder, PrivateCluster, server_binaries

pytestmark = pytest.mark.slow

RECORD_EVERY = 0.03  # seconds between one device's check-ins
SETTLE_SECONDS = 60.0  # for the devices to converge once everything is up again


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    why = PrivateCluster.unavailable()
    if why is not None:
        pytest.skip(why)
    binaries = server_binaries()
    assert binaries is not None
    private = PrivateCluster(binaries)
    try:
        private.init().start()
    except (subprocess.SubprocessError, OSError) as e:
        private.destroy()
        pytest.skip(f"a private PostgreSQL cluster could not start: {e}")
    yield private
    private.destroy()


@pytest.fixture
async def dsn(cluster: PrivateCluster) -> AsyncIterator[str]:
    """A fresh database of the private cluster, for this test alone."""
    name = f"tend_fault_{secrets.token_hex(4)}"
    db = await asyncpg.connect(cluster.dsn)
    try:
        await db.execute(f'CREATE DATABASE "{name}"')
    finally:
        await db.close()
    yield cluster.dsn.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def relay_on(folder: Path, dsn: str) -> Iterator[Relay]:
    folder.mkdir()
    relay = Relay(folder, db=dsn)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    sam = started(Journal.create(tmp_path / "sam", "Sam"), "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    return sam, alex


@dataclass
class Watching:
    """One device under `client.watch`, recording a check-in every RECORD_EVERY seconds."""

    journal: Journal
    url: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    recording: bool = True
    downs: list[str] = field(default_factory=list)  # what each failure said
    lives: int = 0  # times it caught up and went live
    tasks: list[asyncio.Task[object]] = field(default_factory=list)

    def start(self) -> Watching:
        def down(error: TendError) -> None:
            self.downs.append(str(error))

        def live(_report: client.SyncReport) -> None:
            self.lives += 1

        watch = client.watch(self.journal, self.url, self.stop, live, None, self.wake, down)
        self.tasks = [asyncio.create_task(watch), asyncio.create_task(self._record())]
        return self

    async def _record(self) -> None:
        n = 0
        while not self.stop.is_set():
            if self.recording:
                self.journal.record(CheckIn(energy=n % 11))
                self.wake.set()
                n += 1
            await asyncio.sleep(RECORD_EVERY)

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)

    @property
    def log(self) -> LogId:
        return self.journal.device.log

    def head(self) -> int:
        held = self.journal.store.head(self.log)
        return int(held[0]) if held else 0


async def relay_heads(dsn: str) -> dict[bytes, int]:
    """What the relay has committed, so acknowledged: its highest seq of each log."""
    db = await asyncpg.connect(dsn)
    try:
        rows = await db.fetch("SELECT log, seq FROM tend_relay.heads")
    finally:
        await db.close()
    return {bytes(r["log"]): int(r["seq"]) for r in rows}


async def relay_log(dsn: str, log: LogId) -> list[tuple[int, bytes]]:
    db = await asyncpg.connect(dsn)
    try:
        rows = await db.fetch(
            "SELECT seq, entry FROM tend_relay.entries WHERE log = $1 ORDER BY seq", log
        )
    finally:
        await db.close()
    return [(int(r["seq"]), bytes(r["entry"])) for r in rows]


def own_log(journal: Journal) -> list[bytes]:
    return [s.entry for s in journal.store.log_entries(journal.device.log)]


def held_of(journal: Journal, log: LogId) -> list[tuple[int, bytes]]:
    return [(int(s.seq), s.entry) for s in journal.store.log_entries(log)]


async def converge(devices: list[Watching]) -> None:
    """Stop recording; wait until each partner holds everything the other wrote."""
    for device in devices:
        device.recording = False
    async with asyncio.timeout(SETTLE_SECONDS):
        while True:
            for device in devices:
                device.wake.set()
            a, b = devices
            have = (b.journal.store.head(a.log), a.journal.store.head(b.log))
            if have[0] and have[1] and (have[0][0], have[1][0]) == (a.head(), b.head()):
                return
            await asyncio.sleep(0.1)


async def check_exactly_once(dsn: str, devices: list[Watching], acked: dict[bytes, int]) -> None:
    """Every entry each device wrote is at the relay and at its partner once, byte for byte,
    and what the relay had acknowledged is among them."""
    a, b = devices
    for writer, reader in ((a, b), (b, a)):
        written = own_log(writer.journal)
        assert acked.get(writer.log, 0) <= len(written)
        expected = list(enumerate(written, start=1))
        assert await relay_log(dsn, writer.log) == expected
        assert held_of(reader.journal, writer.log) == expected


async def test_restarting_postgresql_under_load_loses_nothing_acknowledged(
    tmp_path: Path, cluster: PrivateCluster, dsn: str
) -> None:
    sam, alex = couple(tmp_path)
    with relay_on(tmp_path / "relay", dsn) as relay:
        devices = [Watching(j, relay.url).start() for j in (sam, alex)]
        try:
            await asyncio.sleep(2.0)
            assert all(d.lives for d in devices), "the devices did not go live"
            acked = await relay_heads(dsn)  # committed before the stop
            assert acked.get(sam.device.log, 0) > 10
            await asyncio.to_thread(cluster.stop, "fast")
            await asyncio.sleep(3.0)
            down = [line for d in devices for line in d.downs]
            lives_while_down = [d.lives for d in devices]
            await asyncio.to_thread(cluster.start)
            await asyncio.sleep(3.0)
            await converge(devices)
        finally:
            await asyncio.gather(*(d.finish() for d in devices))
        assert down, "no device heard that the relay failed"
        assert all("\n" not in line and line.strip() for line in down), down
        assert any("try again later" in line for line in down), down
        # They retried: each caught up and went live again once the database was back.
        assert all(d.lives > was for d, was in zip(devices, lives_while_down, strict=True))
        await check_exactly_once(dsn, devices, acked)
    sam.close()
    alex.close()


async def test_a_killed_instance_loses_nothing_and_its_devices_move_to_another(
    tmp_path: Path, dsn: str
) -> None:
    sam, alex = couple(tmp_path)
    with relay_on(tmp_path / "one", dsn) as one, relay_on(tmp_path / "two", dsn) as two:
        balancer = await Forwarder([one.port, two.port]).start()
        # Sam goes through the balancer (so to instance one while it lives); Alex straight
        # to instance two, so Sam's entries reach Alex across instances throughout.
        devices = [Watching(sam, balancer.url).start(), Watching(alex, two.url).start()]
        try:
            await asyncio.sleep(2.0)
            assert all(d.lives for d in devices), "the devices did not go live"
            assert set(balancer.served) == {one.port}
            assert one.proc is not None
            one.proc.send_signal(signal.SIGKILL)
            one.proc.wait(timeout=10)
            one.proc = None
            acked = await relay_heads(dsn)  # all instance one acknowledged is committed
            await asyncio.sleep(3.0)
            await converge(devices)
        finally:
            await asyncio.gather(*(d.finish() for d in devices))
            await balancer.close()
        assert devices[0].downs, "Sam's device did not notice its instance died"
        assert all("\n" not in line for line in devices[0].downs), devices[0].downs
        assert two.port in balancer.served, "Sam's device did not move to instance two"
        assert devices[0].lives >= 2
        await check_exactly_once(dsn, devices, acked)
    sam.close()
    alex.close()
