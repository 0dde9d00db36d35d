"""The local append-only log store: every device's entries as opaque bytes, plus small metadata.

Two implementations pass one contract suite (tests/test_store_contract.py): `MemoryLogStore` for
tests and tools, `SqliteLogStore` for devices. The store checks what it can without keys:
each log's seq is contiguous from 1 and each entry's header names the hash of the one before.
Appending a stored entry again with identical bytes is a no-op; different bytes at a stored seq
(a fork) or a gap is refused. The journal above checks envelopes and signatures.

Beside each entry a person writes, the store keeps its key record (core/log/forgetting.py: the
wrapped content key and the hash of its forget token) in a table of its own, the one thing a
store ever erases: forgetting an entry's words erases its key record and nothing in the log.

SQLite specifics: WAL with synchronous=FULL, so an append that returned has been fsynced and
survives a crash or power loss; triggers make the database itself refuse UPDATE or DELETE of
entries; `secure_delete` is on, so an erased key record is overwritten with zeros rather than
left in a free page, and an erase ends with a checkpoint that empties the WAL of older copies;
every sqlite3 exception is translated here.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

from tend.core.errors import ChainError, CorruptStore, StorageFull, TendError
from tend.core.ids import LogId, Seq
from tend.core.log.header import GENESIS, HASH_LEN, Header, entry_hash


@dataclass(frozen=True, slots=True)
class StoredEntry:
    rowid: int
    log: LogId
    seq: Seq
    hash: bytes
    entry: bytes
    received_at: int
    key: bytes | None = None  # its key record, if it has one and it was not erased


Heads = dict[LogId, tuple[Seq, bytes]]
Position = tuple[LogId, int]


class LogStore(Protocol):
    def append(
        self,
        entries: Sequence[tuple[bytes, int]],
        meta: Mapping[str, bytes] | None = None,
        replace: Mapping[str, bytes] | None = None,
        keys: Mapping[Position, bytes] | None = None,
        known: Sequence[tuple[Header, bytes]] | None = None,
    ) -> int:
        """Append (entry bytes, received-at ms) atomically; return how many were new. `meta`
        values only grow (bytewise maximum); `replace` values are set as they are; `keys` are
        key records for entries of the batch (or already stored) that have none yet; all in the
        same transaction as the entries. `known`, when the caller has worked them out, are the
        entries' headers and hashes, in the same order (a store may use them or not)."""

    def heads(self) -> Heads: ...

    def head(self, log: LogId) -> tuple[Seq, bytes] | None: ...

    def since(self, rowid: int) -> Iterator[StoredEntry]:
        """Entries in local arrival order with rowid greater than `rowid`."""

    def hashes_since(self, rowid: int) -> list[tuple[int, bytes]]:
        """(rowid, hash) of the entries `since(rowid)` would give, without their bytes: what
        a reader holding them opened already needs to know which rows they are."""

    def log_entries(self, log: LogId, after: int = 0) -> Iterator[StoredEntry]:
        """The log's stored entries above seq `after`, in seq order."""

    def entry_at(self, log: LogId, seq: int) -> bytes | None:
        """The stored bytes at (log, seq), if any."""

    def hash_at(self, log: LogId, seq: int) -> bytes | None:
        """The stored hash at (log, seq), if any."""

    def count(self) -> int: ...

    def meta(self, key: str) -> bytes | None:
        """Metadata written with append. Values only ever grow (bytewise maximum): the one in
        use is the HLC as 8 big-endian bytes, which two processes must never move backwards."""

    def replace_meta(self, key: str, value: bytes, *, durable: bool = True) -> None:
        """Set a metadata value outright (to repair a damaged one, or for values that may
        shrink, such as what a relay was last seen to hold). With `durable` false the write is
        not flushed to the disk on its own (it is with the next durable one), for a value whose
        loss in a power cut costs nothing but a second guess."""

    def reseal(
        self, log: LogId, entries: Sequence[bytes], keys: Mapping[Position, bytes] | None = None
    ) -> None:
        """Replace the tail of `log` with `entries` (same seqs, to its end), atomically, and
        their key records with `keys` (re-wrapped for the new entries).

        The one exception to append-only, for this device's own entries that never left it:
        re-sealed under a newer key epoch after a device was removed. The new tail must chain
        from the entry before it; the received times and the order of rows stay as they were.
        """

    def snapshot(self) -> tuple[int, bytes] | None: ...

    def save_snapshot(self, upto: int, blob: bytes) -> None: ...

    def membership_snapshot(self) -> tuple[int, bytes] | None:
        """The view cache's membership items alone, sealed: what a read of who is here opens
        instead of every item (core/views/read_model.py)."""

    def save_membership_snapshot(self, upto: int, blob: bytes) -> None: ...

    def key_at(self, log: LogId, seq: int) -> bytes | None:
        """The key record stored for (log, seq), if any."""

    def put_keys(self, keys: Mapping[Position, bytes], *, replace: bool = False) -> int:
        """Store key records for stored entries (never for an entry not held); without
        `replace`, only where none is stored. Returns how many were written."""

    def erase_keys(self, positions: Sequence[Position], snapshot: tuple[int, bytes]) -> int:
        """Erase these key records and replace the view cache's snapshot, in one transaction,
        leaving no copy behind in free pages or the WAL. Returns how many were erased."""

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


