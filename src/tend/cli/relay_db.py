"""Which database a relay command works on: `--db FILE|DSN`, or the platform's default file.

`tend relay serve` and the operator's commands (codes, spaces, gc) read the same option, so an
operator names the database the same way for all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tend.core.errors import UserError

if TYPE_CHECKING:
    from tend.sync.relay.store_spec import StoreSpec


def _database(ctx: click.Context, param: click.Parameter, value: str | None) -> StoreSpec | None:
    """The store `--db` names: a postgresql:// URL is PostgreSQL, anything else a SQLite file."""
    if value is None:
        return None
    from tend.sync.relay.store_spec import SqliteSpec, parse_store_spec

    spec = parse_store_spec(value)
    if isinstance(spec, SqliteSpec):  # a directory, say, is a usage error
        click.Path(path_type=Path, dir_okay=False).convert(value, param, ctx)
    return spec


db_option = click.option(
    "--db",
    metavar="FILE|DSN",
    callback=_database,
    help="The relay's SQLite file (default: the platform's data directory, tend-relay), or a "
    "postgresql:// DSN: a database several relay instances share.",
)


def store_spec(given: StoreSpec | None) -> StoreSpec:
    """The database named, or the default SQLite file (its folder made, private)."""
    from tend.sync.relay.store_spec import SqliteSpec

    spec = given or SqliteSpec(_default_db())
    if isinstance(spec, SqliteSpec):
        _make_parent(spec.path)
    return spec


def _default_db() -> Path:
    import platformdirs  # only when no --db was given

    return Path(platformdirs.user_data_dir("tend-relay", appauthor=False)) / "relay.db"


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise UserError(f"cannot create the relay's directory {path.parent}: {e.strerror}") from e
