"""The system's headless Chromium driven by Playwright, and real page servers for it to open.

Playwright is told where Chromium is (`executable_path`): it never downloads a browser of its
own. Where either is missing, the tests that need them are skipped and say which.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, ViewportSize

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
# Chromium without the services that would reach out to the network, in a fresh profile
# (Playwright gives each launch a temporary user-data-dir of its own).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 360, "height": 740}

needs_browser = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (Debian: chromium)"),
    pytest.mark.skipif(
        not HAVE_PLAYWRIGHT, reason="Playwright for Python is not installed (the dev extra)"
    ),
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, the machine's own."""
    from playwright.async_api import async_playwright

    assert CHROMIUM is not None
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def served(home: Path) -> AsyncIterator[str]:
    """`tend ui`'s own server for `home` on a free loopback port, in this process; yields the
    address it prints, launch secret and all."""
    from tend.ui import server

    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(server.serve(home, on_ready=ready.set_result, stop=stop))
    try:
        async with asyncio.timeout(30):
            either: set[asyncio.Future[Any]] = {task, ready}
            done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what stopped it
        yield ready.result()
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


async def opened(browser: Browser, address: str, **context: object) -> Page:
    """A new tab in a context of its own (its own cookies) that brought the launch secret."""
    made = await browser.new_context(**context)  # type: ignore[arg-type]
    page = await made.new_page()
    await page.goto(address)
    await page.wait_for_url(lambda url: "?k=" not in url)
    return page


def origin(address: str) -> str:
    return address.split("/?", 1)[0]
