"""The relay: a blind aiohttp server that stores and forwards sealed entries between devices.

Theory of operation
-------------------
Each websocket at GET /v1/sync is one `Session`: a protocol.Connection(Role.RELAY) fed with every
message received, a reader (this handler) and a writer task draining the session's outbox.
Frames are encoded (and the Connection moved) as they are queued, and leave in queue order, so
the Connection's state always matches the wire. A slow device never stalls anyone else: live
entries for it queue up to MAX_BACKLOG_BYTES, past which it is dropped (it will reconnect and
catch up from its vector).

    Hello   version negotiated; an unknown space is registered (first come) if the device
            asked to create it; then sha256(capability) must match the stored hash, compared
            in constant time. No other frame is accepted before a Welcome.
    Push    store.put (atomic, durable); new entries forwarded to the space's other sessions;
            then Ack. A refusal is an Error with the request id; the connection stays open.
            Write authority: the capability lets a device into the space, not into a log. Each
            log's first entry carries its public key (the log id is derived from it), and the
            store refuses a run of new entries unless its last is signed by that key
            (bad_signature), so no member can append to another's log; nor can a removed log
            grow (removed).
    Pull    subscribe first (live entries buffer), page the store from the device's vector,
            CaughtUp(heads), then flush the buffer minus what the catch-up already sent.
            Entries stored after the subscription are never missed, and none is sent twice:
            a log's catch-up is contiguous from `have`, so one seq per log says what was sent.
    Rotate  a rotation record (core/log/rotation_record.py) signed by a log of the space. The
            store checks, inside its transaction, that the signer's key is the one it holds
            for that log and signed the record (bad_signature), that the signer was not removed
            (removed) and that the record replaces the current capability hash (unauthorized);
            then it sets the new hash, files the signed record under the old one, and marks
            the logs the record removes. Ack, and close the space's other sessions: they
            authenticated with the old capability. A later Hello with a replaced capability
            gets the filed record and signature in a Rekey frame, then a normal close, so a
            device offline during a rotation can follow it (and check the signer itself).
    Repair  a device asks, signing with its log key, to drop its own log's entries from a
            seq where the relay holds junk: entries an older relay, which checked no
            signatures, let someone else append. The store drops them only if the entry there
            is not signed by that key or not linked to the one before it, so nothing honest is
            ever dropped (else fork, or gap when nothing is held there). Ack(id, number dropped,
            at most 256). Sessions here, and through the store's notices on other instances,
            forget they sent that log from there, so its honest entries go out again.

A frame the protocol refuses (or a text message) gets a best-effort Error and a close; the
relay keeps serving everyone else. A device that does not read even that is cut off at the TCP
level after CLOSE_TIMEOUT. Entries are forwarded in commit order: forwarding happens
synchronously right after the store's commit returns, with no await in between.

Several instances (PostgreSQL): a store that other relay instances also write to is a
`SharedStore`, and reports their commits. The Hub then keeps a `_Feed` per space with sessions
here: it forwards entries contiguously per log from what this instance has already forwarded,
fetching with `since` what another instance stored (sessions drop what they were already sent,
the same rule as after a catch-up), and closes the sessions whose capability another
instance's Rotate replaced. With SQLite one process owns the file, so none of this runs.

What the relay learns: space ids, opaque log ids and each log's public key (one random key per
device, linked to no person), seqs, sizes and timing, and from rotation records which logs
stay and which were removed, and when. It logs one JSON object per line (event, the first 8 hex
digits of the space id, codes, counts, durations) and never entry bytes, capabilities, keys,
records, mailbox or invitation ids, locators or bodies.

Pairing mailboxes are memory-only: a restart empties them, which only means a pairing must
start over. POST /v1/mailbox/{32 hex}?ttl=S (S <= 600, body <= 64 KiB) queues a message (204;
429 when the mailbox holds MAILBOX_QUEUE messages or the relay is full; with claim=1, 409 when
the mailbox already holds a message or has a waiting reader, so an inviter picking a short
nameplate learns it is taken); GET ?wait=S (S <= 60) answers 200 with the oldest message,
removing it, or 404 when none came within the wait.

Invitations and recovery escrows are persistent, in the store. POST /v1/invitation/{32 hex}
?ttl=S (1 <= S <= 7 days, body 1 byte to 16 KiB) stores one message per id (409 if the id
holds one, or held one taken before its ttl ran out); GET answers it once (200) and deletes it,
else 404. PUT /v1/recovery/{locator, 32 hex} takes a msgpack map {i: identity record, b: blob,
g: signature}, decoded with tight bounds, and stores or replaces the blob only if
core/escrow.write_allowed says the identity the locator derives from signed it (else 403);
GET answers the blob or 404. Both kinds have a relay-wide cap (507 past it).

This module imports no secret-key, envelope or journal code: the relay cannot open what it
stores. The one cryptographic operation it performs is verifying Ed25519 signatures with public
keys (core/log/authorship.py, through the store and core/log/escrow.py).
`serve` (run_app) is called only from the CLI; tests build the app with `make_app`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgpack
from aiohttp import WSCloseCode, WSMsgType, web

from tend.core.errors import MissingExtra, ProtocolError
from tend.core.ids import LogId, SpaceId
from tend.core.log import escrow
from tend.core.log.header import SIGNATURE_LEN, Header
from tend.core.log.identity import IDENTITY_LEN
from tend.sync.protocol import (
    MAX_ENTRIES_PER_FRAME,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSIONS,
    Ack,
    CaughtUp,
    Connection,
    Entries,
    Error,
    ErrorCode,
    Frame,
    Hello,
    Pull,
    Push,
    Rekey,
    RemoteProtocolError,
    Repair,
    Role,
    Rotate,
    Vector,
    Welcome,
    encode,
    negotiate,
)
from tend.sync.relay_store import (
    DEFAULT_ESCROW_CAP,
    DEFAULT_INVITATION_CAP,
    DEFAULT_QUOTA,
    CapReached,
    Caps,
    Change,
    PushRefused,
    RelayStore,
    SqliteRelayStore,
    StoreFailure,
)

logger = logging.getLogger("tend.relay")

FRAME_BYTES = 1 << 20  # entry bytes per outgoing Entries frame (well under MAX_FRAME_BYTES)
PACE_BYTES = 2 << 20  # catch-up waits while this much is queued for the device
MAX_BACKLOG_BYTES = 16 << 20  # queued or buffered for one device before it is dropped
CLOSE_TIMEOUT = 5.0  # seconds to flush a final Error and close
HEARTBEAT = 30.0  # websocket ping interval; a silent peer is dropped

MAILBOX_ID = re.compile(r"[0-9a-f]{32}")
MAILBOX_MAX_BYTES = 64 << 10
MAILBOX_MAX_TTL = 600
MAILBOX_MAX_WAIT = 60
MAILBOX_QUEUE = 4
MAX_MAILBOXES = 10_000
MAILBOX_TOTAL_BYTES = 64 << 20

INVITATION_MAX_BYTES = 16 << 10
INVITATION_MIN_TTL = 1
INVITATION_MAX_TTL = 7 * 24 * 3600
ESCROW_MAX_BODY = escrow.MAX_BLOB + 256  # the blob, and identity and signature packed around it


def log_event(event: str, space: bytes | None = None, **fields: object) -> None:
    """One JSON line. Callers pass counts, codes and durations: never entries or secrets."""
    record: dict[str, object] = {"event": event}
    if space is not None:
        record["space"] = space.hex()[:8]
    record.update(fields)
    logger.info(json.dumps(record, separators=(",", ":")))


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


def entry_frames(entries: Sequence[bytes]) -> Iterator[tuple[bytes, ...]]:
    """Batches of at most MAX_ENTRIES_PER_FRAME entries and about FRAME_BYTES bytes."""
    batch: list[bytes] = []
    size = 0
    for raw in entries:
        if batch and (len(batch) == MAX_ENTRIES_PER_FRAME or size + len(raw) > FRAME_BYTES):
            yield tuple(batch)
            batch, size = [], 0
        batch.append(raw)
        size += len(raw)
    if batch:
        yield tuple(batch)


# --- metrics ------------------------------------------------------------------------------------


@dataclass
class Metrics:
    frames_received: int = 0
    entries_stored: int = 0
    bytes_stored: int = 0
    entries_dropped: int = 0
    catchup_entries_sent: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def render(self, connections: int, mailboxes: int) -> str:
        """Prometheus text exposition format, version 0.0.4."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: dict[str, int]) -> None:
            lines.extend((f"# HELP {name} {help_}", f"# TYPE {name} {kind}"))
            lines.extend(f"{name}{labels} {value}" for labels, value in samples.items())

        metric("tend_relay_connections", "gauge", "Open sync websockets.", {"": connections})
        metric("tend_relay_mailboxes", "gauge", "Pairing mailboxes in memory.", {"": mailboxes})
        counters = {
            "frames_received": ("Frames received from devices.", self.frames_received),
            "entries_stored": ("Entries newly stored.", self.entries_stored),
            "bytes_stored": ("Bytes of entries newly stored.", self.bytes_stored),
            "entries_dropped": ("Entries dropped by repairs.", self.entries_dropped),
            "catchup_entries_sent": ("Entries sent in catch-up.", self.catchup_entries_sent),
        }
        for name, (help_, value) in counters.items():
            metric(f"tend_relay_{name}_total", "counter", help_, {"": value})
        errors = {f'{{code="{code.value}"}}': self.errors[code.value] for code in ErrorCode}
        metric("tend_relay_errors_total", "counter", "Error frames sent, by code.", errors)
        return "\n".join(lines) + "\n"


