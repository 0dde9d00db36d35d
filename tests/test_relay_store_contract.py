"""One contract for every RelayStore: SQLite and PostgreSQL pass the same suite.

Every test takes the `open_store` fixture, an async factory that opens a store over the same
backing storage each time it is called (so reopening tests durability), and is run once per
entry of BACKENDS. PostgreSQL runs when the environment variable TEND_TEST_POSTGRES holds a DSN
(e.g. postgresql://postgres@127.0.0.1:5432/test) and is skipped, saying so, when it is unset;
each test gets a fresh schema there, dropped afterwards. Tests also use fresh random space ids.

Entries are real v2 entries (tests/relay_fixtures.py): sealed, signed by their log's key, the
key in each log's first entry. The store checks headers and signatures and opens nothing. To
stand for what an older relay let in, a backend can also write entries straight into its
tables (`Backend.insert`), past every check.

Invitations and escrows are opaque bytes to the store; their tests pass `now` explicitly, so
expiry is tested without waiting, and open stores with small caps to show each cap holds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from tend.core.crypto import keys
from tend.core.ids import LogId, Seq, SpaceId, new_space_id
from tend.core.log import forgetting
from tend.core.log.header import (
    GENESIS,
    MAX_ENTRY,
    MIN_ENTRY,
    Header,
    entry_hash,
)
from tend.sync.protocol import ErrorCode, Vector
from tend.sync.relay import store as store_module
from tend.sync.relay.limits import (
    DAY,
    AdmissionRefused,
    Collect,
    Creation,
    CreationLimited,
    address_key,
    code_hash,
    code_id,
    new_code,
)
from tend.sync.relay.store import (
    DEFAULT_QUOTA,
    ROW_OVERHEAD,
    WRITER_TAG_BITS,
    BadSignature,
    BudgetReached,
    CapReached,
    Caps,
    ForgetRefused,
    LogFork,
    LogRemoved,
    LogState,
    MalformedEntry,
    MalformedRotation,
    OverQuota,
    OversizedEntry,
    PushRefused,
    RelayFull,
    RelayStore,
    SeqGap,
    SignedRecord,
    SqliteRelayStore,
    StaleCapability,
    StoreFailure,
    TooManyLogs,
    UnknownSpace,
    Writer,
    writer_tag,
)
from tests.relay_fixtures import (
    ENTRY_SIZE,
    EPOCH,
    Log,
    claimed_first_entry,
    rotation,
    sign_entry,
)

CAP = bytes(range(32))  # a capability hash
DEFAULT_CAPS = Caps()
OTHER_CAP = bytes(range(1, 33))
THIRD_CAP = bytes(range(2, 34))


Opener = Callable[..., Awaitable[RelayStore]]


POSTGRES_DSN = os.environ.get("TEND_TEST_POSTGRES", "")
NO_POSTGRES = "TEND_TEST_POSTGRES is not set (a PostgreSQL DSN): PostgreSQL stores are not tested"


class Backend(Protocol):
    async def __call__(
        self, quota: int = DEFAULT_QUOTA, caps: Caps = DEFAULT_CAPS
    ) -> RelayStore: ...

    async def insert(self, space: SpaceId, entries: Sequence[bytes]) -> None:
        """Write entries at their positions, raising heads and usage, past every check."""

    async def forget_version(self) -> None:
        """Make the store say nothing of its layout, as one made before it said so."""

    async def cleanup(self) -> None: ...


@dataclass
class SqliteBackend:
    path: Path

    async def __call__(self, quota: int = DEFAULT_QUOTA, caps: Caps = DEFAULT_CAPS) -> RelayStore:
        return await SqliteRelayStore.open(
            self.path,
            quota=quota,
            invitation_cap=caps.invitations,
            escrow_cap=caps.escrows,
            storage_cap=caps.storage,
        )

    async def insert(self, space: SpaceId, entries: Sequence[bytes]) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        try:
            db.execute("BEGIN IMMEDIATE")
            for raw in entries:
                h = Header.decode(raw)
                db.execute(
                    "INSERT INTO entries(space, log, seq, entry) VALUES (?, ?, ?, ?)",
                    (space, h.log, h.seq, raw),
                )
                db.execute(
                    "INSERT INTO heads(space, log, seq, hash) VALUES (?, ?, ?, ?) ON CONFLICT"
                    "(space, log) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    (space, h.log, h.seq, entry_hash(raw)),
                )
                db.execute("UPDATE spaces SET usage = usage + ? WHERE space = ?", (len(raw), space))
            db.execute("COMMIT")
        finally:
            db.close()

    async def forget_version(self) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("PRAGMA user_version = 0")

    async def cleanup(self) -> None:
        pass  # tmp_path goes with the test


@dataclass
class PostgresBackend:
    """Stores in one fresh schema of the TEND_TEST_POSTGRES database; `cleanup` drops it."""

    dsn: str
    schema: str = field(default_factory=lambda: f"tend_test_{secrets.token_hex(6)}")

    async def __call__(self, quota: int = DEFAULT_QUOTA, caps: Caps = DEFAULT_CAPS) -> RelayStore:
        from tend.sync.relay.store_pg import PostgresRelayStore

        return await PostgresRelayStore.open(
            self.dsn,
            quota=quota,
            schema=self.schema,
            invitation_cap=caps.invitations,
            escrow_cap=caps.escrows,
            storage_cap=caps.storage,
        )

    async def insert(self, space: SpaceId, entries: Sequence[bytes]) -> None:
        import asyncpg

        s = f'"{self.schema}"'
        db = await asyncpg.connect(self.dsn)
        try:
            async with db.transaction():
                for raw in entries:
                    h = Header.decode(raw)
                    await db.execute(
                        f"INSERT INTO {s}.entries(space, log, seq, entry) VALUES ($1, $2, $3, $4)",
                        space,
                        h.log,
                        h.seq,
                        raw,
                    )
                    await db.execute(
                        f"INSERT INTO {s}.heads(space, log, seq, hash) VALUES ($1, $2, $3, $4) "
                        "ON CONFLICT (space, log) DO UPDATE SET seq = excluded.seq, "
                        "hash = excluded.hash",
                        space,
                        h.log,
                        h.seq,
                        entry_hash(raw),
                    )
                    await db.execute(
                        f"UPDATE {s}.spaces SET usage = usage + $2 WHERE space = $1",
                        space,
                        len(raw),
                    )
        finally:
            await db.close()

    async def forget_version(self) -> None:
        import asyncpg

        db = await asyncpg.connect(self.dsn)
        try:
            await db.execute(f'DROP TABLE "{self.schema}".store_version')
        finally:
            await db.close()

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


BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "sqlite": lambda tmp: SqliteBackend(tmp / "relay.db"),
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
async def open_store(backend: Backend) -> AsyncIterator[Opener]:
    opened: list[RelayStore] = []

    async def open_(quota: int = DEFAULT_QUOTA, caps: Caps = DEFAULT_CAPS) -> RelayStore:
        store = await backend(quota=quota, caps=caps)
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


@pytest.fixture
async def member(store: RelayStore, space: SpaceId) -> Log:
    """A device whose log the store holds (one entry), so it may sign rotations."""
    log = Log(space)
    await store.put(space, log.extend(1))
    return log


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


async def test_rotate_replaces_the_capability_hash_and_returns_the_record(
    store: RelayStore, space: SpaceId, member: Log
) -> None:
    record, signature = rotation(member, CAP, OTHER_CAP)
    parsed = await store.rotate(space, record, signature)
    assert (parsed.previous, parsed.capability, parsed.signer) == (CAP, OTHER_CAP, member.log)
    assert await store.capability_hash(space) == OTHER_CAP


async def test_rotate_files_each_signed_record_under_the_hash_it_replaced(
    store: RelayStore, space: SpaceId, member: Log
) -> None:
    first = rotation(member, CAP, OTHER_CAP)
    second = rotation(member, OTHER_CAP, THIRD_CAP, epoch=3)
    await store.rotate(space, *first)
    await store.rotate(space, *second)
    assert await store.rekey(space, CAP) == SignedRecord(*first)
    assert await store.rekey(space, OTHER_CAP) == SignedRecord(*second)
    assert await store.rekey(space, THIRD_CAP) is None  # the current hash has no record
    assert await store.rekey(new_space_id(), CAP) is None


async def test_rotation_records_count_toward_the_quota_and_one_over_it_changes_nothing(
    open_store: Opener,
) -> None:
    space = new_space_id()
    member = Log(space)
    first = rotation(member, CAP, OTHER_CAP)
    store = await open_store(quota=ENTRY_SIZE + len(first[0]) + len(first[1]))
    await store.register(space, CAP)
    await store.put(space, member.extend(1))
    await store.rotate(space, *first)
    assert await store.usage(space) == ENTRY_SIZE + len(first[0]) + 64
    with pytest.raises(OverQuota):
        await store.rotate(space, *rotation(member, OTHER_CAP, THIRD_CAP))
    assert await store.capability_hash(space) == OTHER_CAP
    assert await store.rekey(space, OTHER_CAP) is None


async def test_a_push_opening_more_logs_than_a_space_may_hold_is_refused_whole(
    store: RelayStore, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member opening logs by the thousand made every later Welcome too large to decode, and
    every catch-up walk them all: a space holds MAX_LOGS_PER_SPACE logs (3 here)."""
    monkeypatch.setattr(store_module, "MAX_LOGS_PER_SPACE", 3)
    logs = [Log(space) for _ in range(4)]
    await store.put(space, logs[0].extend(1) + logs[1].extend(1))
    with pytest.raises(TooManyLogs) as caught:
        await store.put(space, logs[2].extend(1) + logs[3].extend(1))  # room for one, not two
    assert caught.value.code == ErrorCode.QUOTA
    assert len(await store.heads(space)) == 2  # nothing of the batch was stored
    await store.put(space, logs[2].entries)
    with pytest.raises(TooManyLogs):
        await store.put(space, logs[3].entries)
    result = await store.put(space, logs[0].extend(2))  # the logs it holds still grow
    assert len(result.new) == 2
    assert len(await store.heads(space)) == 3


