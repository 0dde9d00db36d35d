"""The relay's own session logic, reached through an in-memory pipe: no socket, no HTTP.

`PipeRelay` is a client-side `Relay` (sync/client.py). Each `connect` makes a fresh
`transport.pipe()` and starts the relay's real `Session` (sync/relay.py) on the far end, with the
relay's real hub, metrics and SQLite store, as the relay's /v1/sync handler would. The escrow a
device leaves goes into that store after the relay's own check (core/log/escrow.py).

To play a relay that lies or fails, a test sets `tamper` (rewrites or drops each message the
relay sends) or `cut_after` (the link drops after that many messages from the relay, on every
connection); `restart` reopens the store, from another file if given (a backup: a rollback).
`received` lists every frame the devices sent, in order.

Every use of the relay's internals by the pipe tests is in this module. The relay's Session
reads an aiohttp `WebSocketResponse`; `_RelaySocket` is the part of one it uses (iterating
messages with `.type` and `.data`, `send_bytes`, `close(code=...)`, `close_code`) over the
relay's end of the pipe. A relay Session written over sync/transport.py's `Transport` (receive,
send, close) would need none of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aiohttp import WSMsgType, web

from tend.core.errors import TendError
from tend.core.ids import SpaceId
from tend.core.log import escrow
from tend.sync import protocol as p
from tend.sync.relay.fanout import Hub
from tend.sync.relay.metrics import Metrics
from tend.sync.relay.session import Session
from tend.sync.relay.store import RelayStore, SqliteRelayStore
from tend.sync.transport import PipeEnd, RelayRefused, RelayUnavailable, pipe

URL = "pipe://relay"
SESSION_END_SECONDS = 15.0  # the relay gives a closing session 5 s to flush

Tamper = Callable[[bytes], bytes | None]


@dataclass(frozen=True)
class _Message:
    type: WSMsgType
    data: bytes


class _RelaySocket:
    """What the relay's Session uses of its websocket, over the relay's end of a pipe."""

    def __init__(self, end: PipeEnd, relay: PipeRelay) -> None:
        self._end = end
        self._relay = relay
        self._sent = 0
        self.close_code: int | None = None

    def __aiter__(self) -> _RelaySocket:
        return self

    async def __anext__(self) -> _Message:
        try:
            data = await self._end.receive()
        except TendError:  # the device's end closed: the websocket's iteration ends
            raise StopAsyncIteration from None
        self._relay.received.append(p.decode(data))
        return _Message(WSMsgType.BINARY, data)

    async def send_bytes(self, data: bytes) -> None:
        if self._end.closed:
            raise ConnectionResetError("the device went away")  # as aiohttp raises
        if self._relay.cut_after is not None and self._sent >= self._relay.cut_after:
            await self._end.close()
            raise ConnectionResetError("the link dropped")
        self._sent += 1
        shown = data if self._relay.tamper is None else self._relay.tamper(data)
        if shown is not None:
            await self._end.send(shown)

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        if self.close_code is None:
            self.close_code = code
        await self._end.close()
        return True


class PipeRelay:
    """The relay's session logic and store, connected to devices through in-memory pipes."""

    def __init__(self, db: Path, store: RelayStore) -> None:
        self.db = db
        self.store = store
        self.hub: Hub[Session] = Hub()
        self.metrics = Metrics()
        self.tamper: Tamper | None = None
        self.cut_after: int | None = None
        self.received: list[p.Frame] = []
        self.connections = 0
        self.escrow_writes = 0  # escrows stored, first writes and rewrites alike
        self.escrow_offers = 0  # escrows devices offered, taken or not
        self.escrow_members: list[tuple[bytes, bytes]] = []  # (space, capability) offered with them
        self.escrows_refused_for_now = False  # as a relay over an address's rate or budget
        self._sessions: list[asyncio.Task[None]] = []
        self._ends: list[PipeEnd] = []

    @classmethod
    async def open(cls, db: Path) -> PipeRelay:
        return cls(db, await SqliteRelayStore.open(db))

    @property
    def url(self) -> str:
        return URL

    async def connect(self) -> PipeEnd:
        device, relay_end = pipe()
        socket = _RelaySocket(relay_end, self)
        # The relay's Session is typed for aiohttp's websocket; this is the part it uses.
        session = Session(
            cast(web.WebSocketResponse, socket), None, self.store, self.hub, self.metrics
        )
        self.hub.sessions.add(session)
        self._sessions.append(asyncio.create_task(session.run()))
        self._ends.append(device)
        self.connections += 1
        return device

    async def put_escrow(
        self,
        locator: bytes,
        identity: bytes,
        blob: bytes,
        signature: bytes,
        member: tuple[bytes, bytes],
    ) -> None:
        """As the relay's PUT /v1/recovery handler: stored only if the identity signed it,
        and not taken for now (429) while `escrows_refused_for_now`; `member` is kept, to be
        checked against the journal."""
        self.escrow_offers += 1
        self.escrow_members.append(member)
        if self.escrows_refused_for_now:
            raise RelayUnavailable("the relay did not take the recovery escrow (429)")
        if not escrow.write_allowed(locator, identity, blob, signature):
            raise RelayRefused("the relay refused the recovery escrow (403)")
        await self.store.put_escrow(locator, blob, time.time())
        self.escrow_writes += 1

    async def heads(self, space: bytes) -> p.Vector:
        return await self.store.heads(SpaceId(space))

    def pushed(self) -> list[p.Push]:
        return [f for f in self.received if isinstance(f, p.Push)]

    async def drop(self) -> None:
        """Every open link drops at once, as when the network goes; the relay carries on."""
        await self._end_sessions()

    async def restart(self, db: Path | None = None) -> None:
        """Drop every connection and reopen the store (from `db`, if given)."""
        await self._end_sessions()
        await self.store.close()
        self.db = db or self.db
        self.store = await SqliteRelayStore.open(self.db)
        self.hub = Hub()

    async def close(self) -> None:
        await self._end_sessions()
        await self.store.close()

    async def _end_sessions(self) -> None:
        for end in self._ends:
            await end.close()
        sessions, self._sessions, self._ends = self._sessions, [], []
        ended_all = asyncio.gather(*sessions, return_exceptions=True)
        for ended in await asyncio.wait_for(ended_all, SESSION_END_SECONDS):
            if isinstance(ended, BaseException):  # a relay bug: the test must not pass over it
                raise ended
