"""Who is on the other end of a request, as far as per-address limits are concerned.

Every per-address limit (connections, space creation, mailbox budgets) asks this one function,
so that a relay behind a reverse proxy counts the proxy's clients, not the proxy.
"""

from __future__ import annotations

from aiohttp import web


def peer_address(request: web.Request) -> str:
    """The address a request came from: the socket's peer ("unknown" when it has none)."""
    return request.remote or "unknown"
