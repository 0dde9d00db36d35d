"""What the running page holds: the home, the journal once open, the sync status in plain words,
and the feed that tells open pages something changed (the server-sent events of /events)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tend.app import home as homes
from tend.app import settings
from tend.core.errors import TendError
from tend.ui import words

if TYPE_CHECKING:
    from tend.app.live import LiveSync
    from tend.core.journal import Journal


@dataclass(frozen=True)
class Change:
    """Something the open pages should show: `part` names the region that changed."""

    part: str  # "journal" (an entry), "today", "devices", "status", or "closing"
    said: str  # a short line, e.g. "Sam checked in"


class Feed:
    """Fan-out of changes to every open page's event stream (each a bounded queue)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Change]] = set()

    def publish(self, change: Change) -> None:
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled page just reloads later
                queue.put_nowait(change)

    @contextlib.contextmanager
    def listen(self) -> Iterator[asyncio.Queue[Change]]:
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=64)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._queues)


def status_words(live: LiveSync | None, relay: str | None, problem: str | None = None) -> str:
    """How syncing stands, in plain words."""
    if not relay:
        return "no relay yet: everything stays on this device"
    if live is None:
        return problem or "live sync is off"
    status = live.status()
    if status.state == "unreachable":
        return "the relay cannot be reached; everything is kept here"
    if status.last_synced is None:
        return "connecting to the relay"
    seconds = (dt.datetime.now(dt.UTC) - status.last_synced).total_seconds()
    return f"last synced {ago_words(seconds)}"


def ago_words(seconds: float) -> str:
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    return f"{hours // 24} days ago"


@dataclass
class PageState:
    home: Path
    journal: Journal | None = None
    feed: Feed = field(default_factory=Feed)
    live: LiveSync | None = None  # keeps the relay connection open while the page runs
    live_problem: str | None = None  # why there is none (another process keeps it)
    invitation: dict[str, str] = field(default_factory=dict)  # a code being waited on
    checked: list[str] = field(default_factory=list)  # what the last check of every entry found
    pending_lock: Any = None  # a link joiner's passphrase key, held in this run
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def relay(self) -> str | None:
        return None if self.journal is None else settings.known_relay(self.journal)

    def has_journal(self) -> bool:
        return homes.exists(self.home)

    def locked(self) -> bool:
        return self.journal is None and homes.exists(self.home)

    def open_unlocked(self) -> Journal | None:
        """Open the journal if it has no passphrase (else it waits for one from the page)."""
        if (
            self.journal is None
            and homes.exists(self.home)
            and not homes.needs_passphrase(self.home)
        ):
            self.journal = homes.open_journal(self.home, None)
        return self.journal

    async def unlock(self, typed: str) -> Journal:
        """Open the journal with a typed passphrase (stretched off the event loop)."""
        loop = asyncio.get_running_loop()
        lock = await loop.run_in_executor(None, homes.unlock, self.home, typed)
        self.journal = homes.open_journal(self.home, lock)
        return self.journal

    async def lock(self) -> None:
        await self.stop_live()
        self.close()

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def sync_words(self) -> str:
        return status_words(self.live, self.relay(), self.live_problem)

    def recorded(self, said: str, part: str = "journal") -> None:
        """After each write: the live connection sends it now, and tells the open pages."""
        if self.live is not None:
            self.live.recorded()
        else:
            from tend.app.poke import poke

            poke(self.home)  # another tend process keeps this home in sync: it sends it now
            self.feed.publish(Change(part, said))

    async def start_live(self) -> None:
        """One LiveSync for the open journal (none while locked), its changes fed to the
        open pages."""
        if self.journal is None or self.live is not None:
            return
        from tend.app import live

        keeper = live.LiveSync(self.journal, self.relay(), self.home)
        try:
            await keeper.start()
        except TendError as e:  # another tend process keeps this home in sync
            self.live_problem = words.error_line(e)
            return
        self.live, self.live_problem = keeper, None
        self.spawn(asyncio.create_task(self._forward(keeper)))

    async def stop_live(self) -> None:
        keeper, self.live = self.live, None
        if keeper is not None:
            await keeper.stop()

    async def restart_live(self) -> None:
        """After the relay changed (an invitation set one)."""
        await self.stop_live()
        await self.start_live()

    async def _forward(self, keeper: LiveSync) -> None:
        words = {"local": "recorded", "remote": "something new arrived", "status": "status"}
        async for change in keeper.subscribe():
            part = "status" if change.kind == "status" else "journal"
            self.feed.publish(Change(part, words[change.kind]))

    def spawn(self, work: asyncio.Task[None]) -> None:
        self.tasks.add(work)
        work.add_done_callback(self.tasks.discard)
