"""The relay end to end: the real aiohttp app on loopback, driven by protocol.Connection(DEVICE).

Every test starts its own relay (make_app on 127.0.0.1, an ephemeral port, a fresh SQLite file)
and talks to it over real websockets and HTTP. Entries are real v2 entries, sealed and signed by
their log's key (tests/relay_fixtures.py): the relay checks headers and signatures and opens
nothing. Several tests play the attacker: a member of the space (it holds the capability)
writing into another device's log, claiming a log id its key does not own, rotating without
being a current member, or repairing a log that is not its own. Junk an older relay let in is
written straight into the relay's SQLite file. Over HTTP: a claim on a mailbox in use is
refused; an invitation is handed out once, survives a restart and expires; an escrow write
signed by another identity key, for a locator that is not the identity's, or with a forged
signature is refused and leaves the stored blob as it was; hostile bodies get a 4xx and leave
no traceback in the relay's log, which never names an id; caps hold. The last tests run the
installed `tend relay serve` as a process: SIGTERM shuts it down gracefully, and SIGKILL at a
random moment loses no acknowledged entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
from aiohttp import WSMsgType, web

from tend.core.crypto import keys
from tend.core.ids import SpaceId, new_space_id
from tend.core.log import escrow
from tend.core.log.header import GENESIS, MAX_ENTRY, Header
from tend.sync.protocol import (
    KEY_RECORD_BYTES,
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
    Repair,
    Role,
    Rotate,
    State,
    Vector,
    Welcome,
    encode,
)
from tend.sync.relay import mailboxes as mailboxes_module
from tend.sync.relay import session as session_module
from tend.sync.relay.app import make_app
from tend.sync.relay.app_keys import HUB
from tend.sync.relay.config import RelayConfig
from tend.sync.relay.early import MAX_LOGS_CHECKED
from tend.sync.relay.mailboxes import MESSAGE_COST, Mailboxes, MailboxFull, MailboxInUse, Poster
from tend.sync.relay.pairing_routes import (
    ESCROW_MAX_BODY,
    INVITATION_MAX_BYTES,
    INVITATION_MAX_TTL,
    MAILBOX_MAX_BYTES,
)
from tend.sync.relay.session import FRAME_BYTES
from tend.sync.relay.store import (
    DEFAULT_ESCROW_CAP,
    DEFAULT_INVITATION_CAP,
    DEFAULT_QUOTA,
    ROW_OVERHEAD,
    SqliteRelayStore,
    StoreFailure,
)
from tend.sync.relay.store_spec import PostgresSpec, SqliteSpec, StoreSpec, parse_store_spec
from tests.conftest import tend_env, tend_executable
from tests.relay_fixtures import (
    ENTRY_SIZE,
    Log,
    capability_hash,
    claimed_first_entry,
    repair_signature,
    rotation,
)
from tests.test_relay_store_contract import SqliteBackend

TIMEOUT = 5.0


# --- harness ------------------------------------------------------------------------------------


@dataclass
class RunningRelay:
    runner: web.AppRunner
    url: str
    stopped: bool = False

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


StartRelay = Callable[..., Awaitable[RunningRelay]]


@pytest.fixture
async def start_relay(tmp_path: Path) -> AsyncIterator[StartRelay]:
    running: list[RunningRelay] = []

    async def start(
        quota: int = DEFAULT_QUOTA,
        invitation_cap: int = DEFAULT_INVITATION_CAP,
        escrow_cap: int = DEFAULT_ESCROW_CAP,
    ) -> RunningRelay:
        config = RelayConfig(quota=quota, invitation_cap=invitation_cap, escrow_cap=escrow_cap)
        app = make_app(SqliteSpec(tmp_path / "relay.db"), config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        running.append(RunningRelay(runner, f"http://{host}:{port}"))
        return running[-1]

    yield start
    for relay in running:
        await relay.stop()


@pytest.fixture
async def relay(start_relay: StartRelay) -> RunningRelay:
    return await start_relay()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Device:
    """A test device: a real websocket and a protocol.Connection(DEVICE) checking the relay."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.conn = Connection(Role.DEVICE)
        self._next_id = 0

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def send(self, frame: Frame) -> None:
        await self.ws.send_bytes(self.conn.send(frame))

    async def receive(self) -> Frame:
        msg = await self.ws.receive(timeout=TIMEOUT)
        assert msg.type is WSMsgType.BINARY, (msg.type, msg.data)
        return self.conn.receive(msg.data)

    async def closed(self) -> int | None:
        """Wait for the relay's close; its close code."""
        msg = await self.ws.receive(timeout=TIMEOUT)
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED), (msg.type, msg.data)
        return self.ws.close_code

    async def hello(self, space: SpaceId, cap: bytes, *, create: bool = True) -> Frame:
        await self.send(Hello(PROTOCOL_VERSIONS, space, cap, create))
        return await self.receive()

    async def push(self, entries: Sequence[bytes], keys: Sequence[bytes] = ()) -> Frame:
        request = self.next_id()
        await self.send(Push(request, tuple(entries), tuple(keys)))
        answer = await self.receive()
        assert isinstance(answer, Ack | Error) and answer.id == request, answer
        return answer

    async def request(self, frame: Rotate | Repair) -> Frame:
        """Send a Rotate or Repair (its id is ours to choose) and read the answer to it."""
        await self.send(frame)
        answer = await self.receive()
        assert isinstance(answer, Ack | Error) and answer.id == frame.id, answer
        return answer

    async def rotate(self, signed: tuple[bytes, bytes]) -> Frame:
        return await self.request(Rotate(self.next_id(), *signed))

    async def pull(self, have: Vector | None = None) -> tuple[list[Entries], CaughtUp]:
        await self.send(Pull(have or {}))
        batches: list[Entries] = []
        while not isinstance(frame := await self.receive(), CaughtUp):
            assert isinstance(frame, Entries) and not frame.live, frame
            batches.append(frame)
        return batches, frame


Connect = Callable[[], Awaitable[Device]]


@pytest.fixture
def connect(relay: RunningRelay, http: aiohttp.ClientSession) -> Connect:
    async def connect_() -> Device:
        return Device(await http.ws_connect(relay.url + "/v1/sync"))

    return connect_


@dataclass
class Member:
    """A device that has been welcomed to `space`."""

    device: Device
    welcome: Welcome


@pytest.fixture
def space() -> SpaceId:
    return new_space_id()


@pytest.fixture
def cap() -> bytes:
    return os.urandom(32)


Join = Callable[[], Awaitable[Device]]


@pytest.fixture
def join(connect: Connect, space: SpaceId, cap: bytes) -> Join:
    """Connect and say hello to the test's space with its capability."""

    async def join_() -> Device:
        device = await connect()
        assert isinstance(await device.hello(space, cap), Welcome)
        return device

    return join_


async def live(join: Join) -> Device:
    """A welcomed device that has caught up and now gets live entries."""
    device = await join()
    await device.pull()
    return device


def flat(batches: Sequence[Entries]) -> list[bytes]:
    return [raw for batch in batches for raw in batch.entries]


# --- handshake and access -----------------------------------------------------------------------


async def test_hello_with_create_registers_the_space_and_welcomes_with_empty_heads(
    connect: Connect, space: SpaceId, cap: bytes
) -> None:
    device = await connect()
    assert await device.hello(space, cap) == Welcome(max(PROTOCOL_VERSIONS), {})
    assert await device.push([]) == Ack(1, 0)


async def test_hello_to_a_known_space_welcomes_with_its_heads(
    join: Join, connect: Connect, space: SpaceId, cap: bytes
) -> None:
    log = Log(space)
    await (await join()).push(log.extend(3))
    later = await connect()
    assert await later.hello(space, cap, create=False) == Welcome(
        max(PROTOCOL_VERSIONS), {log.log: 3}
    )


async def test_an_unknown_space_without_create_gets_unknown_space_and_a_close(
    connect: Connect, space: SpaceId, cap: bytes
) -> None:
    device = await connect()
    error = await device.hello(space, cap, create=False)
    assert isinstance(error, Error) and error.code == ErrorCode.UNKNOWN_SPACE and error.fatal
    assert await device.closed() == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_no_version_in_common_gets_an_error_naming_the_relays_versions_then_a_close(
    connect: Connect, space: SpaceId, cap: bytes
) -> None:
    device = await connect()
    await device.ws.send_bytes(encode(Hello((99,), space, cap, True)))
    error = await device.receive()
    assert error == Error(
        ErrorCode.UNSUPPORTED_VERSION, "no protocol version in common", None, PROTOCOL_VERSIONS
    )
    assert await device.closed() is not None


async def test_a_wrong_capability_can_neither_pull_nor_push(
    join: Join, connect: Connect, space: SpaceId
) -> None:
    owner = await join()
    log = Log(space)
    await owner.push(log.extend(2))
    intruder = await connect()
    # Pipelined: the push and pull are already on the wire when the relay refuses the hello.
    await intruder.ws.send_bytes(encode(Hello(PROTOCOL_VERSIONS, space, os.urandom(32), True)))
    await intruder.ws.send_bytes(encode(Push(1, tuple(log.extend(1)))))
    await intruder.ws.send_bytes(encode(Pull({})))
    error = await intruder.receive()
    assert isinstance(error, Error) and error.code == ErrorCode.UNAUTHORIZED and error.fatal
    assert await intruder.closed() == aiohttp.WSCloseCode.POLICY_VIOLATION
    batches, caught_up = await owner.pull()
    assert (flat(batches), caught_up.heads) == (log.entries[:2], {log.log: 2})


