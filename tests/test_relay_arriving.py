"""Large messages on their way in: what a member sending them slowly, or never finishing them,
holds of the relay's memory (sync/relay/arriving.py).

Attacked as a member of an open relay would (anyone can create a space there): real websockets
on 127.0.0.1 to a real relay app, frames written by hand. A Welcomed device may send a message
of up to 4 MiB, which aiohttp gathers in memory until its last byte; sent all but a byte, on
each of 32 connections an address may hold, it held 128 MiB of the relay for as long as the
device liked. 127.0.0.2 is another address to the relay (Linux routes 127.0.0.0/8 to loopback).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType

from tend.core.domain.events import Gratitude
from tend.core.ids import SpaceId
from tend.core.journal import Journal
from tend.sync import client
from tend.sync.protocol import (
    MAX_ENTRY_BYTES,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSIONS,
    Ack,
    Connection,
    Error,
    ErrorCode,
    Hello,
    Push,
    Role,
    Welcome,
)
from tend.sync.relay.app_keys import ARRIVING
from tend.sync.relay.arriving import HOUSEHOLD_BYTES, SMALL_MESSAGE, Arriving
from tend.sync.relay.first_frame import TOO_MUCH_ARRIVING
from tests.relay_fixtures import Log
from tests.test_relay_bounds import Serve, _frame_header, _raw_websocket, _server_frame
from tests.test_relay_bounds import serve as serve  # the fixture: a relay app on 127.0.0.1

ADDRESS, OTHER = "127.0.0.1", "127.0.0.2"
TIMEOUT = 10.0
ALMOST_ALL = MAX_FRAME_BYTES - 64  # a message's declared bytes, all of them but one sent


async def _welcomed_raw(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A member's connection, Welcomed to a space of its own, its frames written by hand."""
    reader, writer = await _raw_websocket(url)
    conn = Connection(Role.DEVICE)
    hello = conn.send(Hello(PROTOCOL_VERSIONS, os.urandom(16), os.urandom(32), create=True))
    writer.write(_frame_header(len(hello)) + hello)
    opcode, payload = await asyncio.wait_for(_server_frame(reader), TIMEOUT)
    assert opcode == 0x2 and isinstance(conn.receive(payload), Welcome)
    return reader, writer


