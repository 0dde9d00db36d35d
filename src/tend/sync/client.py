"""The device side of sync: a thin asyncio shell around `protocol.Connection`.

Creating the space: a device asks the relay to create its space only on its first hello there
(nothing of this relay is remembered yet) or when its person asks again (`forget_relay`): a
device whose space an operator cleared is told so (NotAtRelay) rather than quietly starting an
empty one. On an invite-only relay the first hello carries the operator's one-time code, kept
in the device settings ("admission_code") from when the person gave it until a welcome.

One pass (`tend sync`): say hello with the space's capability (following a signed key rotation
the relay hands over instead, if the capability was replaced), pull everything newer than our
version vector in bounded batches, verifying each batch before anything is applied
(core/trust/ingest.py), and only then upload: so a rotation that removed a device is known before
anything leaves, and what this device wrote offline under the revoked epoch, and that the relay
never got, is re-sealed under the new one first (core/trust/reseal.py). Then hand the relay any
rotation it has not seen. After the pass, what other devices said they had seen is compared with
what arrived (core/trust/witness.py), and what the relay holds with what it held before: a relay
that withholds or rolls back is reported, and what it lost is sent again.

Watching (`tend sync --watch`) stays connected after that: live entries from the relay are
verified and applied as they come, and entries recorded on this device are pushed as soon as the
`wake` event is set (by app/live.py, when this process records or another `tend` process pokes
it); an idle session waits on the socket and that event, and wakes for nothing else. A dropped
connection is retried with exponential backoff and jitter, resuming from the version vector, so
nothing is lost or applied twice (the relay and the store are both idempotent).

Everything here runs over a `Relay` (sync connections through sync/transport.py's `Transport`,
and a drop box for the escrow), so the same logic runs against the relay on the network
(`relay_at`) or, in tests, against the relay's own session logic through an in-memory pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import msgpack

from tend.core.crypto import keys
from tend.core.crypto.keystore import DeviceSettings
from tend.core.domain.events import Keyed
from tend.core.errors import ChainError, IntegrityError, NextStep, TendError
from tend.core.gcpause import Pause, gc_paused
from tend.core.ids import LogId, short
from tend.core.journal import Journal, shredding
from tend.core.log.header import Header
from tend.core.trust import lost, reseal, rotation, witness
from tend.core.trust.engine import Refusal
from tend.core.trust.ingest import IngestReport, ingest
from tend.sync import mailbox
from tend.sync import protocol as p
from tend.sync.batching import batches
from tend.sync.membership import credentials
from tend.sync.transport import (
    RelayRefused,
    RelayUnavailable,
    Transport,
    WebSocketDialer,
    sync_url,
)

__all__ = [
    "BATCH_BYTES",
    "LeftOut",
    "NotAdmitted",
    "NotAtRelay",
    "Relay",
    "RelayFullForNow",
    "RelayRefused",
    "RelayUnavailable",
    "RemovedFromSpace",
    "RolledBack",
    "Session",
    "SyncReport",
    "batches",
    "relay_at",
    "repair",
    "repair_through",
    "sync_once",
    "sync_once_through",
    "sync_url",
    "watch",
    "watch_through",
]

BATCH_BYTES = 1 << 20
# Catch-up entries verified and applied together, at most: few enough that the connection is
# read again (and the relay's pings answered) within a fraction of a second.
INGEST_BYTES = 8 << 20
INGEST_ENTRIES = 8192
# How long a catch-up waits for the relay's next frame with the collector paused: frames of a
# catch-up come back to back, so a longer wait is a slow or stalling relay.
COLLECTOR_WAIT = 0.5
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
MAX_PASSES = 2  # a second pass when the relay says it holds what others saw but did not send it
Progress = Callable[[int, int], None]


class RemovedFromSpace(TendError):
    """This device was removed from the journal by its own person (exit 1)."""


class LeftOut(IntegrityError):
    """The relay follows a key rotation that leaves this device out, with no removal of it by
    its own person: someone's mistake, or an attack; nothing here is lost (exit 3)."""


class NotAdmitted(RelayRefused):
    """The relay starts a journal only with its operator's code, or only so many from one
    network; nothing was sent, everything is kept here (exit 1)."""


class NotAtRelay(RelayRefused):
    """The relay no longer holds this journal (its operator cleared it); everything is kept
    here (exit 1)."""


class RelayFullForNow(RelayUnavailable):
    """The relay holds as much as its operator allows; what it did not take is kept here and
    goes at a later sync (exit 1)."""


FULL_WORDS = "the relay is full for now; everything is kept here and goes at a later sync"

ESCROW_REWRITE_AFTER = 30 * 86400.0  # seconds: the escrow is written again this often
# Seconds before an escrow a relay did not take (an address over its budget or rate, a full
# relay) is offered to it again: every sync meanwhile would only be refused, and load it.
ESCROW_RETRY_AFTER = 15 * 60.0
MAX_REKEYS = 16  # epochs a device may catch up on in one connection attempt


