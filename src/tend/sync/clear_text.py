"""Whether a relay address may be reached without TLS: the one check every connection passes.

A relay address carries no secret, but what travels to it does: the space's capability in the
sync Hello, pairing mailbox ids, recovery locators. Over plain http:// or ws:// anyone on the
path reads them. So the device side refuses a plain address unless it names this machine
(127.0.0.0/8, ::1, "localhost"), where nothing crosses a network, or the person said so
explicitly (`tend --insecure`, which calls `allow_clear_text`).

transport.py calls `refuse_clear_text` before every websocket and HTTP request, so no path that
takes a relay address (sync, pairing, recovery, the page) can skip it, and the refusal comes
before any name is resolved or any socket opened.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tend.core.errors import NextStep, UserError
from tend.core.trust.loopback import is_loopback_host

PLAIN_SCHEMES = ("http", "ws")


class _Policy:
    allowed = False  # set once, by the command's --insecure, before anything connects


def allow_clear_text(allowed: bool = True) -> None:
    """Let plain http:// and ws:// reach any host, for this process (`tend --insecure`)."""
    _Policy.allowed = allowed


def refuse_clear_text(url: str) -> None:
    """A UserError if `url` would reach another machine in the clear and that was not allowed."""
    parts = urlsplit(url)
    if _Policy.allowed or parts.scheme.lower() not in PLAIN_SCHEMES:
        return
    if is_loopback_host(parts.hostname or ""):
        return
    raise UserError(
        f"refusing to reach the relay at {parts.scheme}://{parts.netloc} without TLS: "
        "its capability would travel in clear",
        next_step=NextStep.USE_TLS,
    )
