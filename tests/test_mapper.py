"""The mapper between events and entries (core/journal/mapper.py), on its own: no store, no cache.

What one device's mapper writes, another mapper holding the same space keys opens to the same
event; a private event opens only for its author's own devices, and a private box carried by
any entry other than the one it was sealed for is refused. Old schema versions are upgraded on
the way out, as the codec does everywhere.
"""

from __future__ import annotations

import dataclasses

import msgpack
import pytest

from tend.core.crypto import entry, envelope, shred
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event, encode_event
from tend.core.domain.events import CheckIn, Event, Gratitude, Keyed, Payload, Retraction, Sealed
from tend.core.errors import UnreadableEntry
from tend.core.ids import LogId, Seq, event_id_at, new_space_id
from tend.core.journal.mapper import _PRIVATE_AAD, EntryMapper, Readable, item_of
from tests.conftest import another_device_of, new_person_device

SPACE = new_space_id()


def device() -> DeviceKeys:
    return new_person_device(SPACE)


def event_at(of: DeviceKeys, seq: int, body: Payload, *, hlc: int = 1 << 20) -> Event:
    return Event(
        id=event_id_at(of.log, seq),
        author=of.person,
        device=of.log,
        hlc=hlc,
        wall_ms=1_773_000_000_000,
        local_date="2026-03-14",
        tz_minutes=60,
        body=body,
    )


KEYS: dict[bytes, bytes] = {}  # entry -> its key record, as sync carries it beside the entry


def entry_of(
    of: DeviceKeys, ev: Event, head: tuple[Seq, bytes] | None = None, *, private: bool = False
) -> bytes:
    raw, key = EntryMapper(of).write(ev, head, private=private)
    if key is not None:
        KEYS[raw] = key
    return raw


def opened(reader: DeviceKeys, raw: bytes) -> Readable:
    """`raw` as `reader` opens it, with the key record written beside it."""
    return EntryMapper(reader).to_readable(raw, KEYS.get(raw))


def stored_event(reader: DeviceKeys, raw: bytes) -> Event:
    """The event a keyed entry's box holds (for a private one, its Sealed body)."""
    outer = decode_event(entry.open_entry(raw, reader.space_keys.get).event)
    assert isinstance(outer.body, Keyed)
    content_key = EntryMapper(reader).content_key(raw, KEYS[raw])
    return decode_event(shred.open_words(content_key, outer.body.box, reader.space, outer.id))


def written(of: DeviceKeys, bodies: list[tuple[Payload, bool]]) -> list[bytes]:
    """The entries `of`'s mapper writes for `bodies` (each with its `private` flag), chained."""
    raws = list[bytes]()
    for seq, (body, private) in enumerate(bodies, start=1):
        head = (Seq(seq - 1), entry.entry_hash(raws[-1])) if raws else None
        raws.append(entry_of(of, event_at(of, seq, body, hlc=seq), head, private=private))
    return raws


def test_a_shared_event_reads_back_whole_for_any_device_of_the_space() -> None:
    sam = device()
    alex = new_person_device(SPACE, like=sam)
    ev = event_at(sam, 1, Gratitude(text="the coffee while I rested"))
    raw = entry_of(sam, ev)
    for reader in (sam, alex):
        readable = opened(reader, raw)
        assert (readable.event, readable.event_bytes) == (ev, encode_event(ev))
        assert readable.outer == dataclasses.replace(ev, body=readable.outer.body)
        assert isinstance(readable.outer.body, Keyed) and readable.outer.body.kind == "gratitude"
        assert (readable.header.log, readable.header.seq) == (sam.log, 1)
        assert readable.opened.signed_by(sam.sign_public)


# --- the words under a content key ----------------------------------------------------------------


def test_without_its_key_record_a_keyed_entry_reads_as_its_outer_event_alone() -> None:
    sam = device()
    ev = event_at(sam, 1, Gratitude(text="Quillonbrae"))
    raw = entry_of(sam, ev)
    readable = EntryMapper(sam).to_readable(raw, None)
    assert readable.key is None and readable.event == readable.outer
    assert isinstance(readable.event.body, Keyed)
    assert b"Quillonbrae" not in readable.event_bytes
    assert item_of(readable, 0).type == "keyed"


