"""A device's journal: the application entry point over its keys, its log store and its reads.

`Journal` is a small facade, composed as eventsourcing composes an application of a mapper and
a recorder:

    keyring.py   this device's keys in memory, and the device file (bound to journal.db) that
                 keeps them
    mapper.py    events to signed, sealed, hash-chained entry bytes and back
    reading.py   the items this device can read (core/views/read_model.py caches them) and what
                 the roster (core/trust/engine.py) lets count
    the store    the `LogStore` it is handed (core/log/store.py): SQLite in a home, or memory

`Journal.create` starts a new space (the couple's shared journal) on this device; `Journal.open`
opens an existing home; both build the SQLite store and hand it in. `record` turns a validated
payload into an entry and returns only once it is durably stored. `items` is everything this
device can read that counts, in merge order (HLC, log id, seq).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tend.core import clock
from tend.core.crypto import keys, keystore, passphrase
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event
from tend.core.domain.events import DeviceAdded, Event, Payload, PersonNamed
from tend.core.errors import AlreadyInitialised, ChainError, NextStep, NotInitialised
from tend.core.fsutil import ensure_private_dir
from tend.core.ids import EventId, LogId, Seq, event_id_at, new_space_id
from tend.core.journal.keyring import BINDING_META, DB_NAME, Keyring, open_bound
from tend.core.journal.mapper import EntryMapper, item_of
from tend.core.journal.reading import Reading
from tend.core.log.store import LogStore, SqliteLogStore
from tend.core.views.read_model import Item

if TYPE_CHECKING:
    # The trust engine is loaded by what reads (views, sync, verify), not by recording: a
    # check-in as a whole process stays quick.
    from tend.core.trust import engine as trust

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


# A device that answered a link keeps its keys here until the inviter lets it in: the home's
# third file, beside the device file and DB_NAME, so opening a home knows it without pairing.
JOINING_FILE = "joining.tend"


class Journal:
    """One device's journal: recording, reading and its keys, over the store it is handed."""

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
        self.reading = Reading(device, store, self.mapper)
        self.reading.on_retraction = self._apply_forgets

    def _apply_forgets(self) -> int:
        from tend.core.journal import shredding  # only when a retraction is read

        return shredding.apply_forgets(self)

    # --- lifecycle -------------------------------------------------------------------------

    @staticmethod
    def exists(home: Path) -> bool:
        return (home / keystore.FILE_NAME).exists()

    @classmethod
    def waiting_to_join(cls, home: Path) -> bool:
        """Whether this home holds a device that answered a link and waits to be let in (its
        keys in JOINING_FILE, core/trust/pairing.py), with no journal yet."""
        return (home / JOINING_FILE).exists() and not cls.exists(home)

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
            raise NotInitialised(f"no journal in {home} yet", next_step=NextStep.INIT)
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
        raw, key = self.mapper.write(ev, head, private=private)
        said = {SEEN_META: _seen_bytes(ev.seen)} if ev.seen else None  # with the entry, or not
        keys = {(self.device.log, seq): key} if key else None
        self.store.append([(raw, wall_ms)], meta={"hlc": _hlc_bytes(hlc)}, replace=said, keys=keys)
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

    # --- reading: the read model's answers --------------------------------------------------

    def items(self) -> list[Item]:
        """Every event that counts, in merge order (core/journal/reading.py)."""
        return self.reading.items()

    def sealing_later(self) -> contextlib.AbstractContextManager[None]:
        """A block whose reads seal the view's snapshot once, at its end (ItemCache)."""
        return self.reading.cache.sealing_later()

    def all_items(self) -> list[Item]:
        """Every stored event this device can read, in merge order (before the roster's say)."""
        return self.reading.all_items()

    def membership(self) -> list[Item]:
        """Stored items that say who is here: devices added and removed, names, key rotations."""
        return self.reading.membership()

    def roster(self) -> trust.Roster:
        """Who may write here now: the trust engine over what this device holds."""
        return self.reading.roster()

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


__all__ = ["BINDING_META", "DB_NAME", "JOINING_FILE", "Body", "Clock", "Journal", "Seq", "item_of"]
