"""What a sync websocket takes: whole messages, of a Hello's size until Welcome, the protocol's
after.

Theory of operation
-------------------
Before Welcome a device is nobody, and sends one frame, its Hello (at most MAX_HELLO_BYTES);
after it, a catch-up push may be up to MAX_FRAME_BYTES. aiohttp's websocket reader compares a
message's declared length with its limit as soon as the frame's header is in, before it
buffers a byte of the payload; but it takes that limit when it is made, and the compiled
reader (aiohttp/_websocket/reader_c, the default) keeps it in a C field nothing can change
afterwards. So:

- `SyncSocket` opens with the small limit. A first frame (or the fragments of one message)
  declaring more is refused on its header: at most the header and what arrived with it is
  read, never the 4 MiB it announces. aiohttp then closes the socket with 1009 (message too
  big); `SyncSocket.close` first sends the protocol's one-line Error (too_large) and closes with
  1008 instead, as every other refusal before Welcome does.
- At Welcome, `raise_limit` puts a new reader, of the class aiohttp chose (compiled or pure
  Python), with the large limit in the old one's place, on the same queue of messages.

Nothing an honest device sends is lost in the swap. A device sends nothing between its Hello
and the Welcome (no frame but Hello is allowed before it), and the swap is made before the
Welcome is queued, so all it sends after reading the Welcome reaches the new reader. What a
device sent after its Hello and before the Welcome is the device breaking the protocol: a frame
the old reader had begun is dropped with it, so the new reader starts inside it, fails to parse
and closes the socket. A reader that had stopped parsing because the queue of messages was full
(aiohttp's stall; only a device sending many frames before Welcome gets there) holds bytes the
swap would lose: `raise_limit` refuses, and the device is refused (`FloodBeforeWelcome`).

No honest device splits a message into fragments (neither tend's client nor any websocket
library does, for one binary message), and a flood of empty continuation frames never makes a
message, so nothing above the socket would see it: `WholeMessages` walks the frame headers of
what arrives, before aiohttp's reader parses it, and refuses the first fragment, dropping the
connection. Its walk costs a few operations a frame, and an honest device sends few frames.

This reaches into aiohttp, which has no public way to do it: the response's queue (`_reader`)
and reader (`_parser`), and the request handler's reader slot (`_payload_parser`) and
heartbeat callback (`_data_received_cb`). `raise_limit` checks that each is there; if a later
aiohttp moved them it raises RuntimeError and the session ends as the relay's failure, logged,
rather than leaving a device with the small limit. tests/test_relay_bounds.py pins it for the
aiohttp installed, with the compiled reader.
"""

from __future__ import annotations

from collections import deque
from contextlib import suppress
from typing import Any

from aiohttp import WebSocketError, WSCloseCode, web

from tend.core.errors import ProtocolError
from tend.sync.protocol import MAX_FRAME_BYTES, MAX_HELLO_BYTES, Error, ErrorCode, encode
from tend.sync.relay.arriving import SMALL_MESSAGE, Arriving

# aiohttp refuses a message whose length is at least its limit: one more lets a Hello of
# exactly MAX_HELLO_BYTES through (the protocol refuses anything longer, on its length).
FIRST_LIMIT = MAX_HELLO_BYTES + 1
FULL_LIMIT = MAX_FRAME_BYTES + 1
TOO_LARGE = f"a frame before welcome is at most {MAX_HELLO_BYTES} bytes"
TOO_MUCH_ARRIVING = "the relay is taking in all it can from here at once; try again later"


class FloodBeforeWelcome(ProtocolError):
    """The device sent more before its Welcome than the socket's queue holds."""


