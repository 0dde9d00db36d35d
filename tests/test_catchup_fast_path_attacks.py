"""Attacks on the faster catch-up: an entry opened once (its header and hash worked out once),
the keyed entry's fast way through the mapper, the store's batched append, the envelope's
one-block derivation with a zero nonce, and the collector paused around ingest.

The attackers are the partner (a member running a modified client: the library used directly,
here through tests/attacker.py and the helpers below), and the relay (which can drop, splice
and replay entries and key records). Each test shows the fast way refuses what the whole way
refuses, or that nothing is lost, forked or left half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tend.core.crypto import entry, envelope, hkdf, shred
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event, encode_event
from tend.core.domain.events import Event, Gratitude, Keyed, Retraction
from tend.core.errors import ChainError, IntegrityError, InvalidEnvelope, UnreadableEntry
from tend.core.gcpause import gc_paused
from tend.core.ids import LogId, Seq, event_id_at
from tend.core.journal import Journal
from tend.core.journal.mapper import EntryMapper, item_of
from tend.core.log.header import Header, entry_hash, next_header
from tend.core.trust.engine import Reason
from tend.core.trust.ingest import ingest
from tend.core.trust.verify import WITHOUT_WORDS, verify
from tend.sync import client
from tend.sync import protocol as p
from tests.attacker import event_in, write_own
from tests.conftest import Relay, TendCLI, entries_of, gossip, invite, keys_of, pair
from tests.pipe import PipeRelay
from tests.test_attacks_e2e import attack
from tests.test_mapper import device, event_at

DROP = object()  # a change that leaves the field out of the outer event

# --- a modified client: keyed entries whose outer event is whatever the attacker likes ----------


def keyed_by_hand(
    of: DeviceKeys,
    ev: Event,
    change: dict[str, Any],
    head: tuple[int, bytes] | None = None,
    *,
    words: Event | None = None,
) -> tuple[bytes, bytes]:
    """A keyed entry carrying `words` (default `ev`) whose outer event is `ev` changed by
    `change`, well sealed and signed, after `head`; with its key record."""
    inner = words or ev
    content_key = shred.new_content_key()
    box = shred.seal_words(content_key, encode_event(inner), of.space, ev.id)
    outer = msgpack.unpackb(encode_event(dataclasses.replace(ev, body=Keyed(inner.type, box))))
    outer.update({k: v for k, v in change.items() if k != "p"})
    outer["p"].update(change.get("p", {}))  # a change to the body is merged into it
    for name in [k for k, v in outer.items() if v is DROP]:
        del outer[name]
    header = (
        next_header(of.space, of.log, head[0] + 1, of.epoch, head[1])
        if head
        else entry.first_header(of.space, of.sign_public, of.epoch)
    )
    raw = entry.build(header, msgpack.packb(outer, use_bin_type=True), of.sign_seed, of.space_key)
    return raw, EntryMapper(of).key_record(raw, header.epoch, ev.id, content_key)


def write_keyed(
    journal: Journal, ev: Event, change: dict[str, Any], *, words: Event | None = None
) -> bytes:
    """Append such an entry to the attacker's own log, with its key record, unchecked."""
    device = journal.device
    head = journal.store.head(device.log)
    raw, record = keyed_by_hand(device, ev, change, head, words=words)
    seq = Header.decode(raw).seq
    journal.store.append([(raw, 0)], keys={(device.log, seq): record})
    return raw


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    """Sam (honest) and Alex (the partner, who may run a modified client), paired."""
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    gossip(sam, alex)
    return sam, alex


def texts(journal: Journal) -> list[str]:
    return [e.body.text for e in journal.events() if isinstance(e.body, Gratitude)]


# --- the fast way and the whole way agree on every outer event ---------------------------------

