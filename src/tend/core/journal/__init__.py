"""A device's journal: its keys, its local log store and the events it can read.

`Journal.create` starts a new space (the couple's shared journal) on this device; `Journal.open`
opens an existing home. `record` turns a validated payload into a signed, sealed, hash-chained
entry and returns only once it is durably stored. `items` is everything this device can read
that counts (core/trust/engine.py), in merge order (HLC, log id, seq), served from the sealed view
cache and topped up from the log.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tend.core import clock
from tend.core.crypto import keys, keystore, passphrase
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event
from tend.core.domain.events import DeviceAdded, Event, Payload, PersonNamed
from tend.core.errors import (
    AlreadyInitialised,
    ChainError,
    NotInitialised,
    UnreadableEntry,
)
from tend.core.fsutil import ensure_private_dir
from tend.core.ids import EventId, LogId, Seq, event_id_at, new_space_id
from tend.core.journal.keyring import BINDING_META, DB_NAME, Keyring, open_bound
from tend.core.journal.mapper import EntryMapper, Readable, item_of
from tend.core.log.header import Header
from tend.core.log.store import LogStore, SqliteLogStore
from tend.core.views import read_model
from tend.core.views.read_model import Item

if TYPE_CHECKING:
    # The trust engine is loaded by what reads (views, sync, verify), not by recording: a
    # check-in as a whole process stays quick.
    from tend.core.trust import engine as trust

SNAPSHOT_EVERY = 200
# The kinds of entry the trust engine reads (core/trust/engine.py), and with names and rotations,
# the kinds that say who is here: new entries a read may fold in before it re-seals the view cache.
FACTS = frozenset({"device.added", "device.removed", "person.lost", "person.here"})
MEMBERSHIP = FACTS | {"person.named", "key.rotated"}
HLC_BYTES = 8
SEEN_META = "seen"  # the seen-vector this device last signed into an entry
Clock = Callable[[], dt.datetime]
Body = Payload | Callable[[EventId], Payload]  # a payload, or one made from the event's own id


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _hlc_bytes(hlc: int) -> bytes:
    return hlc.to_bytes(HLC_BYTES, "big")


def _seen_bytes(seen: tuple[tuple[LogId, int], ...]) -> bytes:
    return b"".join(log + seq.to_bytes(8, "big") for log, seq in seen)


class Journal:
    def __init__(
        self,
        home: Path,
        device: DeviceKeys,
        store: LogStore,
        now: Clock = _now,
        *,
        lock: passphrase.Lock | None = None,
    ) -> None:
        self.home = home
        self.store = store
        self.now = now
        self.keyring = Keyring(home, device, store, lock)
        self.mapper = EntryMapper(device)
        self._items: list[Item] | None = None
        self._membership: list[Item] = []
        self._opened: dict[bytes, Item] = {}
        self._acked: dict[tuple[LogId, int], dict[LogId, int]] = {}  # see acked()
        self._roster: tuple[tuple[int, int], trust.Roster] | None = None
        self._visible: tuple[tuple[int, int], list[Item]] | None = None
        self._log_keys: dict[LogId, bytes] = {}
        self._facts: tuple[int, list[trust.Fact]] | None = None
        self._upto = 0

    # --- lifecycle -------------------------------------------------------------------------

    @staticmethod
    def exists(home: Path) -> bool:
        return (home / keystore.FILE_NAME).exists()

    @classmethod
    def create(
        cls,
        home: Path,
        name: str,
        *,
        lock: passphrase.Lock | None = None,
        label: str = "",
        now: Clock = _now,
    ) -> Journal:
        """A new journal, a new person (their identity from a fresh root) and this device."""
        if cls.exists(home):
            raise AlreadyInitialised(f"there is already a journal in {home}")
        root = keys.new_root()
        person = keys.PersonSecrets.from_root(root)
        # The root (the recovery phrase) is kept only until the person has seen it once: whoever
        # holds it can bring a device in as this person (core/trust/recovery.py).
        device = DeviceKeys.generate(new_space_id(), person, root)
        PersonNamed(person=device.person, name=name)  # validate before touching the disk
        device.settings["relay_epoch"] = device.epoch
        return cls.begin(home, device, lock, label=label, name=name, now=now)

    @classmethod
    def begin(
        cls,
        home: Path,
        device: DeviceKeys,
        lock: passphrase.Lock | None,
        *,
        label: str,
        name: str | None,
        recovery: bytes = b"",
        now: Clock | None = None,
    ) -> Journal:
        """A new journal for `device` in `home`: its first entries, then its device file.

        The first entry of every log is the device's own claim of who it is (a `device.added`
        with its person's certificate), signed with the key the log id derives from."""
        ensure_private_dir(home)
        for stale in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
            # Left by a set-up that was interrupted before its device file was written:
            # nothing in it was ever acknowledged, and without the keys it cannot be read.
            (home / stale).unlink(missing_ok=True)
        journal = cls(home, device, SqliteLogStore(home / DB_NAME), now or _now, lock=lock)
        journal.record(journal.own_claim(label, recovery))
        if name:
            journal.record(PersonNamed(person=device.person, name=name))
        # The device file is written last: a crash before this leaves no half-made journal.
        journal.keyring.save_first()
        return journal

    @classmethod
    def open(cls, home: Path, *, lock: passphrase.Lock | None = None, now: Clock = _now) -> Journal:
        if not cls.exists(home):
            raise NotInitialised(f"no journal in {home} yet; start one with: tend init --name NAME")
        device, store = open_bound(home, lock, lambda: SqliteLogStore(home / DB_NAME))
        # The lock is kept to re-save the device file (settings, rotations) unasked.
        return cls(home, device, store, now, lock=lock)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def own_claim(self, label: str = "", recovery: bytes = b"") -> DeviceAdded:
        device = self.device
        return DeviceAdded(
            sign_pub=device.sign_public,
            dh_pub=device.dh_public,
            identity=device.identity,
            cert=device.cert(),
            label=label,
            recovery=recovery,
        )

    # --- writing ---------------------------------------------------------------------------

    def record(
        self,
        body: Body,
        *,
        private: bool = False,
        supersedes: EventId | None = None,
        on: dt.date | None = None,
    ) -> Event:
        """Append one event to this device's log; returns once it is durable.

        `on` is the day the entry is about when that is not today (a check-in for yesterday,
        or the day of the entry a correction replaces). `body` may be a function of the new
        event's id, for an entry that creates something (a joy idea, a goal) whose id is its own.
        """
        for _attempt in range(3):
            try:
                return self._record_once(body, private, supersedes, on)
            except ChainError:
                continue  # another tend process appended first; build on its entry
        raise ChainError("the journal kept changing underneath; try again")

    def _record_once(
        self, body: Body, private: bool, supersedes: EventId | None, on: dt.date | None
    ) -> Event:
        when = self.now()
        wall_ms = int(when.timestamp() * 1000)
        hlc = clock.tick(self.last_hlc(wall_ms), wall_ms)
        head = self.store.head(self.device.log)
        seq = head[0] + 1 if head else 1
        event_id = event_id_at(self.device.log, seq)
        payload = body(event_id) if callable(body) else body
        offset = when.utcoffset() or dt.timedelta(0)
        ev = Event(
            id=event_id,
            author=self.device.person,
            device=self.device.log,
            hlc=hlc,
            wall_ms=wall_ms,
            local_date=(on or when.date()).isoformat(),
            tz_minutes=int(offset.total_seconds() // 60),
            body=payload,
            supersedes=supersedes,
            seen=self._seen(),
        )
        raw = self.mapper.to_entry(ev, head, private=private)
        said = {SEEN_META: _seen_bytes(ev.seen)} if ev.seen else None  # with the entry, or not
        self.store.append([(raw, wall_ms)], meta={"hlc": _hlc_bytes(hlc)}, replace=said)
        return ev

    def _seen(self) -> tuple[tuple[LogId, int], ...]:
        """What this device holds of every other log, signed into what it writes; only when it
        changed since this device's last entry (a claim once made stays true), to keep entries
        small."""
        own = self.device.log
        now = tuple(
            sorted((log, int(seq)) for log, (seq, _h) in self.store.heads().items() if log != own)
        )
        return () if self.store.meta(SEEN_META) == _seen_bytes(now) else now

    def last_hlc(self, now_ms: int | None = None) -> int:
        """The newest clock this device issued or saw; a damaged value is repaired, not kept.

        Stored values only grow, so one far in the future (or not 8 bytes) would otherwise stop
        this device from ever writing an entry its partner accepts."""
        raw = self.store.meta("hlc")
        if raw is None:
            return 0
        if now_ms is None:
            now_ms = int(self.now().timestamp() * 1000)
        if (
            len(raw) == HLC_BYTES
            and clock.wall_of(int.from_bytes(raw, "big")) <= now_ms + clock.MAX_SKEW_MS
        ):
            return int.from_bytes(raw, "big")
        sane = [i.hlc for i in self.items() if clock.wall_of(i.hlc) <= now_ms + clock.MAX_SKEW_MS]
        repaired = max(sane, default=0)
        self.store.replace_meta("hlc", _hlc_bytes(repaired))
        return repaired

    # --- reading ---------------------------------------------------------------------------

    def all_items(self) -> list[Item]:
        """Every stored event this device can read, in merge order (before the roster's say)."""
        if self._items is None:
            self._items, self._upto = self._load_snapshot()
            self._membership = [i for i in self._items if i.type in MEMBERSHIP]
        fresh = [
            (s.rowid, self._opened.get(s.hash) or self.item_of(s.entry, s.received_at))
            for s in self.store.since(self._upto)
        ]
        self._opened.clear()
        if fresh:
            self._merge([item for _rowid, item in fresh])
            self._upto = fresh[-1][0]
            if len(fresh) >= SNAPSHOT_EVERY:
                self.store.save_snapshot(
                    self._upto,
                    read_model.seal_snapshot(self.device.local_key, self._upto, self._items),
                )
        return self._items

    def items(self) -> list[Item]:
        """Every event that counts, in merge order: entries the roster no longer admits (a
        device's after its removal, all of a forked log, all of a device nobody who counts
        brought in) stay stored but are not shown."""
        everything = self.all_items()
        key = (len(everything), len(self._membership))
        if self._visible is not None and self._visible[0] == key:
            return self._visible[1]
        roster = self.roster()
        # Usually every stored log counts to its head and nothing is filtered. A log whose
        # device was removed (after a cut-off), was forked, or is no longer brought in by
        # anyone who counts keeps its entries stored, but they are not shown.
        ended = {
            log for log, (seq, _h) in self.store.heads().items() if not roster.admits(log, seq)
        }
        visible = (
            [i for i in everything if i.log not in ended or roster.admits(i.log, i.seq)]
            if ended
            else everything
        )
        self._visible = (key, visible)
        return visible

    def _merge(self, fresh: list[Item]) -> None:
        assert self._items is not None
        fresh.sort(key=lambda i: i.order)
        self._membership.extend(i for i in fresh if i.type in MEMBERSHIP)
        self._membership.sort(key=lambda i: i.order)
        if not self._items or fresh[0].order >= self._items[-1].order:
            self._items.extend(fresh)  # the usual case: what is new sorts last
        elif len(fresh) < 64:
            for item in fresh:
                bisect.insort(self._items, item, key=lambda i: i.order)
        else:
            self._items.extend(fresh)
            self._items.sort(key=lambda i: i.order)

    def membership(self) -> list[Item]:
        """Stored items that say who is here: devices added and removed, names, key rotations."""
        self.all_items()
        return self._membership

    def facts(self) -> list[trust.Fact]:
        """The membership facts of what is stored (the roster decides which still count)."""
        from tend.core.trust import engine as trust

        membership = self.membership()
        if self._facts is None or self._facts[0] != len(membership):
            out = []
            for item in membership:
                if item.type in FACTS:
                    fact = trust.fact_of(decode_event(item.raw), item.seq)
                    if fact is not None:
                        out.append(fact)
            self._facts = (len(membership), out)
        return self._facts[1]

    def roster(self) -> trust.Roster:
        """Who may write here now: the trust engine over what this device holds."""
        from tend.core.trust import engine as trust

        membership = self.membership()
        key = (len(membership), len(self.device.anchors))
        if self._roster is None or self._roster[0] != key:
            built = trust.build(
                self.device.space,
                self.device.trust_anchors(),
                self.facts(),
                self.store.hash_at,
                self.acked,
            )
            self._roster = (key, built)
        return self._roster[1]

    def acked(self, log: LogId, seq: int, target: LogId) -> int:
        """The highest seq of `target` that `log`'s entries up to `seq` signed as seen. Asked
        only about removals of a lost person's device (rare), and a log's prefix never changes,
        so each answer is worked out once."""
        key = (log, seq)
        found = self._acked.get(key)
        if found is None:
            found, whole = self._seen_in_prefix(log, seq)
            if whole:  # kept only once the whole prefix is here (ingest asks before it is)
                self._acked[key] = found
        return found.get(target, 0)

    def _seen_in_prefix(self, log: LogId, seq: int) -> tuple[dict[LogId, int], bool]:
        out: dict[LogId, int] = {}
        for at in range(1, seq + 1):
            raw = self.store.entry_at(log, at)
            if raw is None:
                return out, False
            try:
                seen = self.read_entry(raw).outer.seen
            except UnreadableEntry:
                continue  # under a key this device does not hold: it says nothing here
            for other, held in seen:
                out[other] = max(out.get(other, 0), held)
        return out, True

    def remember_opened(self, digest: bytes, item: Item) -> None:
        """An entry about to be appended that ingest has already opened (no need twice)."""
        self._opened[digest] = item

    def _load_snapshot(self) -> tuple[list[Item], int]:
        snap = self.store.snapshot()
        if snap is not None:
            items = read_model.open_snapshot(self.device.local_key, snap[1], snap[0])
            if items is not None:
                return items, snap[0]
        return [], 0

    def forget_views(self) -> None:
        """Drop what is cached in memory (after this device's own entries were re-sealed)."""
        self._items, self._upto, self._visible, self._roster = None, 0, None, None
        self._facts = None

    def log_key(self, log: LogId) -> bytes | None:
        """A log's public key, from its first entry (held here), or None."""
        if log not in self._log_keys:
            first = self.store.entry_at(log, 1)
            if first is None:
                return None
            key = Header.decode(first).log_key
            assert key is not None
            self._log_keys[log] = key
        return self._log_keys[log]

    def read_entry(self, raw: bytes) -> Readable:
        """Open one stored or received entry (core/journal/mapper.py)."""
        return self.mapper.to_readable(raw)

    def item_of(self, raw: bytes, received_at: int) -> Item:
        return item_of(self.read_entry(raw), received_at)

    def events(self, items: Iterable[Item] | None = None) -> list[Event]:
        return [decode_event(i.raw) for i in (self.items() if items is None else items)]

    # --- the keyring's, forwarded for the many callers that hold a journal -----------------

    @property
    def device(self) -> DeviceKeys:
        return self.keyring.device

    @property
    def lock(self) -> passphrase.Lock | None:
        return self.keyring.lock

    @lock.setter
    def lock(self, lock: passphrase.Lock | None) -> None:
        self.keyring.lock = lock

    @property
    def restoring(self) -> bytes | None:
        return self.keyring.restoring

    @restoring.setter
    def restoring(self, secret: bytes | None) -> None:
        self.keyring.restoring = secret

    def save_device(self) -> None:
        """Re-write the device file, and its binding in journal.db."""
        self.keyring.save()

    def log_id(self) -> LogId:
        return self.device.log


__all__ = ["BINDING_META", "DB_NAME", "Body", "Clock", "Journal", "Seq", "item_of"]
