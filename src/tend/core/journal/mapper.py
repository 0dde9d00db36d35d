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
entry exists and nothing of what it says. Opening reverses both steps, and refuses a box whose
inner event is not the one the outer event says it is: a box copied into another entry (a
replay) is never shown.

A private entry shared later travels as a `Share` holding the original event's bytes; it is read
as that original event (the same id, day, clock and content) wherever it arrives, so the day it
belongs to gains it and nothing else moves. A share that carries another person's entry, a kind
that cannot be private, or an id its own device did not give it, is read as the bare share,
which no view shows.

Pure given the keys it is handed (this device's `DeviceKeys`, whose epochs grow in place as the
keyring adopts them): no store, no cache, no clock. Signatures and the roster are the trust
engine's to check (core/trust/engine.py).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from tend.core.crypto import entry, envelope
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event, encode_event
from tend.core.domain.events import SHAREABLE_TYPES, Event, Sealed, Share
from tend.core.errors import ChainError, CorruptStore, InvalidEnvelope, UnreadableEntry
from tend.core.ids import Seq, event_id_at, short
from tend.core.log.header import Header
from tend.core.views.read_model import Item

_PRIVATE_AAD = b"tend/private/v1"


class Readable(NamedTuple):
    """An opened entry: `outer` is what was signed; `event` is what this device can read.

    A named tuple rather than a frozen dataclass: this module is imported by every check-in, and
    building a dataclass costs most of a millisecond there, for nothing a check-in uses."""

    opened: entry.Opened
    outer: Event
    event: Event
    event_bytes: bytes

    @property
    def header(self) -> Header:
        return self.opened.header


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
        isinstance(readable.outer.body, Sealed),
        ev.device if isinstance(readable.outer.body, Share) and ev is not readable.outer else None,
    )


class EntryMapper:
    """Events to entry bytes and back, for one device and the keys it holds."""

    def __init__(self, device: DeviceKeys) -> None:
        self.device = device

    # --- writing ---------------------------------------------------------------------------

    def to_entry(
        self, ev: Event, head: tuple[Seq, bytes] | None, *, private: bool = False
    ) -> bytes:
        """The entry that carries `ev` after `head` (this log's last entry; None for its first),
        signed with this device's log key and sealed under the current epoch."""
        device = self.device
        header = (
            entry.next_header(device.space, device.log, head[0] + 1, device.epoch, head[1])
            if head
            else entry.first_header(device.space, device.sign_public, device.epoch)
        )
        stored = self._sealed(ev) if private else ev
        return entry.build(header, encode_event(stored), device.sign_seed, device.space_key)

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

    def to_readable(self, raw: bytes) -> Readable:
        """Open one stored or received entry: envelope, event, and a private box if it is ours.

        Raises UnreadableEntry naming the entry for anything that does not open or match.
        """
        try:
            opened = entry.open_entry(raw, self.device.space_keys.get)
            outer = decode_event(opened.event)
        except (InvalidEnvelope, ChainError, CorruptStore) as e:
            head = Header.decode(raw) if _parses(raw) else None
            where = f"log {short(head.log)} seq {head.seq}" if head else "an entry"
            raise UnreadableEntry(where, f"cannot be opened ({e})") from e
        header = opened.header
        where = f"log {short(header.log)} seq {header.seq}"
        if outer.device != header.log:
            raise UnreadableEntry(where, "claims another device than its own")
        if isinstance(outer.body, Share):
            shared = _shared(outer, outer.body)
            if shared is not None:
                return Readable(opened, outer, shared, encode_event(shared))
        inner = self.open_private(outer.body) if isinstance(outer.body, Sealed) else None
        if inner is None:
            return Readable(opened, outer, outer, opened.event)
        return Readable(opened, outer, _carried(inner, outer, where), inner)

    def open_private(self, sealed: Sealed) -> bytes | None:
        """The private event in `sealed`, or None when it is someone else's."""
        try:
            return envelope.open_envelope(self.device.private_key, sealed.box, self._private_aad)
        except InvalidEnvelope:
            return None  # someone else's private entry: it stays sealed

    @property
    def _private_aad(self) -> bytes:
        return _PRIVATE_AAD + self.device.space


def _carried(inner: bytes, outer: Event, where: str) -> Event:
    """The private event a box holds, once it is shown to be the one its entry says it carries."""
    try:
        ev = decode_event(inner)
    except CorruptStore as e:
        raise UnreadableEntry(where, f"a private entry is damaged ({e})") from e
    if (ev.id, ev.author, ev.device, ev.hlc) != (outer.id, outer.author, outer.device, outer.hlc):
        # A sealed box copied into another entry (a replay): refuse, never show.
        raise UnreadableEntry(where, "a private entry does not match the entry that carries it")
    return ev


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


def _parses(raw: bytes) -> bool:
    try:
        Header.decode(raw)
    except ChainError:
        return False
    return True


__all__ = ["EntryMapper", "Readable", "item_of"]