ODD_OUTER: list[tuple[str, dict[str, Any]]] = [
    ("schema-a-float", {"v": 1.0}),
    ("schema-a-boolean", {"v": True}),
    ("schema-zero", {"v": 0}),
    ("schema-two", {"v": 2}),
    ("schema-a-string", {"v": "1"}),
    ("tz-a-float", {"z": 60.0}),
    ("tz-nan", {"z": math.nan}),
    ("clock-a-float", {"h": float(1 << 20)}),
    ("wall-a-boolean", {"w": True}),
    ("date-as-bytes", {"l": b"2026-03-14"}),
    ("id-as-a-string", {"i": "x" * 16}),
    ("device-of-another-log", {"d": bytes(16)}),
    ("author-of-another", {"a": bytes(16)}),
    ("seen-empty", {"k": {}}),
    ("seen-a-string-key", {"k": {"x" * 16: 1}}),
    ("supersedes-added", {"s": bytes(16)}),
    ("kind-another", {"p": {"kind": "checkin"}}),
    ("body-more-fields", {"p": {"x": 1}}),
    ("kind-membership", {"p": {"kind": "device.added"}}),
    ("kind-keyed", {"p": {"kind": "keyed"}}),
    ("kind-bytes", {"p": {"kind": b"gratitude"}}),
    ("type-not-keyed", {"t": "gratitude"}),
    ("id-missing", {"i": DROP}),
    ("id-none", {"i": None}),
    ("device-missing", {"d": DROP}),
    ("schema-missing", {"v": DROP}),
    ("author-missing", {"a": DROP}),
    ("clock-missing", {"h": DROP}),
    ("seen-missing", {"k": DROP}),
]


@pytest.mark.parametrize("change", [c for _n, c in ODD_OUTER], ids=[n for n, _c in ODD_OUTER])
def test_a_keyed_entry_opens_the_same_with_its_key_record_or_without(
    change: dict[str, Any],
) -> None:
    # The fast way is taken only with a key record: an outer event it takes must be one the
    # whole way takes too (without the record), or a device that lacks (or later erases) the
    # record refuses what its sibling applied. And it must build the outer event signed.
    sam = device()
    ev = event_at(sam, 1, Gratitude(text="x"))
    raw, key = keyed_by_hand(sam, ev, change)
    mapper = EntryMapper(sam)
    outcomes: list[Event | None] = []
    for record in (key, None):
        try:
            readable = mapper.to_readable(raw, record)
        except UnreadableEntry:
            outcomes.append(None)
            continue
        assert readable.outer == decode_event(readable.opened.event)
        assert readable.opened.hash == entry_hash(raw)
        assert readable.header == Header.decode(raw)
        outcomes.append(readable.outer)
    if outcomes[0] is not None:
        assert outcomes[1] == outcomes[0]
    # (Words that differ from their entry are refused with the record and read as the outer
    # event alone without it: the whole way's rule, as before; docs/security.md.)


