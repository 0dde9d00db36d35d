"""One contract for every LogStore: MemoryLogStore (tests, tools) and SqliteLogStore (devices).

Entries are real ones (tend.core.crypto.entry.build with real keys), so the store sees exactly the
bytes a device writes. SQLite-only rules (the database refuses edits, data survives a reopen, a
damaged file is reported as CorruptStore) follow the shared contract.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tend.core.crypto import keys
from tend.core.crypto.entry import build
from tend.core.errors import ChainError, CorruptStore
from tend.core.ids import LogId, Seq, SpaceId, new_space_id
from tend.core.log.header import GENESIS, Header, entry_hash, first_header, log_id_of
from tend.core.log.store import LogStore, MemoryLogStore, SqliteLogStore, StoredEntry


@dataclass(frozen=True)
class Writer:
    """One device's log: builds real, signed, sealed, chained entries."""

    space: SpaceId
    key: bytes
    seed: bytes
    epoch: int = 1

    @property
    def log(self) -> LogId:
        return log_id_of(keys.signing_public(self.seed))

    def entry(self, seq: int, prev: bytes, event: bytes = b"event") -> bytes:
        if seq == 1:
            header = first_header(self.space, keys.signing_public(self.seed), self.epoch)
        else:
            header = Header(self.space, self.log, Seq(seq), self.epoch, prev)
        return build(header, event + b"#" + str(seq).encode(), self.seed, self.key)

    def chain(self, n: int, event: bytes = b"event") -> list[bytes]:
        out: list[bytes] = []
        prev = GENESIS
        for seq in range(1, n + 1):
            raw = self.entry(seq, prev, event)
            out.append(raw)
            prev = entry_hash(raw)
        return out


@pytest.fixture
def space() -> SpaceId:
    return new_space_id()


@pytest.fixture
def key() -> bytes:
    return keys.new_key()


@pytest.fixture
def alice(space: SpaceId, key: bytes) -> Writer:
    return Writer(space, key, keys.new_signing_seed())


@pytest.fixture
def bob(space: SpaceId, key: bytes) -> Writer:
    return Writer(space, key, keys.new_signing_seed())


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogStore]:
    made: LogStore = (
        MemoryLogStore() if request.param == "memory" else SqliteLogStore(tmp_path / "journal.db")
    )
    yield made
    made.close()


def stored(rowid: int, raw: bytes, received_at: int) -> StoredEntry:
    header = Header.decode(raw)
    return StoredEntry(rowid, header.log, header.seq, entry_hash(raw), raw, received_at)


def everything(store: LogStore) -> tuple[list[StoredEntry], dict[LogId, tuple[Seq, bytes]], int]:
    return list(store.since(0)), store.heads(), store.count()


# --- appending and reading back -----------------------------------------------------------------


def test_empty_store_has_no_heads_entries_meta_or_snapshot(store: LogStore, alice: Writer) -> None:
    assert everything(store) == ([], {}, 0)
    assert store.head(alice.log) is None
    assert list(store.log_entries(alice.log)) == []
    assert store.meta("hlc") is None
    assert store.snapshot() is None


def test_append_then_heads_head_count_since_and_log_entries_report_it(
    store: LogStore, alice: Writer, bob: Writer
) -> None:
    a1, a2 = alice.chain(2)
    (b1,) = bob.chain(1)

    assert store.append([(a1, 10), (b1, 20)]) == 2
    assert store.append([(a2, 30)]) == 1

    assert store.heads() == {alice.log: (2, entry_hash(a2)), bob.log: (1, entry_hash(b1))}
    assert store.head(alice.log) == (2, entry_hash(a2))
    assert store.head(bob.log) == (1, entry_hash(b1))
    assert store.count() == 3
    assert list(store.since(0)) == [stored(1, a1, 10), stored(2, b1, 20), stored(3, a2, 30)]
    assert list(store.log_entries(alice.log)) == [stored(1, a1, 10), stored(3, a2, 30)]
    assert list(store.log_entries(bob.log)) == [stored(2, b1, 20)]