# --- sessions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Out:
    """One encoded frame in an outbox; `entry_bytes` counts toward the device's backlog."""

    data: bytes
    entry_bytes: int = 0


@dataclass(frozen=True)
class _Close:
    """Outbox marker: close the websocket once everything before it is sent."""

    code: int


@runtime_checkable
class SharedStore(Protocol):
    """A RelayStore that other relay instances write to as well (PostgreSQL). SQLite is not
    one: a single relay process owns its file and sees every commit itself."""

    def changes(self) -> AsyncIterator[Change]:
        """Each commit another instance made: new entries, a replaced capability (rotated), or
        a repaired log. No space: some may have been missed; every space may have changed."""
        ...


class Hub:
    """Every open session, and the sessions of each space, for forwarding and shutdown."""

    def __init__(self) -> None:
        self.sessions: set[Session] = set()
        self._spaces: dict[SpaceId, set[Session]] = {}
        self.shared: RelayStore | None = None  # set when other instances write to the store
        self._feeds: dict[SpaceId, _Feed] = {}

    async def join(self, session: Session, space: SpaceId) -> None:
        self._spaces.setdefault(space, set()).add(session)
        if self.shared is not None:
            feed = self._feeds.setdefault(space, _Feed(self, self.shared, space))
            await feed.start()  # before the session can pull, so its feed misses nothing

    def leave(self, session: Session) -> None:
        self.sessions.discard(session)
        self.leave_space(session)

    def leave_space(self, session: Session) -> None:
        """Stop forwarding to the session (it is closing); it stays tracked until it ends."""
        if session.space is not None:
            members = self._spaces.get(session.space, set())
            members.discard(session)
            if not members:
                self._spaces.pop(session.space, None)
                if (feed := self._feeds.pop(session.space, None)) is not None:
                    feed.stop()

    def members(self, space: SpaceId) -> list[Session]:
        return list(self._spaces.get(space, ()))

    def others(self, session: Session) -> list[Session]:
        assert session.space is not None
        return [s for s in self._spaces.get(session.space, ()) if s is not session]

    def forward(self, sender: Session, entries: Sequence[bytes]) -> None:
        """Entries the sender just stored, to the space's other sessions, in commit order."""
        assert sender.space is not None
        if (feed := self._feeds.get(sender.space)) is not None:
            feed.stored_here(sender, entries)
        else:
            for other in self.others(sender):
                other.deliver(entries)

    def rewind(self, space: SpaceId, log: LogId, from_seq: int) -> None:
        """A repair dropped the log from `from_seq`: what was sent of it from there was junk,
        and the honest entries that replace it must go out again. Call with no await between
        the commit and here (or the notice of it), like forward."""
        if (feed := self._feeds.get(space)) is not None and feed.vector is not None:
            _rewind(feed.vector, log, from_seq)
        for session in self.members(space):
            _rewind(session.sent, log, from_seq)

    async def follow(self, changes: AsyncIterator[Change]) -> None:
        """Act on other instances' commits to spaces with sessions here, until cancelled."""
        try:
            async for change in changes:
                if change.space is None:
                    log_event("store.changes_resumed", spaces=len(self._feeds))
                    feeds = list(self._feeds.values())
                else:
                    feeds = [self._feeds[change.space]] if change.space in self._feeds else []
                if change.space is not None and change.repaired is not None and feeds:
                    self.rewind(change.space, *change.repaired)
                for feed in feeds:
                    feed.poke(recheck=change.rotated)
        except Exception as e:  # other instances' entries stop arriving here: say so loudly
            event = {"event": "store.changes_failed", "error": type(e).__name__}
            logger.exception(json.dumps(event))
            raise


