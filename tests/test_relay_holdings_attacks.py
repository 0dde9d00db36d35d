"""Members who never read, many at once: what the relay holds for them stays within a budget.

A review took a relay process from 57 to 633 MB from one address: a member stored 300 of the
largest entries once, then 31 connections each asked for a catch-up and read nothing. Each
session held a whole page (up to 256 entries of 64 KiB, 16 MiB) while it waited for its device
to take the frames before it; and 31 live members that read nothing took it to 438 MB as a
pusher sent them 15 MiB. Now a page ends at about FRAME_BYTES, and everything a session holds
for its device (outbox, page, live entries held back) counts toward its household and network
(sync/relay/queued.py): past the household's budget, its session whose device has waited
longest is cut off, and the others, of any household, are served.

The relay here is a real `tend relay serve` process; its memory is read from /proc.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import aiohttp

from tend.core.ids import new_space_id
from tend.core.log.header import MAX_ENTRY
from tend.sync.protocol import (
    PROTOCOL_VERSIONS,
    Ack,
    CaughtUp,
    Connection,
    Entries,
    Frame,
    Hello,
    Pull,
    Push,
    Role,
    Welcome,
)
from tend.sync.relay.queued import HOUSEHOLD_BYTES
from tests.conftest import Relay
from tests.relay_fixtures import Log
from tests.test_relay_member_attacks import Asker

TIMEOUT = 10.0
NON_READERS = 30  # with the pusher, within the 32 connections one address may hold
PUSHES, PER_PUSH = 5, 60  # 300 entries of 64 KiB: 19 MiB, stored once
BOUND_MIB = 4 * HOUSEHOLD_BYTES / (1 << 20)  # what the relay's memory may grow by, here


def _rss_mib(relay: Relay) -> float:
    assert relay.proc is not None
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{relay.proc.pid}/status").read_text())
    assert found
    return int(found.group(1)) / 1024


class Member:
    """A device that reads what it is sent, from an address of its own."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws, self.conn = http, ws, Connection(Role.DEVICE)

    @classmethod
    async def join(cls, url: str, space: bytes, cap: bytes, address: str) -> Member:
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        http = aiohttp.ClientSession(connector=connector)
        member = cls(http, await http.ws_connect(f"{url}/v1/sync", max_msg_size=0))
        await member.send(Hello(PROTOCOL_VERSIONS, space, cap, True))
        assert isinstance(await member.receive(), Welcome)
        return member

    async def send(self, frame: Frame) -> None:
        await self.ws.send_bytes(self.conn.send(frame))

    async def receive(self) -> Frame:
        message = await self.ws.receive(timeout=TIMEOUT)
        return self.conn.receive(message.data)

    async def catch_up(self) -> list[bytes]:
        await self.send(Pull({}))
        got: list[bytes] = []
        while not isinstance(frame := await self.receive(), CaughtUp):
            assert isinstance(frame, Entries), frame
            got.extend(frame.entries)
        return got

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


async def _store_the_largest(url: str, space: bytes, cap: bytes, log: Log) -> None:
    """A member of another household stores 300 of the largest entries."""
    pusher = await Member.join(url, space, cap, "127.0.0.2")
    try:
        for n in range(PUSHES):
            await pusher.send(Push(n + 1, tuple(log.extend(PER_PUSH, size=MAX_ENTRY))))
            assert await pusher.receive() == Ack(n + 1, PER_PUSH)
    finally:
        await pusher.close()


def _cut_off(relay: Relay) -> int:
    return relay.log.read_text().count('"event":"session.cut_off"')


async def test_catch_ups_nobody_reads_hold_at_most_the_households_budget(relay: Relay) -> None:
    space, cap = new_space_id(), os.urandom(32)
    log = Log(space)
    await _store_the_largest(relay.url, space, cap, log)
    before = _rss_mib(relay)
    askers = [await Asker.join(relay.url, space, cap) for _ in range(NON_READERS)]
    for asker in askers:
        asker.send(Pull({}))
    await asyncio.sleep(3)  # all that the relay would hold for them, it holds by now
    grown = _rss_mib(relay) - before
    print(f"relay memory grew by {grown:.1f} MiB for {NON_READERS} catch-ups nobody reads")
    assert grown < BOUND_MIB, grown  # 576 MiB before (about 60 now: what the budget holds, the
    # socket buffers of sessions not yet cut off, and what the allocator keeps after)
    assert _cut_off(relay) > 0
    honest = await Member.join(relay.url, space, cap, "127.0.0.3")  # another household
    assert await honest.catch_up() == log.entries  # served all along, every entry in order
    await honest.close()
    for asker in askers:
        asker.writer.close()


async def test_live_members_nobody_reads_hold_at_most_the_households_budget(
    relay: Relay,
) -> None:
    space, cap = new_space_id(), os.urandom(32)
    log = Log(space)
    askers = []
    for _ in range(NON_READERS):
        asker = await Asker.join(relay.url, space, cap, create=True)
        asker.send(Pull({}))
        assert isinstance(await asker.receive(), CaughtUp)  # live from here; reads no more
        askers.append(asker)
    watcher = await Member.join(relay.url, space, cap, "127.0.0.3")
    assert await watcher.catch_up() == []
    before = _rss_mib(relay)
    await _store_the_largest(relay.url, space, cap, log)
    live: list[bytes] = []
    while len(live) < len(log.entries):
        frame = await watcher.receive()
        assert isinstance(frame, Entries) and frame.live, frame
        live.extend(frame.entries)
    assert live == log.entries  # the reading member got everything, live
    await asyncio.sleep(1)
    grown = _rss_mib(relay) - before
    print(f"relay memory grew by {grown:.1f} MiB for {NON_READERS} live members nobody reads")
    assert grown < BOUND_MIB, grown  # 388 MiB before (about 20 now)
    assert _cut_off(relay) > 0
    await watcher.close()
    for asker in askers:
        asker.writer.close()
