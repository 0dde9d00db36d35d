"""The relay's store on PostgreSQL, for several relay instances behind a load balancer.

Theory of operation
-------------------
The rules are RelayStore's (sync/relay/store.py) and one contract suite pins them for SQLite and
for this store alike. This file says how PostgreSQL keeps them while several relay processes
write to one database at once:

- Serialised per space: each put, rotate and repair is one transaction whose first statement is
  pg_advisory_xact_lock on a hash of (schema, space id). Two instances can never interleave a
  space's logs, and since READ COMMITTED takes a fresh snapshot per statement and the lock comes
  before the first read, every check sees what the previous holder committed: a rotation
  re-checks, under the lock, that the capability it replaces is still the current one and that
  its signer is still not removed, so of two rotations racing from one capability exactly one
  wins, and a push racing a rotation that removes its log is either in before it or refused.
  COMMIT or ROLLBACK releases the lock; a relay that dies mid-transaction releases it with its
  connection. The checks themselves are RelayStore's shared helpers (sync/relay/store.py).
- Invitations and escrows: their caps are store-wide, so every put_invitation (which also
  sweeps expired rows) and every put_escrow (which also sweeps stale escrows) takes one
  advisory lock per kind, then reads what the kind holds (table held) and what the writer's
  tag holds, and writes it back in the same transaction. The key of the writer tags is one row
  (store_keys), made by the first instance and read by every one, so that instances sharing
  the database count one budget per household. take_invitation takes the same lock (it gives
  back to the cap all but the row of what it takes), and its statement row-locks the invitation
  (FOR UPDATE) and clears its body: of two instances taking one invitation at once, the second
  waits, re-reads the row and takes nothing.
- Creating a space (register) is one transaction: the space row is inserted first (a second
  creator of the same id waits on its key, then creates nothing and uses up nothing); then the
  one-time code's row is locked (FOR UPDATE) and checked, so of two devices racing with one
  code for two spaces the second re-reads it used and rolls its space back; then the address's
  count for the window is raised and checked in one upsert. Nothing is counted or used up for
  a creation refused.
- The storage cap across all spaces is checked against sum(usage) inside each put, without a
  store-wide lock (that lock would make every instance's puts take turns): two puts into
  different spaces at the same moment may both pass, so the cap can be passed by at most the
  batches in flight (a few MiB), never more.
- Collecting spaces: each space is deleted in its own transaction under its lock, the rule
  checked again there, so a push or hello that made it active again meanwhile keeps it.
- Durable: every connection runs with synchronous_commit=on whatever the server's default, and
  put returns only after COMMIT, so an Ack still means the entries survive a crash.
- No group commit (the SQLite store has one): each put is its own transaction on a pooled
  connection, and the server overlaps the WAL flushes of concurrent commits itself (its
  commit_delay / commit_siblings settings tune that); puts into one space take turns on its lock
  whatever the client does, so a client-side group would buy little here.
- Cross-instance push: a put that adds entries, every rotate and every repair calls pg_notify
  inside its transaction. PostgreSQL delivers the notification on commit, in commit order, and
  never for a refused request. The payload is only "<kind> <space hex> <instance>", kind e
  (entries) or r (rotated), or "d <space hex> <instance> <log hex> <from seq>" for a repair
  (payloads are capped at 8000 bytes): a listener fetches the entries itself with `since`.
  `changes()` LISTENs on a connection of its own and yields the changes other instances made
  (its own are dropped by instance id: the relay forwarded those already). Right after each
  (re)connection it yields a Change with no space: whatever happened while nobody listened must
  be fetched. Iterate it in a task of its own, and cancel that task before close().
- Tables live in one schema (default tend_relay), created if missing under an advisory lock so
  that instances starting together do not race. Tests give each store a fresh schema.

asyncpg is imported by this module only, and the relay imports this module only to open a
PostgresSpec (store_spec.py): the SQLite relay and the device commands never load either.
asyncpg, server and connection errors are translated in one place (`_translated`) into
StoreFailure.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg

from tend.core.ids import LogId, Seq, SpaceId
from tend.core.log.header import entry_hash
from tend.core.log.rotation_record import RotationRecord
from tend.sync.protocol import Vector
from tend.sync.relay.limits import (
    CodeInfo,
    Collect,
    Creation,
    SpaceInfo,
    check_code,
    check_creations,
)
from tend.sync.relay.metrics import log_warning
from tend.sync.relay.store import (
    ANYONE,
    DEFAULT_ESCROW_CAP,
    DEFAULT_INVITATION_CAP,
    DEFAULT_QUOTA,
    NEVER_STALE,
    ROW_OVERHEAD,
    SCHEMA_VERSION,
    WRITER_KEY_BYTES,
    Caps,
    Change,
    Extension,
    Holdings,
    LogState,
    MalformedEntry,
    Placed,
    Position,
    PutResult,
    SignedRecord,
    StoreFailure,
    UnknownSpace,
    Writer,
    check_budget,
    check_cap,
    check_forget,
    check_junk,
    check_logs,
    check_quota,
    check_repair,
    check_rotation,
    check_schema_version,
    check_storage,
    counted,
    escrow_writer,
    new_key_records,
    opened_logs,
    owned_key,
    parse_batch,
    parse_rotation,
    plan_extension,
    resent_positions,
    writer_tag,
)

__all__ = ["DEFAULT_SCHEMA", "Change", "PostgresRelayStore"]

DEFAULT_SCHEMA = "tend_relay"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")  # + "_changes" stays a 63-byte identifier
POOL_SIZE = 10  # connections per relay instance
CONNECT_TIMEOUT = 10.0  # seconds
COMMAND_TIMEOUT = 30.0  # seconds; past it a statement fails (StoreFailure) instead of hanging
RELISTEN_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # then 30 s between tries

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.spaces (
    space bytea PRIMARY KEY,
    capability_hash bytea NOT NULL,
    usage bigint NOT NULL DEFAULT 0,
    created_at double precision NOT NULL DEFAULT 0,
    active_at double precision NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {s}.admission_codes (
    digest bytea PRIMARY KEY,
    created_at double precision NOT NULL,
    expires_at double precision,
    used_at double precision,
    space bytea,
    revoked boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS {s}.creations (
    address bytea NOT NULL,
    period bigint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (address, period)
);
CREATE TABLE IF NOT EXISTS {s}.rotations (
    space bytea NOT NULL,
    replaced bytea NOT NULL,
    record bytea NOT NULL,
    signature bytea NOT NULL,
    PRIMARY KEY (space, replaced)
);
CREATE TABLE IF NOT EXISTS {s}.logs (
    space bytea NOT NULL,
    log bytea NOT NULL,
    key bytea,
    removed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (space, log)
);
CREATE TABLE IF NOT EXISTS {s}.heads (
    space bytea NOT NULL,
    log bytea NOT NULL,
    seq bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (space, log)
);
CREATE TABLE IF NOT EXISTS {s}.entries (
    space bytea NOT NULL,
    log bytea NOT NULL,
    seq bigint NOT NULL,
    entry bytea NOT NULL,
    PRIMARY KEY (space, log, seq)
);
CREATE TABLE IF NOT EXISTS {s}.invitations (
    box bytea PRIMARY KEY,
    body bytea,
    counted bigint NOT NULL,
    expires_at double precision NOT NULL,
    writer integer NOT NULL,
    network integer NOT NULL,
    answer boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS invitations_by_network ON {s}.invitations(network);
CREATE INDEX IF NOT EXISTS invitations_by_expiry ON {s}.invitations(expires_at);
CREATE INDEX IF NOT EXISTS invitations_by_writer ON {s}.invitations(writer);
CREATE TABLE IF NOT EXISTS {s}.escrows (
    locator bytea PRIMARY KEY,
    blob bytea NOT NULL,
    counted bigint NOT NULL,
    writer integer NOT NULL,
    network integer NOT NULL,
    written_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS escrows_by_network ON {s}.escrows(network);
CREATE INDEX IF NOT EXISTS escrows_by_writer ON {s}.escrows(writer);
CREATE INDEX IF NOT EXISTS escrows_by_age ON {s}.escrows(written_at);
CREATE TABLE IF NOT EXISTS {s}.store_version (
    version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.store_keys (
    name text PRIMARY KEY,
    key bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.held (
    kind text PRIMARY KEY,
    bytes bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.content_keys (
    space bytea NOT NULL,
    log bytea NOT NULL,
    seq bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (space, log, seq)
);
"""