def test_since_is_local_arrival_order_after_the_given_row(
    store: LogStore, alice: Writer, bob: Writer
) -> None:
    a1, a2, a3 = alice.chain(3)
    b1, b2 = bob.chain(2)
    # Bob's log arrives first although Alice's entries are older: arrival order is kept.
    store.append([(b1, 5), (b2, 6)])
    store.append([(a1, 1), (a2, 2)])
    store.append([(a3, 3)])

    assert [s.entry for s in store.since(0)] == [b1, b2, a1, a2, a3]
    assert [s.entry for s in store.since(2)] == [a1, a2, a3]
    assert [s.entry for s in store.since(4)] == [a3]
    assert list(store.since(5)) == []
    assert [s.rowid for s in store.since(0)] == [1, 2, 3, 4, 5]


def test_hashes_since_names_the_rows_since_gives_without_their_bytes(
    store: LogStore, alice: Writer, bob: Writer
) -> None:
    bobs, alices = bob.chain(2), alice.chain(3)
    store.append([(raw, 1) for raw in bobs])
    store.append([(raw, 2) for raw in alices])

    for after in range(6):
        assert store.hashes_since(after) == [(s.rowid, s.hash) for s in store.since(after)]
    assert store.hashes_since(0) == [
        (rowid, entry_hash(raw)) for rowid, raw in enumerate([*bobs, *alices], start=1)
    ]


def test_a_batch_may_extend_a_log_it_started_and_repeat_an_entry(
    store: LogStore, alice: Writer
) -> None:
    a1, a2, a3 = alice.chain(3)

    assert store.append([(a1, 1), (a2, 2), (a2, 2), (a3, 3)]) == 3

    assert everything(store) == (
        [stored(1, a1, 1), stored(2, a2, 2), stored(3, a3, 3)],
        {alice.log: (3, entry_hash(a3))},
        3,
    )


def test_reappending_identical_bytes_is_a_no_op_returning_zero(
    store: LogStore, alice: Writer
) -> None:
    a1, a2 = alice.chain(2)
    store.append([(a1, 1), (a2, 2)])
    before = everything(store)

    assert store.append([(a1, 99)]) == 0
    assert store.append([(a1, 99), (a2, 99)]) == 0

    assert everything(store) == before  # received_at of the first arrival is kept


def test_a_batch_mixing_stored_and_new_entries_counts_only_the_new(
    store: LogStore, alice: Writer
) -> None:
    a1, a2, a3 = alice.chain(3)
    store.append([(a1, 1)])

    assert store.append([(a1, 7), (a2, 8), (a3, 9)]) == 2

    assert list(store.since(0)) == [stored(1, a1, 1), stored(2, a2, 8), stored(3, a3, 9)]


# --- refusals -------------------------------------------------------------------------------------


def test_different_bytes_at_a_stored_seq_is_a_fork_and_stores_nothing(
    store: LogStore, alice: Writer
) -> None:
    a1, a2 = alice.chain(2)
    store.append([(a1, 1), (a2, 2)])
    before = everything(store)
    fork = alice.entry(2, entry_hash(a1), b"other")
    assert fork != a2

    with pytest.raises(ChainError, match=r"seq 2: .*\(fork\)"):
        store.append([(fork, 3)])

    assert everything(store) == before


def test_a_gap_in_seq_is_refused(store: LogStore, alice: Writer) -> None:
    a1, _a2, a3 = alice.chain(3)
    store.append([(a1, 1)])
    before = everything(store)

    with pytest.raises(ChainError, match=r"expected seq 2, got 3 \(gap\)"):
        store.append([(a3, 3)])

    assert everything(store) == before


def test_a_log_must_start_at_seq_one(store: LogStore, alice: Writer) -> None:
    _a1, a2 = alice.chain(2)

    with pytest.raises(ChainError, match=r"expected seq 1, got 2 \(gap\)"):
        store.append([(a2, 2)])

    assert everything(store) == ([], {}, 0)


