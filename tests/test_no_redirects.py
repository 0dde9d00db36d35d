"""A relay address that answers with a redirect is not followed, over HTTP or for the sync
websocket: the clear-text rule is checked on the address asked for, so a hop to another
address (perhaps in clear) would carry the capability or a pairing message past it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tend.sync.transport import RelayRefused, WebSocketDialer, http_request


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def redirecting() -> AsyncIterator[tuple[str, list[str]]]:
    """A server that redirects everything to a second one, which writes down what reaches it."""
    reached: list[str] = []

    async def record(request: web.Request) -> web.Response:
        reached.append(f"{request.method} {request.path}")
        return web.Response(text="ok")

    target = web.Application()
    target.router.add_route("*", "/{tail:.*}", record)
    target_runner, target_url = await _serve(target)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(target_url + request.path_qs)

    front = web.Application()
    front.router.add_route("*", "/{tail:.*}", redirect)
    front_runner, front_url = await _serve(front)
    yield front_url, reached
    await front_runner.cleanup()
    await target_runner.cleanup()


async def test_a_pairing_message_is_not_sent_on_through_a_redirect(
    redirecting: tuple[str, list[str]],
) -> None:
    relay, reached = redirecting
    with pytest.raises(RelayRefused, match="redirect"):
        async with http_request(relay, "POST", relay + "/v1/mailbox/ab", 5, data=b"hello"):
            pass
    assert reached == []


async def test_the_sync_websocket_is_not_opened_through_a_redirect(
    redirecting: tuple[str, list[str]],
) -> None:
    relay, reached = redirecting
    async with WebSocketDialer(relay) as dialer:
        with pytest.raises(RelayRefused, match="redirect"):
            await dialer.connect()
    assert reached == []