_INSERT_KEY_RECORDS = """
INSERT INTO {s}.content_keys(space, log, seq, record)
SELECT $1, * FROM unnest($2::bytea[], $3::bigint[], $4::bytea[])
ON CONFLICT (space, log, seq) DO NOTHING
"""

_KEY_RECORD_FOR_UPDATE = """
SELECT record FROM {s}.content_keys WHERE space = $1 AND log = $2 AND seq = $3 FOR UPDATE
"""
_DELETE_KEY_RECORD = """
DELETE FROM {s}.content_keys WHERE space = $1 AND log = $2 AND seq = $3
"""

_KEY_RECORDS_AT = """
SELECT k.log, k.seq, k.record FROM {s}.content_keys AS k
JOIN unnest($2::bytea[], $3::bigint[]) AS at(log, seq) ON k.log = at.log AND k.seq = at.seq
WHERE k.space = $1
"""

_SWEEP_INVITATIONS = """
WITH gone AS (DELETE FROM {s}.invitations WHERE expires_at <= $1 RETURNING counted)
SELECT coalesce(sum(counted), 0) FROM gone
"""

# Row-locked: of two takers, the second waits, then finds the body gone and takes nothing. The
# row stays without its message, so the id is refused until it expires, counting only its row
# ($3) toward the cap as toward its writer's budget.
_TAKE_INVITATION = """
WITH found AS (
    SELECT box, body, counted FROM {s}.invitations
    WHERE box = $1 AND expires_at > $2 AND body IS NOT NULL
    FOR UPDATE
)
UPDATE {s}.invitations AS i SET body = NULL, counted = $3 FROM found WHERE i.box = found.box
RETURNING found.body, found.counted
"""

_SWEEP_ESCROWS = """
WITH gone AS (DELETE FROM {s}.escrows WHERE written_at < $1 RETURNING counted)
SELECT count(*), coalesce(sum(counted), 0) FROM gone
"""

# A taken invitation counts only its row toward its writer's budget: its message is gone.
_WRITER_INVITATIONS = """
SELECT coalesce(sum(CASE WHEN body IS NULL THEN $3 ELSE counted END) FILTER (WHERE writer = $1), 0),
    coalesce(sum(CASE WHEN body IS NULL THEN $3 ELSE counted END) FILTER (WHERE network = $2), 0)
FROM {s}.invitations WHERE writer = $1 OR network = $2
"""

