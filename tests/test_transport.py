"""sync/transport.py: the in-memory pipe keeps a connection's promises, network failures become
one RelayUnavailable there and nowhere else, and no other device-side sync module imports aiohttp.
"""

from __future__ import annotations

import socket

import aiohttp
import pytest

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
        f"cannot reach the relay at {url} (ClientConnectorError); "
        "everything is kept here and will sync later"
    )
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)


def test_on_the_device_side_only_the_transport_imports_aiohttp() -> None:
    device_side = {f for f in importers("aiohttp") if f.startswith("sync/")}
    assert {f for f in device_side if not f.startswith("sync/relay")} == {"sync/transport.py"}