class SyncSocket(web.WebSocketResponse):
    """A device's sync websocket, taking messages of at most FIRST_LIMIT bytes until
    `raise_limit` is called for it."""

    def __init__(self, *, heartbeat: float) -> None:
        # compress=False: entries are ciphertext (nothing to gain), and no inflation to bound.
        # autoping=False: pings reach the session, which answers only so many (session.py).
        super().__init__(
            max_msg_size=FIRST_LIMIT, compress=False, heartbeat=heartbeat, autoping=False
        )
        self.welcomed = False
        self.guard: WholeMessages | None = None  # set by guard_messages

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        refused = self._refused_on_header(code)
        if refused is not None and not self.closed:
            # A reader refused a message on its header: say why, as every refusal does.
            error, text = refused
            with suppress(ConnectionError, RuntimeError):
                await self.send_bytes(encode(Error(error.value, text)))
            if error is ErrorCode.BUSY:  # nothing more is read: no close frame to wait for
                self._set_closing(WSCloseCode.TRY_AGAIN_LATER)
            else:
                code = WSCloseCode.POLICY_VIOLATION
            message = f"{error.value}: {text}".encode()
        return await super().close(code=code, message=message, drain=drain)

    def _refused_on_header(self, code: int) -> tuple[ErrorCode, str] | None:
        if code == WSCloseCode.MESSAGE_TOO_BIG and not self.welcomed:
            return ErrorCode.TOO_LARGE, TOO_LARGE  # a first message over the small limit
        if code == WSCloseCode.TRY_AGAIN_LATER and self.guard is not None and self.guard.busy:
            return ErrorCode.BUSY, TOO_MUCH_ARRIVING  # more than its sender may have arriving
        return None


async def close_without_handshake(ws: web.WebSocketResponse, code: int, message: bytes) -> None:
    """Send the close frame, then close the TCP connection once what is queued to it has gone:
    not waiting for the device's close frame. aiohttp's close waits for it for up to ten
    seconds, reading (and parsing) whatever the device sends meanwhile, so a refused device
    could flood the relay for that long on each connection. aiohttp closes at once when the
    device's close came first (`_set_closing`); marked so, its close sends ours and returns."""
    set_closing = getattr(ws, "_set_closing", None)
    if callable(set_closing) and not ws.closed:
        set_closing(code)
    await ws.close(code=code, message=message, drain=False)


_EXTENDED = {126: 2, 127: 8}  # a payload length of 126 or 127: that many bytes of length follow
_CONTROL = 0x08  # opcodes from here on are control frames (close, ping, pong), at most 125 bytes


class WholeMessages:
    """In front of aiohttp's websocket reader: passes it what arrives, once its frame headers
    show whole messages only (every data frame final, no continuation), each large one within
    what its sender may have arriving at once (arriving.py)."""

    __slots__ = (
        "_arriving",
        "_counted",
        "_need",
        "_owners",
        "_queue",
        "_refused_by",
        "_stash",
        "_transport",
        "reader",
    )

    def __init__(
        self, reader: Any, queue: Any, transport: Any, arriving: Arriving, owners: tuple[str, ...]
    ) -> None:
        self.reader, self._queue, self._transport = reader, queue, transport
        self._arriving, self._owners = arriving, owners
        self._counted: deque[int] = deque()  # each data message's bytes counted, in order
        self._need = 0  # payload bytes of the current frame still to come
        self._stash = b""  # the start of a frame header a read ended in
        self._refused_by: WebSocketError | None = None  # why it reads nothing more, once refused

    def feed_eof(self) -> None:
        self.give_back_all()
        self.reader.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._refused_by is not None:
            return True, b""
        refusal = self._refusal(data)
        if refusal is None:
            result: tuple[bool, bytes] = self.reader.feed_data(data)
            return result
        self._refused_by = refusal
        self.give_back_all()
        self._queue.set_exception(refusal)
        if refusal.code == WSCloseCode.PROTOCOL_ERROR and self._transport is not None:
            self._transport.abort()  # a hostile device: no answer, nothing more read
        return True, b""  # the protocol reads nothing more

    @property
    def busy(self) -> bool:
        """Refused: a message would have taken its sender past a budget."""
        refused = self._refused_by
        return refused is not None and refused.code == WSCloseCode.TRY_AGAIN_LATER

    @property
    def between_frames(self) -> bool:
        """Whether what arrived so far ends where a frame does."""
        return not self._need and not self._stash

    def taken(self) -> None:
        """The session took the oldest data message: what it counted is given back."""
        if self._counted:
            self._arriving.give_back(self._owners, self._counted.popleft())

    def give_back_all(self) -> None:
        """The connection is ending: nothing of it is arriving any more."""
        while self._counted:
            self.taken()

    def _refusal(self, data: bytes) -> WebSocketError | None:
        if self._stash:
            data, self._stash = self._stash + bytes(data), b""
        at, end = 0, len(data)
        while at < end:
            if self._need:
                step = min(self._need, end - at)
                self._need -= step
                at += step
                continue
            if end - at < 2:
                self._stash = bytes(data[at:])
                return None
            first, second = data[at], data[at + 1]
            if not first & 0x80 or not first & 0x0F:  # not final, or a continuation
                return WebSocketError(WSCloseCode.PROTOCOL_ERROR, "a message in fragments")
            length, size = second & 0x7F, 2
            extended = _EXTENDED.get(length, 0)
            size += extended + (4 if second & 0x80 else 0)
            if end - at < size:
                self._stash = bytes(data[at:])
                return None
            if extended:
                length = int.from_bytes(data[at + 2 : at + 2 + extended], "big")
            if first & 0x0F < _CONTROL and not self._count(length):
                return WebSocketError(WSCloseCode.TRY_AGAIN_LATER, TOO_MUCH_ARRIVING)
            at += size
            self._need = length
        return None

    def _count(self, length: int) -> bool:
        """Count a data message of `length` bytes toward its sender; False if it may not come."""
        # Past the frame limit aiohttp's reader refuses it on this header: count no more.
        counted = min(length, FULL_LIMIT) if length > SMALL_MESSAGE else 0
        if counted and not self._arriving.take(self._owners, counted):
            return False
        self._counted.append(counted)
        return True


