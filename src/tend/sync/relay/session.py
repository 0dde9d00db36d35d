"""One device's connection to the relay: a thin asyncio shell around protocol.Connection(RELAY).

Theory of operation
-------------------
Each websocket at GET /v1/sync is one `Session`: a protocol.Connection(Role.RELAY) fed with every
message received, a reader (`run`) and a writer task draining the session's outbox. Frames are
encoded (and the Connection moved) as they are queued, and leave in queue order, so the
Connection's state always matches the wire, and it is the session's only state: READY, welcomed;
SYNCING, pulled and catching up, live entries held back; LIVE, caught up, live entries go out
as they arrive; CLOSED, the final frame is queued and nothing more is read or sent. A slow
device never stalls anyone else: live entries for it queue up to MAX_BACKLOG_BYTES, past which
it is dropped (it will reconnect and catch up from its vector). Every queued frame counts toward
that backlog, answers as well as entries, and past PACE_BYTES the session reads no further
request until the device has taken some: a device that asks and never reads fills its own
socket buffers, not the relay's memory. A catch-up page is read only once the device has taken
the one before (below PACE_BYTES), and ends at about FRAME_BYTES. What a session holds for its
device (its outbox, a catch-up page, live entries held back) also counts toward its household
and network (queued.py): past their budget, their session whose device has waited longest is
cut off, its TCP connection dropped, and it resumes from its vector when it reconnects.

    (before) the first frame is at most MAX_HELLO_BYTES: the socket's reader refuses a longer
            one on its header, before its payload is read (first_frame.py), and the Connection
            checks its length again; a socket that sends none within the Hello deadline gets
            Error(timeout). At Welcome the socket's limit becomes MAX_FRAME_BYTES.
    Hello   version negotiated; an unknown space is registered (first come) if the device
            asked to create it and the relay admits it (admission.py: an invite-only relay
            wants a one-time code, and an address may create only so many; refused, a fatal
            admission or slow_down Error, and nothing created); then sha256(capability) must
            match the stored hash, compared in constant time. No other frame is accepted
            before a Welcome. A welcome, like a push, notes the space active (at most hourly).
    Push    store.put (atomic, durable); new entries forwarded to the space's other sessions;
            then Ack. A push the relay can check without the database (early.py) goes out to
            the others while it is committed; its Ack still waits for the commit. A refusal
            is an Error with the request id; the connection stays open.
            Write authority: the capability lets a device into the space, not into a log. Each
            log's first entry carries its public key (the log id is derived from it), and the
            store refuses a run of new entries unless its last is signed by that key
            (bad_signature), so no member can append to another's log; nor can a removed log
            grow (removed).
    Pull    subscribe first (SYNCING: live entries are held), page the store from the device's
            vector, CaughtUp(heads), then flush what was held minus what the catch-up already
            sent. Entries stored after the subscription are never missed, and none is sent
            twice: a log's catch-up is contiguous from `have`, so one seq per log says what was
            sent.
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
    FetchKeys  the key records the store holds for the positions asked (Keys, same id).
    Forget  erase one key record, if the token hashes to the one stored with it (Ack, 1 or
            0 when none was held); another token is refused (unauthorized) and nothing erased.

Websocket pings and pongs reach the session (the socket's autoping is off): a device may send
CONTROL_BURST of them at once and one every CONTROL_EVERY seconds after (an honest one pings
every 20 s); past that it gets a fatal Error and a close, before or after its Hello, since a
flood of empty pings, each answered, could take the event loop from everyone. Every close the
relay starts sends its close frame and closes the TCP connection without waiting for the
device's (first_frame.close_without_handshake): a websocket's closing handshake reads, and
parses, whatever the device sends until its close frame, and a refused device could flood it.

A frame the protocol refuses (or a text message) gets a best-effort Error and a close; the
relay keeps serving everyone else. A device that does not read even that is cut off at the TCP
level after CLOSE_TIMEOUT. The websocket's own failures are met in one place, the writer: a
connection error means the device went away, anything else is a relay bug that drops only this
device.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

from tend.core.ids import LogId, SpaceId
from tend.sync.batching import batches
from tend.sync.protocol import (
    MAX_ENTRIES_PER_FRAME,
    MAX_ENTRY_BYTES,
    PROTOCOL_VERSIONS,
    Ack,
    CaughtUp,
    Connection,
    Entries,
    Error,
    ErrorCode,
    FetchKeys,
    Forget,
    Frame,
    Hello,
    Keys,
    Pull,
    Push,
    Rekey,
    RemoteProtocolError,
    Repair,
    Role,
    Rotate,
    State,
    Vector,
    Welcome,
    encode,
    negotiate,
    position,
    split_position,
)
from tend.sync.relay.admission import Activity, Gate
from tend.sync.relay.fanout import Hub
from tend.sync.relay.first_frame import FloodBeforeWelcome, close_without_handshake
from tend.sync.relay.limits import AdmissionRefused, CreationLimited
from tend.sync.relay.metrics import Metrics, log_detail, log_event, log_exception, ms_since
from tend.sync.relay.queued import Queued
from tend.sync.relay.store import (
    Position,
    PushRefused,
    RelayStore,
    StoreFailure,
    new_key_records,
)
from tend.sync.relay.vectors import KeyRecords, advance, parallel, positions, rewind, unsent

FRAME_BYTES = 1 << 20  # entry bytes per outgoing Entries frame (well under MAX_FRAME_BYTES)
PAGE_BYTES = FRAME_BYTES + MAX_ENTRY_BYTES  # the most a catch-up page holds
PACE_BYTES = 2 << 20  # catch-up waits while this much is queued for the device
MAX_BACKLOG_BYTES = 16 << 20  # queued or held for one device before it is dropped
# What one queued frame holds besides its bytes (the _Out, the bytes object, its deque slot), so
# that a flood of tiny answers counts for the memory it takes.
FRAME_OVERHEAD = 160
CLOSE_TIMEOUT = 5.0  # seconds to flush a final Error and close
CONTROL_BURST = 8  # websocket pings and pongs a device may send at once
CONTROL_EVERY = 1.0  # and then one each this many seconds
DATA_MESSAGES = (WSMsgType.BINARY, WSMsgType.TEXT)  # one frame each: fragments are refused
# What a websocket reader's refusal (its close code) tells the device, as the relay's Error.
SOCKET_REFUSALS: dict[int, ErrorCode] = {
    WSCloseCode.MESSAGE_TOO_BIG: ErrorCode.TOO_LARGE,
    WSCloseCode.TRY_AGAIN_LATER: ErrorCode.BUSY,  # first_frame.WholeMessages: too much arriving
}


@dataclass(frozen=True)
class _Out:
    """One encoded frame in an outbox, and what it counts toward the device's backlog (its
    bytes and FRAME_OVERHEAD; nothing for the final frame, queued once all is released)."""

    data: bytes
    weight: int = 0


@dataclass(frozen=True)
class _Close:
    """Outbox marker: close the websocket once everything before it is sent."""

    code: int
    reason: bytes = b""  # the close frame's reason (a websocket allows 123 bytes)


class _Outbox:
    """The frames queued for one device, in order. An asyncio.Queue would do, but it holds four
    deques and an Event on every connection, idle or not; this holds one deque, and a future
    only while the writer waits on an empty outbox."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[_Out | _Close] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: _Out | _Close) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> _Out | _Close:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def clear(self) -> None:
        self._items.clear()


