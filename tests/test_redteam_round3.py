"""Forgetting, sharing later and corrections, attacked by the partner with a modified client:
what it may cost an honest device, and what a keyed entry that lies about its kind can smuggle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tend.app import integrity, look, record
from tend.core.crypto import entry, keys, shred
from tend.core.domain.codec import decode_event, encode_event
from tend.core.domain.events import CheckIn, Event, Keyed, Retraction, Share
from tend.core.ids import EventId, SpaceId, event_id_at
from tend.core.journal import Journal, shredding
from tend.core.log import forgetting
from tend.core.log.header import entry_hash, next_header
from tend.core.trust.ingest import ingest
from tests.attacker import event_in, write_own
from tests.conftest import gossip, invite, keys_of

WORDS = "the words Thistlemoor"


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    gossip(sam, alex)
    return sam, alex


def _reversed_chain(alex: Journal, length: int) -> EventId:
    """A check-in, `length` corrections each of the one before, written with clocks that run
    backwards (so merge order lists the chain from its far end), and a forget of the first."""
    base = alex.last_hlc() + (1 << 40)
    first = event_in(alex, CheckIn(energy=1), hlc=base)
    write_own(alex, first)
    previous = first.id
    for k in range(length):
        ev = event_in(alex, CheckIn(energy=2), hlc=base - 1 - k, supersedes=previous)
        write_own(alex, ev)
        previous = ev.id
    write_own(alex, event_in(alex, Retraction(target=first.id, forget=True), hlc=base + 1))
    return first.id


def test_a_forgotten_chain_of_corrections_in_reverse_merge_order_is_walked_once(
    couple: tuple[Journal, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ingest works out what was forgotten. A partner's chain of corrections whose clocks
    run backwards once took a pass over every entry per link (10,000 links: minutes on every
    sync of every device); each entry is now looked at once, and the whole chain still goes."""
    sam, alex = couple
    length = 300
    _reversed_chain(alex, length)
    gossip(sam, alex)
    calls = 0
    links = shredding._links

    def counted(item):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return links(item)

    monkeypatch.setattr(shredding, "_links", counted)
    found = shredding.forgotten(sam.all_items(), sam.items())
    assert len(found) == length + 1
    assert calls <= length + 1


def test_a_forget_naming_only_the_first_of_a_long_chain_of_corrections_erases_all_of_it(
    couple: tuple[Journal, Journal],
) -> None:
    """A forget names at most 16 versions; one naming only the first of 20 corrections still
    reaches every one of them, on both devices, and `tend verify` tells all of them from a
    withheld key record (one walk down the chain)."""
    sam, alex = couple
    first = record.check_in(sam, energy=1, note=WORDS)
    previous = first.id
    for k in range(20):
        previous = record.check_in(sam, note=f"{WORDS} {k}", replaces=previous.hex()).id
    write_own(sam, event_in(sam, Retraction(target=first.id, forget=True)))
    shredding.apply_forgets(sam)
    gossip(sam, alex)
    for journal in (sam, alex):
        assert not any(WORDS.encode() in i.raw for i in journal.all_items())
        assert not [p for p in integrity.verify(journal).problems if "withheld" in p.reason]


def _keyed_lie(alex: Journal, kind: str, carried: Event) -> tuple[bytes, bytes]:
    """An entry of alex's whose Keyed body says `kind` but whose box holds `carried`, and a
    key record that opens it."""
    device = alex.device
    seq, prev = alex.store.head(device.log)  # type: ignore[misc]
    header = next_header(device.space, device.log, seq + 1, device.epoch, prev)
    content_key = shred.new_content_key()
    box = shred.seal_words(content_key, encode_event(carried), device.space, carried.id)
    outer = dataclasses.replace(carried, body=Keyed(kind=kind, box=box))
    raw = entry.build(header, encode_event(outer), device.sign_seed, device.space_key)
    sidecar = shred.wrap(device.space_key, entry_hash(raw), content_key)
    record_ = forgetting.key_record(sidecar, forgetting.token_hash(bytes(32)))
    return raw, record_


def test_a_keyed_entry_whose_kind_lies_smuggles_no_retraction_past_the_honest_device(
    couple: tuple[Journal, Journal],
) -> None:
    """A keyed body that says "checkin" but holds a forget retraction is refused where it is
    opened: the entry it names keeps its words, and nothing is shown as taken back."""
    sam, alex = couple
    own = record.check_in(alex, energy=2, note=WORDS)
    gossip(sam, alex)
    forget = event_in(alex, Retraction(target=own.id, forget=True))
    raw, key = _keyed_lie(alex, "checkin", forget)
    head = alex.store.head(alex.device.log)
    assert head is not None
    ingest(sam, [raw], keys={(alex.device.log, head[0] + 1): key})
    assert not [i for i in sam.items() if i.type == "retract"]
    assert any(WORDS.encode() in i.raw for i in sam.items())