async def test_rotating_an_unknown_space_is_refused(store: RelayStore) -> None:
    space = new_space_id()
    with pytest.raises(UnknownSpace) as caught:
        await store.rotate(space, *rotation(Log(space), CAP, OTHER_CAP))
    assert caught.value.code is ErrorCode.UNKNOWN_SPACE


async def test_putting_to_an_unknown_space_is_refused(store: RelayStore) -> None:
    space = new_space_id()
    with pytest.raises(UnknownSpace):
        await store.put(space, Log(space).extend(1))
    assert await store.capability_hash(space) is None


# --- who may rotate -----------------------------------------------------------------------------


def _refused_rotation(space: SpaceId, member: Log, kind: str) -> tuple[bytes, bytes]:
    outsider = Log(space)  # never stored an entry: no log of the space
    record, signature = rotation(member, CAP, OTHER_CAP)
    if kind == "signer not a log of the space":
        return rotation(outsider, CAP, OTHER_CAP)
    if kind == "a member's name, the signer's key":
        return rotation(member, CAP, OTHER_CAP, seed=outsider.seed)
    if kind == "bad signature":
        return record, bytes([signature[0] ^ 1]) + signature[1:]
    if kind == "signature of another record":
        return record, rotation(member, CAP, THIRD_CAP)[1]
    if kind == "wrong previous":
        return rotation(member, THIRD_CAP, OTHER_CAP)
    if kind == "another space":
        return rotation(member, CAP, OTHER_CAP, space=new_space_id())
    if kind == "no change":
        return rotation(member, CAP, CAP)
    assert kind == "not a record"
    return b"\x81\xa1s\xc4\x10" + bytes(16), signature


ROTATION_REFUSALS = {
    "signer not a log of the space": ErrorCode.BAD_SIGNATURE,
    "a member's name, the signer's key": ErrorCode.BAD_SIGNATURE,
    "bad signature": ErrorCode.BAD_SIGNATURE,
    "signature of another record": ErrorCode.BAD_SIGNATURE,
    "wrong previous": ErrorCode.UNAUTHORIZED,
    "another space": ErrorCode.MALFORMED,
    "no change": ErrorCode.MALFORMED,
    "not a record": ErrorCode.MALFORMED,
}


@pytest.mark.parametrize("kind", sorted(ROTATION_REFUSALS))
async def test_a_rotation_not_signed_by_a_current_member_from_the_current_hash_changes_nothing(
    store: RelayStore, space: SpaceId, member: Log, kind: str
) -> None:
    usage = await store.usage(space)
    with pytest.raises(PushRefused) as caught:
        await store.rotate(space, *_refused_rotation(space, member, kind))
    assert caught.value.code is ROTATION_REFUSALS[kind]
    assert await store.capability_hash(space) == CAP
    assert await store.rekey(space, CAP) is None
    assert await store.usage(space) == usage
    assert await store.put(space, member.extend(1))  # nobody was removed


async def test_a_second_rotation_from_a_replaced_hash_is_refused(
    store: RelayStore, space: SpaceId, member: Log
) -> None:
    first = rotation(member, CAP, OTHER_CAP)
    await store.rotate(space, *first)
    with pytest.raises(StaleCapability) as caught:
        await store.rotate(space, *rotation(member, CAP, THIRD_CAP))
    assert caught.value.code is ErrorCode.UNAUTHORIZED
    assert await store.capability_hash(space) == OTHER_CAP
    assert await store.rekey(space, CAP) == SignedRecord(*first)


async def test_a_rotation_back_to_a_replaced_capability_is_refused(
    store: RelayStore, space: SpaceId, member: Log
) -> None:
    await store.rotate(space, *rotation(member, CAP, OTHER_CAP))
    with pytest.raises(MalformedRotation):
        await store.rotate(space, *rotation(member, OTHER_CAP, CAP))
    assert await store.capability_hash(space) == OTHER_CAP


async def test_a_rotation_marks_the_logs_it_removes_and_they_cannot_grow(
    store: RelayStore, space: SpaceId, member: Log
) -> None:
    gone, never_pushed = Log(space), Log(space)
    stored = gone.extend(2)
    await store.put(space, stored)
    removed = [gone.log, never_pushed.log]
    await store.rotate(space, *rotation(member, CAP, OTHER_CAP, removed=removed))
    assert await store.log_state(space, gone.log) == LogState(
        gone.key, removed=True, head=(Seq(2), entry_hash(stored[-1]))
    )
    assert not (await store.log_state(space, member.log)).removed
    with pytest.raises(LogRemoved) as caught:
        await store.put(space, gone.extend(1))
    assert caught.value.code is ErrorCode.REMOVED
    assert (await store.put(space, stored)).stored == 2  # re-sends stay no-ops
    assert await store.heads(space) == {member.log: 1, gone.log: 2}
    assert (await store.put(space, member.extend(1))).new  # the others still grow
    # A log id the relay never saw cannot be burnt in advance: its device may still join.
    assert not (await store.log_state(space, never_pushed.log)).removed
    assert (await store.put(space, never_pushed.extend(1))).new


async def test_a_later_rotation_that_keeps_a_log_makes_it_a_member_again(
    store: RelayStore, space: SpaceId, member: Log
) -> None:
    # The relay cannot check who removed whom: a removal is never final there.
    other = Log(space)
    await store.put(space, other.extend(1))
    await store.rotate(space, *rotation(member, CAP, OTHER_CAP, removed=[other.log]))
    assert (await store.log_state(space, other.log)).removed
    await store.rotate(space, *rotation(member, OTHER_CAP, THIRD_CAP, keep=[other.log]))
    assert not (await store.log_state(space, other.log)).removed
    assert (await store.put(space, other.extend(1))).new


async def test_a_removed_log_cannot_rotate(store: RelayStore, space: SpaceId, member: Log) -> None:
    gone = Log(space)
    await store.put(space, gone.extend(1))
    await store.rotate(space, *rotation(member, CAP, OTHER_CAP, removed=[gone.log]))
    with pytest.raises(LogRemoved) as caught:
        await store.rotate(space, *rotation(gone, OTHER_CAP, THIRD_CAP))
    assert caught.value.code is ErrorCode.REMOVED
    assert await store.capability_hash(space) == OTHER_CAP


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