def test_a_key_record_moved_to_another_entry_does_not_open_it() -> None:
    sam = device()
    first, second = written(sam, [(Gratitude(text="one"), False), (Gratitude(text="two"), False)])
    swapped = EntryMapper(sam).to_readable(second, KEYS[first])
    assert swapped.key is None and isinstance(swapped.event.body, Keyed)
    damaged = bytes([KEYS[second][0] ^ 1]) + KEYS[second][1:]
    assert EntryMapper(sam).to_readable(second, damaged).key is None
    assert EntryMapper(sam).to_readable(second, b"short").key is None
    assert opened(sam, second).event.body == Gratitude(text="two")


def test_membership_and_retractions_keep_their_words_in_the_entry() -> None:
    sam = device()
    raw, key = EntryMapper(sam).write(
        event_at(sam, 1, Retraction(target=event_id_at(sam.log, 9), reason="sorry")), None
    )
    assert key is None
    assert EntryMapper(sam).to_readable(raw).event.body == Retraction(
        target=event_id_at(sam.log, 9), reason="sorry"
    )


def test_a_private_event_reads_back_for_its_authors_devices_and_stays_sealed_for_the_partner() -> (
    None
):
    sam = device()
    sams_laptop = another_device_of(sam)
    alex = new_person_device(SPACE, like=sam)
    raws = written(sam, [(Gratitude(text="first"), False), (CheckIn(pain=7, note="mine"), True)])
    ev = event_at(sam, 2, CheckIn(pain=7, note="mine"), hlc=2)
    for own in (sam, sams_laptop):
        readable = opened(own, raws[1])
        assert (readable.event, readable.event_bytes) == (ev, encode_event(ev))
        assert isinstance(readable.outer.body, Keyed) and readable.outer.body.kind == "sealed"
        assert dataclasses.replace(readable.outer, body=ev.body) == ev
    theirs = opened(alex, raws[1])
    assert isinstance(theirs.event.body, Sealed)
    assert theirs.event == dataclasses.replace(theirs.outer, body=theirs.event.body)
    assert b"mine" not in raws[1] + theirs.event_bytes


def test_a_private_box_copied_into_another_entry_is_never_shown_and_read_alike() -> None:
    sam = device()
    [raw] = written(sam, [(CheckIn(note="only mine"), True)])
    box = stored_event(sam, raw).body
    assert isinstance(box, Sealed)
    # The same person's box, carried by an entry at another position (a replay in their own log).
    # Never shown: read as a private entry nobody here opens, as every other device reads it.
    replayed = written(sam, [(Gratitude(text="first"), False), (box, False)])[1]
    assert opened(sam, replayed).event.body == box
    # The partner, who cannot open it, replays it in an entry of their own: their log, same seq.
    alex = new_person_device(SPACE, like=sam)
    [theirs] = written(alex, [(box, False)])
    assert opened(sam, theirs).event == opened(alex, theirs).event  # opaque to both
    assert isinstance(opened(alex, theirs).event.body, Sealed)


def test_an_entry_under_an_epoch_not_held_is_unreadable_and_named() -> None:
    sam = device()
    [raw] = written(sam, [(Gratitude(text="x"), False)])
    stranger = device()  # the same space id, a space key of its own
    with pytest.raises(UnreadableEntry, match=r"seq 1: cannot be opened"):
        opened(stranger, raw)
    with pytest.raises(UnreadableEntry, match="an entry: cannot be opened"):
        opened(sam, b"not an entry")


def test_an_event_that_claims_another_device_than_its_log_is_refused() -> None:
    sam = device()
    ev = dataclasses.replace(event_at(sam, 1, Gratitude(text="x")), device=device().log)
    raw = entry_of(sam, ev)
    with pytest.raises(UnreadableEntry, match="claims another device than its own"):
        opened(sam, raw)


def test_an_old_schema_version_is_upgraded_on_the_way_out_shared_or_private() -> None:
    sam = device()
    ev = event_at(sam, 1, CheckIn(day="gentle", needs=("a quiet evening",)))
    old = msgpack.unpackb(encode_event(ev), raw=False)
    old["v"], old["p"] = 1, {"day": "gentle", "need": "a quiet evening"}
    v1: bytes = msgpack.packb(old, use_bin_type=True)
    mapper = EntryMapper(sam)
    header = entry.first_header(sam.space, sam.sign_public, sam.epoch)
    shared = entry.build(header, v1, sam.sign_seed, sam.space_key)
    assert mapper.to_readable(shared).event == ev
    box = envelope.seal(sam.private_key, v1, _PRIVATE_AAD + sam.space)
    private = entry_of(sam, dataclasses.replace(ev, body=Sealed(box=box)))
    assert opened(sam, private).event == ev