_WRITER_ESCROWS = """
SELECT coalesce(sum(counted) FILTER (WHERE writer = $1), 0),
    coalesce(sum(counted) FILTER (WHERE network = $2), 0)
FROM {s}.escrows WHERE writer = $1 OR network = $2
"""

_PUT_ESCROW = """
INSERT INTO {s}.escrows(locator, blob, counted, writer, network, written_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (locator) DO UPDATE SET blob = excluded.blob, counted = excluded.counted,
    writer = excluded.writer, network = excluded.network, written_at = excluded.written_at
"""

_NOTE_VERSION = """
INSERT INTO {s}.store_version(version) SELECT $1
WHERE NOT EXISTS (SELECT 1 FROM {s}.store_version)
"""

_SET_HELD = """
INSERT INTO {s}.held(kind, bytes) VALUES ($1, $2)
ON CONFLICT (kind) DO UPDATE SET bytes = excluded.bytes
"""

# One page of catch-up: per log above the device's seq (an index range scan each), in order.
_PAGE = """
    FROM {s}.heads AS h
    LEFT JOIN unnest($2::bytea[], $3::bigint[]) AS have(log, seq) ON have.log = h.log
    CROSS JOIN LATERAL (
        SELECT e.seq, e.entry FROM {s}.entries AS e
        WHERE e.space = h.space AND e.log = h.log AND e.seq > coalesce(have.seq, 0)
        ORDER BY e.seq LIMIT $4
    ) AS page
    WHERE h.space = $1 AND h.seq > coalesce(have.seq, 0)
    ORDER BY h.log, page.seq
    LIMIT $4
"""
_SINCE = "SELECT page.entry" + _PAGE

# The same page, ending with the entry that reaches $5 bytes: the rest never leaves the server.
# (Built from constants alone: every value is a $ parameter.)
_SINCE_BOUNDED = (
    "SELECT entry FROM (SELECT page.entry, "  # noqa: S608
    "sum(length(page.entry)) OVER (ORDER BY h.log, page.seq) AS reached"
    + _PAGE
    + ") AS bounded WHERE reached - length(entry) < $5 ORDER BY reached"
)

_STORED_AT = """
SELECT e.log, e.seq, e.entry FROM {s}.entries AS e
JOIN unnest($2::bytea[], $3::bigint[]) AS at(log, seq) ON e.log = at.log AND e.seq = at.seq
WHERE e.space = $1
"""

_INSERT_ENTRIES = """
INSERT INTO {s}.entries(space, log, seq, entry)
SELECT $1, * FROM unnest($2::bytea[], $3::bigint[], $4::bytea[])
"""

_UPSERT_HEADS = """
INSERT INTO {s}.heads(space, log, seq, hash)
SELECT $1, * FROM unnest($2::bytea[], $3::bigint[], $4::bytea[])
ON CONFLICT (space, log) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
"""

_UPSERT_KEYS = """
INSERT INTO {s}.logs(space, log, key)
SELECT $1, * FROM unnest($2::bytea[], $3::bytea[])
ON CONFLICT (space, log) DO UPDATE SET key = excluded.key
"""

# Only logs this relay has seen are marked, and a log a later rotation seals a key to is a member
# again (the relay cannot check who removed whom, so a removal is never final here).
_MARK_REMOVED = """
UPDATE {s}.logs SET removed = true WHERE space = $1 AND log = ANY($2::bytea[])
"""
_MARK_STAYING = """
UPDATE {s}.logs SET removed = false WHERE space = $1 AND log = ANY($2::bytea[])
"""

# The logs named, with what the store holds about each (a log it never saw is not returned).
_STATES = """
SELECT both_.log, both_.key, both_.removed, both_.seq, both_.hash, first.entry
FROM (
    SELECT coalesce(l.log, h.log) AS log, l.key, coalesce(l.removed, false) AS removed,
           h.seq, h.hash
    FROM (SELECT log, key, removed FROM {s}.logs WHERE space = $1 AND log = ANY($2)) AS l
    FULL JOIN (SELECT log, seq, hash FROM {s}.heads WHERE space = $1 AND log = ANY($2)) AS h
    ON h.log = l.log
) AS both_
LEFT JOIN {s}.entries AS first
ON both_.key IS NULL AND first.space = $1 AND first.log = both_.log AND first.seq = 1
"""

_DROP_FROM = """
WITH dropped AS (
    DELETE FROM {s}.entries WHERE space = $1 AND log = $2 AND seq >= $3 RETURNING length(entry)
)
SELECT count(*), coalesce(sum(length), 0) FROM dropped
"""


_SPACE_INFOS = """
SELECT s.space, s.created_at, s.active_at, s.usage,
       (SELECT count(*) FROM {s}.heads AS h WHERE h.space = s.space)
FROM {s}.spaces AS s {where}
ORDER BY s.active_at, s.space
"""

_COUNT_CREATION = """
INSERT INTO {s}.creations(address, period, count) VALUES ($1, $2, 1)
ON CONFLICT (address, period) DO UPDATE SET count = {s}.creations.count + 1
RETURNING count
"""

# Every table that holds rows of a space: a collected space leaves nothing in any of them.
_DELETE_SPACE = tuple(
    f"DELETE FROM {{s}}.{table} WHERE space = $1"  # noqa: S608 (names from this tuple only)
    for table in ("entries", "content_keys", "heads", "logs", "rotations", "spaces")
)


_FAILURES: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


