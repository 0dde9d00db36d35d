"""The view cache: every decoded event this device can read, in merge order, sealed at rest.

Opening ten years of a journal must not mean opening 36,500 envelopes, so the journal keeps one
snapshot of what it has already opened: a list of `Item`s (the event's bytes plus the few fields
views select on), sealed with this device's local key and stamped with the last store row it
covers. It is only ever a cache: the log is the truth, a snapshot that fails to open is thrown
away and rebuilt, and `tend verify` never trusts it.

`ItemCache` keeps that list in memory, topped up from the log store with whatever was appended
since, and re-sealed every `SNAPSHOT_EVERY` new entries. It knows nothing of keys beyond the
local one, nor of who may write: entries are opened by the function it is handed (the journal's
mapper), and which items count is the roster's say (core/journal/reading.py).

Forgetting an entry's words replaces its item with a placeholder (kind "keyed": the outer event
alone, core/journal/mapper.py) and re-seals the snapshot at once, so the words leave the cache
in the same transaction that erases their key (core/log/store.py `erase_keys`).

Beside it the journal keeps a second, small snapshot: the membership items alone (devices added
and removed, names, key rotations; no words anyone wrote), sealed the same way and stamped with
its own store row. Reading who is here (the roster, which a sync with nothing new needs and
nothing more) opens that one and the few rows stored since, not all ten years of items. It is
sealed whenever the full snapshot is, and again when forgetting changes a membership item.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import msgpack

from tend.core.crypto import envelope
from tend.core.domain.codec import decode_event
from tend.core.domain.events import Event, EventType
from tend.core.errors import InvalidEnvelope
from tend.core.gcpause import gc_paused
from tend.core.ids import EventId, LogId, PersonId, event_id_at
from tend.core.log.store import LogStore

SNAPSHOT_LIMIT = 256 << 20
SNAPSHOT_EVERY = 200  # new entries opened before the snapshot is sealed again
MEMBERSHIP_RESEAL = 50  # rows read past the membership snapshot before it alone is sealed again
# v2: items say whether they are private, and where shared from; v3: a private entry's item
# says so whether or not its words are under a content key, placeholders of words not held
# included, and a shared copy's words can be forgotten in place.
_AAD = b"tend/view-cache/v3"
_MEMBERSHIP_AAD = b"tend/view-cache/membership/v1"
# The kinds of entry the trust engine reads (core/trust/engine.py), and with names and rotations,
# the kinds that say who is here: new entries a read may fold in before it re-seals the view cache.
FACTS = frozenset({"device.added", "device.removed", "person.lost", "person.here"})
MEMBERSHIP = FACTS | {"person.named", "key.rotated"}


class Item(NamedTuple):
    hlc: int
    log: LogId
    seq: int
    received_at: int
    local_date: str
    type: str
    author: PersonId
    doc: str | None  # the shared document this event edits, if any
    raw: bytes  # the encoded event (the inner one, for a private entry we could open)
    private: bool = False  # the entry was sealed for its author's own devices
    # For a private entry shared later: the device that first wrote it (the entry's own
    # coordinates stay those of the share, which is what the roster admits).
    origin: LogId | None = None

    @property
    def order(self) -> tuple[int, LogId, int]:
        return (self.hlc, self.log, self.seq)


def seal_snapshot(key: bytes, upto: int, items: list[Item]) -> bytes:
    body: bytes = msgpack.packb([upto, [tuple(i) for i in items]], use_bin_type=True)
    return envelope.seal(key, body, _AAD, limit=SNAPSHOT_LIMIT)


class Membership(NamedTuple):
    """What the small snapshot holds: the membership items, and how many items are
    placeholders of words not held (kind "keyed"), so that a sync knows without the items
    whether it has key records to ask for. Neither holds words anyone wrote."""

    items: list[Item]
    keyless: int


def seal_membership(key: bytes, upto: int, membership: Membership) -> bytes:
    rows = [tuple(i) for i in membership.items]
    body: bytes = msgpack.packb([upto, rows, membership.keyless], use_bin_type=True)
    return envelope.seal(key, body, _MEMBERSHIP_AAD, limit=SNAPSHOT_LIMIT)


def open_membership(key: bytes, blob: bytes, upto: int) -> Membership | None:
    """The small snapshot, or None if it is unusable (then the items are read instead)."""
    try:
        body = envelope.open_envelope(key, blob, _MEMBERSHIP_AAD, limit=SNAPSHOT_LIMIT)
        stamped, rows, keyless = msgpack.unpackb(body, raw=False, use_list=False)
        if stamped != upto or not isinstance(keyless, int):
            return None
        return Membership(list(map(Item._make, rows)), keyless)
    except (InvalidEnvelope, ValueError, TypeError, msgpack.UnpackException):
        return None


def open_snapshot(key: bytes, blob: bytes, upto: int) -> list[Item] | None:
    """The cached items, or None if the snapshot is unusable (then the caller rebuilds)."""
    try:
        body = envelope.open_envelope(key, blob, _AAD, limit=SNAPSHOT_LIMIT)
        with gc_paused():
            stamped, rows = msgpack.unpackb(body, raw=False, use_list=False)
    except (InvalidEnvelope, ValueError, TypeError, msgpack.UnpackException):
        return None
    if stamped != upto:
        return None
    with gc_paused():
        return list(map(Item._make, rows))  # as Item(*row), without a Python call per row


class ItemCache:
    """Every stored event this device can read, in merge order (before the roster's say)."""

    def __init__(
        self,
        store: LogStore,
        local_key: bytes,
        open_item: Callable[[bytes, int, bytes | None], Item],
    ) -> None:
        self._store = store
        self._key = local_key  # this device's own: the snapshot never leaves it
        # (entry bytes, received at, key record) -> its item; may raise
        self._open_item = open_item
        self._items: list[Item] | None = None
        self._membership: list[Item] = []
        self._keyless = 0  # items that are placeholders of words not held
        # The store row `_membership` covers while it was read on its own, without the items
        # (None: it is derived from the items, or not read yet).
        self._membership_upto: int | None = None
        # The stored small snapshot's row: -1 when there is none that opens, None if unknown.
        self._membership_saved_upto: int | None = None
        self._opened: dict[bytes, Item] = {}
        self._upto = 0  # the last store row the items cover
        # Set when a top-up took in a retraction: it may ask to forget words held here, so the
        # journal looks before anything else reads (core/journal/shredding.py).
        self.took_retraction = False
        # The items merged since the last take_recent(); None when that is not known (nothing
        # loaded yet, or dropped), so whoever asks must look at everything.
        self._recent: list[Item] | None = None
        self._held = 0  # open `sealing_later` blocks
        self._due = False  # a seal came due while they were open

    def items(self) -> list[Item]:
        """Every item, topped up with what the store took since the last call."""
        if self._items is None:
            self._items, self._upto = self._load_snapshot()
            self._membership = [i for i in self._items if i.type in MEMBERSHIP]
            self._keyless = _keyless(self._items)
            self._membership_upto = None
            self._recent = None
            if self._membership_saved_upto is None:
                saved = self._store.membership_snapshot()
                self._membership_saved_upto = saved[0] if saved is not None else -1
        fresh = self._fresh()
        self._opened.clear()
        if fresh:
            self.took_retraction |= any(item.type == "retract" for _rowid, item in fresh)
            self._merge([item for _rowid, item in fresh])
            if self._recent is not None:
                self._recent.extend(item for _rowid, item in fresh)
            self._upto = fresh[-1][0]
            if len(fresh) >= SNAPSHOT_EVERY:
                self._seal()
        at = self._membership_saved_upto
        if at is not None and (at < 0 or at < self._upto - SNAPSHOT_EVERY):
            self._seal_membership()  # missing, or too far behind to be worth reading alone
        return self._items

    def _fresh(self) -> list[tuple[int, Item]]:
        """(rowid, item) of every row the store took since the items were last topped up.
        After an ingest every one was opened already: then only their rowids are read (not
        years of entries' bytes a second time); rows another process stored are opened."""
        rows = self._store.hashes_since(self._upto)
        if all(digest in self._opened for _rowid, digest in rows):
            return [(rowid, self._opened[digest]) for rowid, digest in rows]
        return [
            (s.rowid, self._opened.get(s.hash) or self._open_item(s.entry, s.received_at, s.key))
            for s in self._store.since(self._upto)
        ]

    def _seal(self) -> None:
        if self._held:
            self._due = True
            return
        self._due = False
        if self._items is not None:
            self._store.save_snapshot(self._upto, seal_snapshot(self._key, self._upto, self._items))
            self._seal_membership()

    def _seal_membership(self) -> None:
        self._save_membership(self._upto)

    def _save_membership(self, upto: int) -> None:
        small = Membership(self._membership, self._keyless)
        self._store.save_membership_snapshot(upto, seal_membership(self._key, upto, small))
        self._membership_saved_upto = upto

    @contextmanager
    def sealing_later(self) -> Iterator[None]:
        """Seal the snapshot once, when the block ends, however many top-ups it holds: a
        catch-up takes years of entries in several ingests, and sealing after each one costs
        about as much as all it holds. A crash meanwhile loses nothing (the next open reads the
        rows after the last snapshot), and a forget still seals at once (`replaced`)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._due:
                self._seal()

    def membership(self, *, top_up: bool = True) -> list[Item]:
        """Stored items that say who is here: devices added and removed, names, key rotations.
        Without `top_up`, as of the last read (no query of the store)."""
        if self._items is None and self._membership_alone():
            return self._membership
        if top_up or self._items is None:
            self.items()
        return self._membership

    def keyless_without_items(self) -> int | None:
        """How many items are placeholders of words not held (kind "keyed"), read from the
        small snapshot and the rows stored since, while the items are not loaded; None when
        they are, or reading them is the cheaper way (then ask the items)."""
        if self._items is None and self._membership_alone():
            return self._keyless
        return None

    def _membership_alone(self) -> bool:
        """Read who is here from the small snapshot and the rows stored since, without opening
        every item; False when that would not be cheaper, or a retraction came since (then
        read the items, so that what it forgets is forgotten before anything else reads)."""
        if self._membership_upto is None and not self._load_membership():
            return False
        assert self._membership_upto is not None
        fresh = list(itertools.islice(self._store.since(self._membership_upto), SNAPSHOT_EVERY + 1))
        opened = [
            self._opened.get(s.hash) or self._open_item(s.entry, s.received_at, s.key)
            for s in fresh[:SNAPSHOT_EVERY]
        ]
        for stored, item in zip(fresh, opened, strict=False):
            self._opened[stored.hash] = item  # the full read, if one follows, opens it no more
        if len(fresh) > SNAPSHOT_EVERY or any(i.type == "retract" for i in opened):
            self._membership_upto = None
            return False
        for item in opened:
            self._keyless += item.type == EventType.KEYED
            if item.type in MEMBERSHIP:
                bisect.insort(self._membership, item, key=lambda i: i.order)
        if fresh:
            self._membership_upto = fresh[-1].rowid
            if len(fresh) >= MEMBERSHIP_RESEAL:  # so that reads of who is here stay cheap
                self._save_membership(self._membership_upto)
        return True

    def _load_membership(self) -> bool:
        snap = self._store.membership_snapshot()
        small = open_membership(self._key, snap[1], snap[0]) if snap is not None else None
        if small is None or snap is None:
            self._membership_saved_upto = -1  # the next read of the items seals one
            return False
        self._membership_saved_upto = snap[0]
        self._membership, self._keyless = small
        self._membership_upto = snap[0]
        return True

    def remember_opened(self, digest: bytes, item: Item) -> None:
        """An entry about to be appended that was already opened (no need twice)."""
        self._opened[digest] = item

    def forget(self) -> None:
        """Drop what is held in memory; the next read starts again from the snapshot."""
        self._items, self._upto, self._recent = None, 0, None
        self._membership_upto = None

    def take_recent(self) -> list[Item] | None:
        """The items merged since the last call (None: unknown, look at everything), and from
        now on start counting again. For a caller that keeps a conclusion about all items and
        only needs to look again where something new could change it."""
        recent, self._recent = self._recent, []
        return recent

    def replaced(self, changed: list[Item]) -> tuple[int, bytes]:
        """Put `changed` in place of the items of the same entries (log, seq); returns the sealed
        snapshot of the result, for the caller to store with what made them change.

        An item usually keeps its place, but not always: a shared copy stands at the clock of
        the entry it carries, and the share's placeholder at the share's own."""
        items = self.items()
        moved: list[Item] = []
        for item in changed:
            at = bisect.bisect_left(items, item.order, key=lambda i: i.order)
            if at < len(items) and items[at].order == item.order:
                items[at] = item
            else:
                moved.append(item)
        if moved:
            where = {(i.log, i.seq): i for i in moved}
            items[:] = [i for i in items if (i.log, i.seq) not in where]
            for item in moved:
                bisect.insort(items, item, key=lambda i: i.order)
        membership, keyless = [i for i in items if i.type in MEMBERSHIP], _keyless(items)
        if (membership, keyless) != (self._membership, self._keyless):
            self._membership, self._keyless = membership, keyless
            self._seal_membership()  # the small snapshot must not keep what was replaced
        return self._upto, seal_snapshot(self._key, self._upto, items)

    def _merge(self, fresh: list[Item]) -> None:
        assert self._items is not None
        fresh.sort(key=lambda i: i.order)
        self._membership.extend(i for i in fresh if i.type in MEMBERSHIP)
        self._keyless += _keyless(fresh)
        self._membership.sort(key=lambda i: i.order)
        if not self._items or fresh[0].order >= self._items[-1].order:
            self._items.extend(fresh)  # the usual case: what is new sorts last
        elif len(fresh) < 64:
            for item in fresh:
                bisect.insort(self._items, item, key=lambda i: i.order)
        else:
            self._items.extend(fresh)
            self._items.sort(key=lambda i: i.order)

    def _load_snapshot(self) -> tuple[list[Item], int]:
        snap = self._store.snapshot()
        if snap is not None:
            items = open_snapshot(self._key, snap[1], snap[0])
            if items is not None:
                return items, snap[0]
        return [], 0


def _keyless(items: Sequence[Item]) -> int:
    return sum(1 for i in items if i.type == EventType.KEYED)


# --- private entries shared later ------------------------------------------------------------
# A share is read as the entry it carries (core/journal/mapper.py), with the same id, so the
# author's own devices hold that event twice: the private original, and the shared copy. What
# counts is the shared copy alone; the private original stops showing. A shared copy counts only
# when the device that first wrote it is one of the author's own, so nobody can pass off an
# entry of a log that is not theirs, and only as a copy of a private entry held here that says
# what every device can see of that one (its author, device, day, time and clock): a share
# naming an entry that was never private, or moving one to another day or back in time, would
# rewrite what was written without a correction to show for it.


def settled(items: Sequence[Item], person_of: Callable[[LogId], PersonId | None]) -> list[Item]:
    """`items` without shares of someone else's device or of no private entry held here, and
    without private originals that their author has shared since. Usually there is no share at
    all and nothing is decoded."""
    shares = [i for i in items if i.origin is not None]
    if not shares:
        return items if isinstance(items, list) else list(items)
    originals = {event_id_at(i.log, i.seq): i for i in items if i.private and i.origin is None}
    kept: set[int] = set()
    shared: set[tuple[PersonId, EventId]] = set()
    for i in shares:
        if person_of(LogId(i.origin or b"")) != i.author:
            continue
        copy = decode_event(i.raw)
        if i.type == "keyed":  # a share whose words are not here: it shows nothing
            kept.add(id(i))
            continue
        original = originals.get(copy.id)
        if original is not None and _same_entry(copy, decode_event(original.raw)):
            kept.add(id(i))
            shared.add((i.author, copy.id))
    return [
        i
        for i in items
        if (i.origin is None or id(i) in kept)
        and not (i.private and (i.author, event_id_at(i.log, i.seq)) in shared)
    ]


def _same_entry(copy: Event, original: Event) -> bool:
    """Whether a shared copy says what every device sees of the private entry it names: a
    shared correction may stand earlier (where the entry it corrects stood), nothing else."""
    return (copy.author, copy.device, copy.wall_ms, copy.local_date, copy.tz_minutes) == (
        original.author,
        original.device,
        original.wall_ms,
        original.local_date,
        original.tz_minutes,
    ) and (copy.hlc == original.hlc or (copy.supersedes is not None and copy.hlc < original.hlc))