async def test_the_store_keeps_each_logs_key_from_its_first_entry(
    store: RelayStore, space: SpaceId
) -> None:
    log = Log(space)
    assert await store.log_state(space, log.log) == LogState()
    await store.put(space, log.extend(2))
    assert await store.log_state(space, log.log) == LogState(
        log.key, removed=False, head=(Seq(2), entry_hash(log.entries[-1]))
    )


async def test_since_orders_by_log_id_then_seq_and_pages_by_limit(
    store: RelayStore, space: SpaceId
) -> None:
    logs = [Log(space) for _ in range(3)]
    for _ in range(3):  # interleave the logs' puts: arrival order is not the paging order
        for log in logs:
            await store.put(space, log.extend(2))
    expected = [e for log in sorted(logs, key=lambda g: g.log) for e in log.entries]

    have: Vector = {}
    pages: list[list[bytes]] = []
    while page := await store.since(space, have, 4):
        pages.append(page)
        for raw in page:
            header = Header.decode(raw)
            have[header.log] = header.seq
    assert [len(p) for p in pages] == [4, 4, 4, 4, 2]
    assert [e for p in pages for e in p] == expected


async def test_since_ends_a_page_with_the_entry_that_reaches_its_bytes(
    store: RelayStore, space: SpaceId
) -> None:
    """A catch-up page of 256 of the largest entries was 16 MiB, held by the relay for each
    device that did not read it: a page now ends once it has so many bytes."""
    logs = [Log(space) for _ in range(2)]
    for log in logs:
        await store.put(space, log.extend(3, size=ENTRY_SIZE))
    expected = [e for log in sorted(logs, key=lambda g: g.log) for e in log.entries]
    assert await store.since(space, {}, 100, max_bytes=4 * ENTRY_SIZE) == expected[:4]
    assert await store.since(space, {}, 100, max_bytes=2 * ENTRY_SIZE + 1) == expected[:3]
    assert await store.since(space, {}, 100, max_bytes=1) == expected[:1]  # never empty
    assert await store.since(space, {}, 2, max_bytes=10 * ENTRY_SIZE) == expected[:2]
    assert await store.since(space, {}, 100, max_bytes=10 * ENTRY_SIZE) == expected
    have: Vector = {}
    pages: list[list[bytes]] = []
    while page := await store.since(space, have, 100, max_bytes=ENTRY_SIZE + 1):
        pages.append(page)
        for raw in page:
            have[Header.decode(raw).log] = Header.decode(raw).seq
    assert [e for p in pages for e in p] == expected and {len(p) for p in pages} == {2}


async def test_since_skips_what_the_device_already_has(store: RelayStore, space: SpaceId) -> None:
    a, b, c = Log(space), Log(space), Log(space)
    for log in (a, b, c):
        await store.put(space, log.extend(4))
    # c is unknown to the device; the third log is one the relay lacks.
    have: Vector = {a.log: 4, b.log: 1, LogId(os.urandom(16)): 9}
    got = await store.since(space, have, 100)
    wanted = {b.log: b.entries[1:], c.log: c.entries}
    assert got == [e for log in sorted(wanted) for e in wanted[log]]
    assert await store.since(space, have, 0) == []


async def test_spaces_do_not_see_each_others_entries(store: RelayStore, space: SpaceId) -> None:
    other = new_space_id()
    await store.register(other, OTHER_CAP)
    await store.put(space, Log(space).extend(2))
    await assert_nothing_stored(store, other)


# --- write authority ----------------------------------------------------------------------------


async def test_an_entry_in_another_devices_log_signed_with_another_key_is_refused(
    store: RelayStore, space: SpaceId
) -> None:
    owner, attacker = Log(space), Log(space)
    await store.put(space, owner.extend(2))
    forged = owner.forged(attacker.seed)  # seq 3, linked to seq 2, the attacker's signature
    with pytest.raises(BadSignature) as caught:
        await store.put(space, [forged])
    assert caught.value.code is ErrorCode.BAD_SIGNATURE
    assert await store.heads(space) == {owner.log: 2}
    assert await store.since(space, {}, 100) == owner.entries
    assert await store.usage(space) == 2 * ENTRY_SIZE
    assert (await store.put(space, owner.extend(1))).new  # the owner's seq 3 goes in


async def test_a_log_opened_with_someone_elses_key_is_refused(
    store: RelayStore, space: SpaceId
) -> None:
    victim, attacker = Log(space), Log(space)
    # The victim's key in the header (so the log id is right), the attacker's signature.
    with pytest.raises(BadSignature):
        await store.put(space, [victim.entry(1, GENESIS, seed=attacker.seed)])
    await assert_nothing_stored(store, space)
    assert await store.log_state(space, victim.log) == LogState()


async def test_a_run_is_refused_when_its_last_entry_is_not_the_logs(
    store: RelayStore, space: SpaceId
) -> None:
    owner, other = Log(space), Log(space)
    batch = owner.extend(2) + other.extend(2) + [owner.forged(other.seed)]
    with pytest.raises(BadSignature):
        await store.put(space, batch)
    await assert_nothing_stored(store, space)


@pytest.mark.parametrize("holder", ["nobody", "the owner"])
async def test_a_first_entry_claiming_a_log_id_its_key_does_not_own_is_refused(
    store: RelayStore, space: SpaceId, holder: str
) -> None:
    victim, attacker = Log(space), Log(space)
    if holder == "the owner":
        await store.put(space, victim.extend(1))
    for log_id in (victim.log, os.urandom(16)):
        claim = claimed_first_entry(space, log_id, attacker.key, attacker.seed)
        with pytest.raises(MalformedEntry) as caught:
            await store.put(space, [claim])
        assert caught.value.code is ErrorCode.MALFORMED
    assert await store.since(space, {}, 100) == victim.entries


async def test_a_first_entry_with_the_owners_key_but_other_bytes_is_a_fork(
    store: RelayStore, space: SpaceId
) -> None:
    victim, attacker = Log(space), Log(space)
    await store.put(space, victim.extend(1))
    with pytest.raises(LogFork):
        await store.put(space, [victim.entry(1, GENESIS, seed=attacker.seed)])


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


async def test_a_batch_repeating_an_entry_stores_it_once(store: RelayStore, space: SpaceId) -> None:
    log = Log(space)
    [one, two] = log.extend(2)
    result = await store.put(space, [one, one, two, two])
    assert (result.stored, result.new) == (4, (one, two))
    assert await store.usage(space) == 2 * ENTRY_SIZE


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
    [entry] = Log(space).extend(1, size=MAX_ENTRY)
    assert len(entry) == MAX_ENTRY
    assert (await store.put(space, [entry])).stored == 1


async def test_an_entry_over_max_entry_bytes_is_refused_as_too_large(
    store: RelayStore, space: SpaceId
) -> None:
    [entry] = Log(space).extend(1, size=MAX_ENTRY + 1)
    with pytest.raises(OversizedEntry) as caught:
        await store.put(space, [entry])
    assert caught.value.code is ErrorCode.TOO_LARGE
    await assert_nothing_stored(store, space)


def _malformed(space: SpaceId, kind: str) -> bytes:
    log = Log(space)
    if kind == "shorter than any entry":
        return log.entry(1, GENESIS, size=MIN_ENTRY - 1)
    if kind == "unknown version":
        return b"\x01" + log.entry(1, GENESIS)[1:]
    if kind == "seq zero":
        return sign_entry(Header(space, log.log, Seq(0), EPOCH, log.key), log.seed, b"", size=400)
    if kind == "epoch zero":
        return sign_entry(Header(space, log.log, Seq(1), 0, log.key), log.seed, b"", size=400)
    if kind == "log id not its key's":
        return claimed_first_entry(space, os.urandom(16), log.key, log.seed)
    assert kind == "another space"
    return log.entry(1, GENESIS, space=new_space_id())