@dataclass(frozen=True)
class RolledBack:
    log: LogId
    lost: int  # entries the relay held before and holds no more


@dataclass
class SyncReport:
    uploaded: int = 0
    downloaded: int = 0
    duplicates: int = 0
    sealed_away: int = 0
    resealed: int = 0
    removed_history: int = 0
    pending: int = 0
    refused: list[Refusal] = field(default_factory=list)
    upload_refused: list[str] = field(default_factory=list)  # the relay's error codes
    withheld: list[witness.Withheld] = field(default_factory=list)
    rolled_back: list[RolledBack] = field(default_factory=list)
    own_log: bytes = b""  # this device's log, to tell its own problems from others'
    answered_lost: bool = False  # someone had marked this person lost; this device answered
    keys_fetched: int = 0  # key records taken in (words that opened here)
    keys_damaged: int = 0  # key records the relay handed over that did not open their entry
    forgotten_at_relay: int = 0  # key records the relay erased at this device's request
    relay_full: bool = False  # the relay took none of some pushes: it holds all it may

    def add(self, part: IngestReport) -> None:
        self.downloaded += part.applied
        self.duplicates += part.duplicates
        self.sealed_away += part.sealed_away
        self.removed_history += part.removed_history
        self.refused.extend(part.refused)

    def merge(self, other: SyncReport) -> None:
        self.add_counts(other)
        self.refused.extend(other.refused)
        self.upload_refused.extend(other.upload_refused)
        self.rolled_back.extend(other.rolled_back)
        self.withheld = other.withheld or self.withheld
        self.answered_lost = self.answered_lost or other.answered_lost
        self.keys_fetched += other.keys_fetched
        self.keys_damaged += other.keys_damaged
        self.forgotten_at_relay += other.forgotten_at_relay
        self.relay_full = self.relay_full or other.relay_full

    def add_counts(self, other: SyncReport) -> None:
        self.uploaded += other.uploaded
        self.downloaded += other.downloaded
        self.duplicates += other.duplicates
        self.sealed_away = other.sealed_away
        self.resealed += other.resealed
        self.removed_history += other.removed_history
        self.pending = other.pending

    @property
    def problems(self) -> list[Refusal]:
        return [r for r in self.refused if r.reason.integrity]


def _relay_key(url: str) -> str:
    return "relay-seen:" + hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


