"""More attacks on the relay's forwarding while committing (relay/early.py), after the fixes.

As in tests/test_relay_early_attacks.py, a member of the space speaks the protocol directly and
the store's `put` (or `heads`, `repair`) is held closed where timing matters. Three of these
broke a claim when they were written; the comment above each says how.
"""

from __future__ import annotations

import asyncio
import os

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
    position,
)
from tend.sync.relay.app_keys import HUB
from tend.sync.relay.early import MAX_LOGS_KEPT
from tests.relay_fixtures import ENTRY_SIZE, Log
from tests.test_relay import (
    TIMEOUT,
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
from tests.test_relay_early_attacks import Held, _frames_meanwhile, _same_log, _stored

__all__ = ["cap", "connect", "http", "join", "relay", "space", "start_relay"]  # fixtures


async def _welcomed_to(
    relay: RunningRelay, http: aiohttp.ClientSession, space: SpaceId, cap: bytes
) -> Device:
    device = Device(await http.ws_connect(relay.url + "/v1/sync"))
    frame = await device.hello(space, cap)
    assert not isinstance(frame, Error), frame
    return device


# --- a push of the log in flight that did not go out early --------------------------------------
# The "busy log" rule counts only pushes that went out early. A push of the same log that waits
# for its commit (here: it re-sends seq 1, so it is not checkable) is not counted, so while it
# commits, a fork of its next seq is checked against the head before it and goes out early.


async def _fork_behind_a_late_push(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> tuple[Device, Device, Device, Log, Log, list[bytes]]:
    first, second, watcher, log = await join(), await join(), await live(join), Log(space)
    assert await first.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    other = _same_log(log, 1)  # another seq 2 on, signed by the owner too

    held = Held(monkeypatch, "put")
    # A re-send of seq 1 with the new seq 2: not checkable here, waits for its commit.
    await first.send(_push(first, [log.entries[0], *other.extend(1)]))
    await held.wait_arrived(1)
    await second.send(_push(second, log.extend(2)))  # checked against head 1: goes out early
    await held.wait_arrived(2)
    received = flat(await _frames_meanwhile(watcher))
    held.opened.set()
    assert await _answer(first) == Ack(2, 2)
    refused = await _answer(second)
    assert isinstance(refused, Error) and refused.code == ErrorCode.FORK
    return first, second, watcher, log, other, received


# Broke before the fix (early.py): a push of a log that waits for its commit does not make the log
# busy: a fork of its next seq from another connection of the log is checked against the older
# head and goes out early, and the store then refuses it (fork)
async def test_a_fork_cannot_go_out_early_while_a_push_of_its_log_that_waits_commits(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    _first, _second, _watcher, _log, _other, received = await _fork_behind_a_late_push(
        join, space, monkeypatch
    )
    stored = await _stored(join)
    assert [raw for raw in received if raw not in stored] == []


# Broke before the fix (early.py): the commit of the push that waited forwards the stored seq 2
# while the live device's vector covers the early fork's seqs, so it drops it; the refusal's
# rewind comes after, and nothing re-sends seq 2: the device gets seq 3 of the stored chain with a
# gap before it
async def test_what_a_late_push_stores_under_a_refused_early_fork_reaches_a_live_device(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _second, watcher, _log, other, received = await _fork_behind_a_late_push(
        join, space, monkeypatch
    )
    received += flat(await _frames_meanwhile(watcher, 0.1))
    assert await first.push(other.extend(1)) == Ack(3, 1)
    received += flat(await _frames_meanwhile(watcher, 0.1))
    # What the relay holds reaches the live device, each entry after its predecessor.
    assert other.entries[1] in received
    assert received.index(other.entries[1]) < received.index(other.entries[2])


# --- a refused early push while the device catches up -------------------------------------------


# Broke before the fix (early.py): Hub.unsent rewinds the vector of a device that is catching up,
# but the refused entries stay in its held list: once caught up they go out first, move the vector
# past their seqs, and the entries then stored at those seqs (held after them) are dropped; the
# device gets seq 4 of the stored chain and never its seq 2 or 3
async def test_a_refused_early_push_held_during_a_catch_up_does_not_hide_what_is_then_stored(
    start_relay: StartRelay,
    http: aiohttp.ClientSession,
    space: SpaceId,
    cap: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = await start_relay(quota=6 * ENTRY_SIZE)
    member = await _welcomed_to(relay, http, space, cap)
    watcher = await _welcomed_to(relay, http, space, cap)
    log = Log(space)
    assert await member.push(log.extend(1)) == Ack(1, 1)  # checkable here from now on
    honest = _same_log(log, 1)

    finishing = Gate(monkeypatch, "heads")  # the catch-up has read the store, not caught up
    await watcher.send(Pull({}))
    await finishing.wait_reached()
    refused = [*log.extend(1), *log.extend(1, size=6 * ENTRY_SIZE)]
    assert isinstance(error := await member.push(refused), Error)  # out early, held, refused
    assert error.code == ErrorCode.QUOTA
    for request, entry in enumerate(honest.extend(3), start=3):
        assert await member.push([entry]) == Ack(request, 1)
    finishing.opened.set()

    assert await watcher.receive() == Entries((log.entries[0],), live=False)
    assert isinstance(await watcher.receive(), CaughtUp)  # heads read after the pushes
    got = flat(await _frames_meanwhile(watcher))
    # The device holds no chain the relay does not send it: what it holds from seq 2 on is.
    assert [raw for raw in honest.entries[1:] if raw not in got] == []


# --- claims that hold ----------------------------------------------------------------------------


async def test_a_pusher_gone_mid_commit_settles_its_early_push_and_its_entries_go_once(
    relay: RunningRelay, join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = relay.runner.app[HUB]
    pusher, watcher, log = await join(), await live(join), Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    record = os.urandom(KEY_RECORD_BYTES)
    held = Held(monkeypatch, "put")
    await pusher.send(Push(pusher.next_id(), tuple(log.extend(1)), (record,)))
    await held.wait_arrived(1)
    assert await watcher.receive() == Entries((log.entries[1],), live=True, keys=(record,))
    # The device goes while its push commits (its close is answered once the relay reads it).
    closing = asyncio.create_task(pusher.ws.close())
    await asyncio.sleep(0.05)
    at = position(log.log, 2)
    await watcher.send(FetchKeys(7, (at,)))
    await _nothing_arrives(watcher, 0.1)
    held.opened.set()
    assert await watcher.receive() == Keys(7, (at + record,))
    await held.wait_returned(1)
    await closing

    async def settled() -> None:
        while hub._early._unsettled or len(hub.sessions) > 1:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(settled(), TIMEOUT)
    assert not hub._early._unsettled  # no log of the space left busy
    again = await join()
    assert await again.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[2],)  # once, in order
    await _nothing_arrives(watcher, 0.1)


async def test_nothing_goes_out_early_while_a_repair_commits_nor_after_it_is_refused(
    join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, pusher, watcher = await join(), await join(), await live(join)
    mine, theirs = Log(space), Log(space)
    assert await owner.push(mine.extend(2)) == Ack(1, 2)
    assert await pusher.push(theirs.extend(1)) == Ack(1, 1)
    assert len(flat(await _frames_meanwhile(watcher, 0.1))) == 3
    repairing, putting = Held(monkeypatch, "repair"), Gate(monkeypatch, "put")
    await owner.send(mine.repair(owner.next_id(), 2))  # honest entries: refused (fork)
    await repairing.wait_arrived(1)
    await pusher.send(push := _push(pusher, theirs.extend(1)))
    await putting.wait_reached()
    await _nothing_arrives(watcher, 0.1)  # not early while the repair commits
    repairing.opened.set()
    refused = await _answer(owner)
    assert isinstance(refused, Error) and refused.code == ErrorCode.FORK
    await _nothing_arrives(watcher, 0.1)  # its states were dropped: still waits
    putting.opened.set()
    assert await _answer(pusher) == Ack(push.id, 1)
    assert await _live_entries(watcher) == (theirs.entries[1],)
    putting.opened.clear()
    putting.reached.clear()
    await pusher.send(push := _push(pusher, theirs.extend(1)))
    await putting.wait_reached()
    assert await _live_entries(watcher) == (theirs.entries[2],)  # early again once committed
    putting.opened.set()
    assert await _answer(pusher) == Ack(push.id, 1)
    await _nothing_arrives(watcher, 0.1)


async def test_a_member_opening_many_logs_fills_only_max_logs_kept_states(
    relay: RunningRelay, join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = relay.runner.app[HUB]
    member, watcher = await join(), await live(join)
    logs = [Log(space) for _ in range(MAX_LOGS_KEPT + 8)]
    for start in range(0, len(logs), 12):
        chunk = logs[start : start + 12]
        assert await member.push([e for log in chunk for e in log.extend(1)]) == Ack(
            start // 12 + 1, len(chunk)
        )
    got: list[bytes] = []
    while len(got) < len(logs):  # counted, not timed: the next frame is the late log's
        got.extend(await _live_entries(watcher))
    assert got == [log.entries[0] for log in logs]
    assert len(hub._early._spaces[space]) == MAX_LOGS_KEPT
    kept = hub._early._spaces[space]  # which of the last push's logs got in is its set's order
    late = next(log for log in logs if log.log not in kept)  # none kept: its push waits
    held = Gate(monkeypatch, "put")
    await member.send(push := _push(member, late.extend(1)))
    await held.wait_reached()
    await _nothing_arrives(watcher, 0.1)
    held.opened.set()
    assert await _answer(member) == Ack(push.id, 1)
    assert await _live_entries(watcher) == (late.entries[1],)
    assert len(hub._early._spaces[space]) == MAX_LOGS_KEPT


async def test_a_refusal_while_another_logs_early_push_commits_loses_neither_log(
    start_relay: StartRelay,
    http: aiohttp.ClientSession,
    space: SpaceId,
    cap: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = await start_relay(quota=8 * ENTRY_SIZE)
    alice = await _welcomed_to(relay, http, space, cap)
    bob = await _welcomed_to(relay, http, space, cap)
    watcher = await _welcomed_to(relay, http, space, cap)
    await watcher.pull()
    a, b = Log(space), Log(space)
    assert await alice.push(a.extend(1)) == Ack(1, 1)
    assert await bob.push(b.extend(1)) == Ack(1, 1)
    got = flat(await _frames_meanwhile(watcher, 0.1))
    held = Held(monkeypatch, "put")
    await alice.send(_push(alice, a.extend(1)))  # early, committed
    await held.wait_arrived(1)
    big = [*b.extend(1), *b.extend(1, size=8 * ENTRY_SIZE)]
    await bob.send(_push(bob, big))  # early, then over the quota
    await held.wait_arrived(2)
    got += flat(await _frames_meanwhile(watcher, 0.1))
    held.opened.set()
    assert await _answer(alice) == Ack(2, 1)
    assert isinstance(await _answer(bob), Error)
    honest = _same_log(b, 1)
    assert await bob.push(honest.extend(2)) == Ack(3, 2)
    assert await alice.push(a.extend(1)) == Ack(3, 1)
    got += flat(await _frames_meanwhile(watcher, 0.1))
    stored = await _stored(join_to(relay, http, space, cap))
    assert [raw for raw in stored if raw not in got] == []  # nothing the relay holds is missed
    of_a = [raw for raw in got if raw in a.entries]
    assert of_a == a.entries  # log a: once each, in order


def join_to(relay: RunningRelay, http: aiohttp.ClientSession, space: SpaceId, cap: bytes) -> Join:
    async def join_() -> Device:
        return await _welcomed_to(relay, http, space, cap)

    return join_