async def _send_all_but_a_byte(writer: asyncio.StreamWriter) -> None:
    writer.write(_frame_header(ALMOST_ALL) + bytes(ALMOST_ALL - 1))
    await writer.drain()


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(int(TIMEOUT / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the relay never got there")


async def _until_held(arriving: Arriving, owner: str, count: int) -> None:
    await _until(lambda: arriving.held_by(owner) == count)


async def _pushes_taken(url: str, count: int, *, local: str | None = None) -> list[object]:
    """`count` pushes of nearly 4 MiB each, one after another as the client sends them: the
    relay's answer to each."""
    space, capability = os.urandom(16), os.urandom(32)
    log = Log(SpaceId(space))
    conn = Connection(Role.DEVICE)
    connector = aiohttp.TCPConnector(local_addr=(local, 0) if local else None, force_close=True)
    answers: list[object] = []
    async with aiohttp.ClientSession(connector=connector) as http:
        ws = await http.ws_connect(f"{url}/v1/sync", max_msg_size=MAX_FRAME_BYTES)
        await ws.send_bytes(conn.send(Hello(PROTOCOL_VERSIONS, space, capability, create=True)))
        assert isinstance(conn.receive((await ws.receive(timeout=TIMEOUT)).data), Welcome)
        for request in range(1, count + 1):
            frame = conn.send(Push(request, tuple(log.extend(60, size=MAX_ENTRY_BYTES))))
            assert 3 << 20 < len(frame) <= MAX_FRAME_BYTES
            await ws.send_bytes(frame)
            message = await ws.receive(timeout=TIMEOUT)
            assert message.type is WSMsgType.BINARY, message
            answers.append(conn.receive(message.data))
        await ws.close()
    return answers


async def test_large_messages_never_finished_hold_at_most_the_households_budget(
    serve: Serve,
) -> None:
    """Five connections of one member each send all but a byte of a 4 MiB message. The relay
    counts four (16 MiB, the household's budget), tells the fifth it is busy before reading
    any of its message, and another household's push of the same size still goes through."""
    app, url = await serve()
    arriving = app[ARRIVING]
    held: list[asyncio.StreamWriter] = []
    try:
        for n in range(1, HOUSEHOLD_BYTES // ALMOST_ALL + 1):
            _reader, writer = await _welcomed_raw(url)
            held.append(writer)
            await _send_all_but_a_byte(writer)
            await _until_held(arriving, ADDRESS, n * ALMOST_ALL)
        reader, writer = await _welcomed_raw(url)
        held.append(writer)
        writer.write(_frame_header(ALMOST_ALL) + bytes(1000))
        opcode, payload = await asyncio.wait_for(_server_frame(reader), TIMEOUT)
        error = Connection(Role.DEVICE).receive(payload)
        assert opcode == 0x2 and isinstance(error, Error), error
        assert (error.code, error.message) == (ErrorCode.BUSY.value, TOO_MUCH_ARRIVING)
        opcode, payload = await asyncio.wait_for(_server_frame(reader), TIMEOUT)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1013
        assert arriving.held_by(ADDRESS) == 4 * ALMOST_ALL <= HOUSEHOLD_BYTES
        # Another household has its own budget: its push is taken whole and acknowledged.
        assert await _pushes_taken(url, 1, local=OTHER) == [Ack(1, 60)]
    finally:
        for writer in held:
            writer.close()
    await _until(lambda: arriving.total == 0)  # every connection gone: nothing counted


async def test_a_device_pushing_large_messages_one_after_another_is_never_refused(
    serve: Serve,
) -> None:
    """Each message is given back as the session takes it, so a device pushing a long backlog
    in nearly-4-MiB messages (six: more than its household's budget, all together) has every
    one acknowledged, and the relay counts nothing once it is done."""
    app, url = await serve()
    count = HOUSEHOLD_BYTES // ALMOST_ALL + 2
    assert await _pushes_taken(url, count) == [Ack(n, 60) for n in range(1, count + 1)]
    await _until(lambda: app[ARRIVING].total == 0)


async def test_a_connection_dropped_mid_message_gives_back_what_it_counted(serve: Serve) -> None:
    app, url = await serve()
    _reader, writer = await _welcomed_raw(url)
    await _send_all_but_a_byte(writer)
    await _until(lambda: app[ARRIVING].total == ALMOST_ALL)
    writer.transport.abort()
    await _until(lambda: app[ARRIVING].total == 0)


async def test_small_messages_are_taken_while_the_relays_budget_is_full(serve: Serve) -> None:
    """A crowd holding the relay's whole budget with large messages delays only other large
    ones: a device's small messages (live pushes, requests) are never counted, so still come."""
    app, url = await serve(arriving_bytes=ALMOST_ALL)
    _reader, writer = await _welcomed_raw(url)
    try:
        await _send_all_but_a_byte(writer)
        await _until(lambda: app[ARRIVING].total == ALMOST_ALL)
        space, capability = os.urandom(16), os.urandom(32)
        log, conn = Log(SpaceId(space)), Connection(Role.DEVICE)
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{url}/v1/sync")
            await ws.send_bytes(conn.send(Hello(PROTOCOL_VERSIONS, space, capability, True)))
            assert isinstance(conn.receive((await ws.receive(timeout=TIMEOUT)).data), Welcome)
            frame = conn.send(Push(1, tuple(log.extend(3))))
            assert len(frame) <= SMALL_MESSAGE
            await ws.send_bytes(frame)
            assert conn.receive((await ws.receive(timeout=TIMEOUT)).data) == Ack(1, 3)
            await ws.close()
    finally:
        with suppress(ConnectionError):
            writer.close()


async def test_a_device_told_the_relay_is_busy_keeps_everything_and_syncs_it_later(
    serve: Serve, tmp_path: Path
) -> None:
    """The library's sync, with a backlog bigger than a small message, through a relay whose
    budget a crowd holds: a clear "try again later" (RelayUnavailable, not a refusal for
    good), nothing lost; once the crowd is gone the same sync uploads all of it."""
    app, url = await serve(arriving_bytes=ALMOST_ALL)
    with Journal.create(tmp_path / "sam", "Sam") as sam:
        for n in range(300):
            sam.record(Gratitude(text=f"for the walk to the corner, day {n} " + "x" * 200))
        held = sam.store.count()
        _reader, writer = await _welcomed_raw(url)
        await _send_all_but_a_byte(writer)
        await _until(lambda: app[ARRIVING].total == ALMOST_ALL)
        with pytest.raises(client.RelayUnavailable) as caught:
            await client.sync_once(sam, url)
        assert (
            str(caught.value) == f"the relay is busy ({TOO_MUCH_ARRIVING}); everything is kept here"
        )
        assert sam.store.count() == held
        writer.close()
        await _until(lambda: app[ARRIVING].total == 0)
        report = await client.sync_once(sam, url)
        assert report.uploaded == held


def test_the_budgets_count_a_household_its_network_and_the_relay() -> None:
    arriving = Arriving(household=10, network=15, relay=20)
    assert arriving.take(("a/64", "a/48"), 10)
    assert not arriving.take(("a/64", "a/48"), 1)  # the household is full
    assert not arriving.take(("b/64", "a/48"), 6)  # the network would be past its 15
    assert arriving.take(("b/64", "a/48"), 5)
    assert not arriving.take(("c",), 6)  # the relay would be past its 20
    assert arriving.take(("c",), 5)
    assert (arriving.held_by("a/48"), arriving.total) == (15, 20)
    arriving.give_back(("a/64", "a/48"), 10)
    assert (arriving.held_by("a/64"), arriving.held_by("a/48"), arriving.total) == (0, 5, 10)


async def test_a_frame_begun_before_welcome_is_refused_so_the_walk_stays_in_step(
    serve: Serve,
) -> None:
    """A review sent its Hello and, in the same write, the header of a small frame. At Welcome
    the new reader started fresh while the walk of headers still stood inside that frame, so
    it read what followed as payload: 4 MiB messages then came in unseen by the budgets (one
    address held 135 MiB, counted as none). The relay now refuses a Welcome unless what came
    so far ends where a frame does."""
    app, url = await serve()
    reader, writer = await _raw_websocket(url)
    try:
        conn = Connection(Role.DEVICE)
        hello = conn.send(Hello(PROTOCOL_VERSIONS, os.urandom(16), os.urandom(32), create=True))
        writer.write(_frame_header(len(hello)) + hello + _frame_header(200))
        opcode, payload = await asyncio.wait_for(_server_frame(reader), TIMEOUT)
        error = Connection(Role.DEVICE).receive(payload)
        assert opcode == 0x2 and isinstance(error, Error), error
        assert error.code == ErrorCode.UNEXPECTED.value
        assert error.message == "a device sends nothing before welcome but hello"
    finally:
        writer.close()
    await _until(lambda: app[ARRIVING].total == 0)
