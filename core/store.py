"""The local append-only log store: every device's entries as opaque bytes, plus small metadata.

Two implementations pass one contract suite (tests/test_store_contract.py): `MemoryLogStore` for
tests and tools, `SqliteLogStore` for devices. The store checks what it can without keys:
each log's seq is contiguous from 1 and each entry's header names the hash of the one before.
Appending a stored entry again with identical bytes is a no-op; different bytes at a stored seq
(a fork) or a gap is refused. The journal above checks envelopes and signatures.

SQLite specifics: WAL with synchronous=FULL, so an append that returned has been fsynced and
survives a crash or power loss; triggers make the database itself refuse UPDATE or DELETE of
entries; every sqlite3 exception is translated here.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tend.core.errors import ChainError, CorruptStore, StorageFull, TendError
from tend.core.header import GENESIS, Header, entry_hash
from tend.core.ids import LogId, Seq


@dataclass(frozen=True, slots=True)
class StoredEntry:
    rowid: int
    log: LogId
    seq: Seq
    hash: bytes
    entry: bytes
    received_at: int


Heads = dict[LogId, tuple[Seq, bytes]]


class LogStore(Protocol):
    def append(
        self, entries: Sequence[tuple[bytes, int]], meta: Mapping[str, bytes] | None = None
    ) -> int:
        """Append (entry bytes, received-at ms) atomically; return how many were new."""

    def heads(self) -> Heads: ...

    def head(self, log: LogId) -> tuple[Seq, bytes] | None: ...

    def since(self, rowid: int) -> Iterator[StoredEntry]:
        """Entries in local arrival order with rowid greater than `rowid`."""

    def log_entries(self, log: LogId) -> Iterator[StoredEntry]: ...

    def entry_at(self, log: LogId, seq: int) -> bytes | None:
        """The stored bytes at (log, seq), if any."""

    def count(self) -> int: ...

    def meta(self, key: str) -> bytes | None:
        """Metadata written with append. Values only ever grow (bytewise maximum): the one in
        use is the HLC as 8 big-endian bytes, which two processes must never move backwards."""

    def snapshot(self) -> tuple[int, bytes] | None: ...

    def save_snapshot(self, upto: int, blob: bytes) -> None: ...

    def close(self) -> None: ...


def check_next(
    head: tuple[Seq, bytes] | None, header: Header, raw: bytes, stored: bytes | None
) -> bool:
    """True if `raw` extends the log; False if it is already stored; ChainError otherwise."""
    if stored is not None:
        if stored != raw:
            raise ChainError(
                f"log {header.log.hex()[:8]} seq {header.seq}: a different entry is "
                "already stored at this position (fork)"
            )
        return False
    last_seq, last_hash = head if head else (0, GENESIS)
    if header.seq != last_seq + 1:
        raise ChainError(
            f"log {header.log.hex()[:8]}: expected seq {last_seq + 1}, got {header.seq} (gap)"
        )
    if header.prev_hash != last_hash:
        raise ChainError(
            f"log {header.log.hex()[:8]} seq {header.seq}: does not follow the "
            "entry before it (broken chain)"
        )
    return True


class MemoryLogStore:
    def __init__(self) -> None:
        self._rows: list[StoredEntry] = []
        self._by_pos: dict[tuple[LogId, int], StoredEntry] = {}
        self._heads: Heads = {}
        self._meta: dict[str, bytes] = {}
        self._snapshot: tuple[int, bytes] | None = None

    def append(
        self, entries: Sequence[tuple[bytes, int]], meta: Mapping[str, bytes] | None = None
    ) -> int:
        heads = dict(self._heads)
        new: list[StoredEntry] = []
        for raw, received in entries:
            header = Header.decode(raw)
            old = self._by_pos.get((header.log, header.seq))
            pending = next(
                (e.entry for e in new if (e.log, e.seq) == (header.log, header.seq)), None
            )
            if not check_next(heads.get(header.log), header, raw, old.entry if old else pending):
                continue
            digest = entry_hash(raw)
            new.append(
                StoredEntry(
                    len(self._rows) + len(new) + 1, header.log, header.seq, digest, raw, received
                )
            )
            heads[header.log] = (header.seq, digest)
        for row in new:
            self._rows.append(row)
            self._by_pos[(row.log, row.seq)] = row
        self._heads = heads
        for key, value in (meta or {}).items():
            self._meta[key] = max(self._meta.get(key, value), value)
        return len(new)

    def heads(self) -> Heads:
        return dict(self._heads)

    def head(self, log: LogId) -> tuple[Seq, bytes] | None:
        return self._heads.get(log)

    def since(self, rowid: int) -> Iterator[StoredEntry]:
        return iter(self._rows[rowid:])

    def log_entries(self, log: LogId) -> Iterator[StoredEntry]:
        return iter(sorted((r for r in self._rows if r.log == log), key=lambda r: r.seq))

    def entry_at(self, log: LogId, seq: int) -> bytes | None:
        row = self._by_pos.get((log, seq))
        return row.entry if row else None

    def count(self) -> int:
        return len(self._rows)

    def meta(self, key: str) -> bytes | None:
        return self._meta.get(key)

    def snapshot(self) -> tuple[int, bytes] | None:
        return self._snapshot

    def save_snapshot(self, upto: int, blob: bytes) -> None:
        self._snapshot = (upto, blob)

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    rowid INTEGER PRIMARY KEY,
    log_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    entry BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (log_id, seq)
);
CREATE TRIGGER IF NOT EXISTS entries_are_append_only_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'tend entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_are_append_only_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'tend entries are append-only'); END;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL, blob BLOB NOT NULL
);
"""


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except TendError:
        raise
    except sqlite3.DatabaseError as e:
        # Classify by SQLite's own error code: a full or failing disk is not tampering.
        code = getattr(e, "sqlite_errorname", "") or ""
        if code.startswith(("SQLITE_FULL", "SQLITE_IOERR")):
            raise StorageFull(
                f"{what}: the disk refused the write ({e}); nothing was recorded"
            ) from e
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            raise TendError(
                f"{what}: the journal is busy in another tend process; try again"
            ) from e
        if code.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM")):
            raise TendError(f"{what}: cannot write the journal file ({e})") from e
        raise CorruptStore(f"{what}: the journal file is damaged ({e})") from e


