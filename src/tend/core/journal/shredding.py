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

import msgpack

from tend.core.domain.codec import decode_event
from tend.core.domain.events import KEYED_KINDS, EventType, Keyed, Retraction, Sealed
from tend.core.ids import EventId, LogId, PersonId, event_id_at
from tend.core.journal import Journal
from tend.core.journal.mapper import item_of
from tend.core.log.store import Position
from tend.core.views.read_model import MEMBERSHIP, Item

PENDING = "forget.pending"  # positions whose key record the relay is still to erase
_POSITION_LEN = 24


def forgotten(items: list[Item], counted: list[Item] | None = None) -> list[Item]:
    """The items whose own author asked to forget them (placeholders included), by the
    retractions among `counted` (what the roster admits; by default `items`): a device removed,
    or never brought in, erases nothing, even writing as its person.

    A forget reaches every version of the entry its author wrote: the ones the retraction
    names (its target's chain of corrections, and the shares that carry any of them), and,
    among what this device can read, a correction or a shared copy of a forgotten entry that
    the retraction could not name (written on another of the author's devices before it came).
    """
    return _forgotten_and_ids(items, counted)[0]


def _forgotten_and_ids(
    items: list[Item], counted: list[Item] | None = None
) -> tuple[list[Item], frozenset[EventId]]:
    """`forgotten`, and every id the forgets reach: the ids they name and the ids of the later
    versions found of them. Only an item with one of these ids, or linked to one, can be
    forgotten by what is held now."""
    asked = _asked(items if counted is None else counted)
    if not asked:
        return [], frozenset()
    authors = set().union(*asked.values())
    found: dict[Position, Item] = {}
    candidates: list[tuple[Item, EventId]] = []
    for i in items:
        if not (i.type in KEYED_KINDS or i.type == EventType.KEYED) or i.author not in authors:
            continue
        ident = event_id_at(i.log, i.seq)
        if i.author in asked.get(ident, ()):
            found[(i.log, i.seq)] = i
        else:
            candidates.append((i, ident))
    if found:
        _later_versions(found, candidates, asked)  # adds the later versions' ids to `asked`
    return list(found.values()), frozenset(asked)


def _asked(retractions: Iterable[Item]) -> dict[EventId, set[PersonId]]:
    """Who asked to forget each id, by the forget retractions among `retractions`."""
    asked: dict[EventId, set[PersonId]] = {}
    for item in retractions:
        if item.type == EventType.RETRACT:
            ev = decode_event(item.raw)
            assert isinstance(ev.body, Retraction)
            if ev.body.forget:
                for target in (ev.body.target, *ev.body.versions):
                    asked.setdefault(target, set()).add(ev.author)
    return asked


def _later_versions(
    found: dict[Position, Item],
    candidates: list[tuple[Item, EventId]],
    asked: dict[EventId, set[PersonId]],
) -> None:
    """Add to `found` the later versions of what it holds, as far as this device can read
    them: a correction keeps its entry's kind (a private one's is not told), and a shared copy
    is read as the entry it carries.

    One walk over the links, each candidate decoded once: a chain of corrections in any merge
    order (a modified client picks the clocks) costs what its length does, never its square."""
    kinds = {_kind(i) for i in found.values()}
    waiting: dict[tuple[PersonId, EventId], list[tuple[Item, EventId, EventId]]] = {}
    for i, ident in candidates:
        if (i.log, i.seq) in found or (Sealed.TYPE not in kinds and i.type not in kinds):
            continue
        carried, supersedes = _links(i)
        links = (carried,) if supersedes in (None, carried) else (carried, supersedes)
        for link in links:
            waiting.setdefault((i.author, link), []).append((i, ident, carried))
    todo = [(person, ident) for ident, people in asked.items() for person in people]
    while todo:
        for i, ident, carried in waiting.pop(todo.pop(), ()):
            if (i.log, i.seq) in found:
                continue
            found[(i.log, i.seq)] = i
            for link in (ident, carried):
                if i.author not in asked.setdefault(link, set()):
                    asked[link].add(i.author)
                    todo.append((i.author, link))


def _kind(item: Item) -> str:
    """An item's kind as its entry tells it: a placeholder's is the one its entry names."""
    if item.type != EventType.KEYED:
        return item.type
    body = decode_event(item.raw).body
    assert isinstance(body, Keyed)
    return body.kind


