"""`tend relay serve`: run the blind relay that passes encrypted entries between devices.

The relay holds no keys and needs no journal: it stores opaque entries in its own SQLite file
(default: the platform's data directory for "tend-relay"), or, given a postgresql:// DSN, in a
PostgreSQL database that several relay instances share. aiohttp (and asyncpg, for a DSN) is
imported only here, when the relay actually runs, so the journal commands stay quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tend.core.errors import UserError

if TYPE_CHECKING:
    from tend.sync.relay.store_spec import StoreSpec


@click.group()
def relay() -> None:
    """Run a relay: a blind server that passes encrypted entries between devices."""


def _database(ctx: click.Context, param: click.Parameter, value: str | None) -> StoreSpec | None:
    """The store `--db` names: a postgresql:// URL is PostgreSQL, anything else a SQLite file."""
    if value is None:
        return None
    from tend.sync.relay.store_spec import SqliteSpec, parse_store_spec

    spec = parse_store_spec(value)
    if isinstance(spec, SqliteSpec):  # a directory, say, is a usage error
        click.Path(path_type=Path, dir_okay=False).convert(value, param, ctx)
    return spec


def _default_db() -> Path:
    import platformdirs  # only when no --db was given

    return Path(platformdirs.user_data_dir("tend-relay", appauthor=False)) / "relay.db"


@relay.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@click.option(
    "--db",
    metavar="FILE|DSN",
    callback=_database,
    help="The relay's SQLite file (default: the platform's data directory, tend-relay), or a "
    "postgresql:// DSN: a database several relay instances share.",
)
@click.option(
    "--quota-mb",
    default=256,
    show_default=True,
    type=click.IntRange(1),
    help="Most megabytes of entries one space may store.",
)
def serve(host: str, port: int, db: StoreSpec | None, quota_mb: int) -> None:
    """Serve devices until stopped (Ctrl-C or SIGTERM shut down gracefully)."""
    from tend.sync.relay.app import serve as run_relay
    from tend.sync.relay.store_spec import SqliteSpec

    spec = db or SqliteSpec(_default_db())
    if isinstance(spec, SqliteSpec):
        _make_parent(spec.path)
    run_relay(host, port, spec, quota_mb << 20, on_listening=_announce)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise UserError(f"cannot create the relay's directory {path.parent}: {e.strerror}") from e


def _announce(where: str) -> None:
    # One line on stdout, flushed: whoever started the relay waits for it to know it is up.
    click.echo(f"tend relay {where}")
