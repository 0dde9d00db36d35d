"""What the relay tells its operator: counters for /metrics, and one JSON object per log line.

A log line names an event, codes, counts and durations: never entry bytes, capabilities, keys,
records, locators or bodies, and no DSN. Three fields say who or what, and each is left out of
the line unless the operator asks for its kind (log_format.py; `--log-ids`, `--log-addresses`):
the space id and a mailbox or invitation id (ids), and the client's address (addresses). Every
part of the relay, its stores included, logs through the functions here, so that rule is kept
in one place.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from tend.sync.protocol import ErrorCode

logger = logging.getLogger("tend.relay")

# The fields that say who or what, and the kind of detail the operator asks for to see each.
IDS, ADDRESSES = "ids", "addresses"
REVEALED_BY = {"space": IDS, "mailbox": IDS, "peer": ADDRESSES}
RECORD = "tend_record"  # the LogRecord attribute holding a line's fields, for the formatter


def render(record: Mapping[str, object], reveal: Collection[str] = ()) -> str:
    """One JSON line of `record`, without the fields whose kind is not in `reveal`."""
    kept = {k: v for k, v in record.items() if REVEALED_BY.get(k, "") in (*reveal, "")}
    return json.dumps(kept, separators=(",", ":"), default=str)


def _log(level: int, event: str, space: bytes | None, fields: dict[str, object]) -> None:
    record: dict[str, object] = {"event": event}
    if space is not None:
        record["space"] = space.hex()
    record.update(fields)
    # The message is the line as shown by default; the formatter the relay's process installs
    # renders the record again with what the operator asked to see.
    exc_info = level >= logging.ERROR
    logger.log(level, render(record), extra={RECORD: record}, exc_info=exc_info)


def log_event(event: str, space: bytes | None = None, **fields: object) -> None:
    """One JSON line. Callers pass counts, codes and durations: never entries or secrets; a
    mailbox id as `mailbox`, a client address as `peer` (shown only when asked for)."""
    _log(logging.INFO, event, space, fields)


def log_detail(event: str, space: bytes | None = None, **fields: object) -> None:
    """A debug line, for a request a device may repeat as fast as it reads the answers (a
    fetch of key records): at the default level it is dropped before it is rendered, so such a
    loop cannot flood the log."""
    if logger.isEnabledFor(logging.DEBUG):
        _log(logging.DEBUG, event, space, fields)


def log_warning(event: str, **fields: object) -> None:
    """One JSON line about trouble the relay recovers from on its own (a lost connection)."""
    _log(logging.WARNING, event, None, fields)


def log_exception(event: str, error: BaseException) -> None:
    """One JSON line naming the exception's type, with its traceback: a relay bug, or a
    failure that stops part of the relay. Call from inside the `except` that caught it."""
    _log(logging.ERROR, event, None, {"error": type(error).__name__})


def ms_since(started: float) -> float:
    """Milliseconds since `started` (a time.monotonic() reading), for log lines."""
    return round((time.monotonic() - started) * 1000, 2)


@dataclass
class Metrics:
    frames_received: int = 0
    entries_stored: int = 0
    bytes_stored: int = 0
    entries_dropped: int = 0
    catchup_entries_sent: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def render(self, connections: int, mailboxes: int) -> str:
        """Prometheus text exposition format, version 0.0.4."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: dict[str, int]) -> None:
            lines.extend((f"# HELP {name} {help_}", f"# TYPE {name} {kind}"))
            lines.extend(f"{name}{labels} {value}" for labels, value in samples.items())

        metric("tend_relay_connections", "gauge", "Open sync websockets.", {"": connections})
        metric("tend_relay_mailboxes", "gauge", "Pairing mailboxes in memory.", {"": mailboxes})
        counters = {
            "frames_received": ("Frames received from devices.", self.frames_received),
            "entries_stored": ("Entries newly stored.", self.entries_stored),
            "bytes_stored": ("Bytes of entries newly stored.", self.bytes_stored),
            "entries_dropped": ("Entries dropped by repairs.", self.entries_dropped),
            "catchup_entries_sent": ("Entries sent in catch-up.", self.catchup_entries_sent),
        }
        for name, (help_, value) in counters.items():
            metric(f"tend_relay_{name}_total", "counter", help_, {"": value})
        errors = {f'{{code="{code.value}"}}': self.errors[code.value] for code in ErrorCode}
        metric("tend_relay_errors_total", "counter", "Error frames sent, by code.", errors)
        return "\n".join(lines) + "\n"
