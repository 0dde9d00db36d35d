"""Attacks on the relay's forwarding while committing (relay/early.py).

A modified client, speaking the protocol directly as a member of the space, tries to get the
relay to send another device, before the commit, something the store then refuses; to make a
live device miss or get twice an entry the relay stores; to hold a FetchKeys forever; or to
keep the relay's early-forwarding state after every session of its space has gone. The store's
`put` (and `rotate`) is held closed where timing matters, so what a device receives meanwhile
is exactly what went out before the commit.

Four of these broke a claim when they were written; the comment above each says how, and
relay/early.py's theory of operation says what keeps it from happening now.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tend.core.ids import SpaceId
from tend.sync.protocol import (
    KEY_RECORD_BYTES,
    Ack,
    CaughtUp,
    Entries,
    Error,
    ErrorCode,
    FetchKeys,
    Keys,
    Pull,
    Push,
    Rotate,
    Welcome,
    position,
)
from tend.sync.relay.app_keys import HUB
from tend.sync.relay.early import MAX_LOGS_CHECKED
from tend.sync.relay.store import SqliteRelayStore, StoreFailure
from tests.relay_fixtures import ENTRY_SIZE, Log, capability_hash, rotation
from tests.test_relay import (
    TIMEOUT,
    Connect,
    Device,
    Gate,
    Join,
    RunningRelay,
    StartRelay,
    _answer,
    _live_entries,
    _nothing_arrives,
    _push,
    cap,
    connect,
    flat,
    http,
    join,
    live,
    relay,
    space,
    start_relay,
)

__all__ = ["cap", "connect", "http", "join", "relay", "space", "start_relay"]  # fixtures


class Held:
    """Holds every call of a store method until opened, counting the calls that arrived."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.arrived = self.returned = 0
        self.opened = asyncio.Event()
        original = getattr(SqliteRelayStore, name)

        async def held(store: SqliteRelayStore, *args: Any) -> Any:
            self.arrived += 1
            await self.opened.wait()
            try:
                return await original(store, *args)
            finally:
                self.returned += 1

        monkeypatch.setattr(SqliteRelayStore, name, held)

    async def wait_arrived(self, count: int) -> None:
        await _until(lambda: self.arrived >= count)

    async def wait_returned(self, count: int) -> None:
        await _until(lambda: self.returned >= count)


async def _until(condition: Callable[[], bool]) -> None:
    async def polled() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(polled(), TIMEOUT)


async def _frames_meanwhile(device: Device, within: float = 0.3) -> list[Entries]:
    """Every Entries frame the device gets until nothing more comes for `within` seconds."""
    got: list[Entries] = []
    while True:
        try:
            msg = await device.ws.receive(timeout=within)
        except TimeoutError:
            return got
        frame = device.conn.receive(msg.data)
        assert isinstance(frame, Entries), frame
        got.append(frame)


async def _stored(join: Join) -> list[bytes]:
    """What the relay holds for the space, as a fresh device's catch-up reads it."""
    batches, _caught_up = await (await join()).pull()
    return flat(batches)


def _same_log(log: Log, upto: int) -> Log:
    """Another chain of the same log key (the log's owner can sign both): a fork from `upto`."""
    return Log(log.space, seed=log.seed, space_key=log.space_key, entries=log.entries[:upto])


# --- claim 2: no entry lost to a live device -----------------------------------------------------


# Broke before the fix (early.py): a device that catches up while an early push commits never gets
# it live: its catch-up reads the store before the commit, and the commit's own forwarding leaves
# out everything that went out early (Session._on_push: `raw not in early.sent`), though this
# device was not among those it went to; it gets the next entry of that log, a gap
@pytest.mark.parametrize("when", ["welcomed during the commit", "welcomed before, pulls during"])
async def test_a_device_catching_up_while_an_early_push_commits_gets_it_live(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    pusher, watcher, log = await join(), await live(join), Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)  # the log is checkable here now
    assert await _live_entries(watcher) == (log.entries[0],)
    late = await join() if when.startswith("welcomed before") else None

    held = Gate(monkeypatch, "put")
    await pusher.send(push := _push(pusher, log.extend(1)))
    await held.wait_reached()
    assert await _live_entries(watcher) == (log.entries[1],)  # out early
    late = late or await join()
    batches, caught_up = await late.pull()  # the store does not hold seq 2 yet
    assert (flat(batches), caught_up) == ([log.entries[0]], CaughtUp({log.log: 1}))
    held.opened.set()
    assert await _answer(pusher) == Ack(push.id, 1)

    assert await pusher.push(log.extend(1)) == Ack(3, 1)
    assert await _live_entries(watcher) == (log.entries[2],)
    # Stored and acknowledged, so every live device of the space gets it, in order.
    assert await _live_entries(late) == (log.entries[1],)


