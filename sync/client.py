"""The device side of sync: a thin asyncio shell around `protocol.Connection`.

One pass (`tend sync`): say hello with the space's capability, upload every entry this device
holds that the relay lacks (its heads come in the Welcome), pull everything newer than our
version vector in bounded batches, verifying each batch before anything is applied
(core/ingest.py), and stop at CaughtUp. Watching (`tend sync --watch`) stays connected after
that: live entries from the relay are verified and applied as they come, and entries recorded
on this device are pushed as soon as the store shows them. A dropped connection is retried
with exponential backoff and jitter, resuming from the version vector, so nothing is lost or
applied twice (the relay and the store are both idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import aiohttp

from tend.core import pairing, rotation
from tend.core.errors import ChainError, TendError
from tend.core.header import Header
from tend.core.ingest import IngestReport, Refusal, ingest
from tend.core.journal import Journal
from tend.sync import protocol as p

BATCH_BYTES = 1 << 20
INGEST_BYTES = 4 << 20  # catch-up entries verified and applied together, at most
INGEST_ENTRIES = 8192
# How often a watching device looks for entries recorded by another process (each look is one
# cheap COUNT); 10 ms keeps live latency low for about 1-2% of a core while idle.
POLL_SECONDS = 0.01
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
Progress = Callable[[int, int], None]


class RelayUnavailable(TendError):
    """The relay could not be reached or went away; nothing was lost (exit 1)."""


class RelayRefused(TendError):
    """The relay answered with an error frame (exit 1)."""


class RemovedFromSpace(TendError):
    """This device was removed from the journal: no new key was sealed to it (exit 1)."""


MAX_REKEYS = 16  # epochs a device may catch up on in one connection attempt


@dataclass
class SyncReport:
    uploaded: int = 0
    downloaded: int = 0
    duplicates: int = 0
    sealed_away: int = 0
    refused: list[Refusal] = field(default_factory=list)
    upload_refused: list[str] = field(default_factory=list)  # the relay's error codes

    def add(self, part: IngestReport) -> None:
        self.downloaded += part.applied
        self.duplicates += part.duplicates
        self.sealed_away += part.sealed_away
        self.refused.extend(part.refused)


def sync_url(base: str) -> str:
    return base.rstrip("/") + "/v1/sync"


class Session:
    """One connection to the relay for one journal."""

    def __init__(self, journal: Journal, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.journal = journal
        self.ws = ws
        self.conn = p.Connection(p.Role.DEVICE)
        self.report = SyncReport()
        self.relay_heads: dict[bytes, int] = {}
        self._next_id = 1
        self._sent: dict[bytes, int] = {}  # what the relay holds or we pushed, per log
        self._seen: int | None = None  # store.count() when _unsent last looked

    def _apply(self, entries: Sequence[bytes]) -> None:
        """Verify and apply entries from the relay; the relay has them, so never send them back."""
        self.report.add(ingest(self.journal, entries))
        for raw in entries:
            try:
                header = Header.decode(raw)
            except ChainError:
                continue
            # The relay holds this log up to here (it stores logs contiguously).
            self._sent[header.log] = max(self._sent.get(header.log, 0), header.seq)

    async def send(self, frame: p.Frame) -> None:
        await self.ws.send_bytes(self.conn.send(frame))

    async def receive(self) -> p.Frame:
        message = await self.ws.receive()
        if message.type != aiohttp.WSMsgType.BINARY:
            raise RelayUnavailable("the relay closed the connection")
        frame = self.conn.receive(message.data)
        if isinstance(frame, p.Error) and frame.fatal:
            raise RelayRefused(
                f"the relay refused: {frame.code}"
                + (f" ({frame.message})" if frame.message else "")
            )
        return frame

    async def hello(self) -> bool:
        """Say hello; False if the relay handed us a new key instead (then reconnect)."""
        device = self.journal.device
        cap = pairing.capability(device.space_keys[rotation.relay_epoch(self.journal)])
        await self.send(p.Hello(p.PROTOCOL_VERSIONS, device.space, cap, create=True))
        frame = await self.receive()
        if isinstance(frame, p.Rekey):
            if not rotation.adopt_rekey(self.journal, frame.rekey):
                raise RemovedFromSpace(
                    "this device was removed from the journal; it keeps "
                    "what it had but can no longer sync"
                )
            return False
        if not isinstance(frame, p.Welcome):
            raise RelayRefused(f"the relay answered {frame.TYPE} to hello")
        self.relay_heads = dict(frame.heads)
        self._sent = dict(frame.heads)
        return True

    async def rotate_if_needed(self) -> None:
        """After a removal, move the relay to the new capability, leaving it the sealed keys
        that let the devices that stay (and only they) follow."""
        rekey = rotation.pending_rekey(self.journal)
        if rekey is None:
            return
        epoch, blob = rekey
        request = self._next_id
        self._next_id += 1
        cap = pairing.capability(self.journal.device.space_keys[epoch])
        await self.send(p.Rotate(request, pairing.capability_hash(cap), blob))
        while True:
            frame = await self.receive()
            if isinstance(frame, p.Ack) and frame.id == request:
                rotation.set_relay_epoch(self.journal, epoch)
                return
            if isinstance(frame, p.Error) and frame.id == request:
                raise RelayRefused(f"the relay refused the new key: {frame.code}")
            if isinstance(frame, p.Entries):
                self._apply(frame.entries)

    def _unsent(self) -> Iterator[bytes]:
        store = self.journal.store
        # Counted before looking: rows never go away and a new one gets a rowid above every
        # existing one, so all rows added from here on have rowid > count.
        count = store.count()
        if self._seen is None:  # first look: every log the relay holds less of
            for log, (seq, _hash) in store.heads().items():
                if seq > self._sent.get(log, 0):
                    for stored in store.log_entries(log):
                        if stored.seq > self._sent.get(log, 0):
                            yield stored.entry
                    self._sent[log] = seq
        elif count != self._seen:  # later looks (the live poll): only the rows added since
            for stored in store.since(self._seen):
                if stored.seq > self._sent.get(stored.log, 0):
                    yield stored.entry
                    self._sent[stored.log] = stored.seq
        self._seen = count

    async def upload(self) -> int:
        """Push everything the relay lacks; returns once every push is acknowledged."""
        pending: set[int] = set()
        for batch in _batches(list(self._unsent())):
            request = self._next_id
            self._next_id += 1
            pending.add(request)
            await self.send(p.Push(request, tuple(batch)))
        uploaded = 0
        while pending:
            frame = await self.receive()
            if isinstance(frame, p.Ack) and frame.id in pending:
                pending.discard(frame.id)
                uploaded += frame.stored
            elif isinstance(frame, p.Error) and frame.id in pending:
                # Not fatal: what is here stays here, and catching up still runs, so one
                # refused log (someone pushed junk at its next seq) cannot stop the whole sync.
                pending.discard(frame.id)
                self.report.upload_refused.append(frame.code)
            elif isinstance(frame, p.Entries):
                self._apply(frame.entries)
        self.report.uploaded += uploaded
        return uploaded

    async def catch_up(self, progress: Progress | None = None) -> None:
        have: dict[bytes, int] = {
            bytes(log): int(seq) for log, (seq, _h) in self.journal.store.heads().items()
        }
        own = self.journal.device.log
        if self.relay_heads.get(own) and own in have:
            # Ask again for the relay's copy of our last entry it holds: if someone wrote at our
            # next position there, this is where it shows (as a fork), instead of the relay
            # quietly holding their bytes where ours belong.
            have[own] = max(0, min(have[own], self.relay_heads[own]) - 1)
        missing = sum(max(0, seq - have.get(log, 0)) for log, seq in self.relay_heads.items())
        await self.send(p.Pull(have))
        done = 0
        # Frames are taken in together, up to INGEST_BYTES or INGEST_ENTRIES: each ingest also
        # brings the journal's view up to date, which costs about as much as everything held.
        pending: list[bytes] = []
        size = 0

        def take_in() -> None:
            if pending:
                self._apply(pending)
                pending.clear()

        try:
            while True:
                frame = await self.receive()
                if isinstance(frame, p.CaughtUp):
                    return
                if isinstance(frame, p.Entries):
                    pending.extend(frame.entries)
                    size += sum(len(raw) for raw in frame.entries)
                    if size >= INGEST_BYTES or len(pending) >= INGEST_ENTRIES:
                        take_in()
                        size = 0
                    done += len(frame.entries)
                    if progress:
                        progress(done, max(missing, done))
        finally:
            take_in()  # also what arrived before the link dropped: it is kept, as before

    async def live(self, stop: asyncio.Event) -> None:
        """Apply live entries and push local ones until `stop` is set or the link drops."""
        receiver = asyncio.ensure_future(self._receive_live())
        try:
            while not stop.is_set() and not receiver.done():
                await self._push_new()
                await asyncio.sleep(POLL_SECONDS)
            if receiver.done():
                receiver.result()  # re-raise why the connection ended
        finally:
            receiver.cancel()

    async def _receive_live(self) -> None:
        while True:
            frame = await self.receive()
            if isinstance(frame, p.Entries):
                self._apply(frame.entries)
            elif isinstance(frame, p.Error) and frame.id is not None:
                raise RelayRefused(f"the relay refused an upload: {frame.code} {frame.message}")

    async def _push_new(self) -> None:
        for batch in _batches(list(self._unsent())):
            request = self._next_id
            self._next_id += 1
            await self.send(p.Push(request, tuple(batch)))
            self.report.uploaded += len(batch)


def _batches(entries: list[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for raw in entries:
        if batch and (len(batch) >= p.MAX_ENTRIES_PER_FRAME or size + len(raw) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(raw)
        size += len(raw)
    if batch:
        yield batch


async def _connect(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    try:
        return await http.ws_connect(sync_url(url), max_msg_size=p.MAX_FRAME_BYTES, heartbeat=20)
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        raise RelayUnavailable(
            f"cannot reach the relay at {url} ({type(e).__name__}); "
            "everything is kept here and will sync later"
        ) from e


async def _open_session(
    http: aiohttp.ClientSession, url: str, journal: Journal
) -> tuple[aiohttp.ClientWebSocketResponse, Session]:
    """Connect and say hello, following the relay's new-key hand-offs after removals."""
    for _attempt in range(MAX_REKEYS):
        ws = await _connect(http, url)
        session = Session(journal, ws)
        try:
            if await session.hello():
                return ws, session
        except BaseException:
            await ws.close()
            raise
        await ws.close()
    raise RelayRefused("the relay keeps handing out new keys; try again later")