class Session:
    """One connection to the relay for one journal."""

    def __init__(self, journal: Journal, transport: Transport, url: str) -> None:
        self.journal = journal
        self.transport = transport
        self.url = url
        self.url_key = _relay_key(url)
        self.conn = p.Connection(p.Role.DEVICE)
        self.report = SyncReport(own_log=journal.device.log)
        self.relay_heads: p.Vector = {}
        self.caught_up: p.Vector = {}
        self._next_id = 1
        self._sent: p.Vector = {}  # what the relay holds or we pushed, per log
        self._acked: p.Vector = {}  # what the relay acknowledged holding, per log
        self._requests: dict[int, p.Vector] = {}  # push id -> highest seq per log
        self._seen: int | None = None  # the highest rowid _unsent has looked at
        self._pending: list[bytes] = []  # from devices not brought in (yet)
        self._claims = witness.load(journal.store)
        self._asked: set[shredding.Position] = set()  # key records asked for on this connection
        self._forgets: dict[int, shredding.Position] = {}  # Forget request id -> position

    def _apply(
        self, entries: Sequence[bytes], keys: Sequence[bytes] = ()
    ) -> list[shredding.Position]:
        """Verify and apply entries from the relay, with the key records that came beside them
        (`keys`: none, or one or b"" each), in one step; the relay has them, so never send them
        back. Returns the positions of the keyed entries applied without their key record."""
        records: dict[shredding.Position, bytes] = {}
        for raw, record in itertools.zip_longest(entries, keys[: len(entries)], fillvalue=b""):
            try:
                header = Header.decode(raw)
            except ChainError:
                continue
            if record:
                records[(header.log, header.seq)] = record
            # The relay holds this log up to here (it stores logs contiguously).
            self._sent[header.log] = max(self._sent.get(header.log, 0), header.seq)
        part = ingest(self.journal, [*self._pending, *entries], keys=records)
        self.report.add(part)
        self._pending = part.pending
        self._claims = witness.claims_of([r.outer for r in part.witnessed], self._claims)
        return [
            (r.header.log, r.header.seq)
            for r in part.witnessed
            if r.key is None and isinstance(r.outer.body, Keyed)
        ]

    async def send(self, frame: p.Frame) -> None:
        await self.transport.send(self.conn.send(frame))

    async def receive(self) -> p.Frame:
        frame = self.conn.receive(await self.transport.receive())
        if isinstance(frame, p.Error) and frame.code == p.ErrorCode.GOING_AWAY:
            # The relay is shutting down (a restart): try again later, as for a dropped link.
            raise RelayUnavailable("the relay is shutting down")
        if isinstance(frame, p.Error) and frame.code == p.ErrorCode.BUSY:
            # The relay holds all it can from our address now (connections, or large messages
            # on their way in): nothing was refused for good, so back off and try again.
            raise RelayUnavailable(
                f"the relay is busy ({_printable(frame.message)}); everything is kept here"
            )
        if isinstance(frame, p.Error) and frame.fatal and frame.code == p.ErrorCode.INTERNAL:
            # The relay's own failure (its database is down, say): nothing of ours was refused,
            # so a watching device backs off and tries again instead of giving up.
            raise RelayUnavailable("the relay failed on its side; try again later")
        if isinstance(frame, p.Error) and frame.fatal:
            _refused_for_good(frame)
            raise RelayRefused(
                f"the relay refused: {_printable(frame.code)}"
                + (f" ({_printable(frame.message)})" if frame.message else "")
            )
        return frame

    async def hello(self) -> bool:
        """Say hello; False if the relay handed us a new key instead (then reconnect)."""
        device = self.journal.device
        space, cap = credentials(self.journal)
        create = not welcomed_at(self.journal, self.url)
        code = device.settings.get("admission_code", "") if create else ""
        await self.send(p.Hello(p.PROTOCOL_VERSIONS, space, cap, create, code))
        frame = await self.receive()
        if isinstance(frame, p.Rekey):
            _follow(self.journal, frame)
            return False
        if not isinstance(frame, p.Welcome):
            raise RelayRefused(f"the relay answered {frame.TYPE} to hello")
        if create:
            self._welcomed_first()
        self.relay_heads = dict(frame.heads)
        self._sent = dict(frame.heads)
        self._check_rollback(frame.heads)
        return True

    def _welcomed_first(self) -> None:
        """From now on this relay holds our space: never ask it to create it again, and the
        code that let us in is spent."""
        _remember(self.journal, self.url_key, {})
        if self.journal.device.settings.pop("admission_code", None) is not None:
            self.journal.save_device()

    def _check_rollback(self, heads: p.Vector) -> None:
        """The relay now holds less of a log than it did: it lost or rolled back data."""
        before = _remembered(self.journal, self.url_key)
        for log, seq in sorted(before.items()):
            if heads.get(log, 0) < seq:
                self.report.rolled_back.append(RolledBack(LogId(log), seq - heads.get(log, 0)))

    async def rotate_if_needed(self) -> None:
        """Hand the relay every rotation it has not seen, oldest first: it checks who signed
        each one, so any device may, and the devices that stay (and only they) can follow."""
        for epoch, record, signature in rotation.pending_rotations(self.journal):
            request = self._next_id
            self._next_id += 1
            await self.send(p.Rotate(request, record, signature))
            while True:
                frame = await self.receive()
                if isinstance(frame, p.Ack) and frame.id == request:
                    rotation.set_relay_epoch(self.journal, epoch)
                    break
                if isinstance(frame, p.Error) and frame.id == request:
                    raise RelayRefused(f"the relay refused the new key: {_printable(frame.code)}")
                if isinstance(frame, p.Entries):
                    self._apply(frame.entries, frame.keys)

    def reseal_unsent(self) -> None:
        own = self.journal.device.log
        self.report.resealed += reseal.reseal_unsent(self.journal, self.relay_heads.get(own, 0))

    def _unsent(self) -> Iterator[bytes]:
        store = self.journal.store
        if self._seen is None:  # first look: every log the relay holds less of
            # Counted before looking: rows never go away and a new one gets a rowid above every
            # existing one, so all rows added from here on have rowid > count.
            count = store.count()
            for log, (seq, _hash) in store.heads().items():
                if seq > self._sent.get(log, 0):
                    for stored in store.log_entries(log, self._sent.get(log, 0)):
                        yield stored.entry
                    self._sent[log] = seq
            self._seen = count
            return
        # Later looks (when woken): only the rows added since the last one seen, found by
        # their rowid (no COUNT, which reads the whole table of a large journal).
        for stored in store.since(self._seen):
            self._seen = max(self._seen, stored.rowid)
            if stored.seq > self._sent.get(stored.log, 0):
                yield stored.entry
                self._sent[stored.log] = stored.seq

    def _key_records(self, batch: list[bytes]) -> tuple[bytes, ...]:
        """Each entry's key record as stored here (b"" for none); () when none has one."""
        store = self.journal.store
        records = []
        for raw in batch:
            header = Header.decode(raw)
            records.append(store.key_at(header.log, header.seq) or b"")
        return tuple(records) if any(records) else ()

    # --- key records: fetched for words held without them, erased when forgotten ------------

    def _fetch_frames(self, among: Sequence[shredding.Position] | None = None) -> list[p.FetchKeys]:
        """FetchKeys for the key records not yet asked for on this connection: of every entry
        held without its words, or only of those `among` (entries just applied)."""
        held = shredding.wanted(self.journal) if among is None else among
        wanted = [w for w in held if w not in self._asked]
        self._asked.update(wanted)
        frames = []
        for at in range(0, len(wanted), p.MAX_ENTRIES_PER_FRAME):
            chunk = wanted[at : at + p.MAX_ENTRIES_PER_FRAME]
            frames.append(p.FetchKeys(self._take_id(), tuple(p.position(*w) for w in chunk)))
        return frames

    def _forget_frames(self) -> list[p.Forget]:
        frames = []
        for log, seq in shredding.pending(self.journal):
            if (log, seq) in self._forgets.values():
                continue
            request = self._take_id()
            self._forgets[request] = (log, seq)
            token = self.journal.mapper.forget_token(log, seq)
            frames.append(p.Forget(request, log, seq, token))
        return frames

    def _take_id(self) -> int:
        request = self._next_id
        self._next_id += 1
        return request

    def _adopt(self, frame: p.Keys) -> None:
        records = {}
        for raw in frame.records:
            log, seq = p.split_position(raw[: p.POSITION_BYTES])
            records[(log, seq)] = raw[p.POSITION_BYTES :]
        kept, bad = shredding.adopt_keys(self.journal, records)
        self.report.keys_fetched += kept
        self.report.keys_damaged += len(bad)

    def _forget_answered(self, frame: p.Ack | p.Error) -> bool:
        """Whether `frame` answers one of our Forget requests (and take it in if so)."""
        position = self._forgets.pop(frame.id, None) if frame.id is not None else None
        if position is None:
            return False
        if isinstance(frame, p.Ack):
            self.report.forgotten_at_relay += frame.stored
        else:
            self.report.upload_refused.append(_printable(frame.code))
        shredding.done(self.journal, position)  # a refusal will not change on asking again
        return True

    async def exchange_keys(self) -> None:
        """Fetch the key records of words held here without them, and have the relay erase
        those this person asked to forget; returns once every request is answered."""
        fetches = self._fetch_frames()
        forgets = self._forget_frames()
        waiting = {f.id for f in fetches} | {f.id for f in forgets}
        requests: list[p.Frame] = [*fetches, *forgets]
        for frame in requests:
            await self.send(frame)
        while waiting:
            answer = await self.receive()
            if isinstance(answer, p.Keys) and answer.id in waiting:
                waiting.discard(answer.id)
                self._adopt(answer)
            elif isinstance(answer, p.Ack | p.Error) and answer.id in waiting:
                waiting.discard(answer.id)
                self._forget_answered(answer)
            elif isinstance(answer, p.Entries):
                self._apply(answer.entries, answer.keys)
            elif isinstance(answer, p.Ack):
                self._acknowledged(answer.id)

    async def _push(self, batch: list[bytes]) -> int:
        """Send one Push; returns its request id. This device's own entries in it count as
        having left it from now on (core/trust/reseal.py never rewrites them)."""
        request = self._next_id
        self._next_id += 1
        highest: p.Vector = {}
        for raw in batch:
            header = Header.decode(raw)
            highest[header.log] = max(highest.get(header.log, 0), header.seq)
        own = self.journal.device.log
        if own in highest:
            reseal.note_pushed(self.journal, highest[own])
        self._requests[request] = highest
        await self.send(p.Push(request, tuple(batch), self._key_records(batch)))
        return request

    def _acknowledged(self, request: int) -> None:
        for log, seq in self._requests.pop(request, {}).items():
            self._acked[log] = max(self._acked.get(log, 0), seq)

    async def upload(self) -> int:
        """Push everything the relay lacks; returns once every push is acknowledged."""
        pending: set[int] = set()
        for batch in batches(list(self._unsent()), BATCH_BYTES):
            pending.add(await self._push(batch))
        uploaded = 0
        while pending:
            frame = await self.receive()
            if isinstance(frame, p.Ack) and frame.id in pending:
                pending.discard(frame.id)
                self._acknowledged(frame.id)
                uploaded += frame.stored
            elif isinstance(frame, p.Error) and frame.id in pending:
                # Not fatal: what is here stays here, and catching up still runs, so one
                # refused log cannot stop the whole sync.
                pending.discard(frame.id)
                self._requests.pop(frame.id, None)
                if frame.code == p.ErrorCode.FULL:
                    self.report.relay_full = True  # sent again at the next sync
                else:
                    self.report.upload_refused.append(_printable(frame.code))
            elif isinstance(frame, p.Entries):
                self._apply(frame.entries, frame.keys)
        self.report.uploaded += uploaded
        return uploaded

    async def catch_up(self, progress: Progress | None = None) -> None:
        have: p.Vector = {log: int(seq) for log, (seq, _h) in self.journal.store.heads().items()}
        roster = self.journal.roster()
        for log in roster.cutoffs:
            # A removed device's entries after its cut-off never count: do not fetch them again.
            if log in self.relay_heads and have.get(log, 0) >= roster.cutoffs[log]:
                have[log] = max(have.get(log, 0), self.relay_heads[log])
        own = self.journal.device.log
        if self.relay_heads.get(own) and own in have:
            # Ask again for the relay's copy of our last entry it holds: if it holds something
            # else at our position (an older relay let junk in), this is where it shows (as a
            # fork), and `tend doctor` can have it dropped.
            have[own] = max(0, min(have[own], self.relay_heads[own]) - 1)
        missing = sum(max(0, seq - have.get(log, 0)) for log, seq in self.relay_heads.items())
        await self.send(p.Pull(have))
        # The view's snapshot is sealed once, after the last ingest, not after each one; and
        # the collector waits too: every ingest's objects mostly live on (core/gcpause.py).
        with self.journal.sealing_later(), gc_paused() as pause:
            await self._receive_catch_up(progress, missing, pause)

    async def _next_catch_up_frame(self, pause: Pause) -> p.Frame:
        # A relay that holds the catch-up open (a slow link, or one that never says CaughtUp)
        # must not keep the collector off for the whole process meanwhile: after a short
        # wait it runs again until the frame is here.
        receiving = asyncio.ensure_future(self.receive())
        try:
            done, _ = await asyncio.wait({receiving}, timeout=COLLECTOR_WAIT)
            if done:
                return receiving.result()
            with pause.lifted():
                return await receiving
        finally:
            receiving.cancel()

    async def _receive_catch_up(
        self, progress: Progress | None, missing: int, pause: Pause
    ) -> None:
        done = 0
        # Frames are taken in together, up to INGEST_BYTES or INGEST_ENTRIES: each ingest also
        # works out the roster and brings the journal's view up to date.
        pending: list[bytes] = []
        records: list[bytes] = []  # each pending entry's key record, b"" for none
        size = 0

        def take_in() -> None:
            if pending:
                self._apply(pending, records)
                pending.clear()
                records.clear()

        try:
            while True:
                frame = await self._next_catch_up_frame(pause)
                if isinstance(frame, p.CaughtUp):
                    self.caught_up = dict(frame.heads)
                    return
                if isinstance(frame, p.Entries):
                    pending.extend(frame.entries)
                    # The key records beside them: taken in with them, so that a fresh device
                    # never has to fetch (and re-seal its view for) every one afterwards.
                    records.extend(frame.keys or (b"",) * len(frame.entries))
                    size += sum(len(raw) for raw in frame.entries)
                    if size >= INGEST_BYTES or len(pending) >= INGEST_ENTRIES:
                        take_in()
                        size = 0
                    done += len(frame.entries)
                    if progress:
                        progress(done, max(missing, done))
        finally:
            take_in()  # also what arrived before the link dropped: it is kept, as before
            self.report.pending = len(self._pending)

    def finish(self) -> None:
        """After a pass: remember what was seen, and what the relay holds now."""
        witness.save(self.journal.store, self._claims)
        held = {log: int(seq) for log, (seq, _h) in self.journal.store.heads().items()}
        # What the relay said it holds, and what it acknowledged: never what it was only sent.
        logs = set(self.caught_up) | set(self._acked)
        remembered = {log: max(self.caught_up.get(log, 0), self._acked.get(log, 0)) for log in logs}
        _remember(self.journal, self.url_key, remembered)
        self.report.withheld = witness.withheld(self._claims, held, self.journal.roster())

    def relay_admits_more(self) -> bool:
        """Whether the relay says it holds entries another device saw that did not arrive."""
        return any(
            self.caught_up.get(w.log, 0) >= self._claims.get(w.log, (0, w.seen_by))[0]
            for w in self.report.withheld
        )

    async def live(
        self,
        stop: asyncio.Event,
        on_live: Callable[[], None] | None = None,
        wake: asyncio.Event | None = None,
        on_acked: Callable[[], None] | None = None,
    ) -> None:
        """Apply live entries and push local ones until `stop` is set or the link drops;
        `on_live` is told each time entries arrive and are applied, `on_acked` each time the
        relay acknowledges a push. Local entries are looked for when `wake` is set (and once
        at the start): nothing here runs on a timer."""
        wake = wake or asyncio.Event()
        receiver = asyncio.ensure_future(self._receive_live(on_live, on_acked))
        stopping = asyncio.ensure_future(stop.wait())
        for task in (receiver, stopping):
            task.add_done_callback(lambda _task: wake.set())
        try:
            while not stop.is_set() and not receiver.done():
                wake.clear()  # before looking: a wake while pushing is not lost
                await self._push_new()
                # A forget recorded here goes to the relay at once. Key records missing here
                # were asked for before going live, and live entries' come with them (or are
                # asked for as they arrive, from a relay that did not send them).
                for frame in self._forget_frames():
                    await self.send(frame)
                await wake.wait()
            if receiver.done():
                receiver.result()  # re-raise why the connection ended
        finally:
            receiver.cancel()
            stopping.cancel()

    async def _receive_live(
        self, on_live: Callable[[], None] | None, on_acked: Callable[[], None] | None = None
    ) -> None:
        while True:
            frame = await self.receive()
            if isinstance(frame, p.Entries):
                # Entries come with their key records, taken in with them. Any still missing
                # (an older relay, a record stored later) are asked for at once, and
                # subscribers told when the Keys arrive, so that the words are readable then.
                fetches = self._fetch_frames(self._apply(frame.entries, frame.keys))
                for fetch in fetches:
                    await self.send(fetch)
                if on_live and not fetches:
                    on_live()
            elif isinstance(frame, p.Keys):
                self._adopt(frame)
                if on_live:
                    on_live()  # words that came after their entries arrive with their keys
            elif isinstance(frame, p.Ack | p.Error) and self._forget_answered(frame):
                continue
            elif isinstance(frame, p.Ack):
                self._acknowledged(frame.id)
                if on_acked:
                    on_acked()
            elif isinstance(frame, p.Error) and frame.code == p.ErrorCode.FULL:
                raise RelayFullForNow(FULL_WORDS)  # reconnects later, resuming from its vector
            elif isinstance(frame, p.Error) and frame.id is not None:
                raise RelayRefused(f"the relay refused an upload: {_printable(frame.code)}")

    async def _push_new(self) -> None:
        for batch in batches(list(self._unsent()), BATCH_BYTES):
            await self._push(batch)
            self.report.uploaded += len(batch)

    async def repair_own_log(self) -> int:
        """Find where the relay's copy of this device's log stops being ours, and have the relay
        drop that tail (it checks our signature and that what it drops is not ours)."""
        device = self.journal.device
        await self.send(p.Pull({device.log: 0}))
        theirs: dict[int, bytes] = {}
        while True:
            frame = await self.receive()
            if isinstance(frame, p.CaughtUp):
                break
            if isinstance(frame, p.Entries):
                for raw in frame.entries:
                    with contextlib.suppress(ChainError):
                        header = Header.decode(raw)
                        if header.log == device.log:
                            theirs[header.seq] = raw
        first = next(
            (s for s in sorted(theirs) if self.journal.store.entry_at(device.log, s) != theirs[s]),
            None,
        )
        if first is None:
            return 0
        message = p.repair_message(device.space, device.log, first)
        request = self._next_id
        self._next_id += 1
        signature = keys.sign(device.sign_seed, message)
        await self.send(p.Repair(request, device.log, device.sign_public, first, signature))
        while True:
            frame = await self.receive()
            if isinstance(frame, p.Ack) and frame.id == request:
                return frame.stored
            if isinstance(frame, p.Error) and frame.id == request:
                raise RelayRefused(f"the relay did not repair the log: {_printable(frame.code)}")


