"""Live updates: the server-sent events an open page listens to (`/events`)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from tend.ui.pages.base import routes, state_of


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one `change` for each thing the open page should show anew."""
    state = state_of(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    await response.write(b"retry: 5000\n\n")
    with state.feed.listen() as queue, contextlib.suppress(ConnectionResetError):
        while not state.stopping.is_set():
            try:
                change = await asyncio.wait_for(queue.get(), timeout=15)
            except TimeoutError:
                await response.write(b": still here\n\n")  # keeps proxies and the browser calm
                continue
            await response.write(f"event: change\ndata: {change.part}\n\n".encode())
    return response
