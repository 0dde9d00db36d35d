"""What the relay tells its operator: counters for /metrics, and one JSON object per log line.

A log line names an event, the first 8 hex digits of the space id, codes, counts and durations:
never entry bytes, capabilities, keys, records, mailbox or invitation ids, locators or bodies,
and no DSN. Every part of the relay, its stores included, logs through the functions here, so
that rule is kept in one place.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from tend.sync.protocol import ErrorCode

logger = logging.getLogger("tend.relay")


def _line(event: str, space: bytes | None, fields: dict[str, object]) -> str:
    record: dict[str, object] = {"event": event}
    if space is not None:
        record["space"] = space.hex()[:8]
    record.update(fields)
    return json.dumps(record, separators=(",", ":"))


def log_event(event: str, space: bytes | None = None, **fields: object) -> None:
    """One JSON line. Callers pass counts, codes and durations: never entries or secrets."""
    logger.info(_line(event, space, fields))


def log_warning(event: str, **fields: object) -> None:
    """One JSON line about trouble the relay recovers from on its own (a lost connection)."""
    logger.warning(_line(event, None, fields))


def log_exception(event: str, error: BaseException) -> None:
    """One JSON line naming the exception's type, with its traceback: a relay bug, or a
    failure that stops part of the relay. Call from inside the `except` that caught it."""
    logger.exception(_line(event, None, {"error": type(error).__name__}))


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
