"""What the running page holds: the home, the journal once open, the sync status in plain words,
and the feed that tells open pages something changed (the server-sent events of /events)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tend.app import home as homes
from tend.app import settings

if TYPE_CHECKING:
    from tend.core.journal import Journal


@dataclass(frozen=True)
class Change:
    """Something the open pages should show: `part` names the region that changed."""

    part: str  # "today", "journal" (anything), "devices"
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


@dataclass
class SyncStatus:
    """What the page knows of syncing, to say it plainly."""

    live: bool = False  # a live connection is kept by this process
    last_ok: float | None = None  # time.time() of the last sync that reached the relay
    unreachable: bool = False  # the last try could not reach the relay

    def words(self, relay: str | None, now: float | None = None) -> str:
        if not relay:
            return "no relay yet: everything stays on this device"
        if self.unreachable:
            return "the relay cannot be reached; everything is kept here"
        if self.last_ok is None:
            return "live sync is off; sync whenever you like" if not self.live else "connecting"
        ago = ago_words((now or time.time()) - self.last_ok)
        return f"last synced {ago}" + ("" if self.live else " (live sync is off)")


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
    sync: SyncStatus = field(default_factory=SyncStatus)
    invitation: dict[str, str] = field(default_factory=dict)  # a code being waited on
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

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def recorded(self, said: str, part: str = "journal") -> None:
        """After each write: tell the open pages (and, once kept, the live connection)."""
        self.feed.publish(Change(part, said))

    def spawn(self, work: asyncio.Task[None]) -> None:
        self.tasks.add(work)
        work.add_done_callback(self.tasks.discard)
