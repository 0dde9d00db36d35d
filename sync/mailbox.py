"""Pairing mailboxes on the relay: single-use drop boxes for sealed invitation messages.

The relay keeps them in memory only, for at most ten minutes, and hands each message out once.
Mailbox ids and contents come from core/pairing.py: derived from the invite code and sealed, so
the relay learns neither the code nor anything it protects.
"""

from __future__ import annotations

import aiohttp

from tend.sync.client import RelayUnavailable

MAX_WAIT = 60


def _url(relay: str, box: str) -> str:
    return f"{relay.rstrip('/')}/v1/mailbox/{box}"


async def put(relay: str, box: str, data: bytes, ttl: int = 600) -> None:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(_url(relay, box), data=data, params={"ttl": str(ttl)}) as response,
        ):
            if response.status >= 300:
                raise RelayUnavailable(f"the relay did not take the invitation ({response.status})")
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        raise RelayUnavailable(f"cannot reach the relay at {relay} ({type(e).__name__})") from e


async def take(relay: str, box: str, wait: int) -> bytes | None:
    """The next message in the mailbox, waiting up to `wait` seconds; None if none came."""
    timeout = aiohttp.ClientTimeout(total=min(wait, MAX_WAIT) + 15)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(_url(relay, box), params={"wait": str(min(wait, MAX_WAIT))}) as response,
        ):
            if response.status == 404:
                return None
            if response.status != 200:
                raise RelayUnavailable(f"the relay answered {response.status} for a mailbox")
            return await response.read()
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        raise RelayUnavailable(f"cannot reach the relay at {relay} ({type(e).__name__})") from e