def test_a_key_record_of_the_partners_entry_handed_over_for_another_opens_nothing(
    couple: tuple[Journal, Journal],
) -> None:
    """Key records travel by position: one the relay (or the partner) hands over for an entry
    it was not made for is not taken in, and is named as not opening its entry."""
    sam, alex = couple
    record.check_in(sam, energy=3, note=WORDS)
    record.check_in(alex, energy=1)
    gossip(sam, alex)
    (alex_key,) = [k for (log, _seq), k in keys_of(alex).items() if log == alex.device.log]
    (mine,) = [p for p in keys_of(sam) if p[0] == sam.device.log]
    (item,) = [i for i in sam.all_items() if (i.log, i.seq) == mine]
    sam.store.erase_keys([mine], sam.reading.replaced([shredding._placeholder(sam, item)]))
    kept, bad = shredding.adopt_keys(sam, {mine: alex_key})
    assert (kept, bad) == (0, [mine])
    assert sam.store.key_at(*mine) is None
    assert not any(WORDS.encode() in i.raw for i in sam.all_items())


def _copy_of(alex: Journal, ident: EventId, **changes: Any) -> Share:
    """A share of alex's entry `ident`, carrying it with `changes` made."""
    held = next(
        i for i in alex.all_items() if event_id_at(i.log, i.seq) == ident and i.origin is None
    )
    original = decode_event(held.raw)
    return Share(entry=encode_event(dataclasses.replace(original, **changes)), seq=held.seq)


def test_a_share_of_an_entry_that_was_never_private_cannot_rewrite_it_in_place(
    couple: tuple[Journal, Journal],
) -> None:
    """A share is read as the private entry it carries. One naming an entry that was never
    private (a modified client) would stand in its place with other words and no sign of a
    correction: it is not shown, on either device."""
    sam, alex = couple
    shown = record.check_in(alex, energy=1, note=WORDS)
    gossip(sam, alex)
    alex.record(_copy_of(alex, shown.id, body=CheckIn(energy=5, note="other words")))
    gossip(sam, alex)
    today = dt.date.today().isoformat()
    for journal in (sam, alex):
        days = look.week(journal).view.people[alex.device.person].checkins
        assert days[today] == CheckIn(energy=1, note=WORDS)


def test_a_share_that_moves_a_private_entry_to_another_day_or_clock_is_not_shown(
    couple: tuple[Journal, Journal],
) -> None:
    """What every device can see of a private entry (its day, clock and time) must be what
    its shared copy says: a copy moved to another day, or back in time, is not shown."""
    sam, alex = couple
    kept = record.check_in(alex, energy=1, note=WORDS, private=True)
    gossip(sam, alex)
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    alex.record(_copy_of(alex, kept.id, local_date=yesterday))
    held = next(i for i in alex.all_items() if event_id_at(i.log, i.seq) == kept.id)
    alex.record(_copy_of(alex, kept.id, hlc=held.hlc - (1 << 30)))
    gossip(sam, alex)
    assert not [i for i in sam.items() if i.author == alex.device.person and i.type == "checkin"]
    for journal in (sam, alex):
        days = look.week(journal).view.people[alex.device.person].checkins
        assert yesterday not in days


def test_an_erased_key_record_leaves_no_copy_in_the_wal_while_another_process_reads(
    tmp_path: Path,
) -> None:
    """Another process of the same device (a `tend watch`, a second command) may be reading
    the journal when a forget is applied: the WAL still holds the key record as first written
    until a checkpoint empties it, which a reader's open snapshot holds up. The erase waits for
    the reader to finish rather than leave the words' key in the WAL."""
    import sqlite3
    import threading
    import time

    from tend.core.log.store import SqliteLogStore
    from tests.test_store_contract import Writer

    writer = Writer(SpaceId(bytes(16)), bytes(32), keys.new_signing_seed())
    store = SqliteLogStore(tmp_path / "journal.db")
    [a1] = writer.chain(1)
    record_ = b"\x5a" * 16 + bytes(range(64))
    store.append([(a1, 1)], keys={(writer.log, 1): record_})
    reader = sqlite3.connect(tmp_path / "journal.db", isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM content_keys").fetchone()  # a snapshot held open
    threading.Timer(12, lambda: reader.execute("COMMIT")).start()
    started = time.monotonic()
    store.erase_keys([(writer.log, 1)], (1, b"snapshot"))
    held = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    store.close()
    reader.close()
    assert record_ not in held
    assert time.monotonic() - started < 60