class _ControlFrames:
    """A token bucket for one socket's pings and pongs."""

    __slots__ = ("_at", "_tokens")

    def __init__(self) -> None:
        self._tokens = float(CONTROL_BURST)
        self._at = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(CONTROL_BURST, self._tokens + (now - self._at) / CONTROL_EVERY)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Session:
    """One device's websocket: reads frames, answers through its outbox."""

    # Slots: a relay holds one per connected device, most of them idle.
    __slots__ = (
        "activity",
        "backlog",
        "capability_hash",
        "catchup",
        "conn",
        "controls",
        "drained",
        "gate",
        "held",
        "held_bytes",
        "held_keys",
        "held_upto",
        "hello_timer",
        "holding",
        "hub",
        "metrics",
        "noting",
        "on_welcome",
        "outbox",
        "owners",
        "queued",
        "released",
        "sent",
        "space",
        "store",
        "took_message",
        "transport",
        "waiting_since",
        "watchdog",
        "writer",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        store: RelayStore,
        hub: Hub[Session],
        metrics: Metrics,
        gate: Gate | None = None,
        activity: Activity | None = None,
        *,
        hello_deadline: float | None = None,
        on_welcome: Callable[[], None] | None = None,
        took_message: Callable[[], None] | None = None,
        owners: tuple[str, ...] = (),
        queued: Queued | None = None,
    ) -> None:
        self.ws = ws
        self.on_welcome = on_welcome  # called just before the Welcome is queued
        self.took_message = took_message  # called as each data message is taken from the socket
        self.gate = gate or Gate()
        self.activity = activity or Activity()
        self.transport = transport  # to cut off a device that does not read
        self.store = store
        self.hub = hub
        self.metrics = metrics
        self.conn = Connection(Role.RELAY)
        self.space: SpaceId | None = None
        self.capability_hash = b""  # the one the device was welcomed with
        self.held: list[bytes] = []  # live entries that arrived while SYNCING
        self.held_keys: dict[Position, bytes] = {}  # and their key records, by position
        self.held_bytes = 0
        # Per log, the highest seq held: an entry forwarded before its commit and again after
        # it is held (and counted) once.
        self.held_upto: Vector = {}
        self.sent: Vector = {}  # what the device has: its Pull vector, then what it got or pushed
        self.outbox = _Outbox()
        self.controls = _ControlFrames()
        self.backlog = 0  # the weight of the frames queued in the outbox
        # What it holds for the device (the outbox, a catch-up page, live entries held back)
        # counts toward its household and network too (queued.py): `owners`, in `queued`.
        self.owners, self.queued = owners, queued or Queued()
        self.holding = 0
        self.released = False  # all it held was released: the session is ending
        self.waiting_since = time.monotonic()  # its device last took a frame, or was given one
        self.drained: asyncio.Future[None] | None = None  # set when the backlog falls to PACE
        self.writer: asyncio.Task[None] | None = None
        self.catchup: asyncio.Task[None] | None = None
        self.noting: asyncio.Task[None] | None = None  # the Welcome's activity note
        self.watchdog: asyncio.TimerHandle | None = None
        # A socket that never says Hello would hold a connection (and its slot) forever.
        self.hello_timer: asyncio.TimerHandle | None = None
        if hello_deadline is not None:
            loop = asyncio.get_running_loop()
            self.hello_timer = loop.call_later(hello_deadline, self._no_hello, hello_deadline)

    @property
    def closing(self) -> bool:
        """The final frame is queued: nothing more is read, sent or delivered."""
        return self.conn.state is State.CLOSED

    # -- lifecycle

    async def run(self) -> None:
        self.writer = asyncio.create_task(self._write())
        try:
            await self._read()
        except ConnectionError:
            pass  # the device went away while we answered a ping
        finally:
            await self._finish()

    async def _read(self) -> None:
        async for msg in self.ws:
            if self.took_message is not None and msg.type in DATA_MESSAGES:
                self.took_message()  # what it held while it arrived is free again
            if msg.type is WSMsgType.BINARY:
                await self._handle(msg.data)
                await self._room()  # the device reads its answers before it asks more
            elif msg.type in (WSMsgType.PING, WSMsgType.PONG):
                await self._control(msg.type, msg.data)
            elif msg.type is WSMsgType.ERROR:  # aiohttp already closed it
                self._refused_by_socket(msg.data)
            else:
                self.fail(ErrorCode.MALFORMED, "frames are binary messages")
            if self.closing or msg.type is WSMsgType.ERROR:
                break

    async def _control(self, kind: WSMsgType, data: bytes) -> None:
        """Answer a ping, ignore a pong: within the device's allowance for either."""
        if not self.controls.allow():
            message = f"a device pings at most once in {CONTROL_EVERY:g} s"
            self.fail(ErrorCode.UNEXPECTED, message)
        elif kind is WSMsgType.PING and not self.closing:
            await self.ws.pong(data)

    def _refused_by_socket(self, error: object) -> None:
        """aiohttp's reader refused what the device sent, and closed the socket: a message over
        the socket's limit or past what its sender may have arriving at once (BUSY), or broken
        websocket framing. Counted as the relay's refusals are."""
        if not isinstance(error, WebSocketError):
            return  # the connection failed: the device went away
        code = SOCKET_REFUSALS.get(error.code, ErrorCode.MALFORMED)
        self.metrics.errors[code.value] += 1
        log_event("session.closed", self.space, code=code.value)

    def _no_hello(self, deadline: float) -> None:
        if self.conn.state is State.START:
            self.fail(ErrorCode.TIMEOUT, f"no hello within {deadline:g} s")

    async def _finish(self) -> None:
        self.hub.leave(self)
        self._release_all()
        if self.hello_timer is not None:
            self.hello_timer.cancel()
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
        reason = f"{code.value}: {message}".encode()[:123]
        error = encode(Error(code.value, message, versions=versions))
        self._last_frame(error, close, reason)
        log_event("session.closed", self.space, code=code.value)

    def relay_failed(self, error: Exception) -> None:
        """End the session for a failure of the relay's own (the store, or a bug)."""
        if isinstance(error, StoreFailure):
            log_event("store.failed", self.space, error=type(error.__cause__).__name__)
        else:
            log_exception("session.bug", error)
        message = "the relay failed; try again later"
        self.fail(ErrorCode.INTERNAL, message, close=WSCloseCode.INTERNAL_ERROR)

    def _last_frame(self, data: bytes, close: int, reason: bytes = b"") -> None:
        """Queue the final frame, once the Connection is CLOSED, and the close after it."""
        self.held, self.held_bytes, self.held_keys, self.held_upto = [], 0, {}, {}
        self._release_all()
        self._wake()  # whoever waits for room stops waiting: nothing more is queued
        self.hub.leave_space(self)
        self.outbox.put_nowait(_Out(data))
        self.outbox.put_nowait(_Close(close, reason))
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
        data = self.conn.send(frame)
        out = _Out(data, len(data) + FRAME_OVERHEAD)
        self.outbox.put_nowait(out)
        self.backlog += out.weight
        self._account(out.weight)

    # -- what it holds, counted for its household and network

    @property
    def queued_bytes(self) -> int:
        return self.holding

    def _account(self, change: int) -> None:
        if self.released or not change:
            return
        if not self.holding:
            self.waiting_since = time.monotonic()  # nothing was waiting for the device
        self.holding += change
        if change > 0:
            self.queued.hold(self, change)  # past a budget, someone's session is cut off
        else:
            self.queued.release(self, -change)

    def _release_all(self) -> None:
        if not self.released:
            holding, self.holding, self.released = self.holding, 0, True
            self.queued.release(self, holding)

    def cut_off(self) -> None:
        """Its household or network holds too much, and its device has waited longest: drop
        what it holds, and the TCP connection with it (the device is not reading, so neither
        an Error nor a closing handshake would reach it, and the socket's buffers are freed
        at once)."""
        log_event("session.cut_off", self.space)
        self._drop()
        self._release_all()  # already, unless it was closing: the budget's loop needs it at 0
        self._abort()

    async def _room(self) -> None:
        """Wait while the device is behind (more than PACE_BYTES queued), or until closing.
        The catch-up and the reader may both wait: they share one future."""
        while self.backlog > PACE_BYTES and not self.closing:
            if self.drained is None or self.drained.done():
                self.drained = asyncio.get_running_loop().create_future()
            await self.drained

    def _wake(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    async def _paced(self, frame: Frame) -> None:
        """Enqueue, first waiting while the device is behind: catch-up never floods memory."""
        await self._room()
        self._enqueue(frame)

    async def _write(self) -> None:
        try:
            await self._drain_outbox()
        except ConnectionError:
            pass  # the device went away; the reader sees the close
        except Exception as e:  # a relay bug: drop this device, serve the rest
            log_exception("session.bug", e)
            await self.ws.close(code=WSCloseCode.INTERNAL_ERROR)

    async def _drain_outbox(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, _Close):
                await close_without_handshake(self.ws, item.code, item.reason)
                return
            await self.ws.send_bytes(item.data)
            self.waiting_since = time.monotonic()
            if item.weight and not self.released:
                self.backlog -= item.weight
                self._account(-item.weight)
            if self.backlog <= PACE_BYTES:
                self._wake()

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
            self.relay_failed(e)

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
        elif isinstance(frame, FetchKeys):
            await self._on_fetch_keys(frame)
        elif isinstance(frame, Forget):
            await self._on_forget(frame)
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
            if not await self._create(space, digest, hello):
                return
            stored = await self.store.capability_hash(space)  # another device may have won
        if stored is None:
            self.fail(ErrorCode.UNKNOWN_SPACE, "no such space on this relay")
        elif hmac.compare_digest(stored, digest):
            self.space, self.capability_hash = space, digest
            await self.hub.join(self, space)
            await self._welcome(space, version)
        elif (filed := await self.store.rekey(space, digest)) is not None:
            # A capability a Rotate replaced: hand over the signed record filed under it.
            self._last_frame(self.conn.send(Rekey(*filed)), WSCloseCode.OK)
            log_event("session.rekeyed", space, bytes=len(filed.record))
        else:
            self.fail(ErrorCode.UNAUTHORIZED, "wrong capability for this space")

    async def _welcome(self, space: SpaceId, version: int) -> None:
        heads = await self.store.heads(space)
        if self.on_welcome is not None:
            try:
                self.on_welcome()  # the socket takes full-sized frames from here on
            except FloodBeforeWelcome:
                self.fail(ErrorCode.UNEXPECTED, "a device sends nothing before welcome but hello")
                return
        self._enqueue(Welcome(version, heads))
        log_event("session.welcomed", space, version=version)
        # Not awaited here: the reader goes back to the socket at once, so a close right
        # after the Welcome (a relay shutting down) completes its handshake at once too.
        self.noting = asyncio.create_task(self._note_welcome())

    async def _create(self, space: SpaceId, digest: bytes, hello: Hello) -> bool:
        """Register the space if the relay admits it; False (after a fatal Error) if not. What
        the device presented is never logged: only why it was refused."""
        try:
            creation = self.gate.creation(hello, time.time())
            if await self.store.register(space, digest, creation):
                log_event("space.created", space)
        except (AdmissionRefused, CreationLimited) as e:
            log_event("space.refused", space, code=e.code.value)
            self.fail(e.code, str(e))
            return False
        return True

    async def _note_welcome(self) -> None:
        try:
            await self._note_activity()
        except Exception as e:  # a task: nobody else would see it
            self.relay_failed(e)
        finally:
            self.noting = None  # held only while it runs: an idle session keeps no Task

    async def _note_activity(self) -> None:
        assert self.space is not None
        now = time.time()
        if self.activity.due(self.space, now):
            await self.store.touch(self.space, now)

    async def _on_push(self, push: Push) -> None:
        assert self.space is not None
        await self._note_activity()
        started = time.monotonic()
        early = self.hub.forward_early(self, push.entries, push.keys)  # while it is committed
        try:
            result = await self.store.put(self.space, push.entries, push.keys)
        except PushRefused as e:
            self.hub.unsent(self, early)
            log_event("push.refused", self.space, code=e.code.value, count=len(push.entries))
            self._enqueue(Error(e.code.value, str(e), id=push.id))
            return
        except BaseException:
            self.hub.unsent(self, early)
            raise
        finally:
            self.hub.settle(self.space, early)
        # The key records stored beside the new entries go out with them, live.
        kept = new_key_records(push.entries, push.keys, result.new)
        keys: dict[Position, bytes] = {(h.log, h.seq): record for h, record in kept}
        new_bytes = sum(len(raw) for raw in result.new)
        self.metrics.entries_stored += len(result.new)
        self.metrics.bytes_stored += new_bytes
        if self.conn.state is State.LIVE:  # never sent back live, even by a SharedStore's feed
            advance(self.sent, push.entries)
        # No await between the commit and here: other devices get entries in commit order.
        self.hub.committed(self.space, result.logs)
        # All of it, to every session: one that got some early drops the copies (`unsent`).
        self.hub.forward(self, result.new, keys)
        self._enqueue(Ack(push.id, result.stored))
        # A debug line: one a push grew a busy relay's log by gigabytes a day, and took about
        # a twentieth of its event loop under the load bench; the metrics count what is stored.
        log_detail(
            "push.stored",
            self.space,
            count=len(push.entries),
            new=len(result.new),
            bytes=new_bytes,
            ms=ms_since(started),
        )

    def _on_pull(self, pull: Pull) -> None:
        # The Connection is SYNCING from here: live entries are held from now on, before the
        # first read of the store, so nothing stored from now on is missed.
        self.sent = dict(pull.have)
        self.catchup = asyncio.create_task(self._catch_up())

    async def _on_rotate(self, rotate: Rotate) -> None:
        assert self.space is not None
        try:
            with self.hub.changing(self.space):  # it may remove a log: nothing goes out early
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
            with self.hub.changing(space):  # it cuts a log back: nothing goes out early
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

    async def _on_fetch_keys(self, fetch: FetchKeys) -> None:
        assert self.space is not None
        await self.hub.settled(self.space)  # the records of entries it was sent early
        found = await self.store.keys(self.space, [split_position(p) for p in fetch.positions])
        records = tuple(position(log, seq) + record for (log, seq), record in found.items())
        self._enqueue(Keys(fetch.id, records))
        log_detail("keys.fetched", self.space, asked=len(fetch.positions), found=len(records))

    async def _on_forget(self, forget: Forget) -> None:
        assert self.space is not None
        try:
            erased = await self.store.forget(
                self.space, LogId(forget.log), forget.seq, forget.token
            )
        except PushRefused as e:
            self._refuse("forget.refused", forget.id, e)
            return
        self._enqueue(Ack(forget.id, erased))
        log_event("key.forgotten", self.space, erased=erased)

    def _refuse(self, event: str, request: int, e: PushRefused) -> None:
        """Answer a refused request with an Error carrying its id; the connection stays open."""
        log_event(event, self.space, code=e.code.value)
        self._enqueue(Error(e.code.value, str(e), id=request))

    # -- catch-up and live entries

    async def _catch_up(self) -> None:
        try:
            await self._page_and_go_live()
        except Exception as e:  # a task: nobody else would see it
            self.relay_failed(e)

    async def _page_and_go_live(self) -> None:
        """Page the store from `sent` (advanced as entries go out), then go LIVE."""
        assert self.space is not None
        started = time.monotonic()
        count = 0
        sent = self.sent
        while not self.closing:
            await self._room()  # the next page is read once the device has taken the last
            # A page is at most about FRAME_BYTES, and counts toward what the session holds
            # from before it is read (a session cut off for it reads nothing).
            size = PAGE_BYTES
            self._account(size)
            try:
                if self.closing:
                    break
                page = await self.store.since(self.space, sent, MAX_ENTRIES_PER_FRAME, FRAME_BYTES)
                read = sum(len(raw) for raw in page)
                self._account(read - size)
                size = read
                keys = await self.store.keys(self.space, positions(page)) if page else {}
                for batch in batches(page, FRAME_BYTES):
                    entries = Entries(tuple(batch), live=False, keys=parallel(batch, keys))
                    await self._paced(entries)
            finally:
                self._account(-size)
            advance(sent, page)
            count += len(page)
            if len(page) < MAX_ENTRIES_PER_FRAME and size < FRAME_BYTES:
                break
        self.metrics.catchup_entries_sent += count
        heads = await self.store.heads(self.space)
        if self.closing:
            return
        self._enqueue(CaughtUp(heads))  # the Connection is LIVE from here
        self._account(-self.held_bytes)  # counted again as it is queued
        held, self.held, self.held_bytes, self.held_upto = self.held, [], 0, {}
        held_keys, self.held_keys = self.held_keys, {}
        self._send_live(unsent(sent, held), held_keys)
        log_event("pull.caught_up", self.space, count=count, ms=ms_since(started))

    def deliver(self, entries: Sequence[bytes], keys: KeyRecords) -> None:
        """New entries of this session's space, stored by another session, and the key records
        stored beside them."""
        if not entries:
            return
        if self.conn.state is State.SYNCING:
            entries = unsent(self.held_upto, entries)
            self.held.extend(entries)
            self.held_keys.update(keys)
            size = sum(len(raw) for raw in entries)
            self.held_bytes += size
            self._account(size)
            if self.held_bytes > MAX_BACKLOG_BYTES:
                self._drop()
        elif self.conn.state is State.LIVE:  # a SharedStore's feed may repeat what was sent
            self._send_live(unsent(self.sent, entries), keys)

    def unsend(self, entries: frozenset[bytes], first: Mapping[LogId, int]) -> None:
        """Entries delivered before their commit were refused: what is stored at their seqs
        later must still reach the device (fanout.py's `unsent`)."""
        for log, seq in first.items():
            rewind(self.sent, log, seq)
            rewind(self.held_upto, log, seq)
        if self.held:
            self.held = [raw for raw in self.held if raw not in entries]
            before, self.held_bytes = self.held_bytes, sum(len(raw) for raw in self.held)
            self._account(self.held_bytes - before)
            for at in positions(list(entries)):
                self.held_keys.pop(at, None)

    def _send_live(self, entries: Sequence[bytes], keys: KeyRecords) -> None:
        for batch in batches(entries, FRAME_BYTES):
            self._enqueue(Entries(tuple(batch), live=True, keys=parallel(batch, keys)))
        if self.backlog > MAX_BACKLOG_BYTES:
            self._drop()

    def _drop(self) -> None:
        # Too far behind to keep in memory: the device reconnects and resumes from its vector.
        if self.closing:
            return
        self.outbox.clear()
        self.backlog = 0
        self._wake()
        self.fail(
            ErrorCode.INTERNAL, "too far behind; reconnect", close=WSCloseCode.TRY_AGAIN_LATER
        )
