"""The relay as an aiohttp application, and the process that serves it.

`make_app` builds the app from an explicit StoreSpec (store_spec.py): the services go under
typed keys (app_keys.py); the store opens in a cleanup_ctx on startup and closes on cleanup,
and when other instances share it (fanout.SharedStore) a task follows their commits for as long
as the store is open. On shutdown every pairing reader is woken and every device is told the
relay is going away, then its websocket is closed with 1001 (GOING_AWAY).

Routes: GET /v1/sync, one websocket per device (session.py); /healthz; /metrics (Prometheus
text, for loopback or the operator's token: metrics_gate.py); and the pairing and recovery
routes (pairing_routes.py). Every other request than a websocket's counts against its address
while it is handled (`_bounded_requests`: long polls and slow bodies cannot be held by the
thousand); a websocket counts against its own cap for as long as it is open.

`serve` (run_app) is called only from the CLI; tests build the app with `make_app`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress

from aiohttp import WSCloseCode, web

from tend.sync.protocol import Error, ErrorCode, encode
from tend.sync.relay.accept_errors import quiet_accept_errors
from tend.sync.relay.admission import Activity, Gate
from tend.sync.relay.app_keys import (
    ACTIVITY,
    ARRIVING,
    CONFIG,
    HUB,
    LIMITS,
    MAILBOXES,
    METRICS,
    QUEUED,
    STORE,
)
from tend.sync.relay.arriving import Arriving
from tend.sync.relay.config import RelayConfig
from tend.sync.relay.fanout import Hub, SharedStore
from tend.sync.relay.first_frame import (
    SyncSocket,
    WholeMessages,
    close_without_handshake,
    guard_messages,
    raise_limit,
)
from tend.sync.relay.heap import fix_mmap_threshold
from tend.sync.relay.log_format import log_to_stderr
from tend.sync.relay.mailboxes import Mailboxes
from tend.sync.relay.metrics import ADDRESSES, IDS, Metrics, log_event, log_warning, ms_since
from tend.sync.relay.metrics_gate import may_read_metrics
from tend.sync.relay.pairing_routes import MAX_BODY, add_pairing_routes
from tend.sync.relay.peer import (
    counted_as,
    is_loopback,
    peer_address,
    peer_household,
    peer_network,
)
from tend.sync.relay.peer_limits import PeerLimits
from tend.sync.relay.queued import Queued
from tend.sync.relay.session import CLOSE_TIMEOUT, Session
from tend.sync.relay.settings import ServeSettings
from tend.sync.relay.store import Caps, RelayStore
from tend.sync.relay.store_spec import StoreSpec
from tend.sync.relay.tls import server_context

HEARTBEAT = 30.0  # websocket ping interval; a silent peer is dropped
SYNC_PATH = "/v1/sync"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(store: StoreSpec, config: RelayConfig | None = None) -> web.Application:
    """The relay as an aiohttp Application, keeping its store where `store` says, with the
    operator's settings in `config` (the defaults when None)."""
    config = config or RelayConfig()
    # client_max_size bounds every HTTP body; each handler that reads one bounds it tighter.
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_bounded_requests])
    app[HUB] = Hub[Session]()
    app[METRICS] = Metrics()
    app[MAILBOXES] = Mailboxes(
        address_budget=config.mailbox_bytes_per_address,
        claims_per_address=config.mailbox_claims_per_address,
        network_budget=config.mailbox_bytes_per_network,
        claims_per_network=config.mailbox_claims_per_network,
    )
    app[CONFIG] = config
    app[LIMITS] = PeerLimits(config)
    app[ACTIVITY] = Activity()
    app[QUEUED] = Queued(relay=config.held_for_devices)
    app[ARRIVING] = Arriving(relay=config.arriving_bytes)
    caps = Caps(config.invitation_cap, config.escrow_cap, config.storage_cap)
    app.cleanup_ctx.append(_store_context(store, config.quota, caps))
    app.on_shutdown.append(_close_sockets)
    app.router.add_get(SYNC_PATH, handle_sync)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/metrics", handle_metrics)
    add_pairing_routes(app.router)
    return app