@pytest.mark.parametrize(
    "kind",
    [
        "shorter than any entry",
        "unknown version",
        "seq zero",
        "epoch zero",
        "log id not its key's",
        "another space",
    ],
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
        "too large": Log(space).entry(1, GENESIS, size=MAX_ENTRY + 1),
        "malformed": b"\x00" * 200,
        "over quota": Log(space).entry(1, GENESIS, size=8000),
        "bad signature": Log(space).entry(1, GENESIS, seed=keys.new_signing_seed()),
    }[kind]
    return [*good[:3], bad, good[3]]


@pytest.mark.parametrize(
    "kind", ["gap", "fork", "too large", "malformed", "over quota", "bad signature"]
)
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


# --- concurrent puts ----------------------------------------------------------------------------
# A store may apply puts that arrive together in one commit (SQLite groups them): each must
# still succeed or be refused on its own, as if it had come alone.

REFUSALS: dict[str, type[PushRefused]] = {
    "gap": SeqGap,
    "fork": LogFork,
    "bad signature": BadSignature,
    "over quota": OverQuota,
}


async def test_a_refused_push_among_concurrent_ones_is_refused_alone(open_store: Opener) -> None:
    store = await open_store(quota=8 * ENTRY_SIZE)
    spaces = [new_space_id() for _ in range(3 * len(REFUSALS))]
    for space in spaces:
        await store.register(space, CAP)
    bad = {space: kind for space, kind in zip(spaces[1::3], sorted(REFUSALS), strict=True)}
    logs = {space: Log(space) for space in spaces}
    for log in logs.values():
        await store.put(log.space, log.extend(1))
    batches = [
        _bad_batch(space, bad[space]) if space in bad else log.extend(2)
        for space, log in logs.items()
    ]
    results = await asyncio.gather(
        *(store.put(space, batch) for space, batch in zip(spaces, batches, strict=True)),
        return_exceptions=True,
    )
    for space, result in zip(spaces, results, strict=True):
        if space in bad:
            assert type(result) is REFUSALS[bad[space]], (bad[space], result)
            assert await store.since(space, {}, 100) == logs[space].entries[:1]
        else:
            assert not isinstance(result, BaseException), result
            assert await store.since(space, {}, 100) == logs[space].entries
            assert await store.usage(space) == 3 * ENTRY_SIZE


async def test_many_concurrent_puts_to_one_space_and_to_many_land_once_and_in_order(
    store: RelayStore,
) -> None:
    one, many = new_space_id(), [new_space_id() for _ in range(40)]
    for space in (one, *many):
        await store.register(space, CAP)
    logs = [Log(one) for _ in range(40)] + [Log(space) for space in many]
    batches = [(log, log.extend(3)) for log in logs]
    results = await asyncio.gather(*(store.put(log.space, b) for log, b in batches))
    assert [len(r.new) for r in results] == [3] * len(batches)
    held = await store.since(one, {}, 1000)
    assert sorted(held) == sorted(raw for log in logs[:40] for raw in log.entries)
    assert await store.heads(one) == {log.log: 3 for log in logs[:40]}
    for log in logs[40:]:
        assert await store.since(log.space, {}, 100) == log.entries
    resent = await asyncio.gather(*(store.put(log.space, b) for log, b in batches))
    assert {r.new for r in resent} == {()}  # a second time, nothing is added


# --- repair -------------------------------------------------------------------------------------


async def repair(store: RelayStore, log: Log, from_seq: int, **kwargs: bytes) -> int:
    frame = log.repair(0, from_seq, **kwargs)
    return await store.repair(
        log.space, LogId(frame.log), frame.key, frame.from_seq, frame.signature
    )


async def test_junk_at_the_tail_of_a_log_is_dropped_by_its_owners_repair(
    store: RelayStore, space: SpaceId, backend: Backend
) -> None:
    log = Log(space)
    await store.put(space, log.extend(3))
    await backend.insert(space, log.junk(2))
    with pytest.raises(LogFork):  # the owner's own seq 4 collides with the junk
        await store.put(space, log.extend(1))
    assert await repair(store, log, 4) == 2
    assert await store.heads(space) == {log.log: 3}
    assert await store.usage(space) == 3 * ENTRY_SIZE
    assert await store.since(space, {}, 100) == log.entries[:3]
    assert (await store.put(space, log.entries[3:])).new == tuple(log.entries[3:])
    assert await store.since(space, {}, 100) == log.entries


async def test_a_repair_from_seq_1_drops_a_whole_log_of_junk(
    store: RelayStore, space: SpaceId, backend: Backend
) -> None:
    log, other = Log(space), Log(space)
    await store.put(space, other.extend(1))
    await backend.insert(space, log.junk(2))  # seq 1 carries the log's key, not its signature
    assert await repair(store, log, 1) == 2
    assert await store.heads(space) == {other.log: 1}
    assert await store.usage(space) == ENTRY_SIZE
    assert (await store.put(space, log.extend(2))).new == tuple(log.entries)


async def test_a_signed_entry_not_linked_to_the_one_before_counts_as_junk(
    store: RelayStore, space: SpaceId, backend: Backend
) -> None:
    log = Log(space)
    [first] = log.extend(1)
    await backend.insert(space, [first, log.entry(2, os.urandom(32))])
    with pytest.raises(LogFork):
        await repair(store, log, 1)  # seq 1 is the log's own
    assert await repair(store, log, 2) == 1
    assert await store.since(space, {}, 100) == [first]
    assert (await store.put(space, log.extend(1))).stored == 1


async def test_a_repair_never_drops_an_honest_entry(store: RelayStore, space: SpaceId) -> None:
    log = Log(space)
    await store.put(space, log.extend(3))
    for from_seq in (1, 2, 3):
        with pytest.raises(LogFork) as caught:
            await repair(store, log, from_seq)
        assert caught.value.code is ErrorCode.FORK
    with pytest.raises(SeqGap) as gap:
        await repair(store, log, 4)
    assert gap.value.code is ErrorCode.GAP
    assert await store.since(space, {}, 100) == log.entries
    assert await store.usage(space) == 3 * ENTRY_SIZE


async def test_only_a_logs_own_key_can_repair_it(
    store: RelayStore, space: SpaceId, backend: Backend
) -> None:
    log, attacker = Log(space), Log(space)
    await store.put(space, log.extend(2))
    await backend.insert(space, log.junk(1))
    attempts = [
        {"seed": attacker.seed},  # the attacker's key, naming the victim's log
        {"seed": attacker.seed, "log": attacker.log},  # the attacker's own log, not this one
    ]
    for kwargs in attempts:
        frame = log.repair(0, 3, **kwargs)
        with pytest.raises(BadSignature) as caught:
            await store.repair(space, log.log, frame.key, 3, frame.signature)
        assert caught.value.code is ErrorCode.BAD_SIGNATURE
    signed_for_2 = log.repair(0, 2).signature  # signed for another seq, or another space
    other_space = Log(new_space_id(), seed=log.seed).repair(0, 3).signature
    for signature in (signed_for_2, other_space):
        with pytest.raises(BadSignature):
            await store.repair(space, log.log, log.key, 3, signature)
    assert await store.heads(space) == {log.log: 3}  # the junk is still there
    assert await repair(store, log, 3) == 1


async def test_a_repair_in_an_unknown_space_is_refused(store: RelayStore) -> None:
    log = Log(new_space_id())
    with pytest.raises(UnknownSpace):
        await repair(store, log, 1)


# --- durability ---------------------------------------------------------------------------------


