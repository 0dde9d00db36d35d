"""Serving the page: the aiohttp application, its templates and assets, and `tend ui`'s run."""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import shutil
import signal
import tempfile
import webbrowser
from collections.abc import Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from tend.core.errors import UserError
from tend.core.fsutil import write_private_atomic
from tend.ui import pages
from tend.ui.guard import Guard, middleware
from tend.ui.state import Change, PageState

HERE = Path(__file__).resolve().parent


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_app(state: PageState, guard: Guard) -> web.Application:
    """The page's application over `state` (its home and journal), guarded by `guard`."""
    app = web.Application(middlewares=[middleware(guard)], client_max_size=256 * 1024)
    app[pages.STATE] = state
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every piece of someone's words is escaped, always
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_routes(pages.routes)
    app.router.add_static("/static/", HERE / "static", append_version=False)

    async def opening(_app: web.Application) -> None:
        state.open_unlocked()  # a journal with a passphrase waits for it in the page
        await state.start_live()

    async def closing(_app: web.Application) -> None:
        await state.stop_live()
        state.stopping.set()
        state.feed.publish(Change("closing", "the page is closing"))
        for task in list(state.tasks):
            task.cancel()

    async def cleanup(_app: web.Application) -> None:
        state.close()

    app.on_startup.append(opening)
    app.on_shutdown.append(closing)
    app.on_cleanup.append(cleanup)
    return app


async def serve(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the page until `stop` is set (or the task is cancelled); `on_ready` hears the
    address to open, secret and all, once the port is bound."""
    state = PageState(home)
    guard = Guard(port=port)
    app = make_app(state, guard)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as e:
            raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        bound = runner.addresses[0][1] if runner.addresses else port
        guard.port = bound
        if not is_loopback(host):
            guard.extra_hosts = (host,)
            guard.any_address = host in ("0.0.0.0", "::", "")  # noqa: S104  (the flag asked)
        if on_ready is not None:
            on_ready(guard.address())
        waiting = stop or asyncio.Event()
        await waiting.wait()
    finally:
        await runner.cleanup()


def launch_file(folder: Path, address: str) -> Path:
    """A private file that sends the browser on to `address`: the browser is started with this
    file's name, so the launch secret never shows in the process list other users can read."""
    page = folder / "open-tend.html"
    shown = html.escape(address, quote=True)
    write_private_atomic(
        page,
        (
            '<!doctype html><meta charset="utf-8"><title>tend</title>'
            f'<meta http-equiv="refresh" content="0;url={shown}">'
            f'<p><a href="{shown}">Open your journal</a></p>'
        ).encode(),
    )
    return page


def run(home: Path, *, host: str, port: int, browser: bool, say: Callable[[str], None]) -> None:
    """`tend ui`: serve until interrupted, printing the address and opening the browser."""

    folder = Path(tempfile.mkdtemp(prefix="tend-ui-"))  # mode 0700: this user's alone

    def ready(address: str) -> None:
        say(f"The page is at {address}")
        say("Keep this address to yourself: it opens your journal. Ctrl-C stops the page.")
        if browser:
            webbrowser.open(launch_file(folder, address).as_uri())

    async def until_stopped() -> None:
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve(home, host=host, port=port, on_ready=ready, stop=stop)

    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: serve's cleanup has run
            asyncio.run(until_stopped())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    say("The page has stopped; everything is kept on this device.")