async def _leave_escrow(journal: Journal, relay: Relay) -> None:
    """Leave the person's sealed recovery record with the relay, when what it holds changed
    or was last written ESCROW_REWRITE_AFTER ago: a relay lets an escrow nobody rewrites
    expire (after 400 days by default, never under 60), and this one is in use."""
    from tend.core.trust import recovery

    settings = journal.device.settings
    digest = recovery.escrow_digest(journal)
    now = time.time()  # wall-clock, as the relay counts an escrow's age
    if settings.get("escrow") == digest and not _escrow_stale(settings.get("escrow_at"), now):
        return
    by = f"{_relay_key(relay.url)} {digest}"
    if _refused_lately(settings, by, now):
        return
    locator, identity, blob, signature = recovery.escrow_write(journal)
    try:
        await relay.put_escrow(locator, identity, blob, signature, credentials(journal))
    except RelayUnavailable:
        # Not taken now (the relay is busy, or limits this address): what was synced stands,
        # and the record goes at a sync after ESCROW_RETRY_AFTER, since it is not noted as left.
        settings["escrow_refused_at"], settings["escrow_refused_by"] = now, by
        journal.save_device()
        return
    settings["escrow"] = digest
    settings["escrow_at"] = now
    settings.pop("escrow_refused_at", None)
    settings.pop("escrow_refused_by", None)
    journal.save_device()