async def test_everything_survives_close_and_reopen(open_store: Opener) -> None:
    store = await open_store()
    space = new_space_id()
    await store.register(space, CAP)
    a, b = Log(space), Log(space)
    await store.put(space, a.extend(3) + b.extend(2))
    signed = rotation(a, CAP, OTHER_CAP, removed=[b.log])
    await store.rotate(space, *signed)
    await store.close()

    reopened = await open_store()
    assert await reopened.capability_hash(space) == OTHER_CAP
    assert await reopened.rekey(space, CAP) == SignedRecord(*signed)
    assert await reopened.heads(space) == {a.log: 3, b.log: 2}
    assert await reopened.usage(space) == 5 * ENTRY_SIZE + len(signed[0]) + len(signed[1])
    expected = [e for log in sorted((a, b), key=lambda g: g.log) for e in log.entries]
    assert await reopened.since(space, {}, 100) == expected
    await reopened.put(space, a.extend(1))  # the chain continues from the stored head
    assert await reopened.heads(space) == {a.log: 4, b.log: 2}
    assert await reopened.log_state(space, b.log) == LogState(
        b.key, removed=True, head=(Seq(2), entry_hash(b.entries[-1]))
    )
    with pytest.raises(LogRemoved):
        await reopened.put(space, b.extend(1))


async def test_a_closed_store_refuses_calls_with_store_failure(open_store: Opener) -> None:
    store = await open_store()
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreFailure) as caught:
        await store.heads(new_space_id())
    assert caught.value.code is ErrorCode.INTERNAL


# --- invitations --------------------------------------------------------------------------------

NOW = 1_750_000_000.0  # seconds, as the relay's wall clock gives them


def _box() -> bytes:
    return os.urandom(16)


async def test_an_invitation_is_stored_once_and_taken_once(store: RelayStore) -> None:
    box = _box()
    assert await store.put_invitation(box, b"sealed bundle", NOW + DAY, NOW)
    assert not await store.put_invitation(box, b"a second message", NOW + DAY, NOW + 1)
    assert await store.take_invitation(box, NOW + 2) == b"sealed bundle"
    assert await store.take_invitation(box, NOW + 3) is None


async def test_an_invitation_is_answerable_while_it_waits_and_once_taken_until_it_expires(
    store: RelayStore,
) -> None:
    """What an invite-only relay checks an answer against: the invitation it answers, which is
    not itself an answer (else answers would chain, each one answerable)."""
    box, answer = _box(), _box()
    assert not await store.invitation_answerable(box, NOW)
    assert await store.put_invitation(box, b"sealed bundle", NOW + 100, NOW)
    assert await store.invitation_answerable(box, NOW + 1)
    assert await store.take_invitation(box, NOW + 2) == b"sealed bundle"
    assert await store.invitation_answerable(box, NOW + 99)  # taken: still answerable
    assert not await store.invitation_answerable(box, NOW + 100)  # expired
    assert not await store.invitation_answerable(_box(), NOW + 1)
    assert await store.put_invitation(answer, b"reply", NOW + 100, NOW, answer=True)
    assert not await store.invitation_answerable(answer, NOW + 1)
    assert await store.take_invitation(answer, NOW + 2) == b"reply"
    assert not await store.invitation_answerable(answer, NOW + 3)


async def test_a_taken_id_stays_refused_until_its_ttl_runs_out(store: RelayStore) -> None:
    box = _box()
    assert await store.put_invitation(box, b"first", NOW + 100, NOW)
    assert await store.take_invitation(box, NOW + 1) == b"first"
    # An attacker who learned the id cannot slip in a message for a taker who retries.
    assert not await store.put_invitation(box, b"substitute", NOW + 200, NOW + 99)
    assert await store.take_invitation(box, NOW + 99) is None
    assert await store.put_invitation(box, b"later", NOW + 300, NOW + 100)  # expired: free
    assert await store.take_invitation(box, NOW + 101) == b"later"


async def test_an_expired_invitation_is_gone_and_its_id_free_again(store: RelayStore) -> None:
    box = _box()
    assert await store.put_invitation(box, b"soon gone", NOW + 10, NOW)
    assert await store.take_invitation(box, NOW + 10) is None  # read: expired rows are ignored
    assert await store.put_invitation(box, b"again", NOW + 20, NOW + 10)  # write: swept
    assert await store.take_invitation(box, NOW + 19.5) == b"again"


async def test_invitations_under_different_ids_are_apart(store: RelayStore) -> None:
    boxes = [_box() for _ in range(3)]
    for i, box in enumerate(boxes):
        assert await store.put_invitation(box, bytes([i]) * 5, NOW + DAY, NOW)
    assert await store.take_invitation(_box(), NOW) is None
    assert [await store.take_invitation(box, NOW) for box in reversed(boxes)] == [
        bytes([i]) * 5 for i in (2, 1, 0)
    ]


async def test_invitations_survive_close_and_reopen(open_store: Opener) -> None:
    store = await open_store()
    kept, taken = _box(), _box()
    await store.put_invitation(kept, b"waiting for days", NOW + 7 * DAY, NOW)
    await store.put_invitation(taken, b"used", NOW + 7 * DAY, NOW)
    assert await store.take_invitation(taken, NOW) == b"used"
    await store.close()
    reopened = await open_store()
    assert await reopened.take_invitation(kept, NOW + 6 * DAY) == b"waiting for days"
    assert not await reopened.put_invitation(taken, b"reused", NOW + 8 * DAY, NOW + DAY)


async def test_the_invitation_cap_counts_each_row_and_is_enforced(open_store: Opener) -> None:
    cap = 3 * (10 + ROW_OVERHEAD)
    store = await open_store(caps=Caps(invitations=cap))
    boxes = [_box() for _ in range(4)]
    assert await store.put_invitation(boxes[0], bytes(10), NOW + 10, NOW)
    assert await store.put_invitation(boxes[1], bytes(10), NOW + 100, NOW)
    assert await store.take_invitation(boxes[1], NOW) == bytes(10)  # taken: its row counts
    with pytest.raises(CapReached):
        await store.put_invitation(boxes[2], bytes(21), NOW + 100, NOW)  # one byte over
    assert await store.take_invitation(boxes[2], NOW) is None  # nothing of it was stored
    assert await store.put_invitation(boxes[2], bytes(20), NOW + 100, NOW)  # exactly full
    with pytest.raises(CapReached):
        await store.put_invitation(boxes[3], bytes(1), NOW + 100, NOW + 1)
    # The first expires, and makes room.
    assert await store.put_invitation(boxes[3], bytes(10), NOW + 100, NOW + 10)
    with pytest.raises(CapReached):
        await store.put_invitation(_box(), bytes(1), NOW + 100, NOW + 11)


async def test_a_refusal_for_a_taken_id_changes_nothing(open_store: Opener) -> None:
    store = await open_store(caps=Caps(invitations=2 * (10 + ROW_OVERHEAD)))
    box = _box()
    assert await store.put_invitation(box, bytes(10), NOW + 100, NOW)
    for _ in range(5):  # refused re-posts take no room
        assert not await store.put_invitation(box, bytes(10), NOW + 100, NOW)
    assert await store.put_invitation(_box(), bytes(10), NOW + 100, NOW)
    assert await store.take_invitation(box, NOW) == bytes(10)


# --- recovery escrows ---------------------------------------------------------------------------


async def test_an_escrow_is_stored_replaced_and_read_back(store: RelayStore) -> None:
    locator, other = os.urandom(16), os.urandom(16)
    assert await store.escrow(locator) is None
    await store.put_escrow(locator, b"sealed v1", NOW)
    await store.put_escrow(other, b"someone else's", NOW)
    assert await store.escrow(locator) == b"sealed v1"
    await store.put_escrow(locator, b"sealed v2, a little longer", NOW)
    assert await store.escrow(locator) == b"sealed v2, a little longer"
    assert await store.escrow(other) == b"someone else's"


async def test_escrows_survive_close_and_reopen(open_store: Opener) -> None:
    store = await open_store()
    locator = os.urandom(16)
    await store.put_escrow(locator, bytes(range(256)) * 256, NOW)
    await store.close()
    assert await (await open_store()).escrow(locator) == bytes(range(256)) * 256


