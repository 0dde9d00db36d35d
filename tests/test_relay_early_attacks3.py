"""A third round of attacks on the relay's forwarding while committing (relay/early.py).

As in the earlier rounds, a member of the space speaks the protocol directly and the store's
`put` (or `heads`) is held closed where timing matters. These aim at the rule that every push's
logs are busy while it commits, at Session.unsend, and at interleavings of two spaces.
"""

from __future__ import annotations

import os

import aiohttp
import pytest

from tend.core.ids import SpaceId, new_space_id
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
    State,
    position,
)
from tend.sync.relay import session as session_module
from tend.sync.relay.app_keys import HUB
from tests.relay_fixtures import ENTRY_SIZE, Log
from tests.test_relay import (
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
from tests.test_relay_early_attacks import Held, _frames_meanwhile, _same_log, _until
from tests.test_relay_early_attacks2 import _welcomed_to

__all__ = ["cap", "connect", "http", "join", "relay", "space", "start_relay"]  # fixtures


# --- every push's logs are busy while it commits: and no longer ----------------------------------


async def test_pushes_refused_malformed_or_by_the_store_leave_no_log_busy(
    relay: RunningRelay, join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = relay.runner.app[HUB]
    pusher, watcher, log = await join(), await live(join), Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    # Malformed (another space's entry beside one of this log): refused before any commit.
    elsewhere = Log(new_space_id())
    malformed = await pusher.push([*_same_log(log, 1).extend(1), *elsewhere.extend(1)])
    assert isinstance(malformed, Error)
    # A fork of seq 1: not checkable here, made busy, refused by the store.
    fork = await pusher.push(_same_log(log, 0).extend(1))
    assert isinstance(fork, Error) and fork.code == ErrorCode.FORK
    await _nothing_arrives(watcher, 0.1)
    assert not hub._early._unsettled  # nothing left busy, no future kept
    # The space's states were dropped by the refusals: one commit, then early again.
    assert await pusher.push(log.extend(1)) == Ack(4, 1)
    assert await _live_entries(watcher) == (log.entries[1],)
    held = Gate(monkeypatch, "put")
    await pusher.send(push := _push(pusher, log.extend(1)))
    await held.wait_reached()
    assert await _live_entries(watcher) == (log.entries[2],)  # early: the log is not busy
    held.opened.set()
    assert await _answer(pusher) == Ack(push.id, 1)
    await _nothing_arrives(watcher, 0.1)
    assert not hub._early._unsettled


# --- Session.unsend ------------------------------------------------------------------------------


async def test_a_device_live_after_a_refused_early_push_it_never_got_misses_nothing_stored(
    start_relay: StartRelay,
    http: aiohttp.ClientSession,
    space: SpaceId,
    cap: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = await start_relay(quota=6 * ENTRY_SIZE)
    member = await _welcomed_to(relay, http, space, cap)
    watcher = await _welcomed_to(relay, http, space, cap)
    await watcher.pull()
    log = Log(space)
    assert await member.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    honest = _same_log(log, 1)
    held = Held(monkeypatch, "put")
    refused = [*log.extend(1), *log.extend(1, size=6 * ENTRY_SIZE)]
    await member.send(_push(member, refused))
    await held.wait_arrived(1)
    assert flat(await _frames_meanwhile(watcher, 0.1)) == refused  # out early
    # A device joining now: its catch-up reads the store before the refusal, and it is LIVE.
    late = await _welcomed_to(relay, http, space, cap)
    batches, _caught_up = await late.pull()
    assert flat(batches) == [log.entries[0]]
    held.opened.set()
    error = await _answer(member)
    assert isinstance(error, Error) and error.code == ErrorCode.QUOTA
    for request, entry in enumerate(honest.extend(3), start=3):
        assert await member.push([entry]) == Ack(request, 1)
    got_late = flat(await _frames_meanwhile(late, 0.1))
    got_watcher = flat(await _frames_meanwhile(watcher, 0.1))
    assert got_late == honest.entries[1:]  # once each, in order, from seq 2
    assert got_watcher == honest.entries[1:]  # the fork it was shown early, then what is stored


async def test_a_refused_early_push_takes_only_its_own_key_records_from_what_is_held(
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
    a, b = Log(space), Log(space)
    assert await alice.push(a.extend(1)) == Ack(1, 1)
    assert await bob.push(b.extend(1)) == Ack(1, 1)
    finishing = Gate(monkeypatch, "heads")  # the catch-up has read the store: entries are held
    await watcher.send(Pull({}))
    await finishing.wait_reached()
    record = os.urandom(KEY_RECORD_BYTES)
    assert await alice.push(a.extend(1), [record]) == Ack(2, 1)  # held, with its record
    big = [*b.extend(1), *b.extend(1, size=8 * ENTRY_SIZE)]
    refused = await bob.push(big, [os.urandom(KEY_RECORD_BYTES), b""])  # held, then refused
    assert isinstance(refused, Error) and refused.code == ErrorCode.QUOTA
    finishing.opened.set()
    first = await watcher.receive()
    assert isinstance(first, Entries) and set(first.entries) == {a.entries[0], b.entries[0]}
    assert isinstance(await watcher.receive(), CaughtUp)
    assert await watcher.receive() == Entries((a.entries[1],), live=True, keys=(record,))
    await _nothing_arrives(watcher, 0.1)
    at = position(a.log, 2)
    await watcher.send(FetchKeys(9, (at,)))
    assert await watcher.receive() == Keys(9, (at + record,))


# --- a receiver dropped while an early push goes out ---------------------------------------------


async def test_a_receiver_dropped_by_the_early_forward_leaves_the_push_to_settle(
    relay: RunningRelay, join: Join, space: SpaceId, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = relay.runner.app[HUB]
    pusher, watcher, log = await join(), await live(join), Log(space)
    assert await pusher.push(log.extend(1)) == Ack(1, 1)
    assert await _live_entries(watcher) == (log.entries[0],)
    slow = await join()
    finishing = Gate(monkeypatch, "heads")
    await slow.send(Pull({}))
    await finishing.wait_reached()
    syncing = next(s for s in hub.sessions if s.conn.state is State.SYNCING)
    syncing.held_bytes = session_module.MAX_BACKLOG_BYTES  # one entry more and it is dropped
    held = Held(monkeypatch, "put")
    await pusher.send(push := _push(pusher, log.extend(1)))
    await held.wait_arrived(1)
    assert await _live_entries(watcher) == (log.entries[1],)  # early; `slow` is dropped
    held.opened.set()
    assert await _answer(pusher) == Ack(push.id, 1)
    await _nothing_arrives(watcher, 0.1)  # once
    finishing.opened.set()
    await _until(lambda: not hub._early._unsettled)
    assert syncing.closing
    held.opened.clear()
    await pusher.send(push := _push(pusher, log.extend(1)))
    await held.wait_arrived(2)
    assert await _live_entries(watcher) == (log.entries[2],)  # early again
    held.opened.set()
    assert await _answer(pusher) == Ack(push.id, 1)


# --- two spaces ----------------------------------------------------------------------------------


async def test_a_commit_or_refusal_in_one_space_neither_holds_nor_resets_another(
    start_relay: StartRelay,
    http: aiohttp.ClientSession,
    space: SpaceId,
    cap: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = await start_relay(quota=6 * ENTRY_SIZE)
    hub = relay.runner.app[HUB]
    other, other_cap = new_space_id(), os.urandom(32)
    here = await _welcomed_to(relay, http, space, cap)
    here_watcher = await _welcomed_to(relay, http, space, cap)
    there = await _welcomed_to(relay, http, other, other_cap)
    there_watcher = await _welcomed_to(relay, http, other, other_cap)
    await here_watcher.pull()
    await there_watcher.pull()
    mine, theirs = Log(space), Log(other)
    assert await here.push(mine.extend(1)) == Ack(1, 1)
    record = os.urandom(KEY_RECORD_BYTES)
    assert await there.push(theirs.extend(1), [record]) == Ack(1, 1)
    assert await _live_entries(here_watcher) == (mine.entries[0],)
    assert await _live_entries(there_watcher) == (theirs.entries[0],)

    held = Held(monkeypatch, "put")
    await here.send(_push(here, [*mine.extend(1), *mine.extend(1, size=6 * ENTRY_SIZE)]))
    await held.wait_arrived(1)
    assert len(flat(await _frames_meanwhile(here_watcher, 0.1))) == 2  # out early, held
    # The other space's FetchKeys is not held by this space's commit.
    at = position(theirs.log, 1)
    await there_watcher.send(FetchKeys(5, (at,)))
    assert await there_watcher.receive() == Keys(5, (at + record,))
    held.opened.set()
    assert isinstance(await _answer(here), Error)  # refused: this space's states dropped
    assert space not in hub._early._spaces
    held.opened.clear()
    await there.send(push := _push(there, theirs.extend(1)))
    await held.wait_arrived(2)
    assert await _live_entries(there_watcher) == (theirs.entries[1],)  # still early there
    await _nothing_arrives(here_watcher, 0.1)
    held.opened.set()
    assert await _answer(there) == Ack(push.id, 1)
