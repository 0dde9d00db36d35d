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
gap, a fork, a bad signature) waits for the commit as before, which refuses or forwards it. The
receiving device checks everything again itself in any case.

A device may ask for the key records of entries it got early (FetchKeys) before their commit
is done: the relay answers once the pushes forwarded early to the space are settled, so the
records are there to read.

If the commit is then refused (a full relay, a space over its quota) or fails, the devices that
were online have entries the relay does not hold. Nothing is lost or wrong by it (the pusher
keeps its entries and pushes them again; the others take a second copy as a re-send), and the
space's states are dropped, so no push of that space goes out early again until one commits.

Only a store that no other instance writes (SQLite): with several instances, the heads this
one committed can be behind, and each instance's feed orders what it forwards itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from tend.core.ids import LogId, SpaceId
from tend.sync.relay.store import (
    LogState,
    PushRefused,
    new_key_records,
    parse_batch,
    plan_extension,
    resent_positions,
)
from tend.sync.relay.vectors import KeyRecords


class EarlyForward:
    """Per space with sessions here: each log's state as this process last committed it."""

    def __init__(self) -> None:
        self._spaces: dict[SpaceId, dict[LogId, LogState]] = {}
        self._unsettled: dict[SpaceId, set[asyncio.Future[None]]] = {}

    def begin(self, space: SpaceId) -> asyncio.Future[None]:
        """A push of the space went out early: its commit is under way until `end`."""
        commit = asyncio.get_running_loop().create_future()
        self._unsettled.setdefault(space, set()).add(commit)
        return commit

    def end(self, space: SpaceId, commit: asyncio.Future[None]) -> None:
        """The commit begun so is done (stored, refused or failed)."""
        commit.set_result(None)
        pending = self._unsettled.get(space)
        if pending is not None:
            pending.discard(commit)
            if not pending:
                del self._unsettled[space]

    async def settled(self, space: SpaceId) -> None:
        """Once every push of the space forwarded early until now is committed or refused."""
        if pending := self._unsettled.get(space):
            await asyncio.wait(list(pending))

    def checked(
        self, space: SpaceId, entries: Sequence[bytes], keys: Sequence[bytes]
    ) -> tuple[tuple[bytes, ...], KeyRecords] | None:
        """The push's entries and key records if the store, as last committed, would add all
        of them; else None (the push waits for its commit)."""
        states = self._spaces.get(space)
        if not states or not entries:
            return None
        try:
            parsed = parse_batch(space, entries)
            if any(header.log not in states for header, _ in parsed):
                return None
            if resent_positions(parsed, states):
                return None
            plan = plan_extension(parsed, states, {})
            kept = new_key_records(entries, keys, plan.entries)
        except PushRefused:
            return None
        if len(plan.entries) != len(entries):
            return None
        return plan.entries, {(h.log, h.seq): record for h, record in kept}

    def committed(self, space: SpaceId, logs: Mapping[LogId, LogState]) -> None:
        """A commit of this process left `logs` so. Call with no await since the commit: a
        later commit's states are newer, and a head never moves back here (see `drop`)."""
        states = self._spaces.setdefault(space, {})
        for log, state in logs.items():
            known = states.get(log)
            if known is None or _seq(state) >= _seq(known):
                states[log] = state

    def drop(self, space: SpaceId) -> None:
        """Forget the space's states: a rotation or repair changed them, a push was refused,
        or its last session here ended."""
        self._spaces.pop(space, None)


def _seq(state: LogState) -> int:
    return state.head[0] if state.head else 0