@contextmanager
def _translated(what: str, *also: type[Exception]) -> Iterator[None]:
    try:
        yield
    except (*_FAILURES, *also) as e:
        raise StoreFailure(f"relay store: {what} failed ({type(e).__name__}: {e})") from e


class PostgresRelayStore:
    """RelayStore on PostgreSQL. Open with `await PostgresRelayStore.open(dsn)`."""

    def __init__(
        self, pool: Any, dsn: str, schema: str, quota: int, instance: str, caps: Caps
    ) -> None:
        self._pool = pool
        self._dsn = dsn  # for the LISTEN connection
        self._schema = schema
        self._quota = quota
        self._caps = caps
        self._channel = f"{schema}_changes"
        self._instance = instance  # tells this instance's notifications apart
        self._writer_key = b""  # read from the store as it opens
        self._closed = False

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        quota: int = DEFAULT_QUOTA,
        schema: str = DEFAULT_SCHEMA,
        invitation_cap: int = DEFAULT_INVITATION_CAP,
        escrow_cap: int = DEFAULT_ESCROW_CAP,
        storage_cap: int | None = None,
    ) -> PostgresRelayStore:
        if not SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"a schema name is {SCHEMA_NAME.pattern}, not {schema!r}")
        instance = secrets.token_hex(8)
        with _translated("connecting to PostgreSQL", ValueError):  # ValueError: a bad DSN
            pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=POOL_SIZE, **_connect_options(instance)
            )
        caps = Caps(invitation_cap, escrow_cap, storage_cap)
        store = cls(pool, dsn, schema, quota, instance, caps)
        try:
            await store._create_schema()
        except BaseException:
            await pool.close()
            raise
        return store

    def _sql(self, template: str) -> str:
        return template.format(s=f'"{self._schema}"')

    async def _create_schema(self) -> None:
        with _translated("creating the schema"):
            async with self._pool.acquire() as db, db.transaction():
                # IF NOT EXISTS is not safe against a concurrent CREATE: take turns.
                await db.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(b"schema", b""))
                check_schema_version(*await self._found_version(db))
                await db.execute(self._sql(_SCHEMA))
                await db.execute(self._sql(_NOTE_VERSION), SCHEMA_VERSION)
                self._writer_key = await self._read_writer_key(db)

    async def _found_version(self, db: Any) -> tuple[int, bool]:
        """The layout the schema says it was made with (0: it says none), and whether its
        tables were there before."""
        made_before = await db.fetchval("SELECT to_regclass($1)", f'"{self._schema}".spaces')
        if await db.fetchval("SELECT to_regclass($1)", f'"{self._schema}".store_version'):
            found = await db.fetchval(self._sql("SELECT max(version) FROM {s}.store_version"))
        else:
            found = None
        return (0 if found is None else int(found)), made_before is not None

    async def _read_writer_key(self, db: Any) -> bytes:
        """The store's key for writer tags: made once, at random, shared by every instance."""
        await db.execute(
            self._sql(
                "INSERT INTO {s}.store_keys(name, key) VALUES ('writer', $1) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            secrets.token_bytes(WRITER_KEY_BYTES),
        )
        key = await db.fetchval(self._sql("SELECT key FROM {s}.store_keys WHERE name = 'writer'"))
        return bytes(key)

    def writer_tag(self, household: str) -> int:
        return writer_tag(self._writer_key, household)

    @asynccontextmanager
    async def _connection(self, what: str) -> AsyncIterator[Any]:
        if self._closed:
            raise StoreFailure("relay store: it is closed")
        with _translated(what):
            async with self._pool.acquire() as db:
                yield db

    @asynccontextmanager
    async def _locked(self, space: SpaceId, what: str) -> AsyncIterator[Any]:
        """A transaction holding the space's lock: no other instance writes to it meanwhile."""
        async with self._connection(what) as db, db.transaction():
            key = _lock_key(self._schema.encode(), space)
            await db.execute("SELECT pg_advisory_xact_lock($1)", key)
            yield db

    @asynccontextmanager
    async def _turn(self, kind: str, what: str) -> AsyncIterator[Any]:
        """A transaction holding the lock of every row of `kind` (invitations, escrows): their
        cap is store-wide, so their writes take turns. A schema name holds no "/"."""
        async with self._connection(what) as db, db.transaction():
            key = _lock_key(f"{self._schema}/{kind}".encode(), b"")
            await db.execute("SELECT pg_advisory_xact_lock($1)", key)
            yield db

    async def _notify(self, db: Any, kind: str, space: SpaceId, more: str = "") -> None:
        """Queued with the transaction: sent on commit, dropped on rollback."""
        payload = f"{kind} {space.hex()} {self._instance}{more}"
        await db.execute("SELECT pg_notify($1, $2)", self._channel, payload)

    # -- spaces and capabilities

    async def register(
        self, space: SpaceId, capability_hash: bytes, creation: Creation | None = None
    ) -> bool:
        creation = creation or Creation(time.time())
        async with self._connection("registering a space") as db, db.transaction():
            claimed = await db.fetchval(
                self._sql(
                    "INSERT INTO {s}.spaces(space, capability_hash, created_at, active_at) "
                    "VALUES ($1, $2, $3, $3) ON CONFLICT (space) DO NOTHING RETURNING true"
                ),
                space,
                capability_hash,
                creation.now,
            )
            if claimed is not True:
                return False  # nothing is used up for a space that exists
            await self._use_code(db, space, creation)
            await self._count_creation(db, creation)
        return True

    async def _use_code(self, db: Any, space: SpaceId, creation: Creation) -> None:
        if creation.code is None:
            return
        row = await db.fetchrow(
            self._sql(
                "SELECT expires_at, used_at, revoked FROM {s}.admission_codes "
                "WHERE digest = $1 FOR UPDATE"
            ),
            creation.code,
        )
        check_code(None if row is None else (row[0], row[1], bool(row[2])), creation.now)
        await db.execute(
            self._sql("UPDATE {s}.admission_codes SET used_at = $2, space = $3 WHERE digest = $1"),
            creation.code,
            creation.now,
            space,
        )

    async def _count_creation(self, db: Any, creation: Creation) -> None:
        if creation.address is None or not creation.per_address:
            return
        period = creation.window_index
        await db.execute(self._sql("DELETE FROM {s}.creations WHERE period < $1"), period)
        count = await db.fetchval(self._sql(_COUNT_CREATION), creation.address, period)
        check_creations(int(count) - 1, creation)  # the count before this creation

    async def touch(self, space: SpaceId, now: float) -> None:
        async with self._connection("noting activity") as db:
            await db.execute(
                self._sql(
                    "UPDATE {s}.spaces SET active_at = $2 WHERE space = $1 AND active_at < $2"
                ),
                space,
                now,
            )

    async def _space_infos(self, db: Any, space: SpaceId | None = None) -> list[SpaceInfo]:
        where = "" if space is None else "WHERE s.space = $1"
        sql = _SPACE_INFOS.format(s=f'"{self._schema}"', where=where)
        rows = await db.fetch(sql, *(() if space is None else (space,)))
        return [
            SpaceInfo(SpaceId(bytes(r[0])), float(r[1]), float(r[2]), int(r[3]), int(r[4]))
            for r in rows
        ]

    async def spaces(self) -> list[SpaceInfo]:
        async with self._connection("reading spaces") as db:
            return await self._space_infos(db)

    async def collect(self, rule: Collect) -> list[SpaceInfo]:
        gone = []
        for candidate in [info for info in await self.spaces() if rule.matches(info)]:
            async with self._locked(candidate.space, "collecting a space") as db:
                now = await self._space_infos(db, candidate.space)
                if not now or not rule.matches(now[0]):
                    continue  # active again (or gone) since it was read
                for statement in _DELETE_SPACE:
                    await db.execute(self._sql(statement), candidate.space)
                gone.append(now[0])
        return gone

    async def add_codes(
        self, digests: Sequence[bytes], now: float, expires_at: float | None
    ) -> None:
        async with self._connection("storing admission codes") as db, db.transaction():
            await db.executemany(
                self._sql(
                    "INSERT INTO {s}.admission_codes(digest, created_at, expires_at) "
                    "VALUES ($1, $2, $3)"
                ),
                [(digest, now, expires_at) for digest in digests],
            )

    async def codes(self) -> list[CodeInfo]:
        async with self._connection("reading admission codes") as db:
            rows = await db.fetch(
                self._sql(
                    "SELECT digest, created_at, expires_at, used_at, revoked "
                    "FROM {s}.admission_codes ORDER BY created_at, digest"
                )
            )
        return [CodeInfo(bytes(r[0]), r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def revoke_code(self, code_id: str) -> int:
        async with self._connection("withdrawing admission codes") as db:
            revoked = await db.fetch(
                self._sql(
                    "UPDATE {s}.admission_codes SET revoked = true "
                    "WHERE encode(digest, 'hex') LIKE $1 AND used_at IS NULL AND NOT revoked "
                    "RETURNING 1"
                ),
                code_id.lower() + "%",
            )
        return len(revoked)

    async def capability_hash(self, space: SpaceId) -> bytes | None:
        async with self._connection("reading a space") as db:
            found = await db.fetchval(
                self._sql("SELECT capability_hash FROM {s}.spaces WHERE space = $1"), space
            )
        return None if found is None else bytes(found)

    async def _space(self, db: Any, space: SpaceId) -> tuple[bytes, int]:
        """The space's capability hash and usage, or UnknownSpace."""
        row = await db.fetchrow(
            self._sql("SELECT capability_hash, usage FROM {s}.spaces WHERE space = $1"), space
        )
        if row is None:
            raise UnknownSpace("no such space on this relay")
        return bytes(row[0]), int(row[1])

    async def rotate(self, space: SpaceId, record: bytes, signature: bytes) -> RotationRecord:
        rotation = parse_rotation(space, record)
        signed = SignedRecord(record, signature)
        async with self._locked(space, "rotating a capability") as db:
            # Under the lock: the hash replaced is still the current one, the signer still in.
            current, usage = await self._space(db, space)
            signer = await self._states(db, space, [rotation.signer])
            check_rotation(
                rotation,
                *signed,
                current=current,
                signer=signer.get(rotation.signer, LogState()),
                replaced_before=await self._filed(db, space, rotation.capability) is not None,
            )
            check_quota(usage, len(record) + len(signature), self._quota)
            if self._caps.storage is not None:  # filed records count toward the cap too
                filed = len(record) + len(signature)
                check_storage(await self._stored_bytes(db), filed, self._caps.storage)
            await self._apply_rotation(db, space, rotation, current, signed)
            await self._notify(db, "r", space)
        return rotation

    async def _apply_rotation(
        self,
        db: Any,
        space: SpaceId,
        rotation: RotationRecord,
        current: bytes,
        signed: SignedRecord,
    ) -> None:
        await db.execute(
            self._sql(
                "INSERT INTO {s}.rotations(space, replaced, record, signature) "
                "VALUES ($1, $2, $3, $4)"
            ),
            space,
            current,
            *signed,
        )
        await db.execute(
            self._sql(
                "UPDATE {s}.spaces SET capability_hash = $2, usage = usage + $3 WHERE space = $1"
            ),
            space,
            rotation.capability,
            len(signed.record) + len(signed.signature),
        )
        removed = [removal.device for removal in rotation.removed]
        await db.execute(self._sql(_MARK_REMOVED), space, removed)
        await db.execute(self._sql(_MARK_STAYING), space, [log for log, _key in rotation.sealed])

    async def _filed(self, db: Any, space: SpaceId, capability_hash: bytes) -> SignedRecord | None:
        row = await db.fetchrow(
            self._sql(
                "SELECT record, signature FROM {s}.rotations WHERE space = $1 AND replaced = $2"
            ),
            space,
            capability_hash,
        )
        return None if row is None else SignedRecord(bytes(row[0]), bytes(row[1]))

    async def rekey(self, space: SpaceId, capability_hash: bytes) -> SignedRecord | None:
        async with self._connection("reading a rekey") as db:
            return await self._filed(db, space, capability_hash)

    # -- entries

    async def put(
        self, space: SpaceId, entries: Sequence[bytes], keys: Sequence[bytes] = ()
    ) -> PutResult:
        parsed = parse_batch(space, entries)
        if keys and len(keys) != len(entries):
            raise MalformedEntry("one key record (or none) per entry")
        async with self._locked(space, "storing entries") as db:
            _, usage = await self._space(db, space)
            states = await self._states(db, space, list({h.log for h, _ in parsed}))
            stored = await self._stored(db, space, resent_positions(parsed, states))
            plan = plan_extension(parsed, states, stored)
            if opened := opened_logs(plan, states):
                held = await db.fetchval(
                    self._sql("SELECT count(*) FROM {s}.heads WHERE space = $1"), space
                )
                check_logs(int(held), opened)
            check_quota(usage, plan.size, self._quota)
            if self._caps.storage is not None and plan.size:
                check_storage(await self._stored_bytes(db), plan.size, self._caps.storage)
            if plan.new:
                await self._insert(db, space, plan)
                records = new_key_records(entries, keys, plan.entries)
                if records:
                    await db.execute(
                        self._sql(_INSERT_KEY_RECORDS),
                        space,
                        [h.log for h, _ in records],
                        [h.seq for h, _ in records],
                        [record for _, record in records],
                    )
                await self._notify(db, "e", space)
        return PutResult(len(entries), plan.entries)

    async def keys(self, space: SpaceId, positions: Sequence[Position]) -> dict[Position, bytes]:
        if not positions:
            return {}
        async with self._connection("reading key records") as db:
            rows = await db.fetch(
                self._sql(_KEY_RECORDS_AT),
                space,
                [log for log, _ in positions],
                [seq for _, seq in positions],
            )
        return {(LogId(bytes(log)), int(seq)): bytes(record) for log, seq, record in rows}

    async def forget(self, space: SpaceId, log: LogId, seq: int, token: bytes) -> int:
        async with self._locked(space, "forgetting a key record") as db:
            record = await db.fetchval(self._sql(_KEY_RECORD_FOR_UPDATE), space, log, seq)
            if not check_forget(token, None if record is None else bytes(record)):
                return 0
            await db.execute(self._sql(_DELETE_KEY_RECORD), space, log, seq)
        return 1

    async def _states(self, db: Any, space: SpaceId, logs: list[LogId]) -> dict[LogId, LogState]:
        rows = await db.fetch(self._sql(_STATES), space, logs)
        return {
            LogId(bytes(log)): LogState(
                owned_key(log, None if key is None else bytes(key), first and bytes(first)),
                bool(removed),
                None if seq is None else (Seq(int(seq)), bytes(digest)),
            )
            for log, key, removed, seq, digest, first in rows
        }

    async def _stored(
        self, db: Any, space: SpaceId, positions: list[tuple[LogId, Seq]]
    ) -> dict[tuple[LogId, Seq], bytes]:
        if not positions:
            return {}
        rows = await db.fetch(
            self._sql(_STORED_AT),
            space,
            [log for log, _ in positions],
            [seq for _, seq in positions],
        )
        return {(LogId(bytes(log)), Seq(int(seq))): bytes(raw) for log, seq, raw in rows}

    async def _insert(self, db: Any, space: SpaceId, plan: Extension) -> None:
        await db.execute(
            self._sql(_INSERT_ENTRIES),
            space,
            [h.log for h, _, _ in plan.new],
            [h.seq for h, _, _ in plan.new],
            [raw for _, raw, _ in plan.new],
        )
        heads = plan.heads
        await db.execute(
            self._sql(_UPSERT_HEADS),
            space,
            list(heads),
            [seq for seq, _ in heads.values()],
            [digest for _, digest in heads.values()],
        )
        if plan.keys:
            await db.execute(
                self._sql(_UPSERT_KEYS), space, list(plan.keys), list(plan.keys.values())
            )
        await db.execute(
            self._sql("UPDATE {s}.spaces SET usage = usage + $2 WHERE space = $1"),
            space,
            plan.size,
        )

    async def repair(
        self, space: SpaceId, log: LogId, key: bytes, from_seq: int, signature: bytes
    ) -> int:
        check_repair(space, log, key, from_seq, signature)
        async with self._locked(space, "repairing a log") as db:
            await self._space(db, space)
            positions = [(log, Seq(seq)) for seq in (from_seq - 1, from_seq) if seq >= 1]
            stored = await self._stored(db, space, positions)
            previous = stored.get((log, Seq(from_seq - 1)))
            check_junk(key, from_seq, stored.get((log, Seq(from_seq))), previous)
            dropped = await self._drop_from(db, space, log, from_seq, previous)
            await self._notify(db, "d", space, f" {log.hex()} {from_seq}")
        return dropped

    async def _drop_from(
        self, db: Any, space: SpaceId, log: LogId, from_seq: int, previous: bytes | None
    ) -> int:
        """Delete the log's entries from `from_seq` on; its head becomes `previous`."""
        count, size = await db.fetchrow(self._sql(_DROP_FROM), space, log, from_seq)
        await db.execute(
            self._sql("DELETE FROM {s}.content_keys WHERE space = $1 AND log = $2 AND seq >= $3"),
            space,
            log,
            from_seq,
        )
        await db.execute(
            self._sql("DELETE FROM {s}.heads WHERE space = $1 AND log = $2"), space, log
        )
        if previous is not None:
            await db.execute(
                self._sql("INSERT INTO {s}.heads(space, log, seq, hash) VALUES ($1, $2, $3, $4)"),
                space,
                log,
                from_seq - 1,
                entry_hash(previous),
            )
        await db.execute(
            self._sql("UPDATE {s}.spaces SET usage = usage - $2 WHERE space = $1"), space, size
        )
        return int(count)

    async def log_state(self, space: SpaceId, log: LogId) -> LogState:
        async with self._connection("reading a log") as db:
            return (await self._states(db, space, [log])).get(log, LogState())

    async def heads(self, space: SpaceId) -> Vector:
        async with self._connection("reading heads") as db:
            rows = await db.fetch(
                self._sql("SELECT log, seq FROM {s}.heads WHERE space = $1"), space
            )
        return {LogId(bytes(log)): int(seq) for log, seq in rows}

    async def since(
        self, space: SpaceId, have: Mapping[LogId, int], limit: int, max_bytes: int | None = None
    ) -> list[bytes]:
        logs, seqs = list(have), list(have.values())  # read now: `have` may change meanwhile
        if limit <= 0 or (max_bytes is not None and max_bytes <= 0):
            return []
        async with self._connection("reading entries") as db:
            if max_bytes is None:
                rows = await db.fetch(self._sql(_SINCE), space, logs, seqs, limit)
            else:
                query = self._sql(_SINCE_BOUNDED)
                rows = await db.fetch(query, space, logs, seqs, limit, max_bytes)
        return [bytes(row[0]) for row in rows]

    async def _stored_bytes(self, db: Any) -> int:
        total = await db.fetchval(self._sql("SELECT coalesce(sum(usage), 0) FROM {s}.spaces"))
        return int(total)

    async def usage(self, space: SpaceId) -> int:
        async with self._connection("reading usage") as db:
            usage = await db.fetchval(
                self._sql("SELECT usage FROM {s}.spaces WHERE space = $1"), space
            )
        return 0 if usage is None else int(usage)

    # -- invitations and escrows

    async def _held(self, db: Any, kind: str) -> int:
        held = await db.fetchval(self._sql("SELECT bytes FROM {s}.held WHERE kind = $1"), kind)
        return 0 if held is None else int(held)

    async def put_invitation(
        self,
        box: bytes,
        body: bytes,
        expires_at: float,
        now: float,
        writer: Writer = ANYONE,
        answer: bool = False,
    ) -> bool:
        async with self._turn("invitations", "storing an invitation") as db:
            freed = await db.fetchval(self._sql(_SWEEP_INVITATIONS), now)
            held = await self._held(db, "invitations") - int(freed)
            taken = await db.fetchval(
                self._sql("SELECT true FROM {s}.invitations WHERE box = $1"), box
            )
            if not taken:
                size = counted(body)
                mine = await db.fetchrow(
                    self._sql(_WRITER_INVITATIONS), writer.tag, writer.network, ROW_OVERHEAD
                )
                check_budget(Holdings(*map(int, mine)), Holdings(size, size), writer, "invitations")
                held = check_cap(held, size, self._caps.invitations, "invitations")
                await db.execute(
                    self._sql(
                        "INSERT INTO {s}.invitations"
                        "(box, body, counted, expires_at, writer, network, answer) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    ),
                    box,
                    body,
                    size,
                    expires_at,
                    writer.tag,
                    writer.network,
                    answer,
                )
            await db.execute(self._sql(_SET_HELD), "invitations", held)
        return not taken

    async def take_invitation(self, box: bytes, now: float) -> bytes | None:
        async with self._turn("invitations", "taking an invitation") as db:
            row = await db.fetchrow(self._sql(_TAKE_INVITATION), box, now, ROW_OVERHEAD)
            if row is None:
                return None
            held = await self._held(db, "invitations") - int(row[1]) + ROW_OVERHEAD
            await db.execute(self._sql(_SET_HELD), "invitations", held)
        return bytes(row[0])

    async def invitation_answerable(self, box: bytes, now: float) -> bool:
        async with self._connection("reading an invitation") as db:
            found = await db.fetchval(
                self._sql(
                    "SELECT 1 FROM {s}.invitations "
                    "WHERE box = $1 AND expires_at > $2 AND NOT answer"
                ),
                box,
                now,
            )
        return found is not None

    async def put_escrow(
        self,
        locator: bytes,
        blob: bytes,
        now: float,
        writer: Writer = ANYONE,
        fresh_since: float = NEVER_STALE,
    ) -> None:
        async with self._turn("escrows", "storing an escrow") as db:
            _count, freed = await db.fetchrow(self._sql(_SWEEP_ESCROWS), fresh_since)
            held = await self._held(db, "escrows") - int(freed)
            row = await db.fetchrow(
                self._sql("SELECT counted, writer, network FROM {s}.escrows WHERE locator = $1"),
                locator,
            )
            replaced = None if row is None else Placed(*map(int, row))
            tagged = await db.fetchrow(self._sql(_WRITER_ESCROWS), writer.tag, writer.network)
            tags = escrow_writer(Holdings(*map(int, tagged)), replaced, counted(blob), writer)
            old = 0 if replaced is None else replaced.counted
            held = check_cap(held, counted(blob) - old, self._caps.escrows, "escrows")
            await db.execute(self._sql(_PUT_ESCROW), locator, blob, counted(blob), *tags, now)
            await db.execute(self._sql(_SET_HELD), "escrows", held)

    async def escrow(self, locator: bytes, fresh_since: float = NEVER_STALE) -> bytes | None:
        async with self._connection("reading an escrow") as db:
            blob = await db.fetchval(
                self._sql("SELECT blob FROM {s}.escrows WHERE locator = $1 AND written_at >= $2"),
                locator,
                fresh_since,
            )
        return None if blob is None else bytes(blob)

    async def stale_escrows(self, fresh_since: float) -> int:
        async with self._connection("counting expired escrows") as db:
            count = await db.fetchval(
                self._sql("SELECT count(*) FROM {s}.escrows WHERE written_at < $1"), fresh_since
            )
        return int(count)

    async def collect_escrows(self, fresh_since: float) -> int:
        async with self._turn("escrows", "collecting escrows") as db:
            count, freed = await db.fetchrow(self._sql(_SWEEP_ESCROWS), fresh_since)
            held = await self._held(db, "escrows") - int(freed)
            await db.execute(self._sql(_SET_HELD), "escrows", held)
        return int(count)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _translated("closing"):
            try:  # waits for connections in use to come back...
                await asyncio.wait_for(self._pool.close(), CONNECT_TIMEOUT)
            except TimeoutError:  # ...but not for ever
                self._pool.terminate()

    # -- other instances' commits

    async def changes(self) -> AsyncGenerator[Change, None]:
        """Other instances' commits, as they are notified, until the caller stops iterating.
        A lost connection is reopened (backing off); each (re)connection yields Change(None)."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue()  # None: the connection died

        def on_notify(_db: object, _pid: int, _channel: str, payload: str) -> None:
            change = self._parse(payload)
            if change is not None:
                queue.put_nowait(change)

        def on_lost(_db: object) -> None:
            queue.put_nowait(None)

        listener: Any = None
        failures = 0
        try:
            while not self._closed:
                if listener is None:
                    try:
                        listener = await self._listen(on_notify, on_lost)
                    except StoreFailure as e:
                        delay = RELISTEN_DELAYS[min(failures, len(RELISTEN_DELAYS) - 1)]
                        log_warning(
                            "store.listen_failed", error=type(e.__cause__).__name__, retry=delay
                        )
                        failures += 1
                        await asyncio.sleep(delay)
                        continue
                    failures = 0
                    yield Change(None, rotated=True)
                change = await queue.get()
                if change is None:  # reconnect, then say that anything may have changed
                    log_warning("store.listen_lost")
                    listener = None
                else:
                    yield change
        finally:
            if listener is not None:
                listener.terminate()

    async def _listen(self, on_notify: Any, on_lost: Any) -> Any:
        with _translated("listening for other instances"):
            # Its own connection, not the pool's: a LISTEN lasts as long as the connection.
            listener = await asyncpg.connect(self._dsn, **_connect_options(self._instance))
            try:
                listener.add_termination_listener(on_lost)
                await listener.add_listener(self._channel, on_notify)
            except BaseException:
                listener.terminate()
                raise
        return listener

    def _parse(self, payload: str) -> Change | None:
        parts = payload.split(" ")
        if len(parts) < 3 or parts[2] == self._instance:
            return None
        kind, space_hex, _, *more = parts
        try:
            space = SpaceId(bytes.fromhex(space_hex))
            if kind == "d" and len(more) == 2:
                log, seq = LogId(bytes.fromhex(more[0])), Seq(int(more[1]))
                return Change(space, rotated=False, repaired=(log, seq))
        except ValueError:
            return None
        if kind in ("e", "r") and not more:
            return Change(space, rotated=kind == "r")
        return None


def _connect_options(instance: str) -> dict[str, Any]:
    settings = {
        # An Ack promises durability, even where the server's default is off.
        "synchronous_commit": "on",
        # Which instance a connection belongs to, for whoever reads pg_stat_activity.
        "application_name": f"tend-relay {instance}",
    }
    return {
        "server_settings": settings,
        "timeout": CONNECT_TIMEOUT,
        "command_timeout": COMMAND_TIMEOUT,
    }


def _lock_key(namespace: bytes, space: bytes) -> int:
    """A signed 64-bit advisory lock key for a space (per schema: stores apart do not wait)."""
    digest = hashlib.sha256(b"tend-relay\0" + namespace + b"\0" + space).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