def test_the_item_of_an_opened_entry_is_what_the_read_model_selects_on() -> None:
    sam = device()
    ev = event_at(sam, 1, Gratitude(text="x"))
    readable: Readable = opened(sam, entry_of(sam, ev))
    item = item_of(readable, received_at=42)
    assert tuple(item) == (
        ev.hlc,
        sam.log,
        1,
        42,
        "2026-03-14",
        "gratitude",
        sam.person,
        None,
        encode_event(ev),
        False,  # not private
        None,  # not shared later
    )


def test_the_stored_item_is_the_item_of_the_whole_way_for_every_kind_of_entry() -> None:
    sam = device()
    raws = written(
        sam,
        [
            (Gratitude(text="shared"), False),
            (CheckIn(note="private"), True),
            (Retraction(target=event_id_at(sam.log, 1), reason="sorry"), False),
        ],
    )
    mapper = EntryMapper(sam)
    for raw in raws:
        for key in (KEYS.get(raw), None):
            whole = item_of(mapper.to_readable(raw, key), 7)
            assert mapper.stored_item(raw, 7, key) == whole


def test_a_private_entry_says_so_with_or_without_its_words() -> None:
    sam = device()
    alex = new_person_device(SPACE, like=sam)
    shared, private = written(sam, [(Gratitude(text="a"), False), (CheckIn(note="b"), True)])
    assert [opened(sam, r).private for r in (shared, private)] == [False, True]
    assert opened(alex, private).private
    assert EntryMapper(alex).to_readable(private, None).private


def _keyed_by_hand(of: DeviceKeys, ev: Event, change: dict[str, object]) -> tuple[bytes, bytes]:
    """A keyed entry of `ev` whose outer event is changed by `change` (a modified client),
    well sealed and signed, with its key record."""
    content_key = shred.new_content_key()
    box = shred.seal_words(content_key, encode_event(ev), of.space, ev.id)
    outer = msgpack.unpackb(encode_event(dataclasses.replace(ev, body=Keyed(ev.type, box))))
    outer.update(change)
    header = entry.first_header(of.space, of.sign_public, of.epoch)
    raw = entry.build(header, msgpack.packb(outer, use_bin_type=True), of.sign_seed, of.space_key)
    return raw, EntryMapper(of).key_record(raw, header.epoch, ev.id, content_key)


@pytest.mark.parametrize(
    "change",
    [{"z": 60.0}, {"w": 1_773_000_000_000.0}, {"h": True}, {"k": {bytes(16): True}}],
    ids=["tz-a-float", "wall-a-float", "clock-a-boolean", "seen-a-boolean"],
)
def test_an_outer_event_equal_to_its_words_only_in_python_is_refused(
    change: dict[str, object],
) -> None:
    # 60.0 == 60 and True == 1 in Python: the outer event must still be as valid as its words.
    sam = device()
    seen = ((LogId(bytes(16)), 1),) if "k" in change else ()
    hlc = 1 if "h" in change else 1 << 20
    ev = dataclasses.replace(event_at(sam, 1, Gratitude(text="x"), hlc=hlc), seen=seen)
    raw, key = _keyed_by_hand(sam, ev, change)
    with pytest.raises(UnreadableEntry, match="cannot be opened"):
        EntryMapper(sam).to_readable(raw, key)


@pytest.mark.parametrize(
    "change",
    [{"w": 1_600_000_000_000}, {"l": "2025-01-01"}, {"a": bytes(16)}, {"h": 1 << 21}],
    ids=["another-wall-time", "another-day", "another-author", "another-clock"],
)
def test_an_entry_whose_words_are_not_its_own_event_reads_as_without_its_record(
    change: dict[str, object],
) -> None:
    # Only the author can seal such words. Read with its record or without, the entry is its
    # outer event alone: no device shows what another cannot, and none refuses what another
    # takes (every device reads it alike).
    sam = device()
    ev = event_at(sam, 1, Gratitude(text="x"))
    raw, key = _keyed_by_hand(sam, ev, change)
    mapper = EntryMapper(sam)
    with_record, without = mapper.to_readable(raw, key), mapper.to_readable(raw, None)
    assert with_record.key is None and with_record.event == with_record.outer
    assert item_of(with_record, 7) == item_of(without, 7)
    assert with_record.event_bytes == with_record.opened.event  # not the words
