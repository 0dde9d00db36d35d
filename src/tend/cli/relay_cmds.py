"""`tend relay serve`: run the blind relay that passes encrypted entries between devices.

The relay holds no keys and needs no journal: it stores opaque entries in its own SQLite file
(default: the platform's data directory for "tend-relay"), or, given a postgresql:// DSN, in a
PostgreSQL database that several relay instances share. aiohttp (and asyncpg, for a DSN) is
imported only here, when the relay actually runs, so the journal commands stay quick.

The operator's commands on the same database (one-time codes, the spaces report, clearing idle
spaces) are in relay_operator_cmds.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tend.cli.relay_db import db_option, store_spec
from tend.cli.relay_operator_cmds import codes, gc, spaces
from tend.core.errors import UserError

if TYPE_CHECKING:
    from tend.sync.relay.store_spec import StoreSpec


@click.group()
def relay() -> None:
    """Run a relay: a blind server that passes encrypted entries between devices."""


@relay.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@db_option
@click.option(
    "--quota-mb",
    default=256,
    show_default=True,
    type=click.IntRange(1),
    help="Most megabytes of entries one space may store.",
)
@click.option(
    "--admission",
    type=click.Choice(["open", "token"]),
    default="open",
    show_default=True,
    help="Who may start a new journal here: anyone (open), or only a device that gives a "
    "one-time code from tend relay codes new, or the operator token (token). Journals already "
    "here keep working either way.",
)
@click.option(
    "--operator-token",
    envvar="TEND_RELAY_OPERATOR_TOKEN",
    default="",
    show_default=False,
    help="A secret that starts journals past every limit, for the operator's own devices "
    "(better given as TEND_RELAY_OPERATOR_TOKEN: a command line is visible to other users).",
)
@click.option(
    "--creations-per-day",
    default=20,
    show_default=True,
    type=click.IntRange(0),
    help="Most new journals one address may start per day (0: no limit).",
)
@click.option(
    "--storage-cap-mb",
    type=click.IntRange(1),
    help="Most megabytes of entries all journals together may store (default: no cap).",
)
def serve(
    host: str,
    port: int,
    db: StoreSpec | None,
    quota_mb: int,
    admission: str,
    operator_token: str,
    creations_per_day: int,
    storage_cap_mb: int | None,
) -> None:
    """Serve devices until stopped (Ctrl-C or SIGTERM shut down gracefully)."""
    from tend.sync.relay.app import serve as run_relay
    from tend.sync.relay.config import RelayConfig

    if operator_token and len(operator_token) < 16:
        raise UserError("an operator token is at least 16 characters")
    config = RelayConfig(
        quota=quota_mb << 20,
        admission="token" if admission == "token" else "open",
        operator_token=operator_token,
        creations_per_address=creations_per_day,
        storage_cap=None if storage_cap_mb is None else storage_cap_mb << 20,
    )
    run_relay(host, port, store_spec(db), config, on_listening=_announce)


relay.add_command(codes)
relay.add_command(spaces)
relay.add_command(gc)


def _announce(where: str) -> None:
    # One line on stdout, flushed: whoever started the relay waits for it to know it is up.
    click.echo(f"tend relay {where}")
