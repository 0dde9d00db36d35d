"""A member of a space attacks the relay: what one connection holds, and what a space holds.

Asking and never reading. The attacker is a member of a space (on an open relay, anyone who
creates one), speaking the protocol over a raw socket with a small receive buffer, so nothing on
its side reads ahead of it. It sends FetchKeys after FetchKeys for the same 256 positions and
reads none of the answers. An old relay read every request and queued every answer (about 27
KiB each) in the session's outbox, where only Entries frames counted toward the backlog bound:
one socket took it from 53 to 315 MB in 14 seconds. Now every queued frame counts, and past
PACE_BYTES the session reads no more requests until the device has taken some answers, so what
the attacker sends waits in its own socket buffers.

Opening logs by the thousand. Nothing bounded a space's logs, and every Welcome lists each
log's head: past MAX_VECTOR_LOGS (4,096) no device could decode its Welcome again, and every
catch-up page walked them all. A space now holds at most MAX_LOGS_PER_SPACE.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket

import pytest

from tend.core.ids import SpaceId
from tend.sync.protocol import (
    KEY_RECORD_BYTES,
    MAX_ENTRIES_PER_FRAME,
    PROTOCOL_VERSIONS,
    Ack,
    CaughtUp,
    Connection,
    Entries,
    Error,
    ErrorCode,
    FetchKeys,
    Frame,
    Hello,
    Keys,
    Pull,
    Role,
    State,
    Welcome,
    position,
)
from tend.sync.relay.app_keys import HUB, METRICS
from tend.sync.relay.session import PACE_BYTES, Session, _Out
from tend.sync.relay.store import MAX_LOGS_PER_SPACE
from tests.relay_fixtures import Log
from tests.test_relay import (
    TIMEOUT,
    Gate,
    Join,
    RunningRelay,
    _nothing_arrives,
    cap,
    connect,
    http,
    join,
    live,
    relay,
    space,
    start_relay,
)
from tests.test_relay_bounds import _frame_header

__all__ = ["cap", "connect", "http", "join", "relay", "space", "start_relay"]  # fixtures

REQUESTS = 5000  # 30 MiB of requests, far more than the socket buffers between us hold
ANSWER_BYTES = 64 << 10  # a Keys frame for 256 positions is under this


class Asker:
    """A member on a raw websocket whose socket buffers little, and who reads only when it
    chooses to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = Connection(Role.DEVICE)

    @classmethod
    async def join(cls, url: str, space: SpaceId, cap: bytes, *, create: bool = False) -> Asker:
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket()
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):  # before connecting
            sock.setsockopt(socket.SOL_SOCKET, option, 16 << 10)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=16 << 10)
        key = base64.b64encode(os.urandom(16))
        writer.write(
            b"GET /v1/sync HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        asker = cls(reader, writer)
        asker.send(Hello(PROTOCOL_VERSIONS, space, cap, create=create))
        assert isinstance(await asker.receive(), Welcome)
        return asker

    def send(self, frame: Frame) -> None:
        data = self.conn.send(frame)
        self.writer.write(_frame_header(len(data)) + data)

    async def receive(self) -> Frame:
        first, second = await asyncio.wait_for(self.reader.readexactly(2), TIMEOUT)
        length = second & 0x7F
        if length >= 126:
            size = 2 if length == 126 else 8
            length = int.from_bytes(await self.reader.readexactly(size), "big")
        assert first & 0x0F == 0x2, first  # binary
        return self.conn.receive(await asyncio.wait_for(self.reader.readexactly(length), TIMEOUT))

    async def ask_without_reading(self, positions: tuple[bytes, ...], count: int) -> int:
        """Send up to `count` FetchKeys (ids 1, 2, ...) until the relay stops taking them in;
        how many were written."""
        for n in range(1, count + 1):
            self.send(FetchKeys(n, positions))
            try:
                await asyncio.wait_for(self.writer.drain(), 1.0)
            except TimeoutError:
                return n  # written, and waiting on this side: the relay reads no more
        return count


def _queued_bytes(session: Session) -> int:
    return sum(len(item.data) for item in session.outbox._items if isinstance(item, _Out))


async def test_a_member_who_asks_for_keys_and_never_reads_holds_little_of_the_relays_memory(
    relay: RunningRelay, join: Join, space: SpaceId, cap: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the relay's own level
    pusher, log = await join(), Log(space)
    records = [os.urandom(KEY_RECORD_BYTES) for _ in range(MAX_ENTRIES_PER_FRAME)]
    assert await pusher.push(log.extend(MAX_ENTRIES_PER_FRAME), records) == Ack(1, 256)
    watcher = await live(join)
    positions = tuple(position(log.log, seq) for seq in range(1, MAX_ENTRIES_PER_FRAME + 1))
    asker = await Asker.join(relay.url, space, cap)
    metrics = relay.runner.app[METRICS]
    before = metrics.frames_received
    sent = await asker.ask_without_reading(positions, REQUESTS)
    await asyncio.sleep(0.3)  # whatever the relay would still take in, it has taken by now
    taken = metrics.frames_received - before
    asking = max(relay.runner.app[HUB].members(space), key=_queued_bytes)
    assert sent < REQUESTS, "the relay read every request while no answer was read"
    assert taken < sent, (taken, sent)  # the rest wait in the socket buffers
    queued = _queued_bytes(asking)
    assert queued <= PACE_BYTES + ANSWER_BYTES, queued  # one answer past the pace at most
    assert asking.backlog >= queued  # every queued frame counts toward the bound

    # The others in the space are served meanwhile.
    assert await pusher.push(log.extend(1), [os.urandom(KEY_RECORD_BYTES)]) == Ack(2, 1)
    got = await watcher.receive()
    assert isinstance(got, Entries) and got.entries == (log.entries[-1],)

    # Reading at last, the asker gets every answer, in order: paced, nothing dropped.
    ids: list[int] = []
    while len(ids) < sent:
        frame = await asker.receive()
        assert isinstance(frame, Keys) and len(frame.records) == MAX_ENTRIES_PER_FRAME, frame
        ids.append(frame.id)
    assert ids == list(range(1, sent + 1))
    assert "keys.fetched" not in caplog.text  # a line for each would flood the log
    asker.writer.close()


async def test_a_member_opening_logs_by_the_thousand_leaves_the_space_readable(
    join: Join, space: SpaceId
) -> None:
    opener = await join()
    logs = [Log(space) for _ in range(MAX_LOGS_PER_SPACE + 1)]
    for n in range(0, MAX_LOGS_PER_SPACE, MAX_ENTRIES_PER_FRAME):
        batch = [log.extend(1)[0] for log in logs[n : n + MAX_ENTRIES_PER_FRAME]]
        assert await opener.push(batch) == Ack(opener._next_id, len(batch))
    refused = await opener.push(logs[-1].extend(1))
    assert isinstance(refused, Error) and refused.code == ErrorCode.QUOTA.value
    assert not refused.fatal  # the connection stays: its logs may still grow
    assert await opener.push(logs[0].extend(1)) == Ack(opener._next_id, 1)
    partner = await join()  # its Welcome, listing every head, decodes
    batches, caught_up = await partner.pull()
    assert len(caught_up.heads) == MAX_LOGS_PER_SPACE
    assert sum(len(b.entries) for b in batches) == MAX_LOGS_PER_SPACE + 1


async def test_an_entry_forwarded_early_and_at_its_commit_is_held_once_for_a_catching_up_device(
    relay: RunningRelay, join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push goes out to the others while it commits (early.py) and again once committed; a
    device still catching up held both copies, and counted both, so an honest partner's 9 MiB
    pushed meanwhile cut it off at half its backlog."""
    pusher, log = await join(), Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    catching_up = await join()
    reading = Gate(monkeypatch, "since")
    await catching_up.send(Pull({}))
    await reading.wait_reached()  # its catch-up waits on the store: it holds what arrives
    pushed = log.extend(8)
    assert await pusher.push(pushed) == Ack(2, 8)
    (session,) = [s for s in relay.runner.app[HUB].members(space) if s.conn.state is State.SYNCING]
    assert session.held_bytes == sum(len(raw) for raw in pushed)  # once, not twice
    reading.opened.set()
    caught_up: list[bytes] = []
    while not isinstance(frame := await catching_up.receive(), CaughtUp):
        assert isinstance(frame, Entries) and not frame.live, frame
        caught_up.extend(frame.entries)
    assert caught_up == log.entries  # read from the store once opened: the push is there
    await _nothing_arrives(catching_up)  # and what it held is not sent again
