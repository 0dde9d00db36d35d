"""Fan-out: which sessions get which new entries, on this instance and from other instances.

Theory of operation
-------------------
The Hub knows every open session, and the sessions of each space. A push stored here goes to
the space's other sessions at once, synchronously right after the store's commit returns, with
no await in between: so entries are forwarded in commit order. A push the relay can check
without the database goes out sooner, while it is committed (early.py). A repair makes every
session of the space forget it sent the repaired log from there (vectors.rewind), so the honest
entries that replace the junk go out again.

Several instances (PostgreSQL): a store that other relay instances also write to is a
`SharedStore`, and reports their commits. The Hub then keeps a `SpaceFeed` per space with
sessions here: it forwards entries contiguously per log from what this instance has already
forwarded, fetching with `since` what another instance stored (sessions drop what they were
already sent, the same rule as after a catch-up), and closes the sessions whose capability
another instance's Rotate replaced. With SQLite one process owns the file, so none of this runs.

The fan-out knows a session only as a `Subscriber`: where it is, what it was sent, and how to
hand it entries or end it. How a session talks to its device is session.py's business.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import Generic, Protocol, TypeVar, runtime_checkable

from tend.core.ids import LogId, SpaceId
from tend.core.log.header import Header
from tend.sync.protocol import MAX_ENTRIES_PER_FRAME, ErrorCode, Vector
from tend.sync.relay.early import Early, EarlyForward
from tend.sync.relay.metrics import log_event, log_exception
from tend.sync.relay.store import Change, LogState, RelayStore
from tend.sync.relay.vectors import KeyRecords, positions, rewind, unsent


@runtime_checkable
class SharedStore(Protocol):
    """A RelayStore that other relay instances write to as well (PostgreSQL). SQLite is not
    one: a single relay process owns its file and sees every commit itself."""

    def changes(self) -> AsyncIterator[Change]:
        """Each commit another instance made: new entries, a replaced capability (rotated), or
        a repaired log. No space: some may have been missed; every space may have changed."""
        ...


class Subscriber(Protocol):
    """What the fan-out needs of a session."""

    space: SpaceId | None  # set once the device is welcomed
    capability_hash: bytes  # the capability the device is in the space under
    sent: Vector  # what the device has, so nothing goes to it twice

    def deliver(self, entries: Sequence[bytes], keys: KeyRecords) -> None:
        """New entries of the session's space, stored by another session or instance, and the
        key records kept beside them (by position)."""
        ...

    def unsend(self, entries: frozenset[bytes], first: Mapping[LogId, int]) -> None:
        """`entries`, delivered before their commit, were not stored: forget them (from what
        is held too), and that each log of `first` went out from its seq there."""
        ...

    def fail(self, code: ErrorCode, message: str) -> None:
        """End the session with a fatal Error."""
        ...

    def relay_failed(self, error: Exception) -> None:
        """End the session because the relay failed it (the device reconnects)."""
        ...


S = TypeVar("S", bound=Subscriber)


class Hub(Generic[S]):
    """Every open session, and the sessions of each space, for forwarding and shutdown."""

    def __init__(self) -> None:
        self.sessions: set[S] = set()
        self._spaces: dict[SpaceId, set[S]] = {}
        self.shared: RelayStore | None = None  # set when other instances write to the store
        self._feeds: dict[SpaceId, SpaceFeed] = {}
        self._early = EarlyForward()

    async def join(self, session: S, space: SpaceId) -> None:
        self._spaces.setdefault(space, set()).add(session)
        if self.shared is not None:
            members = partial(self.members, space)
            feed = self._feeds.setdefault(space, SpaceFeed(self.shared, space, members))
            await feed.start()  # before the session can pull, so its feed misses nothing

    def leave(self, session: S) -> None:
        self.sessions.discard(session)
        self.leave_space(session)

    def leave_space(self, session: S) -> None:
        """Stop forwarding to the session (it is closing); it stays tracked until it ends."""
        if session.space is not None:
            members = self._spaces.get(session.space, set())
            members.discard(session)
            if not members:
                self._spaces.pop(session.space, None)
                self._early.drop(session.space)
                if (feed := self._feeds.pop(session.space, None)) is not None:
                    feed.stop()

    def members(self, space: SpaceId) -> list[S]:
        return list(self._spaces.get(space, ()))

    def others(self, session: S) -> list[S]:
        assert session.space is not None
        return [s for s in self._spaces.get(session.space, ()) if s is not session]

    def forward(self, sender: S, entries: Sequence[bytes], keys: KeyRecords) -> None:
        """Entries the sender just stored, with the key records stored beside them, to the
        space's other sessions, in commit order."""
        assert sender.space is not None
        if (feed := self._feeds.get(sender.space)) is not None:
            feed.stored_here(sender, entries, keys)
        else:
            for other in self.others(sender):
                other.deliver(entries, keys)

    def forward_early(self, sender: S, entries: Sequence[bytes], keys: Sequence[bytes]) -> Early:
        """A push, before its commit, to the space's other sessions, if it can be checked here
        (early.py). Call `settle` with what it returns once the commit is done, whatever its
        outcome, and `unsent` first if the commit was refused or failed."""
        assert sender.space is not None
        space, others = sender.space, self.others(sender)
        if self.shared is not None or (parsed := self._early.parsed(space, entries)) is None:
            return Early()
        checked = self._early.checked(space, parsed, keys) if others else None
        # Every push, early or not: its logs are busy until its commit is settled.
        commit = self._early.begin(space, frozenset(header.log for header, _raw in parsed))
        if checked is None:
            return Early(commit=commit)
        sent, records, first = checked
        for other in others:
            other.deliver(sent, records)
        return Early(frozenset(sent), first, commit)

    def settle(self, space: SpaceId, early: Early) -> None:
        if early.commit is not None:
            self._early.end(space, early.commit)

    def unsent(self, sender: S, early: Early) -> None:
        """What went early was not stored: every session forgets it was sent those logs from
        there, so what is stored at those seqs later reaches it; no push goes out early until
        one commits."""
        assert sender.space is not None
        self._early.drop(sender.space)
        if early.sent:
            for other in self.others(sender):
                other.unsend(early.sent, early.first)

    async def settled(self, space: SpaceId) -> None:
        """Once every push of the space forwarded before its commit has been committed or
        refused: before reading key records a device may have been sent early."""
        await self._early.settled(space)

    def committed(self, space: SpaceId, logs: Mapping[LogId, LogState]) -> None:
        """A push's commit here left its logs so (no await since it)."""
        if self.shared is None and space in self._spaces:  # none kept for a space left
            self._early.committed(space, logs)

    def changing(self, space: SpaceId) -> AbstractContextManager[None]:
        """Around committing a rotation or repair of the space (early.py)."""
        return self._early.changing(space)

    def rewind(self, space: SpaceId, log: LogId, from_seq: int) -> None:
        """A repair dropped the log from `from_seq`: what was sent of it from there was junk,
        and the honest entries that replace it must go out again. Call with no await between
        the commit and here (or the notice of it), like forward."""
        if (feed := self._feeds.get(space)) is not None and feed.vector is not None:
            rewind(feed.vector, log, from_seq)
        for session in self.members(space):
            rewind(session.sent, log, from_seq)

    async def follow(self, changes: AsyncIterator[Change]) -> None:
        """Act on other instances' commits to spaces with sessions here, until cancelled."""
        try:
            async for change in changes:
                self._on_change(change)
        except Exception as e:  # other instances' entries stop arriving here: say so loudly
            log_exception("store.changes_failed", e)
            raise

    def _on_change(self, change: Change) -> None:
        if change.space is None:
            log_event("store.changes_resumed", spaces=len(self._feeds))
            feeds = list(self._feeds.values())
        else:
            feeds = [self._feeds[change.space]] if change.space in self._feeds else []
        if change.space is not None and change.repaired is not None and feeds:
            self.rewind(change.space, *change.repaired)
        for feed in feeds:
            feed.poke(recheck=change.rotated)


