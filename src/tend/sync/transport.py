"""How the device side reaches a relay: one interface for a sync connection, the aiohttp
websocket behind it, an in-memory pipe, and the one place aiohttp's failures become tend's.

The sync client (sync/client.py) speaks the protocol over a `Transport`: whole messages out
(`send`), whole messages in (`receive`, which raises RelayUnavailable once the other side has
closed), and `close`. It never sees aiohttp. `WebSocketTransport` is that interface over one
websocket to the relay's /v1/sync, opened by a `WebSocketDialer`; `pipe()` is a pair of ends
joined in memory, so the client and the relay's own session logic can be run against each other
without a socket (as h11's ConnectionPair and httpx's MockTransport do).

Before any connection, clear_text.py decides whether the address may be reached without TLS.
Every client-side network call, websocket or HTTP (the drop boxes of sync/mailbox.py, through
`http_request`), runs inside `network_errors`: whatever aiohttp or the socket under it raises (a
refused connection, a reset, a timeout) leaves this module as one RelayUnavailable with a
one-line message, raised `from` the original. Nothing else on the device side imports aiohttp.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, Protocol

import aiohttp

from tend.core.errors import NextStep, TendError
from tend.sync import protocol as p
from tend.sync.clear_text import refuse_clear_text

CONNECT_SECONDS = 10  # to open a connection; an open sync connection has no deadline
HEARTBEAT = 20.0  # websocket ping interval: a relay that went silent is noticed
READ_CHUNK = 1 << 16
CLOSED = "the relay closed the connection"

# What aiohttp, and the socket under it, raise when a relay cannot be reached or goes away
# (asyncio's TimeoutError is this one since Python 3.11).
NETWORK_ERRORS: tuple[type[Exception], ...] = (TimeoutError, aiohttp.ClientError, OSError)


class RelayUnavailable(TendError):
    """The relay could not be reached or went away; nothing was lost (exit 1)."""


class RelayRefused(TendError):
    """The relay answered with an error frame (exit 1)."""


@contextmanager
def network_errors(
    say: Callable[[Exception], str], next_step: NextStep | None = None
) -> Iterator[None]:
    """Inside, a network failure becomes RelayUnavailable(say(failure)), raised from it."""
    try:
        yield
    except NETWORK_ERRORS as e:
        raise RelayUnavailable(say(e), next_step=next_step) from e


def cannot_reach(relay: str, e: Exception) -> str:
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        return untrusted_certificate(relay, e)
    return f"cannot reach the relay at {relay} ({type(e).__name__})"


def untrusted_certificate(relay: str, e: aiohttp.ClientConnectorCertificateError) -> str:
    # The standard SSL_CERT_FILE is read by the default context aiohttp builds (OpenSSL's
    # default verify paths), so a relay with its own authority needs nothing of tend's own.
    error = e.certificate_error
    why = getattr(error, "verify_message", None) or type(error).__name__
    return (
        f"the relay at {relay} showed a certificate this device does not trust ({why}); "
        "if its authority is your own, set SSL_CERT_FILE to that authority's certificate"
    )


def went_away(relay: str) -> str:
    return f"the relay at {relay} went away mid-sync"  # the next step: sync again


def sync_url(base: str) -> str:
    return base.rstrip("/") + "/v1/sync"


class Transport(Protocol):
    """One sync connection to a relay: whole protocol messages, in order, each way."""

    async def send(self, data: bytes) -> None:
        """Send one message; RelayUnavailable if the connection is gone."""
        ...

    async def receive(self) -> bytes:
        """The next message; RelayUnavailable once the relay has closed the connection."""
        ...

    async def close(self) -> None:
        """Close the connection. Never raises: a connection that is gone is closed."""
        ...


# --- the websocket -------------------------------------------------------------------------------


class WebSocketTransport:
    """A Transport over one aiohttp websocket: the only user of aiohttp's websocket API."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, relay: str) -> None:
        self._ws = ws
        self._relay = relay

    async def send(self, data: bytes) -> None:
        with network_errors(lambda _e: went_away(self._relay), NextStep.SYNC_AGAIN):
            await self._ws.send_bytes(data)

    async def receive(self) -> bytes:
        with network_errors(lambda _e: went_away(self._relay), NextStep.SYNC_AGAIN):
            message = await self._ws.receive()
        if message.type != aiohttp.WSMsgType.BINARY:  # a close, a dropped link, or text
            raise RelayUnavailable(CLOSED)
        data: bytes = message.data
        return data

    async def close(self) -> None:
        with suppress(*NETWORK_ERRORS):  # closing what is already gone leaves it closed
            await self._ws.close()


