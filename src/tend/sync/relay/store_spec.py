"""Which database the relay keeps its store in, said explicitly, and opening it.

`tend relay serve --db VALUE` names it: a postgresql:// (or postgres://) URL means PostgreSQL,
anything else is the path of a SQLite file. `parse_store_spec` makes that decision, once, and
everything after it works with the resulting spec, never with the raw value. A spec opens the
store it names and describes it for people and logs (a URL without its password).

asyncpg is loaded only here, when a PostgreSQL store is opened: the SQLite relay and the device
commands never load it (store_pg.py is its one importer).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tend.core.errors import MissingExtra
from tend.sync.relay.store import Caps, RelayStore, SqliteRelayStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class SqliteSpec:
    """A SQLite file, owned by this one relay process."""

    path: Path

    def describe(self) -> str:
        return str(self.path)

    async def open(self, *, quota: int, caps: Caps) -> RelayStore:
        return await SqliteRelayStore.open(
            self.path,
            quota=quota,
            invitation_cap=caps.invitations,
            escrow_cap=caps.escrows,
            storage_cap=caps.storage,
        )


@dataclass(frozen=True)
class PostgresSpec:
    """A PostgreSQL database that several relay instances may share. `schema` names the
    store's schema there (None: the store's own default, tend_relay)."""

    dsn: str
    schema: str | None = None

    def describe(self) -> str:
        """The URL without its password (in either place it can be given)."""
        parts = urlsplit(self.dsn)
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{parts.username}@{host}" if parts.username else host
        query = parse_qsl(parts.query, keep_blank_values=True)
        kept = [(k, v) for k, v in query if k != "password"]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(kept)))

    async def open(self, *, quota: int, caps: Caps) -> RelayStore:
        try:
            from tend.sync.relay.store_pg import DEFAULT_SCHEMA, PostgresRelayStore
        except ImportError:
            raise MissingExtra("relay-pg", "asyncpg", "a relay on PostgreSQL") from None
        return await PostgresRelayStore.open(
            self.dsn,
            quota=quota,
            schema=DEFAULT_SCHEMA if self.schema is None else self.schema,
            invitation_cap=caps.invitations,
            escrow_cap=caps.escrows,
            storage_cap=caps.storage,
        )


StoreSpec = SqliteSpec | PostgresSpec


def parse_store_spec(value: str) -> StoreSpec:
    """A postgresql:// (or postgres://) URL means PostgreSQL; anything else is a SQLite path.
    The URL stays a string: as a Path its // would fold."""
    if value.startswith(POSTGRES_SCHEMES):
        return PostgresSpec(value)
    return SqliteSpec(Path(value))
