"""Live sync without polling (app/live.py): two partners' journals, each kept in step by a
LiveSync, through the real relay on 127.0.0.1 (`tend relay serve`), and the real `tend` command
poking a running LiveSync from another process.

What is pinned: an entry recorded in the process reaches the partner's store; one recorded by a
separate `tend checkin` is pushed at once (nothing else would push it: nothing polls); the
status words (off, live, unreachable, and back to live when the relay returns, nothing lost);
what subscribe() yields; an idle LiveSync reads nothing and wakes for nothing; the home's socket
(private, one listener, a crashed process's file taken over, removed on stop); `poke` when
nothing listens is silent and fast.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import stat
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tend.app import live as live_mod
from tend.app.live import Change, LiveSync, poke
from tend.app.poke import SOCKET_NAME
from tend.core.domain.events import CheckIn, Gratitude
from tend.core.errors import UserError
from tend.core.journal import Journal
from tend.sync.relay import session as relay_session
from tend.sync.relay.app import make_app
from tend.sync.relay.store_spec import SqliteSpec
from tests.conftest import Relay, TendCLI, free_port, invite, tend_env

pytestmark = pytest.mark.slow  # a relay process for most of them

WAIT = 30.0  # for what takes milliseconds: generous on a loaded machine


@pytest.fixture
def couple(tmp_path: Path) -> Iterator[tuple[Journal, Journal]]:
    """Sam's journal and Alex's, paired through a real invitation; neither has synced."""
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    yield sam, alex
    alex.close()
    sam.close()


@pytest.fixture
async def running(
    couple: tuple[Journal, Journal], relay: Relay
) -> AsyncIterator[tuple[LiveSync, LiveSync]]:
    """A LiveSync for each partner, both live."""
    sam, alex = couple
    lives = (LiveSync(sam, relay.url, sam.home), LiveSync(alex, relay.url, alex.home))
    for live in lives:
        changes = live.subscribe()
        await live.start()
        await until_status(live, changes, "live")
    yield lives
    for live in lives:
        await live.stop()


def gratitudes(journal: Journal) -> list[str]:
    return [e.body.text for e in journal.events() if isinstance(e.body, Gratitude)]


def held(journal: Journal) -> int:
    return sum(int(seq) for seq, _h in journal.store.heads().values())


async def next_change(changes: AsyncIterator[Change], kind: str) -> Change:
    async def find() -> Change:
        async for change in changes:
            if change.kind == kind:
                return change
        raise AssertionError(f"the changes ended before a {kind} one")

    return await asyncio.wait_for(find(), WAIT)


async def until_status(live: LiveSync, changes: AsyncIterator[Change], state: str) -> None:
    while live.status().state != state:
        await next_change(changes, "status")


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# --- entries, in and out ----------------------------------------------------------------------


async def test_an_entry_recorded_in_the_process_reaches_the_partners_store_at_once(
    couple: tuple[Journal, Journal], running: tuple[LiveSync, LiveSync]
) -> None:
    sam, alex = couple
    sam_live, alex_live = running
    sam_changes, alex_changes = sam_live.subscribe(), alex_live.subscribe()
    sam.record(Gratitude(text="for the walk"))
    started = time.monotonic()
    sam_live.recorded()
    assert await next_change(sam_changes, "local") == Change("local", 1)
    assert await next_change(alex_changes, "remote") == Change("remote", 1)
    took = time.monotonic() - started
    assert "for the walk" in gratitudes(alex)
    assert took < 5  # live, not at some later pass (generous: a loaded machine)
    assert (sam_live.status().state, sam_live.status().problem) == ("live", None)
    last = alex_live.status().last_synced
    assert last is not None and time.time() - last.timestamp() < WAIT


async def test_from_a_relay_that_sends_no_key_records_live_words_are_fetched_before_told(
    couple: tuple[Journal, Journal], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older relay's live Entries carry no key records: the device asks for them at once
    (FetchKeys) and tells its subscribers only once the words are readable."""
    monkeypatch.setattr(relay_session, "parallel", lambda _entries, _keys: ())
    runner = web.AppRunner(make_app(SqliteSpec(tmp_path / "relay.db")), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        sam, alex = couple
        sam_live = LiveSync(sam, f"http://{host}:{port}", sam.home)
        alex_live = LiveSync(alex, f"http://{host}:{port}", alex.home)
        sam_changes, alex_changes = sam_live.subscribe(), alex_live.subscribe()
        for live, changes in ((sam_live, sam_changes), (alex_live, alex_changes)):
            await live.start()
            await until_status(live, changes, "live")
        try:
            arrived = alex_live.subscribe()  # from now on: not the catch-up's changes
            sam.record(Gratitude(text="for the older relay"))
            sam_live.recorded()
            await next_change(arrived, "remote")
            assert "for the older relay" in gratitudes(alex)
        finally:
            await alex_live.stop()
            await sam_live.stop()
    finally:
        await runner.cleanup()


async def test_recorded_from_another_thread_pushes_and_the_relays_ack_is_when_last_synced(
    couple: tuple[Journal, Journal], running: tuple[LiveSync, LiveSync]
) -> None:
    sam, alex = couple
    sam_live, _alex_live = running
    before = sam_live.status().last_synced
    assert before is not None
    await asyncio.sleep(0.01)
    sam.record(Gratitude(text="told from a worker thread"))
    told = threading.Thread(target=sam_live.recorded)
    told.start()
    told.join()
    await until(lambda: "told from a worker thread" in gratitudes(alex))
    await until(lambda: (sam_live.status().last_synced or before) > before)  # the push's Ack


async def test_a_separate_tend_checkin_is_pushed_by_the_running_livesync(
    couple: tuple[Journal, Journal], running: tuple[LiveSync, LiveSync]
) -> None:
    sam, alex = couple
    sam_live, alex_live = running
    sam_changes, alex_changes = sam_live.subscribe(), alex_live.subscribe()
    before = held(alex)
    # Another terminal: the command writes and pokes; only the poke can make this LiveSync
    # look (there is no timer), so the entry arriving at Alex's is the poke's doing.
    TendCLI(sam.home).ok("checkin", "--day", "rest")
    assert await next_change(sam_changes, "local") == Change("local", 1)
    assert await next_change(alex_changes, "remote") == Change("remote", 1)
    assert held(alex) == before + 1
    assert any(isinstance(e.body, CheckIn) for e in alex.events() if e.author == sam.device.person)


async def test_a_command_that_writes_nothing_does_not_poke(
    couple: tuple[Journal, Journal], running: tuple[LiveSync, LiveSync]
) -> None:
    sam, _alex = couple
    sam_live, _alex_live = running
    changes = sam_live.subscribe()
    woken = count_wakes(sam_live)
    TendCLI(sam.home).ok("today")
    TendCLI(sam.home).ok("checkin", "--day", "rest")
    assert await next_change(changes, "local") == Change("local", 1)
    assert woken == [1]  # the check-in's poke only


def count_wakes(live: LiveSync) -> list[int]:
    """How many times the live session was woken (the event the client waits on was set)."""
    woken = [0]
    event = live._wake
    original = event.set

    def counted() -> None:
        woken[0] += 1
        original()

    event.set = counted  # type: ignore[method-assign]
    return woken


async def test_the_application_layers_watch_says_what_arrived_and_pushes_what_is_recorded(
    couple: tuple[Journal, Journal], relay: Relay
) -> None:
    from tend.app import syncing

    sam, alex = couple
    stop, caught_up = asyncio.Event(), asyncio.Event()
    arrived: list[str] = []
    statuses: list[str] = []
    watching = asyncio.create_task(
        syncing.watch(
            alex,
            relay.url,
            stop,
            lambda _report: caught_up.set(),
            lambda news: arrived.extend(f"{a.name}: {a.event.body.summary()}" for a in news),
            lambda status: statuses.append(status.state),
        )
    )
    sam_live = LiveSync(sam, relay.url, sam.home)
    await sam_live.start()
    try:
        await asyncio.wait_for(caught_up.wait(), WAIT)
        sam.record(Gratitude(text="for the tea"))
        sam_live.recorded()
        await until(lambda: "Sam: thank you: for the tea" in arrived)
        # And what Alex's device records goes at once, through the same LiveSync.
        TendCLI(alex.home).ok("gratitude", "for the garden")
        await until(lambda: "for the garden" in gratitudes(sam))
    finally:
        stop.set()
        report = await asyncio.wait_for(watching, WAIT)
        await sam_live.stop()
    assert not report.refused
    assert statuses[:1] == ["live"]


# --- status -----------------------------------------------------------------------------------


async def test_with_no_relay_the_status_is_off_and_local_changes_are_still_told(
    tmp_path: Path,
) -> None:
    with Journal.create(tmp_path / "sam", "Sam") as sam:
        live = LiveSync(sam, None, sam.home)
        changes = live.subscribe()
        await live.start()
        try:
            assert live.status() == live_mod.SyncStatus("off", None, None)
            sam.record(Gratitude(text="offline"))
            live.recorded()
            assert await next_change(changes, "local") == Change("local", 1)
        finally:
            await live.stop()
        assert live.status().state == "off"


async def test_a_relay_that_goes_away_is_unreachable_then_live_again_and_nothing_is_lost(
    couple: tuple[Journal, Journal], relay: Relay, running: tuple[LiveSync, LiveSync]
) -> None:
    sam, alex = couple
    sam_live, alex_live = running
    sam_changes, alex_changes = sam_live.subscribe(), alex_live.subscribe()
    relay.stop()
    await until_status(sam_live, sam_changes, "unreachable")
    assert sam_live.status().problem == "the relay cannot be reached"
    assert sam_live.status().last_synced is not None  # when it last agreed with the relay
    sam.record(Gratitude(text="while the relay was away"))
    sam_live.recorded()  # nothing to push to: kept, sent on reconnecting
    relay.start()
    await until_status(sam_live, sam_changes, "live")
    await until_status(alex_live, alex_changes, "live")
    assert sam_live.status().problem is None
    await until(lambda: "while the relay was away" in gratitudes(alex))
    # And live again: the next entry goes at once.
    sam.record(Gratitude(text="after it came back"))
    sam_live.recorded()
    await until(lambda: "after it came back" in gratitudes(alex))


async def test_a_relay_that_was_never_there_is_unreachable_in_one_plain_line(
    tmp_path: Path,
) -> None:
    with Journal.create(tmp_path / "sam", "Sam") as sam:
        live = LiveSync(sam, f"http://127.0.0.1:{free_port()}", sam.home)
        changes = live.subscribe()
        assert live.status().state == "connecting"
        await live.start()
        try:
            await until_status(live, changes, "unreachable")
            assert live.status() == live_mod.SyncStatus(
                "unreachable", None, "the relay cannot be reached"
            )
        finally:
            await live.stop()


# --- nothing polls ----------------------------------------------------------------------------


class CountingStore:
    """The journal's real store, counting every call made to it."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if callable(attribute):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attribute(*args, **kwargs)

            return counted
        return attribute


async def test_an_idle_livesync_reads_nothing_and_wakes_for_nothing(
    couple: tuple[Journal, Journal], running: tuple[LiveSync, LiveSync]
) -> None:
    sam, alex = couple
    sam_live, _alex_live = running
    await asyncio.sleep(0.2)  # the catch-up's last acknowledgements
    store = CountingStore(sam.store)
    sam.store = store
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    assert isinstance(selector, selectors.BaseSelector)
    selects = [0]
    original = selector.select

    def counted(timeout: float | None = None) -> Any:
        selects[0] += 1
        return original(timeout)

    selector.select = counted  # type: ignore[method-assign]
    try:
        cpu = time.process_time()
        await asyncio.sleep(2.0)
        used = time.process_time() - cpu
    finally:
        selector.select = original  # type: ignore[method-assign]
    # The old loop looked at the store every 10 ms: 200 looks and as many wake-ups, in each
    # process; here the loop sleeps in select() until the sleep above ends.
    assert store.calls == []
    assert selects[0] <= 3
    assert used < 0.05
    # Still live: the next entry goes at once, and the store is read for it.
    sam.record(Gratitude(text="after the quiet"))
    sam_live.recorded()
    await until(lambda: "after the quiet" in gratitudes(alex))
    assert "since" in store.calls


# --- the home's socket ------------------------------------------------------------------------


async def test_the_socket_is_private_one_listener_a_stale_one_is_taken_over(
    tmp_path: Path,
) -> None:
    with Journal.create(tmp_path / "sam", "Sam") as sam:
        path = sam.home / SOCKET_NAME
        # A crashed process's socket: bound, then gone without removing its file.
        crashed = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        crashed.bind(str(path))
        crashed.close()
        assert stat.S_ISSOCK(path.stat().st_mode)
        poke(sam.home)  # nobody there: silent
        live = LiveSync(sam, None, sam.home)
        changes = live.subscribe()
        await live.start()
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            with pytest.raises(UserError, match="already kept in sync"):
                await LiveSync(sam, None, sam.home).start()
            assert path.exists()  # the refused one left the running one's socket alone
            sam.record(Gratitude(text="poked"))
            poke(sam.home)
            assert await next_change(changes, "local") == Change("local", 1)
        finally:
            await live.stop()
        assert not path.exists()


async def test_a_home_too_long_for_a_socket_address_is_still_poked(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "sam"
    deep.parent.mkdir(parents=True)
    with Journal.create(deep, "Sam") as sam:
        assert len(os.fsencode(sam.home / SOCKET_NAME)) > 108
        live = LiveSync(sam, None, sam.home)
        changes = live.subscribe()
        await live.start()
        try:
            sam.record(Gratitude(text="deep"))
            poke(sam.home)
            assert await next_change(changes, "local") == Change("local", 1)
        finally:
            await live.stop()
        assert not (sam.home / SOCKET_NAME).exists()


def test_poke_with_nothing_listening_is_silent_and_fast(tmp_path: Path) -> None:
    home = tmp_path / "nobody"
    home.mkdir()
    poke(home)  # no socket at all
    poke(tmp_path / "no-such-home")
    took = []
    for _ in range(200):
        start = time.perf_counter()
        poke(home)
        took.append(time.perf_counter() - start)
    took.sort()
    assert took[len(took) // 2] < 0.0002  # well under a millisecond (typically ~10 us)


async def test_subscribe_ends_when_the_livesync_stops(tmp_path: Path) -> None:
    with Journal.create(tmp_path / "sam", "Sam") as sam:
        live = LiveSync(sam, None, sam.home)
        changes = live.subscribe()
        await live.start()
        await live.stop()
        assert [c async for c in changes] == []
        assert [c async for c in live.subscribe()] == []


# --- the command --------------------------------------------------------------------------------


def test_sync_watch_pushes_a_checkin_from_another_terminal_and_refuses_a_second_watch(
    tmp_path: Path, relay: Relay
) -> None:
    import signal

    from tests.conftest import pair

    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    sam.ok("sync")
    alex.ok("sync")
    watcher = subprocess.Popen(
        sam.argv("sync", "--watch"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=tend_env(),
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT
        while not (sam.home / SOCKET_NAME).exists():
            assert time.monotonic() < deadline and watcher.poll() is None
            time.sleep(0.05)
        second = sam("sync", "--watch")
        assert second.returncode == 1
        assert "already kept in sync" in second.stderr
        sam.ok("gratitude", "pushed by the watcher")  # no `tend sync` on Sam's side
        seen = False
        while not seen and time.monotonic() < deadline:
            alex.ok("sync")
            seen = "pushed by the watcher" in str(alex.json("timeline")["events"])
            time.sleep(0.1)
        assert seen
        # The relay restarts: the watcher says so in one line, and carries on.
        relay.stop()
        time.sleep(1.5)
        sam.ok("gratitude", "written while the relay was away")
        relay.start()
        seen = False
        deadline = time.monotonic() + WAIT
        while not seen and time.monotonic() < deadline:
            alex.ok("sync")
            seen = "written while the relay was away" in str(alex.json("timeline")["events"])
            time.sleep(0.1)
        assert seen
    finally:
        watcher.send_signal(signal.SIGTERM)
        _out, err = watcher.communicate(timeout=20)
    assert watcher.returncode == 0, err
    assert err.count("the relay cannot be reached; trying again") == 1, err
    assert not (sam.home / SOCKET_NAME).exists()