async def test_the_escrow_cap_counts_replacements_once_and_is_enforced(
    open_store: Opener,
) -> None:
    store = await open_store(caps=Caps(escrows=2 * ROW_OVERHEAD + 150))
    first, second = os.urandom(16), os.urandom(16)
    await store.put_escrow(first, bytes(100), NOW)
    for _ in range(3):  # replacing does not count the old blob again
        await store.put_escrow(first, bytes(100), NOW)
    await store.put_escrow(second, bytes(50), NOW)  # exactly full
    with pytest.raises(CapReached):
        await store.put_escrow(second, bytes(51), NOW)
    assert await store.escrow(second) == bytes(50)  # the refused write changed nothing
    with pytest.raises(CapReached):
        await store.put_escrow(os.urandom(16), bytes(1), NOW)
    await store.put_escrow(first, bytes(60), NOW)  # shrinking frees room...
    await store.put_escrow(second, bytes(90), NOW)  # ...which another may use
    assert (await store.escrow(first), await store.escrow(second)) == (bytes(60), bytes(90))


async def test_a_full_escrow_store_still_lets_a_blob_shrink(open_store: Opener) -> None:
    store = await open_store(caps=Caps(escrows=ROW_OVERHEAD + 100))
    locator = os.urandom(16)
    await store.put_escrow(locator, bytes(100), NOW)
    await store.put_escrow(locator, bytes(99), NOW)
    assert await store.escrow(locator) == bytes(99)


async def test_caps_count_what_was_stored_before_a_reopen(open_store: Opener) -> None:
    caps = Caps(invitations=ROW_OVERHEAD + 10, escrows=ROW_OVERHEAD + 10)
    store = await open_store(caps=caps)
    await store.put_invitation(_box(), bytes(10), NOW + DAY, NOW)
    await store.put_escrow(os.urandom(16), bytes(10), NOW)
    await store.close()
    reopened = await open_store(caps=caps)
    with pytest.raises(CapReached):
        await reopened.put_invitation(_box(), bytes(1), NOW + DAY, NOW)
    with pytest.raises(CapReached):
        await reopened.put_escrow(os.urandom(16), bytes(1), NOW)


async def test_a_closed_store_refuses_invitations_and_escrows(open_store: Opener) -> None:
    store = await open_store()
    await store.close()
    for call in (
        store.put_invitation(_box(), b"x", NOW + 1, NOW),
        store.take_invitation(_box(), NOW),
        store.put_escrow(os.urandom(16), b"x", NOW),
        store.escrow(os.urandom(16)),
    ):
        with pytest.raises(StoreFailure):
            await call


# --- per-household budgets and escrow expiry ------------------------------------------------------

BUDGET = 3 * (1000 + ROW_OVERHEAD) + ROW_OVERHEAD  # three bodies of 1000 bytes, and a taken row


async def test_a_writer_over_its_invitation_budget_is_refused_and_another_still_gets_in(
    store: RelayStore,
) -> None:
    attacker = Writer(store.writer_tag("192.0.2.1"), BUDGET)
    honest = Writer(attacker.tag ^ 1, BUDGET)  # another household's tag
    boxes = [_box() for _ in range(4)]
    for box in boxes[:3]:
        assert await store.put_invitation(box, bytes(1000), NOW + DAY, NOW, attacker)
    with pytest.raises(BudgetReached):
        await store.put_invitation(boxes[3], bytes(1000), NOW + DAY, NOW, attacker)
    assert await store.take_invitation(boxes[3], NOW) is None  # nothing of it was stored
    assert await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW, honest)
    assert [await store.take_invitation(box, NOW) for box in boxes[:3]] == [bytes(1000)] * 3


async def test_an_invitation_budget_frees_when_one_is_taken_or_expires(store: RelayStore) -> None:
    writer = Writer(7, BUDGET)
    soon, kept, taken = _box(), _box(), _box()
    assert await store.put_invitation(soon, bytes(1000), NOW + 10, NOW, writer)
    assert await store.put_invitation(kept, bytes(1000), NOW + DAY, NOW, writer)
    assert await store.put_invitation(taken, bytes(1000), NOW + DAY, NOW, writer)
    with pytest.raises(BudgetReached):
        await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW, writer)
    assert await store.take_invitation(taken, NOW) == bytes(1000)  # its row still counts a little
    assert await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW, writer)
    with pytest.raises(BudgetReached):
        await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW + 5, writer)
    assert await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW + 10, writer)  # expired
    assert await store.take_invitation(kept, NOW + 10) == bytes(1000)


async def test_a_writer_over_its_escrow_budget_is_refused_and_may_still_replace_its_own(
    store: RelayStore,
) -> None:
    budget = 2 * (1000 + ROW_OVERHEAD)
    attacker, honest = Writer(3, budget), Writer(4, budget)
    first, second, third = (os.urandom(16) for _ in range(3))
    await store.put_escrow(first, bytes(1000), NOW, attacker)
    await store.put_escrow(second, bytes(1000), NOW, attacker)
    with pytest.raises(BudgetReached):
        await store.put_escrow(third, bytes(1), NOW, attacker)
    assert await store.escrow(third) is None
    await store.put_escrow(first, bytes(1000), NOW + 1, attacker)  # a rewrite grows nothing
    await store.put_escrow(third, bytes(1000), NOW, honest)
    assert await store.escrow(third) == bytes(1000)


async def test_an_escrow_moved_to_another_writer_leaves_its_first_writers_budget(
    store: RelayStore,
) -> None:
    budget = 1000 + ROW_OVERHEAD
    home, away = Writer(5, budget), Writer(6, budget)
    locator, other = os.urandom(16), os.urandom(16)
    await store.put_escrow(locator, bytes(1000), NOW, home)
    await store.put_escrow(locator, bytes(1000), NOW + 1, away)  # the device moved house
    await store.put_escrow(other, bytes(1000), NOW + 2, home)
    with pytest.raises(BudgetReached):
        await store.put_escrow(os.urandom(16), bytes(1), NOW + 3, away)


ONE = 1000 + ROW_OVERHEAD


def _of_network(household: int, network: int, budget: int = 8 * ONE) -> Writer:
    """A household of one wider network: two bodies of its own, two between the network's."""
    return Writer(household, budget, network, 2 * ONE)


async def test_a_network_over_its_budget_is_refused_and_another_network_still_gets_in(
    store: RelayStore,
) -> None:
    assert await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW, _of_network(1, 9))
    assert await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW, _of_network(2, 9))
    refused = _box()
    with pytest.raises(BudgetReached, match="network"):
        await store.put_invitation(refused, bytes(1000), NOW + DAY, NOW, _of_network(3, 9))
    assert await store.take_invitation(refused, NOW) is None
    assert await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW, _of_network(4, 10))
    await store.put_escrow(os.urandom(16), bytes(1000), NOW, _of_network(1, 9))
    await store.put_escrow(os.urandom(16), bytes(1000), NOW, _of_network(2, 9))
    with pytest.raises(BudgetReached, match="network"):
        await store.put_escrow(os.urandom(16), bytes(1000), NOW, _of_network(3, 9))
    await store.put_escrow(os.urandom(16), bytes(1000), NOW, _of_network(4, 10))


async def test_a_taken_invitation_counts_only_its_row_toward_its_network(store: RelayStore) -> None:
    taken = _box()
    assert await store.put_invitation(taken, bytes(1000), NOW + DAY, NOW, _of_network(1, 9))
    assert await store.put_invitation(_box(), bytes(1000), NOW + DAY, NOW, _of_network(2, 9))
    assert await store.take_invitation(taken, NOW) == bytes(1000)
    room = ONE - ROW_OVERHEAD - ROW_OVERHEAD  # what the taken one gave back, less a new row
    assert await store.put_invitation(_box(), bytes(room), NOW + DAY, NOW, _of_network(3, 9))
    with pytest.raises(BudgetReached, match="network"):
        await store.put_invitation(_box(), bytes(1), NOW + DAY, NOW, _of_network(3, 9))


