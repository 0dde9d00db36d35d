"""The relay process's log: one JSON object per line on stderr, whoever logs.

The relay's own lines (metrics.log_event and its siblings) are rendered from their fields,
showing ids and client addresses only when the operator asked for them. Lines from libraries
(aiohttp, asyncio) become the same kind of object, their text under "message", so a log
collector parses every line alike; a traceback goes under "trace", on the same line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection

from tend.sync.relay.metrics import RECORD, render


class JsonLines(logging.Formatter):
    def __init__(self, reveal: Collection[str]) -> None:
        super().__init__()
        self.reveal = tuple(reveal)

    def format(self, record: logging.LogRecord) -> str:
        own = getattr(record, RECORD, None)
        fields: dict[str, object] = dict(own) if own is not None else _foreign(record)
        if record.exc_info:
            fields["trace"] = self.formatException(record.exc_info)
        return render(fields, self.reveal)


def _foreign(record: logging.LogRecord) -> dict[str, object]:
    """A library's log record as the fields of a line."""
    return {
        "event": "log",
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": record.getMessage(),
    }


def log_to_stderr(reveal: Collection[str]) -> None:
    """Send every log line of this process to stderr as JSON, showing the kinds in `reveal`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(reveal))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
