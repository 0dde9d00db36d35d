"""How the device side reaches a relay: one interface for a sync connection, the websocket
behind it, an in-memory pipe, and the one place network failures become tend's.

The sync client (sync/client.py) speaks the protocol over a `Transport`: whole messages out
(`send`), whole messages in (`receive`, which raises RelayUnavailable once the other side has
closed), and `close`. It never sees the websocket library. `WebSocketTransport` is that interface
over one websocket to the relay's /v1/sync, opened by a `WebSocketDialer` with the `websockets`
library; `pipe()` is a pair of ends joined in memory, so the client and the relay's own session
logic can be run against each other without a socket (as h11's ConnectionPair and httpx's
MockTransport do).

The sync websocket uses `websockets`, not aiohttp: every `tend sync` is a new process, and
aiohttp's client takes several times as long to import as the rest of a sync with nothing new.
aiohttp stays for the plain HTTP requests (the drop boxes of sync/mailbox.py, through
`http_request`), imported only when one is made.

Before any connection, clear_text.py decides whether the address may be reached without TLS.
Every client-side network call, websocket or HTTP, runs inside `network_errors`: whatever the
websocket, aiohttp or the socket under them raises (a refused connection, a reset, a timeout)
leaves this module as one RelayUnavailable with a one-line message, raised `from` the original.
Nothing else on the device side imports either library.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from tend.core.errors import NextStep, TendError
from tend.sync import protocol as p
from tend.sync.clear_text import refuse_clear_text

if TYPE_CHECKING:
    import aiohttp

# The library logs what it did not expect (a frame its parser choked on) with a traceback; with
# no handler of the person's own that would reach the terminal. What a person sees is the one
# RelayUnavailable line; a process that configures logging still gets the library's records.
logging.getLogger("websockets").addHandler(logging.NullHandler())

CONNECT_SECONDS = 10  # to open a connection; an open sync connection has no deadline
MAX_QUEUE = 4  # frames read ahead of the device (the library's default is 16)
HEARTBEAT = 20.0  # websocket ping interval (a pong may take half of it): a silent relay is noticed
CLOSE_SECONDS = 5.0  # for the relay to answer a close before the socket is dropped
READ_CHUNK = 1 << 16
CLOSED = "the relay closed the connection"
REDIRECTS = (300, 301, 302, 303, 307, 308)

# What the websocket library, and the socket under it, raise when a relay cannot be reached or
# goes away (asyncio's TimeoutError is this one since Python 3.11; an untrusted certificate is an
# OSError). aiohttp's own errors join them once aiohttp is loaded (`network_error_types`).
TOO_MANY_REQUESTS = 429
NETWORK_ERRORS: tuple[type[Exception], ...] = (TimeoutError, WebSocketException, OSError)


class RelayUnavailable(TendError):
    """The relay could not be reached or went away; nothing was lost (exit 1)."""


class RelayRefused(TendError):
    """The relay answered with an error frame (exit 1)."""


def network_error_types() -> tuple[type[Exception], ...]:
    """NETWORK_ERRORS, with aiohttp's when it is loaded: it raises nothing before it is."""
    aiohttp = sys.modules.get("aiohttp")
    return NETWORK_ERRORS if aiohttp is None else (*NETWORK_ERRORS, aiohttp.ClientError)


@contextmanager
def network_errors(
    say: Callable[[Exception], str], next_step: NextStep | None = None
) -> Iterator[None]:
    """Inside, a network failure becomes RelayUnavailable(say(failure)), raised from it."""
    try:
        yield
    except Exception as e:
        if not isinstance(e, network_error_types()):
            raise
        raise RelayUnavailable(say(e), next_step=next_step) from e


def cannot_reach(relay: str, e: Exception) -> str:
    error = getattr(e, "certificate_error", e)  # aiohttp wraps the ssl module's error
    if isinstance(error, ssl.SSLCertVerificationError):
        return untrusted_certificate(relay, error)
    if isinstance(e, InvalidStatus) and e.response.status_code == TOO_MANY_REQUESTS:
        # The relay's bound on connections opened a minute from this address (a storm of
        # reconnections, or many devices behind one address): later, it takes us again.
        return f"the relay at {relay} is busy with connections from this address"
    return f"cannot reach the relay at {relay} ({type(e).__name__})"


def untrusted_certificate(relay: str, error: ssl.SSLCertVerificationError) -> str:
    # The standard SSL_CERT_FILE is read by the default context both libraries build (OpenSSL's
    # default verify paths), so a relay with its own authority needs nothing of tend's own.
    why = getattr(error, "verify_message", None) or type(error).__name__
    return (
        f"the relay at {relay} showed a certificate this device does not trust ({why}); "
        "if its authority is your own, set SSL_CERT_FILE to that authority's certificate"
    )