def check_reseal(
    before: tuple[Seq, bytes] | None, old_seqs: Sequence[int], entries: Sequence[bytes]
) -> list[tuple[Header, bytes]]:
    """The new tail's headers, if it replaces exactly `old_seqs` and chains from `before`."""
    headers = [Header.decode(raw) for raw in entries]
    if [h.seq for h in headers] != list(old_seqs) or not headers:
        raise ChainError("a re-sealed tail must replace the same entries, to the end of the log")
    head = before
    for header, raw in zip(headers, entries, strict=True):
        check_next(head, header, raw, None)
        head = (header.seq, entry_hash(raw))
    return list(zip(headers, entries, strict=True))


class MemoryLogStore:
    def __init__(self) -> None:
        self._rows: list[StoredEntry] = []
        self._by_pos: dict[tuple[LogId, int], StoredEntry] = {}
        self._heads: Heads = {}
        self._meta: dict[str, bytes] = {}
        self._snapshot: tuple[int, bytes] | None = None
        self._membership_snapshot: tuple[int, bytes] | None = None
        self._keys: dict[Position, bytes] = {}

    def append(
        self,
        entries: Sequence[tuple[bytes, int]],
        meta: Mapping[str, bytes] | None = None,
        replace: Mapping[str, bytes] | None = None,
        keys: Mapping[Position, bytes] | None = None,
        known: Sequence[tuple[Header, bytes]] | None = None,
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
        self._meta.update(replace or {})
        self.put_keys(keys or {})
        return len(new)

    def heads(self) -> Heads:
        return dict(self._heads)

    def head(self, log: LogId) -> tuple[Seq, bytes] | None:
        return self._heads.get(log)

    def since(self, rowid: int) -> Iterator[StoredEntry]:
        return (self._keyed(r) for r in self._rows[rowid:])

    def hashes_since(self, rowid: int) -> list[tuple[int, bytes]]:
        return [(r.rowid, r.hash) for r in self._rows[rowid:]]

    def log_entries(self, log: LogId, after: int = 0) -> Iterator[StoredEntry]:
        rows = sorted(
            (r for r in self._rows if r.log == log and r.seq > after), key=lambda r: r.seq
        )
        return (self._keyed(r) for r in rows)

    def _keyed(self, row: StoredEntry) -> StoredEntry:
        key = self._keys.get((row.log, row.seq))
        return row if key is None else dataclasses.replace(row, key=key)

    def entry_at(self, log: LogId, seq: int) -> bytes | None:
        row = self._by_pos.get((log, seq))
        return row.entry if row else None

    def hash_at(self, log: LogId, seq: int) -> bytes | None:
        row = self._by_pos.get((log, seq))
        return row.hash if row else None

    def count(self) -> int:
        return len(self._rows)

    def meta(self, key: str) -> bytes | None:
        return self._meta.get(key)

    def replace_meta(self, key: str, value: bytes, *, durable: bool = True) -> None:
        self._meta[key] = value

    def reseal(
        self, log: LogId, entries: Sequence[bytes], keys: Mapping[Position, bytes] | None = None
    ) -> None:
        first = Header.decode(entries[0]).seq if entries else 0
        old = list(self.log_entries(log, first - 1))
        before = self._by_pos.get((log, first - 1))
        checked = check_reseal(
            (before.seq, before.hash) if before else None, [r.seq for r in old], entries
        )
        for row, (_header, raw) in zip(old, checked, strict=True):
            new = StoredEntry(row.rowid, log, row.seq, entry_hash(raw), raw, row.received_at)
            self._rows[row.rowid - 1] = new
            self._by_pos[(log, row.seq)] = new
        last = self._by_pos[(log, checked[-1][0].seq)]
        self._heads[log] = (last.seq, last.hash)
        self.put_keys(keys or {}, replace=True)

    def snapshot(self) -> tuple[int, bytes] | None:
        return self._snapshot

    def save_snapshot(self, upto: int, blob: bytes) -> None:
        self._snapshot = (upto, blob)

    def membership_snapshot(self) -> tuple[int, bytes] | None:
        return self._membership_snapshot

    def save_membership_snapshot(self, upto: int, blob: bytes) -> None:
        self._membership_snapshot = (upto, blob)

    def key_at(self, log: LogId, seq: int) -> bytes | None:
        return self._keys.get((log, seq))

    def put_keys(self, keys: Mapping[Position, bytes], *, replace: bool = False) -> int:
        written = 0
        for (log, seq), record in keys.items():
            if (log, seq) in self._by_pos and (replace or (log, seq) not in self._keys):
                self._keys[(LogId(log), seq)] = record
                written += 1
        return written

    def erase_keys(self, positions: Sequence[Position], snapshot: tuple[int, bytes]) -> int:
        erased = sum(1 for p in positions if self._keys.pop(p, None) is not None)
        self._snapshot = snapshot
        return erased

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
CREATE TABLE IF NOT EXISTS heads (
    log_id BLOB PRIMARY KEY, seq INTEGER NOT NULL, hash BLOB NOT NULL
) WITHOUT ROWID;
-- Set only inside SqliteLogStore.reseal's transaction: the one time an entry's bytes may change.
CREATE TABLE IF NOT EXISTS resealing (log_id BLOB PRIMARY KEY);
CREATE TRIGGER IF NOT EXISTS entries_are_append_only_update BEFORE UPDATE ON entries
WHEN NOT EXISTS (SELECT 1 FROM resealing WHERE log_id = OLD.log_id)
BEGIN SELECT RAISE(ABORT, 'tend entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_keep_their_place BEFORE UPDATE OF rowid, log_id, seq,
received_at ON entries
BEGIN SELECT RAISE(ABORT, 'tend entries keep their place'); END;
CREATE TRIGGER IF NOT EXISTS entries_are_append_only_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'tend entries are append-only'); END;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL, blob BLOB NOT NULL
);
-- The snapshot's membership items alone (who is here, no words anyone wrote), sealed the same
-- way: a sync with nothing new reads the roster from it instead of opening every item.
CREATE TABLE IF NOT EXISTS membership_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL, blob BLOB NOT NULL
);
-- Key records (wrapped content keys), apart from the entries: the one thing ever erased.
CREATE TABLE IF NOT EXISTS content_keys (
    log_id BLOB NOT NULL, seq INTEGER NOT NULL, record BLOB NOT NULL, PRIMARY KEY (log_id, seq)
) WITHOUT ROWID;
"""

# The view cache's two snapshots (core/views/read_model.py), each one row of its own table.
CacheTable = Literal["snapshot", "membership_snapshot"]
_READ_CACHE: dict[CacheTable, str] = {
    t: f"SELECT upto, blob FROM {t} WHERE id = 1"  # noqa: S608 (the two names above)
    for t in get_args(CacheTable)
}
_SAVE_CACHE: dict[CacheTable, str] = {
    t: f"INSERT INTO {t}(id, upto, blob) VALUES (1, ?, ?) "  # noqa: S608 (the two names above)
    "ON CONFLICT(id) DO UPDATE SET upto = excluded.upto, blob = excluded.blob"
    for t in get_args(CacheTable)
}

_ENTRY_COLUMNS = (
    "SELECT e.rowid, e.log_id, e.seq, e.hash, e.entry, e.received_at, k.record FROM entries AS e "
    "LEFT JOIN content_keys AS k ON k.log_id = e.log_id AND k.seq = e.seq "
)
_PUT_KEY = (
    "INSERT INTO content_keys(log_id, seq, record) SELECT ?, ?, ? "
    "WHERE EXISTS (SELECT 1 FROM entries WHERE log_id = ? AND seq = ?) "
)


_WAL_TO_EMPTY = "wal.to_empty"  # an erase found the WAL held up by a reader: empty it later
_REPLACE_META = (
    "INSERT INTO meta(key, value) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)


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
            # An erased content key must not linger in a free page (core/crypto/shred.py).
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
            self._settle_wal()

    def _empty_wal(self, attempts: int) -> bool:
        """Copy the WAL into the file and empty it; False if readers held it up every time
        (each attempt waits for them as long as the busy timeout)."""
        for _ in range(attempts):
            row = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if row is not None and row[0] == 0:
                return True
        return False

    def _settle_wal(self) -> None:
        """Empty a WAL an erase could not: it may still hold a key record as first written."""
        if self.meta(_WAL_TO_EMPTY) is not None and self._empty_wal(1):
            self._db.execute("DELETE FROM meta WHERE key = ?", (_WAL_TO_EMPTY,))
            self._empty_wal(1)

    def append(
        self,
        entries: Sequence[tuple[bytes, int]],
        meta: Mapping[str, bytes] | None = None,
        replace: Mapping[str, bytes] | None = None,
        keys: Mapping[Position, bytes] | None = None,
        known: Sequence[tuple[Header, bytes]] | None = None,
    ) -> int:
        with _translated("recording"):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                added = self._append_locked(entries, known)
                for key, value in (meta or {}).items():
                    db.execute(
                        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) "
                        "DO UPDATE SET value = max(value, excluded.value)",
                        (key, value),
                    )
                for key, value in (replace or {}).items():
                    db.execute(_REPLACE_META, (key, value))
                self._put_keys_locked(keys or {}, replace=False)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # a full disk may have rolled it back already
                    db.execute("ROLLBACK")
                raise
            return added

    def _append_locked(
        self, entries: Sequence[tuple[bytes, int]], known: Sequence[tuple[Header, bytes]] | None
    ) -> int:
        heads: Heads = {}
        rows: list[tuple[LogId, Seq, bytes, bytes, int]] = []
        batch: dict[Position, bytes] = {}  # what this batch adds, inserted together at the end
        for index, (raw, received) in enumerate(entries):
            header, digest = known[index] if known else (Header.decode(raw), entry_hash(raw))
            head = heads.get(header.log) or self.head(header.log)
            # Past its log's head nothing can be stored yet (logs are stored contiguously):
            # only a seq at or under it needs the look for a duplicate or a fork.
            stored = batch.get((header.log, header.seq))
            if stored is None and head is not None and header.seq <= head[0]:
                row = self._db.execute(
                    "SELECT entry FROM entries WHERE log_id = ? AND seq = ?",
                    (header.log, header.seq),
                ).fetchone()
                stored = row[0] if row else None
            if not check_next(head, header, raw, stored):
                continue
            batch[(header.log, header.seq)] = raw
            rows.append((header.log, header.seq, digest, raw, received))
            heads[header.log] = (header.seq, digest)
        self._db.executemany(
            "INSERT INTO entries(log_id, seq, hash, entry, received_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        self._db.executemany(
            "INSERT INTO heads(log_id, seq, hash) VALUES (?, ?, ?) ON CONFLICT(log_id) "
            "DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            [(log, seq, digest) for log, (seq, digest) in heads.items()],
        )
        return len(rows)

    def heads(self) -> Heads:
        with _translated("reading the journal"):
            rows = self._db.execute("SELECT log_id, seq, hash FROM heads").fetchall()
        return dict(_head_row(row) for row in rows)

    def head(self, log: LogId) -> tuple[Seq, bytes] | None:
        with _translated("reading the journal"):
            row = self._db.execute(
                "SELECT log_id, seq, hash FROM heads WHERE log_id = ?", (log,)
            ).fetchone()
        return _head_row(row)[1] if row else None

    def _rows(self, sql: str, args: tuple[object, ...]) -> Iterator[StoredEntry]:
        with _translated("reading the journal"):
            rows = self._db.execute(sql, args).fetchall()
        for row in rows:
            yield _entry_row(row)

    def since(self, rowid: int) -> Iterator[StoredEntry]:
        return self._rows(_ENTRY_COLUMNS + "WHERE e.rowid > ? ORDER BY e.rowid", (rowid,))

    def hashes_since(self, rowid: int) -> list[tuple[int, bytes]]:
        with _translated("reading the journal"):
            rows = self._db.execute(
                "SELECT rowid, hash FROM entries WHERE rowid > ? ORDER BY rowid", (rowid,)
            ).fetchall()
        return [(_int(r), _blob(h)) for r, h in rows]

    def log_entries(self, log: LogId, after: int = 0) -> Iterator[StoredEntry]:
        # Only the tail asked for: a sync reads what its own log holds past the relay's copy.
        return self._rows(
            _ENTRY_COLUMNS + "WHERE e.log_id = ? AND e.seq > ? ORDER BY e.seq", (log, after)
        )

    def entry_at(self, log: LogId, seq: int) -> bytes | None:
        with _translated("reading the journal"):
            row = self._db.execute(
                "SELECT entry FROM entries WHERE log_id = ? AND seq = ?", (log, seq)
            ).fetchone()
        return _blob(row[0]) if row else None

    def hash_at(self, log: LogId, seq: int) -> bytes | None:
        with _translated("reading the journal"):
            row = self._db.execute(
                "SELECT hash FROM entries WHERE log_id = ? AND seq = ?", (log, seq)
            ).fetchone()
        return _blob(row[0], HASH_LEN) if row else None

    def count(self) -> int:
        with _translated("reading the journal"):
            return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def meta(self, key: str) -> bytes | None:
        with _translated("reading the journal"):
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        # A value that is not bytes (a damaged or hand-edited file) reads as damaged bytes, so
        # the caller's own check of its shape sees it and repairs it.
        return (row[0] if isinstance(row[0], bytes) else b"") if row else None

    def replace_meta(self, key: str, value: bytes, *, durable: bool = True) -> None:
        with _translated("saving the journal's metadata"):
            if durable:
                self._db.execute(_REPLACE_META, (key, value))
                return
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute(_REPLACE_META, (key, value))
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def reseal(
        self, log: LogId, entries: Sequence[bytes], keys: Mapping[Position, bytes] | None = None
    ) -> None:
        if not entries:
            return
        first = Header.decode(entries[0]).seq
        with _translated("re-sealing this device's unsent entries"):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                old = [r.seq for r in self.log_entries(log, first - 1)]
                before = db.execute(
                    "SELECT seq, hash FROM entries WHERE log_id = ? AND seq = ?", (log, first - 1)
                ).fetchone()
                checked = check_reseal((before[0], before[1]) if before else None, old, entries)
                db.execute("INSERT INTO resealing(log_id) VALUES (?)", (log,))
                for header, raw in checked:
                    db.execute(
                        "UPDATE entries SET entry = ?, hash = ? WHERE log_id = ? AND seq = ?",
                        (raw, entry_hash(raw), log, header.seq),
                    )
                db.execute("DELETE FROM resealing WHERE log_id = ?", (log,))
                db.execute(
                    "UPDATE heads SET hash = ? WHERE log_id = ?", (entry_hash(entries[-1]), log)
                )
                self._put_keys_locked(keys or {}, replace=True)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # a full disk may have rolled it back already
                    db.execute("ROLLBACK")
                raise

    def snapshot(self) -> tuple[int, bytes] | None:
        return self._cache("snapshot")

    def save_snapshot(self, upto: int, blob: bytes) -> None:
        self._save_cache("snapshot", upto, blob)

    def membership_snapshot(self) -> tuple[int, bytes] | None:
        return self._cache("membership_snapshot")

    def save_membership_snapshot(self, upto: int, blob: bytes) -> None:
        self._save_cache("membership_snapshot", upto, blob)

    def _cache(self, table: CacheTable) -> tuple[int, bytes] | None:
        with _translated("reading the journal"):
            row = self._db.execute(_READ_CACHE[table]).fetchone()
        if row is None or not isinstance(row[0], int) or not isinstance(row[1], bytes):
            return None  # only a cache: a damaged one is rebuilt
        return (row[0], row[1])

    def _save_cache(self, table: CacheTable, upto: int, blob: bytes) -> None:
        with _translated("saving the view cache"):
            self._db.execute(
                _SAVE_CACHE[table],
                (upto, blob),
            )

    def key_at(self, log: LogId, seq: int) -> bytes | None:
        with _translated("reading the journal"):
            row = self._db.execute(
                "SELECT record FROM content_keys WHERE log_id = ? AND seq = ?", (log, seq)
            ).fetchone()
        return row[0] if row and isinstance(row[0], bytes) else None

    def put_keys(self, keys: Mapping[Position, bytes], *, replace: bool = False) -> int:
        if not keys:
            return 0
        with _translated("recording"):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                written = self._put_keys_locked(keys, replace=replace)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # a full disk may have rolled it back already
                    db.execute("ROLLBACK")
                raise
            return written

    def _put_keys_locked(self, keys: Mapping[Position, bytes], *, replace: bool) -> int:
        conflict = (
            "ON CONFLICT(log_id, seq) DO UPDATE SET record = excluded.record"
            if replace
            else "ON CONFLICT(log_id, seq) DO NOTHING"
        )
        before = self._db.total_changes
        self._db.executemany(
            _PUT_KEY + conflict,
            [(log, seq, record, log, seq) for (log, seq), record in keys.items()],
        )
        return self._db.total_changes - before

    def erase_keys(self, positions: Sequence[Position], snapshot: tuple[int, bytes]) -> int:
        with _translated("forgetting"):
            self._settle_wal()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                erased = 0
                for log, seq in positions:
                    cursor = db.execute(
                        "DELETE FROM content_keys WHERE log_id = ? AND seq = ?", (log, seq)
                    )
                    erased += max(cursor.rowcount, 0)
                db.execute(
                    "INSERT INTO snapshot(id, upto, blob) VALUES (1, ?, ?) ON CONFLICT(id) "
                    "DO UPDATE SET upto = excluded.upto, blob = excluded.blob",
                    snapshot,
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # a full disk may have rolled it back already
                    db.execute("ROLLBACK")
                raise
            # Copy the zeroed pages into the file and empty the WAL, which still held them. A
            # reader in another process holds that up: wait for it, and if it outlasts every
            # attempt, say so in the file, so the next open (or erase) empties it.
            if not self._empty_wal(3):
                db.execute(_REPLACE_META, (_WAL_TO_EMPTY, b"1"))
            return erased

    def close(self) -> None:
        self._db.close()


def _blob(value: object, size: int | None = None) -> bytes:
    """A stored byte string, checked: a row edited to hold text or a number is damage."""
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise CorruptStore("the journal file is damaged (a stored value has the wrong type)")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CorruptStore("the journal file is damaged (a stored number is not a number)")
    return value


def _head_row(row: tuple[object, ...]) -> tuple[LogId, tuple[Seq, bytes]]:
    log, seq, digest = row
    return LogId(_blob(log, 16)), (Seq(_int(seq)), _blob(digest, HASH_LEN))


def _entry_row(row: tuple[object, ...]) -> StoredEntry:
    rowid, log, seq, digest, raw, received, key = row
    # One check per column, inline: this runs for every entry a view opens.
    if not (
        type(raw) is bytes
        and type(log) is bytes
        and type(digest) is bytes
        and type(seq) is int
        and type(rowid) is int
        and type(received) is int
        and len(log) == 16
        and len(digest) == HASH_LEN
    ):
        raise CorruptStore("the journal file is damaged (a stored value has the wrong type)")
    record = key if type(key) is bytes else None
    return StoredEntry(rowid, LogId(log), Seq(seq), digest, raw, received, record)