# --- push, pull, live ---------------------------------------------------------------------------


async def test_a_push_is_acked_and_another_device_pulls_it_then_caught_up(
    join: Join, space: SpaceId
) -> None:
    alice, bob = await join(), await join()
    log = Log(space)
    assert await alice.push(log.extend(3)) == Ack(1, 3)
    batches, caught_up = await bob.pull()
    assert flat(batches) == log.entries
    assert caught_up == CaughtUp({log.log: 3})


async def test_a_pull_sends_only_what_the_device_lacks(join: Join, space: SpaceId) -> None:
    a, b = Log(space), Log(space)
    alice = await join()
    await alice.push(a.extend(4) + b.extend(2))
    batches, caught_up = await (await join()).pull({a.log: 3, b.log: 2})
    assert flat(batches) == [a.entries[3]]
    assert caught_up.heads == {a.log: 4, b.log: 2}


async def test_a_live_device_gets_entries_pushed_by_another_and_the_pusher_does_not(
    join: Join, space: SpaceId
) -> None:
    watcher, pusher = await live(join), await live(join)
    log = Log(space)
    await pusher.push(log.extend(2))
    assert await watcher.receive() == Entries(tuple(log.entries), live=True)
    await pusher.push(log.extend(1))  # the pusher's next frame is this ack, not its own entries
    assert await watcher.receive() == Entries((log.entries[2],), live=True)


async def test_key_records_go_out_beside_their_entries_live_and_in_catch_up(
    join: Join, space: SpaceId
) -> None:
    watcher, pusher = await live(join), await join()
    log = Log(space)
    record = bytes(range(KEY_RECORD_BYTES))
    await pusher.push(log.extend(2), [record, b""])
    # Live: the key records the push stored with the entries, in the same frame.
    assert await watcher.receive() == Entries(tuple(log.entries), live=True, keys=(record, b""))
    await pusher.push(log.extend(1))  # none: the frame carries no `k`
    assert await watcher.receive() == Entries((log.entries[2],), live=True)
    # Catch-up: read from the store beside the entries.
    batches, _caught_up = await (await join()).pull()
    assert [b.keys for b in batches] == [(record, b"", b"")]
    # Only what the relay holds: a re-send cannot add or replace a record.
    assert isinstance(await pusher.push(log.entries[:1], [bytes(KEY_RECORD_BYTES)]), Ack)
    batches, _caught_up = await (await join()).pull()
    assert [b.keys for b in batches] == [(record, b"", b"")]


async def test_only_new_entries_are_forwarded_live(join: Join, space: SpaceId) -> None:
    watcher, pusher = await live(join), await join()
    log = Log(space)
    first = log.extend(2)
    await pusher.push(first)
    assert await watcher.receive() == Entries(tuple(first), live=True)
    assert await pusher.push([*first, *log.extend(1)]) == Ack(2, 3)
    assert await watcher.receive() == Entries((log.entries[2],), live=True)


async def test_catch_up_comes_in_frames_of_bounded_count_and_size(
    join: Join, space: SpaceId
) -> None:
    small, large = Log(space), Log(space)
    alice = await join()
    for _ in range(3):
        await alice.push(small.extend(200))
    for _ in range(6):
        await alice.push(large.extend(8, size=MAX_ENTRY))
    batches, caught_up = await (await join()).pull()
    assert all(len(b.entries) <= MAX_ENTRIES_PER_FRAME for b in batches)
    assert all(sum(map(len, b.entries)) <= FRAME_BYTES for b in batches)
    expected = [e for log in sorted((small, large), key=lambda g: g.log) for e in log.entries]
    assert flat(batches) == expected
    assert caught_up.heads == {small.log: 600, large.log: 48}