class _Feed:
    """One space's live entries on this instance, when other instances store entries too.

    `vector` is what this instance has forwarded; entries go out contiguous per log from it.
    One stored here that extends it goes out at once (still in commit order). One that does not
    means another instance stored the entries before it and the notice is on its way: fetch
    rather than send a log out of order. Fetching pages `since(vector)`, so an entry another
    instance stored reaches every session here once, after its predecessors."""

    def __init__(self, hub: Hub, store: RelayStore, space: SpaceId) -> None:
        self.hub = hub
        self.store = store
        self.space = space
        self.vector: Vector | None = None
        self._starting = asyncio.Lock()
        self._fetch = self._recheck = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self._starting:
            if self.vector is None:
                self.vector = await self.store.heads(self.space)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def stored_here(self, sender: Session, entries: Sequence[bytes]) -> None:
        if self.vector is None:  # nobody has been welcomed yet
            return
        fresh: list[bytes] = []
        for raw in entries:
            header = Header.decode(raw)
            last = self.vector.get(header.log, 0)
            if header.seq == last + 1:
                self.vector[header.log] = header.seq
                fresh.append(raw)
            elif header.seq > last:
                self.poke()
        for session in self.hub.members(self.space):
            if session is not sender:
                session.deliver(fresh)

    def poke(self, *, recheck: bool = False) -> None:
        """Fetch what other instances stored; with `recheck`, also close the sessions whose
        capability was replaced."""
        self._fetch = True
        self._recheck |= recheck
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.start()
            while self._recheck or self._fetch:
                if self._recheck:
                    self._recheck = False
                    await self._close_replaced()
                if self._fetch:
                    self._fetch = False
                    await self._fetch_new()
        except Exception as e:  # the sessions would silently miss entries: they reconnect
            for session in self.hub.members(self.space):
                session._internal(e)

    async def _fetch_new(self) -> None:
        assert self.vector is not None
        while True:
            page = await self.store.since(self.space, dict(self.vector), MAX_ENTRIES_PER_FRAME)
            fresh = _unsent(self.vector, page)  # some may have been stored here meanwhile
            for session in self.hub.members(self.space):
                session.deliver(fresh)
            if len(page) < MAX_ENTRIES_PER_FRAME:
                return

    async def _close_replaced(self) -> None:
        current = await self.store.capability_hash(self.space)
        closed = 0
        for session in self.hub.members(self.space):
            if current is None or not hmac.compare_digest(session.capability_hash, current):
                session.fail(ErrorCode.UNAUTHORIZED, "the space's capability was replaced")
                closed += 1
        if closed:
            log_event("space.rotated_elsewhere", self.space, closed=closed)