def _refused_lately(settings: DeviceSettings, by: str, now: float) -> bool:
    """The relay and record `by` names said not now less than ESCROW_RETRY_AFTER ago (a refusal
    that lies ahead, a clock set back, counts as long ago). Only the same record at the same
    relay waits: another relay is asked at once, and so is this one for a record that changed
    since (a device removed, a new key)."""
    refused_at = settings.get("escrow_refused_at")
    return (
        settings.get("escrow_refused_by") == by
        and refused_at is not None
        and 0 <= now - refused_at < ESCROW_RETRY_AFTER
    )


def _escrow_stale(written_at: float | None, now: float) -> bool:
    """The escrow left at the relay should be written again to keep it from expiring (also
    when it was written is not known, or lies ahead: a clock set back)."""
    return written_at is None or not 0 <= now - written_at < ESCROW_REWRITE_AFTER


def _follow(journal: Journal, frame: p.Rekey) -> None:
    """The relay handed over a rotation instead of a welcome: adopt our copy, or say why not."""
    outcome = rotation.adopt_rekey(journal, frame.record, frame.signature)
    if outcome.result is rotation.Rekeyed.ADOPTED:
        return
    if outcome.result is rotation.Rekeyed.REMOVED:
        raise RemovedFromSpace(
            "this device was removed from the journal (by another of your devices); "
            "it keeps what it had but can no longer sync"
        )
    from tend.core.views import projections  # only to name who left this device out

    names = projections.names(journal.membership())
    person = journal.roster().person(outcome.signer)
    who = f"{names[person]}'s device" if person in names else f"device {short(outcome.signer)}"
    raise LeftOut(
        f"{who} renewed the journal's key without this device, and no removal of it by you "
        "was seen; nothing here is lost (ask them, and compare safety codes)"
    )


