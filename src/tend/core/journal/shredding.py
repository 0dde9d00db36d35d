"""Forgetting on one device: erase the content keys of what their authors asked to forget.

A retraction with `forget` set, written by the author of the entry it names, is the one thing
that erases anything: the target's key record (core/log/store.py `erase_keys`) and, in the same
transaction, the words in the view cache (its item becomes a placeholder). Every honest device
does this for every such retraction it holds, whoever's device it came from, and again whenever
a named entry or its key record arrives later. A retraction by anyone else erases nothing: the
rule is the one `projections.hidden_ids` keys by, the target's author must be the retraction's.

The author's own devices also keep a list of erasures the relay has yet to confirm (meta
PENDING, 24 bytes each: log id and seq); the sync client sends a Forget frame for each.
"""

from __future__ import annotations

from collections.abc import Iterable

from tend.core.domain.codec import decode_event
from tend.core.domain.events import KEYED_KINDS, EventType, Retraction
from tend.core.ids import EventId, LogId, PersonId, event_id_at
from tend.core.journal import Journal
from tend.core.journal.mapper import item_of
from tend.core.log.store import Position
from tend.core.views.read_model import Item

PENDING = "forget.pending"  # positions whose key record the relay is still to erase
_POSITION_LEN = 24


def forgotten(items: list[Item], counted: list[Item] | None = None) -> list[Item]:
    """The items whose own author asked to forget them (placeholders included), by the
    retractions among `counted` (what the roster admits; by default `items`): a device removed,
    or never brought in, erases nothing, even writing as its person."""
    asked: dict[EventId, set[PersonId]] = {}
    for item in items if counted is None else counted:
        if item.type == EventType.RETRACT:
            ev = decode_event(item.raw)
            assert isinstance(ev.body, Retraction)
            if ev.body.forget:
                asked.setdefault(ev.body.target, set()).add(ev.author)
    if not asked:
        return []
    return [
        i
        for i in items
        if (i.type in KEYED_KINDS or i.type == EventType.KEYED)
        and i.author in asked.get(event_id_at(i.log, i.seq), ())
    ]


def apply_forgets(journal: Journal) -> int:
    """Erase what this device still holds of every entry its author asked to forget; returns
    how many entries lost their words here."""
    items = journal.all_items()
    targets = forgotten(items, journal.items())
    store = journal.store
    due = [
        i for i in targets if i.type != EventType.KEYED or store.key_at(i.log, i.seq) is not None
    ]
    if not due:
        return 0
    placeholders = [_placeholder(journal, i) for i in due]
    snapshot = journal.reading.replaced(placeholders)
    positions: list[Position] = [(i.log, i.seq) for i in due]
    store.erase_keys(positions, snapshot)
    mine = [p for p, i in zip(positions, due, strict=True) if i.author == journal.device.person]
    if mine:
        add_pending(journal, mine)
    return len(due)


def wanted(journal: Journal) -> list[Position]:
    """Entries held here without their words, that nobody asked to forget: the key records to
    ask the relay for (a new device, or one that took entries in before their keys came)."""
    items = journal.all_items()
    gone = {(i.log, i.seq) for i in forgotten(items, journal.items())}
    return [
        (i.log, i.seq) for i in items if i.type == EventType.KEYED and (i.log, i.seq) not in gone
    ]


def adopt_keys(journal: Journal, records: dict[Position, bytes]) -> tuple[int, list[Position]]:
    """Take in key records the relay handed over: each is kept only if it opens its own entry
    and its author has not asked to forget it. Returns how many were kept, and the positions
    whose record did not open its entry (damaged, or moved from another entry)."""
    items = {(i.log, i.seq): i for i in journal.all_items() if i.type == EventType.KEYED}
    gone = {(i.log, i.seq) for i in forgotten(list(items.values()), _retractions(journal))}
    kept: dict[Position, bytes] = {}
    opened: list[Item] = []
    bad: list[Position] = []
    for position, record in records.items():
        item = items.get(position)
        raw = journal.store.entry_at(*position)
        if item is None or raw is None or position in gone:
            continue
        readable = journal.mapper.to_readable(raw, record)
        if readable.key is None:
            bad.append(position)
            continue
        kept[position] = record
        opened.append(item_of(readable, item.received_at))
    if kept:
        journal.store.put_keys(kept)
        journal.store.save_snapshot(*journal.reading.replaced(opened))
    return len(kept), bad


def _retractions(journal: Journal) -> list[Item]:
    return [i for i in journal.items() if i.type == EventType.RETRACT]


def _placeholder(journal: Journal, item: Item) -> Item:
    """The item of `item`'s entry as it reads without its key: its outer event alone."""
    raw = journal.store.entry_at(item.log, item.seq)
    assert raw is not None
    return item_of(journal.mapper.to_readable(raw, None), item.received_at)


def pending(journal: Journal) -> list[Position]:
    raw = journal.store.meta(PENDING) or b""
    return [
        (LogId(raw[at : at + 16]), int.from_bytes(raw[at + 16 : at + _POSITION_LEN], "big"))
        for at in range(0, len(raw) - len(raw) % _POSITION_LEN, _POSITION_LEN)
    ]


def add_pending(journal: Journal, positions: Iterable[Position]) -> None:
    _save(journal, [*pending(journal), *positions])


def done(journal: Journal, position: Position) -> None:
    _save(journal, [p for p in pending(journal) if p != position])


def _save(journal: Journal, positions: list[Position]) -> None:
    unique = list(dict.fromkeys(positions))
    journal.store.replace_meta(
        PENDING, b"".join(log + seq.to_bytes(8, "big") for log, seq in unique)
    )


__all__ = ["PENDING", "Position", "add_pending", "apply_forgets", "done", "forgotten", "pending"]
