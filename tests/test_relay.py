"""The relay end to end: the real aiohttp app on loopback, driven by protocol.Connection(DEVICE).

Every test starts its own relay (make_app on 127.0.0.1, an ephemeral port, a fresh SQLite file)
and talks to it over real websockets and HTTP. Entries are real v2 entries, sealed and signed by
their log's key (tests/relay_fixtures.py): the relay checks headers and signatures and opens
nothing. Several tests play the attacker: a member of the space (it holds the capability)
writing into another device's log, claiming a log id its key does not own, rotating without
being a current member, or repairing a log that is not its own. Junk an older relay let in is
written straight into the relay's SQLite file. The last tests run the installed `tend relay
serve` as a process: SIGTERM shuts it down gracefully, and SIGKILL at a random moment loses no
acknowledged entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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

from tend.core.header import GENESIS, MAX_ENTRY, Header
from tend.core.ids import SpaceId, new_space_id
from tend.sync import relay as relay_module
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
    Repair,
    Role,
    Rotate,
    State,
    Vector,
    Welcome,
    encode,
)
from tend.sync.relay import FRAME_BYTES, HUB, Mailboxes, MailboxFull, make_app
from tend.sync.relay_store import DEFAULT_QUOTA, SqliteRelayStore
from tend.tests.conftest import tend_env, tend_executable
from tend.tests.relay_fixtures import (
    ENTRY_SIZE,
    Log,
    capability_hash,
    claimed_first_entry,
    repair_signature,
    rotation,
)
from tend.tests.test_relay_store_contract import SqliteBackend

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

    async def start(quota: int = DEFAULT_QUOTA) -> RunningRelay:
        runner = web.AppRunner(make_app(tmp_path / "relay.db", quota=quota), access_log=None)
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

    async def push(self, entries: Sequence[bytes]) -> Frame:
        request = self.next_id()
        await self.send(Push(request, tuple(entries)))
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
    monkeypatch.setattr(relay_module, "MAX_BACKLOG_BYTES", 1 << 20)
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


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status"),
    [
        ("POST", "not-hex", {}, b"x", 400),
        ("GET", "ABCDEF" * 5 + "AB", {}, b"", 400),
        ("POST", _box(), {"ttl": "601"}, b"x", 400),
        ("POST", _box(), {"ttl": "soon"}, b"x", 400),
        ("GET", _box(), {"wait": "61"}, b"", 400),
        ("GET", _box(), {"wait": "nan"}, b"", 400),
        ("POST", _box(), {}, bytes(64 * 1024 + 1), 413),
    ],
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


async def test_a_mailbox_message_of_exactly_64_kib_is_accepted(
    relay: RunningRelay, http: aiohttp.ClientSession
) -> None:
    url = f"{relay.url}/v1/mailbox/{_box()}"
    async with http.post(url, data=bytes(64 * 1024)) as response:
        assert response.status == 204


def test_mailboxes_are_bounded_in_number_and_bytes_and_expired_ones_make_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_module, "MAX_MAILBOXES", 2)
    monkeypatch.setattr(relay_module, "MAILBOX_TOTAL_BYTES", 100)
    now = [0.0]
    boxes = Mailboxes(clock=lambda: now[0])
    boxes.post("a" * 32, bytes(10), ttl=10)
    boxes.post("b" * 32, bytes(10), ttl=100)
    with pytest.raises(MailboxFull):
        boxes.post("c" * 32, bytes(10), ttl=10)  # a third mailbox
    with pytest.raises(MailboxFull):
        boxes.post("b" * 32, bytes(81), ttl=10)  # 101 bytes waiting in all
    now[0] = 10  # the first message expires, and its mailbox with it
    boxes.post("c" * 32, bytes(80), ttl=10)
    assert len(boxes) == 2


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


# --- the module's imports -----------------------------------------------------------------------

RELAY_MAY_LOAD = {
    "tend",
    "tend.core",
    "tend.core.errors",
    "tend.core.header",
    "tend.core.ids",
    "tend.core.logsig",  # verifies signatures with public keys; holds no secret
    "tend.core.rotation_record",
    "tend.core.store",
    "tend.sync",
    "tend.sync.protocol",
    "tend.sync.relay",
    "tend.sync.relay_store",
}


def test_the_relay_loads_no_key_envelope_entry_journal_or_automerge_code() -> None:
    # cryptography is loaded (by logsig, for Ed25519 verification); nothing that seals or signs.
    script = (
        "import json, sys, tend.sync.relay\n"
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