def _refused_for_good(frame: p.Error) -> None:
    """The fatal refusals a person can act on, in words (the relay's own are not shown)."""
    if frame.code == p.ErrorCode.ADMISSION:
        raise NotAdmitted(
            "this relay admits new journals with a code from its operator; nothing was sent "
            "and everything is kept here. Ask them for a code",
            next_step=NextStep.ADMISSION_CODE,
        )
    if frame.code == p.ErrorCode.SLOW_DOWN:
        raise NotAdmitted(
            "this relay has started as many new journals from your network as it allows for "
            "now; everything is kept here",
            next_step=NextStep.SYNC_LATER,
        )
    if frame.code == p.ErrorCode.UNKNOWN_SPACE:
        raise NotAtRelay(
            "this relay no longer holds your journal (a relay may clear journals that stay "
            "quiet for long); everything is kept here",
            next_step=NextStep.RECREATE,
        )


def give_admission_code(journal: Journal, code: str) -> None:
    """Keep the operator's code for the hello that creates the space at the relay."""
    journal.device.settings["admission_code"] = code.strip()
    journal.save_device()


def welcomed_at(journal: Journal, url: str) -> bool:
    """Whether the relay at `url` welcomed this device before (it holds our space)."""
    return bool(journal.store.meta(_relay_key(url)))