def _links(item: Item) -> tuple[EventId, EventId | None]:
    """The id an item is read as and the id it corrects, without decoding all of it."""
    if item.type in (EventType.KEYED, EventType.SEALED):
        return event_id_at(item.log, item.seq), None  # its links are not told
    record = msgpack.unpackb(item.raw, raw=False)
    supersedes = record.get("s")
    return EventId(record["i"]), EventId(supersedes) if supersedes else None


def versions(journal: Journal, target: EventId, kind: str) -> tuple[EventId, ...]:
    """The ids, as they stand on the log, of the person's own entries whose words go with
    `target`'s (an entry of `kind`) when it is forgotten: every version under its chain of
    corrections (what it corrects, and what corrects it: all of its kind), and the shares
    that carry any of them (read as what they carry, so of its kind too)."""
    me = journal.device.person
    mine = [i for i in journal.all_items() if i.author == me and i.type == kind]
    links: dict[EventId, set[EventId]] = {}

    def link(a: EventId, b: EventId) -> None:
        links.setdefault(a, set()).add(b)
        links.setdefault(b, set()).add(a)

    for item in mine:
        ev = decode_event(item.raw)
        ident = event_id_at(item.log, item.seq)
        if ident != ev.id:  # a shared copy: the share's own entry goes with what it carries
            link(ident, ev.id)
        if ev.supersedes is not None:
            link(ev.id, ev.supersedes)
    chain, todo = {target}, [target]
    while todo:
        for other in links.get(todo.pop(), ()):
            if other not in chain:
                chain.add(other)
                todo.append(other)
    chain.discard(target)
    return tuple(sorted(chain))


def apply_forgets(journal: Journal) -> int:
    """Erase what this device still holds of every entry its author asked to forget; returns
    how many entries lost their words here.

    Called after every ingest, so on a journal of years it must not read everything each time:
    when nothing merged since the last full look can change its conclusion (no retraction, no
    change of who is here, nothing with or linked to an id a forget reaches), it stops there."""
    reading = journal.reading
    items = journal.all_items()
    recent = reading.cache.take_recent()
    if _nothing_new_to_forget(recent, reading.forget_ids):
        return 0
    reading.forget_ids = None  # until this look is done
    targets, reading.forget_ids = _forgotten_and_ids(items, journal.items())
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
    if journal.reading.cache.keyless_without_items() == 0:  # usual: no item needs opening
        return []
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
    if opened:  # a correction or a share, readable now, of something already forgotten
        now = {(i.log, i.seq): i for i in journal.all_items()}
        now.update(((i.log, i.seq), i) for i in opened)
        late = {(i.log, i.seq) for i in forgotten(list(now.values()), _retractions(journal))}
        kept = {p: r for p, r in kept.items() if p not in late}
        opened = [i for i in opened if (i.log, i.seq) not in late]
    if kept:
        journal.store.put_keys(kept)
        journal.store.save_snapshot(*journal.reading.replaced(opened))
    return len(kept), bad


def _nothing_new_to_forget(recent: list[Item] | None, reached: frozenset[EventId] | None) -> bool:
    """Whether the last full look still holds: it was made, and since then only items came
    that cannot change what is forgotten."""
    if reached is None or recent is None:
        return False
    return not any(_may_be_forgotten(i, reached) for i in recent)


def _may_be_forgotten(item: Item, reached: frozenset[EventId]) -> bool:
    """Whether a newly merged item could change what is forgotten: a forget, a change of who
    is here (which forgets count), or an item with or linked to a reached id. A plain
    retraction hides what it names but erases nothing."""
    if item.type == EventType.RETRACT:
        body = decode_event(item.raw).body
        return isinstance(body, Retraction) and body.forget
    if item.type in MEMBERSHIP:
        return True
    if not reached:
        return False  # no forget reaches anything yet: no item's links to decode (the usual case)
    if not (item.type in KEYED_KINDS or item.type == EventType.KEYED):
        return False
    carried, supersedes = _links(item)
    return bool({event_id_at(item.log, item.seq), carried, supersedes} & reached)


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


__all__ = [
    "PENDING",
    "Position",
    "add_pending",
    "apply_forgets",
    "done",
    "forgotten",
    "pending",
    "versions",
]