class WebSocketDialer:
    """Sync connections to the relay at `relay`, over one aiohttp session (`async with`)."""

    def __init__(self, relay: str) -> None:
        self.relay = relay
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebSocketDialer:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS)
        self._http = aiohttp.ClientSession(timeout=timeout, trace_configs=[no_redirects()])
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def connect(self) -> WebSocketTransport:
        if self._http is None:
            raise RuntimeError("open the dialer with `async with` first")
        refuse_clear_text(self.relay)  # before any name is resolved
        with network_errors(
            lambda e: cannot_reach(self.relay, e) + "; everything is kept here and will sync later"
        ):
            ws = await self._http.ws_connect(
                sync_url(self.relay), max_msg_size=p.MAX_FRAME_BYTES, heartbeat=HEARTBEAT
            )
        return WebSocketTransport(ws, self.relay)


def no_redirects() -> aiohttp.TraceConfig:
    """A session hook that refuses every redirect before it is followed: the clear-text rule
    is checked on the address asked for, and a relay (or whatever answers for it) must not send
    a device, its capability or its pairing messages on to another address, perhaps in clear."""

    async def refuse(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestRedirectParams,
    ) -> None:
        raise RelayRefused(
            f"the relay at {params.url.origin()} answered with a redirect; tend does not follow "
            "one (give the relay's own address)"
        )

    config = aiohttp.TraceConfig()
    config.on_request_redirect.append(refuse)
    return config


# --- plain HTTP (the drop boxes) -----------------------------------------------------------------


@asynccontextmanager
async def http_request(
    relay: str, method: str, url: str, timeout: float, **options: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request to the relay, its answer read inside; failures on the way, the body's
    included, are RelayUnavailable. A plain address to another machine is refused first."""
    refuse_clear_text(url)
    with network_errors(lambda e: cannot_reach(relay, e)):
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), trace_configs=[no_redirects()]
            ) as http,
            http.request(method, url, **options) as response,
        ):
            yield response


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The answer's body, refused past `limit` bytes (a relay cannot make us hold more)."""
    too_long = RelayUnavailable(f"the relay answered with more than {limit} bytes")
    if response.content_length is not None and response.content_length > limit:
        raise too_long
    body = bytearray()
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise too_long
    return bytes(body)


# --- in memory -----------------------------------------------------------------------------------


class PipeEnd:
    """One end of an in-memory pipe, a Transport: what one end sends the other receives, in
    order. Closing either end closes both, as a dropped connection would."""

    def __init__(self) -> None:
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()  # None: closed
        self._peer: PipeEnd = self
        self.closed = False

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise RelayUnavailable(CLOSED)
        self._peer._inbox.put_nowait(bytes(data))

    async def receive(self) -> bytes:
        data = await self._inbox.get()
        if data is None:
            self._inbox.put_nowait(None)  # every later receive sees the close as well
            raise RelayUnavailable(CLOSED)
        return data

    async def close(self) -> None:
        for end in (self, self._peer):
            if not end.closed:
                end.closed = True
                end._inbox.put_nowait(None)


def pipe() -> tuple[PipeEnd, PipeEnd]:
    """Two ends joined in memory: (the device's, the relay's)."""
    device, relay = PipeEnd(), PipeEnd()
    device._peer, relay._peer = relay, device
    return device, relay
