"""Forwarding a push while its commit runs: the relay's fsync off an entry's live path.

Theory of operation
-------------------
A push's entries reach the space's other devices once the store's commit returns, and on a disk
that fsyncs each commit, that commit is about a third of an entry's way from one partner's
device to the other's. So a push that can be checked here, without the database, goes out to
the others at once, while it is committed; its Ack still waits for the commit, so a device
never believes the relay holds what it does not.

A push goes out early only if the store would take all of it: `EarlyForward` keeps each log's
state (key, removed, head) as this process last committed it, for the spaces with sessions
here, and runs the store's own check (`plan_extension`) against it: every entry new and
contiguous from that head and linked to its hash, the run's last entry signed by the log's own
key, the log not removed. Anything else (a log not seen since the relay started, a re-send, a
gap, a fork, a bad signature) waits for the commit as before, which refuses or forwards it. So
do a push of a log that has another push being committed, early or not (two connections of one
log could otherwise each get a chain from the same head through: a fork, of which the store
keeps one; a push that went early would be checked against a head that one may move), a push
of more than MAX_LOGS_CHECKED logs (each is a signature check on the event loop), and every
push of a space while a rotation or repair of it is being committed (it may remove a log). The
commit forwards what it stored to every session, as it always did: one that got an entry early
drops the copy (each log goes out contiguous, once), and one that connected meanwhile gets it.
The receiving device checks everything again itself in any case.

A device may ask for the key records of entries it got early (FetchKeys) before their commit
is done: the relay answers once the pushes forwarded early to the space are settled, so the
records are there to read.

If the commit is then refused (a full relay, a space over its quota) or fails, the devices that
were online have entries the relay does not hold. Nothing is lost by it: the sessions forget
they were sent those logs from there (vectors.rewind) and drop the refused entries they hold
while catching up, so whatever is stored at those seqs later reaches them (the same entries,
which the devices drop as re-sends, or other ones, which they see as the fork they are), and
the space's states are dropped, so no push of it goes out early again until one commits.

Only a store that no other instance writes (SQLite): with several instances, the heads this
one committed can be behind, and each instance's feed orders what it forwards itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tend.core.ids import LogId, SpaceId
from tend.core.log.header import Header
from tend.sync.relay.store import (
    LogState,
    PushRefused,
    new_key_records,
    parse_batch,
    plan_extension,
    resent_positions,
)
from tend.sync.relay.vectors import KeyRecords

Parsed = list[tuple[Header, bytes]]  # a push's entries with their headers (store.parse_batch)

MAX_LOGS_CHECKED = 4  # logs one push may touch and still go out early (a device writes one)
MAX_LOGS_KEPT = 64  # logs a space keeps states of (a couple has a handful of devices)


@dataclass(frozen=True)
class Early:
    """What of a push went out before its commit: its entries, and each log's first seq."""

    sent: frozenset[bytes] = frozenset()
    first: Mapping[LogId, int] = field(default_factory=dict)
    commit: asyncio.Future[None] | None = None


class EarlyForward:
    """Per space with sessions here: each log's state as this process last committed it, and
    what is being committed now."""

    def __init__(self) -> None:
        self._spaces: dict[SpaceId, dict[LogId, LogState]] = {}
        self._unsettled: dict[SpaceId, dict[asyncio.Future[None], frozenset[LogId]]] = {}
        self._changing: dict[SpaceId, int] = {}  # rotations and repairs being committed

    @staticmethod
    def parsed(space: SpaceId, entries: Sequence[bytes]) -> Parsed | None:
        """A push's headers, read once for all that follows; None when the store will refuse
        it as malformed."""
        try:
            return parse_batch(space, entries)
        except PushRefused:
            return None

    def checked(
        self, space: SpaceId, parsed: Parsed, keys: Sequence[bytes]
    ) -> tuple[tuple[bytes, ...], KeyRecords, dict[LogId, int]] | None:
        """The push's entries, key records and each log's first seq, if the store, as last
        committed, would add all of them and nothing under way could change that; else None
        (the push waits for its commit). Call before `begin` for this push."""
        states = self._spaces.get(space)
        if not states or not parsed or self._changing.get(space):
            return None
        entries = [raw for _header, raw in parsed]
        try:
            logs = {header.log for header, _ in parsed}
            if len(logs) > MAX_LOGS_CHECKED or not logs <= states.keys():
                return None
            if logs & self._busy(space):
                return None
            if resent_positions(parsed, states):
                return None
            plan = plan_extension(parsed, states, {})
            kept = new_key_records(entries, keys, plan.entries)
        except PushRefused:
            return None
        if len(plan.entries) != len(entries):
            return None
        first: dict[LogId, int] = {}
        for header, _raw in parsed:
            first[header.log] = min(first.get(header.log, header.seq), header.seq)
        return plan.entries, {(h.log, h.seq): record for h, record in kept}, first

    def _busy(self, space: SpaceId) -> set[LogId]:
        """The logs of the space with a push being committed (early or not)."""
        return set().union(*self._unsettled.get(space, {}).values())

    def begin(self, space: SpaceId, logs: frozenset[LogId]) -> asyncio.Future[None]:
        """A push of `logs` is being committed until `end`, whether it went out early or not:
        until then no other push of those logs goes out early (it would be checked against a
        head that push may move)."""
        commit = asyncio.get_running_loop().create_future()
        self._unsettled.setdefault(space, {})[commit] = logs
        return commit

    def end(self, space: SpaceId, commit: asyncio.Future[None]) -> None:
        """The commit begun so is done (stored, refused or failed)."""
        if not commit.done():
            commit.set_result(None)
        pending = self._unsettled.get(space)
        if pending is not None:
            pending.pop(commit, None)
            if not pending:
                del self._unsettled[space]

    async def settled(self, space: SpaceId) -> None:
        """Once every push of the space being committed now is committed or refused."""
        if pending := self._unsettled.get(space):
            await asyncio.wait(list(pending))

    @contextmanager
    def changing(self, space: SpaceId) -> Iterator[None]:
        """While a rotation or repair of the space is committed: nothing of it goes out early,
        and its states are dropped once it is done (it may have removed or cut a log)."""
        self._changing[space] = self._changing.get(space, 0) + 1
        try:
            yield
        finally:
            left = self._changing[space] - 1
            if left:
                self._changing[space] = left
            else:
                del self._changing[space]
            self.drop(space)

    def committed(self, space: SpaceId, logs: Mapping[LogId, LogState]) -> None:
        """A commit of this process left `logs` so. Call with no await since the commit: a
        later commit's states are newer, and a head never moves back here (see `drop`)."""
        states = self._spaces.setdefault(space, {})
        for log, state in logs.items():
            known = states.get(log)
            if known is None and len(states) >= MAX_LOGS_KEPT:
                continue  # that log's pushes wait for their commits
            if known is None or _seq(state) >= _seq(known):
                states[log] = state

    def drop(self, space: SpaceId) -> None:
        """Forget the space's states: a rotation or repair changed them, a push was refused,
        or its last session here ended."""
        self._spaces.pop(space, None)


def _seq(state: LogState) -> int:
    return state.head[0] if state.head else 0
