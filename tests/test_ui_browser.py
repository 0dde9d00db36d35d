"""The page's script in a real headless Chromium (skipped where none is installed): the slider
shows its value and ticks "note it", what arrives is swapped in without a reload, and a form
someone has started to fill in is left alone. tests/test_ui_e2e.py drives whole visits."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse

from tend.app import home
from tests.conftest import TendCLI, free_port, tend_env
from tests.ui_helpers import page_on

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine"),
]


class Tab:
    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        await self.ws.send_json({"id": number, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json()
            if message.get("id") == number:
                return dict(message.get("result", {}))

    async def value(self, expression: str) -> Any:
        found = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        return found["result"].get("value")

    async def until(self, expression: str, seconds: float = 20) -> None:
        async with asyncio.timeout(seconds):
            while not await self.value(expression):
                await asyncio.sleep(0.1)


@asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[Tab]:
    assert CHROMIUM is not None
    port = free_port()
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={tmp_path / 'profile'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with ClientSession() as session:
            async with asyncio.timeout(30):
                while True:
                    try:
                        targets = await (await session.get(f"http://127.0.0.1:{port}/json")).json()
                        break
                    except OSError:
                        await asyncio.sleep(0.2)
            page = next(t for t in targets if t["type"] == "page")
            ws = await session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
            yield Tab(ws)
            await ws.close()
    finally:
        process.terminate()
        process.wait(timeout=20)


async def run(cli: TendCLI, *args: str) -> None:
    done = await asyncio.create_subprocess_exec(
        *cli.argv(*args),
        stdin=asyncio.subprocess.DEVNULL,
        env=tend_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await done.wait() == 0


async def test_the_script_in_a_real_browser(tmp_path: Path) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam").close()
    sam = TendCLI(where)
    async with page_on(where) as page, chromium(tmp_path) as tab:
        page.guard.used = False  # this browser, not the test's client, brings the secret now
        await tab.call("Page.navigate", url=page.guard.address())
        await tab.until(
            f"location.port === '{page.guard.port}' && location.search === '' "
            "&& document.readyState === 'complete'"
        )
        moved = await tab.value(
            "const s = document.getElementById('checkin-energy'); s.value = '8';"
            "s.dispatchEvent(new Event('input', {bubbles: true}));"
            "document.getElementById('checkin-energy-value').textContent + ' ' +"
            "document.getElementById('checkin-energy-on').checked"
        )
        assert moved == "8 true"
        await tab.until("!!window.EventSource")
        async with asyncio.timeout(10):
            while page.state.feed.listeners == 0:
                await asyncio.sleep(0.1)
        await run(sam, "checkin", "--note", "typed in a terminal")
        await tab.until(
            "document.getElementById('together-today').innerText.includes('typed in a terminal')"
        )
        await tab.call("Page.navigate", url=f"http://127.0.0.1:{page.guard.port}/together")
        await tab.until(
            "!!document.getElementById('thanks-text') && document.readyState === 'complete'"
        )
        async with asyncio.timeout(10):
            while page.state.feed.listeners == 0:
                await asyncio.sleep(0.1)
        await tab.value(
            "const t = document.getElementById('thanks-text'); t.value = 'half written';"
            "t.dispatchEvent(new Event('input', {bubbles: true})); t.blur(); 1"
        )
        await run(sam, "milestone", "sat in the sun")  # another part: swapped in
        await tab.until("document.getElementById('wins').innerText.includes('sat in the sun')")
        assert await tab.value("document.getElementById('live-note').hidden") is True
        await run(sam, "gratitude", "the soup")  # the part being written in: left alone
        await tab.until("!document.getElementById('live-note').hidden")
        assert await tab.value("document.getElementById('thanks-text').value") == "half written"
        assert not await tab.value(
            "document.getElementById('thanks').innerText.includes('the soup')"
        )


async def test_every_page_fits_a_narrow_phone_at_twice_the_text_size(tmp_path: Path) -> None:
    from tend.app import record
    from tests.conftest import gossip, invite

    where = tmp_path / "sam"
    sam = home.start(where, "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    record.check_in(alex, day="gentle", energy=3, needs=["quiet", "a hug"], note="a long " * 30)
    record.small_win(alex, "walked all the way to the corner shop and back again")
    gossip(sam, alex)
    sam.close()
    alex.close()
    async with page_on(where) as page, chromium(tmp_path) as tab:
        page.guard.used = False
        await tab.call(
            "Emulation.setDeviceMetricsOverride",
            width=360,
            height=740,
            deviceScaleFactor=1,
            mobile=True,
        )
        await tab.call("Page.navigate", url=page.guard.address())
        await tab.until(
            f"location.port === '{page.guard.port}' && document.readyState === 'complete'"
        )
        base = f"http://127.0.0.1:{page.guard.port}"
        for path in (
            "/",
            "/together",
            "/practices",
            "/partnership",
            "/week",
            "/timeline",
            "/devices",
        ):
            await tab.call("Page.navigate", url=base + path)
            await tab.until(f"location.pathname === '{path}' && document.readyState === 'complete'")
            await tab.value("document.documentElement.style.fontSize = '200%'; 1")
            wide = await tab.value("document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert wide is True, path
            small = await tab.value(
                "Array.from(document.querySelectorAll('button, select, summary, "
                "input[type=text], input[type=date]'))"
                ".filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)"
                ".map(e => e.outerHTML.slice(0, 80))"
            )
            assert small == [], (path, small)
