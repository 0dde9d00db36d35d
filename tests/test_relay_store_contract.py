"""One contract for every RelayStore: SQLite and PostgreSQL pass the same suite.

Every test takes the `open_store` fixture, an async factory that opens a store over the same
backing storage each time it is called (so reopening tests durability), and is run once per
entry of BACKENDS. PostgreSQL runs when the environment variable TEND_TEST_POSTGRES holds a DSN
(e.g. postgresql://postgres@127.0.0.1:5432/test) and is skipped, saying so, when it is unset;
each test gets a fresh schema there, dropped afterwards. Tests also use fresh random space ids.

Entries have real headers (the relay reads nothing else) and random bytes where the sealed
envelope would be: the relay cannot tell the difference, which is the point.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tend.core.header import GENESIS, HEADER_LEN, MAX_ENTRY, MIN_SEALED, Header, entry_hash
from tend.core.ids import LogId, Seq, SpaceId, new_log_id, new_space_id
from tend.sync.protocol import ErrorCode
from tend.sync.relay_store import (
    DEFAULT_QUOTA,
    EntryTooLarge,
    LogFork,
    MalformedEntry,
    OverQuota,
    PushRefused,
    RelayStore,
    SeqGap,
    SqliteRelayStore,
    StoreFailure,
    UnknownSpace,
)

BODY = 400  # bytes standing in for the sealed envelope
ENTRY_SIZE = HEADER_LEN + BODY
CAP = bytes(range(32))  # a capability hash
OTHER_CAP = bytes(range(1, 33))


@dataclass
class Log:
    """One device's log as the relay sees it: headers chained by hash, opaque bodies."""

    space: SpaceId
    log: LogId = field(default_factory=new_log_id)
    entries: list[bytes] = field(default_factory=list)

    def entry(self, seq: int, prev: bytes, body: int = BODY, space: bytes | None = None) -> bytes:
        header = Header(SpaceId(space or self.space), self.log, Seq(seq), 1, prev)
        return header.encode() + os.urandom(body)

    def extend(self, n: int, body: int = BODY) -> list[bytes]:
        """The next `n` entries of this log (remembered, so later calls continue the chain)."""
        out: list[bytes] = []
        for _ in range(n):
            prev = entry_hash(self.entries[-1]) if self.entries else GENESIS
            out.append(self.entry(len(self.entries) + 1, prev, body))
            self.entries.append(out[-1])
        return out

    def fork(self, seq: int) -> bytes:
        """Different bytes at a seq, correctly linked to the entry before it."""
        prev = entry_hash(self.entries[seq - 2]) if seq > 1 else GENESIS
        return self.entry(seq, prev)


Opener = Callable[..., Awaitable[RelayStore]]


POSTGRES_DSN = os.environ.get("TEND_TEST_POSTGRES", "")
NO_POSTGRES = "TEND_TEST_POSTGRES is not set (a PostgreSQL DSN): PostgreSQL stores are not tested"


@dataclass
class _SqliteBackend:
    path: Path

    async def __call__(self, quota: int = DEFAULT_QUOTA) -> RelayStore:
        return await SqliteRelayStore.open(self.path, quota=quota)

    async def cleanup(self) -> None:
        pass  # tmp_path goes with the test


@dataclass
class PostgresBackend:
    """Stores in one fresh schema of the TEND_TEST_POSTGRES database; `cleanup` drops it."""

    dsn: str
    schema: str = field(default_factory=lambda: f"tend_test_{secrets.token_hex(6)}")

    async def __call__(self, quota: int = DEFAULT_QUOTA) -> RelayStore:
        from tend.sync.relay_store_pg import PostgresRelayStore

        return await PostgresRelayStore.open(self.dsn, quota=quota, schema=self.schema)

    async def cleanup(self) -> None:
        import asyncpg

        db = await asyncpg.connect(self.dsn)
        try:
            await db.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await db.close()


def _postgres(_tmp: Path) -> PostgresBackend:
    if not POSTGRES_DSN:
        pytest.skip(NO_POSTGRES)
    return PostgresBackend(POSTGRES_DSN)


