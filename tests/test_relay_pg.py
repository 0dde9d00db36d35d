"""Several relay instances on one PostgreSQL database: what the contract suite cannot show alone.

The store's rules (atomic, durable puts; refusals; paging) are pinned for PostgreSQL by
tests/test_relay_store_contract.py; durability there is a COMMIT before put returns, which is
what makes an Ack survive a SIGKILL. Here: two stores writing to one space at once never
interleave a log or miscount its usage, and of two rotations from one capability exactly one
wins; of instances racing on one invitation id, one stores it and one takes it, and together
they never pass a cap; each store hears the other's commits (not its own), repairs included;
and two relay apps on different loopback ports, sharing a database, push live entries,
rotations and repairs to each other's devices, and share invitations and escrows. Everything
skips, saying why, without TEND_TEST_POSTGRES.
Each test gets a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from tend.core.ids import Seq, SpaceId, new_space_id
from tend.core.log.header import GENESIS, Header
from tend.sync.protocol import (
    MAX_ENTRIES_PER_FRAME,
    Ack,
    CaughtUp,
    Entries,
    Error,
    ErrorCode,
    Pull,
    Welcome,
)
from tend.sync.relay.app import make_app
from tend.sync.relay.app_keys import STORE
from tend.sync.relay.store import (
    ROW_OVERHEAD,
    BudgetReached,
    CapReached,
    LogFork,
    LogRemoved,
    PutResult,
    StaleCapability,
    StoreFailure,
    Writer,
)
from tend.sync.relay.store_pg import DEFAULT_SCHEMA, Change, PostgresRelayStore
from tend.sync.relay.store_spec import PostgresSpec, SqliteSpec, parse_store_spec
from tests.conftest import tend_env, tend_executable
from tests.relay_fixtures import ENTRY_SIZE, Log, capability_hash, rotation
from tests.test_relay import TIMEOUT, Device, Person, RunningRelay, _free_port, escrow_body
from tests.test_relay_store_contract import (
    CAP,
    NO_POSTGRES,
    OTHER_CAP,
    POSTGRES_DSN,
    THIRD_CAP,
    PostgresBackend,
)

pytestmark = [pytest.mark.skipif(not POSTGRES_DSN, reason=NO_POSTGRES), pytest.mark.slow]

NOW = 1_750_000_000.0  # seconds, as the relay's wall clock gives them


@pytest.fixture
async def backend() -> AsyncIterator[PostgresBackend]:
    """A fresh schema of the test database, dropped after the test."""
    backend = PostgresBackend(POSTGRES_DSN)
    yield backend
    await backend.cleanup()


@pytest.fixture
async def two_stores(backend: PostgresBackend) -> AsyncIterator[tuple[PostgresRelayStore, ...]]:
    """Two stores on one schema: what two relay instances would hold."""
    stores = [await PostgresRelayStore.open(POSTGRES_DSN, schema=backend.schema) for _ in "ab"]
    yield tuple(stores)
    for store in stores:
        await store.close()


async def next_change(changes: AsyncGenerator[Change, None]) -> Change:
    return await asyncio.wait_for(anext(changes), TIMEOUT)


async def kill_listener(store: PostgresRelayStore) -> int:
    """Terminate the store's LISTEN connection from the server's side; how many were killed."""
    db = await asyncpg.connect(POSTGRES_DSN)
    try:
        killed: int = await db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1 AND query LIKE 'LISTEN %'",
            f"tend-relay {store._instance}",
        )
    finally:
        await db.close()
    return killed


# --- the store, written to by two instances at once ---------------------------------------------


async def test_concurrent_puts_of_one_log_from_two_instances_store_each_entry_once(
    two_stores: tuple[PostgresRelayStore, ...],
) -> None:
    a, b = two_stores
    space = new_space_id()
    await a.register(space, CAP)
    log = Log(space)
    chain = log.extend(30)
    # Every put re-sends the chain from seq 1 and extends it: both instances race on each seq.
    results: list[PutResult] = await asyncio.gather(
        *((a, b)[i % 2].put(space, chain[: i + 1]) for i in range(len(chain)))
    )
    added = [raw for result in results for raw in result.new]
    assert sorted(added) == sorted(chain)
    assert await b.heads(space) == {log.log: 30}
    assert await a.since(space, {}, 100) == chain
    assert await a.usage(space) == 30 * ENTRY_SIZE


async def test_racing_forks_from_two_instances_store_exactly_one_of_them(
    two_stores: tuple[PostgresRelayStore, ...],
) -> None:
    a, b = two_stores
    space = new_space_id()
    await a.register(space, CAP)
    logs = [Log(space) for _ in range(20)]
    firsts = [(log.entry(1, GENESIS), log.entry(1, GENESIS)) for log in logs]
    outcomes = await asyncio.gather(
        *(store.put(space, [pair[i]]) for pair in firsts for i, store in enumerate((a, b))),
        return_exceptions=True,
    )
    for pair_outcome in zip(outcomes[::2], outcomes[1::2], strict=True):
        assert sorted(type(o).__name__ for o in pair_outcome) == ["LogFork", "PutResult"]
    stored = set(await a.since(space, {}, 100))
    assert all((x in stored) != (y in stored) for x, y in firsts)
    assert await b.usage(space) == 20 * ENTRY_SIZE


async def test_each_store_hears_the_others_commits_but_not_its_own(
    two_stores: tuple[PostgresRelayStore, ...],
) -> None:
    a, b = two_stores
    changes = b.changes()
    try:
        assert await next_change(changes) == Change(None, rotated=True)  # listening from here
        space = new_space_id()
        await a.register(space, CAP)
        log = Log(space)
        batch = log.extend(2)
        await a.put(space, batch)
        assert await next_change(changes) == Change(space, rotated=False)
        await a.put(space, batch)  # an identical re-send stores nothing: nothing to tell
        with pytest.raises(LogFork):
            await a.put(space, [log.fork(1)])  # a refused batch is rolled back, notice and all
        await b.put(space, log.extend(1))  # b's own commit: b's relay forwarded it already
        with pytest.raises(StaleCapability):  # a refused rotation tells nobody either
            await a.rotate(space, *rotation(log, OTHER_CAP, THIRD_CAP))
        await a.rotate(space, *rotation(log, CAP, OTHER_CAP))
        # Notices come in commit order: had any of the four above sent one, it would be next.
        assert await next_change(changes) == Change(space, rotated=True)
        junk = log.junk(1)
        await PostgresBackend(POSTGRES_DSN, b._schema).insert(space, junk)
        frame = log.repair(0, 4)
        assert await a.repair(space, log.log, frame.key, 4, frame.signature) == 1
        assert await next_change(changes) == Change(space, False, repaired=(log.log, Seq(4)))
    finally:
        await changes.aclose()


async def test_of_two_rotations_racing_from_one_capability_exactly_one_wins(
    two_stores: tuple[PostgresRelayStore, ...],
) -> None:
    a, b = two_stores
    for _ in range(10):
        space = new_space_id()
        await a.register(space, CAP)
        x, y = Log(space), Log(space)
        await a.put(space, x.extend(1) + y.extend(1))
        by_x = rotation(x, CAP, OTHER_CAP, removed=[y.log])
        by_y = rotation(y, CAP, THIRD_CAP, removed=[x.log])
        outcomes = await asyncio.gather(
            a.rotate(space, *by_x), b.rotate(space, *by_y), return_exceptions=True
        )
        # The loser finds the capability replaced, or itself removed: never both applied.
        assert sorted(type(o).__name__ for o in outcomes) in (
            ["RotationRecord", "StaleCapability"],
            ["LogRemoved", "RotationRecord"],
        ), outcomes
        won = by_x if not isinstance(outcomes[0], Exception) else by_y
        assert await b.capability_hash(space) == (OTHER_CAP if won is by_x else THIRD_CAP)
        assert await a.rekey(space, CAP) == won
        loser = y if won is by_x else x
        with pytest.raises(LogRemoved):
            await b.put(space, loser.extend(1))


async def test_of_two_instances_posting_one_invitation_id_exactly_one_stores_it(
    two_stores: tuple[PostgresRelayStore, ...],
) -> None:
    a, b = two_stores
    for _ in range(10):
        box = os.urandom(16)
        outcomes = await asyncio.gather(
            *((a, b)[i % 2].put_invitation(box, bytes([i]), NOW + 60, NOW) for i in range(6))
        )
        assert outcomes.count(True) == 1
        winner = bytes([outcomes.index(True)])
        assert await b.take_invitation(box, NOW) == winner


async def test_of_two_instances_taking_one_invitation_exactly_one_gets_it(
    two_stores: tuple[PostgresRelayStore, ...],
) -> None:
    a, b = two_stores
    for _ in range(10):
        box = os.urandom(16)
        assert await a.put_invitation(box, b"once", NOW + 60, NOW)
        taken = await asyncio.gather(*((a, b)[i % 2].take_invitation(box, NOW) for i in range(6)))
        assert sorted(taken, key=lambda t: t is None) == [b"once"] + [None] * 5


async def test_two_instances_filling_the_invitation_cap_together_never_pass_it(
    backend: PostgresBackend,
) -> None:
    cap = 5 * (10 + ROW_OVERHEAD)
    stores = [
        await PostgresRelayStore.open(POSTGRES_DSN, schema=backend.schema, invitation_cap=cap)
        for _ in "ab"
    ]
    try:
        outcomes = await asyncio.gather(
            *(
                stores[i % 2].put_invitation(os.urandom(16), bytes(10), NOW + 60, NOW)
                for i in range(20)
            ),
            return_exceptions=True,
        )
        assert outcomes.count(True) == 5
        assert all(isinstance(o, CapReached) for o in outcomes if o is not True)
    finally:
        for store in stores:
            await store.close()


async def test_two_instances_share_one_budget_per_household(backend: PostgresBackend) -> None:
    """Instances behind a load balancer tag a household alike (the key is the store's), so
    spreading its writes over them gains nothing."""
    stores = await asyncio.gather(
        *(PostgresRelayStore.open(POSTGRES_DSN, schema=backend.schema) for _ in "ab")
    )
    try:
        household = "2001:db8:1:2::/64"
        assert stores[0].writer_tag(household) == stores[1].writer_tag(household)
        writer = Writer(stores[0].writer_tag(household), 4 * (100 + ROW_OVERHEAD))
        outcomes = await asyncio.gather(
            *(
                stores[i % 2].put_invitation(os.urandom(16), bytes(100), NOW + 60, NOW, writer)
                for i in range(12)
            ),
            return_exceptions=True,
        )
        assert outcomes.count(True) == 4
        assert all(isinstance(o, BudgetReached) for o in outcomes if o is not True)
    finally:
        for store in stores:
            await store.close()


async def test_two_instances_filling_the_escrow_cap_together_never_pass_it(
    backend: PostgresBackend,
) -> None:
    cap = 4 * (100 + ROW_OVERHEAD)
    stores = [
        await PostgresRelayStore.open(POSTGRES_DSN, schema=backend.schema, escrow_cap=cap)
        for _ in "ab"
    ]
    try:
        locators = [os.urandom(16) for _ in range(12)]
        outcomes = await asyncio.gather(
            *(stores[i % 2].put_escrow(loc, bytes(100), NOW) for i, loc in enumerate(locators)),
            return_exceptions=True,
        )
        assert outcomes.count(None) == 4
        stored = [loc for loc, o in zip(locators, outcomes, strict=True) if o is None]
        for loc in locators:
            assert (await stores[0].escrow(loc) is not None) == (loc in stored)
    finally:
        for store in stores:
            await store.close()


async def test_a_lost_listener_reconnects_and_says_anything_may_have_changed(
    two_stores: tuple[PostgresRelayStore, ...],
) -> None:
    a, b = two_stores
    changes = b.changes()
    try:
        assert await next_change(changes) == Change(None, rotated=True)
        assert await kill_listener(b) == 1
        assert await next_change(changes) == Change(None, rotated=True)
        space = new_space_id()
        await a.register(space, CAP)
        await a.put(space, Log(space).extend(1))
        assert await next_change(changes) == Change(space, rotated=False)
    finally:
        await changes.aclose()


async def test_an_unreachable_database_is_a_store_failure() -> None:
    with pytest.raises(StoreFailure) as caught:
        await PostgresRelayStore.open("postgresql://postgres@127.0.0.1:1/test")
    assert isinstance(caught.value.__cause__, OSError)


async def test_a_schema_name_is_a_plain_identifier() -> None:
    with pytest.raises(ValueError, match="schema"):
        await PostgresRelayStore.open(POSTGRES_DSN, schema='x"; DROP TABLE y; --')


def describe(db: str) -> str:
    """How `tend relay serve --db DB` names its database to people and logs."""
    return parse_store_spec(db).describe()


def test_a_dsn_is_shown_without_its_password() -> None:
    shown = describe("postgresql://relay:s3cret@db.internal:5432/tend?sslmode=require")
    assert shown == "postgresql://relay@db.internal:5432/tend?sslmode=require"
    assert describe("postgres://db.internal/tend?password=s3cret&sslmode=require") == (
        "postgres://db.internal/tend?sslmode=require"
    )
    plain = "postgresql://relay@db.internal/tend"
    assert describe(plain) == plain
    assert SqliteSpec(Path("/var/lib/relay.db")).describe() == "/var/lib/relay.db"


# --- two relay instances ------------------------------------------------------------------------

StartInstance = Callable[[], Awaitable[RunningRelay]]


@pytest.fixture
async def start_instance(backend: PostgresBackend) -> AsyncIterator[StartInstance]:
    running: list[RunningRelay] = []

    async def start() -> RunningRelay:
        app = make_app(PostgresSpec(POSTGRES_DSN, schema=backend.schema))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        running.append(RunningRelay(runner, f"http://{host}:{port}"))
        return running[-1]

    yield start
    for relay in running:
        await relay.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def space() -> SpaceId:
    return new_space_id()


@pytest.fixture
def cap() -> bytes:
    return os.urandom(32)


Welcomed = Callable[..., Awaitable[Device]]


@pytest.fixture
def welcomed(http: aiohttp.ClientSession, space: SpaceId, cap: bytes) -> Welcomed:
    """A device on the relay at `url`, welcomed to the test's space; caught up if `live`."""

    async def connect(url: str, *, live: bool = False, key: bytes = cap) -> Device:
        device = Device(await http.ws_connect(url + "/v1/sync"))
        assert isinstance(await device.hello(space, key), Welcome)
        if live:
            await device.pull()
        return device

    return connect


async def received(device: Device, count: int) -> list[bytes]:
    """The next `count` live entries the device gets."""
    got: list[bytes] = []
    while len(got) < count:
        frame = await device.receive()
        assert isinstance(frame, Entries) and frame.live, frame
        got.extend(frame.entries)
    assert len(got) == count, got
    return got


async def test_an_entry_pushed_to_one_instance_arrives_live_at_a_device_on_the_other(
    start_instance: StartInstance, welcomed: Welcomed, space: SpaceId
) -> None:
    a, b = await start_instance(), await start_instance()
    pusher, beside, across = (
        await welcomed(a.url, live=True),
        await welcomed(a.url, live=True),
        await welcomed(b.url, live=True),
    )
    log = Log(space)
    for n in (2, 1, 3):
        batch = log.extend(n)
        assert isinstance(await pusher.push(batch), Ack)
        assert await received(across, n) == batch
        assert await received(beside, n) == batch
    # The pusher got nothing back: its next frame answers its next request.
    assert await pusher.push([]) == Ack(4, 0)


async def test_a_log_pushed_through_both_instances_reaches_devices_in_order_and_once(
    start_instance: StartInstance, welcomed: Welcomed, space: SpaceId
) -> None:
    a, b = await start_instance(), await start_instance()
    watcher = await welcomed(b.url, live=True)
    log = Log(space)
    # B stops hearing A, so B stores seq 3 before it knows of 1 and 2 (a device that moved
    # from A to B faster than the notice): B must fetch 1 and 2, not send 3 first.
    store_b = b.runner.app[STORE]
    assert isinstance(store_b, PostgresRelayStore)
    store_b._parse = lambda payload: None  # type: ignore[method-assign]
    on_a, on_b = await welcomed(a.url), await welcomed(b.url)
    assert isinstance(await on_a.push(log.extend(2)), Ack)
    assert isinstance(await on_b.push(log.extend(2)), Ack)
    assert await received(watcher, 4) == log.entries
    del store_b._parse  # hearing A again: the next entries come once each, in order
    assert isinstance(await on_a.push(log.extend(1)), Ack)
    assert await received(watcher, 1) == log.entries[4:]
    assert isinstance(await on_b.push(log.entries[:5] + log.extend(1)), Ack)
    assert await received(watcher, 1) == log.entries[5:]


async def test_a_catch_up_on_one_instance_while_another_stores_misses_and_repeats_nothing(
    start_instance: StartInstance, welcomed: Welcomed, space: SpaceId
) -> None:
    a, b = await start_instance(), await start_instance()
    logs = [Log(space) for _ in range(3)]
    pusher = await welcomed(a.url)
    for log in logs:
        await pusher.push(log.extend(MAX_ENTRIES_PER_FRAME // 2))

    async def keep_pushing() -> None:
        for i in range(60):
            assert isinstance(await pusher.push(logs[i % 3].extend(1)), Ack)

    pushing = asyncio.create_task(keep_pushing())
    reader = await welcomed(b.url)
    await reader.send(Pull({}))
    got: list[bytes] = []
    while not isinstance(frame := await reader.receive(), CaughtUp):
        assert isinstance(frame, Entries) and not frame.live
        got.extend(frame.entries)
    await pushing
    total = sum(len(log.entries) for log in logs)
    got.extend(await received(reader, total - len(got)))
    assert sorted(got) == sorted(e for log in logs for e in log.entries)  # each exactly once
    for log in logs:  # and every log in seq order
        assert [e for e in got if Header.decode(e).log == log.log] == log.entries


async def test_a_rotation_on_one_instance_closes_the_other_instances_sessions(
    start_instance: StartInstance, welcomed: Welcomed, space: SpaceId, cap: bytes
) -> None:
    a, b = await start_instance(), await start_instance()
    rotator, stale_live, stale_idle = (
        await welcomed(a.url),
        await welcomed(b.url, live=True),
        await welcomed(b.url),
    )
    log = Log(space)
    assert isinstance(await rotator.push(log.extend(1)), Ack)
    assert await received(stale_live, 1) == log.entries
    new_cap = os.urandom(32)
    assert await rotator.rotate(rotation(log, capability_hash(cap), capability_hash(new_cap))) == (
        Ack(2, 0)
    )
    for stale in (stale_live, stale_idle):
        error = await stale.receive()
        assert isinstance(error, Error) and error.code == ErrorCode.UNAUTHORIZED and error.fatal
        # 1008, unless the relay dropped the TCP link before this device's close reply (aiohttp
        # does, when the close comes from another task than the reader's): read second, the idle
        # one may be late.
        closed = (aiohttp.WSCloseCode.POLICY_VIOLATION, aiohttp.WSCloseCode.ABNORMAL_CLOSURE)
        assert await stale.closed() in closed
    fresh = await welcomed(b.url, live=True, key=new_cap)  # welcomed with the new capability
    assert isinstance(await rotator.push(log.extend(1)), Ack)
    assert await received(fresh, 1) == log.entries[1:]  # and not closed by the rotation


async def test_a_repair_on_one_instance_lets_the_honest_entries_reach_the_other_live(
    start_instance: StartInstance, welcomed: Welcomed, space: SpaceId, backend: PostgresBackend
) -> None:
    a, b = await start_instance(), await start_instance()
    owner, log = await welcomed(a.url), Log(space)
    assert isinstance(await owner.push(log.extend(2)), Ack)
    await backend.insert(space, log.junk(2))  # what an older relay let in: seqs 3 and 4
    reader = await welcomed(b.url)
    batches, _ = await reader.pull()
    assert len([e for batch in batches for e in batch.entries]) == 4  # it was sent the junk
    assert await owner.request(log.repair(owner.next_id(), 3)) == Ack(2, 2)
    assert isinstance(await owner.push(log.extend(2)), Ack)
    # B heard of the repair before the push: it sends seqs 3 and 4 again, the honest ones.
    assert await received(reader, 2) == log.entries[2:]


async def test_after_its_listener_is_lost_an_instance_still_gets_what_was_stored_meanwhile(
    start_instance: StartInstance, welcomed: Welcomed, space: SpaceId
) -> None:
    a, b = await start_instance(), await start_instance()
    watcher, pusher = await welcomed(b.url, live=True), await welcomed(a.url)
    store_b = b.runner.app[STORE]
    assert isinstance(store_b, PostgresRelayStore)
    assert await kill_listener(store_b) == 1
    log = Log(space)
    await pusher.push(log.extend(2))  # perhaps before B listens again: then fetched on resume
    assert await received(watcher, 2) == log.entries


async def test_an_invitation_posted_to_one_instance_is_taken_once_from_either(
    start_instance: StartInstance, http: aiohttp.ClientSession
) -> None:
    a, b = await start_instance(), await start_instance()
    box = os.urandom(16).hex()
    async with http.post(f"{a.url}/v1/invitation/{box}", data=b"for days") as response:
        assert response.status == 204
    async with http.post(f"{b.url}/v1/invitation/{box}", data=b"substitute") as response:
        assert response.status == 409
    async with http.get(f"{b.url}/v1/invitation/{box}") as response:
        assert (response.status, await response.read()) == (200, b"for days")
    async with http.get(f"{a.url}/v1/invitation/{box}") as response:
        assert response.status == 404


async def test_an_escrow_written_through_one_instance_is_read_from_the_other(
    start_instance: StartInstance, http: aiohttp.ClientSession
) -> None:
    a, b = await start_instance(), await start_instance()
    alice, mallory = Person.new(), Person.new()
    url = f"/v1/recovery/{alice.locator.hex()}"
    async with http.put(a.url + url, data=alice.write(b"sealed")) as response:
        assert response.status == 204
    forged = escrow_body(alice.identity, b"evil", mallory.sign(b"evil", alice.locator))
    async with http.put(b.url + url, data=forged) as response:
        assert response.status == 403
    async with http.get(b.url + url) as response:
        assert (response.status, await response.read()) == (200, b"sealed")


# --- the command --------------------------------------------------------------------------------


@pytest.fixture
async def default_schema() -> AsyncIterator[str]:
    """The store's default schema, which the command uses; dropped after if the test made it."""
    db = await asyncpg.connect(POSTGRES_DSN)
    try:
        existed = await db.fetchval(
            "SELECT count(*) FROM pg_namespace WHERE nspname = $1", DEFAULT_SCHEMA
        )
        yield DEFAULT_SCHEMA
        if not existed:
            await db.execute(f'DROP SCHEMA IF EXISTS "{DEFAULT_SCHEMA}" CASCADE')
    finally:
        await db.close()


@pytest.fixture
def relay_process(default_schema: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


async def test_relay_serve_with_a_dsn_serves_from_postgresql(
    http: aiohttp.ClientSession,
    relay_process: list[subprocess.Popen[bytes]],
    welcomed: Welcomed,
    space: SpaceId,
) -> None:
    port = _free_port()
    args = [tend_executable(), "relay", "serve", "--port", str(port), "--db", POSTGRES_DSN]
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=tend_env(),
    )
    relay_process.append(process)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        assert process.poll() is None, process.communicate()
        try:
            async with http.get(url + "/healthz") as response:
                if response.status == 200:
                    break
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)
    device = await welcomed(url)
    log = Log(space)
    assert await device.push(log.extend(2)) == Ack(1, 2)
    assert (await (await welcomed(url)).pull())[1] == CaughtUp({log.log: 2})
    process.terminate()
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert out.decode().splitlines()[0] == (
        f"tend relay listening on http://127.0.0.1:{port} (db {describe(POSTGRES_DSN)})"
    )
    assert b'"store":"PostgresRelayStore"' in err
