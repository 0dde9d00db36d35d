"""Keeping one device's relay connection open and its log in step, without polling.

The process behind the page (`tend ui`) and `tend sync --watch` each run one `LiveSync` for their
home. It keeps a connection to the relay open (sync/client.py's watch: catch up, then live),
reconnecting with backoff and jitter when the relay goes away, and it pushes an entry the moment
one is written:

- written in this process: the writer calls `recorded()`, which sets the session's wake event;
- written by a separate `tend` command: the command pokes (app/poke.py) a Unix datagram socket
  this LiveSync listens on in the journal's home (`live.sock`, mode 0600), and the event loop
  wakes on it like on any socket.

Entries from the relay arrive on the open websocket. So an idle LiveSync waits on two sockets
and an event; no timer runs and the store is not read until something happened.

One LiveSync per home: `start` refuses (UserError) while another process listens on the home's
socket, and takes over a socket file a crashed process left behind. Where Unix sockets are
unavailable, it runs without one: entries written by a separate command then leave at the next
connection (or with `tend sync`), and those written in this process at once as everywhere.

Callers let in whoever answered a link first (app/syncing.py `let_in`), as `tend sync --watch`
does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tend.app.poke import SOCKET_NAME, address, poke
from tend.core.errors import NextStep, TendError, UserError
from tend.core.journal import Journal
from tend.sync import client
from tend.sync.client import SyncReport

__all__ = [
    "ALREADY_RUNNING",
    "UNREACHABLE",
    "Change",
    "LiveSync",
    "SyncStatus",
    "already_running",
    "poke",
]

UNREACHABLE = "the relay cannot be reached"  # the problem while it is retried
# What a second process is told; the faces name the processes with NextStep.ALREADY_KEPT_IN_SYNC.
ALREADY_RUNNING = (
    "what you record is sent at once: this journal is already kept in sync by another tend process"
)


State = Literal["off", "connecting", "live", "unreachable"]
STOP_GRACE = 5.0  # seconds `stop` lets a connection attempt or catch-up under way finish


@dataclass(frozen=True)
class SyncStatus:
    state: Literal["off", "connecting", "live", "unreachable"]  # off: no relay set
    last_synced: dt.datetime | None  # the last moment this device and the relay agreed
    problem: str | None  # one plain line when something is wrong ("the relay cannot be reached")


@dataclass(frozen=True)
class Change:
    kind: Literal["local", "remote", "status"]  # an entry written here, arrived, or a new status
    count: int = 0  # entries concerned (0 for a status change)


class _Subscription:
    """Every change from its making on, until the LiveSync stops."""

    def __init__(self, owner: LiveSync) -> None:
        self._owner = owner
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> Change:
        change = await self.queue.get()
        if change is None:
            raise StopAsyncIteration
        return change

    async def aclose(self) -> None:
        self._owner._subscriptions.discard(self)


class LiveSync:
    """Keeps one device's relay connection open and its log in step, without polling."""

    def __init__(
        self,
        journal: Journal,
        relay: str | None,
        home: Path,
        *,
        on_report: Callable[[SyncReport], None] | None = None,
    ) -> None:
        """`on_report` hears each connection's catch-up report (what `tend sync` would say)."""
        self._journal = journal
        self._relay = relay
        self._home = home
        self._on_report = on_report
        self._status = SyncStatus("off" if relay is None else "connecting", None, None)
        self._subscriptions: set[_Subscription] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._sock_id: tuple[int, int] | None = None
        self._report = SyncReport(own_log=journal.device.log)
        self._failure: TendError | None = None
        self._own_seq = 0
        self._others_seq = 0

    # --- the interface --------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for local pokes; connect (retrying with backoff) when a relay is set."""
        if self._loop is not None:
            return
        self._sock = _listen(self._home)  # first: a refusal leaves this LiveSync unstarted
        self._loop = asyncio.get_running_loop()
        if self._sock is not None:
            self._sock_id = _identity(self._home)
            self._loop.add_reader(self._sock.fileno(), self._poked)
        self._own_seq, self._others_seq = self._heads()
        if self._relay is not None:
            self._task = asyncio.create_task(self._run(self._relay))

    async def stop(self) -> None:
        """Close the connection and the socket; every subscription ends."""
        self._stopping.set()
        task = self._task
        if task is not None and not task.done():
            # A live session ends at once; a connection attempt or a catch-up under way gets a
            # moment, then is cancelled (at an await: every store write is one transaction,
            # so nothing is half-written, and what is not sent yet goes next time).
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._close_socket()
        for subscription in list(self._subscriptions):
            subscription.queue.put_nowait(None)
        self._subscriptions.clear()

    def status(self) -> SyncStatus:
        return self._status

    def recorded(self) -> None:
        """This process wrote an entry: push it now. Safe from any thread (a page may record
        in a worker thread); before `start` it does nothing (the first connection sends
        everything the relay lacks)."""
        loop = self._loop
        if loop is None:
            return
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            self._woken()
        else:
            loop.call_soon_threadsafe(self._woken)

    def subscribe(self) -> AsyncIterator[Change]:
        """Every change from now on, until `stop`."""
        subscription = _Subscription(self)
        if self._stopping.is_set():
            subscription.queue.put_nowait(None)
        else:
            self._subscriptions.add(subscription)
        return subscription

    # --- added for the command -------------------------------------------------------------

    async def finished(self) -> SyncReport:
        """Wait until the connection ends (after `stop`, or when the relay refused this device
        for good); every connection's report, merged; the refusal is raised."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)
        if self._failure is not None:
            raise self._failure
        return self._report

    # --- inside ----------------------------------------------------------------------------

    async def _run(self, relay: str) -> None:
        try:
            self._report = await client.watch(
                self._journal,
                relay,
                self._stopping,
                self._caught_up,
                self._arrived,
                self._wake,
                self._down,
                self._acked,
            )
        except TendError as e:
            self._failure = e
            self._set_status("unreachable", str(e))

    def _caught_up(self, report: SyncReport) -> None:
        self._set_status("live", None, synced=True)
        if self._on_report is not None:
            self._on_report(report)
        self._tell_remote()
        self._tell_local()  # written while away, now sent

    def _arrived(self) -> None:
        self._status = SyncStatus(self._status.state, _now(), self._status.problem)
        self._tell_remote()

    def _acked(self) -> None:
        self._status = SyncStatus(self._status.state, _now(), self._status.problem)

    def _down(self, _error: TendError) -> None:
        self._set_status("unreachable", UNREACHABLE)

    def _poked(self) -> None:
        sock = self._sock
        if sock is None:
            return
        with contextlib.suppress(OSError):  # BlockingIOError once drained
            while True:
                sock.recv(16)
        self._woken()

    def _woken(self) -> None:
        self._wake.set()
        self._tell_local_soon()

    def _set_status(self, state: State, problem: str | None, *, synced: bool = False) -> None:
        last = _now() if synced else self._status.last_synced
        new = SyncStatus(state, last, problem)
        changed = (new.state, new.problem) != (self._status.state, self._status.problem)
        self._status = new
        if changed:
            self._publish(Change("status"))

    def _heads(self) -> tuple[int, int]:
        own = self._journal.device.log
        heads = self._journal.store.heads()
        mine = int(heads[own][0]) if own in heads else 0
        return mine, sum(int(seq) for log, (seq, _h) in heads.items() if log != own)

    def _tell_local_soon(self) -> None:
        """Subscribers hear of it after the session, woken first, has pushed the entry."""
        if self._subscriptions and self._loop is not None:
            self._loop.call_soon(self._tell_local)

    def _tell_local(self) -> None:
        if not self._subscriptions:
            return
        mine, _others = self._heads()
        if mine > self._own_seq:
            self._publish(Change("local", mine - self._own_seq))
            self._own_seq = mine

    def _tell_remote(self) -> None:
        if not self._subscriptions:
            return
        _mine, others = self._heads()
        if others > self._others_seq:
            self._publish(Change("remote", others - self._others_seq))
            self._others_seq = others

    def _publish(self, change: Change) -> None:
        for subscription in self._subscriptions:
            subscription.queue.put_nowait(change)

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.remove_reader(sock.fileno())
        sock.close()
        # Removed only if it is still ours (not one a later process made after a takeover).
        if self._sock_id is not None and _identity(self._home) == self._sock_id:
            with contextlib.suppress(FileNotFoundError):
                (self._home / SOCKET_NAME).unlink()


def already_running(home: Path) -> bool:
    """Whether another process keeps `home` in sync now (a LiveSync listens on its socket):
    for saying so before any other work; `LiveSync.start` checks again, for certain."""
    family = getattr(socket, "AF_UNIX", None)
    if family is None or not (home / SOCKET_NAME).exists():
        return False
    where, fd = address(home)
    try:
        return _listening(family, where)
    finally:
        if fd is not None:
            os.close(fd)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _identity(home: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(home / SOCKET_NAME)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _listen(home: Path) -> socket.socket | None:
    """The home's poke socket, bound; None where Unix sockets are unavailable. UserError if
    another process listens on it; a socket file left by a crashed one is replaced."""
    family = getattr(socket, "AF_UNIX", None)
    if family is None:
        return None
    where, fd = address(home)
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            try:
                sock.bind(where)
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                if _listening(family, where):
                    raise UserError(
                        ALREADY_RUNNING, next_step=NextStep.ALREADY_KEPT_IN_SYNC
                    ) from None
                os.unlink(where)  # stale: its process is gone
                sock.bind(where)
            os.chmod(where, 0o600)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock
    finally:
        if fd is not None:
            os.close(fd)


def _listening(family: int, where: str) -> bool:
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(where)
        except OSError:
            return False  # refused (nobody bound), or not a socket at all
    return True
