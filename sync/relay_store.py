"""The relay's storage: opaque entries per (space, log id, seq), and each space's capability hash.

Theory of operation
-------------------
The relay cannot open an entry. It reads only the plaintext header (tend.core.header, no keys)
and enforces what that allows, for every log of a space:

- an entry is at most MAX_ENTRY bytes, its header parses and names the space it is pushed to;
- seqs are contiguous from 1 and each entry's prev hash is the hash of the one before
  (tend.core.store.check_next, the same rule devices apply);
- the same bytes again at a stored (log, seq) are a no-op, so a device may re-send after a
  lost ack; different bytes there are a fork and are refused;
- a space holds at most `quota` bytes of entries (and rekey blobs).

`put` is atomic: a batch is stored whole or not at all, and it returns only after the commit,
so an Ack sent after it promises durability. Each refusal is its own exception carrying the
ErrorCode the relay sends back. A space is registered by the first device that names it with
create, and is then guarded by the SHA-256 of its capability; `rotate` replaces that hash and
files an opaque rekey blob under the old one (kept for good, so a device offline across several
rotations can follow them one by one; the blobs count toward the quota).

Every implementation passes one contract suite (tests/test_relay_store_contract.py). The API is
async so that an implementation over a network database (PostgreSQL) fits the same shape.

SQLite specifics: WAL with synchronous=FULL (a commit is fsynced), the file created mode 0600,
and every call runs on one dedicated worker thread, so the event loop never waits on an fsync
and the connection is only ever used from the thread that opened it. sqlite3 errors are
translated in one place (`_translated`) into StoreFailure.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, ParamSpec, Protocol, TypeVar

from tend.core.errors import ChainError, ProtocolError
from tend.core.header import MAX_ENTRY, Header, entry_hash
from tend.core.ids import LogId, Seq, SpaceId
from tend.core.store import check_next
from tend.sync.protocol import ErrorCode, Vector

DEFAULT_QUOTA = 256 << 20  # bytes of entries per space

P = ParamSpec("P")
T = TypeVar("T")


# --- errors -------------------------------------------------------------------------------------


class PushRefused(ProtocolError):
    """The store refused a whole batch; nothing of it was stored. `code` goes to the device."""

    code: ClassVar[ErrorCode] = ErrorCode.MALFORMED


class MalformedEntry(PushRefused):
    code = ErrorCode.MALFORMED


class EntryTooLarge(PushRefused):
    code = ErrorCode.TOO_LARGE


class SeqGap(PushRefused):
    code = ErrorCode.GAP


class LogFork(PushRefused):
    code = ErrorCode.FORK


class OverQuota(PushRefused):
    code = ErrorCode.QUOTA


class UnknownSpace(PushRefused):
    code = ErrorCode.UNKNOWN_SPACE


class StoreFailure(ProtocolError):
    """The database itself failed (disk, corruption, closed store): the relay's fault."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL


# --- the interface ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PutResult:
    """`stored`: entries of the batch now held (identical re-sends included, as the Ack says).
    `new`: the ones this call added, in batch order, for forwarding to live devices."""

    stored: int
    new: tuple[bytes, ...]


class RelayStore(Protocol):
    async def register(self, space: SpaceId, capability_hash: bytes) -> bool:
        """Claim an unknown space for this hash; False (and no change) if already registered."""

    async def capability_hash(self, space: SpaceId) -> bytes | None: ...

    async def rotate(self, space: SpaceId, capability_hash: bytes, rekey: bytes = b"") -> None:
        """Replace the space's hash (UnknownSpace if there is none), filing `rekey`, if any,
        under the hash replaced; its bytes count toward the quota (OverQuota)."""

    async def rekey(self, space: SpaceId, capability_hash: bytes) -> bytes | None:
        """What a rotation filed under this replaced hash; None if it is not one."""

    async def put(self, space: SpaceId, entries: Sequence[bytes]) -> PutResult:
        """Store a batch atomically and durably, or raise a PushRefused and store nothing."""

    async def heads(self, space: SpaceId) -> Vector:
        """{log id: highest stored seq}."""

    async def since(self, space: SpaceId, have: Mapping[bytes, int], limit: int) -> list[bytes]:
        """Up to `limit` entries above `have`, ordered by (log id, seq): one catch-up page."""

    async def usage(self, space: SpaceId) -> int:
        """Bytes of entries stored for the space (0 if unknown)."""

    async def close(self) -> None: ...


# --- checks shared by implementations -----------------------------------------------------------