class Gate:
    """Holds one store method when next called, until the test opens the gate."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.reached, self.opened = asyncio.Event(), asyncio.Event()
        original = getattr(SqliteRelayStore, name)

        async def held(store: SqliteRelayStore, *args: Any) -> Any:
            if not self.opened.is_set():
                self.reached.set()
                await self.opened.wait()
            return await original(store, *args)

        monkeypatch.setattr(SqliteRelayStore, name, held)

    async def wait_reached(self) -> None:
        await asyncio.wait_for(self.reached.wait(), TIMEOUT)


async def test_entries_stored_during_a_catch_up_arrive_after_it_and_exactly_once(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Log(space)
    alice, bob = await join(), await join()
    await alice.push(log.extend(3))
    reading, finishing = Gate(monkeypatch, "since"), Gate(monkeypatch, "heads")
    await bob.send(Pull({}))

    # Stored before the catch-up reads the store: in the catch-up and in Bob's live buffer.
    await reading.wait_reached()
    await alice.push(log.extend(2))
    reading.opened.set()
    # Stored after the catch-up's last read, before CaughtUp: only in the live buffer.
    await finishing.wait_reached()
    await alice.push(log.extend(1))
    finishing.opened.set()

    caught_up: list[bytes] = []
    frame = await bob.receive()
    while isinstance(frame, Entries):
        caught_up.extend(frame.entries)
        frame = await bob.receive()
    assert caught_up == log.entries[:5]
    assert frame == CaughtUp({log.log: 6})
    assert await bob.receive() == Entries((log.entries[5],), live=True)
    await alice.push(log.extend(1))
    assert await bob.receive() == Entries((log.entries[6],), live=True)


async def test_a_device_that_stops_reading_is_cut_off_and_the_others_keep_up(
    relay: RunningRelay, join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "MAX_BACKLOG_BYTES", 3 << 19)  # a push and a half
    sleeper, watcher, pusher = await live(join), await live(join), await join()
    sessions = relay.runner.app[HUB].sessions
    log = Log(space)
    for _ in range(64):  # 1 MiB a push; the socket buffers take a few before the backlog grows
        await pusher.push(log.extend(16, size=MAX_ENTRY))
        got: list[bytes] = []
        while len(got) < 16:
            frame = await watcher.receive()
            assert isinstance(frame, Entries) and frame.live
            got.extend(frame.entries)
        assert got == log.entries[-16:]
        if len(serving := [s for s in sessions if not s.closing]) == 2:
            break
    assert len(serving) == 2, "the sleeper was never cut off"
    last: Frame | None = None
    for _ in range(1000):  # what was already on its way, then the end of the connection
        msg = await sleeper.ws.receive(timeout=TIMEOUT)
        if msg.type is not WSMsgType.BINARY:
            break
        last = sleeper.conn.receive(msg.data)
    # Told why, unless its socket was so full that the relay had to cut the TCP link instead.
    told = isinstance(last, Error) and last.code == ErrorCode.INTERNAL
    assert (told and sleeper.ws.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER) or (
        not told and msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR)
    ), (last, msg)


# --- forwarding while committing (relay/early.py) ------------------------------------------------
# Each test holds the store's put closed (the Gate), so what a live device receives meanwhile is
# exactly what went out before the commit. As the attacker, a member of the space pushes a
# forgery into another device's log, a gap, and a removed device's log more entries: none of
# them reaches anyone before (or after) the store's verdict.


async def _nothing_arrives(device: Device, within: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await device.ws.receive(timeout=within)


async def _live_entries(device: Device) -> tuple[bytes, ...]:
    frame = await device.receive()
    assert isinstance(frame, Entries) and frame.live, frame
    return frame.entries


async def _answer(device: Device) -> Ack | Error:
    frame = await device.receive()
    assert isinstance(frame, Ack | Error), frame
    return frame


async def test_a_live_device_gets_a_push_before_its_commit_and_the_pusher_its_ack_after(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    pusher, watcher = await join(), await live(join)
    log = Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)  # a log seen here: checkable now
    assert await watcher.receive() == Entries((log.entries[0],), live=True)

    held = Gate(monkeypatch, "put")
    await pusher.send(pusher_push := _push(pusher, log.extend(2)))
    await held.wait_reached()
    assert await watcher.receive() == Entries(tuple(log.entries[1:]), live=True)
    await _nothing_arrives(pusher)  # no Ack before the commit
    held.opened.set()
    assert await _answer(pusher) == Ack(pusher_push.id, 2)
    # Sent once: the commit's own forwarding leaves out what went early.
    assert await pusher.push(log.extend(1)) == Ack(3, 1)
    assert await watcher.receive() == Entries((log.entries[3],), live=True)


def _push(device: Device, entries: list[bytes]) -> Push:
    return Push(device.next_id(), tuple(entries))


async def test_a_forgery_or_a_gap_waits_for_the_store_which_refuses_it_and_nobody_sees_it(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, intruder, watcher = await join(), await join(), await live(join)
    honest, attacker = Log(space), Log(space)
    assert await owner.push(honest.extend(2)) == Ack(1, 2)
    assert await intruder.push(attacker.extend(1)) == Ack(1, 1)
    assert len(await _live_entries(watcher)) == 2
    assert len(await _live_entries(watcher)) == 1

    held = Gate(monkeypatch, "put")
    refusals = {
        # Seq 3 of the owner's log, linked to its seq 2: right in every way but the signature.
        ErrorCode.BAD_SIGNATURE: [honest.forged(attacker.seed)],
        # The intruder's own log, with its seq 2 skipped.
        ErrorCode.GAP: attacker.extend(2)[1:],
    }
    for code, bad in refusals.items():
        held.opened.clear()
        await intruder.send(push := _push(intruder, bad))
        await held.wait_reached()
        await _nothing_arrives(watcher)
        held.opened.set()
        answer = await _answer(intruder)
        assert isinstance(answer, Error) and (answer.code, answer.id) == (code, push.id)
    await _nothing_arrives(watcher)
    assert await owner.push(honest.extend(1)) == Ack(2, 1)
    assert await watcher.receive() == Entries((honest.entries[2],), live=True)  # not a forgery


async def test_a_removed_devices_push_reaches_nobody(
    join: Join, connect: Connect, space: SpaceId, cap: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotator, log = await join(), Log(space)
    gone_device, gone = await join(), Log(space)
    assert await rotator.push(log.extend(1)) == Ack(1, 1)
    assert await gone_device.push(gone.extend(1)) == Ack(1, 1)
    new_cap = os.urandom(32)
    signed = rotation(log, capability_hash(cap), capability_hash(new_cap), removed=[gone.log])
    assert await rotator.rotate(signed) == Ack(2, 0)

    async def welcomed() -> Device:
        device = await connect()
        assert isinstance(await device.hello(space, new_cap, create=False), Welcome)
        return device

    watcher, again = await welcomed(), await welcomed()
    await watcher.pull()
    held = Gate(monkeypatch, "put")
    await again.send(push := _push(again, gone.extend(1)))  # even with the new capability
    await held.wait_reached()
    await _nothing_arrives(watcher)
    held.opened.set()
    answer = await _answer(again)
    assert isinstance(answer, Error) and (answer.code, answer.id) == (ErrorCode.REMOVED, push.id)
    assert await rotator.push(log.extend(1)) == Ack(3, 1)
    assert await watcher.receive() == Entries((log.entries[1],), live=True)


@pytest.mark.parametrize("logs", [MAX_LOGS_CHECKED + 1, 1])
async def test_a_push_of_more_logs_than_are_checked_on_the_event_loop_waits_for_its_commit(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch, logs: int
) -> None:
    """Each log a push touches is a signature check on the event loop before its commit: a
    push of more than MAX_LOGS_CHECKED logs goes out only once committed (one log: early)."""
    pusher, watcher = await join(), await live(join)
    devices = [Log(space) for _ in range(logs)]
    assert await pusher.push([e for log in devices for e in log.extend(1)]) == Ack(1, logs)
    assert len(await _live_entries(watcher)) == logs
    held = Gate(monkeypatch, "put")
    await pusher.send(push := _push(pusher, [e for log in devices for e in log.extend(1)]))
    await held.wait_reached()
    if logs > MAX_LOGS_CHECKED:
        await _nothing_arrives(watcher)
    else:
        assert len(await _live_entries(watcher)) == logs
    held.opened.set()
    assert await _answer(pusher) == Ack(push.id, logs)
    if logs > MAX_LOGS_CHECKED:
        assert len(await _live_entries(watcher)) == logs
    await _nothing_arrives(watcher)  # and once only


async def test_after_a_refused_commit_no_push_of_the_space_goes_out_early_until_one_commits(
    start_relay: StartRelay,
    http: aiohttp.ClientSession,
    space: SpaceId,
    cap: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = await start_relay(quota=3 * ENTRY_SIZE)

    async def welcomed() -> Device:
        device = Device(await http.ws_connect(relay.url + "/v1/sync"))
        assert isinstance(await device.hello(space, cap), Welcome)
        return device

    pusher, watcher = await welcomed(), await welcomed()
    await watcher.pull()
    log = Log(space)
    assert await pusher.push(log.extend(2)) == Ack(1, 2)
    assert len(await _live_entries(watcher)) == 2

    # Checkable here, so it goes out early; the store then finds the space over its quota.
    over = log.extend(2)
    assert isinstance(error := await pusher.push(over), Error)
    assert error.code == ErrorCode.QUOTA
    assert await watcher.receive() == Entries(tuple(over), live=True)
    # The pusher keeps them and pushes again later; meanwhile nothing goes out before a commit.
    held = Gate(monkeypatch, "put")
    await pusher.send(_push(pusher, over))
    await held.wait_reached()
    await _nothing_arrives(watcher)
    held.opened.set()
    assert isinstance(await _answer(pusher), Error)
    await _nothing_arrives(watcher)


# --- refusals -----------------------------------------------------------------------------------


async def _refused_then_usable(device: Device, bad: list[bytes], good: list[bytes]) -> Error:
    error = await device.push(bad)
    assert isinstance(error, Error), error
    ack = await device.push(good)
    assert isinstance(ack, Ack) and ack.stored == len(good), ack
    return error


async def test_a_gap_is_refused_with_the_request_id_and_the_connection_stays_usable(
    join: Join, space: SpaceId
) -> None:
    log = Log(space)
    device = await join()
    skipped = log.extend(2)[1:]
    log2 = Log(space)
    error = await _refused_then_usable(device, skipped, log2.extend(1))
    assert (error.code, error.id) == (ErrorCode.GAP, 1)


async def test_a_fork_is_refused_with_the_request_id_and_the_connection_stays_usable(
    join: Join, space: SpaceId
) -> None:
    log = Log(space)
    device = await join()
    await device.push(log.extend(2))
    error = await _refused_then_usable(device, [log.fork(2)], log.extend(1))
    assert (error.code, error.id) == (ErrorCode.FORK, 2)


async def test_over_quota_is_refused_with_the_request_id_and_the_connection_stays_usable(
    start_relay: StartRelay, http: aiohttp.ClientSession, space: SpaceId, cap: bytes
) -> None:
    relay = await start_relay(quota=3 * ENTRY_SIZE)
    device = Device(await http.ws_connect(relay.url + "/v1/sync"))
    await device.hello(space, cap)
    log = Log(space)
    await device.push(log.extend(2))
    error = await device.push(log.extend(2))
    assert isinstance(error, Error) and (error.code, error.id) == (ErrorCode.QUOTA, 2)
    assert await device.push(log.entries[:2]) == Ack(3, 2)  # still there, still talking


async def test_an_identical_re_push_is_acknowledged_as_stored(join: Join, space: SpaceId) -> None:
    log = Log(space)
    device = await join()
    batch = log.extend(3)
    assert await device.push(batch) == Ack(1, 3)
    assert await device.push(batch) == Ack(2, 3)
    _, caught_up = await device.pull()
    assert caught_up.heads == {log.log: 3}


async def test_an_entry_over_max_entry_is_refused_before_the_store_sees_it(
    join: Join, space: SpaceId
) -> None:
    # The frame decoder bounds every byte string by MAX_ENTRY, so an oversize entry is a
    # fatal frame error (no request id), not a store refusal.
    device, log = await join(), Log(space)
    await device.ws.send_bytes(encode(Push(1, tuple(log.extend(1, size=MAX_ENTRY + 1)))))
    error = await device.receive()
    assert isinstance(error, Error) and error.fatal
    assert error.code == ErrorCode.TOO_LARGE
    assert await device.closed() is not None
    assert (await (await join()).pull())[1].heads == {}


# --- hostile input ------------------------------------------------------------------------------


def _hostile(kind: str) -> bytes | str:
    if kind == "random bytes":
        return random.Random(7).randbytes(1000)
    if kind == "a huge map":
        return msgpack.packb({i: i for i in range(100_000)})
    if kind == "wrong types":
        return msgpack.packb({"t": "push", "i": "one", "e": [b"x"]})
    if kind == "unknown frame type":
        return msgpack.packb({"t": "gimme"})
    if kind == "a second hello":
        return encode(Hello(PROTOCOL_VERSIONS, new_space_id(), bytes(32)))
    assert kind == "a text message"
    return "hello?"


HOSTILE_CODES = {
    "random bytes": {ErrorCode.MALFORMED, ErrorCode.TOO_LARGE},
    "a huge map": {ErrorCode.MALFORMED, ErrorCode.TOO_LARGE},
    "wrong types": {ErrorCode.MALFORMED},
    "unknown frame type": {ErrorCode.MALFORMED},
    "a second hello": {ErrorCode.UNEXPECTED},
    "a text message": {ErrorCode.MALFORMED},
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_CODES))
async def test_a_hostile_frame_gets_an_error_and_a_close_while_others_keep_working(
    join: Join, space: SpaceId, kind: str
) -> None:
    watcher, pusher, hostile = await live(join), await join(), await join()
    payload = _hostile(kind)
    if isinstance(payload, str):
        await hostile.ws.send_str(payload)
    else:
        await hostile.ws.send_bytes(payload)
    error = await hostile.receive()
    assert isinstance(error, Error) and error.fatal and error.code in HOSTILE_CODES[kind]
    assert await hostile.closed() == aiohttp.WSCloseCode.POLICY_VIOLATION
    log = Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    assert await watcher.receive() == Entries(tuple(log.entries), live=True)


async def test_a_message_over_max_frame_bytes_is_closed_as_too_big(
    join: Join, space: SpaceId
) -> None:
    device = await join()
    # The relay refuses from the frame header alone, without buffering the body: it closes
    # with 1009 and drops the link, so the client may see its own 1006 first.
    with contextlib.suppress(ConnectionError):
        await device.ws.send_bytes(bytes(MAX_FRAME_BYTES + 1))
    assert await device.closed() in (
        aiohttp.WSCloseCode.MESSAGE_TOO_BIG,
        aiohttp.WSCloseCode.ABNORMAL_CLOSURE,
    )
    assert isinstance(await (await join()).push(Log(space).extend(1)), Ack)


# --- write authority ----------------------------------------------------------------------------


async def test_a_member_cannot_push_into_another_devices_log_and_the_owner_carries_on(
    join: Join, space: SpaceId
) -> None:
    owner, intruder, watcher = await join(), await join(), await live(join)
    honest, attacker = Log(space), Log(space)
    await owner.push(honest.extend(2))
    await intruder.push(attacker.extend(1))  # a member with a log of its own
    assert await watcher.receive() == Entries(tuple(honest.entries), live=True)
    assert await watcher.receive() == Entries(tuple(attacker.entries), live=True)
    # Seq 3 of the owner's log, linked to its seq 2: right in every way but the signature.
    error = await intruder.push([honest.forged(attacker.seed)])
    assert isinstance(error, Error) and (error.code, error.id) == (ErrorCode.BAD_SIGNATURE, 2)
    assert not error.fatal
    assert await owner.push(honest.extend(1)) == Ack(2, 1)
    assert await watcher.receive() == Entries((honest.entries[2],), live=True)  # not the forgery
    batches, caught_up = await (await join()).pull()
    assert sorted(flat(batches)) == sorted(honest.entries + attacker.entries)
    assert caught_up.heads == {honest.log: 3, attacker.log: 1}


async def test_a_first_entry_not_owned_by_its_key_is_refused(join: Join, space: SpaceId) -> None:
    device = await join()
    victim, attacker = Log(space), Log(space)
    # A log id not derived from the key, and the victim's log id with the attacker's key.
    for log_id in (os.urandom(16), victim.log):
        claim = claimed_first_entry(space, log_id, attacker.key, attacker.seed)
        error = await device.push([claim])
        assert isinstance(error, Error) and error.code == ErrorCode.MALFORMED, error
    # The victim's key in the header, so the id is right: the signature is the attacker's.
    error = await device.push([victim.entry(1, GENESIS, seed=attacker.seed)])
    assert isinstance(error, Error) and error.code == ErrorCode.BAD_SIGNATURE
    assert (await device.pull())[1].heads == {}
    assert await device.push(victim.extend(1)) == Ack(4, 1)


# --- rotation -----------------------------------------------------------------------------------


async def member_of(join: Join, space: SpaceId) -> tuple[Device, Log]:
    """A welcomed device whose log the relay holds, so it may sign rotations."""
    device, log = await join(), Log(space)
    assert isinstance(await device.push(log.extend(1)), Ack)
    return device, log


async def test_rotate_acks_and_closes_the_spaces_other_connections_as_unauthorized(
    join: Join, connect: Connect, space: SpaceId, cap: bytes
) -> None:
    (rotator, log), other = await member_of(join, space), await live(join)
    new_cap = os.urandom(32)
    signed = rotation(log, capability_hash(cap), capability_hash(new_cap))
    assert await rotator.rotate(signed) == Ack(2, 0)
    error = await other.receive()
    assert isinstance(error, Error) and error.code == ErrorCode.UNAUTHORIZED and error.fatal
    assert await other.closed() == aiohttp.WSCloseCode.POLICY_VIOLATION

    stale = await connect()
    assert await stale.hello(space, cap) == Rekey(*signed)
    stranger = await connect()
    assert isinstance(error := await stranger.hello(space, os.urandom(32)), Error)
    assert error.code == ErrorCode.UNAUTHORIZED
    fresh = await connect()
    assert isinstance(await fresh.hello(space, new_cap), Welcome)
    assert await rotator.push(log.extend(1)) == Ack(3, 1)  # the rotator stays


async def test_a_hello_with_a_replaced_capability_gets_the_filed_record_then_a_normal_close(
    join: Join, connect: Connect, space: SpaceId, cap: bytes
) -> None:
    rotator, log = await member_of(join, space)
    caps = [cap, os.urandom(32), os.urandom(32)]
    filed = []
    for epoch in (1, 2):  # two rotations while some device was offline
        previous, new = capability_hash(caps[epoch - 1]), capability_hash(caps[epoch])
        filed.append(rotation(log, previous, new, epoch=epoch + 1))
        assert isinstance(await rotator.rotate(filed[-1]), Ack)
    for epoch in (0, 1):  # the offline device follows them one by one
        follower = await connect()
        assert await follower.hello(space, caps[epoch], create=False) == Rekey(*filed[epoch])
        assert follower.conn.state is State.CLOSED
        assert await follower.closed() == aiohttp.WSCloseCode.OK
    assert isinstance(await (await connect()).hello(space, caps[2]), Welcome)


async def test_a_rotation_over_quota_is_refused_and_changes_nothing(
    start_relay: StartRelay, http: aiohttp.ClientSession, space: SpaceId, cap: bytes
) -> None:
    relay = await start_relay(quota=ENTRY_SIZE + 100)
    device = Device(await http.ws_connect(relay.url + "/v1/sync"))
    await device.hello(space, cap)
    log = Log(space)
    await device.push(log.extend(1))
    error = await device.rotate(rotation(log, capability_hash(cap), os.urandom(32)))
    assert isinstance(error, Error) and (error.code, error.id) == (ErrorCode.QUOTA, 2)
    assert await device.push([]) == Ack(3, 0)  # still talking
    again = Device(await http.ws_connect(relay.url + "/v1/sync"))
    assert isinstance(await again.hello(space, cap, create=False), Welcome)


def _bad_rotation(log: Log, cap: bytes, kind: str) -> tuple[bytes, bytes]:
    current, new = capability_hash(cap), os.urandom(32)
    if kind == "a key that is no log of the space":
        return rotation(Log(log.space), current, new)
    if kind == "a member's name, another key":
        return rotation(log, current, new, seed=Log(log.space).seed)
    if kind == "a bad signature":
        record, signature = rotation(log, current, new)
        return record, signature[:-1] + bytes([signature[-1] ^ 1])
    if kind == "a wrong previous":
        return rotation(log, os.urandom(32), new)
    if kind == "another space":
        return rotation(log, current, new, space=new_space_id())
    assert kind == "a malformed record"
    return b"\xa4junk", bytes(64)


BAD_ROTATIONS = {
    "a key that is no log of the space": ErrorCode.BAD_SIGNATURE,
    "a member's name, another key": ErrorCode.BAD_SIGNATURE,
    "a bad signature": ErrorCode.BAD_SIGNATURE,
    "a wrong previous": ErrorCode.UNAUTHORIZED,
    "another space": ErrorCode.MALFORMED,
    "a malformed record": ErrorCode.MALFORMED,
}


@pytest.mark.parametrize("kind", sorted(BAD_ROTATIONS))
async def test_a_rotation_not_from_a_current_member_is_refused_and_the_capability_stays(
    join: Join, connect: Connect, space: SpaceId, cap: bytes, kind: str
) -> None:
    (rotator, log), other = await member_of(join, space), await live(join)
    error = await rotator.rotate(_bad_rotation(log, cap, kind))
    assert isinstance(error, Error) and (error.code, error.id) == (BAD_ROTATIONS[kind], 2)
    assert await rotator.push(log.extend(1)) == Ack(3, 1)  # still talking
    assert await other.receive() == Entries((log.entries[1],), live=True)  # not closed
    assert isinstance(await (await connect()).hello(space, cap, create=False), Welcome)


async def test_a_removed_log_can_neither_grow_nor_rotate_and_its_old_capability_gets_the_record(
    join: Join, connect: Connect, space: SpaceId, cap: bytes
) -> None:
    (rotator, log), (removed, gone) = await member_of(join, space), await member_of(join, space)
    new_cap = os.urandom(32)
    signed = rotation(log, capability_hash(cap), capability_hash(new_cap), removed=[gone.log])
    assert await rotator.rotate(signed) == Ack(2, 0)
    assert isinstance(await removed.receive(), Error)  # closed by the rotation

    # Even with the new capability (which a removed device should never learn):
    again = await connect()
    assert isinstance(await again.hello(space, new_cap), Welcome)
    error = await again.push(gone.extend(1))
    assert isinstance(error, Error) and error.code == ErrorCode.REMOVED
    assert await again.push(gone.entries[:1]) == Ack(2, 1)  # a re-send stays a no-op
    error = await again.rotate(rotation(gone, capability_hash(new_cap), os.urandom(32)))
    assert isinstance(error, Error) and error.code == ErrorCode.REMOVED
    assert isinstance(await (await connect()).hello(space, new_cap), Welcome)

    stale = await connect()
    assert await stale.hello(space, cap, create=False) == Rekey(*signed)
    assert await rotator.push(log.extend(1)) == Ack(3, 1)


# --- repair -------------------------------------------------------------------------------------

BAD = ErrorCode.BAD_SIGNATURE


async def test_junk_an_older_relay_let_in_is_dropped_by_its_owners_repair(
    join: Join, space: SpaceId, tmp_path: Path
) -> None:
    owner, log = await join(), Log(space)
    await owner.push(log.extend(3))
    await SqliteBackend(tmp_path / "relay.db").insert(space, log.junk(2))
    reader = await join()
    batches, _ = await reader.pull()  # the reader was sent the junk (its device refuses it)
    assert len(flat(batches)) == 5
    fork = await owner.push(log.extend(1))
    assert isinstance(fork, Error) and fork.code == ErrorCode.FORK

    assert await owner.request(log.repair(owner.next_id(), 4)) == Ack(3, 2)
    assert await owner.push(log.entries[3:]) == Ack(4, 1)
    # Sent again, live: the relay forgot it had sent the reader seq 4 (junk) of this log.
    assert await reader.receive() == Entries((log.entries[3],), live=True)
    batches, caught_up = await (await join()).pull()
    assert (flat(batches), caught_up.heads) == (log.entries, {log.log: 4})


async def test_a_repair_of_honest_entries_or_not_by_the_logs_own_key_drops_nothing(
    join: Join, space: SpaceId, tmp_path: Path
) -> None:
    (owner, log), (intruder, attacker) = await member_of(join, space), await member_of(join, space)
    await owner.push(log.extend(2))
    await SqliteBackend(tmp_path / "relay.db").insert(space, log.junk(1))  # seq 4

    def signed_as_owner(request: int, signature: bytes) -> Repair:
        """A repair of the owner's log from seq 4 naming the owner's key, with `signature`."""
        return Repair(request, log.log, log.key, 4, signature)

    attempts: list[tuple[Device, Repair, ErrorCode]] = [
        # The owner aiming at its honest entries, or at nothing.
        (owner, log.repair(11, 3), ErrorCode.FORK),
        (owner, log.repair(12, 1), ErrorCode.FORK),
        (owner, log.repair(13, 5), ErrorCode.GAP),
        # Someone else: the owner's public key with the attacker's signature,
        (intruder, signed_as_owner(14, log.repair(0, 4, seed=attacker.seed).signature), BAD),
        # the attacker's own key naming the owner's log,
        (intruder, log.repair(15, 4, seed=attacker.seed), BAD),
        # the owner's signature of a repair of another log, or from another seq, replayed,
        (intruder, signed_as_owner(16, repair_signature(log.seed, space, attacker.log, 4)), BAD),
        (intruder, signed_as_owner(17, log.repair(0, 3).signature), BAD),
        # and the attacker's own log, which is honest.
        (intruder, attacker.repair(18, 1), ErrorCode.FORK),
    ]
    for device, repair, code in attempts:
        error = await device.request(repair)
        assert isinstance(error, Error) and error.code == code and not error.fatal, repair
    _, caught_up = await (await join()).pull()
    assert caught_up.heads == {log.log: 4, attacker.log: 1}  # the junk is still there
    assert await owner.request(log.repair(19, 4)) == Ack(19, 1)


# --- HTTP: health, metrics, mailboxes -----------------------------------------------------------


async def test_healthz_answers_ok(relay: RunningRelay, http: aiohttp.ClientSession) -> None:
    async with http.get(relay.url + "/healthz") as response:
        assert (response.status, await response.text()) == (200, "ok")


def _samples(text: str) -> dict[str, float]:
    return {
        name: float(value)
        for line in text.splitlines()
        if line and not line.startswith("#")
        for name, value in [line.rsplit(" ", 1)]
    }


async def test_metrics_count_connections_frames_entries_errors_and_catch_up(
    relay: RunningRelay, http: aiohttp.ClientSession, join: Join, space: SpaceId
) -> None:
    alice, bob = await join(), await join()
    log = Log(space)
    await alice.push(log.extend(3))
    await alice.push(log.extend(2)[1:])  # a gap
    await bob.pull()
    async with http.get(relay.url + "/metrics") as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = _samples(await response.text())
    assert samples["tend_relay_connections"] == 2
    assert samples["tend_relay_frames_received_total"] == 5  # 2 hellos, 2 pushes, 1 pull
    assert samples["tend_relay_entries_stored_total"] == 3
    assert samples["tend_relay_bytes_stored_total"] == 3 * ENTRY_SIZE
    assert samples["tend_relay_catchup_entries_sent_total"] == 3
    assert samples['tend_relay_errors_total{code="gap"}'] == 1
    assert samples['tend_relay_errors_total{code="fork"}'] == 0


def _box() -> str:
    return os.urandom(16).hex()


async def test_a_mailbox_message_is_handed_out_once(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    async with http.post(url, data=b"sealed invitation") as response:
        assert response.status == 204
    async with http.get(url) as response:
        assert (response.status, await response.read()) == (200, b"sealed invitation")
    async with http.get(url) as response:
        assert response.status == 404


async def test_a_mailbox_read_waits_for_a_message_posted_later(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    started = time.monotonic()
    waiting = asyncio.ensure_future(http.get(url, params={"wait": "5"}))
    await asyncio.sleep(0.2)
    async with http.post(url, data=b"reply") as response:
        assert response.status == 204
    async with await waiting as response:
        assert (response.status, await response.read()) == (200, b"reply")
    assert time.monotonic() - started < 2


async def test_a_mailbox_read_with_nothing_to_read_answers_404_after_the_wait(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    async with http.get(f"{relay.url}/v1/mailbox/{_box()}", params={"wait": "0.3"}) as response:
        assert response.status == 404
    assert 0.3 <= time.monotonic() - started < 2


async def test_a_mailbox_queues_up_to_four_messages_in_order(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    for i in range(4):
        async with http.post(url, data=bytes([i])) as response:
            assert response.status == 204
    async with http.post(url, data=b"fifth") as response:
        assert response.status == 429
    got = []
    for _ in range(4):
        async with http.get(url) as response:
            got.append(await response.read())
    assert got == [bytes([i]) for i in range(4)]


async def test_a_mailbox_message_expires_after_its_ttl(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    async with http.post(url, data=b"soon gone", params={"ttl": "0.2"}) as response:
        assert response.status == 204
    await asyncio.sleep(0.3)
    async with http.get(url) as response:
        assert response.status == 404


def _case_ids(case: object) -> str | None:
    """Cases named by what they send, never by their random ids: every process that collects
    the suite (one per worker) names them alike."""
    if isinstance(case, str) and len(case) >= 32 and all(c in "0123456789abcdef" for c in case):
        return "random-id"
    return None


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status"),
    [
        ("POST", "not-hex", {}, b"x", 400),
        ("GET", "ABCDEF" * 5 + "AB", {}, b"", 400),
        ("POST", _box(), {"ttl": "601"}, b"x", 400),
        ("POST", _box(), {"ttl": "soon"}, b"x", 400),
        ("GET", _box(), {"wait": "61"}, b"", 400),
        ("GET", _box(), {"wait": "nan"}, b"", 400),
        ("POST", _box(), {}, bytes(MAILBOX_MAX_BYTES + 1), 413),
    ],
    ids=_case_ids,
)
async def test_mailbox_ids_ttls_waits_and_sizes_are_bounded(
    relay: RunningRelay,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    params: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    url = f"{relay.url}/v1/mailbox/{path}"
    async with http.request(method, url, params=params, data=body or None) as response:
        assert response.status == status


async def test_a_mailbox_message_of_exactly_the_largest_size_is_accepted(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    async with http.post(url, data=bytes(MAILBOX_MAX_BYTES)) as response:
        assert response.status == 204


ANYONE = Poster("192.0.2.1", "192.0.2.1")  # one IPv4 household, its own network


def test_mailboxes_are_bounded_in_number_and_bytes_and_expired_ones_make_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mailboxes_module, "MAX_MAILBOXES", 2)
    monkeypatch.setattr(mailboxes_module, "MAILBOX_TOTAL_BYTES", 100)
    now = [0.0]
    boxes = Mailboxes(clock=lambda: now[0])
    boxes.post("a" * 32, bytes(10), ttl=10, poster=ANYONE)
    boxes.post("b" * 32, bytes(10), ttl=100, poster=ANYONE)
    with pytest.raises(MailboxFull):
        boxes.post("c" * 32, bytes(10), ttl=10, poster=ANYONE)  # a third mailbox
    with pytest.raises(MailboxFull):
        boxes.post("b" * 32, bytes(81), ttl=10, poster=ANYONE)  # 101 bytes waiting in all
    now[0] = 10  # the first message expires, and its mailbox with it
    boxes.post("c" * 32, bytes(80), ttl=10, poster=ANYONE)
    assert len(boxes) == 2


def test_a_post_looks_only_at_the_mailboxes_whose_messages_are_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An old relay swept every mailbox at every post: filling 10,000 of them cost it
    quadratic time. Now a post expires only what is due, soonest first."""
    now = [0.0]
    boxes = Mailboxes(clock=lambda: now[0], address_budget=1 << 30, network_budget=1 << 30)
    for n in range(2000):
        boxes.post(f"{n:032x}", b"x", ttl=100 if n % 2 else 10, poster=ANYONE)
    looked: list[object] = []
    expire = Mailboxes._expire

    def counted(self: Mailboxes, box: Any) -> None:
        looked.append(box)
        expire(self, box)

    monkeypatch.setattr(Mailboxes, "_expire", counted)
    boxes.post("f" * 32, b"x", ttl=10, poster=ANYONE)
    assert looked == []  # nothing is due yet
    now[0] = 10
    boxes.post("e" * 32, b"x", ttl=10, poster=ANYONE)
    assert len(looked) == 1001  # the 1,000 due, and the one posted at 0 with a ttl of 10
    assert len(boxes) == 1001  # the 1,000 with a ttl of 100, and the one just posted