async def test_an_escrow_rewrite_that_grows_nothing_passes_a_full_network_and_stays_put(
    store: RelayStore,
) -> None:
    locator = os.urandom(16)
    await store.put_escrow(locator, bytes(1000), NOW, _of_network(1, 9))
    await store.put_escrow(os.urandom(16), bytes(1000), NOW, _of_network(2, 10))
    await store.put_escrow(os.urandom(16), bytes(1000), NOW, _of_network(3, 10))
    # The device moved into network 10, which is full: the rewrite passes, counted where it was.
    await store.put_escrow(locator, bytes(1000), NOW + 1, _of_network(4, 10))
    assert await store.escrow(locator) == bytes(1000)
    with pytest.raises(BudgetReached, match="network"):
        await store.put_escrow(locator, bytes(1001), NOW + 2, _of_network(4, 10))
    await store.put_escrow(os.urandom(16), bytes(1000), NOW + 3, _of_network(5, 9))  # still one


async def test_an_expired_escrow_is_not_served_and_collecting_deletes_it(
    open_store: Opener,
) -> None:
    store = await open_store(caps=Caps(escrows=2 * (ROW_OVERHEAD + 10)))
    old, fresh = os.urandom(16), os.urandom(16)
    await store.put_escrow(old, bytes(10), NOW)
    await store.put_escrow(fresh, bytes(10), NOW + DAY)
    assert await store.escrow(old, fresh_since=NOW) == bytes(10)  # written at the boundary
    assert await store.escrow(old, fresh_since=NOW + 1) is None
    assert await store.escrow(old) == bytes(10)  # kept until collected
    assert await store.stale_escrows(NOW + 1) == 1
    assert await store.stale_escrows(NOW + DAY + 1) == 2
    assert await store.escrow(old) == bytes(10)  # counting deletes nothing
    assert await store.collect_escrows(NOW + 1) == 1
    assert await store.stale_escrows(NOW + 1) == 0
    assert await store.escrow(old) is None
    assert await store.escrow(fresh, fresh_since=NOW + 1) == bytes(10)
    await store.put_escrow(os.urandom(16), bytes(10), NOW + DAY)  # its room is free again


async def test_rewriting_an_escrow_resets_its_expiry(store: RelayStore) -> None:
    locator = os.urandom(16)
    await store.put_escrow(locator, b"v1", NOW)
    await store.put_escrow(locator, b"v1", NOW + 30 * DAY)
    assert await store.escrow(locator, fresh_since=NOW + DAY) == b"v1"
    assert await store.collect_escrows(NOW + DAY) == 0
    assert await store.escrow(locator, fresh_since=NOW + 31 * DAY) is None


async def test_a_write_sweeps_stale_escrows_and_frees_the_cap(open_store: Opener) -> None:
    store = await open_store(caps=Caps(escrows=ROW_OVERHEAD + 10))
    await store.put_escrow(os.urandom(16), bytes(10), NOW)
    with pytest.raises(CapReached):
        await store.put_escrow(os.urandom(16), bytes(10), NOW + DAY, fresh_since=NOW)
    await store.put_escrow(os.urandom(16), bytes(10), NOW + DAY, fresh_since=NOW + 1)


async def test_writer_tags_are_short_keyed_and_kept_across_a_reopen(open_store: Opener) -> None:
    store = await open_store()
    tags = {store.writer_tag(f"198.51.100.{i}") for i in range(256)}
    assert all(0 <= tag < 1 << WRITER_TAG_BITS for tag in tags) and len(tags) > 200
    before = store.writer_tag("2001:db8::/64")
    await store.close()
    assert (await open_store()).writer_tag("2001:db8::/64") == before


def test_a_writer_tag_depends_on_the_stores_key() -> None:
    households = [f"203.0.113.{i}" for i in range(16)]
    tags = [[writer_tag(key, h) for h in households] for key in (bytes(32), bytes([1]) * 32)]
    assert tags[0] != tags[1]


async def test_a_store_made_with_an_earlier_layout_is_refused_in_one_line_as_it_opens(
    backend: Backend, open_store: Opener
) -> None:
    store = await open_store()
    await store.put_escrow(os.urandom(16), b"kept", NOW)
    await store.close()
    await backend.forget_version()
    with pytest.raises(StoreFailure, match="new database") as refused:
        await open_store()
    assert "\n" not in str(refused.value)