def parse_entry(space: SpaceId, raw: bytes) -> Header:
    """The header of an entry pushed to `space`, or the refusal for it."""
    if len(raw) > MAX_ENTRY:
        raise EntryTooLarge(f"an entry is {len(raw)} bytes, over the {MAX_ENTRY} limit")
    try:
        header = Header.decode(raw)
    except ChainError as e:
        raise MalformedEntry(str(e)) from None
    if header.space != space:
        raise MalformedEntry("an entry names another space than the one it was pushed to")
    return header


def check_extends(
    head: tuple[Seq, bytes] | None, header: Header, raw: bytes, stored: bytes | None
) -> bool:
    """check_next, with its ChainError sorted into a gap or a fork for the device."""
    try:
        return check_next(head, header, raw, stored)
    except ChainError as e:
        last_seq = head[0] if head else 0
        is_gap = stored is None and header.seq != last_seq + 1
        raise (SeqGap if is_gap else LogFork)(str(e)) from None


# --- SQLite -------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (
    space BLOB PRIMARY KEY,
    capability_hash BLOB NOT NULL,
    usage INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rekeys (
    space BLOB NOT NULL,
    capability_hash BLOB NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (space, capability_hash)
);
CREATE TABLE IF NOT EXISTS heads (
    space BLOB NOT NULL,
    log BLOB NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (space, log)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    space BLOB NOT NULL,
    log BLOB NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (space, log, seq)
);
"""


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as e:
        raise StoreFailure(f"relay store: {what} failed ({e})") from e


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        # SQLite would create it (and its -wal and -shm, which copy its mode) world-readable.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    with _translated("opening the database"):
        db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: fsync the WAL on every commit, so an Ack means the entries survive a crash.
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
    return db


class SqliteRelayStore:
    """RelayStore on one SQLite file. Open with `await SqliteRelayStore.open(path)`."""

    def __init__(self, db: sqlite3.Connection, worker: ThreadPoolExecutor, quota: int) -> None:
        self._db = db
        self._worker = worker
        self._quota = quota
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, quota: int = DEFAULT_QUOTA) -> SqliteRelayStore:
        # One thread: sqlite3 connections belong to the thread that made them, and one writer
        # at a time is all SQLite allows anyway.
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tend-relay-db")
        try:
            db = await asyncio.get_running_loop().run_in_executor(worker, _connect, path)
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return cls(db, worker, quota)

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._closed:
            raise StoreFailure("relay store: it is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    async def register(self, space: SpaceId, capability_hash: bytes) -> bool:
        return await self._call(self._register, space, capability_hash)

    async def capability_hash(self, space: SpaceId) -> bytes | None:
        return await self._call(self._capability_hash, space)

    async def rotate(self, space: SpaceId, capability_hash: bytes, rekey: bytes = b"") -> None:
        await self._call(self._rotate, space, capability_hash, rekey)

    async def rekey(self, space: SpaceId, capability_hash: bytes) -> bytes | None:
        return await self._call(self._rekey, space, capability_hash)

    async def put(self, space: SpaceId, entries: Sequence[bytes]) -> PutResult:
        return await self._call(self._put, space, list(entries))

    async def heads(self, space: SpaceId) -> Vector:
        return await self._call(self._heads, space)

    async def since(self, space: SpaceId, have: Mapping[bytes, int], limit: int) -> list[bytes]:
        return await self._call(self._since, space, dict(have), limit)

    async def usage(self, space: SpaceId) -> int:
        return await self._call(self._usage, space)

    async def close(self) -> None:
        if self._closed:
            return
        await self._call(self._db.close)
        self._closed = True
        self._worker.shutdown(wait=True)

    # Everything below runs on the worker thread.

    def _register(self, space: SpaceId, capability_hash: bytes) -> bool:
        with _translated("registering a space"):
            cursor = self._db.execute(
                "INSERT INTO spaces(space, capability_hash) VALUES (?, ?) "
                "ON CONFLICT(space) DO NOTHING",
                (space, capability_hash),
            )
            return cursor.rowcount == 1

    def _capability_hash(self, space: SpaceId) -> bytes | None:
        with _translated("reading a space"):
            row = self._db.execute(
                "SELECT capability_hash FROM spaces WHERE space = ?", (space,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def _rotate(self, space: SpaceId, capability_hash: bytes, rekey: bytes) -> None:
        with _translated("rotating a capability"), self._transaction():
            row = self._db.execute(
                "SELECT capability_hash, usage FROM spaces WHERE space = ?", (space,)
            ).fetchone()
            if row is None:
                raise UnknownSpace("no such space on this relay")
            old_hash, usage = bytes(row[0]), int(row[1])
            if rekey:
                usage += len(rekey) - self._file_rekey(space, old_hash, rekey)
                if usage > self._quota:
                    raise OverQuota(f"the rekey would take the space over its {self._quota} bytes")
            self._db.execute(
                "UPDATE spaces SET capability_hash = ?, usage = ? WHERE space = ?",
                (capability_hash, usage, space),
            )

    def _file_rekey(self, space: SpaceId, old_hash: bytes, rekey: bytes) -> int:
        """File `rekey` under `old_hash`; the size of what it replaced there (0 if nothing)."""
        row = self._db.execute(
            "SELECT length(blob) FROM rekeys WHERE space = ? AND capability_hash = ?",
            (space, old_hash),
        ).fetchone()
        self._db.execute(
            "INSERT INTO rekeys(space, capability_hash, blob) VALUES (?, ?, ?) "
            "ON CONFLICT(space, capability_hash) DO UPDATE SET blob = excluded.blob",
            (space, old_hash, rekey),
        )
        return int(row[0]) if row else 0

    def _rekey(self, space: SpaceId, capability_hash: bytes) -> bytes | None:
        with _translated("reading a rekey"):
            row = self._db.execute(
                "SELECT blob FROM rekeys WHERE space = ? AND capability_hash = ?",
                (space, capability_hash),
            ).fetchone()
        return bytes(row[0]) if row else None

    def _put(self, space: SpaceId, entries: list[bytes]) -> PutResult:
        # Parse every header before touching the database: a malformed batch costs no lock.
        parsed = [(parse_entry(space, raw), raw) for raw in entries]
        with _translated("storing entries"), self._transaction():
            row = self._db.execute("SELECT usage FROM spaces WHERE space = ?", (space,)).fetchone()
            if row is None:
                raise UnknownSpace("no such space on this relay")
            new = self._extend(space, parsed)
            added = sum(len(raw) for raw in new)
            if row[0] + added > self._quota:
                raise OverQuota(
                    f"the space holds {row[0]} bytes; {added} more is over its {self._quota}"
                )
            if added:
                self._db.execute(
                    "UPDATE spaces SET usage = usage + ? WHERE space = ?", (added, space)
                )
        return PutResult(len(entries), tuple(new))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself failed (disk full): never leave the transaction open.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _extend(self, space: SpaceId, parsed: list[tuple[Header, bytes]]) -> list[bytes]:
        """Insert the entries that extend their logs; refuse the batch on any gap or fork."""
        heads: dict[LogId, tuple[Seq, bytes]] = {}
        new: list[bytes] = []
        for header, raw in parsed:
            row = self._db.execute(
                "SELECT entry FROM entries WHERE space = ? AND log = ? AND seq = ?",
                (space, header.log, header.seq),
            ).fetchone()
            head = heads.get(header.log) or self._head(space, header.log)
            if not check_extends(head, header, raw, bytes(row[0]) if row else None):
                continue
            digest = entry_hash(raw)
            self._db.execute(
                "INSERT INTO entries(space, log, seq, hash, entry) VALUES (?, ?, ?, ?, ?)",
                (space, header.log, header.seq, digest, raw),
            )
            heads[header.log] = (header.seq, digest)
            new.append(raw)
        for log, (seq, digest) in heads.items():
            self._db.execute(
                "INSERT INTO heads(space, log, seq, hash) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(space, log) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                (space, log, seq, digest),
            )
        return new

    def _head(self, space: SpaceId, log: LogId) -> tuple[Seq, bytes] | None:
        row = self._db.execute(
            "SELECT seq, hash FROM heads WHERE space = ? AND log = ?", (space, log)
        ).fetchone()
        return (Seq(row[0]), bytes(row[1])) if row else None

    def _heads(self, space: SpaceId) -> Vector:
        with _translated("reading heads"):
            rows = self._db.execute(
                "SELECT log, seq FROM heads WHERE space = ?", (space,)
            ).fetchall()
        return {bytes(log): int(seq) for log, seq in rows}

    def _since(self, space: SpaceId, have: dict[bytes, int], limit: int) -> list[bytes]:
        out: list[bytes] = []
        with _translated("reading entries"):
            logs = self._db.execute(
                "SELECT log, seq FROM heads WHERE space = ? ORDER BY log", (space,)
            ).fetchall()
            for log, head in logs:
                start = have.get(bytes(log), 0)
                if len(out) >= limit or head <= start:
                    continue
                rows = self._db.execute(
                    "SELECT entry FROM entries WHERE space = ? AND log = ? AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (space, log, start, limit - len(out)),
                ).fetchall()
                out.extend(bytes(r[0]) for r in rows)
        return out

    def _usage(self, space: SpaceId) -> int:
        with _translated("reading usage"):
            row = self._db.execute("SELECT usage FROM spaces WHERE space = ?", (space,)).fetchone()
        return int(row[0]) if row else 0