def test_a_wrong_prev_hash_is_refused(store: LogStore, alice: Writer) -> None:
    (a1,) = alice.chain(1)
    store.append([(a1, 1)])
    before = everything(store)
    stray = alice.entry(2, bytes(range(32)))

    with pytest.raises(ChainError, match=r"seq 2: does not follow .*\(broken chain\)"):
        store.append([(stray, 2)])

    assert everything(store) == before


def test_a_first_entry_must_carry_the_key_its_log_id_derives_from(
    store: LogStore, alice: Writer, bob: Writer
) -> None:
    (a1,) = alice.chain(1)
    stray = a1[:45] + keys.signing_public(bob.seed) + a1[77:]  # bob's key in alice's log

    with pytest.raises(ChainError, match="the log id is not the one its key owns"):
        store.append([(stray, 1)])

    assert everything(store) == ([], {}, 0)


def test_an_entry_too_short_to_be_one_is_refused(store: LogStore, alice: Writer) -> None:
    (a1,) = alice.chain(1)

    with pytest.raises(ChainError, match="impossible size"):
        store.append([(a1[:100], 1)])

    assert everything(store) == ([], {}, 0)


@pytest.mark.parametrize("bad", ["gap", "fork", "broken chain"])
def test_a_batch_with_a_later_bad_entry_stores_none_of_it_nor_its_meta(
    store: LogStore, alice: Writer, bob: Writer, bad: str
) -> None:
    a1, a2, a3, a4 = alice.chain(4)
    (b1,) = bob.chain(1)
    store.append([(a1, 1)], meta={"hlc": b"old"})
    before = everything(store)
    later = {
        "gap": alice.entry(5, entry_hash(a4)),
        "fork": alice.entry(1, GENESIS, b"forked"),
        "broken chain": alice.entry(4, bytes(32)),
    }[bad]

    with pytest.raises(ChainError, match=bad):
        store.append([(b1, 2), (a2, 3), (a3, 4), (later, 5)], meta={"hlc": b"new"})

    assert everything(store) == before
    assert store.meta("hlc") == b"old"
    # The refused batch left the store usable: the good part can be appended on its own.
    assert store.append([(b1, 2), (a2, 3), (a3, 4)]) == 3
    assert store.heads() == {alice.log: (3, entry_hash(a3)), bob.log: (1, entry_hash(b1))}


# --- meta and snapshot ---------------------------------------------------------------------------


def test_meta_is_written_in_the_same_append_and_overwritten_by_later_ones(
    store: LogStore, alice: Writer
) -> None:
    a1, a2 = alice.chain(2)

    store.append([(a1, 1)], meta={"hlc": b"\x00\x01", "other": b"x"})
    assert (store.meta("hlc"), store.meta("other"), store.meta("absent")) == (
        b"\x00\x01",
        b"x",
        None,
    )

    store.append([(a2, 2)], meta={"hlc": b"\x00\x02"})
    assert (store.meta("hlc"), store.meta("other")) == (b"\x00\x02", b"x")

    assert store.append([], meta={"hlc": b"\x00\x03"}) == 0
    assert store.meta("hlc") == b"\x00\x03"
    assert store.count() == 2


def test_snapshot_save_then_load_returns_the_latest(store: LogStore) -> None:
    store.save_snapshot(3, b"first")
    assert store.snapshot() == (3, b"first")

    store.save_snapshot(7, b"second")
    assert store.snapshot() == (7, b"second")


# --- SQLite only ---------------------------------------------------------------------------------


def _fill(path: Path, alice: Writer, bob: Writer) -> list[StoredEntry]:
    a1, a2 = alice.chain(2)
    (b1,) = bob.chain(1)
    store = SqliteLogStore(path)
    store.append([(a1, 1), (b1, 2), (a2, 3)], meta={"hlc": b"h"})
    store.save_snapshot(2, b"snap")
    rows = list(store.since(0))
    store.close()
    return rows


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE entries SET entry = x'00' WHERE rowid = 1",
        "UPDATE entries SET received_at = 0",
        "DELETE FROM entries WHERE rowid = 2",
        "DELETE FROM entries",
    ],
)
def test_the_sqlite_database_itself_refuses_to_change_or_delete_entries(
    tmp_path: Path, alice: Writer, bob: Writer, statement: str
) -> None:
    path = tmp_path / "journal.db"
    rows = _fill(path, alice, bob)

    raw = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match=r"append-only|keep their place"):
            raw.execute(statement)
        raw.rollback()
    finally:
        raw.close()

    reopened = SqliteLogStore(path)
    try:
        assert list(reopened.since(0)) == rows
    finally:
        reopened.close()


