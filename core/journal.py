"""A device's journal: its keys, its local log store and the events it can read.

`Journal.create` starts a new space (the couple's shared journal) on this device; `Journal.open`
opens an existing home. `record` turns a validated payload into a signed, sealed, hash-chained
entry and returns only once it is durably stored. `items` is everything this device can read,
in merge order (HLC, log id, seq), served from the sealed view cache and topped up from the log.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tend.core import cache, clock, entry, envelope, keystore, projections
from tend.core.cache import Item
from tend.core.codec import decode_event, encode_event
from tend.core.errors import (
    AlreadyInitialised,
    ChainError,
    CorruptStore,
    InvalidEnvelope,
    NotInitialised,
    UnreadableEntry,
)
from tend.core.events import DeviceAdded, Event, Payload, PersonNamed, Sealed
from tend.core.fsutil import ensure_private_dir
from tend.core.ids import (
    EventId,
    LogId,
    Seq,
    new_event_id,
    new_log_id,
    new_person_id,
    new_space_id,
    short,
)
from tend.core.keystore import DeviceKeys
from tend.core.store import LogStore, SqliteLogStore

DB_NAME = "journal.db"
SNAPSHOT_EVERY = 200
MEMBERSHIP = frozenset(
    {"device.added", "device.removed", "person.named", "key.rotated"}
)  # new entries a read may fold in before it re-seals the view cache
_PRIVATE_AAD = b"tend/private/v1"
Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _hlc_bytes(hlc: int) -> bytes:
    return hlc.to_bytes(8, "big")


@dataclass(frozen=True)
class Readable:
    """An opened entry: `outer` is what was signed; `event` is what this device can read."""

    opened: entry.Opened
    outer: Event
    event: Event
    event_bytes: bytes

    def item(self, received_at: int) -> Item:
        ev = self.event
        doc = ev.body.doc_name(ev) if ev.body.SHARED else None
        return Item(
            ev.hlc,
            ev.device,
            self.opened.header.seq,
            received_at,
            ev.local_date,
            ev.type,
            ev.author,
            doc,
            self.event_bytes,
        )


class Journal:
    def __init__(self, home: Path, device: DeviceKeys, store: LogStore, now: Clock = _now) -> None:
        self.home = home
        self.device = device
        self.store = store
        self.now = now
        self._items: list[Item] | None = None
        self._membership: list[Item] = []
        self._opened: dict[bytes, Item] = {}
        self.passphrase: str | None = None
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
        passphrase: str | None = None,
        label: str = "",
        now: Clock = _now,
    ) -> Journal:
        if cls.exists(home):
            raise AlreadyInitialised(f"there is already a journal in {home}")
        PersonNamed(person=new_person_id(), name=name)  # validate before touching the disk
        device = DeviceKeys.generate(new_space_id(), new_person_id(), new_log_id())
        device.settings["relay_epoch"] = device.epoch
        journal = cls.begin(home, device, passphrase, label=label, name=name, now=now)
        return journal

    @classmethod
    def begin(
        cls,
        home: Path,
        device: DeviceKeys,
        passphrase: str | None,
        *,
        label: str,
        name: str | None,
        now: Clock | None = None,
    ) -> Journal:
        """A new journal for `device` in `home`: its first entries, then its device file."""
        ensure_private_dir(home)
        for stale in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
            # Left by a set-up that was interrupted before its device file was written:
            # nothing in it was ever acknowledged, and without the keys it cannot be read.
            (home / stale).unlink(missing_ok=True)
        journal = cls(home, device, SqliteLogStore(home / DB_NAME), now or _now)
        journal.passphrase = passphrase
        journal.record(
            DeviceAdded(
                device=device.log,
                person=device.person,
                sign_pub=device.sign_public,
                dh_pub=device.dh_public,
                label=label,
            )
        )
        if name:
            journal.record(PersonNamed(person=device.person, name=name))
        # The device file is written last: a crash before this leaves no half-made journal.
        keystore.save(home / keystore.FILE_NAME, device, passphrase)
        return journal

    @classmethod
    def open(cls, home: Path, *, passphrase: str | None = None, now: Clock = _now) -> Journal:
        path = home / keystore.FILE_NAME
        if not path.exists():
            raise NotInitialised(f"no journal in {home} yet; start one with: tend init --name NAME")
        device = keystore.load(path, passphrase)
        journal = cls(home, device, SqliteLogStore(home / DB_NAME), now)
        journal.passphrase = passphrase  # kept in memory to re-save the device file on rotation
        return journal

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------

    def record(
        self,
        body: Payload,
        *,
        private: bool = False,
        supersedes: EventId | None = None,
        on: dt.date | None = None,
        event_id: EventId | None = None,
    ) -> Event:
        """Append one event to this device's log; returns once it is durable.

        `on` is the day the entry is about when that is not today (a check-in for yesterday,
        or the day of the entry a correction replaces). `event_id` lets an entry that creates
        something (a joy idea, a goal) share that thing's id, so people see one id for both.
        """
        chosen = event_id or new_event_id()
        for _attempt in range(3):
            try:
                return self._record_once(body, private, supersedes, on, chosen)
            except ChainError:
                continue  # another tend process appended first; build on its entry
        raise ChainError("the journal kept changing underneath; try again")

    def _record_once(
        self,
        body: Payload,
        private: bool,
        supersedes: EventId | None,
        on: dt.date | None,
        event_id: EventId,
    ) -> Event:
        when = self.now()
        wall_ms = int(when.timestamp() * 1000)
        last = self.store.meta("hlc")
        hlc = clock.tick(int.from_bytes(last, "big") if last else 0, wall_ms)
        offset = when.utcoffset() or dt.timedelta(0)
        ev = Event(
            id=event_id,
            author=self.device.person,
            device=self.device.log,
            hlc=hlc,
            wall_ms=wall_ms,
            local_date=(on or when.date()).isoformat(),
            tz_minutes=int(offset.total_seconds() // 60),
            body=body,
            supersedes=supersedes,
            change=self._change_for(body, hlc, wall_ms),
        )
        stored = ev
        if private:
            box = envelope.seal(
                self.device.private_key, encode_event(ev), _PRIVATE_AAD + self.device.space
            )
            stored = Event(
                id=ev.id,
                author=ev.author,
                device=ev.device,
                hlc=hlc,
                wall_ms=wall_ms,
                local_date=ev.local_date,
                tz_minutes=ev.tz_minutes,
                body=Sealed(box=box),
            )
        self._append_own(encode_event(stored), hlc, wall_ms)
        return ev

    def _change_for(self, body: Payload, hlc: int, wall_ms: int) -> bytes | None:
        if not body.SHARED:
            return None
        from tend.core import shared  # automerge is imported only by what edits shared state

        probe = Event(
            id=EventId(bytes(16)),
            author=self.device.person,
            device=self.device.log,
            hlc=hlc,
            wall_ms=wall_ms,
            local_date="",
            tz_minutes=0,
            body=body,
        )
        doc = body.doc_name(probe)
        prior = self.changes_for(doc)
        return shared.make_change(prior, self.device.log, body.puts(probe))

    def _append_own(self, event_bytes: bytes, hlc: int, wall_ms: int) -> None:
        head = self.store.head(self.device.log)
        seq, prev = (head[0] + 1, head[1]) if head else (1, entry.GENESIS)
        header = entry.Header(self.device.space, self.device.log, Seq(seq), self.device.epoch, prev)
        raw = entry.build(header, event_bytes, self.device.sign_seed, self.device.space_key)
        self.store.append([(raw, wall_ms)], meta={"hlc": _hlc_bytes(hlc)})

    # --- reading ---------------------------------------------------------------------------

    def items(self) -> list[Item]:
        """Every event this device can read, in merge order."""
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
                    self._upto, cache.seal_snapshot(self.device.local_key, self._upto, self._items)
                )
        return self._items

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
        """Items that say who is here: devices added and removed, names, key rotations."""
        self.items()
        return self._membership

    def remember_opened(self, digest: bytes, item: Item) -> None:
        """An entry about to be appended that ingest has already opened (no need twice)."""
        self._opened[digest] = item

    def _load_snapshot(self) -> tuple[list[Item], int]:
        snap = self.store.snapshot()
        if snap is not None:
            items = cache.open_snapshot(self.device.local_key, snap[1], snap[0])
            if items is not None:
                return items, snap[0]
        return [], 0

    def read_entry(self, raw: bytes) -> Readable:
        """Open one stored or received entry: envelope, event, and a private box if it is ours.

        Raises IntegrityError naming the entry for anything that does not open or match.
        """
        try:
            opened = entry.open_entry(raw, self.device.space_keys.get)
            outer = decode_event(opened.event)
        except (InvalidEnvelope, ChainError, CorruptStore) as e:
            head = entry.Header.decode(raw) if len(raw) >= entry.HEADER_LEN else None
            where = f"log {short(head.log)} seq {head.seq}" if head else "an entry"
            raise UnreadableEntry(where, f"cannot be opened ({e})") from e
        if not isinstance(outer.body, Sealed):
            return Readable(opened, outer, outer, opened.event)
        inner = self.open_private(outer.body)
        if inner is None:
            return Readable(opened, outer, outer, opened.event)
        try:
            ev = decode_event(inner)
        except CorruptStore as e:
            where = f"log {short(opened.header.log)} seq {opened.header.seq}"
            raise UnreadableEntry(where, f"a private entry is damaged ({e})") from e
        if (ev.id, ev.author, ev.device, ev.hlc) != (
            outer.id,
            outer.author,
            outer.device,
            outer.hlc,
        ):
            # A sealed box copied into another entry (a replay): refuse, never show.
            raise UnreadableEntry(
                f"log {short(opened.header.log)} seq {opened.header.seq}",
                "a private entry does not match the entry that carries it",
            )
        return Readable(opened, outer, ev, inner)

    def item_of(self, raw: bytes, received_at: int) -> Item:
        return self.read_entry(raw).item(received_at)

    def adopt_epoch(self, epoch: int, key: bytes, *, write: bool = True) -> None:
        """Hold a space key epoch (saved at once); with `write`, also write under it if newest.

        Only a signed key.rotated from a device on the roster may set `write`: a key handed
        over by the relay is used to read and to reconnect, never to seal what we write.
        """
        self.device.space_keys[epoch] = key
        if write:
            self.device.epoch = max(self.device.epoch, epoch)
        keystore.save(self.home / keystore.FILE_NAME, self.device, self.passphrase)

    def save_device(self) -> None:
        keystore.save(self.home / keystore.FILE_NAME, self.device, self.passphrase)

    def trust_anchors(self) -> dict[bytes, bytes]:
        """Devices trusted directly: this one, and the one that invited it."""
        return {**self.device.anchors, self.device.log: self.device.sign_public}

    def open_private(self, sealed: Sealed) -> bytes | None:
        try:
            return envelope.open_envelope(
                self.device.private_key, sealed.box, _PRIVATE_AAD + self.device.space
            )
        except InvalidEnvelope:
            return None  # someone else's private entry: it stays sealed

    def changes_for(self, doc: str) -> list[bytes]:
        return projections.changes(self.items(), doc)

    def events(self, items: Iterable[Item] | None = None) -> list[Event]:
        return [decode_event(i.raw) for i in (self.items() if items is None else items)]

    def log_id(self) -> LogId:
        return self.device.log