async def test_a_store_reopened_with_its_own_layout_opens(open_store: Opener) -> None:
    await (await open_store()).close()
    await (await open_store()).close()


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
        "import sys, tend.cli.main, tend.sync.relay.app, tend.sync.client\n"
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('asyncpg', 'tend.sync.relay.store'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "['tend.sync.relay.store', 'tend.sync.relay.store_spec']"


async def test_sqlite_commits_concurrent_puts_together_and_in_the_order_they_came(
    tmp_path: Path,
) -> None:
    store = await SqliteRelayStore.open(tmp_path / "relay.db")
    groups: list[int] = []
    commit = store._commit

    def counted(calls: list[Callable[[], object]]) -> Any:
        groups.append(len(calls))
        return commit(calls)

    store._commit = counted  # type: ignore[method-assign]
    try:
        space = new_space_id()
        await store.register(space, CAP)
        log = Log(space)
        batches = [log.extend(2) for _ in range(50)]  # each extends the one before it
        results = await asyncio.gather(*(store.put(space, batch) for batch in batches))
        assert [r.new for r in results] == [tuple(batch) for batch in batches]
        assert groups[1:] == [50]  # after the register, one commit for all fifty
        assert await store.since(space, {}, 1000) == log.entries
    finally:
        await store.close()


async def test_sqlite_reads_answer_while_a_write_holds_the_writer(tmp_path: Path) -> None:
    store = await SqliteRelayStore.open(tmp_path / "relay.db")
    space = new_space_id()
    await store.register(space, CAP)
    held, release = asyncio.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait(10)

    loop = asyncio.get_running_loop()
    try:
        busy = loop.run_in_executor(store._worker, hold)
        await held.wait()
        assert await asyncio.wait_for(store.capability_hash(space), 5) is not None
        assert await asyncio.wait_for(store.heads(space), 5) == {}
    finally:
        release.set()
        await busy
        await store.close()


async def test_sqlite_errors_surface_as_store_failure(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    path.write_bytes(b"this is not a database, not at all" * 100)
    with pytest.raises(StoreFailure) as caught:
        await SqliteRelayStore.open(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


# --- key records and forgetting ---------------------------------------------------------------


def key_record(token: bytes, sidecar: bytes | None = None) -> bytes:
    return forgetting.key_record(sidecar or secrets.token_bytes(48), forgetting.token_hash(token))


async def test_key_records_are_kept_with_the_entries_a_push_newly_stores_and_handed_out_by_position(
    store: RelayStore, space: SpaceId
) -> None:
    log, token = Log(space), secrets.token_bytes(32)
    entries = log.extend(3)
    records = [key_record(token), b"", key_record(token)]
    await store.put(space, entries, records)
    asked = [(log.log, 1), (log.log, 2), (log.log, 3), (log.log, 4)]
    assert await store.keys(space, asked) == {(log.log, 1): records[0], (log.log, 3): records[2]}
    # A re-send (anyone's) cannot replace or add a key record.
    await store.put(space, entries, [key_record(token)] * 3)
    assert await store.keys(space, asked) == {(log.log, 1): records[0], (log.log, 3): records[2]}
    assert await store.keys(new_space_id(), asked) == {}


async def test_a_key_record_is_erased_only_with_its_forget_token_and_the_entries_stay(
    store: RelayStore, space: SpaceId
) -> None:
    log, token = Log(space), secrets.token_bytes(32)
    entries = log.extend(2)
    await store.put(space, entries, [key_record(token), key_record(token)])
    with pytest.raises(ForgetRefused) as refused:
        await store.forget(space, log.log, 1, secrets.token_bytes(32))
    assert refused.value.code is ErrorCode.UNAUTHORIZED
    assert (log.log, 1) in await store.keys(space, [(log.log, 1)])
    assert await store.forget(space, log.log, 1, token) == 1
    assert await store.keys(space, [(log.log, 1), (log.log, 2)]) == {
        (log.log, 2): (await store.keys(space, [(log.log, 2)]))[(log.log, 2)]
    }
    assert await store.forget(space, log.log, 1, token) == 0  # gone already: nothing to do
    assert await store.since(space, {}, 10) == entries  # the log is whole
    assert await store.heads(space) == {log.log: 2}


async def test_a_key_record_of_the_wrong_size_or_count_refuses_the_whole_push(
    store: RelayStore, space: SpaceId
) -> None:
    log = Log(space)
    with pytest.raises(MalformedEntry):
        await store.put(space, log.extend(1), [b"\x00" * 47])
    with pytest.raises(MalformedEntry):
        await store.put(space, log.entries, [b"", b""])
    await assert_nothing_stored(store, space)


async def test_an_erased_key_record_is_gone_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SqliteRelayStore.open(path)
    space, token = new_space_id(), secrets.token_bytes(32)
    assert await store.register(space, CAP)
    log = Log(space)
    sidecar = secrets.token_bytes(48)
    await store.put(space, log.extend(1), [key_record(token, sidecar)])
    assert await store.forget(space, log.log, 1, token) == 1
    await store.close()
    held = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("relay.db"))
    assert sidecar not in held


# --- admission, the storage cap, activity and collection ----------------------------------------


async def _minted(store: RelayStore, expires_at: float | None = None) -> str:
    code = new_code()
    await store.add_codes([code_hash(code)], NOW - 10, expires_at)
    return code


def _with_code(code: str, now: float = NOW) -> Creation:
    return Creation(now, code=code_hash(code))


async def test_a_code_creates_one_space_and_is_used_up_by_it(store: RelayStore) -> None:
    code = await _minted(store)
    first, second = new_space_id(), new_space_id()
    assert await store.register(first, CAP, _with_code(code))
    with pytest.raises(AdmissionRefused, match="already used"):
        await store.register(second, CAP, _with_code(code))
    assert await store.capability_hash(second) is None
    (info,) = await store.codes()
    assert info.state(NOW) == "used" and info.id == code_id(code_hash(code))


async def test_an_unknown_expired_or_revoked_code_creates_nothing(store: RelayStore) -> None:
    expired = await _minted(store, expires_at=NOW - 1)
    revoked = await _minted(store)
    assert await store.revoke_code(code_id(code_hash(revoked))) == 1
    for code, why in ((new_code(), "not one of"), (expired, "expired"), (revoked, "withdrawn")):
        space = new_space_id()
        with pytest.raises(AdmissionRefused, match=why) as refused:
            await store.register(space, CAP, _with_code(code))
        assert refused.value.code is ErrorCode.ADMISSION
        assert await store.capability_hash(space) is None
    states = sorted(info.state(NOW) for info in await store.codes())
    assert states == ["expired", "revoked"]


async def test_a_code_is_not_used_up_by_a_space_that_exists(
    store: RelayStore, space: SpaceId
) -> None:
    code = await _minted(store)
    assert not await store.register(space, OTHER_CAP, _with_code(code))
    assert await store.register(new_space_id(), CAP, _with_code(code))


async def test_a_used_code_cannot_be_revoked_and_codes_match_by_their_id(
    store: RelayStore,
) -> None:
    code = await _minted(store)
    await store.register(new_space_id(), CAP, _with_code(code))
    assert await store.revoke_code(code_id(code_hash(code))) == 0
    assert await store.revoke_code("ffffffff") == 0


async def test_two_devices_racing_with_one_code_create_one_space(open_store: Opener) -> None:
    # Two stores over one database: two relay instances (or two connections) at once.
    one, two = await open_store(), await open_store()
    code = await _minted(one)
    spaces = [new_space_id() for _ in range(6)]
    outcomes = await asyncio.gather(
        *(
            (one if i % 2 else two).register(space, CAP, _with_code(code))
            for i, space in enumerate(spaces)
        ),
        return_exceptions=True,
    )
    assert sum(outcome is True for outcome in outcomes) == 1
    assert all(o is True or isinstance(o, AdmissionRefused) for o in outcomes), outcomes
    held = [await one.capability_hash(space) for space in spaces]
    assert sum(h is not None for h in held) == 1


async def test_an_address_creates_at_most_its_limit_per_window_on_every_instance(
    open_store: Opener,
) -> None:
    one, two = await open_store(), await open_store()
    here, there = address_key("127.0.0.2"), address_key("127.0.0.3")

    def limited(address: bytes, now: float = NOW) -> Creation:
        return Creation(now, address=address, per_address=2, window=DAY)

    assert await one.register(new_space_id(), CAP, limited(here))
    assert await two.register(new_space_id(), CAP, limited(here))
    refused = new_space_id()
    with pytest.raises(CreationLimited) as limit:
        await one.register(refused, CAP, limited(here))
    assert limit.value.code is ErrorCode.SLOW_DOWN
    assert await two.capability_hash(refused) is None
    assert await two.register(new_space_id(), CAP, limited(there))  # another address
    assert await one.register(new_space_id(), CAP, limited(here, NOW + DAY))  # the next window


async def test_the_storage_cap_counts_every_space_and_refuses_with_full(
    open_store: Opener,
) -> None:
    store = await open_store(caps=Caps(storage=3 * ENTRY_SIZE))
    a, b = new_space_id(), new_space_id()
    await store.register(a, CAP)
    await store.register(b, CAP)
    log_a, log_b = Log(a), Log(b)
    await store.put(a, log_a.extend(2))
    await store.put(b, log_b.extend(1))
    with pytest.raises(RelayFull) as full:
        await store.put(b, log_b.extend(1))
    assert full.value.code is ErrorCode.FULL
    assert await store.heads(b) == {log_b.log: 1}
    assert (await store.put(a, log_a.entries[:2])).stored == 2  # a re-send adds nothing: passes


async def test_a_rotation_past_the_storage_cap_is_refused_as_full_and_changes_nothing(
    open_store: Opener,
) -> None:
    """A modified client that may no longer push, once the relay is full, files rotation
    records instead: they count toward the cap like entries, so they are refused too."""
    store = await open_store(caps=Caps(storage=2 * ENTRY_SIZE))
    space = new_space_id()
    member = Log(space)
    await store.register(space, CAP)
    await store.put(space, member.extend(2))
    held = await store.usage(space)
    with pytest.raises(RelayFull):
        await store.rotate(space, *rotation(member, CAP, OTHER_CAP))
    assert await store.capability_hash(space) == CAP
    assert await store.usage(space) == held


async def test_activity_is_reported_with_sizes_and_devices_and_no_capability(
    store: RelayStore,
) -> None:
    space = new_space_id()
    await store.register(space, CAP, Creation(NOW))
    await store.put(space, Log(space).extend(2))
    await store.put(space, Log(space).extend(1))
    await store.touch(space, NOW + 100)
    await store.touch(space, NOW + 50)  # activity only moves forward
    (info,) = [i for i in await store.spaces() if i.space == space]
    assert (info.created_at, info.active_at) == (NOW, NOW + 100)
    assert info.usage == await store.usage(space) and info.logs == 2
    assert not info.single_device


async def test_collect_deletes_idle_and_lone_spaces_whole_and_keeps_an_active_couple(
    open_store: Opener,
) -> None:
    store = await open_store(caps=Caps(storage=5 * ENTRY_SIZE))
    idle, lone, couple = new_space_id(), new_space_id(), new_space_id()
    for space in (idle, lone, couple):
        await store.register(space, CAP, Creation(NOW - 60 * DAY))
    for space, logs in ((idle, 2), (lone, 1), (couple, 2)):
        for _ in range(logs):
            await store.put(space, Log(space).extend(1))
    await store.touch(idle, NOW - 40 * DAY)
    await store.touch(lone, NOW - 1 * DAY)
    await store.touch(couple, NOW - 1 * DAY)
    with pytest.raises(RelayFull):
        await store.put(couple, Log(couple).extend(1))
    rule = Collect(NOW, idle_days=30, single_device_days=14)
    gone = await store.collect(rule)
    assert sorted(info.space for info in gone) == sorted([idle, lone])
    for space in (idle, lone):
        assert await store.capability_hash(space) is None
        await assert_nothing_stored(store, space)
    assert await store.capability_hash(couple) == CAP
    assert len(await store.heads(couple)) == 2
    await store.put(couple, Log(couple).extend(1))  # room was made
    assert await store.collect(rule) == []