def went_away(relay: str) -> str:
    return f"the relay at {relay} went away mid-sync"  # the next step: sync again


def sync_url(base: str) -> str:
    """The websocket address of the relay's /v1/sync (ws:// for http://, wss:// for https://)."""
    url = base.rstrip("/") + "/v1/sync"
    scheme, sep, rest = url.partition("://")
    return {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme) + sep + rest


def redirect_refused(origin: str) -> RelayRefused:
    return RelayRefused(
        f"the relay at {origin} answered with a redirect; tend does not follow one (give the "
        "relay's own address)"
    )


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
    """A Transport over one websocket: the only user of the websocket library's connection."""

    def __init__(self, ws: ClientConnection, relay: str) -> None:
        self._ws = ws
        self._relay = relay

    async def send(self, data: bytes) -> None:
        with network_errors(lambda _e: went_away(self._relay), NextStep.SYNC_AGAIN):
            await self._ws.send(data)

    async def receive(self) -> bytes:
        try:
            message = await self._ws.recv()
        except ConnectionClosed:  # a close, a dropped link, a missed pong, an oversized frame
            raise RelayUnavailable(CLOSED) from None
        except Exception as e:
            if not isinstance(e, NETWORK_ERRORS):
                raise
            raise RelayUnavailable(went_away(self._relay), next_step=NextStep.SYNC_AGAIN) from e
        if not isinstance(message, bytes):  # text is no protocol message
            raise RelayUnavailable(CLOSED)
        return message

    async def close(self) -> None:
        try:  # closing what is already gone leaves it closed
            await self._ws.close()
        except Exception as e:
            if not isinstance(e, NETWORK_ERRORS):
                raise


class _ConnectWithoutRedirects(websocket_connect):
    """The library's connect, refusing every redirect before it is followed: the clear-text
    rule is checked on the address asked for, and a relay (or whatever answers for it) must not
    send a device, its capability or its pairing messages on to another address, perhaps in
    clear."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        if isinstance(exc, InvalidStatus) and exc.response.status_code in REDIRECTS:
            asked = self.ws_uri
            return redirect_refused(
                f"{'https' if asked.secure else 'http'}://{asked.host}:{asked.port}"
            )
        return exc


class WebSocketDialer:
    """Sync connections to the relay at `relay` (`async with`, then `connect` as often as
    needed)."""

    def __init__(self, relay: str) -> None:
        self.relay = relay
        self._open = False

    async def __aenter__(self) -> WebSocketDialer:
        self._open = True
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._open = False

    async def connect(self) -> WebSocketTransport:
        if not self._open:
            raise RuntimeError("open the dialer with `async with` first")
        refuse_clear_text(self.relay)  # before any name is resolved
        with network_errors(
            lambda e: cannot_reach(self.relay, e) + "; everything is kept here and will sync later"
        ):
            ws = await _ConnectWithoutRedirects(
                sync_url(self.relay),
                max_size=p.MAX_FRAME_BYTES,  # a hostile relay cannot make us read more at once
                # Frames read ahead while the device works on one: a few, so that a relay
                # cannot fill the device's memory with them (at most MAX_QUEUE x 4 MiB).
                max_queue=MAX_QUEUE,
                compression=None,  # what travels is sealed: it does not compress
                proxy=None,  # as aiohttp's client: no proxy taken from the environment
                open_timeout=CONNECT_SECONDS,
                ping_interval=HEARTBEAT,
                ping_timeout=HEARTBEAT / 2,
                close_timeout=CLOSE_SECONDS,
            )
        return WebSocketTransport(ws, self.relay)


# --- plain HTTP (the drop boxes) -----------------------------------------------------------------


def no_redirects() -> aiohttp.TraceConfig:
    """An aiohttp session hook that refuses every redirect before it is followed (as
    `_ConnectWithoutRedirects` does for the websocket)."""
    import aiohttp

    async def refuse(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestRedirectParams,
    ) -> None:
        raise redirect_refused(str(params.url.origin()))

    config = aiohttp.TraceConfig()
    config.on_request_redirect.append(refuse)
    return config


@asynccontextmanager
async def http_request(
    relay: str, method: str, url: str, timeout: float, **options: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request to the relay, its answer read inside; failures on the way, the body's
    included, are RelayUnavailable. A plain address to another machine is refused first."""
    refuse_clear_text(url)
    import aiohttp  # here: a sync makes no plain request, and aiohttp is slow to import

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
