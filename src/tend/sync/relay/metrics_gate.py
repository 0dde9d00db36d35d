"""Who may read /metrics: this machine, or whoever shows the operator's bearer token.

The counters say how busy the relay is and when, which is nobody else's business. "This
machine" is the socket's own peer on loopback, never a forwarded header, and never a trusted
proxy: a proxy on loopback passes the internet's requests along, so through it the token is
needed as from anywhere else.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from tend.sync.relay.app_keys import CONFIG
from tend.sync.relay.peer import is_loopback, is_trusted, normal_address, proxy_networks


def may_read_metrics(request: web.Request) -> bool:
    config = request.app[CONFIG]
    if config.metrics_token is not None and bearer_matches(request, config.metrics_token):
        return True
    return is_local(request, config.trusted_proxies)


def is_local(request: web.Request, trusted_proxies: tuple[str, ...]) -> bool:
    """The socket's peer is on loopback and is not a proxy forwarding someone else."""
    peer = normal_address(request.remote or "")
    return is_loopback(peer) and not is_trusted(peer, proxy_networks(trusted_proxies))


def bearer_matches(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Compared in constant time, so how long an answer takes says nothing about the token.
    return hmac.compare_digest(given.strip().encode(), token.encode())
