"""`tend relay serve`: run the blind relay that passes encrypted entries between devices.

The relay holds no keys and needs no journal: it stores opaque entries in its own SQLite file
(default: the platform's data directory for "tend-relay"). aiohttp is imported only here, when
the relay actually runs, so the journal commands stay quick.
"""

from __future__ import annotations

from pathlib import Path

import click

from tend.core.errors import UserError


@click.group()
def relay() -> None:
    """Run a relay: a blind server that passes encrypted entries between devices."""


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
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The relay's database file (default: the platform's data directory, tend-relay).",
)
@click.option(
    "--quota-mb",
    default=256,
    show_default=True,
    type=click.IntRange(1),
    help="Most megabytes of entries one space may store.",
)
def serve(host: str, port: int, db_path: Path | None, quota_mb: int) -> None:
    """Serve devices until stopped (Ctrl-C or SIGTERM shut down gracefully)."""
    from tend.sync.relay import serve as run_relay

    path = db_path or _default_db()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise UserError(f"cannot create the relay's directory {path.parent}: {e.strerror}") from e
    run_relay(host, port, path, quota_mb << 20)