BACKENDS: dict[str, Callable[[Path], _SqliteBackend | PostgresBackend]] = {
    "sqlite": lambda tmp: _SqliteBackend(tmp / "relay.db"),
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[RelayStore] = []
    backend = BACKENDS[request.param](tmp_path)

    async def open_(quota: int = DEFAULT_QUOTA) -> RelayStore:
        store = await backend(quota=quota)
        opened.append(store)
        return store

    try:
        yield open_
    finally:
        for store in opened:
            await store.close()
        await backend.cleanup()


@pytest.fixture
async def store(open_store: Opener) -> RelayStore:
    return await open_store()


@pytest.fixture
async def space(store: RelayStore) -> SpaceId:
    space = new_space_id()
    assert await store.register(space, CAP)
    return space


async def assert_nothing_stored(store: RelayStore, space: SpaceId) -> None:
    assert await store.heads(space) == {}
    assert await store.since(space, {}, 1000) == []
    assert await store.usage(space) == 0


# --- spaces and capabilities --------------------------------------------------------------------


async def test_the_first_to_register_a_space_owns_it(store: RelayStore) -> None:
    space = new_space_id()
    assert await store.capability_hash(space) is None
    assert await store.register(space, CAP) is True
    assert await store.register(space, OTHER_CAP) is False
    assert await store.capability_hash(space) == CAP


async def test_rotate_replaces_the_capability_hash(store: RelayStore, space: SpaceId) -> None:
    await store.rotate(space, OTHER_CAP)
    assert await store.capability_hash(space) == OTHER_CAP


async def test_rotate_files_each_rekey_under_the_hash_it_replaced(
    store: RelayStore, space: SpaceId
) -> None:
    third = bytes(range(2, 34))
    await store.rotate(space, OTHER_CAP, b"keys for epoch 2")
    await store.rotate(space, third, b"keys for epoch 3")
    assert await store.rekey(space, CAP) == b"keys for epoch 2"
    assert await store.rekey(space, OTHER_CAP) == b"keys for epoch 3"
    assert await store.rekey(space, third) is None  # the current hash has no rekey
    assert await store.rekey(new_space_id(), CAP) is None


async def test_a_rotation_without_a_rekey_files_nothing(store: RelayStore, space: SpaceId) -> None:
    await store.rotate(space, OTHER_CAP)
    assert await store.rekey(space, CAP) is None
    assert await store.usage(space) == 0


async def test_rekeys_count_toward_the_quota_and_one_over_it_changes_nothing(
    open_store: Opener,
) -> None:
    store = await open_store(quota=ENTRY_SIZE + 100)
    space = new_space_id()
    await store.register(space, CAP)
    await store.put(space, Log(space).extend(1))
    await store.rotate(space, OTHER_CAP, bytes(100))
    assert await store.usage(space) == ENTRY_SIZE + 100
    with pytest.raises(OverQuota):
        await store.rotate(space, bytes(range(2, 34)), b"x")
    assert await store.capability_hash(space) == OTHER_CAP
    assert await store.rekey(space, OTHER_CAP) is None


async def test_rotating_an_unknown_space_is_refused(store: RelayStore) -> None:
    with pytest.raises(UnknownSpace) as caught:
        await store.rotate(new_space_id(), CAP)
    assert caught.value.code is ErrorCode.UNKNOWN_SPACE


async def test_putting_to_an_unknown_space_is_refused(store: RelayStore) -> None:
    space = new_space_id()
    with pytest.raises(UnknownSpace):
        await store.put(space, Log(space).extend(1))
    assert await store.capability_hash(space) is None


# --- storing and reading back -------------------------------------------------------------------


async def test_a_chain_is_stored_whole_and_read_back_in_seq_order(
    store: RelayStore, space: SpaceId
) -> None:
    log = Log(space)
    batch = log.extend(5)
    result = await store.put(space, batch)
    assert (result.stored, result.new) == (5, tuple(batch))
    assert await store.heads(space) == {log.log: 5}
    assert await store.since(space, {}, 100) == batch
    assert await store.usage(space) == 5 * ENTRY_SIZE


async def test_a_log_grows_across_puts(store: RelayStore, space: SpaceId) -> None:
    log = Log(space)
    for _ in range(3):
        await store.put(space, log.extend(2))
    assert await store.heads(space) == {log.log: 6}
    assert await store.since(space, {}, 100) == log.entries


async def test_since_orders_by_log_id_then_seq_and_pages_by_limit(
    store: RelayStore, space: SpaceId
) -> None:
    logs = [Log(space) for _ in range(3)]
    for _ in range(3):  # interleave the logs' puts: arrival order is not the paging order
        for log in logs:
            await store.put(space, log.extend(2))
    expected = [e for log in sorted(logs, key=lambda g: g.log) for e in log.entries]

    have: dict[bytes, int] = {}
    pages: list[list[bytes]] = []
    while page := await store.since(space, have, 4):
        pages.append(page)
        for raw in page:
            header = Header.decode(raw)
            have[header.log] = header.seq
    assert [len(p) for p in pages] == [4, 4, 4, 4, 2]
    assert [e for p in pages for e in p] == expected


async def test_since_skips_what_the_device_already_has(store: RelayStore, space: SpaceId) -> None:
    a, b, c = Log(space), Log(space), Log(space)
    for log in (a, b, c):
        await store.put(space, log.extend(4))
    # c is unknown to the device; the third log is one the relay lacks.
    have: dict[bytes, int] = {a.log: 4, b.log: 1, new_log_id(): 9}
    got = await store.since(space, have, 100)
    wanted = {b.log: b.entries[1:], c.log: c.entries}
    assert got == [e for log in sorted(wanted) for e in wanted[log]]
    assert await store.since(space, have, 0) == []


async def test_spaces_do_not_see_each_others_entries(store: RelayStore, space: SpaceId) -> None:
    other = new_space_id()
    await store.register(other, OTHER_CAP)
    await store.put(space, Log(space).extend(2))
    await assert_nothing_stored(store, other)


# --- idempotency and refusals -------------------------------------------------------------------


async def test_an_identical_resend_is_a_no_op_that_counts_as_stored(
    store: RelayStore, space: SpaceId
) -> None:
    log = Log(space)
    batch = log.extend(3)
    await store.put(space, batch)
    again = await store.put(space, batch)
    assert (again.stored, again.new) == (3, ())
    assert await store.since(space, {}, 100) == batch
    assert await store.usage(space) == 3 * ENTRY_SIZE


async def test_a_resend_overlapping_new_entries_stores_only_the_new_ones(
    store: RelayStore, space: SpaceId
) -> None:
    log = Log(space)
    first = log.extend(3)
    await store.put(space, first)
    more = log.extend(2)
    result = await store.put(space, first[1:] + more)
    assert (result.stored, result.new) == (4, tuple(more))
    assert await store.heads(space) == {log.log: 5}


async def test_different_bytes_at_a_stored_seq_are_a_fork(
    store: RelayStore, space: SpaceId
) -> None:
    log = Log(space)
    await store.put(space, log.extend(3))
    with pytest.raises(LogFork) as caught:
        await store.put(space, [log.fork(2)])
    assert caught.value.code is ErrorCode.FORK


async def test_an_entry_not_linked_to_the_one_before_is_a_fork(
    store: RelayStore, space: SpaceId
) -> None:
    log = Log(space)
    await store.put(space, log.extend(2))
    with pytest.raises(LogFork) as caught:
        await store.put(space, [log.entry(3, prev=entry_hash(log.entries[0]))])
    assert caught.value.code is ErrorCode.FORK


@pytest.mark.parametrize("first_seq", [2, 5])
async def test_a_gap_at_the_start_of_a_log_is_refused(
    store: RelayStore, space: SpaceId, first_seq: int
) -> None:
    log = Log(space)
    with pytest.raises(SeqGap) as caught:
        await store.put(space, [log.entry(first_seq, GENESIS)])
    assert caught.value.code is ErrorCode.GAP


async def test_a_gap_after_stored_entries_is_refused(store: RelayStore, space: SpaceId) -> None:
    log = Log(space)
    await store.put(space, log.extend(2))
    skipped = log.extend(2)[1]  # seq 4, correctly linked to a seq 3 the relay never saw
    with pytest.raises(SeqGap):
        await store.put(space, [skipped])
    assert await store.heads(space) == {log.log: 2}


async def test_an_entry_of_exactly_max_entry_bytes_is_stored(
    store: RelayStore, space: SpaceId
) -> None:
    [entry] = Log(space).extend(1, body=MAX_ENTRY - HEADER_LEN)
    assert len(entry) == MAX_ENTRY
    assert (await store.put(space, [entry])).stored == 1


async def test_an_entry_over_max_entry_bytes_is_refused_as_too_large(
    store: RelayStore, space: SpaceId
) -> None:
    [entry] = Log(space).extend(1, body=MAX_ENTRY - HEADER_LEN + 1)
    with pytest.raises(EntryTooLarge) as caught:
        await store.put(space, [entry])
    assert caught.value.code is ErrorCode.TOO_LARGE
    await assert_nothing_stored(store, space)


def _malformed(space: SpaceId, kind: str) -> bytes:
    log = Log(space)
    good = log.entry(1, GENESIS)
    if kind == "shorter than any entry":
        return log.entry(1, GENESIS, body=MIN_SEALED - 1)
    if kind == "unknown version":
        return b"\x02" + good[1:]
    if kind == "seq zero":
        return log.entry(0, GENESIS)
    assert kind == "another space"
    return log.entry(1, GENESIS, space=new_space_id())


@pytest.mark.parametrize(
    "kind", ["shorter than any entry", "unknown version", "seq zero", "another space"]
)
async def test_an_entry_whose_header_is_not_one_for_this_space_is_malformed(
    store: RelayStore, space: SpaceId, kind: str
) -> None:
    with pytest.raises(MalformedEntry) as caught:
        await store.put(space, [_malformed(space, kind)])
    assert caught.value.code is ErrorCode.MALFORMED
    await assert_nothing_stored(store, space)


async def test_a_space_may_fill_its_quota_exactly_but_not_go_over(open_store: Opener) -> None:
    store = await open_store(quota=3 * ENTRY_SIZE)
    space = new_space_id()
    await store.register(space, CAP)
    log = Log(space)
    await store.put(space, log.extend(3))
    assert await store.usage(space) == 3 * ENTRY_SIZE
    with pytest.raises(OverQuota) as caught:
        await store.put(space, log.extend(1))
    assert caught.value.code is ErrorCode.QUOTA
    assert await store.heads(space) == {log.log: 3}


async def test_an_identical_resend_is_accepted_even_when_the_space_is_full(
    open_store: Opener,
) -> None:
    store = await open_store(quota=2 * ENTRY_SIZE)
    space = new_space_id()
    await store.register(space, CAP)
    batch = Log(space).extend(2)
    await store.put(space, batch)
    assert (await store.put(space, batch)).stored == 2


async def test_the_quota_is_counted_per_space(open_store: Opener) -> None:
    store = await open_store(quota=2 * ENTRY_SIZE)
    full, other = new_space_id(), new_space_id()
    for space in (full, other):
        await store.register(space, CAP)
    await store.put(full, Log(full).extend(2))
    assert (await store.put(other, Log(other).extend(2))).stored == 2


def _bad_batch(space: SpaceId, kind: str) -> list[bytes]:
    """A batch of good entries on two logs with one bad entry in the middle."""
    a, b = Log(space), Log(space)
    good = a.extend(2) + b.extend(2)
    bad = {
        "gap": a.entry(9, GENESIS),
        "fork": a.fork(1),
        "too large": Log(space).entry(1, GENESIS, body=MAX_ENTRY),
        "malformed": b"\x00" * 200,
        "over quota": Log(space).entry(1, GENESIS, body=8000),
    }[kind]
    return [*good[:3], bad, good[3]]


@pytest.mark.parametrize("kind", ["gap", "fork", "too large", "malformed", "over quota"])
async def test_a_batch_with_one_bad_entry_stores_none_of_it(open_store: Opener, kind: str) -> None:
    store = await open_store(quota=8 * ENTRY_SIZE)
    space = new_space_id()
    await store.register(space, CAP)
    with pytest.raises(PushRefused):
        await store.put(space, _bad_batch(space, kind))
    await assert_nothing_stored(store, space)


async def test_a_refused_batch_leaves_earlier_entries_and_later_puts_working(
    store: RelayStore, space: SpaceId
) -> None:
    log = Log(space)
    await store.put(space, log.extend(2))
    with pytest.raises(SeqGap):
        await store.put(space, [log.entry(7, GENESIS)])
    await store.put(space, log.extend(1))
    assert await store.since(space, {}, 100) == log.entries


# --- durability ---------------------------------------------------------------------------------


async def test_everything_survives_close_and_reopen(open_store: Opener) -> None:
    store = await open_store()
    space = new_space_id()
    await store.register(space, CAP)
    await store.rotate(space, OTHER_CAP, b"sealed keys")
    a, b = Log(space), Log(space)
    await store.put(space, a.extend(3) + b.extend(2))
    await store.close()

    reopened = await open_store()
    assert await reopened.capability_hash(space) == OTHER_CAP
    assert await reopened.rekey(space, CAP) == b"sealed keys"
    assert await reopened.heads(space) == {a.log: 3, b.log: 2}
    assert await reopened.usage(space) == 5 * ENTRY_SIZE + len(b"sealed keys")
    expected = [e for log in sorted((a, b), key=lambda g: g.log) for e in log.entries]
    assert await reopened.since(space, {}, 100) == expected
    await reopened.put(space, a.extend(1))  # the chain continues from the stored head
    assert await reopened.heads(space) == {a.log: 4, b.log: 2}


async def test_a_closed_store_refuses_calls_with_store_failure(open_store: Opener) -> None:
    store = await open_store()
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreFailure) as caught:
        await store.heads(new_space_id())
    assert caught.value.code is ErrorCode.INTERNAL


# --- SQLite only --------------------------------------------------------------------------------


async def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SqliteRelayStore.open(path)
    space = new_space_id()
    await store.register(space, CAP)
    await store.put(space, Log(space).extend(1))
    try:
        for file in tmp_path.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
    finally:
        await store.close()


def test_the_sqlite_relay_and_the_device_commands_load_no_asyncpg() -> None:
    script = (
        "import sys, tend.cli.main, tend.sync.relay, tend.sync.client\n"
        "print(sorted(m for m in sys.modules if m.startswith(('asyncpg', 'tend.sync.relay_'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "['tend.sync.relay_store']"


async def test_sqlite_errors_surface_as_store_failure(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    path.write_bytes(b"this is not a database, not at all" * 100)
    with pytest.raises(StoreFailure) as caught:
        await SqliteRelayStore.open(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