def guard_messages(
    ws: SyncSocket, protocol: Any, transport: Any, arriving: Arriving, owners: tuple[str, ...]
) -> WholeMessages:
    """Put `WholeMessages` in front of the socket's reader (right after `prepare`), counting
    large messages toward `owners` in `arriving`. The session calls its `taken` for each
    data message it takes, and `give_back_all` when it ends."""
    queue, reader, _callback = _internals(ws, protocol)
    guard = WholeMessages(reader, queue, transport, arriving, owners)
    protocol._payload_parser = ws.guard = guard
    return guard


def raise_limit(ws: SyncSocket, protocol: Any) -> None:
    """From now on `ws` takes messages of up to MAX_FRAME_BYTES: a new reader with that limit
    replaces the small one, on its queue. `protocol` is the request's (request.protocol).
    FloodBeforeWelcome if the old reader holds bytes it could not queue yet; RuntimeError if
    aiohttp's internals are not where this expects them."""
    queue, old, callback = _internals(ws, protocol)
    if queue._stalled_reader is not None:
        raise FloodBeforeWelcome("more was sent before welcome than a hello")
    guard = protocol._payload_parser
    if isinstance(guard, WholeMessages) and not guard.between_frames:
        # The device began a frame after its Hello: the new reader would start inside it, and
        # the guard, walking on from there, would read its payload as headers (a review hid
        # 4 MiB messages from the budgets so).
        raise FloodBeforeWelcome("a frame was begun before welcome")
    new = type(old)(queue, FULL_LIMIT, False, True)  # (queue, max_msg_size, compress, decode_text)
    protocol._payload_parser = None  # set_parser takes a reader only into an empty slot
    protocol.set_parser(new, data_received_cb=callback)
    if isinstance(guard, WholeMessages):  # the same walk goes on, before the new reader
        guard.reader = new
        protocol._payload_parser = guard
    ws._parser = new  # the response holds its reader, which a stalled queue refers to weakly
    ws.welcomed = True


def _internals(ws: SyncSocket, protocol: Any) -> tuple[Any, Any, Any]:
    """The socket's queue and reader, and the heartbeat callback its protocol feeds."""
    try:
        queue: Any = ws._reader
        old, callback = ws._parser, protocol._data_received_cb
        current = protocol._payload_parser
        if isinstance(current, WholeMessages):
            current = current.reader
        queue._stalled_reader  # noqa: B018 (checked to be there)
    except AttributeError as e:
        raise RuntimeError(f"aiohttp's websocket internals moved ({e})") from None
    if old is None or current is not old:
        raise RuntimeError("the websocket has no reader of its own to replace")
    return queue, old, callback
