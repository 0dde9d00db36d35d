"""`tend relay serve`: run the blind relay that passes encrypted entries between devices.

The relay holds no keys and needs no journal: it stores opaque entries in its own SQLite file
(default: the platform's data directory for "tend-relay"), or, given a postgresql:// DSN, in a
PostgreSQL database that several relay instances share. aiohttp (and asyncpg, for a DSN) is
imported only here, when the relay actually runs, so the journal commands stay quick.
"""

from __future__ import annotations

from pathlib import Path

import click

from tend.core.errors import UserError


@click.group()
def relay() -> None:
    """Run a relay: a blind server that passes encrypted entries between devices."""


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _database(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | str | None:
    """A DSN stays a str (a Path would fold its //); anything else is a file path."""
    if value is None or value.startswith(POSTGRES_SCHEMES):
        return value
    path: Path = click.Path(path_type=Path, dir_okay=False).convert(value, param, ctx)
    return path


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
def serve(host: str, port: int, db: Path | str | None, quota_mb: int) -> None:
    """Serve devices until stopped (Ctrl-C or SIGTERM shut down gracefully)."""
    from tend.sync.relay import serve as run_relay

    if isinstance(db, str):
        run_relay(host, port, db, quota_mb << 20, on_listening=_announce)
        return
    path = db or _default_db()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise UserError(f"cannot create the relay's directory {path.parent}: {e.strerror}") from e
    run_relay(host, port, path, quota_mb << 20, on_listening=_announce)


def _announce(where: str) -> None:
    # One line on stdout, flushed: whoever started the relay waits for it to know it is up.
    click.echo(f"tend relay {where}")