def test_a_message_expires_on_its_own_ttl_even_behind_a_longer_one() -> None:
    now = [0.0]
    boxes = Mailboxes(clock=lambda: now[0])
    boxes.post("a" * 32, b"long", ttl=100, poster=ANYONE)
    boxes.post("a" * 32, b"short", ttl=10, poster=ANYONE)
    now[0] = 10
    boxes.post("b" * 32, b"x", ttl=100, poster=ANYONE)
    assert boxes._spent[ANYONE.household] == 5 + 2 * MESSAGE_COST  # "long" and "x": "short" went


async def test_messages_taken_before_they_expire_leave_the_expiry_heap_small() -> None:
    boxes = Mailboxes()
    for n in range(5000):
        boxes.post(f"{n:032x}", b"x", ttl=600, poster=ANYONE)
        assert await boxes.take(f"{n:032x}", 0) == b"x"
    assert boxes.expiry_items <= 65  # rebuilt from what waits (nothing) as leftovers pile up


# --- claiming a pairing mailbox -----------------------------------------------------------------


async def test_a_claim_on_a_mailbox_holding_a_message_is_refused_and_changes_nothing(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    async with http.post(url, data=b"inviter's first", params={"claim": "1"}) as response:
        assert response.status == 204
    async with http.post(url, data=b"squatter", params={"claim": "1"}) as response:
        assert response.status == 409
        assert "\n" not in (await response.text()).strip()
    async with http.get(url) as response:
        assert await response.read() == b"inviter's first"
    async with http.get(url) as response:
        assert response.status == 404  # the refused message was not queued


async def test_a_claim_is_taken_past_a_waiting_reader_which_gets_no_message(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    waiting = asyncio.ensure_future(http.get(url, params={"wait": "5"}))
    await asyncio.sleep(0.2)
    async with http.post(url, data=b"claim", params={"claim": "1"}) as response:
        assert response.status == 204
    async with await waiting as response:
        assert response.status == 404  # it waited before the claim: not for this message
    async with http.get(url) as response:
        assert await response.read() == b"claim"


async def test_a_reader_waiting_gets_an_unclaimed_message_as_before(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    waiting = asyncio.ensure_future(http.get(url, params={"wait": "5"}))
    await asyncio.sleep(0.2)
    async with http.post(url, data=b"reply") as response:
        assert response.status == 204
    async with await waiting as response:
        assert await response.read() == b"reply"


async def test_a_claim_drops_what_was_posted_there_without_one(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    async with http.post(url, data=b"squatter") as response:
        assert response.status == 204
    async with http.post(url, data=b"inviter's first", params={"claim": "1"}) as response:
        assert response.status == 204
    async with http.get(url) as response:
        assert await response.read() == b"inviter's first"
    async with http.get(url) as response:
        assert response.status == 404


async def test_a_mailbox_may_be_claimed_again_once_nobody_uses_it(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    async with http.post(url, data=b"one", params={"claim": "1", "ttl": "0.2"}) as response:
        assert response.status == 204
    await asyncio.sleep(0.3)  # expired
    async with http.post(url, data=b"two", params={"claim": "1"}) as response:
        assert response.status == 204
    async with http.get(url) as response:
        assert await response.read() == b"two"
    async with http.post(url, data=b"three", params={"claim": "1"}) as response:
        assert response.status == 204  # taken: free again


async def test_without_a_claim_a_mailbox_in_use_still_queues(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    for body, claim, status in [(b"x", "1", 204), (b"y", None, 204), (b"z", "0", 204)]:
        params = {} if claim is None else {"claim": claim}
        async with http.post(url, data=body, params=params) as response:
            assert response.status == status
    async with http.post(url, data=b"w", params={"claim": "yes"}) as response:
        assert response.status == 400
    got = []
    for _ in range(4):
        async with http.get(url) as response:
            got.append(await response.read() if response.status == 200 else None)
    assert got == [b"x", b"y", b"z", None]


def test_a_claim_is_refused_before_any_limit_is_looked_at() -> None:
    boxes = Mailboxes()
    boxes.post("a" * 32, b"1", ttl=10, claim=True, poster=ANYONE)
    with pytest.raises(MailboxInUse):
        boxes.post("a" * 32, b"2", ttl=10, claim=True, poster=ANYONE)
    boxes.post("a" * 32, b"2", ttl=10, poster=ANYONE)
    assert len(boxes) == 1


# --- invitations --------------------------------------------------------------------------------


async def test_an_invitation_is_handed_out_once_and_its_id_stays_refused(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/invitation/{_box()}"
    async with http.post(url, data=b"sealed bundle") as response:
        assert response.status == 204
    async with http.post(url, data=b"substitute") as response:
        assert response.status == 409
    async with http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert await response.read() == b"sealed bundle"
    async with http.get(url) as response:
        assert response.status == 404
    async with http.post(url, data=b"substitute after the take") as response:
        assert response.status == 409
    async with http.get(url) as response:
        assert response.status == 404


async def test_two_takers_at_once_get_the_invitation_once(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/invitation/{_box()}"
    async with http.post(url, data=b"only once") as response:
        assert response.status == 204

    async def take() -> int:
        async with http.get(url) as response:
            return response.status

    assert sorted(await asyncio.gather(*(take() for _ in range(8)))) == [200] + [404] * 7


async def test_an_invitation_survives_a_relay_restart(
    start_relay: StartRelay, http: aiohttp.ClientSession
) -> None:
    first = await start_relay()
    box = _box()
    async with http.post(f"{first.url}/v1/invitation/{box}", data=b"for days") as response:
        assert response.status == 204
    await first.stop()
    second = await start_relay()
    async with http.get(f"{second.url}/v1/invitation/{box}") as response:
        assert (response.status, await response.read()) == (200, b"for days")


async def test_an_invitation_expires_after_its_ttl(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/invitation/{_box()}"
    async with http.post(url, data=b"soon gone", params={"ttl": "1"}) as response:
        assert response.status == 204
    await asyncio.sleep(1.1)
    async with http.get(url) as response:
        assert response.status == 404
    async with http.post(url, data=b"a new one") as response:
        assert response.status == 204  # expired: the id is free again


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status"),
    [
        ("POST", "not-hex", {}, b"x", 400),
        ("GET", "ABCDEF" * 5 + "AB", {}, b"", 400),
        ("GET", _box() + "00", {}, b"", 400),
        ("POST", _box(), {"ttl": "0"}, b"x", 400),
        ("POST", _box(), {"ttl": "0.5"}, b"x", 400),
        ("POST", _box(), {"ttl": str(INVITATION_MAX_TTL + 1)}, b"x", 400),
        ("POST", _box(), {"ttl": "nan"}, b"x", 400),
        ("POST", _box(), {"ttl": "-1"}, b"x", 400),
        ("POST", _box(), {}, b"", 400),
        ("POST", _box(), {}, bytes(INVITATION_MAX_BYTES + 1), 413),
        ("POST", _box(), {}, bytes(ESCROW_MAX_BODY + 1), 413),
        ("POST", _box(), {}, bytes(INVITATION_MAX_BYTES), 204),
        ("POST", _box(), {"ttl": str(INVITATION_MAX_TTL)}, b"x", 204),
        ("POST", _box(), {"ttl": "1"}, b"x", 204),
    ],
    ids=_case_ids,
)
async def test_invitation_ids_ttls_and_sizes_are_bounded(
    relay: RunningRelay,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    params: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    url = f"{relay.url}/v1/invitation/{path}"
    async with http.request(method, url, params=params, data=body or None) as response:
        assert response.status == status
        if status != 204:
            assert "\n" not in (await response.text()).strip()


async def test_the_invitation_cap_is_enforced_with_a_one_line_reason(
    start_relay: StartRelay, http: aiohttp.ClientSession
) -> None:
    relay = await start_relay(invitation_cap=2 * (100 + ROW_OVERHEAD))
    boxes = [_box() for _ in range(3)]
    for box in boxes[:2]:
        async with http.post(f"{relay.url}/v1/invitation/{box}", data=bytes(100)) as response:
            assert response.status == 204
    async with http.post(f"{relay.url}/v1/invitation/{boxes[2]}", data=b"x") as response:
        assert response.status == 507
        reason = (await response.text()).strip()
        assert reason and "\n" not in reason
    async with http.get(f"{relay.url}/v1/invitation/{boxes[2]}") as response:
        assert response.status == 404


# --- recovery escrows ---------------------------------------------------------------------------


@dataclass
class Person:
    """Someone with an identity record, as core/crypto/keys.py derives it from a root secret."""

    secrets: keys.PersonSecrets

    @classmethod
    def new(cls) -> Person:
        return cls(keys.PersonSecrets.from_root(keys.new_root()))

    @property
    def identity(self) -> bytes:
        return self.secrets.identity().encode()

    @property
    def locator(self) -> bytes:
        return escrow.locator_of(self.identity)

    def sign(self, blob: bytes, locator: bytes | None = None) -> bytes:
        message = escrow.signing_input(self.locator if locator is None else locator, blob)
        return keys.sign(self.secrets.identity_seed, message)

    def write(self, blob: bytes) -> bytes:
        """A PUT body for this person's own escrow."""
        return escrow_body(self.identity, blob, self.sign(blob))


def escrow_body(identity: object, blob: object, signature: object, **more: object) -> bytes:
    packed: bytes = msgpack.packb({"i": identity, "b": blob, "g": signature, **more})
    return packed


async def put_escrow(
    http: aiohttp.ClientSession, relay: RunningRelay, locator: bytes | str, body: bytes
) -> tuple[int, str]:
    path = locator if isinstance(locator, str) else locator.hex()
    async with http.put(f"{relay.url}/v1/recovery/{path}", data=body) as response:
        return response.status, await response.text()


async def get_escrow(
    http: aiohttp.ClientSession, relay: RunningRelay, locator: bytes
) -> bytes | None:
    async with http.get(f"{relay.url}/v1/recovery/{locator.hex()}") as response:
        if response.status == 404:
            return None
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        return await response.read()


@pytest.fixture
def relay_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def no_traceback(log: pytest.LogCaptureFixture) -> bool:
    return not any(r.exc_info for r in log.records) and "Traceback" not in log.text


async def test_an_escrow_is_stored_replaced_and_read_back_by_its_owner(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    alice = Person.new()
    assert await get_escrow(http, relay, alice.locator) is None
    assert (await put_escrow(http, relay, alice.locator, alice.write(b"v1")))[0] == 204
    assert await get_escrow(http, relay, alice.locator) == b"v1"
    blob = os.urandom(escrow.MAX_BLOB)  # the largest
    assert (await put_escrow(http, relay, alice.locator, alice.write(blob)))[0] == 204
    assert await get_escrow(http, relay, alice.locator) == blob


async def test_an_escrow_survives_a_relay_restart(
    start_relay: StartRelay, http: aiohttp.ClientSession
) -> None:
    alice = Person.new()
    first = await start_relay()
    assert (await put_escrow(http, first, alice.locator, alice.write(b"sealed")))[0] == 204
    await first.stop()
    assert await get_escrow(http, await start_relay(), alice.locator) == b"sealed"


def _forged_writes(alice: Person, mallory: Person, blob: bytes) -> dict[str, bytes]:
    """PUT bodies for Alice's locator that Alice's identity key did not sign for it."""
    flipped = bytearray(alice.sign(blob))
    flipped[10] ^= 1
    return {
        # Alice's identity record (the partner knows it), signed with Mallory's key.
        "signed by another identity key": escrow_body(
            alice.identity,
            blob,
            keys.sign(mallory.secrets.identity_seed, escrow.signing_input(alice.locator, blob)),
        ),
        # Mallory's own record and a valid signature by it, but for Alice's locator.
        "a locator not derived from the identity": escrow_body(
            mallory.identity, blob, mallory.sign(blob, alice.locator)
        ),
        "a forged signature": escrow_body(alice.identity, blob, bytes(flipped)),
        "a random signature": escrow_body(alice.identity, blob, os.urandom(64)),
        "a signature over another blob": escrow_body(alice.identity, blob, alice.sign(b"v1")),
        "a signature for another locator": escrow_body(
            alice.identity, blob, alice.sign(blob, mallory.locator)
        ),
        "a signature by the recovery key": escrow_body(
            alice.identity,
            blob,
            keys.sign(alice.secrets.recovery_seed, escrow.signing_input(alice.locator, blob)),
        ),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "signed by another identity key",
        "a locator not derived from the identity",
        "a forged signature",
        "a random signature",
        "a signature over another blob",
        "a signature for another locator",
        "a signature by the recovery key",
    ],
)
async def test_an_escrow_write_not_signed_by_its_identity_is_refused_and_changes_nothing(
    relay: RunningRelay, http: aiohttp.ClientSession, relay_log: pytest.LogCaptureFixture, kind: str
) -> None:
    alice, mallory = Person.new(), Person.new()
    assert (await put_escrow(http, relay, alice.locator, alice.write(b"v1")))[0] == 204
    status, reason = await put_escrow(
        http, relay, alice.locator, _forged_writes(alice, mallory, b"mallory's")[kind]
    )
    assert status == 403 and reason.strip() and "\n" not in reason.strip()
    assert await get_escrow(http, relay, alice.locator) == b"v1"
    assert no_traceback(relay_log)


async def test_an_identity_with_a_small_order_signing_key_cannot_write_its_escrow(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    # With such a key a signature can be forged without any secret: no write is accepted.
    identity = bytes(32) + Person.new().identity[32:]
    locator = escrow.locator_of(identity)
    for signature in (bytes(64), bytes(32) + bytes(31) + b"\x80", os.urandom(64)):
        status, _ = await put_escrow(http, relay, locator, escrow_body(identity, b"x", signature))
        assert status == 403
    assert await get_escrow(http, relay, locator) is None


async def test_a_signed_write_replayed_under_another_locator_is_refused(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    alice, bob = Person.new(), Person.new()
    assert (await put_escrow(http, relay, bob.locator, bob.write(b"bob's")))[0] == 204
    # Alice's genuine write, sent under Bob's locator instead of hers.
    assert (await put_escrow(http, relay, bob.locator, alice.write(b"alice's")))[0] == 403
    assert await get_escrow(http, relay, bob.locator) == b"bob's"
    assert await get_escrow(http, relay, alice.locator) is None


def _hostile_escrow_bodies(alice: Person) -> dict[str, tuple[bytes, int]]:
    i, b, g = alice.identity, b"blob", alice.sign(b"blob")
    big = os.urandom(escrow.MAX_BLOB + 1)
    return {
        "empty": (b"", 400),
        "not msgpack": (b"\xc1\xc1\xc1", 400),
        "text": (b"not msgpack at all", 400),
        "truncated": (escrow_body(i, b, g)[:-5], 400),
        "trailing bytes": (escrow_body(i, b, g) + b"\x00", 400),
        "an array": (msgpack.packb([i, b, g]), 400),
        "a bare bin": (msgpack.packb(b), 400),
        "an ext type": (escrow_body(i, msgpack.ExtType(5, b), g), 400),
        "an empty ext": (escrow_body(i, b, g)[:-1] + b"\xc7\x00\x05", 400),
        "a timestamp": (escrow_body(i, msgpack.Timestamp(1, 0), g), 400),
        "an extra key": (escrow_body(i, b, g, x=b""), 400),
        "a missing key": (msgpack.packb({"i": i, "b": b}), 400),
        "bin keys": (msgpack.packb({b"i": i, b"b": b, b"g": g}), 400),
        "int keys": (msgpack.packb({1: i, 2: b, 3: g}), 400),
        "a str blob": (escrow_body(i, "blob" * 10, g), 400),
        "an int identity": (escrow_body(7, b, g), 400),
        "a nil signature": (escrow_body(i, b, None), 400),
        "a list signature": (escrow_body(i, b, [g]), 400),
        "a nested map": (escrow_body(i, {"b": b}, g), 400),
        "deeply nested maps": (b"\x81\xa1i" * 20_000 + b"\xc0", 400),
        "an empty blob": (escrow_body(i, b"", alice.sign(b"")), 400),
        "an identity of 97 bytes": (escrow_body(i + b"\x00", b, g), 400),
        "an identity of 95 bytes": (escrow_body(i[:-1], b, g), 400),
        "a signature of 65 bytes": (escrow_body(i, b, g + b"\x00"), 400),
        "a blob over the size": (escrow_body(i, big, alice.sign(big)), 413),
        "a body over the size": (bytes(ESCROW_MAX_BODY + 1), 413),
        "a truncated huge bin": (b"\x83\xa1i\xc6\xff\xff\xff\xff", 400),
        "invalid utf-8 key": (b"\x83\xa1\xff" + escrow_body(i, b, g)[3:], 400),
    }


@pytest.mark.parametrize("kind", sorted(_hostile_escrow_bodies(Person.new())))
async def test_hostile_escrow_bodies_get_a_4xx_and_leave_no_traceback(
    relay: RunningRelay, http: aiohttp.ClientSession, relay_log: pytest.LogCaptureFixture, kind: str
) -> None:
    alice = Person.new()
    assert (await put_escrow(http, relay, alice.locator, alice.write(b"v1")))[0] == 204
    body, expected = _hostile_escrow_bodies(alice)[kind]
    status, reason = await put_escrow(http, relay, alice.locator, body)
    assert status == expected, reason
    assert reason.strip() and "\n" not in reason.strip()
    assert await get_escrow(http, relay, alice.locator) == b"v1"
    assert no_traceback(relay_log)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "not-hex", 400),
        ("PUT", "not-hex", 400),
        ("GET", "AB" * 16, 400),
        ("GET", "ab" * 17, 400),
        ("GET", "ab" * 16, 404),
        ("POST", "ab" * 16, 405),
    ],
)
async def test_locators_are_bounded(
    relay: RunningRelay, http: aiohttp.ClientSession, method: str, path: str, status: int
) -> None:
    data = Person.new().write(b"x") if method == "PUT" else None
    async with http.request(method, f"{relay.url}/v1/recovery/{path}", data=data) as response:
        assert response.status == status


async def test_the_escrow_cap_is_enforced_with_a_one_line_reason(
    start_relay: StartRelay, http: aiohttp.ClientSession
) -> None:
    relay = await start_relay(escrow_cap=2 * ROW_OVERHEAD + 200)
    alice, bob = Person.new(), Person.new()
    assert (await put_escrow(http, relay, alice.locator, alice.write(bytes(100))))[0] == 204
    assert (await put_escrow(http, relay, alice.locator, alice.write(bytes(150))))[0] == 204
    status, reason = await put_escrow(http, relay, bob.locator, bob.write(bytes(51)))
    assert status == 507 and reason.strip() and "\n" not in reason.strip()
    assert await get_escrow(http, relay, bob.locator) is None
    assert (await put_escrow(http, relay, bob.locator, bob.write(bytes(50))))[0] == 204


async def test_a_failing_store_answers_503_without_a_traceback_and_a_bug_shows_one(
    relay: RunningRelay,
    http: aiohttp.ClientSession,
    relay_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = Person.new()

    async def failing(store: SqliteRelayStore, *args: Any) -> None:
        raise StoreFailure("relay store: storing an escrow failed (disk I/O error)")

    monkeypatch.setattr(SqliteRelayStore, "put_escrow", failing)
    assert (await put_escrow(http, relay, alice.locator, alice.write(b"x")))[0] == 503
    assert no_traceback(relay_log)

    async def buggy(store: SqliteRelayStore, *args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(SqliteRelayStore, "put_escrow", buggy)
    assert (await put_escrow(http, relay, alice.locator, alice.write(b"x")))[0] == 500
    assert not no_traceback(relay_log)  # the check above would have seen one


NAME = "tend.relay"


async def test_the_relay_log_names_no_id_locator_body_or_address(
    relay: RunningRelay, http: aiohttp.ClientSession, relay_log: pytest.LogCaptureFixture
) -> None:
    alice, box, secret = Person.new(), _box(), os.urandom(12).hex().encode()
    for kind in ("mailbox", "invitation"):
        url = f"{relay.url}/v1/{kind}/{box}"
        async with http.post(url, data=secret, params={"claim": "1"}) as response:
            assert response.status == 204
        async with http.post(url, data=secret, params={"claim": "1"}) as response:
            assert response.status == 409
        async with http.get(url) as response:
            assert await response.read() == secret
    assert (await put_escrow(http, relay, alice.locator, alice.write(secret)))[0] == 204
    assert (await put_escrow(http, relay, alice.locator, Person.new().write(secret)))[0] == 403
    assert await get_escrow(http, relay, alice.locator) == secret
    events = [
        json.loads(r.getMessage())["event"] for r in relay_log.records if r.name == "tend.relay"
    ]
    assert {"mailbox.in_use", "invitation.in_use", "escrow.refused", "escrow.stored"} <= set(events)
    for needle in (box, alice.locator.hex(), secret.decode(), "127.0.0.1"):
        assert needle not in relay_log.text


# --- shutdown -----------------------------------------------------------------------------------


async def test_shutdown_sends_going_away_and_closes_websockets_with_1001(
    relay: RunningRelay, join: Join, connect: Connect
) -> None:
    member, newcomer = await live(join), await connect()
    stopping = asyncio.ensure_future(relay.stop())
    error = await member.receive()
    assert isinstance(error, Error) and error.code == ErrorCode.GOING_AWAY
    assert await member.closed() == aiohttp.WSCloseCode.GOING_AWAY
    error = await newcomer.receive()  # not yet welcomed, told all the same
    assert isinstance(error, Error) and error.code == ErrorCode.GOING_AWAY
    assert await newcomer.closed() == aiohttp.WSCloseCode.GOING_AWAY
    await asyncio.wait_for(stopping, TIMEOUT)


# --- which store ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "spec"),
    [
        (
            "postgresql://relay@db.internal/tend",
            PostgresSpec("postgresql://relay@db.internal/tend"),
        ),
        ("postgres://db.internal/tend", PostgresSpec("postgres://db.internal/tend")),
        ("relay.db", SqliteSpec(Path("relay.db"))),
        ("/var/lib/tend-relay/relay.db", SqliteSpec(Path("/var/lib/tend-relay/relay.db"))),
        ("postgresql.db", SqliteSpec(Path("postgresql.db"))),
    ],
)
def test_a_db_value_names_postgresql_by_its_url_and_anything_else_a_sqlite_path(
    value: str, spec: StoreSpec
) -> None:
    assert parse_store_spec(value) == spec


# --- the module's imports -----------------------------------------------------------------------

RELAY_MAY_LOAD = {
    "tend",
    "tend.core",
    "tend.core.errors",
    "tend.core.log",  # the wing's package: a docstring
    "tend.core.log.escrow",  # the locator and signature checks; holds no secret
    "tend.core.log.forgetting",  # a forget token's hash, compared; holds no secret
    "tend.core.log.header",
    "tend.core.log.identity",  # an identity record's public keys, for the escrow's check
    "tend.core.log.link_reply",  # which answer an invitation is, on an invite-only relay
    "tend.core.ids",
    "tend.core.log.authorship",  # verifies signatures with public keys; holds no secret
    "tend.core.log.rotation_record",
    "tend.core.log.store",
    "tend.sync",
    "tend.sync.batching",
    "tend.sync.protocol",
    "tend.sync.relay",
    "tend.sync.relay.accept_errors",
    "tend.sync.relay.admission",
    "tend.sync.relay.signed",
    "tend.sync.relay.tally",
    "tend.sync.relay.arriving",
    "tend.sync.relay.app",
    "tend.sync.relay.app_keys",
    "tend.sync.relay.config",
    "tend.sync.relay.early",
    "tend.sync.relay.fanout",
    "tend.sync.relay.first_frame",
    "tend.sync.relay.heap",
    "tend.sync.relay.limits",
    "tend.sync.relay.log_format",
    "tend.sync.relay.mailboxes",
    "tend.sync.relay.metrics",
    "tend.sync.relay.metrics_gate",
    "tend.sync.relay.pairing_routes",
    "tend.sync.relay.peer",
    "tend.sync.relay.peer_limits",
    "tend.sync.relay.queued",
    "tend.sync.relay.session",
    "tend.sync.relay.settings",
    "tend.sync.relay.store",
    "tend.sync.relay.store_spec",
    "tend.sync.relay.tls",
    "tend.sync.relay.vectors",
}


def test_the_relay_loads_no_key_envelope_entry_journal_or_automerge_code() -> None:
    # cryptography is loaded (by core/log/authorship.py, for Ed25519 verification); nothing
    # that seals or signs.
    script = (
        "import json, sys, tend.sync.relay.app\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('tend', 'automerge', 'nacl'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert set(json.loads(result.stdout)) == RELAY_MAY_LOAD


# --- the real process ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RelayProcess:
    """`tend relay serve` as a subprocess on a free port."""

    def __init__(self, db: Path) -> None:
        self.port = _free_port()
        self.db = db
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [tend_executable(), "relay", "serve", "--port", str(self.port), "--db", str(db)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=tend_env(),
        )

    async def ready(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                async with http.get(self.url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        raise AssertionError("the relay did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=TIMEOUT)


@pytest.fixture
def processes() -> Iterator[list[RelayProcess]]:
    started: list[RelayProcess] = []
    yield started
    for process in started:
        process.stop()


async def test_sigterm_shuts_the_relay_down_gracefully(
    tmp_path: Path, http: aiohttp.ClientSession, processes: list[RelayProcess]
) -> None:
    process = RelayProcess(tmp_path / "relay.db")
    processes.append(process)
    await process.ready(http)
    device = Device(await http.ws_connect(process.url + "/v1/sync"))
    space = new_space_id()
    assert isinstance(await device.hello(space, os.urandom(32)), Welcome)
    process.proc.send_signal(signal.SIGTERM)
    error = await device.receive()
    assert isinstance(error, Error) and error.code == ErrorCode.GOING_AWAY
    assert await device.closed() == aiohttp.WSCloseCode.GOING_AWAY
    out, err = process.proc.communicate(timeout=TIMEOUT)
    assert process.proc.returncode == 0, err
    assert out.decode().splitlines()[0] == (
        f"tend relay listening on http://127.0.0.1:{process.port} (db {process.db})"
    )
    events = [json.loads(line)["event"] for line in err.decode().splitlines()]
    assert events[0] == "relay.started" and events[-1] == "relay.stopped"


async def _push_until_cut_off(device: Device, logs: list[Log]) -> list[bytes]:
    """Push one entry at a time, round robin over the logs, until the relay is gone; return
    the acknowledged ones."""
    acked: list[bytes] = []
    for i in range(100_000):
        [entry] = logs[i % len(logs)].extend(1)
        request = device.next_id()
        try:
            await device.send(Push(request, (entry,)))
            msg = await device.ws.receive(timeout=TIMEOUT)
        except (aiohttp.ClientError, ConnectionError):
            break
        if msg.type is not WSMsgType.BINARY:
            break
        assert device.conn.receive(msg.data) == Ack(request, 1)
        acked.append(entry)
    return acked


async def test_a_relay_killed_at_a_random_moment_keeps_every_acknowledged_entry(
    tmp_path: Path, http: aiohttp.ClientSession, processes: list[RelayProcess]
) -> None:
    db = tmp_path / "relay.db"
    first = RelayProcess(db)
    processes.append(first)
    await first.ready(http)
    space, cap = new_space_id(), os.urandom(32)
    device = Device(await http.ws_connect(first.url + "/v1/sync"))
    assert isinstance(await device.hello(space, cap), Welcome)
    logs = [Log(space), Log(space)]

    delay = random.uniform(0.2, 1.5)
    asyncio.get_running_loop().call_later(delay, first.proc.send_signal, signal.SIGKILL)
    acked = await _push_until_cut_off(device, logs)
    assert first.proc.wait(timeout=TIMEOUT) == -signal.SIGKILL
    assert acked, f"nothing was acknowledged in {delay:.2f} s"

    second = RelayProcess(db)
    processes.append(second)
    await second.ready(http)
    reader = Device(await http.ws_connect(second.url + "/v1/sync"))
    assert isinstance(await reader.hello(space, cap, create=False), Welcome)
    stored = set(flat((await reader.pull())[0]))
    missing = [Header.decode(e).seq for e in acked if e not in stored]
    assert missing == [], f"killed after {delay:.2f} s; {len(acked)} acked"