class Session:
    """One device's websocket: reads frames, answers through its outbox."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        store: RelayStore,
        hub: Hub,
        metrics: Metrics,
    ) -> None:
        self.ws = ws
        self.transport = transport  # to cut off a device that does not read
        self.store = store
        self.hub = hub
        self.metrics = metrics
        self.conn = Connection(Role.RELAY)
        self.space: SpaceId | None = None
        self.capability_hash = b""  # the one the device was welcomed with
        self.closing = False
        self.live = False  # caught up: live entries go straight to the outbox
        self.buffer: list[bytes] | None = None  # pulled, catching up: live entries wait here
        self.buffered = 0  # bytes in the buffer
        self.sent: Vector = {}  # what the device has: its Pull vector, then what it got or pushed
        self.outbox: asyncio.Queue[_Out | _Close] = asyncio.Queue()
        self.backlog = 0  # entry bytes queued in the outbox
        self.drained = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None
        self.catchup: asyncio.Task[None] | None = None
        self.watchdog: asyncio.TimerHandle | None = None

    # -- lifecycle

    async def run(self) -> None:
        self.writer = asyncio.create_task(self._write())
        try:
            async for msg in self.ws:
                if msg.type is WSMsgType.BINARY:
                    await self._handle(msg.data)
                elif msg.type is not WSMsgType.ERROR:  # ERROR: aiohttp already closed it
                    self.fail(ErrorCode.MALFORMED, "frames are binary messages")
                if self.closing or msg.type is WSMsgType.ERROR:
                    break
        finally:
            await self._finish()

    async def _finish(self) -> None:
        self.hub.leave(self)
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.catchup is not None:
            self.catchup.cancel()
        assert self.writer is not None
        if self.closing:  # let the final Error go out, within bounds
            await asyncio.wait([self.writer], timeout=CLOSE_TIMEOUT)
        self.writer.cancel()
        await self.ws.close()

    def fail(
        self,
        code: ErrorCode,
        message: str,
        *,
        close: int = WSCloseCode.POLICY_VIOLATION,
        versions: tuple[int, ...] = (),
    ) -> None:
        """Send a fatal Error, then close. Later frames are not processed or sent."""
        if self.closing:
            return
        self.metrics.errors[code.value] += 1
        # The Connection may already be in ERROR (it refused the device's frame) and would
        # refuse to send; a fatal Error is the one frame still worth sending, so encode it apart.
        self.conn.close()
        self._last_frame(encode(Error(code.value, message, versions=versions)), close)
        log_event("session.closed", self.space, code=code.value)

    def _last_frame(self, data: bytes, close: int) -> None:
        self.closing = True
        self.live, self.buffer = False, None
        self.hub.leave_space(self)
        self.outbox.put_nowait(_Out(data))
        self.outbox.put_nowait(_Close(close))
        # A device that stops reading would hold the final send (and this session) forever.
        self.watchdog = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._abort_if_stuck)

    def _abort_if_stuck(self) -> None:
        if self.writer is not None and not self.writer.done():
            self._abort()

    def _abort(self) -> None:
        """Drop the TCP connection without a closing handshake: the device is not reading."""
        log_event("session.aborted", self.space)
        if self.transport is not None:
            self.transport.abort()

    # -- writing

    def _enqueue(self, frame: Frame) -> None:
        """Encode now (the Connection moves in outbox order, which is wire order), send later."""
        if self.closing:
            return
        if isinstance(frame, Error):
            self.metrics.errors[frame.code] += 1
        size = _entry_bytes(frame) if isinstance(frame, Entries) else 0
        self.outbox.put_nowait(_Out(self.conn.send(frame), size))
        self.backlog += size

    async def _paced(self, frame: Frame) -> None:
        """Enqueue, first waiting while the device is behind: catch-up never floods memory."""
        while self.backlog > PACE_BYTES and not self.closing:
            self.drained.clear()
            await self.drained.wait()
        self._enqueue(frame)

    async def _write(self) -> None:
        try:
            await self._drain_outbox()
        except ConnectionError:
            pass  # the device went away; the reader sees the close
        except Exception as e:  # a relay bug: drop this device, serve the rest
            logger.exception(json.dumps({"event": "session.bug", "error": type(e).__name__}))
            await self.ws.close(code=WSCloseCode.INTERNAL_ERROR)

    async def _drain_outbox(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, _Close):
                await self.ws.close(code=item.code)
                return
            await self.ws.send_bytes(item.data)
            if item.entry_bytes:
                self.backlog -= item.entry_bytes
                if self.backlog <= PACE_BYTES:
                    self.drained.set()

    # -- reading

    async def _handle(self, data: bytes) -> None:
        self.metrics.frames_received += 1
        try:
            frame = self.conn.receive(data)
        except RemoteProtocolError as e:
            self.fail(e.code, e.detail)
            return
        try:
            await self._dispatch(frame)
        except Exception as e:  # one device's failure must not end the relay
            self._internal(e)

    async def _dispatch(self, frame: Frame) -> None:
        if isinstance(frame, Hello):
            await self._on_hello(frame)
        elif isinstance(frame, Push):
            await self._on_push(frame)
        elif isinstance(frame, Pull):
            self._on_pull(frame)
        elif isinstance(frame, Rotate):
            await self._on_rotate(frame)
        elif isinstance(frame, Repair):
            await self._on_repair(frame)
        elif isinstance(frame, Error) and frame.fatal:
            self.fail(ErrorCode.UNEXPECTED, "the device reported an error")
        # Every other frame type was refused by the Connection's state table.

    async def _on_hello(self, hello: Hello) -> None:
        version = negotiate(hello.versions)
        if version is None:
            self.fail(
                ErrorCode.UNSUPPORTED_VERSION,
                "no protocol version in common",
                versions=PROTOCOL_VERSIONS,
            )
            return
        space = SpaceId(hello.space)
        digest = hashlib.sha256(hello.capability).digest()
        stored = await self.store.capability_hash(space)
        if stored is None and hello.create:
            if await self.store.register(space, digest):
                log_event("space.created", space)
            stored = await self.store.capability_hash(space)  # another device may have won
        if stored is None:
            self.fail(ErrorCode.UNKNOWN_SPACE, "no such space on this relay")
        elif hmac.compare_digest(stored, digest):
            self.space, self.capability_hash = space, digest
            await self.hub.join(self, space)
            self._enqueue(Welcome(version, await self.store.heads(space)))
            log_event("session.welcomed", space, version=version)
        elif (filed := await self.store.rekey(space, digest)) is not None:
            # A capability a Rotate replaced: hand over the signed record filed under it.
            self._last_frame(self.conn.send(Rekey(*filed)), WSCloseCode.OK)
            log_event("session.rekeyed", space, bytes=len(filed.record))
        else:
            self.fail(ErrorCode.UNAUTHORIZED, "wrong capability for this space")

    async def _on_push(self, push: Push) -> None:
        assert self.space is not None
        started = time.monotonic()
        try:
            result = await self.store.put(self.space, push.entries)
        except PushRefused as e:
            log_event("push.refused", self.space, code=e.code.value, count=len(push.entries))
            self._enqueue(Error(e.code.value, str(e), id=push.id))
            return
        new_bytes = sum(len(raw) for raw in result.new)
        self.metrics.entries_stored += len(result.new)
        self.metrics.bytes_stored += new_bytes
        if self.live:  # never sent back live, even when a SharedStore's feed fetches them
            _advance(self.sent, push.entries)
        # No await between the commit and here: other devices get entries in commit order.
        self.hub.forward(self, result.new)
        self._enqueue(Ack(push.id, result.stored))
        log_event(
            "push.stored",
            self.space,
            count=len(push.entries),
            new=len(result.new),
            bytes=new_bytes,
            ms=_ms_since(started),
        )

    def _on_pull(self, pull: Pull) -> None:
        # Subscribe before the first read of the store, so nothing stored from now on is missed.
        self.buffer, self.sent = [], dict(pull.have)
        self.catchup = asyncio.create_task(self._catch_up())

    async def _on_rotate(self, rotate: Rotate) -> None:
        assert self.space is not None
        try:
            rotation = await self.store.rotate(self.space, rotate.record, rotate.signature)
        except PushRefused as e:
            self._refuse("rotate.refused", rotate.id, e)
            return
        # This session is the rotator's: it stays, now under the capability it moved to.
        self.capability_hash = rotation.capability
        self._enqueue(Ack(rotate.id, 0))
        others = self.hub.others(self)
        for other in others:
            other.fail(ErrorCode.UNAUTHORIZED, "the space's capability was replaced")
        log_event("space.rotated", self.space, closed=len(others), removed=len(rotation.removed))

    async def _on_repair(self, repair: Repair) -> None:
        assert self.space is not None
        log, space = LogId(repair.log), self.space
        try:
            dropped = await self.store.repair(
                space, log, repair.key, repair.from_seq, repair.signature
            )
        except PushRefused as e:
            self._refuse("repair.refused", repair.id, e)
            return
        # No await since the commit: entries stored after it are forwarded after this.
        self.hub.rewind(space, log, repair.from_seq)
        self.metrics.entries_dropped += dropped
        self._enqueue(Ack(repair.id, min(dropped, MAX_ENTRIES_PER_FRAME)))
        log_event("log.repaired", space, dropped=dropped)

    def _refuse(self, event: str, request: int, e: PushRefused) -> None:
        """Answer a refused request with an Error carrying its id; the connection stays open."""
        log_event(event, self.space, code=e.code.value)
        self._enqueue(Error(e.code.value, str(e), id=request))

    # -- catch-up and live entries

    async def _catch_up(self) -> None:
        try:
            await self._page_and_go_live()
        except Exception as e:  # a task: nobody else would see it
            self._internal(e)

    def _internal(self, e: Exception) -> None:
        if isinstance(e, StoreFailure):
            log_event("store.failed", self.space, error=type(e.__cause__).__name__)
        else:
            logger.exception(json.dumps({"event": "session.bug", "error": type(e).__name__}))
        message = "the relay failed; try again later"
        self.fail(ErrorCode.INTERNAL, message, close=WSCloseCode.INTERNAL_ERROR)

    async def _page_and_go_live(self) -> None:
        """Page the store from `sent` (advanced as entries go out), then switch to live."""
        assert self.space is not None
        started = time.monotonic()
        count = 0
        sent = self.sent
        while not self.closing:
            page = await self.store.since(self.space, sent, MAX_ENTRIES_PER_FRAME)
            for batch in entry_frames(page):
                await self._paced(Entries(batch, live=False))
            _advance(sent, page)
            count += len(page)
            if len(page) < MAX_ENTRIES_PER_FRAME:
                break
        self.metrics.catchup_entries_sent += count
        heads = await self.store.heads(self.space)
        if self.closing:
            return
        self._enqueue(CaughtUp(heads))
        buffered, self.buffer, self.live = self.buffer or [], None, True
        self._send_live(_unsent(sent, buffered))
        log_event("pull.caught_up", self.space, count=count, ms=_ms_since(started))

    def deliver(self, entries: Sequence[bytes]) -> None:
        """New entries of this session's space, stored by another session."""
        if not entries or self.closing:
            return
        if self.buffer is not None:
            self.buffer.extend(entries)
            self.buffered += sum(len(raw) for raw in entries)
            if self.buffered > MAX_BACKLOG_BYTES:
                self._drop()
        elif self.live:  # a SharedStore's feed may repeat what the catch-up or a push covered
            self._send_live(_unsent(self.sent, entries))

    def _send_live(self, entries: Sequence[bytes]) -> None:
        for batch in entry_frames(entries):
            self._enqueue(Entries(batch, live=True))
        if self.backlog > MAX_BACKLOG_BYTES:
            self._drop()

    def _drop(self) -> None:
        # Too far behind to keep in memory: the device reconnects and resumes from its vector.
        if self.closing:
            return
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self.backlog = 0
        self.fail(
            ErrorCode.INTERNAL, "too far behind; reconnect", close=WSCloseCode.TRY_AGAIN_LATER
        )


