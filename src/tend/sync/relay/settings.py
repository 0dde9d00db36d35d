"""Where `tend relay serve` gets its settings: flags, the environment, a TOML file, defaults.

Every setting is a field, either of ServeSettings (how the process runs: where it listens,
its store, TLS, what its log shows) or of RelayConfig (what the relay does, config.py). The
names, types and defaults are read off those dataclasses, so a field added to either is at
once a TOML key (`quota = 1048576`), an environment variable (TEND_RELAY_QUOTA) and a flag
(--quota), each parsed and checked the same way. Flags win over the environment, which wins
over the file, which wins over the defaults. A key the file does not know, or a value that
does not fit its field, is one line naming the key and where it came from.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tend.core.errors import UserError
from tend.sync.protocol import MAX_FRAME_BYTES
from tend.sync.relay.config import MIN_ESCROW_DAYS, RelayConfig
from tend.sync.relay.peer import FORWARDED_HEADERS, proxy_networks

ENV_PREFIX = "TEND_RELAY_"
FLAG_NAMES = {"trusted_proxies": "--trusted-proxy"}  # a repeated flag names one at a time


@dataclass(frozen=True)
class ServeSettings:
    """How the relay's process runs, beside what the relay does (RelayConfig)."""

    host: str = "127.0.0.1"  # the address to listen on
    port: int = 8765
    db: str | None = None  # a SQLite file or a postgresql:// DSN; None: the data directory
    tls_cert: str | None = None  # a PEM certificate chain: the relay terminates TLS itself
    tls_key: str | None = None  # its private key, in PEM
    log_ids: bool = False  # show space, mailbox and invitation ids in the log
    log_addresses: bool = False  # show clients' addresses in the log


class SettingError(UserError):
    """A setting the relay cannot take: an unknown key, or a value that does not fit."""


@dataclass(frozen=True)
class Setting:
    name: str  # the field's name: the TOML key
    kind: Any  # the field's type
    owner: type[Any]  # ServeSettings or RelayConfig

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return FLAG_NAMES.get(self.name, "--" + self.name.replace("_", "-"))


def all_settings() -> list[Setting]:
    found: list[Setting] = []
    for owner in (ServeSettings, RelayConfig):
        hints = typing.get_type_hints(owner)
        found += [Setting(f.name, hints[f.name], owner) for f in dataclasses.fields(owner)]
    return found


def load(
    flags: Mapping[str, object], environ: Mapping[str, str], file: Path | None
) -> tuple[ServeSettings, RelayConfig]:
    """The settings, each from its flag (None: not given), else its environment variable,
    else `file`, else its default. SettingError names the first key that does not fit."""
    chosen: dict[str, object] = {}
    for setting, value, source in _given(flags, environ, file):
        chosen[setting.name] = check(setting, convert(setting, value, source), source)
    serve = ServeSettings(**_fields_of(ServeSettings, chosen))
    relay = RelayConfig(**_fields_of(RelayConfig, chosen))
    if (serve.tls_cert is None) != (serve.tls_key is None):
        raise SettingError("tls_cert and tls_key go together: give both, or neither")
    _check_network_budgets(relay)
    if relay.arriving_bytes < MAX_FRAME_BYTES:
        raise SettingError(
            f"relay setting arriving_bytes ({relay.arriving_bytes}) is less than one message "
            f"may be ({MAX_FRAME_BYTES}): no device could send its largest"
        )
    return serve, relay


def _check_network_budgets(relay: RelayConfig) -> None:
    """A wider network holds at least one household's budget: an IPv4 network is one household,
    so a smaller one would quietly shrink every IPv4 household's budget."""
    kinds = ("invitation_bytes", "escrow_bytes", "mailbox_bytes", "mailbox_claims", "connections")
    for kind in kinds:
        network = getattr(relay, f"{kind}_per_network")
        household = getattr(relay, f"{kind}_per_address")
        if network < household:
            raise SettingError(
                f"relay setting {kind}_per_network ({network}) is less than "
                f"{kind}_per_address ({household}): a network holds at least one household"
            )


def _fields_of(owner: type[Any], chosen: Mapping[str, object]) -> dict[str, Any]:
    return {s.name: chosen[s.name] for s in all_settings() if s.owner is owner}