def forget_relay(journal: Journal, url: str) -> None:
    """Forget what the relay at `url` held, so the next hello asks it to create our space
    again (after its operator cleared it). Empty, not absent: nothing is known of it."""
    journal.store.replace_meta(_relay_key(url), b"")


def _remembered(journal: Journal, key: str) -> p.Vector:
    raw = journal.store.meta(key)
    if not raw:
        return {}
    try:
        body = msgpack.unpackb(raw, raw=False, strict_map_key=False, max_map_len=4096)
    except (ValueError, TypeError, msgpack.UnpackException):
        return {}
    if not isinstance(body, dict):
        return {}
    return {LogId(k): v for k, v in body.items() if isinstance(k, bytes) and isinstance(v, int)}


def _remember(journal: Journal, key: str, heads: p.Vector) -> None:
    journal.store.replace_meta(key, msgpack.packb(heads, use_bin_type=True))


def _printable(text: str) -> str:
    """A relay's words, shown to a person: no control characters reach the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


# --- reaching the relay, and the passes over it ---------------------------------------------------


class Relay(Protocol):
    """A relay as this device reaches it: sync connections, and a drop box for the escrow."""

    @property
    def url(self) -> str:
        """Where it is: also the key under which what it held is remembered."""
        ...

    async def connect(self) -> Transport:
        """A new sync connection (RelayUnavailable if the relay cannot be reached)."""
        ...

    async def put_escrow(
        self,
        locator: bytes,
        identity: bytes,
        blob: bytes,
        signature: bytes,
        member: tuple[bytes, bytes],
    ) -> None:
        """Store or replace the person's sealed recovery record (as sync/mailbox.py's), as a
        device of the journal `member` names."""
        ...


class _NetworkRelay:
    """The relay at a URL: websockets for sync, HTTP for the escrow."""

    def __init__(self, dialer: WebSocketDialer) -> None:
        self._dialer = dialer

    @property
    def url(self) -> str:
        return self._dialer.relay

    async def connect(self) -> Transport:
        return await self._dialer.connect()

    async def put_escrow(
        self,
        locator: bytes,
        identity: bytes,
        blob: bytes,
        signature: bytes,
        member: tuple[bytes, bytes],
    ) -> None:
        await mailbox.put_escrow(self.url, locator, identity, blob, signature, member)


@contextlib.asynccontextmanager
async def relay_at(url: str) -> AsyncIterator[Relay]:
    """The relay at `url`, reached over the network while inside."""
    async with WebSocketDialer(url) as dialer:
        yield _NetworkRelay(dialer)


async def _open_session(relay: Relay, journal: Journal) -> tuple[Transport, Session]:
    """Connect and say hello, following the relay's new-key hand-offs after removals."""
    for _attempt in range(MAX_REKEYS):
        transport = await relay.connect()
        session = Session(journal, transport, relay.url)
        try:
            if await session.hello():
                return transport, session
        except BaseException:
            await transport.close()
            raise
        await transport.close()
    raise RelayRefused("the relay keeps handing out new keys; try again later")


