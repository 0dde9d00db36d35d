"""The mapper between events and entries: what a device writes, and what a read opens.

As eventsourcing's `Mapper` stands between domain events and stored events, this stands between
an `Event` (core/domain/events.py) and the signed, sealed, hash-chained entry that carries it
(core/crypto/entry.py), through the codec that upgrades old schema versions
(core/domain/codec.py).

Theory of operation
-------------------
A shared event is the plaintext of its entry. A private event is sealed first, under the key only
its author's own devices hold, into a `Sealed` body; the entry then carries an outer event with
the same id, author, device, clock and seen-vector around that box, so the partner sees that an
entry exists and nothing of what it says. Opening reverses both steps; a box whose inner event is
not the one the outer event says it is (a box copied into another entry: a replay, which the
partner can make of a box they hold but cannot open) is never shown, and is read as a private
entry this device cannot open, as every device without the key reads it, so that the devices
that can open it do not refuse the rest of the log.

The words of every entry a person writes (all but membership and retractions) are sealed once
more, under a content key of their own (core/crypto/shred.py): the outer event's body is then
`Keyed(kind, box)`, and the content key travels beside the entry in a key record (the sidecar:
the content key wrapped under the entry's epoch key and hash, and the hash of its forget
token). A private entry's `Sealed` event goes inside the box, so forgetting reaches it too.
Without its key record (erased, or never delivered) an entry opens to its outer event alone:
the read model keeps it as a placeholder of kind "keyed", and views say that words are not
there, never what they were. Words that open but are not the outer event's own (another kind,
author, date or clock: only the entry's author can seal such a box) are read the same way, as
if their record had not come: with the record or without, every device reads the entry alike,
and `tend verify` names it as an entry without its words.

A private entry shared later travels as a `Share` holding the original event's bytes (inside
the share's own box, under the share's own content key, so forgetting the entry erases the
shared copy's words as well: core/journal/shredding.py); it is read as that original event (the
same id, day, clock and content) wherever it arrives, so the day it belongs to gains it and
nothing else moves. A share that carries another person's entry, a kind that cannot be private,
or an id its own device did not give it, is read as the bare share, which no view shows. And
the read model counts a shared copy only beside the private entry it names, saying what every
device sees of that one (core/views/read_model.py `settled`).

Pure given the keys it is handed (this device's `DeviceKeys`, whose epochs grow in place as the
keyring adopts them): no store, no cache, no clock. Signatures and the roster are the trust
engine's to check (core/trust/engine.py).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from tend.core.crypto import entry, envelope, shred
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import Fields, decode_event, encode_event, event_of, unpack_event
from tend.core.domain.events import OPEN_KINDS, SHAREABLE_TYPES, Event, Keyed, Sealed, Share
from tend.core.errors import (
    ChainError,
    CorruptStore,
    InvalidEnvelope,
    UnreadableEntry,
    ValidationError,
)
from tend.core.ids import EventId, Seq, event_id_at, short
from tend.core.log import forgetting
from tend.core.log.header import Header, entry_hash
from tend.core.views.read_model import Item

_PRIVATE_AAD = b"tend/private/v1"
_KEYED_FIELDS = {"kind", "box"}
_BODY_FIELDS = {"t", "v", "p"}  # what a keyed entry's event and its words differ in
_ABSENT = object()  # a field one of two events lacks


class Readable(NamedTuple):
    """An opened entry: `outer` is what was signed; `event` is what this device can read.

    A named tuple rather than a frozen dataclass: this module is imported by every check-in, and
    building a dataclass costs most of a millisecond there, for nothing a check-in uses."""

    opened: entry.Opened
    outer: Event
    event: Event
    event_bytes: bytes
    key: bytes | None = None  # the key record that opened a keyed entry

    @property
    def header(self) -> Header:
        return self.opened.header

    @property
    def private(self) -> bool:
        """Whether the entry is a private one (its author's own devices alone can open it),
        told from what the entry carries, whether or not this device could open it."""
        return self.kind == Sealed.TYPE

    @property
    def kind(self) -> str:
        """The kind of event the entry carries, as signed: a keyed entry's says it."""
        body = self.outer.body
        return body.kind if isinstance(body, Keyed) else body.TYPE


def item_of(readable: Readable, received_at: int) -> Item:
    """The read model's row for an opened entry (core/views/read_model.py)."""
    ev = readable.event
    doc = ev.body.doc_name(ev) if ev.body.SHARED else None
    header = readable.header
    return Item(
        ev.hlc,
        header.log,
        header.seq,
        received_at,
        ev.local_date,
        ev.type,
        ev.author,
        doc,
        readable.event_bytes,
        readable.private,
        ev.device if readable.kind == Share.TYPE and ev.type != Share.TYPE else None,
    )


class EntryMapper:
    """Events to entry bytes and back, for one device and the keys it holds."""

    def __init__(self, device: DeviceKeys) -> None:
        self.device = device

    # --- writing ---------------------------------------------------------------------------

    def to_entry(
        self, ev: Event, head: tuple[Seq, bytes] | None, *, private: bool = False
    ) -> bytes:
        """The entry that carries `ev` after `head` (its key record aside: see `write`)."""
        return self.write(ev, head, private=private)[0]

    def write(
        self, ev: Event, head: tuple[Seq, bytes] | None, *, private: bool = False
    ) -> tuple[bytes, bytes | None]:
        """The entry that carries `ev` after `head` (this log's last entry; None for its first),
        signed with this device's log key and sealed under the current epoch, and its key
        record (None for the kinds whose words are not kept under a content key)."""
        device = self.device
        header = (
            entry.next_header(device.space, device.log, head[0] + 1, device.epoch, head[1])
            if head
            else entry.first_header(device.space, device.sign_public, device.epoch)
        )
        stored = self._sealed(ev) if private else ev
        if ev.type in OPEN_KINDS:
            raw = entry.build(header, encode_event(stored), device.sign_seed, device.space_key)
            return raw, None
        content_key = shred.new_content_key()
        box = shred.seal_words(content_key, encode_event(stored), device.space, ev.id)
        outer = dataclasses.replace(stored, body=Keyed(kind=stored.type, box=box))
        raw = entry.build(header, encode_event(outer), device.sign_seed, device.space_key)
        return raw, self.key_record(raw, header.epoch, ev.id, content_key)

    def key_record(self, raw: bytes, epoch: int, event_id: EventId, content_key: bytes) -> bytes:
        """The key record of this device's own entry `raw`: its sidecar and H(forget token)."""
        sidecar = shred.wrap(self.device.space_keys[epoch], entry_hash(raw), content_key)
        token = shred.forget_token(self.device.private_key, event_id)
        return forgetting.key_record(sidecar, forgetting.token_hash(token))

    def forget_token(self, log: bytes, seq: int) -> bytes:
        """The token that lets the relay erase the key record of this person's entry (log, seq)."""
        return shred.forget_token(self.device.private_key, event_id_at(log, seq))

    def content_key(self, raw: bytes, record: bytes) -> bytes:
        """The content key a key record holds for `raw`; InvalidEnvelope if it is not its own."""
        header = Header.decode(raw)
        epoch_key = self.device.space_keys.get(header.epoch)
        try:
            sidecar, _hash = forgetting.split_record(record)
        except ValueError:
            raise InvalidEnvelope from None
        if epoch_key is None:
            raise InvalidEnvelope
        return shred.unwrap(epoch_key, entry_hash(raw), sidecar)

    def _sealed(self, ev: Event) -> Event:
        """`ev` as its entry carries it when private: everything but the body in the clear."""
        box = envelope.seal(self.device.private_key, encode_event(ev), self._private_aad)
        return Event(
            id=ev.id,
            author=ev.author,
            device=ev.device,
            hlc=ev.hlc,
            wall_ms=ev.wall_ms,
            local_date=ev.local_date,
            tz_minutes=ev.tz_minutes,
            body=Sealed(box=box),
            seen=ev.seen,
        )

    # --- reading ---------------------------------------------------------------------------

    def to_readable(
        self, raw: bytes, key: bytes | None = None, header: Header | None = None
    ) -> Readable:
        """Open one stored or received entry: envelope, event, its words with its key record
        `key`, and a private box if it is ours. `header`, if given, is `Header.decode(raw)`.

        Raises UnreadableEntry naming the entry for anything that does not open or match. A
        keyed entry without a key record that opens it is readable as its outer event alone
        (`Readable.key` None): the words are not here, and the entry is otherwise whole.
        """
        try:
            opened = entry.open_entry(raw, self.device.space_keys.get, header)
            record = unpack_event(opened.event)
        except (InvalidEnvelope, ChainError, CorruptStore) as e:
            raise _unopened(raw, e) from e
        if key is not None:
            # The usual entry of years of them: its words, under its key record, are a plain
            # event that says what its outer event says. Taken without building that twice;
            # anything else (no key, a share, a private box, a mismatch) goes the whole way.
            fast = self._plain_keyed(opened, record, key)
            if fast is not None:
                return fast
        try:
            outer = event_of(record)
        except CorruptStore as e:
            raise _unopened(raw, e) from e
        return self._readable(opened, record, outer, key)

    def _readable(
        self, opened: entry.Opened, record: Fields, outer: Event, key: bytes | None
    ) -> Readable:
        header = opened.header
        where = f"log {short(header.log)} seq {header.seq}"
        if outer.device != header.log:
            raise UnreadableEntry(where, "claims another device than its own")
        stored, stored_bytes, used = outer, opened.event, None
        if isinstance(outer.body, Keyed):
            words = self._words(opened, outer, key)
            carried = None if words is None else _words_event(words, record, outer.body)
            if words is None or carried is None:
                # No key record that opens it, or words that are not the entry's own event
                # (only its author can seal those): read as its outer event alone, as a device
                # without the record reads it, so that every device reads it alike.
                return Readable(opened, outer, outer, opened.event)
            stored, stored_bytes, used = carried, words, key
        if isinstance(stored.body, Share):
            shared = _shared(stored, stored.body)
            if shared is not None:
                return Readable(opened, outer, shared, encode_event(shared), used)
        inner = self.open_private(stored.body) if isinstance(stored.body, Sealed) else None
        carried = None if inner is None else _carried(inner, outer, where)
        if inner is None or carried is None:
            return Readable(opened, outer, stored, stored_bytes, used)
        return Readable(opened, outer, carried, inner, used)

    def _plain_keyed(self, opened: entry.Opened, record: Fields, key: bytes) -> Readable | None:
        """`_readable`'s answer for a keyed entry whose words open under `key` into a plain
        event (neither shared nor private) with every field of the entry's own event; None
        for anything else, which then takes the whole way (and its refusals)."""
        body = record.get("p")
        version = record.get("v")
        if (
            record.get("t") != Keyed.TYPE
            # 1.0 == 1 in Python, but the whole way refuses a schema version that is not an int
            or type(version) is not int
            or version != Keyed.SCHEMA
            or record.get("d") != opened.header.log
            # An event without an id (or with one of another type) is the whole way's to refuse.
            or type(record.get("i")) is not bytes
            or type(body) is not dict
            or body.keys() != _KEYED_FIELDS
        ):
            return None
        try:
            words = self._open_words(opened, record["i"], body["box"], key)
            inner_record = unpack_event(words)
            inner = event_of(inner_record)
            outer_body = Keyed(kind=body["kind"], box=body["box"])
        except (InvalidEnvelope, CorruptStore, ValidationError, TypeError, ValueError):
            return None
        if (
            inner.type != outer_body.kind
            or isinstance(inner.body, Sealed | Share)
            or inner_record.keys() != record.keys()
            or not _same_fields(record, inner_record)
        ):
            return None
        outer = Event(
            inner.id,
            inner.author,
            inner.device,
            inner.hlc,
            inner.wall_ms,
            inner.local_date,
            inner.tz_minutes,
            outer_body,
            inner.supersedes,
            inner.seen,
        )
        return Readable(opened, outer, inner, words, key)

    def stored_item(self, raw: bytes, received_at: int, key: bytes | None) -> Item:
        """The read model's item of an entry this device holds."""
        return item_of(self.to_readable(raw, key), received_at)

    def _words(self, opened: entry.Opened, outer: Event, key: bytes | None) -> bytes | None:
        """The event bytes a keyed entry's box holds, or None without a key record to open it."""
        assert isinstance(outer.body, Keyed)
        if key is None:
            return None
        try:
            return self._open_words(opened, outer.id, outer.body.box, key)
        except InvalidEnvelope:
            return None  # not this entry's key record: as if none came (verify says so)

    def _open_words(self, opened: entry.Opened, event_id: bytes, box: bytes, key: bytes) -> bytes:
        """The words `box` holds, under the content key the key record `key` wraps for this
        entry; InvalidEnvelope if the record is not this entry's or the box does not open."""
        epoch_key = self.device.space_keys.get(opened.header.epoch)
        if epoch_key is None or len(key) != forgetting.RECORD_LEN:
            raise InvalidEnvelope
        content_key = shred.unwrap(epoch_key, opened.hash, key[: shred.SIDECAR_LEN])
        return shred.open_words(content_key, box, self.device.space, event_id)

    def open_private(self, sealed: Sealed) -> bytes | None:
        """The private event in `sealed`, or None when it is someone else's."""
        try:
            return envelope.open_envelope(self.device.private_key, sealed.box, self._private_aad)
        except InvalidEnvelope:
            return None  # someone else's private entry: it stays sealed

    @property
    def _private_aad(self) -> bytes:
        return _PRIVATE_AAD + self.device.space


def _carried(inner: bytes, outer: Event, where: str) -> Event | None:
    """The event a box holds, once it is shown to be the one its entry says it carries; None
    for a box that is not this entry's own."""
    try:
        ev = decode_event(inner)
    except CorruptStore as e:
        raise UnreadableEntry(where, f"a sealed entry is damaged ({e})") from e
    if (ev.id, ev.author, ev.device, ev.hlc) != (outer.id, outer.author, outer.device, outer.hlc):
        # A sealed box copied into another entry (a replay: the partner can copy one they
        # hold but cannot open into an entry of their own). Never shown; read as a private
        # entry this device cannot open, as every other device reads it, rather than refused
        # (a refusal here, and nowhere else, would stop this device taking the log).
        return None
    return ev


def _words_event(words: bytes, outer_record: Fields, body: Keyed) -> Event | None:
    """The event a keyed entry's words hold, when it is the entry's own event (every field but
    the body the same, as encoded: `outer_record`) of the kind the entry says; None for
    anything else."""
    try:
        inner_record = unpack_event(words)
        inner = event_of(inner_record)
    except (CorruptStore, ValidationError, TypeError, ValueError):
        return None
    if (
        inner.type != body.kind
        or inner_record.keys() != outer_record.keys()
        or not _same_fields(outer_record, inner_record)
    ):
        return None
    return inner


def _shared(outer: Event, share: Share) -> Event | None:
    """The entry a share carries, when it is the author's own, of a kind that can be private,
    written before the share and under the id its own device gave it; else None. A shared
    correction is read at the place of the entry it corrects (never later than its own)."""
    try:
        ev = decode_event(share.entry)
    except CorruptStore:
        return None
    if (
        ev.author != outer.author
        or ev.type not in SHAREABLE_TYPES
        or ev.hlc >= outer.hlc
        or ev.id != event_id_at(ev.device, share.seq)
        or share.place > ev.hlc
    ):
        return None
    return dataclasses.replace(ev, hlc=share.place) if share.place else ev


def _same_fields(outer: Fields, inner: Fields) -> bool:
    """Whether an entry's event says exactly what its (validated) words say, body aside, as
    encoded: 1, 1.0 and True are equal in Python but not as an event's fields, so every
    number must also be an int on the outer side, as it is on the inner one."""
    for k, value in outer.items():  # one loop, no set built: this runs for every entry
        if k not in _BODY_FIELDS and inner.get(k, _ABSENT) != value:
            return False
    if not (type(outer["h"]) is type(outer["w"]) is type(outer["z"]) is int):  # the numbers
        return False
    seen = outer.get("k")
    return seen is None or all(type(v) is int for v in seen.values())


def _unopened(raw: bytes, e: Exception) -> UnreadableEntry:
    head = Header.decode(raw) if _parses(raw) else None
    where = f"log {short(head.log)} seq {head.seq}" if head else "an entry"
    return UnreadableEntry(where, f"cannot be opened ({e})")


def _parses(raw: bytes) -> bool:
    try:
        Header.decode(raw)
    except ChainError:
        return False
    return True


__all__ = ["EntryMapper", "Readable", "item_of"]