def test_sqlite_data_survives_close_and_reopen(tmp_path: Path, alice: Writer, bob: Writer) -> None:
    path = tmp_path / "journal.db"
    rows = _fill(path, alice, bob)

    store = SqliteLogStore(path)
    try:
        assert list(store.since(0)) == rows
        assert store.heads() == {alice.log: (2, rows[2].hash), bob.log: (1, rows[1].hash)}
        assert store.meta("hlc") == b"h"
        assert store.snapshot() == (2, b"snap")
        # The chain continues from what was stored before the reopen.
        following = alice.entry(3, rows[2].hash)
        assert store.append([(following, 4)]) == 1
        assert store.count() == 4
    finally:
        store.close()


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database, it is a shopping list\n" * 40,
        b"SQLite format 3\x00" + bytes(range(256)) * 8,
    ],
)
def test_a_file_that_is_not_a_database_raises_corrupt_store(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "journal.db"
    path.write_bytes(content)

    with pytest.raises(CorruptStore):
        opened = SqliteLogStore(path)
        try:
            opened.count()
        finally:
            opened.close()


def test_metadata_never_moves_backwards(store: LogStore, alice: Writer) -> None:
    a1, a2 = alice.chain(2)
    store.append([(a1, 1)], meta={"hlc": (500).to_bytes(8, "big")})
    store.append([(a2, 2)], meta={"hlc": (400).to_bytes(8, "big")})
    assert store.meta("hlc") == (500).to_bytes(8, "big")


def test_entry_at_finds_exactly_the_stored_bytes(store: LogStore, alice: Writer) -> None:
    a1, a2 = alice.chain(2)
    store.append([(a1, 1), (a2, 2)])
    log = Header.decode(a1).log
    assert (store.entry_at(log, 1), store.entry_at(log, 2), store.entry_at(log, 3)) == (
        a1,
        a2,
        None,
    )


# --- re-sealing this device's unsent tail, the one exception to append-only --------------------


def test_reseal_swaps_a_tail_for_one_that_chains_in_its_place(
    store: LogStore, alice: Writer, bob: Writer
) -> None:
    old = alice.chain(3)
    store.append([(old[0], 1), (bob.chain(1)[0], 2), (old[1], 3), (old[2], 4)])
    rows_before = {r.rowid: (r.log, r.seq, r.received_at) for r in store.since(0)}
    newer = Writer(alice.space, alice.key, alice.seed, epoch=2)
    tail = [newer.entry(2, entry_hash(old[0]))]
    tail.append(newer.entry(3, entry_hash(tail[0])))

    store.reseal(alice.log, tail)

    assert [r.entry for r in store.log_entries(alice.log)] == [old[0], *tail]
    assert store.head(alice.log) == (3, entry_hash(tail[1]))
    assert {r.rowid: (r.log, r.seq, r.received_at) for r in store.since(0)} == rows_before


@pytest.mark.parametrize("wrong", ["short", "unchained", "other log"])
def test_reseal_refuses_a_tail_that_does_not_replace_the_same_entries_and_changes_nothing(
    store: LogStore, alice: Writer, bob: Writer, wrong: str
) -> None:
    old = alice.chain(3)
    store.append([(raw, n) for n, raw in enumerate(old, 1)])
    before = everything(store)
    newer = Writer(alice.space, alice.key, alice.seed, epoch=2)
    two = newer.entry(2, entry_hash(old[0]))
    tail = {
        "short": [two],  # leaves seq 3 behind
        "unchained": [two, newer.entry(3, bytes(32))],
        "other log": bob.chain(3)[1:],
    }[wrong]

    with pytest.raises(ChainError):
        store.reseal(alice.log, tail)

    assert everything(store) == before


def test_outside_reseal_the_database_still_refuses_to_change_an_entry(
    tmp_path: Path, alice: Writer, bob: Writer
) -> None:
    path = tmp_path / "journal.db"
    _fill(path, alice, bob)
    raw = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="keep their place"):
            raw.execute("UPDATE entries SET seq = 9 WHERE rowid = 1")
        raw.rollback()
    finally:
        raw.close()