async def _exchange(session: Session, relay: Relay, progress: Progress | None) -> None:
    """One pass: everything new from the relay, then everything of ours it lacks."""
    journal = session.journal
    await session.catch_up(progress)
    rotation.catch_up_keys(journal)
    session.report.answered_lost = lost.answer_if_lost(journal)
    session.reseal_unsent()
    await session.upload()
    await session.exchange_keys()
    await session.rotate_if_needed()
    session.finish()
    await _leave_escrow(journal, relay)


async def _one_pass(relay: Relay, journal: Journal, progress: Progress | None) -> Session:
    transport, session = await _open_session(relay, journal)
    try:
        await _exchange(session, relay, progress)
    finally:
        await transport.close()
    return session


async def sync_once(journal: Journal, url: str, progress: Progress | None = None) -> SyncReport:
    """Catch up, upload, and return (`tend sync`)."""
    async with relay_at(url) as relay:
        return await sync_once_through(relay, journal, progress)


async def sync_once_through(
    relay: Relay, journal: Journal, progress: Progress | None = None
) -> SyncReport:
    report = SyncReport(own_log=journal.device.log)
    for _pass in range(MAX_PASSES):
        session = await _one_pass(relay, journal, progress)
        report.merge(session.report)
        if not session.relay_admits_more():
            break
    return report


async def repair(journal: Journal, url: str) -> int:
    """`tend doctor`: have the relay drop what it holds in this device's log that is not ours."""
    async with relay_at(url) as relay:
        return await repair_through(relay, journal)


async def repair_through(relay: Relay, journal: Journal) -> int:
    transport, session = await _open_session(relay, journal)
    try:
        return await session.repair_own_log()
    finally:
        await transport.close()


async def watch(
    journal: Journal,
    url: str,
    stop: asyncio.Event,
    on_report: Callable[[SyncReport], None] | None = None,
    on_live: Callable[[], None] | None = None,
    wake: asyncio.Event | None = None,
    on_down: Callable[[TendError], None] | None = None,
    on_acked: Callable[[], None] | None = None,
) -> SyncReport:
    """Stay in sync until `stop` is set, reconnecting with backoff and jitter; local entries
    are pushed when `wake` is set; `on_down` hears each time the relay cannot be reached or
    goes away (before waiting to try again), `on_acked` each live push the relay took."""
    async with relay_at(url) as relay:
        return await watch_through(
            relay, journal, stop, on_report, on_live, wake, on_down, on_acked
        )


async def watch_through(
    relay: Relay,
    journal: Journal,
    stop: asyncio.Event,
    on_report: Callable[[SyncReport], None] | None = None,
    on_live: Callable[[], None] | None = None,
    wake: asyncio.Event | None = None,
    on_down: Callable[[TendError], None] | None = None,
    on_acked: Callable[[], None] | None = None,
) -> SyncReport:
    total = SyncReport(own_log=journal.device.log)
    delay = BACKOFF_FIRST
    while not stop.is_set():
        try:
            transport, session = await _open_session(relay, journal)
            try:
                await _exchange(session, relay, None)
                delay = BACKOFF_FIRST
                if on_report:
                    on_report(session.report)
                await session.live(stop, on_live, wake, on_acked)
            finally:
                total.merge(session.report)
                await transport.close()
        except RelayUnavailable as e:
            if on_down and not stop.is_set():
                on_down(e)
        if stop.is_set():
            break
        # Full jitter: devices that lost the relay together do not come back together.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=random.uniform(0, delay))
        delay = min(delay * 2, BACKOFF_MAX)
    return total
