"""`tend relay serve`: run the blind relay that passes encrypted entries between devices.

The relay holds no keys and needs no journal: it stores opaque entries in its own SQLite file
(default: the platform's data directory for "tend-relay"), or, given a postgresql:// DSN, in a
PostgreSQL database that several relay instances share. aiohttp (and asyncpg, for a DSN) is
imported only here, when the relay actually runs, so the journal commands stay quick.

The operator's commands on the same database (one-time codes, the spaces report, clearing idle
spaces) are in relay_operator_cmds.py.

Every setting is a flag made from its field (sync/relay/settings.py), so a setting added to the
relay's configuration is a flag here without a line of this file changing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tend.cli.relay_db import store_spec
from tend.cli.relay_operator_cmds import codes, gc, spaces
from tend.core.errors import UserError

if TYPE_CHECKING:
    from tend.sync.relay.settings import Setting
    from tend.sync.relay.store_spec import StoreSpec

# Help for the settings whose flag says more than its name; any other setting's flag points
# at the field it sets.
HELP = {
    "host": "Address to listen on (default 127.0.0.1).",
    "port": "Port to listen on (default 8765).",
    "db": "The relay's SQLite file (default: the platform's data directory, tend-relay), or a "
    "postgresql:// DSN: a database several relay instances share.",
    "tls_cert": "A PEM certificate chain: the relay terminates TLS itself (with --tls-key).",
    "tls_key": "The certificate's private key, in PEM.",
    "log_ids": "Show space, mailbox and invitation ids in the log.",
    "log_addresses": "Show clients' addresses in the log.",
    "quota": "Most bytes of entries one space may store (or --quota-mb).",
    "trusted_proxies": "A reverse proxy's address or network whose forwarded header names the "
    "client (repeat, or a list in the file or the environment).",
    "forwarded_header": "The header those proxies set: x-forwarded-for (default) or forwarded.",
    "invitation_cap": "Most bytes of invitations the relay holds at once.",
    "escrow_cap": "Most bytes of recovery escrows the relay holds.",
    "hello_deadline": "Seconds a new connection has to say hello before it is closed.",
    "connections_per_address": "Most sync connections open at once from one address.",
    "connections_per_network": "Most sync connections open at once from all the addresses of "
    "one network (an IPv6 /48; an IPv4 address alone) (default four addresses').",
    "connection_opens_per_minute": "Most sync connections one address may open a minute (its "
    "network four times as many); past it the relay answers 429 before any handshake.",
    "held_for_devices": "Most bytes the relay holds, all together, for devices that have not "
    "read them yet; past it the connection that waited longest is dropped (default 96 MiB).",
    "arriving_bytes": "Most bytes of large messages arriving from devices at once, all "
    "together; past it a device is told to send its next one later (default 64 MiB).",
    "http_requests_per_address": "Most other requests (pairing, invitations, escrows) in "
    "progress at once from one address.",
    "body_deadline": "Seconds a request's body has to arrive before it is refused.",
    "mailbox_bytes_per_address": "Most bytes of pairing messages one address may leave waiting.",
    "mailbox_waits_per_address": "Most pairing reads waiting at once from one address.",
    "mailbox_claims_per_address": "Most short codes one address may hold open at once.",
    "mailbox_bytes_per_network": "Most bytes of pairing messages all the addresses of one "
    "network (an IPv6 /48; an IPv4 address alone) may leave waiting (default eight addresses').",
    "mailbox_claims_per_network": "Most short codes all the addresses of one network may hold "
    "open at once (default four addresses').",
    "mailbox_posts_per_minute": "Most pairing messages one address may post a minute.",
    "mailbox_reads_per_minute": "Most pairing mailbox reads from one address a minute.",
    "invitation_posts_per_minute": "Most invitations one address may leave a minute.",
    "escrow_puts_per_minute": "Most recovery escrow writes from one address a minute.",
    "invitation_bytes_per_address": "Most bytes of invitations one address may leave waiting "
    "at once (default 64 KiB: dozens of invitations).",
    "escrow_bytes_per_address": "Most bytes of recovery escrows written from one address the "
    "relay holds at once (default four of the largest).",
    "invitation_bytes_per_network": "Most bytes of invitations all the addresses of one "
    "network (an IPv6 /48; an IPv4 address alone) may leave waiting (default eight addresses').",
    "escrow_bytes_per_network": "Most bytes of recovery escrows written from one network (an "
    "IPv6 /48; an IPv4 address alone) the relay holds at once (default eight addresses').",
    "escrow_days": "Days a recovery escrow nobody rewrites is kept (default 400, at least 60; "
    "devices rewrite theirs monthly); tend relay gc deletes it after that.",
    "creation_window": "Seconds over which --creations-per-address counts (default a day).",
    "admission": "Who may start a new journal here: anyone (open), or only a device that gives "
    "a one-time code from tend relay codes new, or the operator token (token).",
    "operator_token": "A secret (16 characters or more) that starts journals past every limit, "
    "for the operator's own devices (better given as TEND_RELAY_OPERATOR_TOKEN: flags show "
    "in ps).",
    "creations_per_address": "Most new journals one address may start per creation window "
    "(a day by default; 0: no limit).",
    "storage_cap": "Most bytes of entries all journals together may store (or --storage-cap-mb;"
    " default: no cap).",
    "metrics_token": "Let peers beyond loopback read /metrics with 'Authorization: Bearer "
    "TOKEN' (better given as TEND_RELAY_METRICS_TOKEN or in the file: flags show in ps).",
}


@click.group()
def relay() -> None:
    """Run a relay: a blind server that passes encrypted entries between devices."""


def _setting_option(setting: Setting) -> Callable[[Any], Any]:
    help_ = HELP.get(setting.name, f"Sets {setting.name}.") + f" Env {setting.env}."
    if setting.kind is bool:
        flag = setting.flag
        return click.option(f"{flag}/--no-{flag[2:]}", setting.name, default=None, help=help_)
    if "tuple" in str(setting.kind):
        return click.option(setting.flag, setting.name, multiple=True, metavar="ADDR", help=help_)
    metavar = {int: "N", float: "NUMBER"}.get(setting.kind, "TEXT")
    return click.option(setting.flag, setting.name, default=None, metavar=metavar, help=help_)


def _settings_options(command: Callable[..., None]) -> Callable[..., None]:
    from tend.sync.relay.settings import all_settings  # dataclasses only: no aiohttp

    for setting in reversed(all_settings()):
        command = _setting_option(setting)(command)
    return command


@relay.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="TEND_RELAY_CONFIG",
    help='A TOML file of settings, keyed by the flags\' names (tls_cert = "..."). Flags win '
    "over the environment (TEND_RELAY_HOST and the like), which wins over the file. Env "
    "TEND_RELAY_CONFIG.",
)
@click.option(
    "--quota-mb", type=click.IntRange(1), help="Most megabytes of entries one space may store."
)
@click.option(
    "--storage-cap-mb",
    type=click.IntRange(1),
    help="Most megabytes of entries all journals together may store (or --storage-cap).",
)
@_settings_options
def serve(
    config_file: Path | None, quota_mb: int | None, storage_cap_mb: int | None, **flags: object
) -> None:
    """Serve devices until stopped (Ctrl-C or SIGTERM shut down gracefully)."""
    from tend.sync.relay.app import serve as run_relay
    from tend.sync.relay.settings import load

    for megabytes, field in ((quota_mb, "quota"), (storage_cap_mb, "storage_cap")):
        if megabytes is not None and flags.get(field) is None:
            flags[field] = megabytes << 20
    settings, config = load(flags, os.environ, config_file)
    run_relay(settings, _store(settings.db), config, on_listening=_announce)


def _store(db: str | None) -> StoreSpec:
    """The store `db` names: a postgresql:// URL is PostgreSQL, anything else a SQLite file
    (by default in the platform's data directory)."""
    from tend.sync.relay.store_spec import SqliteSpec, parse_store_spec

    spec = parse_store_spec(db) if db else None
    if isinstance(spec, SqliteSpec) and spec.path.is_dir():
        raise UserError(f"the relay's database {spec.path} is a directory; name a file")
    return store_spec(spec)


relay.add_command(codes)
relay.add_command(spaces)
relay.add_command(gc)


def _announce(where: str) -> None:
    # One line on stdout, flushed: whoever started the relay waits for it to know it is up.
    click.echo(f"tend relay {where}")