async def sync_once(journal: Journal, url: str, progress: Progress | None = None) -> SyncReport:
    """Upload, catch up, and return (`tend sync`)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        ws, session = await _open_session(http, url, journal)
        try:
            await session.upload()
            await session.rotate_if_needed()
            await session.catch_up(progress)
        except (aiohttp.ClientError, ConnectionError) as e:
            raise RelayUnavailable(
                f"the relay at {url} went away mid-sync; run tend sync again (nothing was lost)"
            ) from e
        finally:
            await ws.close()
        return session.report


async def watch(
    journal: Journal,
    url: str,
    stop: asyncio.Event,
    on_report: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Stay in sync until `stop` is set, reconnecting with backoff and jitter."""
    total = SyncReport()
    delay = BACKOFF_FIRST
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            try:
                ws, session = await _open_session(http, url, journal)
                try:
                    await session.upload()
                    await session.rotate_if_needed()
                    await session.catch_up()
                    delay = BACKOFF_FIRST
                    if on_report:
                        on_report(session.report)
                    await session.live(stop)
                finally:
                    _merge(total, session.report)
                    await ws.close()
            except (RelayUnavailable, aiohttp.ClientError, ConnectionError):
                pass
            if stop.is_set():
                break
            # Full jitter: devices that lost the relay together do not come back together.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=random.uniform(0, delay))
            delay = min(delay * 2, BACKOFF_MAX)
    return total


def _merge(total: SyncReport, part: SyncReport) -> None:
    total.upload_refused.extend(part.upload_refused)
    total.uploaded += part.uploaded
    total.downloaded += part.downloaded
    total.duplicates += part.duplicates
    total.sealed_away += part.sealed_away
    total.refused.extend(part.refused)