class SqliteLogStore:
    def __init__(self, path: Path) -> None:
        if not path.exists():
            # SQLite would create it (and its -wal and -shm, which copy its mode) world-readable.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        with _translated("opening the journal"):
            self._db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: fsync the WAL on every commit, so "recorded" means durable.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    def append(
        self, entries: Sequence[tuple[bytes, int]], meta: Mapping[str, bytes] | None = None
    ) -> int:
        with _translated("recording"):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                added = self._append_locked(entries)
                for key, value in (meta or {}).items():
                    db.execute(
                        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) "
                        "DO UPDATE SET value = max(value, excluded.value)",
                        (key, value),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return added

    def _append_locked(self, entries: Sequence[tuple[bytes, int]]) -> int:
        added = 0
        heads: Heads = {}
        for raw, received in entries:
            header = Header.decode(raw)
            row = self._db.execute(
                "SELECT entry FROM entries WHERE log_id = ? AND seq = ?", (header.log, header.seq)
            ).fetchone()
            head = heads.get(header.log) or self.head(header.log)
            if not check_next(head, header, raw, row[0] if row else None):
                continue
            digest = entry_hash(raw)
            self._db.execute(
                "INSERT INTO entries(log_id, seq, hash, entry, received_at) VALUES (?, ?, ?, ?, ?)",
                (header.log, header.seq, digest, raw, received),
            )
            heads[header.log] = (header.seq, digest)
            added += 1
        return added

    def heads(self) -> Heads:
        with _translated("reading the journal"):
            rows = self._db.execute(
                "SELECT log_id, MAX(seq), hash FROM entries GROUP BY log_id"
            ).fetchall()
        return {LogId(log): (Seq(seq), digest) for log, seq, digest in rows}

    def head(self, log: LogId) -> tuple[Seq, bytes] | None:
        with _translated("reading the journal"):
            row = self._db.execute(
                "SELECT seq, hash FROM entries WHERE log_id = ? ORDER BY seq DESC LIMIT 1", (log,)
            ).fetchone()
        return (Seq(row[0]), row[1]) if row else None

    def _rows(self, sql: str, args: tuple[object, ...]) -> Iterator[StoredEntry]:
        with _translated("reading the journal"):
            rows = self._db.execute(sql, args).fetchall()
        for rowid, log, seq, digest, raw, received in rows:
            yield StoredEntry(rowid, LogId(log), Seq(seq), digest, raw, received)

    def since(self, rowid: int) -> Iterator[StoredEntry]:
        return self._rows(
            "SELECT rowid, log_id, seq, hash, entry, received_at FROM entries "
            "WHERE rowid > ? ORDER BY rowid",
            (rowid,),
        )

    def log_entries(self, log: LogId) -> Iterator[StoredEntry]:
        return self._rows(
            "SELECT rowid, log_id, seq, hash, entry, received_at FROM entries "
            "WHERE log_id = ? ORDER BY seq",
            (log,),
        )

    def entry_at(self, log: LogId, seq: int) -> bytes | None:
        with _translated("reading the journal"):
            row = self._db.execute(
                "SELECT entry FROM entries WHERE log_id = ? AND seq = ?", (log, seq)
            ).fetchone()
        return bytes(row[0]) if row else None

    def count(self) -> int:
        with _translated("reading the journal"):
            return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def meta(self, key: str) -> bytes | None:
        with _translated("reading the journal"):
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def snapshot(self) -> tuple[int, bytes] | None:
        with _translated("reading the journal"):
            row = self._db.execute("SELECT upto, blob FROM snapshot WHERE id = 1").fetchone()
        return (int(row[0]), row[1]) if row else None

    def save_snapshot(self, upto: int, blob: bytes) -> None:
        with _translated("saving the view cache"):
            self._db.execute(
                "INSERT INTO snapshot(id, upto, blob) VALUES (1, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET upto = excluded.upto, "
                "blob = excluded.blob",
                (upto, blob),
            )

    def close(self) -> None:
        self._db.close()
