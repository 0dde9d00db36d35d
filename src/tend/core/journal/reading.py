"""What this device can read, and what of it counts: the item cache under the roster's say.

The item cache (core/views/read_model.py) holds every event this device can open, in merge
order. The trust engine (core/trust/engine.py) decides who may write here, from the membership
facts among those items; entries the roster no longer admits stay stored but are not shown.
Each answer is cached against what it was worked out from (how many items, how many membership
items, how many anchors), so a read that finds nothing new costs a comparison.

The trust engine is imported inside the functions that ask it: recording never reads here, so a
check-in as a whole process stays quick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event
from tend.core.errors import UnreadableEntry
from tend.core.ids import EventId, LogId
from tend.core.journal.mapper import EntryMapper
from tend.core.log.header import Header
from tend.core.log.store import LogStore
from tend.core.views.read_model import FACTS, Item, ItemCache, settled

if TYPE_CHECKING:
    from tend.core.trust import engine as trust


class Reading:
    """The read side of one journal: its items, its roster, and what the roster admits."""

    def __init__(self, device: DeviceKeys, store: LogStore, mapper: EntryMapper) -> None:
        self._device = device
        self._store = store
        self._mapper = mapper
        self.cache = ItemCache(store, device.local_key, self.item_of)
        self._acked: dict[tuple[LogId, int], dict[LogId, int]] = {}  # see acked()
        self._roster: tuple[tuple[int, int], trust.Roster] | None = None
        self._visible: tuple[tuple[int, int], list[Item]] | None = None
        self._facts: tuple[int, list[trust.Fact]] | None = None
        self._log_keys: dict[LogId, bytes] = {}
        # Erases what a newly read retraction asks to forget (set by the journal).
        self.on_retraction: Callable[[], object] | None = None
        self._forgetting = False
        # Every id that a forget asks for, with the later versions found of them, as of the
        # last full look (core/journal/shredding.py); None until one has been made.
        self.forget_ids: frozenset[EventId] | None = None

    def item_of(self, raw: bytes, received_at: int, key: bytes | None = None) -> Item:
        return self._mapper.stored_item(raw, received_at, key)

    def all_items(self) -> list[Item]:
        """Every stored event this device can read, in merge order (before the roster's say).

        A retraction another process stored may ask to forget words this one still holds in
        memory: they are erased before anything reads them (or a snapshot keeps them)."""
        items = self.cache.items()
        if self.cache.took_retraction and self.on_retraction and not self._forgetting:
            self.cache.took_retraction = False
            self._forgetting = True
            try:
                self.on_retraction()
            finally:
                self._forgetting = False
            items = self.cache.items()
        return items

    def membership(self) -> list[Item]:
        """Stored items that say who is here: devices added and removed, names, key rotations."""
        return self.cache.membership()

    def items(self) -> list[Item]:
        """Every event that counts, in merge order: entries the roster no longer admits (a
        device's after its removal, all of a forked log, all of a device nobody who counts
        brought in) stay stored but are not shown."""
        everything = self.all_items()
        key = (len(everything), len(self.cache.membership(top_up=False)))
        if self._visible is not None and self._visible[0] == key:
            return self._visible[1]
        roster = self.roster()
        # Usually every stored log counts to its head and nothing is filtered. A log whose
        # device was removed (after a cut-off), was forked, or is no longer brought in by
        # anyone who counts keeps its entries stored, but they are not shown.
        ended = {
            log for log, (seq, _h) in self._store.heads().items() if not roster.admits(log, seq)
        }
        visible = (
            [i for i in everything if i.log not in ended or roster.admits(i.log, i.seq)]
            if ended
            else everything
        )
        visible = settled(visible, roster.person)  # a shared entry counts once
        self._visible = (key, visible)
        return visible

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
        key = (len(membership), len(self._device.anchors))
        if self._roster is None or self._roster[0] != key:
            built = trust.build(
                self._device.space,
                self._device.trust_anchors(),
                self.facts(),
                self._store.hash_at,
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
            raw = self._store.entry_at(log, at)
            if raw is None:
                return out, False
            try:
                seen = self._mapper.to_readable(raw).outer.seen
            except UnreadableEntry:
                continue  # under a key this device does not hold: it says nothing here
            for other, held in seen:
                out[other] = max(out.get(other, 0), held)
        return out, True

    def log_key(self, log: LogId) -> bytes | None:
        """A log's public key, from its first entry (held here), or None."""
        if log not in self._log_keys:
            first = self._store.entry_at(log, 1)
            if first is None:
                return None
            key = Header.decode(first).log_key
            assert key is not None
            self._log_keys[log] = key
        return self._log_keys[log]

    def remember_opened(self, digest: bytes, item: Item) -> None:
        """An entry about to be appended that ingest has already opened (no need twice)."""
        self.cache.remember_opened(digest, item)

    def forget(self) -> None:
        """Drop what is cached in memory (after this device's own entries were re-sealed)."""
        self.cache.forget()
        self._visible, self._roster, self._facts = None, None, None

    def replaced(self, changed: list[Item]) -> tuple[int, bytes]:
        """The cache with `changed` in place (placeholders for forgotten words); its snapshot."""
        self._visible = None
        return self.cache.replaced(changed)


__all__ = ["Reading"]
