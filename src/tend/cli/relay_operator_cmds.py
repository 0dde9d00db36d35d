"""The relay operator's commands on the relay's own database: one-time codes for starting
journals on an invite-only relay, a report of the spaces held, and clearing idle ones (and
recovery escrows nobody rewrote for their lifetime).

They open the store the relay uses (`--db`, as `tend relay serve`), directly, while it runs or
not: every write is one transaction, which the relay's own transactions wait for. Nothing here
prints a capability, or a space id: spaces are named by a short hash of their id.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import click

from tend.cli.relay_db import db_option, store_spec
from tend.core.errors import UserError

if TYPE_CHECKING:
    from tend.sync.relay.limits import SpaceInfo
    from tend.sync.relay.store import RelayStore
    from tend.sync.relay.store_spec import StoreSpec

T = TypeVar("T")
DURATION = re.compile(r"(\d+)([dhm])")
UNITS = {"d": 86400, "h": 3600, "m": 60}


def _on_store(db: StoreSpec | None, work: Callable[[RelayStore], Awaitable[T]]) -> T:
    from tend.sync.relay.store import DEFAULT_QUOTA, Caps

    async def run() -> T:
        store = await store_spec(db).open(quota=DEFAULT_QUOTA, caps=Caps())
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _expiry(value: str) -> float | None:
    """Seconds a code lasts ("7d", "12h", "30m"), or None for "never"."""
    if value == "never":
        return None
    found = DURATION.fullmatch(value)
    if not found or int(found[1]) == 0:
        raise UserError(f"--expires takes a duration such as 7d, 12h or 30m, or never; not {value}")
    return int(found[1]) * UNITS[found[2]]


def _day(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    raise AssertionError


@click.group()
def codes() -> None:
    """One-time codes that let a device start a journal on an invite-only relay."""


@codes.command("new")
@db_option
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--expires",
    default="7d",
    show_default=True,
    help="How long each code works: 7d, 12h, 30m, or never.",
)
def codes_new(db: StoreSpec | None, count: int, expires: str) -> None:
    """Make codes; each starts one journal. Only a hash of each is kept: note them now."""
    from tend.sync.relay.limits import code_hash, code_id, new_code

    lasts = _expiry(expires)
    now = time.time()
    made = [new_code() for _ in range(count)]

    async def add(store: RelayStore) -> None:
        until = None if lasts is None else now + lasts
        await store.add_codes([code_hash(c) for c in made], now, until)

    _on_store(db, add)
    for code in made:
        click.echo(f"{code}  (id {code_id(code_hash(code))})")
    until = "never expire" if lasts is None else f"work until {_day(now + lasts)} UTC"
    click.echo(
        f"{count} code(s); they {until}. Give each to one couple, who start their journal "
        "with: tend sync --admission-code CODE",
        err=True,
    )


@codes.command("list")
@db_option
def codes_list(db: StoreSpec | None) -> None:
    """Every code made, by id (never the code): unused, used, expired or revoked."""
    found = _on_store(db, lambda store: store.codes())
    now = time.time()
    if not found:
        click.echo("No codes yet: tend relay codes new")
    for info in found:
        click.echo(
            f"{info.id}  {info.state(now):8}  made {_day(info.created_at)}  "
            f"expires {_day(info.expires_at)}  used {_day(info.used_at)}"
        )


@codes.command("revoke")
@db_option
@click.argument("code_id")
def codes_revoke(db: StoreSpec | None, code_id: str) -> None:
    """Withdraw an unused code, by the id codes list shows."""
    if not re.fullmatch(r"[0-9a-fA-F]{8}", code_id):
        raise UserError("a code's id is the 8 letters and digits tend relay codes list shows")
    revoked = _on_store(db, lambda store: store.revoke_code(code_id))
    if not revoked:
        raise UserError(f"no unused code has the id {code_id}")
    click.echo(f"Code {code_id} is withdrawn: it starts no journal now.")


def _table(infos: list[SpaceInfo]) -> None:
    if infos:
        click.echo("space         created           last active       size        devices")
    for info in infos:
        lone = "  single device" if info.single_device else ""
        click.echo(
            f"{info.label}  {_day(info.created_at)}  {_day(info.active_at)}  "
            f"{_size(info.usage):>10}  {info.logs}{lone}"
        )


@click.command()
@db_option
@click.option(
    "--idle-days",
    type=click.IntRange(1),
    help="Only the spaces with no sync for this many days.",
)
def spaces(db: StoreSpec | None, idle_days: int | None) -> None:
    """Report the spaces held: sizes, last activity (to the hour), devices. No ids are shown,
    only a short hash of each."""
    from tend.sync.relay.limits import DAY

    every = _on_store(db, lambda store: store.spaces())
    total = sum(info.usage for info in every)
    lone = sum(info.single_device for info in every)
    click.echo(f"{len(every)} spaces, {_size(total)} held, {lone} with a single device.")
    shown = every
    if idle_days is not None:
        since = time.time() - idle_days * DAY
        shown = [info for info in every if info.active_at < since]
        click.echo(f"{len(shown)} idle for {idle_days} days or more:")
    _table(shown)


@click.command()
@db_option
@click.option(
    "--idle-days",
    type=click.IntRange(1),
    required=True,
    help="Clear the spaces with no sync for this many days.",
)
@click.option(
    "--single-device-days",
    type=click.IntRange(1),
    help="Also clear the spaces started this many days ago that no second device ever joined.",
)
@click.option(
    "--escrow-days",
    type=int,
    help="Also delete the recovery escrows not rewritten for this many days, as the relay's "
    "--escrow-days (default 400, at least 60): it no longer serves them.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be cleared; clear nothing.")
@click.option("--yes", is_flag=True, help="Clear without asking.")
def gc(
    db: StoreSpec | None,
    idle_days: int,
    single_device_days: int | None,
    escrow_days: int | None,
    dry_run: bool,
    yes: bool,
) -> None:
    """Clear idle spaces: their entries, key records and the space itself, each at once. Their
    devices keep everything and are told the relay no longer holds their journal. Expired
    recovery escrows go too: a device in use rewrites its own every month."""
    from tend.sync.relay.limits import DAY, Collect

    now = time.time()
    days = _escrow_days(escrow_days)  # checked before anything is cleared
    rule = Collect(now, idle_days, single_device_days)
    every = _on_store(db, lambda store: store.spaces())
    doomed = [info for info in every if rule.matches(info)]
    freed = _size(sum(info.usage for info in doomed))
    click.echo(f"{len(doomed)} of {len(every)} spaces to clear ({freed}).")
    _table(doomed)
    fresh_since = now - days * DAY
    if dry_run:
        stale = _on_store(db, lambda store: store.stale_escrows(fresh_since))
        click.echo(f"{stale} recovery escrows not rewritten for {days} days to delete.")
        return
    if doomed:
        if not yes and not click.confirm("Clear them now? This cannot be undone", default=False):
            raise UserError("nothing was cleared")
        gone = _on_store(db, lambda store: store.collect(rule))
        click.echo(f"Cleared {len(gone)} spaces, {_size(sum(i.usage for i in gone))} freed.")
    # The escrows the relay no longer serves: nobody rewrote them for their lifetime.
    expired = _on_store(db, lambda store: store.collect_escrows(fresh_since))
    click.echo(f"Deleted {expired} recovery escrows not rewritten for {days} days.")


def _escrow_days(given: int | None) -> int:
    """How long an escrow lasts unrewritten: the relay's default, or at least its minimum."""
    from tend.sync.relay.config import DEFAULT_ESCROW_DAYS, MIN_ESCROW_DAYS

    days = DEFAULT_ESCROW_DAYS if given is None else given
    if days < MIN_ESCROW_DAYS:
        raise UserError(
            f"--escrow-days {days} is too short: devices rewrite their escrow every 30 days, "
            f"so keep escrows at least {MIN_ESCROW_DAYS} days"
        )
    return days