def _entry_bytes(frame: Entries) -> int:
    return sum(len(raw) for raw in frame.entries)


def _rewind(vector: Vector, log: bytes, from_seq: int) -> None:
    if vector.get(log, 0) >= from_seq:
        vector[log] = from_seq - 1


def _advance(vector: Vector, entries: Sequence[bytes]) -> None:
    for raw in entries:
        header = Header.decode(raw)
        vector[header.log] = max(vector.get(header.log, 0), header.seq)


def _unsent(sent: Vector, entries: Sequence[bytes]) -> list[bytes]:
    """Entries past what `sent` covers, each once (live batches may overlap the catch-up)."""
    out: list[bytes] = []
    for raw in entries:
        header = Header.decode(raw)
        if header.seq > sent.get(header.log, 0):
            sent[header.log] = header.seq
            out.append(raw)
    return out


# --- pairing mailboxes --------------------------------------------------------------------------


class MailboxFull(ProtocolError):
    """Too many messages in one mailbox, or in all of them: try again later."""


class MailboxInUse(ProtocolError):
    """A claim on a mailbox that holds a message or has a waiting reader: pick another."""


@dataclass
class _Mailbox:
    messages: deque[tuple[float, bytes]] = field(default_factory=deque)  # (expires at, body)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0


class Mailboxes:
    """Small single-use message queues for pairing, in memory only: a restart empties them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._boxes: dict[str, _Mailbox] = {}
        self._clock = clock
        self._bytes = 0
        self.closing = False

    def __len__(self) -> int:
        return len(self._boxes)

    def post(self, box_id: str, body: bytes, ttl: float, *, claim: bool = False) -> None:
        """Queue a message. With `claim`, only into a mailbox nobody uses: one holding a
        message or a waiting reader raises MailboxInUse."""
        self._sweep()
        box = self._boxes.get(box_id)
        if claim and box is not None and (box.messages or box.waiters):
            raise MailboxInUse("that mailbox is in use; pick another")
        if box is None and len(self._boxes) >= MAX_MAILBOXES:
            raise MailboxFull("too many mailboxes")
        if self._bytes + len(body) > MAILBOX_TOTAL_BYTES:
            raise MailboxFull("too many bytes waiting in mailboxes")
        if box is None:
            box = self._boxes[box_id] = _Mailbox()
        if len(box.messages) >= MAILBOX_QUEUE:
            raise MailboxFull(f"a mailbox holds at most {MAILBOX_QUEUE} messages")
        box.messages.append((self._clock() + ttl, body))
        self._bytes += len(body)
        box.arrived.set()

    async def take(self, box_id: str, wait: float) -> bytes | None:
        """The oldest message, removed; waiting up to `wait` seconds for one. None if none."""
        box = self._boxes.setdefault(box_id, _Mailbox())
        deadline = self._clock() + wait
        box.waiters += 1
        try:
            while (body := self._pop(box)) is None and not self.closing:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                box.arrived.clear()
                try:
                    await asyncio.wait_for(box.arrived.wait(), remaining)
                except TimeoutError:
                    break
            return body
        finally:
            box.waiters -= 1
            self._forget_if_idle(box_id, box)

    def close(self) -> None:
        """Wake every waiting reader (it answers 404) so shutdown is not held up."""
        self.closing = True
        for box in self._boxes.values():
            box.arrived.set()

    def _pop(self, box: _Mailbox) -> bytes | None:
        self._expire(box)
        if not box.messages:
            return None
        _, body = box.messages.popleft()
        self._bytes -= len(body)
        return body

    def _expire(self, box: _Mailbox) -> None:
        now = self._clock()
        while box.messages and box.messages[0][0] <= now:
            self._bytes -= len(box.messages.popleft()[1])

    def _sweep(self) -> None:
        for box_id, box in list(self._boxes.items()):
            self._expire(box)
            self._forget_if_idle(box_id, box)

    def _forget_if_idle(self, box_id: str, box: _Mailbox) -> None:
        if not box.messages and not box.waiters and self._boxes.get(box_id) is box:
            del self._boxes[box_id]


# --- the app ------------------------------------------------------------------------------------

STORE = web.AppKey[RelayStore]("store")
HUB = web.AppKey("hub", Hub)
METRICS = web.AppKey("metrics", Metrics)
MAILBOXES = web.AppKey("mailboxes", Mailboxes)


def make_app(
    db: Path | str,
    *,
    quota: int = DEFAULT_QUOTA,
    schema: str | None = None,
    invitation_cap: int = DEFAULT_INVITATION_CAP,
    escrow_cap: int = DEFAULT_ESCROW_CAP,
) -> web.Application:
    """The relay as an aiohttp Application; the store opens on startup and closes on cleanup.

    `db` is a SQLite file, or (a str) a PostgreSQL DSN, with `schema` naming the store's
    schema there (default: the store's own, tend_relay). The caps bound the bytes of
    invitations and of escrows the whole relay holds."""
    # client_max_size bounds every HTTP body; each handler that reads one bounds it tighter.
    app = web.Application(client_max_size=max(MAILBOX_MAX_BYTES, ESCROW_MAX_BODY))
    app[HUB] = Hub()
    app[METRICS] = Metrics()
    app[MAILBOXES] = Mailboxes()
    app.cleanup_ctx.append(_store_context(db, quota, schema, Caps(invitation_cap, escrow_cap)))
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/v1/sync", handle_sync)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_post("/v1/mailbox/{id}", handle_mailbox_post)
    app.router.add_get("/v1/mailbox/{id}", handle_mailbox_get)
    app.router.add_post("/v1/invitation/{id}", handle_invitation_post)
    app.router.add_get("/v1/invitation/{id}", handle_invitation_get)
    app.router.add_put("/v1/recovery/{id}", handle_escrow_put)
    app.router.add_get("/v1/recovery/{id}", handle_escrow_get)
    return app


def _store_context(
    db: Path | str, quota: int, schema: str | None, caps: Caps
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        store = await _open_store(db, quota, schema, caps)
        app[STORE] = store
        follower: asyncio.Task[None] | None = None
        if isinstance(store, SharedStore):
            app[HUB].shared = store
            follower = asyncio.create_task(app[HUB].follow(store.changes()))
        log_event(
            "relay.started",
            quota=quota,
            invitation_cap=caps.invitations,
            escrow_cap=caps.escrows,
            store=type(store).__name__,
        )
        yield
        if follower is not None:
            follower.cancel()
            with suppress(asyncio.CancelledError):
                await follower
        await store.close()
        log_event("relay.stopped")

    return context


async def _open_store(db: Path | str, quota: int, schema: str | None, caps: Caps) -> RelayStore:
    if isinstance(db, Path):
        return await SqliteRelayStore.open(
            db, quota=quota, invitation_cap=caps.invitations, escrow_cap=caps.escrows
        )
    # Only here: asyncpg is loaded by a relay given a DSN, and by nothing else.
    try:
        from tend.sync.relay_store_pg import DEFAULT_SCHEMA, PostgresRelayStore
    except ImportError:
        raise MissingExtra("relay-pg", "asyncpg", "a relay on PostgreSQL") from None

    return await PostgresRelayStore.open(
        db,
        quota=quota,
        schema=DEFAULT_SCHEMA if schema is None else schema,
        invitation_cap=caps.invitations,
        escrow_cap=caps.escrows,
    )


def describe_db(db: Path | str) -> str:
    """The database for people and logs: a DSN without its password (in either place)."""
    if isinstance(db, Path):
        return str(db)
    parts = urlsplit(db)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}@{host}" if parts.username else host
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


async def _close_sockets(app: web.Application) -> None:
    """Shutdown: tell every device the relay is going away, then close with 1001."""
    app[MAILBOXES].close()
    sessions = list(app[HUB].sessions)
    for session in sessions:
        session.fail(
            ErrorCode.GOING_AWAY, "the relay is shutting down", close=WSCloseCode.GOING_AWAY
        )
    writers = [s.writer for s in sessions if s.writer is not None]
    if writers:
        await asyncio.wait(writers, timeout=CLOSE_TIMEOUT)
    for session in sessions:  # any writer still stuck on a slow device
        await session.ws.close(code=WSCloseCode.GOING_AWAY, message=b"relay shutting down")


async def handle_sync(request: web.Request) -> web.WebSocketResponse:
    # compress=False: entries are ciphertext (nothing to gain), and no inflation to bound.
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, compress=False, heartbeat=HEARTBEAT)
    await ws.prepare(request)
    app = request.app
    session = Session(ws, request.transport, app[STORE], app[HUB], app[METRICS])
    app[HUB].sessions.add(session)
    started = time.monotonic()
    try:
        await session.run()
    finally:
        log_event("session.ended", session.space, close=ws.close_code, ms=_ms_since(started))
    return ws


async def handle_healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def handle_metrics(request: web.Request) -> web.Response:
    app = request.app
    text = app[METRICS].render(len(app[HUB].sessions), len(app[MAILBOXES]))
    return web.Response(
        body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


def _mailbox_id(request: web.Request, what: str = "a mailbox id") -> str:
    box_id = request.match_info["id"]
    if not MAILBOX_ID.fullmatch(box_id):
        raise web.HTTPBadRequest(text=f"{what} is 32 lowercase hex digits")
    return box_id


def _seconds(
    request: web.Request, name: str, default: float, upper: float, lower: float = 0
) -> float:
    raw = request.query.get(name)
    try:
        value = default if raw is None else float(raw)
    except ValueError:
        value = -1.0
    if not lower <= value <= upper:  # also refuses nan
        raise web.HTTPBadRequest(text=f"{name} must be a number of seconds from {lower} to {upper}")
    return value


def _claim(request: web.Request) -> bool:
    raw = request.query.get("claim", "0")
    if raw not in ("0", "1"):
        raise web.HTTPBadRequest(text="claim must be 0 or 1")
    return raw == "1"


def _too_large(limit: int, what: str = "a body") -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(limit, text=f"{what} is at most {limit} bytes here")


async def _body(request: web.Request, limit: int) -> bytes:
    """The request's body, at most `limit` bytes: else 413, unread if its length says so."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    body = await request.read()  # over client_max_size: 413 from aiohttp
    if len(body) > limit:
        raise _too_large(limit)
    return body


@contextmanager
def _store_errors(kind: str) -> Iterator[None]:
    """A full relay answers 507, a failing store 503: one line each, no traceback."""
    try:
        yield
    except CapReached as e:
        log_event(f"{kind}.full")
        raise web.HTTPInsufficientStorage(text=str(e)) from None
    except StoreFailure as e:
        log_event("store.failed", error=type(e.__cause__).__name__)
        raise web.HTTPServiceUnavailable(text="the relay failed; try again later") from None


async def handle_mailbox_post(request: web.Request) -> web.Response:
    box_id = _mailbox_id(request)
    ttl = _seconds(request, "ttl", MAILBOX_MAX_TTL, MAILBOX_MAX_TTL)
    claim = _claim(request)
    body = await _body(request, MAILBOX_MAX_BYTES)
    try:
        request.app[MAILBOXES].post(box_id, body, ttl, claim=claim)
    except MailboxInUse as e:
        log_event("mailbox.in_use")
        raise web.HTTPConflict(text=str(e)) from None
    except MailboxFull as e:
        log_event("mailbox.full", reason=str(e))
        raise web.HTTPTooManyRequests(text=str(e)) from None
    log_event("mailbox.posted", bytes=len(body))
    return web.Response(status=204)


async def handle_mailbox_get(request: web.Request) -> web.Response:
    box_id = _mailbox_id(request)
    wait = _seconds(request, "wait", 0, MAILBOX_MAX_WAIT)
    body = await request.app[MAILBOXES].take(box_id, wait)
    if body is None:
        raise web.HTTPNotFound(text="no message")
    return web.Response(body=body, content_type="application/octet-stream")


# --- invitations and recovery escrows -----------------------------------------------------------


async def handle_invitation_post(request: web.Request) -> web.Response:
    box = bytes.fromhex(_mailbox_id(request, "an invitation id"))
    ttl = _seconds(request, "ttl", INVITATION_MAX_TTL, INVITATION_MAX_TTL, lower=INVITATION_MIN_TTL)
    body = await _body(request, INVITATION_MAX_BYTES)
    if not body:
        raise web.HTTPBadRequest(text="an invitation is at least 1 byte")
    now = time.time()  # wall-clock: expiries outlive a restart
    with _store_errors("invitation"):
        stored = await request.app[STORE].put_invitation(box, body, now + ttl, now)
    if not stored:
        log_event("invitation.in_use")
        raise web.HTTPConflict(text="that invitation id is in use; pick another")
    log_event("invitation.posted", bytes=len(body))
    return web.Response(status=204)


async def handle_invitation_get(request: web.Request) -> web.Response:
    box = bytes.fromhex(_mailbox_id(request, "an invitation id"))
    with _store_errors("invitation"):
        body = await request.app[STORE].take_invitation(box, time.time())
    if body is None:
        raise web.HTTPNotFound(text="no invitation")
    log_event("invitation.taken", bytes=len(body))
    return web.Response(body=body, content_type="application/octet-stream")


def _no_ext(code: int, data: bytes) -> NoReturn:
    raise ValueError("no ext types")


def _unpack_escrow(body: bytes) -> object:
    try:
        return msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            max_bin_len=escrow.MAX_BLOB,
            max_str_len=1,
            max_array_len=0,
            max_map_len=3,
            max_ext_len=0,
            ext_hook=_no_ext,
        )
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as e:
        if "exceeds max_bin_len" in str(e):
            raise _too_large(escrow.MAX_BLOB, "a blob") from None
        raise web.HTTPBadRequest(text="the body is not a msgpack map within limits") from None


