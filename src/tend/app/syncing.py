"""Syncing through the relay: one pass (with links answered since the last one let in), staying
live, and the wait after pairing until the other device's first entries are here.

These are coroutines, so the page can run them in its own event loop; the command runs them
with asyncio.run. Importing this module loads the network stack.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from tend.core.domain import events as ev
from tend.core.domain.codec import decode_event
from tend.core.errors import NextStep
from tend.core.journal import Journal
from tend.core.trust import rotation
from tend.sync import client
from tend.sync.client import Progress, RelayUnavailable, SyncReport

if TYPE_CHECKING:
    from tend.app.live import SyncStatus

JOIN_WAIT = 15  # seconds to wait after pairing for the other device's first entries


@dataclass(frozen=True)
class LinkJoined:
    """Someone joined with a link this device made, and is now in."""

    label: str
    safety_code: str
    own_device: bool


@dataclass
class SyncOutcome:
    report: SyncReport
    joined: list[LinkJoined] = field(default_factory=list)
    # Said once each: what became of a link that did not bring anyone in, and what to do next.
    notes: list[tuple[str, NextStep | None]] = field(default_factory=list)


# Told at once what became of the links let in (before the sync that follows, which may fail:
# each link is used up as it is let in, so its news is said now or never).
LetInNews = Callable[["SyncOutcome"], None]


async def sync(
    journal: Journal,
    url: str,
    progress: Progress | None = None,
    on_let_in: LetInNews | None = None,
) -> SyncOutcome:
    """Let in whoever answered a link, send and fetch; if what came in decided a reply held
    for a lost person's removal, let that one in and sync again."""
    outcome = await let_in(journal, on_let_in)
    outcome.report = await client.sync_once(journal, url, progress)
    if _held_replies(journal) and await _complete_links(journal, outcome, on_let_in):
        outcome.report.merge(await client.sync_once(journal, url, progress))
    return outcome


async def let_in(journal: Journal, on_let_in: LetInNews | None = None) -> SyncOutcome:
    """Before syncing: follow key rotations held but not yet applied, and bring in whoever
    answered a link this device made."""
    rotation.catch_up_keys(journal)
    outcome = SyncOutcome(SyncReport(own_log=journal.device.log))
    await _complete_links(journal, outcome, on_let_in)
    return outcome


async def watch(
    journal: Journal,
    url: str,
    stop: asyncio.Event,
    on_report: Callable[[SyncReport], None] | None = None,
    on_arrived: Callable[[list[Arrival]], None] | None = None,
    on_status: Callable[[SyncStatus], None] | None = None,
) -> SyncReport:
    """Stay in sync until `stop` is set (after `let_in`), through a LiveSync of the journal's
    home (app/live.py: what this device records, here or with a `tend` command, goes at once;
    UserError if another process keeps this home in sync); every reconnection's report,
    merged. `on_arrived` hears what the others wrote as it comes in (after each catch-up, and
    live), `on_status` each new status (a relay that cannot be reached, and back)."""
    from tend.app.live import LiveSync

    arrivals = Arrivals(journal) if on_arrived is not None else None
    live = LiveSync(journal, url, journal.home, on_report=on_report)
    changes = live.subscribe()
    await live.start()

    async def tell() -> None:
        async for change in changes:
            if change.kind == "remote" and arrivals is not None and on_arrived is not None:
                fresh = arrivals.new()
                if fresh:
                    on_arrived(fresh)
            elif change.kind == "status" and on_status is not None:
                on_status(live.status())

    teller = asyncio.create_task(tell())
    ended = asyncio.ensure_future(live.finished())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        await live.stop()
        await teller
    return await ended


class Arrival(NamedTuple):
    """One entry someone else wrote, just arrived: who (by name) and what."""

    name: str
    event: ev.Event


class Arrivals:
    """What the others wrote that this device has not yet told of."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._told = {(i.log, i.seq) for i in journal.items()}

    def new(self) -> list[Arrival]:
        items = self._journal.items()
        fresh = [i for i in items if (i.log, i.seq) not in self._told]
        # An entry whose words have not come yet (its key record follows it) is told of when
        # they come, not before.
        self._told.update((i.log, i.seq) for i in fresh if i.type != ev.Keyed.TYPE)
        from tend.core.views import projections  # only while watching, as entries arrive

        me = self._journal.device.person
        names = projections.names(items)
        events = projections.visible([decode_event(i.raw) for i in fresh if i.author != me])
        return [Arrival(names.get(e.author, "someone"), e) for e in events]


async def until_arrived(journal: Journal, relay: str, other_log: bytes) -> SyncReport:
    """Sync after pairing until the other device's own entries (its claim, its name) are here:
    it uploads them a moment after the exchange. At most JOIN_WAIT seconds."""
    report = await client.sync_once(journal, relay)
    deadline = time.monotonic() + JOIN_WAIT
    while other_log not in journal.store.heads() and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        report.merge(await client.sync_once(journal, relay))
    return report


def at_relay(journal: Journal, url: str) -> bool:
    """Whether the relay at `url` has welcomed this device (so it holds the journal)."""
    return client.welcomed_at(journal, url)


async def send_and_fetch(journal: Journal, url: str) -> SyncReport:
    """One plain pass: send what this device wrote, fetch what the others wrote."""
    return await client.sync_once(journal, url)


async def repair(
    journal: Journal, url: str, on_dropped: Callable[[int], None] | None = None
) -> tuple[int, SyncReport | None]:
    """Have the relay drop what it holds in this device's log that this device did not write;
    if it dropped anything, sync again. What was dropped (told at once to `on_dropped`, before
    the sync that follows, which may fail), and that sync's report."""
    dropped = await client.repair(journal, url)
    if not dropped:
        return 0, None
    if on_dropped is not None:
        on_dropped(dropped)
    return dropped, await client.sync_once(journal, url)


def _held_replies(journal: Journal) -> bool:
    """Whether an answer to a link waits here for the person it replaces to be removed."""
    pending = journal.device.settings.get("invitations")
    return isinstance(pending, list) and any(isinstance(i, dict) and "reply" in i for i in pending)


async def _complete_links(
    journal: Journal, outcome: SyncOutcome, on_let_in: LetInNews | None
) -> bool:
    """Bring in whoever answered a link this device made; whether anyone was."""
    if not journal.device.settings.get("invitations"):
        return False
    # Only with a link pending: a plain sync loads no pairing code (spake2 alone is 15 ms).
    from tend.sync import pairing_flow

    try:
        results = await pairing_flow.complete_links(journal)
    except client.RelayUnavailable:
        return False  # the sync that follows says so
    me = journal.device
    news = SyncOutcome(outcome.report)
    for result in results:
        device = result.added
        if device is None:
            news.notes.append((result.note, result.next_step))
            continue
        from tend.core.trust import pairing  # a sync with no link pending needs none of it

        code = pairing.safety_code(me.space, me.identity, device.identity)
        news.joined.append(LinkJoined(device.label, code, device.identity == me.identity))
    outcome.joined += news.joined
    outcome.notes += news.notes
    if on_let_in is not None and (news.joined or news.notes):
        on_let_in(news)
    return any(r.added is not None for r in results)


__all__ = [
    "JOIN_WAIT",
    "LinkJoined",
    "RelayUnavailable",
    "SyncOutcome",
    "SyncReport",
    "at_relay",
    "let_in",
    "repair",
    "send_and_fetch",
    "sync",
    "until_arrived",
    "watch",
]