def test_a_damaged_meta_value_is_read_as_damaged_bytes_and_can_be_repaired(
    tmp_path: Path, alice: Writer
) -> None:
    path = tmp_path / "journal.db"
    store = SqliteLogStore(path)
    (a1,) = alice.chain(1)
    store.append([(a1, 1)], meta={"hlc": (5).to_bytes(8, "big")})
    store.close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET value = 'not bytes' WHERE key = 'hlc'")
    raw.commit()
    raw.close()

    store = SqliteLogStore(path)
    try:
        assert store.meta("hlc") == b""
        store.replace_meta("hlc", (7).to_bytes(8, "big"))
        assert store.meta("hlc") == (7).to_bytes(8, "big")
    finally:
        store.close()


def test_a_stored_row_with_text_where_bytes_belong_is_reported_as_damage(
    tmp_path: Path, alice: Writer
) -> None:
    path = tmp_path / "journal.db"
    store = SqliteLogStore(path)
    store.append([(alice.chain(1)[0], 1)])
    store.close()
    raw = sqlite3.connect(path)
    raw.execute("DROP TRIGGER entries_are_append_only_update")
    raw.execute("UPDATE entries SET entry = 'text, not bytes'")
    raw.commit()
    raw.close()

    store = SqliteLogStore(path)
    try:
        with pytest.raises(CorruptStore, match="wrong type"):
            list(store.since(0))
    finally:
        store.close()


# --- key records beside entries ---------------------------------------------------------------


def test_key_records_are_kept_only_beside_held_entries_and_come_with_them(
    store: LogStore, alice: Writer
) -> None:
    a1, a2 = alice.chain(2)
    record = bytes(range(80))
    store.append([(a1, 1)], keys={(alice.log, 1): record, (alice.log, 2): b"not held yet"})
    assert store.key_at(alice.log, 1) == record
    assert store.key_at(alice.log, 2) is None  # no entry there: nothing kept
    assert [s.key for s in store.since(0)] == [record]
    store.append([(a2, 2)])
    assert store.put_keys({(alice.log, 1): bytes(80)}) == 0  # one is there: kept as it is
    assert [s.key for s in store.log_entries(alice.log)] == [record, None]


def test_erasing_key_records_replaces_the_snapshot_and_leaves_the_log_whole(
    store: LogStore, alice: Writer
) -> None:
    a1, a2 = alice.chain(2)
    store.append([(a1, 1), (a2, 2)], keys={(alice.log, 1): bytes(80), (alice.log, 2): bytes(80)})
    heads = store.heads()
    assert store.erase_keys([(alice.log, 1), (alice.log, 9)], (2, b"re-sealed")) == 1
    assert store.key_at(alice.log, 1) is None and store.key_at(alice.log, 2) == bytes(80)
    assert store.snapshot() == (2, b"re-sealed")
    assert store.heads() == heads and [s.entry for s in store.since(0)] == [a1, a2]


def test_an_erased_key_record_leaves_no_copy_in_the_database_files(
    tmp_path: Path, alice: Writer
) -> None:
    store = SqliteLogStore(tmp_path / "journal.db")
    [a1] = alice.chain(1)
    record = b"\x5a" * 16 + bytes(range(64))
    store.append([(a1, 1)], keys={(alice.log, 1): record})
    other = sqlite3.connect(tmp_path / "journal.db")  # the record reaches the file itself
    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other.close()
    assert record in (tmp_path / "journal.db").read_bytes()
    store.erase_keys([(alice.log, 1)], (1, b"snapshot"))
    # Read while the store is still open, as a copy of the device's files would be.
    held = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    store.close()
    assert record not in held
