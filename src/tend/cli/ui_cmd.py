"""`tend ui`: the calm local page, served on this device (tend/ui holds it)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from tend.cli.app import App
from tend.core.errors import UserError

ANYWHERE = "--listen-anywhere-i-understand"


@click.command("ui")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default="any free one",
    help="The port to serve the page on.",
)
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on; anything but this device needs the flag below.",
)
@click.option(
    ANYWHERE,
    "anywhere",
    is_flag=True,
    help="Allow --host beyond this device: anyone on that network who learns the "
    "printed address could read and write your journal, unencrypted on the wire.",
)
@click.pass_obj
def ui(app: App, port: int, no_browser: bool, host: str, anywhere: bool) -> None:
    """Open the journal as a calm page in your browser, served on this device only."""
    from tend.ui import server

    if not server.is_loopback(host) and not anywhere:
        raise UserError(
            f"the page listens only on this device (127.0.0.1); to serve it on {host}, where "
            f"others on the network could reach it over plain http, add {ANYWHERE}"
        )
    server.run(app.home, host=host, port=port, browser=not no_browser, say=click.echo)


async def side_by_side(
    pages: list[tuple[str, Path]], *, browser: bool, say: Callable[[str], None], ready: str
) -> None:
    """Several journals' pages at once (`tend demo --ui`), each on its own loopback port at its
    own secret address, until SIGINT or SIGTERM; `ready` is said once all of them listen."""
    import webbrowser

    from tend.ui import server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(number, stop.set)
    opening = Path(tempfile.mkdtemp(prefix="tend-ui-"))  # mode 0700: this user's alone
    shown: list[str] = []

    def listening(name: str) -> Callable[[str], None]:
        def said(address: str) -> None:
            say(f"{name}'s page: {address}")
            shown.append(name)
            if browser:
                own = opening / str(len(shown))
                own.mkdir()
                webbrowser.open(server.launch_file(own, address).as_uri())
            if len(shown) == len(pages):
                say(ready)

        return said

    try:
        served = [
            asyncio.create_task(server.serve(home, on_ready=listening(name), stop=stop))
            for name, home in pages
        ]
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait([*served, waiting], return_when=asyncio.FIRST_COMPLETED)
        stop.set()  # one page failing to start stops the others too
        await asyncio.gather(*served, waiting)
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(number)
        shutil.rmtree(opening, ignore_errors=True)