# Broke before the fix (early.py): two connections of one log key are each checked against the
# same committed head, so a fork of the owner's own next seq goes out early from one while the
# other's commits: the watcher gets seq 3 of a chain the store refuses (it does not link to the
# seq 2 it holds), and later misses the stored seq 3, which its vector says it has
async def test_two_connections_of_one_log_cannot_get_a_fork_out_early(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, watcher, log = await join(), await join(), await live(join), Log(space)
    assert await first.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    other = _same_log(log, 1)  # seq 2 and 3 of another chain, signed by the owner too

    held = Held(monkeypatch, "put")
    await first.send(_push(first, other.extend(1)))  # committed first: the store keeps it
    await held.wait_arrived(1)
    await second.send(_push(second, log.extend(2)))  # then refused as a fork
    await held.wait_arrived(2)
    received = flat(await _frames_meanwhile(watcher))
    held.opened.set()
    assert isinstance(await _answer(first), Ack)
    refused = await _answer(second)
    assert isinstance(refused, Error) and refused.code == ErrorCode.FORK

    stored = await _stored(join)
    assert stored == [log.entries[0], other.entries[1]]
    assert [raw for raw in received if raw not in stored] == []


async def test_a_fork_cannot_go_out_early_behind_a_push_of_its_log_that_could_not(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first push of the log touches too many logs to go out early, and is committed first;
    a fork of the same seq from the owner's second connection, checked against the head before
    that commit, must not go out early: the log is busy with a push being committed."""
    first, second, watcher, log = await join(), await join(), await live(join), Log(space)
    more = [Log(space) for _ in range(MAX_LOGS_CHECKED)]
    assert await first.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    other = _same_log(log, 1)

    held = Held(monkeypatch, "put")
    wide = other.extend(1) + [e for extra in more for e in extra.extend(1)]
    await first.send(_push(first, wide))  # not early (too many logs); committed first
    await held.wait_arrived(1)
    await second.send(_push(second, log.extend(1)))  # seq 2 of the other chain: a fork
    await held.wait_arrived(2)
    received = flat(await _frames_meanwhile(watcher))
    held.opened.set()
    assert isinstance(await _answer(first), Ack)
    refused = await _answer(second)
    assert isinstance(refused, Error) and refused.code == ErrorCode.FORK
    assert received == []  # nothing went before the commit
    assert sorted(flat(await _frames_meanwhile(watcher))) == sorted(wide)


# Broke before the fix (early.py): a member can make the partner's device take an entry the relay
# never holds and then miss the one it does: push seq 2 and 3 so that seq 3 is over the space's
# quota (out early, then refused), then push another seq 2 and 3; the live device's vector already
# covers them, so it gets neither, only seq 4, which links to nothing it has
async def test_a_refused_early_push_does_not_hide_what_is_then_stored_at_its_seqs(
    start_relay: StartRelay, http: aiohttp.ClientSession, space: SpaceId, cap: bytes
) -> None:
    relay = await start_relay(quota=6 * ENTRY_SIZE)

    async def welcomed() -> Device:
        device = Device(await http.ws_connect(relay.url + "/v1/sync"))
        assert isinstance(await device.hello(space, cap), Welcome)
        return device

    member, watcher, log = await welcomed(), await welcomed(), Log(space)
    await watcher.pull()
    assert await member.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    honest = _same_log(log, 1)
    refused = [*log.extend(1), *log.extend(1, size=6 * ENTRY_SIZE)]
    assert isinstance(error := await member.push(refused), Error)
    assert error.code == ErrorCode.QUOTA
    assert await _live_entries(watcher) == tuple(refused)  # documented: out early, refused

    for request, entry in enumerate(honest.extend(3), start=3):
        assert await member.push([entry]) == Ack(request, 1)
    # What the relay holds of seq 2 on: the device holds another seq 2 and 3, so it must be
    # sent these (and see the fork itself), not only seq 4.
    assert await _live_entries(watcher) == (honest.entries[1],)


# --- claim 1: nothing the store refuses goes out before its commit ------------------------------


# Broke before the fix (early.py): the states are dropped only once a rotation has committed:
# while it commits, a push of a log it removes is checked against the log as not removed and goes
# out early (to the rotator, the one session the rotation keeps), and the store then refuses it
# (removed)
async def test_a_push_of_a_log_a_committing_rotation_removes_reaches_nobody(
    join: Join, connect: Connect, space: SpaceId, cap: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotator, log = await join(), Log(space)
    assert await rotator.push(log.extend(1)) == Ack(1, 1)
    await rotator.pull()
    leaving, gone = await join(), Log(space)
    assert await leaving.push(gone.extend(1)) == Ack(1, 1)
    assert await _live_entries(rotator) == (gone.entries[0],)

    new_cap = os.urandom(32)
    signed = rotation(log, capability_hash(cap), capability_hash(new_cap), removed=[gone.log])
    rotating, putting = Held(monkeypatch, "rotate"), Held(monkeypatch, "put")
    await rotator.send(Rotate(rotator.next_id(), *signed))
    await rotating.wait_arrived(1)
    await leaving.send(_push(leaving, gone.extend(1)))
    await putting.wait_arrived(1)
    received = flat(await _frames_meanwhile(rotator))
    rotating.opened.set()  # the rotation commits first, then the push: refused (removed)
    assert await _answer(rotator) == Ack(2, 0)
    putting.opened.set()
    assert isinstance(await leaving.receive(), Error)  # closed by the rotation
    await putting.wait_returned(1)

    fresh = await connect()
    assert isinstance(await fresh.hello(space, new_cap, create=False), Welcome)
    _batches, caught_up = await fresh.pull()
    assert caught_up.heads == {log.log: 1, gone.log: 1}  # the store refused seq 2
    assert received == []


async def test_entries_naming_another_space_junk_a_fork_or_a_broken_link_wait_for_the_store(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    member, watcher, log = await join(), await live(join), Log(space)
    assert await member.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    other_space = SpaceId(os.urandom(16))
    prev = log.next_prev()
    attempts: list[list[bytes]] = [
        # Seq 2 of this log, linked and signed right, but naming another space.
        [log.entry(2, prev, space=other_space)],
        # A right seq 2 beside bytes that are no entry (a key record's size is the protocol's:
        # a wrong one never reaches the relay's checks).
        [log.entry(2, prev), os.urandom(300)],
        # A right seq 2 beside a fork of seq 1 (at or below the head: a read the relay skips).
        [log.fork(1), log.entry(2, prev)],
        # A right seq 2, then seq 3 of a chain that does not link to it.
        [log.entry(2, prev), log.entry(3, prev)],
    ]
    held = Gate(monkeypatch, "put")
    for entries in attempts:
        held.opened.clear()
        await member.send(push := _push(member, entries))
        await held.wait_reached()
        await _nothing_arrives(watcher)
        held.opened.set()
        answer = await _answer(member)
        assert isinstance(answer, Error) and answer.id == push.id, answer
        await _nothing_arrives(watcher, 0.05)
    assert isinstance(await member.push(log.extend(1)), Ack)
    assert await _live_entries(watcher) == (log.entries[1],)


# --- claim 2: a SYNCING device, concurrent pushes -------------------------------------------------


async def test_a_catching_up_device_holds_an_early_push_and_gets_it_once_after_caught_up(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    pusher, log = await join(), Log(space)
    watcher = await live(join)  # so the log is checkable: one commit with a session here
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    syncing = await join()
    reading, putting = Gate(monkeypatch, "since"), Gate(monkeypatch, "put")
    await syncing.send(Pull({}))
    await reading.wait_reached()
    await pusher.send(push := _push(pusher, log.extend(1)))  # out early: held while SYNCING
    await putting.wait_reached()
    assert await _live_entries(watcher) == (log.entries[1],)
    reading.opened.set()
    assert await syncing.receive() == Entries((log.entries[0],), live=False)
    assert await syncing.receive() == CaughtUp({log.log: 1})
    assert await syncing.receive() == Entries((log.entries[1],), live=True)
    putting.opened.set()
    assert await _answer(pusher) == Ack(push.id, 1)
    await _nothing_arrives(syncing, 0.1)  # not a second time once committed
    assert await pusher.push(log.extend(1)) == Ack(3, 1)
    assert await syncing.receive() == Entries((log.entries[2],), live=True)
    assert await _live_entries(watcher) == (log.entries[2],)


async def test_concurrent_early_pushes_of_two_devices_reach_a_device_once_each_in_order(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, watcher = await join(), await join(), await live(join)
    a, b = Log(space), Log(space)
    assert await alice.push(a.extend(1)) == Ack(1, 1)
    assert await bob.push(b.extend(1)) == Ack(1, 1)
    assert flat(await _frames_meanwhile(watcher, 0.1)) == [a.entries[0], b.entries[0]]
    held = Held(monkeypatch, "put")
    await alice.send(_push(alice, a.extend(2)))
    await held.wait_arrived(1)
    await bob.send(_push(bob, b.extend(1)))
    await held.wait_arrived(2)
    assert flat(await _frames_meanwhile(watcher, 0.1)) == [*a.entries[1:], b.entries[1]]
    held.opened.set()
    assert await _answer(alice) == Ack(2, 2)
    assert await _answer(bob) == Ack(2, 1)
    # The commits send nothing more; the next pushes go out once each, each log in order.
    assert await alice.push(a.extend(1)) == Ack(3, 1)
    assert await bob.push(b.extend(1)) == Ack(3, 1)
    assert flat(await _frames_meanwhile(watcher, 0.1)) == [a.entries[3], b.entries[2]]


# --- claim 3: after a refusal, nothing early until a commit -------------------------------------


async def test_after_a_refused_commit_no_log_of_the_space_goes_out_early_until_one_commits(
    start_relay: StartRelay,
    http: aiohttp.ClientSession,
    space: SpaceId,
    cap: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = await start_relay(quota=5 * ENTRY_SIZE)

    async def welcomed() -> Device:
        device = Device(await http.ws_connect(relay.url + "/v1/sync"))
        assert isinstance(await device.hello(space, cap), Welcome)
        return device

    alice, bob, watcher = await welcomed(), await welcomed(), await welcomed()
    await watcher.pull()
    a, b = Log(space), Log(space)
    assert await alice.push(a.extend(1)) == Ack(1, 1)
    assert await bob.push(b.extend(1)) == Ack(1, 1)
    assert flat(await _frames_meanwhile(watcher, 0.1)) == [a.entries[0], b.entries[0]]
    assert isinstance(error := await alice.push(a.extend(4)), Error)  # over the quota
    assert error.code == ErrorCode.QUOTA
    assert flat(await _frames_meanwhile(watcher, 0.1)) == a.entries[1:]  # documented

    held = Gate(monkeypatch, "put")
    await bob.send(push := _push(bob, b.extend(1)))  # another log, checkable before
    await held.wait_reached()
    await _nothing_arrives(watcher)  # not early: the refusal dropped the whole space
    held.opened.set()
    assert await _answer(bob) == Ack(push.id, 1)
    assert await _live_entries(watcher) == (b.entries[1],)  # after its commit
    held.opened.clear()
    await bob.send(push := _push(bob, b.extend(1)))  # one committed: early again
    assert await _live_entries(watcher) == (b.entries[2],)
    await _nothing_arrives(bob, 0.1)  # its Ack still waits for the commit
    held.opened.set()
    assert await _answer(bob) == Ack(push.id, 1)


# --- claims 4 and 5: FetchKeys, settling, memory ------------------------------------------------


async def test_fetch_keys_for_an_early_entry_is_answered_once_its_commit_is_done(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    pusher, watcher, log = await join(), await live(join), Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    record = os.urandom(KEY_RECORD_BYTES)
    held = Gate(monkeypatch, "put")
    await pusher.send(push := Push(pusher.next_id(), tuple(log.extend(1)), (record,)))
    await held.wait_reached()
    assert await watcher.receive() == Entries((log.entries[1],), live=True, keys=(record,))
    at = position(log.log, 2)
    await watcher.send(FetchKeys(7, (at,)))
    await _nothing_arrives(watcher)  # not before the record is there to read
    held.opened.set()
    assert await _answer(pusher) == Ack(push.id, 1)
    assert await watcher.receive() == Keys(7, (at + record,))


async def test_a_failed_commit_settles_so_fetch_keys_is_answered_and_nothing_is_kept(
    relay: RunningRelay, join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = relay.runner.app[HUB]
    pusher, watcher, log = await join(), await live(join), Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    assert space in hub._early._spaces
    opened = asyncio.Event()

    async def failing(store: SqliteRelayStore, *args: Any) -> Any:
        await opened.wait()
        raise StoreFailure("relay store: disk I/O error")

    monkeypatch.setattr(SqliteRelayStore, "put", failing)
    record = os.urandom(KEY_RECORD_BYTES)
    await pusher.send(Push(pusher.next_id(), tuple(log.extend(1)), (record,)))
    assert await watcher.receive() == Entries((log.entries[1],), live=True, keys=(record,))
    assert hub._early._unsettled.get(space)
    at = position(log.log, 2)
    await watcher.send(FetchKeys(7, (at,)))
    await _nothing_arrives(watcher, 0.1)
    opened.set()
    error = await pusher.receive()
    assert isinstance(error, Error) and error.code == ErrorCode.INTERNAL and error.fatal
    assert await watcher.receive() == Keys(7, ())  # answered: nothing left to wait for
    assert hub._early._unsettled == {}
    assert space not in hub._early._spaces


async def test_the_early_states_of_a_space_go_when_its_last_session_does(
    relay: RunningRelay, join: Join, space: SpaceId
) -> None:
    hub = relay.runner.app[HUB]
    pusher, watcher, log = await join(), await live(join), Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    assert set(hub._early._spaces[space]) == {log.log}
    await pusher.ws.close()
    await asyncio.sleep(0.05)
    assert space in hub._early._spaces  # the watcher is still here
    await watcher.ws.close()

    async def gone() -> None:
        while hub.sessions:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(gone(), TIMEOUT)
    assert space not in hub._early._spaces
    assert hub._early._unsettled == {}