@web.middleware
async def _bounded_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each HTTP request counts against its address from its headers until its handler has
    answered: past the cap, 429 at once (its body unread, the connection closed)."""
    if request.path == SYNC_PATH:  # a websocket, counted for as long as it is open
        return await handler(request)
    counts, address = request.app[LIMITS].requests, peer_household(request)
    if not counts.take(address):
        log_event("address.limited", reason="http requests")
        refusal = web.HTTPTooManyRequests(
            text="too many requests in progress from this address; try again later"
        )
        refusal.force_close()
        raise refusal
    try:
        return await handler(request)
    finally:
        counts.give_back(address)


SWITCH_INTERVAL = 0.001  # seconds a thread runs before the GIL passes to another


def _store_context(
    spec: StoreSpec, quota: int, caps: Caps
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        store = await spec.open(quota=quota, caps=caps)
        app[STORE] = store
        follower = _follow_other_instances(app[HUB], store)
        log_event(
            "relay.started",
            quota=quota,
            invitation_cap=caps.invitations,
            escrow_cap=caps.escrows,
            storage_cap=caps.storage,
            store=type(store).__name__,
        )
        yield
        if follower is not None:
            follower.cancel()
            with suppress(asyncio.CancelledError):
                await follower
        await store.close()
        log_event("relay.stopped")

    return context


def _follow_other_instances(hub: Hub[Session], store: RelayStore) -> asyncio.Task[None] | None:
    """A task acting on other instances' commits, if any other instance writes to `store`."""
    if not isinstance(store, SharedStore):
        return None
    hub.shared = store
    return asyncio.create_task(hub.follow(store.changes()))


async def _close_sockets(app: web.Application) -> None:
    """Shutdown: tell every device the relay is going away, then close with 1001."""
    app[MAILBOXES].close()
    sessions = list(app[HUB].sessions)
    for session in sessions:
        session.fail(
            ErrorCode.GOING_AWAY, "the relay is shutting down", close=WSCloseCode.GOING_AWAY
        )
    writers = [s.writer for s in sessions if s.writer is not None]
    if writers:
        await asyncio.wait(writers, timeout=CLOSE_TIMEOUT)
    for session in sessions:  # any writer still stuck on a slow device
        await session.ws.close(code=WSCloseCode.GOING_AWAY, message=b"relay shutting down")


async def handle_sync(request: web.Request) -> web.StreamResponse:
    app, address = request.app, peer_household(request)
    network = peer_network(request)
    if not _may_open(app[LIMITS], address, network):
        return _too_many_opens(app)
    # A Hello's size until Welcome, then the largest frame's (first_frame.py).
    ws = SyncSocket(heartbeat=HEARTBEAT)
    await ws.prepare(request)
    # No message in fragments, and large ones only as far as their sender's budget goes.
    guard = guard_messages(
        ws, request.protocol, request.transport, app[ARRIVING], counted_as(address, network)
    )
    connections, wider = app[LIMITS].connections, app[LIMITS].network_connections
    if not connections.take(address):
        await _refuse_busy(app, ws)
        return ws
    if network != address and not wider.take(network):
        connections.give_back(address)
        await _refuse_busy(app, ws, of_network=True)
        return ws
    try:
        await _run_session(request, ws, guard)
    finally:
        guard.give_back_all()
        connections.give_back(address)
        if network != address:
            wider.give_back(network)
    return ws


def _may_open(limits: PeerLimits, address: str, network: str) -> bool:
    """Whether the address, and its network when wider, may open another connection now."""
    if not limits.connection_opens.allow(address):
        return False
    return network == address or limits.network_connection_opens.allow(network)


def _too_many_opens(app: web.Application) -> web.Response:
    """429 before the upgrade: no websocket, no session, no log line (a storm of reconnections
    would write one each); the metrics count them."""
    app[METRICS].errors[ErrorCode.BUSY.value] += 1
    per_minute = app[CONFIG].connection_opens_per_minute
    text = f"at most {per_minute} connections a minute from this address; try again later"
    return web.Response(status=429, text=text, headers={"Retry-After": "60"})


