"""One log line a second, not a traceback a connection, when the relay runs out of descriptors.

At its file-descriptor limit asyncio's accept loop reports "socket.accept() out of system
resource" to the loop's exception handler for every connection waiting in the backlog, and
again at each retry: the default handler writes each with a traceback, which filled 100 MB of
log in 40 s under a flood. The handler installed here writes one JSON line a second at most,
counting what it left out, and hands every other report to the handler it replaced.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tend.sync.relay.metrics import log_warning

OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
INTERVAL = 1.0  # seconds between two lines about it

Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class AcceptErrors:
    """A loop exception handler that rate-limits the accept loop's out-of-resource reports."""

    def __init__(self, fallback: Handler | None, clock: Callable[[], float] = time.monotonic):
        self._fallback = fallback
        self._clock = clock
        self._last = -INTERVAL
        self._suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if _retry_after_close(context):
            return
        if not (isinstance(error, OSError) and error.errno in OUT_OF_RESOURCES):
            self._pass_on(loop, context)
            return
        now = self._clock()
        if now - self._last < INTERVAL:
            self._suppressed += 1
            return
        name = errno.errorcode.get(error.errno or 0, "?")
        log_warning("accept.failed", error=name, suppressed=self._suppressed)
        self._last, self._suppressed = now, 0

    def _pass_on(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if self._fallback is None:
            loop.default_exception_handler(context)
        else:
            self._fallback(loop, context)


def _retry_after_close(context: dict[str, Any]) -> bool:
    """Whether this is asyncio's accept retry, scheduled a second after a failure, firing once
    the listening socket is already closed (the relay was shutting down): harmless, and it
    would otherwise end a shutdown at the descriptor limit with a traceback per listener."""
    callback = getattr(context.get("handle"), "_callback", None)
    return (
        isinstance(context.get("exception"), ValueError)
        and getattr(callback, "__name__", "") == "_start_serving"
    )


async def quiet_accept_errors(_app: web.Application) -> None:
    """on_startup: install the handler on the loop that serves the relay."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(AcceptErrors(loop.get_exception_handler()))
