"""sync/transport.py: the in-memory pipe keeps a connection's promises, network failures become
one RelayUnavailable there and nowhere else, and no other device-side sync module imports aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from tend.sync import protocol as p
from tend.sync import transport
from tend.sync.transport import RelayUnavailable, network_errors, pipe
from tests.test_import_graph import importers


async def test_a_pipe_delivers_each_message_whole_and_in_order_both_ways() -> None:
    device, relay = pipe()
    for message in (b"hello", b"", b"x" * 70_000):
        await device.send(message)
    await relay.send(b"welcome")
    assert [await relay.receive() for _ in range(3)] == [b"hello", b"", b"x" * 70_000]
    assert await device.receive() == b"welcome"


async def test_a_closed_pipe_delivers_what_was_sent_then_says_so_to_every_receive() -> None:
    device, relay = pipe()
    await relay.send(b"last words")
    await relay.close()
    assert await device.receive() == b"last words"
    for end in (device, device, relay):
        with pytest.raises(RelayUnavailable, match=r"^the relay closed the connection$"):
            await end.receive()
    for end in (device, relay):
        with pytest.raises(RelayUnavailable):
            await end.send(b"too late")
    await device.close()  # closing again is harmless


def test_network_failures_become_one_relay_unavailable_raised_from_them() -> None:
    for failure in (
        aiohttp.ClientConnectionError("reset"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
    ):
        with (
            pytest.raises(RelayUnavailable) as caught,
            network_errors(lambda e: f"gone ({type(e).__name__})"),
        ):
            raise failure
        assert (str(caught.value), caught.value.__cause__) == (
            f"gone ({type(failure).__name__})",
            failure,
        )


def test_other_errors_pass_through_untranslated() -> None:
    with pytest.raises(ValueError, match="ours"), network_errors(lambda _e: "gone"):
        raise ValueError("ours")


async def test_a_relay_that_is_not_there_is_one_line_saying_everything_is_kept() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        async with transport.WebSocketDialer(url) as dialer:
            with pytest.raises(RelayUnavailable) as caught:
                await dialer.connect()
    assert str(caught.value) == (
        f"cannot reach the relay at {url} (ConnectionRefusedError); "
        "everything is kept here and will sync later"
    )
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


@pytest.mark.parametrize("library", ["aiohttp", "websockets"])
def test_on_the_device_side_only_the_transport_imports_a_network_library(library: str) -> None:
    device_side = {f for f in importers(library) if f.startswith("sync/")}
    assert {f for f in device_side if not f.startswith("sync/relay")} == {"sync/transport.py"}


# --- the websocket, against a server on 127.0.0.1 ----------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    """A server answering /v1/sync with `handler`; yields its http:// address."""
    app = web.Application()
    app.router.add_get("/v1/sync", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_bytes(message.data)
    return ws


async def test_the_websocket_carries_whole_messages_both_ways_and_closes_quietly() -> None:
    async with serving(echo) as url, transport.WebSocketDialer(url) as dialer:
        connection = await dialer.connect()
        for message in (b"hello", b"", b"x" * 300_000):
            await connection.send(message)
            assert await connection.receive() == message
        await connection.close()
        await connection.close()  # closing again is harmless
        with pytest.raises(RelayUnavailable):
            await connection.send(b"too late")


async def test_a_frame_over_the_limit_is_refused_not_read() -> None:
    async def flood(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_bytes(b"x" * (p.MAX_FRAME_BYTES + 1))
        await ws.receive()
        return ws

    async with serving(flood) as url, transport.WebSocketDialer(url) as dialer:
        connection = await dialer.connect()
        with pytest.raises(RelayUnavailable, match=r"^the relay closed the connection$"):
            await connection.receive()
        await connection.close()


async def test_a_relay_cannot_make_the_device_hold_more_than_a_few_frames_it_has_not_read() -> None:
    # The relay sends 1 MiB frames as fast as the device's buffers take them; the device reads
    # none. Reading stops once MAX_QUEUE frames wait (then the sockets' own buffers fill), so
    # the relay gets only a few more out (with the library's default of 16, about 21 in all).
    sent = 0

    async def flood(request: web.Request) -> web.WebSocketResponse:
        nonlocal sent
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with contextlib.suppress(ConnectionError):
            while True:
                await ws.send_bytes(b"x" * (1 << 20))
                sent += 1
        return ws

    async with serving(flood) as url, transport.WebSocketDialer(url) as dialer:
        connection = await dialer.connect()
        await asyncio.sleep(1.5)
        held = sent
        await connection.close()
    assert transport.MAX_QUEUE <= held <= transport.MAX_QUEUE + 9


async def test_a_relay_that_goes_silent_is_noticed_by_its_missing_pongs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "HEARTBEAT", 0.2)
    monkeypatch.setattr(transport, "CLOSE_SECONDS", 0.2)

    async def silent(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # pings reach the loop below, unanswered
        await ws.prepare(request)
        async for _ping in ws:
            pass
        return ws

    async with serving(silent) as url, transport.WebSocketDialer(url) as dialer:
        connection = await dialer.connect()
        with pytest.raises(RelayUnavailable):
            await asyncio.wait_for(connection.receive(), timeout=5)
        await connection.close()


async def test_a_relay_that_never_answers_the_handshake_times_out_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "CONNECT_SECONDS", 0.3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()  # the connection is taken, nothing is ever said
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        async with transport.WebSocketDialer(url) as dialer:
            with pytest.raises(RelayUnavailable, match=r"\(TimeoutError\); everything is kept"):
                await asyncio.wait_for(dialer.connect(), timeout=5)


async def test_a_relay_that_refuses_the_upgrade_is_one_relay_unavailable() -> None:
    async def refuse(_request: web.Request) -> web.Response:
        return web.Response(status=503, text="down for maintenance")

    async with serving(refuse) as url, transport.WebSocketDialer(url) as dialer:
        with pytest.raises(
            RelayUnavailable, match=r"^cannot reach the relay at .* \(InvalidStatus\)"
        ):
            await dialer.connect()


def test_a_sync_path_without_plain_requests_loads_no_aiohttp() -> None:
    # Every `tend sync` is a new process, and aiohttp's client is slow to import.
    script = "import sys, tend.sync.client, tend.app.syncing; print('aiohttp' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (found.returncode, found.stdout.strip()) == (0, "False"), found.stderr