class SpaceFeed:
    """One space's live entries on this instance, when other instances store entries too.

    `vector` is what this instance has forwarded; entries go out contiguous per log from it.
    One stored here that extends it goes out at once (still in commit order). One that does not
    means another instance stored the entries before it and the notice is on its way: fetch
    rather than send a log out of order. Fetching pages `since(vector)`, so an entry another
    instance stored reaches every session here once, after its predecessors."""

    def __init__(
        self, store: RelayStore, space: SpaceId, members: Callable[[], Iterable[Subscriber]]
    ) -> None:
        self.store = store
        self.space = space
        self.members = members  # the space's sessions here, as they are when called
        self.vector: Vector | None = None
        self._starting = asyncio.Lock()
        self._fetch = self._recheck = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self._starting:
            if self.vector is None:
                self.vector = await self.store.heads(self.space)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def stored_here(self, sender: Subscriber, entries: Sequence[bytes], keys: KeyRecords) -> None:
        if self.vector is None:  # nobody has been welcomed yet
            return
        fresh: list[bytes] = []
        for raw in entries:
            header = Header.decode(raw)
            last = self.vector.get(header.log, 0)
            if header.seq == last + 1:
                self.vector[header.log] = header.seq
                fresh.append(raw)
            elif header.seq > last:
                self.poke()
        for session in self.members():
            if session is not sender:
                session.deliver(fresh, keys)

    def poke(self, *, recheck: bool = False) -> None:
        """Fetch what other instances stored; with `recheck`, also close the sessions whose
        capability was replaced."""
        self._fetch = True
        self._recheck |= recheck
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.start()
            while self._recheck or self._fetch:
                if self._recheck:
                    self._recheck = False
                    await self._close_replaced()
                if self._fetch:
                    self._fetch = False
                    await self._fetch_new()
        except Exception as e:  # the sessions would silently miss entries: they reconnect
            for session in self.members():
                session.relay_failed(e)

    async def _fetch_new(self) -> None:
        assert self.vector is not None
        while True:
            page = await self.store.since(self.space, dict(self.vector), MAX_ENTRIES_PER_FRAME)
            # The key records before `unsent`: no await between it and the delivery.
            keys = await self.store.keys(self.space, positions(page)) if page else {}
            fresh = unsent(self.vector, page)  # some may have been stored here meanwhile
            for session in self.members():
                session.deliver(fresh, keys)
            if len(page) < MAX_ENTRIES_PER_FRAME:
                return

    async def _close_replaced(self) -> None:
        current = await self.store.capability_hash(self.space)
        closed = 0
        for session in self.members():
            if current is None or not hmac.compare_digest(session.capability_hash, current):
                session.fail(ErrorCode.UNAUTHORIZED, "the space's capability was replaced")
                closed += 1
        if closed:
            log_event("space.rotated_elsewhere", self.space, closed=closed)
