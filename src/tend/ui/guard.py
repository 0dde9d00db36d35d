"""Who may talk to the page: the browser that brought the launch secret, from this machine.

- The launch secret (in the printed address) is exchanged once for a session cookie (HttpOnly,
  SameSite=Strict, Path=/), and the page redirects to an address without it.
- The Host header must name this server as 127.0.0.1:PORT or localhost:PORT (a page on
  another site that rebinds its DNS name to 127.0.0.1 sends its own name, and is refused).
- From another site or port (Fetch Metadata says so), only a navigation is answered.
- A change is a POST whose Origin, when sent, is this server, carrying the session's CSRF
  token in a hidden field.
- Every answer carries a strict Content-Security-Policy (no inline script or style), nosniff,
  no referrer, no caching, and no CORS header at all.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import MultiDictProxy

log = logging.getLogger(__name__)
COOKIE = "tend_session"
CROSS = ("cross-site", "same-site")  # Sec-Fetch-Site values of a request from elsewhere
CSRF_FIELD = "csrf"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    csrf: str
    flash: list[str] = field(default_factory=list)  # said once, on the next page shown


SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
FORM: web.RequestKey[MultiDictProxy[Any]] = web.RequestKey("form", MultiDictProxy)


@dataclass
class Guard:
    """The launch secret, the sessions it was exchanged for, and the names this server has."""

    port: int
    extra_hosts: tuple[str, ...] = ()  # the bind address, when listening beyond loopback
    any_address: bool = False  # bound to 0.0.0.0 or :: (only with the explicit flag)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sessions: dict[str, Session] = field(default_factory=dict)
    used: bool = False

    def hosts(self) -> set[str]:
        names = ("127.0.0.1", "localhost", *self.extra_hosts)
        return {f"{n}:{self.port}" for n in names}

    def host_ok(self, host: str) -> bool:
        """This server's own name and port. Listening on every address (0.0.0.0 or ::, only
        with the explicit flag), any address written as numbers will do too: a page that
        rebinds its DNS name to this machine still sends its own name, and is refused."""
        if host in self.hosts():
            return True
        if not self.any_address:
            return False
        name, _, port = host.rpartition(":")
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return port == str(self.port)

    def origin_ok(self, origin: str) -> bool:
        return origin.startswith("http://") and self.host_ok(origin.removeprefix("http://"))

    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}/?k={self.secret}"

    def exchange(self, given: str) -> str | None:
        """A new session for the launch secret, once; None for anything else."""
        if self.used or not hmac.compare_digest(given.encode(), self.secret.encode()):
            return None
        self.used = True
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(csrf=secrets.token_urlsafe(32))
        return sid

    def session_of(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(COOKIE)
        return None if sid is None else self.sessions.get(sid)


def see_other(path: str) -> web.Response:
    return web.Response(status=303, headers={"Location": path})


def refusal(status: int, text: str) -> web.Response:
    """A plain, calm refusal (no page around it: whoever asked is not the person's browser)."""
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


def middleware(guard: Guard) -> Middleware:
    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await _checked(guard, request, handler)
        except web.HTTPException as e:  # a page not found, a method not allowed: plain words
            response = refusal(e.status, e.reason.lower())
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:  # a fault in the page itself: logged for whoever runs it, said calmly
            log.exception("the page failed on %s %s", request.method, request.path)
            response = refusal(
                500, "something went wrong showing this page; what was recorded before is kept"
            )
        for name, value in HEADERS.items():
            response.headers[name] = value
        return response

    return guarded


def _change_from_here(guard: Guard, request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    # Under the page's own Referrer-Policy (no-referrer) Chromium sends a form's Origin as
    # "null"; it is this page's only when the browser itself vouches that the request came from
    # this origin (Sec-Fetch-Site, which no page can set). A sandboxed frame elsewhere, also
    # "null", is marked cross-site.
    if origin == "null" and request.headers.get("Sec-Fetch-Site") == "same-origin":
        origin = None
    if origin is not None and not guard.origin_ok(origin):
        return False
    # Where the browser says so (Fetch Metadata), a change sent from another site is refused
    # even before its missing cookie and token would refuse it.
    return request.headers.get("Sec-Fetch-Site") not in CROSS


def _fetched_from_elsewhere(request: web.Request) -> bool:
    return (
        request.headers.get("Sec-Fetch-Site") in CROSS
        and request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate"
    )


async def _checked(guard: Guard, request: web.Request, handler: Handler) -> web.StreamResponse:
    if not guard.host_ok(request.headers.get("Host", "")):
        return refusal(421, "this page answers only at its own address on this device")
    if request.method not in ("GET", "HEAD", "POST"):
        return refusal(405, "not something this page does")
    if request.method == "POST" and not _change_from_here(guard, request):
        return refusal(403, "a change can come only from this page itself")
    if request.path.startswith("/static/"):
        return await handler(request)
    # Cookies ignore ports: a page another program serves on 127.0.0.1:OTHER is same-site, so
    # SameSite=Strict still sends the cookie with its <img>, <script>, fetch() or EventSource.
    # From elsewhere only a navigation by the person is answered; journal pages and /events are
    # never a subresource or fetch of another page (a resource isolation policy).
    if _fetched_from_elsewhere(request):
        return refusal(403, "this page answers only itself and the person's own navigation")
    given = request.query.get("k")
    if given is not None and request.method == "GET":
        sid = guard.exchange(given)
        if sid is None:
            if guard.session_of(request) is not None:
                return see_other("/")
            return refusal(
                403, "that address has been used or is not this launch's: start tend ui again"
            )
        response = see_other("/")
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")
        return response
    session = guard.session_of(request)
    if session is None:
        return refusal(
            401, "open the address tend ui printed (each launch has its own) to use this page"
        )
    request[SESSION] = session
    if request.method == "POST":
        form = await request.post()
        token = form.get(CSRF_FIELD)
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode(), session.csrf.encode()
        ):
            return refusal(403, "this form is out of date: go back, reload the page, try again")
        request[FORM] = form
    return await handler(request)
