"""`tend ui`: the calm local page, served on this device (tend/ui holds it)."""

from __future__ import annotations

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