async def _run_session(request: web.Request, ws: SyncSocket, guard: WholeMessages) -> None:
    app = request.app
    deadline = app[CONFIG].hello_deadline
    gate = Gate(app[CONFIG], peer_household(request))
    session = Session(
        ws,
        request.transport,
        app[STORE],
        app[HUB],
        app[METRICS],
        gate,
        app[ACTIVITY],
        hello_deadline=deadline,
        on_welcome=lambda: raise_limit(ws, request.protocol),
        took_message=guard.taken,
        owners=counted_as(peer_household(request), peer_network(request)),
        queued=app[QUEUED],
    )
    app[HUB].sessions.add(session)
    started = time.monotonic()
    try:
        await session.run()
    finally:
        log_event(
            "session.ended",
            session.space,
            close=ws.close_code,
            ms=ms_since(started),
            peer=peer_address(request),
        )


async def _refuse_busy(
    app: web.Application, ws: web.WebSocketResponse, *, of_network: bool = False
) -> None:
    """One address (or its wider network) holds as many sync connections as it may: say so,
    and close (1013). The device's Hello is not waited for; it reads this Error in its place."""
    config = app[CONFIG]
    cap = config.connections_per_network if of_network else config.connections_per_address
    where = "this network" if of_network else "this address"
    message = f"too many connections from {where} (at most {cap}); try again later"
    app[METRICS].errors[ErrorCode.BUSY.value] += 1
    log_event("session.refused", code=ErrorCode.BUSY.value)
    with suppress(ConnectionError):
        await ws.send_bytes(encode(Error(ErrorCode.BUSY.value, message)))
    reason = f"{ErrorCode.BUSY.value}: too many connections from {where}".encode()
    await close_without_handshake(ws, WSCloseCode.TRY_AGAIN_LATER, reason)


async def handle_healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def handle_metrics(request: web.Request) -> web.Response:
    if not may_read_metrics(request):
        raise web.HTTPForbidden(text="metrics answer loopback, or a request with the token")
    app = request.app
    text = app[METRICS].render(len(app[HUB].sessions), len(app[MAILBOXES]))
    return web.Response(
        body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


def serve(
    settings: ServeSettings,
    store: StoreSpec,
    config: RelayConfig,
    *,
    on_listening: Callable[[str], None],
) -> None:
    """Run the relay until SIGINT or SIGTERM, then shut down gracefully. For the CLI only.
    Once the socket is bound, `on_listening` is told where, as "listening on URL (db WHAT)",
    for the caller to announce; the log goes to stderr, one JSON object a line."""
    log_to_stderr(revealed(settings))
    # The store's threads hold the GIL while they plan a group of writes; with the default
    # 5 ms switch interval every hop of a Hello back to the event loop could wait that long.
    sys.setswitchinterval(SWITCH_INTERVAL)
    fix_mmap_threshold()  # hostile frames, once freed, leave no heap behind (heap.py)
    tls = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        tls = server_context(settings.tls_cert, settings.tls_key)
    elif not _is_loopback_name(settings.host):
        # Capabilities and mailbox ids would cross the network in clear, unless a proxy in
        # front terminates TLS: the usual deployment, so a warning rather than a refusal.
        log_warning(
            "relay.without_tls",
            host=settings.host,
            note="listening beyond loopback without TLS: a TLS-terminating proxy must be in "
            "front (docs/deploy.md)",
        )
    scheme = "https" if tls else "http"
    line = f"listening on {scheme}://{settings.host}:{settings.port} (db {store.describe()})"

    def announce(*_: object) -> None:  # run_app calls this once the socket is bound
        on_listening(line)

    app = make_app(store, config)
    app.on_startup.append(quiet_accept_errors)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        ssl_context=tls,
        print=announce,
        access_log=None,  # request lines would carry mailbox ids and addresses
        handle_signals=True,
        shutdown_timeout=CLOSE_TIMEOUT * 2,
    )


def revealed(settings: ServeSettings) -> tuple[str, ...]:
    """The kinds of detail the operator asked the log to show."""
    return (IDS,) * settings.log_ids + (ADDRESSES,) * settings.log_addresses


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or is_loopback(host)