def _given(
    flags: Mapping[str, object], environ: Mapping[str, str], file: Path | None
) -> Iterator[tuple[Setting, object, str]]:
    """Each setting's value and where it came from, by precedence."""
    from_file = read_file(file) if file is not None else {}
    for setting in all_settings():
        flag = flags.get(setting.name)
        if flag is not None and flag != ():
            yield setting, flag, setting.flag
        elif setting.env in environ:
            yield setting, environ[setting.env], setting.env
        elif setting.name in from_file:
            yield setting, from_file[setting.name], f"{file}"
        else:
            yield setting, _default(setting), "the default"


def _default(setting: Setting) -> object:
    field = next(f for f in dataclasses.fields(setting.owner) if f.name == setting.name)
    return field.default


def read_file(path: Path) -> dict[str, object]:
    """A TOML file's settings, by field name ("tls-cert" and "tls_cert" alike)."""
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except OSError as e:
        raise SettingError(f"cannot read the relay's settings file {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise SettingError(f"the relay's settings file {path} is not TOML: {e}") from e
    known = {s.name for s in all_settings()}
    settings = {key.replace("-", "_"): value for key, value in table.items()}
    for key in table:
        if key.replace("-", "_") not in known:
            raise SettingError(f"unknown key {key!r} in {path} (known: {', '.join(sorted(known))})")
    return settings


# --- values ----------------------------------------------------------------------------------

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def convert(setting: Setting, value: object, source: str) -> object:
    """`value` (a string from the environment or a flag, or a TOML value) as the field's type."""
    try:
        return _as(setting.kind, value)
    except (TypeError, ValueError) as e:
        raise SettingError(f"relay setting {setting.name} (from {source}): {e}") from None


def _as(kind: Any, value: object) -> object:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None or value == "":
            return None
        (inner,) = [k for k in typing.get_args(kind) if k is not type(None)]
        return _as(inner, value)
    if typing.get_origin(kind) is tuple:
        (item, _) = typing.get_args(kind)
        items = re.split(r"[,\s]+", value.strip()) if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise TypeError(f"{value!r} is not a list")
        return tuple(_as(item, v) for v in items if v != "")
    return _scalar(kind, value)


def _scalar(kind: Any, value: object) -> object:
    if typing.get_origin(kind) is typing.Literal:
        return _choice(kind, value)
    if kind is float:
        return _number(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (*_TRUE, *_FALSE):
            return value.lower() in _TRUE
        raise ValueError(f"{value!r} is not true or false")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"{value!r} is not a whole number")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not a string")
        return value
    raise TypeError(f"no reading for a setting of type {kind!r}")


def _choice(kind: Any, value: object) -> object:
    if value not in typing.get_args(kind):
        choices = ", ".join(str(c) for c in typing.get_args(kind))
        raise ValueError(f"{value!r} is not one of {choices}")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None


# --- checks beyond the type ------------------------------------------------------------------


def _port(value: object) -> None:
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{value!r} is not a port (1 to 65535)")


def _proxies(value: object) -> None:
    proxy_networks(tuple(value) if isinstance(value, tuple) else ())


def _header(value: object) -> None:
    if value not in FORWARDED_HEADERS:
        raise ValueError(f"{value!r} is not one of {', '.join(FORWARDED_HEADERS)}")


def _token(value: object) -> None:
    if isinstance(value, str) and 0 < len(value) < 16:
        raise ValueError("an operator token is at least 16 characters")


def _escrow_days(value: object) -> None:
    if isinstance(value, int) and value < MIN_ESCROW_DAYS:
        raise ValueError(
            f"{value} days is too short: a device rewrites its escrow every 30 days, so keep "
            f"escrows at least {MIN_ESCROW_DAYS} days"
        )


CHECKS: dict[str, Callable[[object], None]] = {
    "escrow_days": _escrow_days,
    "operator_token": _token,
    "port": _port,
    "trusted_proxies": _proxies,
    "forwarded_header": _header,
}


def check(setting: Setting, value: object, source: str) -> object:
    """`value` if it is a sensible value for `setting`: no negative sizes, a port, networks."""
    try:
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{value!r} is negative")
        if setting.name in CHECKS:
            CHECKS[setting.name](value)
    except ValueError as e:
        raise SettingError(f"relay setting {setting.name} (from {source}): {e}") from None
    return value
