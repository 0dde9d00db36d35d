"""The page keeps the device's sync live in its own process: what the partner records appears
on the open page without a reload, a separate `tend` command on this device is heard at once,
and the status is said in plain words. A real relay on 127.0.0.1, real `tend` processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import ClientResponse

from tend.app import home
from tests.conftest import Relay, TendCLI, pair, tend_env
from tests.ui_helpers import Browser, page_on


async def next_change(stream: ClientResponse, seconds: float = 30) -> str:
    """The part named by the next `change` event on the stream (comments skipped)."""
    async with asyncio.timeout(seconds):
        while True:
            line = await stream.content.readline()
            if line == b"event: change\n":
                data = await stream.content.readline()
                return data.decode().removeprefix("data: ").strip()


async def opened_stream(browser: Browser) -> ClientResponse:
    stream = await browser.get("/events")
    assert stream.status == 200
    async with asyncio.timeout(10):
        while browser.state.feed.listeners == 0:
            await asyncio.sleep(0.01)
    return stream


async def until(browser: Browser, words: str, seconds: float = 30) -> str:
    async with asyncio.timeout(seconds):
        while words not in (page := await browser.text("/")):
            await asyncio.sleep(0.1)
    return page


async def run(cli: TendCLI, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *cli.argv(*args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=tend_env(),
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_partners_check_in_appears_on_the_open_page(tmp_path: Path, relay: Relay) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    async with page_on(sam.home) as browser:
        assert browser.state.live is not None
        await until(browser, "last synced just now")
        stream = await opened_stream(browser)
        await run(alex, "checkin", "--energy", "7", "--note", "a good walk")
        await run(alex, "sync")
        assert await next_change(stream) == "journal"
        page = await until(browser, "a good walk")
        assert "energy 7" in page
        stream.close()


async def test_what_the_page_records_reaches_the_partner_at_once(
    tmp_path: Path, relay: Relay
) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    async with page_on(sam.home) as browser:
        await until(browser, "last synced just now")
        await browser.post("/checkin", {"note": "sent from the page"})
        async with asyncio.timeout(30):
            while True:  # the page pushed it; alex's own sync fetches it
                await run(alex, "sync")
                if "sent from the page" in await run(alex, "timeline"):
                    break
                await asyncio.sleep(0.2)


async def test_a_separate_command_on_this_device_is_heard_at_once(tmp_path: Path) -> None:
    sam = TendCLI(tmp_path / "sam")
    sam.ok("init", "--name", "Sam")
    async with page_on(sam.home) as browser:
        stream = await opened_stream(browser)
        await run(sam, "checkin", "--note", "typed in a terminal")
        assert await next_change(stream, 15) == "journal"
        assert "typed in a terminal" in await browser.text("/")
        stream.close()


async def test_the_status_says_when_the_relay_cannot_be_reached(tmp_path: Path) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam", relay="http://127.0.0.1:9").close()
    async with page_on(where) as browser:
        await until(browser, "the relay cannot be reached; everything is kept here")
        await browser.post("/rest", {})  # still kept here
        assert "rest day (kept)" in await browser.text("/")


async def test_without_a_relay_everything_stays_here(tmp_path: Path) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam").close()
    async with page_on(where) as browser:
        assert "no relay yet: everything stays on this device" in await browser.text("/")


async def test_the_page_stops_its_live_sync_on_exit_and_when_locked(tmp_path: Path) -> None:
    from tend.core.crypto import passphrase

    where = tmp_path / "sam"
    words = "a long walk by the river at dusk"
    cheap = passphrase.Cost(time=1, memory_kib=64, lanes=1)
    home.start(where, "Sam", lock=passphrase.new_lock(words, cheap)).close()
    async with page_on(where) as browser:
        assert browser.state.live is None  # nothing runs before the passphrase
        await browser.post("/unlock", {"passphrase": words}, page="/unlock")
        assert browser.state.live is not None
        assert (where / "live.sock").exists()
        await browser.post("/lock", {})
        assert browser.state.live is None
        assert not (where / "live.sock").exists()
        await browser.post("/unlock", {"passphrase": words}, page="/unlock")
        assert (where / "live.sock").exists()
    assert not (where / "live.sock").exists()


async def test_a_second_process_keeping_the_home_in_sync_is_said_plainly(tmp_path: Path) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam", relay="http://127.0.0.1:9").close()
    async with page_on(where) as first, page_on(where) as second:
        assert first.state.live is not None
        assert second.state.live is None
        assert "already kept in sync by another tend process" in await second.text("/")


async def test_with_another_process_keeping_sync_the_page_hands_it_each_write(
    tmp_path: Path,
) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam", relay="http://127.0.0.1:9").close()
    async with page_on(where) as first, page_on(where) as second:
        assert second.state.live is None
        stream = await opened_stream(first)
        await second.post("/checkin", {"note": "written in the second"})
        assert await next_change(stream, 15) == "journal"  # the first heard the poke
        assert "written in the second" in await first.text("/")
        stream.close()


def test_how_long_ago_is_said_plainly() -> None:
    from tend.ui.state import ago_words

    assert ago_words(5) == "just now"
    assert ago_words(60) == "1 minute ago"
    assert ago_words(125) == "2 minutes ago"
    assert ago_words(3 * 3600) == "3 hours ago"
    assert ago_words(5 * 86400) == "5 days ago"
