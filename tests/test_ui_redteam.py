"""The page attacked from outside its own guard's first line: other sites and other ports in
the same browser, and other browsers after the launch secret is spent.

Each test runs a real page server on 127.0.0.1 over a real journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar

from tend.app import home
from tests.ui_helpers import page_on


@pytest.fixture
def journal_home(tmp_path: Path) -> Path:
    where = tmp_path / "sam"
    home.start(where, "Sam").close()
    return where


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
@pytest.mark.parametrize("path", ["/", "/timeline", "/events"])
async def test_a_fetch_or_subresource_from_another_port_or_site_is_refused(
    journal_home: Path, site: str, path: str
) -> None:
    # Cookies ignore ports: a page served by another program on 127.0.0.1:OTHER is same-site,
    # so SameSite=Strict still sends the session cookie with its <img>, <script>, fetch() or
    # EventSource. Only a navigation by the person is answered from elsewhere.
    async with page_on(journal_home) as browser:
        for mode, dest in (("no-cors", "script"), ("cors", "empty"), ("no-cors", "image")):
            answer = await browser.get(
                path,
                allow_redirects=False,
                headers={"Sec-Fetch-Site": site, "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest},
            )
            assert answer.status == 403, (path, mode)
            assert "Sam" not in await answer.text()
            assert "Access-Control-Allow-Origin" not in answer.headers


async def test_the_pages_own_requests_and_a_navigation_are_still_answered(
    journal_home: Path,
) -> None:
    async with page_on(journal_home) as browser:
        own = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
        assert (await browser.get("/timeline", headers=own)).status == 200
        typed = {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}
        assert (await browser.get("/", headers=typed)).status == 200
        linked = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"}
        assert (await browser.get("/", headers=linked)).status == 200
        static = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
        assert (await browser.get("/static/tend.css", headers=static)).status == 200


async def test_a_second_browser_with_the_spent_address_gets_nothing(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        port = browser.guard.port
        jar = CookieJar(unsafe=True)
        async with ClientSession(cookie_jar=jar) as other:
            answer = await other.get(
                f"http://127.0.0.1:{port}/?k={browser.guard.secret}", allow_redirects=False
            )
            assert answer.status == 403
            assert len(jar) == 0
            assert "Sam" not in await answer.text()
            events = await other.get(f"http://127.0.0.1:{port}/events", allow_redirects=False)
            assert events.status == 401


async def test_the_secret_is_dropped_from_the_address_with_no_referrer(
    journal_home: Path,
) -> None:
    async with page_on(journal_home) as browser:
        answer = await browser.get(f"/timeline?k={browser.guard.secret}", allow_redirects=False)
        assert answer.status == 303
        assert answer.headers["Location"] == "/"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Cache-Control"] == "no-store"


async def test_an_error_page_shows_no_journal_text(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        for path in ("/no-such-page", "/%3Cscript%3Ealert(1)%3C/script%3E"):
            answer = await browser.get(path)
            assert answer.status == 404
            text = await answer.text()
            assert "Sam" not in text
            assert "<script>" not in text
            assert answer.content_type == "text/plain"


async def test_the_session_cookie_is_host_only_and_dies_with_the_browser(
    journal_home: Path,
) -> None:
    # No Domain (so no other name shares it) and no Expires or Max-Age (so it is not written to
    # the browser's disk to outlive the launch).
    async with page_on(journal_home) as browser, ClientSession() as fresh:
        browser.guard.used = False
        answer = await fresh.get(
            f"http://127.0.0.1:{browser.guard.port}/?k={browser.guard.secret}",
            allow_redirects=False,
        )
        assert answer.status == 303
        cookie = answer.headers["Set-Cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        for attribute in ("domain=", "expires=", "max-age=", "k="):
            assert attribute not in cookie.replace("tend_session=", ""), attribute
