"""A real page server on 127.0.0.1 over a real journal, and a browser-like client for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import ClientResponse, CookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from tend.ui.guard import Guard
from tend.ui.server import make_app
from tend.ui.state import PageState
from tests.conftest import free_port

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """What a person's browser does: brings the launch secret once, keeps the cookie, sends
    the form's hidden token with each change, and its own Origin."""

    def __init__(
        self, client: TestClient[web.Request, web.Application], guard: Guard, state: PageState
    ) -> None:
        self.client = client
        self.guard = guard
        self.state = state
        self.origin = f"http://127.0.0.1:{guard.port}"

    async def login(self) -> None:
        answer = await self.client.get(f"/?k={self.guard.secret}", allow_redirects=False)
        assert answer.status == 303, await answer.text()

    async def get(self, path: str, **kw: object) -> ClientResponse:
        return await self.client.get(path, **kw)  # type: ignore[arg-type]

    async def text(self, path: str) -> str:
        answer = await self.get(path)
        assert answer.status == 200, (answer.status, await answer.text())
        return await answer.text()

    async def token(self, path: str = "/") -> str:
        found = CSRF.search(await self.text(path))
        assert found, "no CSRF field on the page"
        return found.group(1)

    async def post(
        self,
        path: str,
        data: Mapping[str, str] | list[tuple[str, str]],
        *,
        page: str = "/",
        follow: bool = False,
    ) -> ClientResponse:
        fields = list(data.items()) if isinstance(data, Mapping) else list(data)
        fields.append(("csrf", await self.token(page)))
        return await self.client.post(
            path, data=fields, headers={"Origin": self.origin}, allow_redirects=follow
        )


@asynccontextmanager
async def page_on(home: Path) -> AsyncIterator[Browser]:
    """The page for `home`, served on a free loopback port, and a logged-in browser."""
    port = free_port()
    state = PageState(home)
    guard = Guard(port=port)
    server = TestServer(make_app(state, guard), host="127.0.0.1", port=port)
    client = TestClient(server, cookie_jar=CookieJar(unsafe=True))  # unsafe: cookies for an IP
    await client.start_server()
    try:
        browser = Browser(client, guard, state)
        await browser.login()
        yield browser
    finally:
        await client.close()