def test_a_float_schema_version_on_a_keyed_entry_is_refused_on_every_device(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    # The partner writes a keyed entry whose outer event says schema 1.0 (== 1 in Python).
    # Taken in with its key record it used to be applied by the fast way, while a device
    # without the record (the relay withheld it) refused Alex's log from there on, and a
    # forget of it afterwards made Sam's journal unreadable: every command failed on it.
    sam, alex = couple
    odd = event_in(alex, Gratitude(text="one point oh"))
    odd_raw = write_keyed(alex, odd, {"v": 1.0})
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    seq = Header.decode(odd_raw).seq
    assert [(r.seq, r.reason) for r in report.refused] == [(seq, Reason.UNREADABLE)]
    assert "one point oh" not in texts(sam)
    sam_phone = invite(sam, tmp_path / "sam-phone", own=True, name=None)
    elsewhere = ingest(sam_phone, entries_of(alex))  # the relay withheld every key record
    assert [(r.seq, r.reason) for r in elsewhere.refused] == [(seq, Reason.UNREADABLE)]
    assert sam.store.head(alex.device.log) == sam_phone.store.head(alex.device.log)
    write_own(alex, event_in(alex, Retraction(target=odd.id, reason="gone", forget=True)))
    ingest(sam, entries_of(alex), keys=keys_of(alex))
    with Journal.open(sam.home) as again:
        assert "one point oh" not in texts(again)


def test_a_keyed_entry_without_an_id_is_refused_and_the_rest_of_the_batch_applies(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    # The fast way looked the id up before anything else had checked it was there: a KeyError
    # out of ingest, so every sync of the honest device failed on the partner's one entry.
    sam, alex = couple
    seq = int(alex.store.head(alex.device.log)[0]) + 1  # type: ignore[index]
    write_keyed(alex, event_in(alex, Gratitude(text="no id")), {"i": DROP})
    sam_phone = invite(sam, tmp_path / "sam-phone", own=True, name=None)
    sam_phone.record(Gratitude(text="from the phone"))
    batch = [*entries_of(alex), *entries_of(sam_phone)]
    report = ingest(sam, batch, keys=keys_of(alex) | keys_of(sam_phone))
    assert [(r.seq, r.reason) for r in report.refused] == [(seq, Reason.UNREADABLE)]
    assert "from the phone" in texts(sam) and "no id" not in texts(sam)


def test_a_keyed_entry_read_the_fast_way_still_cannot_claim_the_partner_as_author(
    couple: tuple[Journal, Journal],
) -> None:
    # Outer event and words agree (so the fast way builds the outer event), both saying Sam.
    sam, alex = couple
    seq = int(alex.store.head(alex.device.log)[0]) + 1  # type: ignore[index]
    forged = event_in(alex, Gratitude(text="signed as Sam"), author=sam.device.person)
    write_keyed(alex, forged, {})
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert [(r.seq, r.reason) for r in report.refused] == [(seq, Reason.WRONG_AUTHOR)]
    assert "signed as Sam" not in texts(sam)
    # And verify, which opens the attacker's own log with its key records, says so.
    problems = verify(alex).problems
    assert [(p.seq, p.reason) for p in problems] == [(seq, Reason.WRONG_AUTHOR.value)]


def test_words_claiming_another_author_than_their_entry_are_read_as_without_them(
    couple: tuple[Journal, Journal],
) -> None:
    # The outer event says Alex, the words inside say Sam: they differ, so the entry is read
    # as its outer event alone (as a device without the key record reads it), the words are
    # never shown, the rest of Alex's log is taken in, and verify names the entry.
    sam, alex = couple
    seq = int(alex.store.head(alex.device.log)[0]) + 1  # type: ignore[index]
    honest = event_in(alex, Gratitude(text="in Sam's name"))
    write_keyed(alex, honest, {}, words=dataclasses.replace(honest, author=sam.device.person))
    alex.record(Gratitude(text="after it"))
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert not report.refused
    assert "in Sam's name" not in texts(sam) and "after it" in texts(sam)
    assert sam.store.key_at(alex.device.log, seq) is None  # the record is not kept
    problems = verify(sam).problems
    assert [(p.seq, p.reason) for p in problems] == [(seq, WITHOUT_WORDS)]


def test_words_of_another_kind_than_their_entry_says_are_not_read() -> None:
    sam = device()
    raw, key = keyed_by_hand(sam, event_at(sam, 1, Gratitude(text="x")), {"p": {"kind": "checkin"}})
    mapper = EntryMapper(sam)
    readable = mapper.to_readable(raw, key)
    assert readable.key is None and readable.event == readable.outer
    assert item_of(readable, 1) == item_of(mapper.to_readable(raw, None), 1)


# --- the relay splices key records and entries --------------------------------------------------


def test_key_records_swapped_between_entries_open_neither_and_lose_nothing(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    alex.record(Gratitude(text="first words"))
    alex.record(Gratitude(text="second words"))
    keys = keys_of(alex)
    (a, ka), (b, kb) = sorted(keys.items())[-2:]
    spliced = {**keys, a: kb, b: ka}
    report = ingest(sam, entries_of(alex), keys=spliced)
    assert not report.refused
    assert sam.store.head(alex.device.log) == alex.store.head(alex.device.log)
    assert "first words" not in texts(sam) and "second words" not in texts(sam)
    assert sam.store.key_at(*a) is None and sam.store.key_at(*b) is None
    ingest(sam, entries_of(alex), keys=keys)  # the right records, later: the words come
    from tend.core.journal import shredding

    shredding.adopt_keys(sam, {a: ka, b: kb})
    assert {"first words", "second words"} <= set(texts(sam))


def test_an_entry_at_or_under_the_head_that_differs_is_a_fork_and_nothing_is_written(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    alex.record(Gratitude(text="kept"))
    gossip(sam, alex)
    held = entries_of(alex)
    head = sam.store.head(alex.device.log)
    assert head is not None
    # Alex re-signs another entry at a seq Sam holds (a fork), and sends it with new ones.
    at = int(head[0])
    stored = sam.store.entry_at(alex.device.log, at)
    assert stored is not None
    prev = sam.store.hash_at(alex.device.log, at - 1)
    assert prev is not None
    device = alex.device
    other = event_in(alex, Gratitude(text="a fork"), event_id=event_id_at(device.log, at))
    header = next_header(device.space, device.log, at, device.epoch, prev)
    fork = entry.build(header, encode_event(other), device.sign_seed, device.space_key)
    count = sam.store.count()
    report = ingest(sam, [*held, fork])
    assert [(r.seq, r.reason) for r in report.refused] == [(at, Reason.FORK)]
    assert sam.store.count() == count and sam.store.entry_at(device.log, at) == stored
    # Straight to the store (as the relay's copy or a repair would): refused as a whole.
    alex.record(Gratitude(text="new after the fork"))
    fresh = [e for e in entries_of(alex) if Header.decode(e).log == device.log][-1]
    with pytest.raises(ChainError, match="fork"):
        sam.store.append([(fresh, 0), (fork, 0)])
    assert sam.store.count() == count
    assert sam.store.head(device.log) == head


def test_the_same_seq_twice_in_one_batch_is_stored_once_or_refused_as_a_fork(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    gossip(sam, alex)
    alex.record(Gratitude(text="once"))
    new = entries_of(alex)[-1]
    header = Header.decode(new)
    device = alex.device
    other = event_in(alex, Gratitude(text="twice"), event_id=event_id_at(device.log, header.seq))
    twin = entry.build(header, encode_event(other), device.sign_seed, device.space_key)
    count = sam.store.count()
    # In the store: the same bytes twice are one entry; two different entries at one seq fail.
    with pytest.raises(ChainError, match="fork"):
        sam.store.append([(new, 0), (twin, 0)])
    assert sam.store.count() == count
    assert sam.store.append([(new, 0), (new, 0)]) == 1
    assert sam.store.count() == count + 1
    # Through ingest, a batch carrying both is a fork and applies neither.
    ingest_target = invite(sam, sam.home.parent / "sam-tablet", own=True, name=None)
    before = ingest_target.store.head(device.log)
    earlier = [e for e in entries_of(alex) if e != new]
    report = ingest(ingest_target, [*earlier, new, twin])
    assert Reason.FORK in [r.reason for r in report.refused]
    assert ingest_target.store.head(device.log) == before  # neither copy, nor what led up


def test_every_stored_hash_is_the_hash_of_the_stored_entry(
    couple: tuple[Journal, Journal],
) -> None:
    # The hash travels with the opened entry now: what the store keeps must still be its own.
    sam, alex = couple
    for n in range(3):
        alex.record(Gratitude(text=f"words {n}"))
    gossip(sam, alex)
    for held in sam.store.since(0):
        assert held.hash == entry_hash(held.entry)
        assert sam.store.hash_at(held.log, held.seq) == held.hash
    for log, (seq, digest) in sam.store.heads().items():
        assert digest == entry_hash(sam.store.entry_at(log, seq) or b"")


def test_a_store_failure_in_the_middle_of_a_batch_writes_nothing(
    couple: tuple[Journal, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    sam, alex = couple
    for n in range(3):
        alex.record(Gratitude(text=f"batch {n}"))
    count, heads = sam.store.count(), sam.store.heads()

    def put_keys_failing(self: Any, *args: Any, **kwargs: Any) -> int:
        raise IntegrityError("the disk said no")

    store_type = type(sam.store)
    monkeypatch.setattr(store_type, "_put_keys_locked", put_keys_failing, raising=False)
    with pytest.raises(IntegrityError):
        ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert sam.store.count() == count and sam.store.heads() == heads
    assert not {"batch 0", "batch 1", "batch 2"} & set(texts(sam))  # nothing shown unstored
    assert gc.isenabled()
    monkeypatch.undo()
    assert ingest(sam, entries_of(alex), keys=keys_of(alex)).applied == 3
    assert {"batch 0", "batch 1", "batch 2"} <= set(texts(sam))


# --- the collector pause --------------------------------------------------------------------------


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_the_collector_runs_again_after_an_ingest_that_fails(
    couple: tuple[Journal, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    sam, alex = couple
    alex.record(Gratitude(text="x"))

    def broken(*_a: object, **_k: object) -> int:
        raise IntegrityError("the disk said no")

    monkeypatch.setattr(sam.store, "append", broken)
    with pytest.raises(IntegrityError):
        ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_ingest_leaves_no_cycles_for_the_paused_collector_to_miss(
    couple: tuple[Journal, Journal],
) -> None:
    # With the collector paused, cyclic garbage would only pile up: a relay replaying the same
    # entries, junk and forks over and over must not make the device's memory grow.
    sam, alex = couple
    for n in range(10):
        alex.record(Gratitude(text=f"w{n}"))
    gossip(sam, alex)
    entries, keys = entries_of(alex), keys_of(alex)
    junk = [e[:-1] + bytes([e[-1] ^ 1]) for e in entries[-3:]]
    gc.collect()
    with gc_paused():
        for _round in range(30):
            ingest(sam, entries, keys=keys)
            ingest(sam, junk)
        left = gc.collect()
    assert left < 30  # not one cycle per ingest


@pytest.mark.usefixtures("collector_on")
def test_the_collector_pause_nests_and_is_undone_by_the_outermost() -> None:
    with gc_paused():
        with pytest.raises(RuntimeError), gc_paused():
            raise RuntimeError
        assert not gc.isenabled()  # the inner pause does not end the outer one
    assert gc.isenabled()


def test_the_collector_left_off_by_the_caller_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


@pytest.mark.usefixtures("collector_on")
def test_a_lifted_pause_runs_the_collector_meanwhile_and_pauses_it_again() -> None:
    with gc_paused() as pause:
        with pause.lifted():
            assert gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_lifted_pause_leaves_the_collector_off_when_the_caller_had_it_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_paused() as pause, pause.lifted():
            assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


# --- the envelope's one-block keys and zero nonce -----------------------------------------------


def test_every_envelope_gets_its_own_cipher_key_and_commitment() -> None:
    # The nonce is zero: safe only if no two envelopes ever share a cipher key. The salt is
    # fresh per envelope, so the derived keys differ even for the same key and plaintext.
    key = bytes(range(32))
    sealed = [envelope.seal(key, b"the same words", b"ctx") for _ in range(64)]
    salts = {s[1 + envelope.KEY_ID_LEN : envelope.PREFIX_LEN] for s in sealed}
    assert len(salts) == len(sealed)
    derived = {envelope._derive(key, salt) for salt in salts}
    assert len({k for k, _n, _c in derived}) == len(sealed)
    assert len({c for _k, _n, c in derived}) == len(sealed)
    assert all(k != c for k, _n, c in derived)
    assert all(envelope.open_envelope(key, s, b"ctx") == b"the same words" for s in sealed)


def test_an_envelope_moved_to_another_key_or_context_does_not_open() -> None:
    key, other = bytes(range(32)), bytes(range(1, 33))
    sealed = envelope.seal(key, b"words", b"ctx")
    for k, ctx in ((other, b"ctx"), (key, b"ctx2")):
        with pytest.raises(InvalidEnvelope):
            envelope.open_envelope(k, sealed, ctx)


def test_no_two_entries_share_a_wrap_key_and_a_record_opens_only_its_own_entry() -> None:
    # The sidecar is sealed with a zero nonce under a key of (epoch key, entry hash): two
    # entries (two hashes) never share it, and a record moved to another entry does not open.
    sam = device()
    head: tuple[Seq, bytes] | None = None
    raws, records = [], []
    for seq in range(1, 6):
        raw, record = EntryMapper(sam).write(event_at(sam, seq, Gratitude(text="same")), head)
        assert record is not None
        head = (Seq(seq), entry_hash(raw))
        raws.append(raw)
        records.append(record)
    epoch_key = sam.space_keys[sam.epoch]
    wraps = {shred._wrap_key(epoch_key, entry_hash(r)) for r in raws}
    assert len(wraps) == len(raws)
    mapper = EntryMapper(sam)
    for i, raw in enumerate(raws):
        for j, record in enumerate(records):
            assert (mapper.to_readable(raw, record).key is not None) == (i == j)


def test_one_block_expand_refuses_more_than_one_block_or_a_short_key() -> None:
    for length, name in ((33, "sha256"), (65, "sha512"), (0, "sha256")):
        with pytest.raises(ValueError):
            hkdf.expand(bytes(32), b"info", length, name)
    with pytest.raises(ValueError):
        hkdf.expand(bytes(16), b"info", 64, "sha512")


def test_a_removed_devices_keyed_entry_dated_before_its_removal_is_not_applied(
    tmp_path: Path, couple: tuple[Journal, Journal]
) -> None:
    # The removed device still holds the old epoch's key: its entry opens (the fast way, with
    # its key record), and is refused by where it stands in its log, whatever it is dated.
    from tend.core.trust import rotation

    sam, alex = couple
    old = invite(alex, tmp_path / "alex-old-phone", own=True, name=None)
    gossip(sam, alex, old)
    rotation.remove_device(alex, old.device.log)
    gossip(sam, alex)
    backdated = event_in(old, Gratitude(text="from a lost phone"), hlc=1 << 20)
    write_keyed(old, backdated, {})
    report = ingest(sam, entries_of(old), keys=keys_of(old))
    assert (report.refused, report.removed_history, report.applied) == ([], 1, 0)
    assert "from a lost phone" not in texts(sam)


# --- the device an entry claims ----------------------------------------------------------------


def test_a_device_id_in_a_keyed_entry_that_is_not_its_log_is_refused() -> None:
    sam = device()
    other = LogId(bytes(16))
    ev = dataclasses.replace(event_at(sam, 1, Gratitude(text="x")), device=other)
    raw, key = keyed_by_hand(sam, ev, {})
    with pytest.raises(UnreadableEntry, match="another device"):
        EntryMapper(sam).to_readable(raw, key)


def _pushed_by_hand(relay: Relay, home: Path, body: Gratitude, change: dict[str, Any]) -> int:
    """The partner's modified client writes a keyed entry changed by `change` after whatever
    else it wrote, and pushes what the relay lacks of its log, with key records, as sync
    would. Returns the entry's seq."""
    with Journal.open(home) as journal:
        log = journal.device.log
        first = Header.decode(write_keyed(journal, event_in(journal, body), change)).seq
        pushed = list(journal.store.log_entries(log, after=first - 1))
        entries, records = tuple(e.entry for e in pushed), tuple(e.key or b"" for e in pushed)
        answer = attack(relay.url, journal, p.Push(1, entries, records))
        assert isinstance(answer, p.Ack), answer
        return first


@pytest.mark.slow
def test_through_the_relay_a_keyed_entry_without_an_id_does_not_wedge_the_partners_sync(
    tmp_path: Path, relay: Relay
) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    sam.ok("sync")
    alex.ok("sync")
    _pushed_by_hand(relay, alex.home, Gratitude(text="no id"), {"i": DROP})
    for _again in range(2):  # no traceback (TendCLI insists), the same one-line refusal
        synced = sam("sync")
        assert synced.returncode == 3 and "cannot be opened" in synced.stdout + synced.stderr
    sam.ok("gratitude", "for the tea")
    assert sam("sync").returncode == 3
    held = [e for e in _timeline(sam) if e]
    assert "for the tea" in held and "no id" not in held


# --- through a real relay: the partner's odd entry, a fresh device's catch-up, a forget ---------


def _timeline(cli: TendCLI) -> list[str]:
    return [e["fields"].get("text") for e in cli.json("timeline")["events"]]


@pytest.mark.slow
def test_through_the_relay_a_float_schema_entry_is_refused_alike_and_its_forget_breaks_nothing(
    tmp_path: Path, relay: Relay
) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    phone = TendCLI(tmp_path / "sam-phone")
    pair(sam, phone, relay, "--own-device", name=None)
    for cli in (sam, alex, phone):
        cli.ok("sync")
    with Journal.open(alex.home) as alexs:
        log = alexs.device.log
        odd = event_in(alexs, Gratitude(text="one point oh"))
        first = Header.decode(write_keyed(alexs, odd, {"v": 1.0})).seq
        alexs.record(Gratitude(text="after the odd one"))
        pushed = list(alexs.store.log_entries(log, after=first - 1))
        # Alex's modified client pushes both, with their key records, as sync would.
        entries, records = tuple(e.entry for e in pushed), tuple(e.key or b"" for e in pushed)
        answer = attack(relay.url, alexs, p.Push(1, entries, records))
        assert isinstance(answer, p.Ack), answer
    synced = sam("sync")
    assert synced.returncode == 3, synced  # refused as tampering, and said so
    shown = _timeline(sam)
    assert "one point oh" not in shown and "after the odd one" not in shown
    # Sam's other device catches up (with the key records) to the same place.
    assert phone("sync").returncode == 3
    with Journal.open(sam.home) as sams, Journal.open(phone.home) as phones:
        assert sams.store.head(log) == phones.store.head(log)
    # Alex forgets the odd entry: Sam's journal still opens and syncs.
    with Journal.open(alex.home) as alexs:
        forget = write_own(alexs, event_in(alexs, Retraction(target=odd.id, forget=True)))
        assert isinstance(attack(relay.url, alexs, p.Push(2, (forget,), (b"",))), p.Ack)
    sam("sync")
    assert "one point oh" not in _timeline(sam)
    sam.ok("gratitude", "for the tea")
    assert sam("sync").returncode in (0, 3)  # Alex's log stays refused from the odd entry
    assert "for the tea" in _timeline(sam)


# --- a relay that holds a catch-up open ---------------------------------------------------------


@pytest.fixture
async def pipe_relay(tmp_path: Path) -> AsyncIterator[PipeRelay]:
    relay = await PipeRelay.open(tmp_path / "relay.db")
    yield relay
    await relay.close()


def _never_caught_up(data: bytes) -> bytes | None:
    """The relay sends its catch-up's pages but never says it is done."""
    return None if isinstance(p.decode(data), p.CaughtUp) else data


async def _stalled_catch_up(relay: PipeRelay, journal: Journal) -> asyncio.Task[client.SyncReport]:
    relay.tamper = _never_caught_up
    task = asyncio.create_task(client.sync_once_through(relay, journal))
    for _tick in range(300):  # until the device has asked for the catch-up, and waits
        if any(isinstance(f, p.Pull) for f in relay.received):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert not task.done()
    return task


@pytest.mark.usefixtures("collector_on")
async def test_the_collector_runs_again_when_the_link_drops_in_a_held_catch_up(
    pipe_relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    task = await _stalled_catch_up(pipe_relay, sam)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
async def test_a_relay_that_holds_a_catch_up_open_does_not_keep_the_collector_off(
    pipe_relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    task = await _stalled_catch_up(pipe_relay, sam)
    try:
        await asyncio.sleep(client.COLLECTOR_WAIT + 0.2)
        assert not task.done()
        assert gc.isenabled()  # what else this process runs meanwhile is collected as usual
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_a_batch_another_process_stored_meanwhile_is_taken_as_duplicates(
    couple: tuple[Journal, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `tend ui` and `tend sync` take in the same catch-up at once: the one that stores second
    # finds every entry at or under the head it now reads, the same bytes, and adds nothing.
    sam, alex = couple
    for n in range(3):
        alex.record(Gratitude(text=f"twice {n}"))
    entries, keys = entries_of(alex), keys_of(alex)
    with Journal.open(sam.home) as other:
        real = other.store.append

        def meanwhile(*args: Any, **kwargs: Any) -> int:
            ingest(sam, entries, keys=keys)  # the other process gets there first
            return real(*args, **kwargs)

        monkeypatch.setattr(other.store, "append", meanwhile)
        report = ingest(other, entries, keys=keys)
        assert report.applied == 0 and not report.refused
    assert sam.store.head(alex.device.log) == alex.store.head(alex.device.log)
    with Journal.open(sam.home) as again:
        assert {"twice 0", "twice 1", "twice 2"} <= set(texts(again))


def test_a_fork_another_process_stored_meanwhile_is_refused_whole_and_then_named(
    couple: tuple[Journal, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The partner signs two entries at one seq and the relay hands one to each process: the
    # second to store finds the first under its head and refuses its whole batch, and the
    # next look names the fork. Nothing of the second copy is kept.
    sam, alex = couple
    gossip(sam, alex)
    alex.record(Gratitude(text="one copy"))
    new = entries_of(alex)[-1]
    header = Header.decode(new)
    device = alex.device
    other_event = event_in(alex, Gratitude(text="another copy"))
    twin = entry.build(
        header,
        encode_event(dataclasses.replace(other_event, id=event_id_at(device.log, header.seq))),
        device.sign_seed,
        device.space_key,
    )
    with Journal.open(sam.home) as other:
        real = other.store.append

        def meanwhile(*args: Any, **kwargs: Any) -> int:
            ingest(sam, [new], keys=keys_of(alex))
            return real(*args, **kwargs)

        monkeypatch.setattr(other.store, "append", meanwhile)
        with pytest.raises(ChainError, match="fork"):
            ingest(other, [twin])
        monkeypatch.undo()
        again = ingest(other, [twin])
        assert [(r.seq, r.reason) for r in again.refused] == [(header.seq, Reason.FORK)]
    assert sam.store.entry_at(device.log, header.seq) == new
    assert "another copy" not in texts(sam)