def _escrow_write(body: bytes) -> tuple[bytes, bytes, bytes]:
    """(identity, blob, signature) from a PUT body, or 400 (413 for a blob over the size)."""
    fields = _unpack_escrow(body)
    if isinstance(fields, dict) and fields.keys() == {"i", "b", "g"}:
        identity, blob, signature = fields["i"], fields["b"], fields["g"]
        if (
            isinstance(identity, bytes)
            and len(identity) == IDENTITY_LEN
            and isinstance(blob, bytes)
            and blob
            and isinstance(signature, bytes)
            and len(signature) == SIGNATURE_LEN
        ):
            return identity, blob, signature
    shape = f"i ({IDENTITY_LEN} bytes), b (1 to {escrow.MAX_BLOB} bytes), g ({SIGNATURE_LEN} bytes)"
    raise web.HTTPBadRequest(text=f"the body is a msgpack map of exactly {shape}")


async def handle_escrow_put(request: web.Request) -> web.Response:
    locator = bytes.fromhex(_mailbox_id(request, "a locator"))
    identity, blob, signature = _escrow_write(await _body(request, ESCROW_MAX_BODY))
    if not escrow.write_allowed(locator, identity, blob, signature):
        log_event("escrow.refused")
        raise web.HTTPForbidden(text="not signed by the identity this locator derives from")
    with _store_errors("escrow"):
        await request.app[STORE].put_escrow(locator, blob)
    log_event("escrow.stored", bytes=len(blob))
    return web.Response(status=204)


async def handle_escrow_get(request: web.Request) -> web.Response:
    locator = bytes.fromhex(_mailbox_id(request, "a locator"))
    with _store_errors("escrow"):
        blob = await request.app[STORE].escrow(locator)
    if blob is None:
        raise web.HTTPNotFound(text="no escrow")
    return web.Response(body=blob, content_type="application/octet-stream")


def serve(
    host: str,
    port: int,
    db: Path | str,
    quota: int = DEFAULT_QUOTA,
    *,
    on_listening: Callable[[str], None],
) -> None:
    """Run the relay until SIGINT or SIGTERM, then shut down gracefully. For the CLI only.
    `db`: a SQLite file, or a PostgreSQL DSN (str). Once the socket is bound, `on_listening` is
    told where, as "listening on http://HOST:PORT (db WHAT)", for the caller to announce."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    line = f"listening on http://{host}:{port} (db {describe_db(db)})"

    def announce(*_: object) -> None:  # run_app calls this once the socket is bound
        on_listening(line)

    web.run_app(
        make_app(db, quota=quota),
        host=host,
        port=port,
        print=announce,
        access_log=None,  # request lines would carry mailbox ids
        handle_signals=True,
        shutdown_timeout=CLOSE_TIMEOUT * 2,
    )
