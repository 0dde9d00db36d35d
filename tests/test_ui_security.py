"""The page's guard, attacked: every way in that is not the person's own browser is refused.

Each test runs a real page server on 127.0.0.1 over a real journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar

from tend.app import home, look
from tend.ui.guard import CSP
from tests.conftest import TendCLI
from tests.ui_helpers import Browser, page_on


@pytest.fixture
def journal_home(tmp_path: Path) -> Path:
    where = tmp_path / "sam"
    home.start(where, "Sam").close()
    return where


def base(browser: Browser) -> str:
    return f"http://127.0.0.1:{browser.guard.port}"


async def test_without_the_session_cookie_nothing_is_shown(journal_home: Path) -> None:
    async with page_on(journal_home) as browser, ClientSession() as stranger:
        for path in ("/", "/timeline", "/devices", "/events"):
            answer = await stranger.get(base(browser) + path, allow_redirects=False)
            assert answer.status == 401, path
            assert "Sam" not in await answer.text()


async def test_a_wrong_launch_secret_gets_no_cookie(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        jar = CookieJar(unsafe=True)
        async with ClientSession(cookie_jar=jar) as stranger:
            answer = await stranger.get(base(browser) + "/?k=guessed", allow_redirects=False)
            assert answer.status == 403
            assert len(jar) == 0
            assert (await stranger.get(base(browser) + "/")).status == 401


async def test_the_launch_secret_is_exchanged_once_for_a_strict_cookie(tmp_path: Path) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam").close()
    from aiohttp.test_utils import TestClient, TestServer

    from tend.ui.guard import Guard
    from tend.ui.server import make_app
    from tend.ui.state import PageState
    from tests.conftest import free_port

    port = free_port()
    guard = Guard(port=port)
    state = PageState(where)
    state.open_unlocked()
    client = TestClient(
        TestServer(make_app(state, guard), host="127.0.0.1", port=port),
        cookie_jar=CookieJar(unsafe=True),
    )
    await client.start_server()
    try:
        answer = await client.get(f"/?k={guard.secret}", allow_redirects=False)
        assert answer.status == 303
        assert answer.headers["Location"] == "/"  # the secret leaves the address bar
        cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        assert (await client.get("/")).status == 200
        async with ClientSession() as later:  # the same address, used again elsewhere
            again = await later.get(
                f"http://127.0.0.1:{port}/?k={guard.secret}", allow_redirects=False
            )
            assert again.status == 403
    finally:
        await client.close()


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "localhost.evil:{port}"])
async def test_a_foreign_host_header_is_refused(journal_home: Path, host: str) -> None:
    async with page_on(journal_home) as browser:
        answer = await browser.get("/", headers={"Host": host.format(port=browser.guard.port)})
        assert answer.status == 421
        assert "Sam" not in await answer.text()
        # localhost:PORT is this server too
        fine = await browser.get("/", headers={"Host": f"localhost:{browser.guard.port}"})
        assert fine.status == 200


async def test_a_post_from_a_foreign_origin_is_refused(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        token = await browser.token()
        for origin in ("http://evil.example", "null", f"http://127.0.0.1:{browser.guard.port + 1}"):
            answer = await browser.client.post(
                "/rest", data={"csrf": token}, headers={"Origin": origin}, allow_redirects=False
            )
            assert answer.status == 403, origin
        assert look.today(browser.state.journal).view.people[0][2] is None  # type: ignore[arg-type]


async def test_a_null_origin_is_the_pages_own_only_when_the_browser_says_same_origin(
    journal_home: Path,
) -> None:
    """Under no-referrer, Chromium sends a form's Origin as "null"."""
    async with page_on(journal_home) as browser:
        token = await browser.token()
        for where in ("cross-site", "same-site", "none"):
            answer = await browser.client.post(
                "/rest",
                data={"csrf": token},
                headers={"Origin": "null", "Sec-Fetch-Site": where},
                allow_redirects=False,
            )
            assert answer.status == 403, where
        fine = await browser.client.post(
            "/rest",
            data={"csrf": token},
            headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        )
        assert fine.status == 303


async def test_a_post_the_browser_says_came_from_another_site_is_refused(
    journal_home: Path,
) -> None:
    async with page_on(journal_home) as browser:
        token = await browser.token()
        for where in ("cross-site", "same-site"):
            answer = await browser.client.post(
                "/rest", data={"csrf": token}, headers={"Sec-Fetch-Site": where}
            )
            assert answer.status == 403, where
        journal = browser.state.journal
        assert journal is not None
        assert look.today(journal).view.people[0][2] is None
        fine = await browser.client.post(
            "/rest",
            data={"csrf": token},
            headers={"Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        )
        assert fine.status == 303


async def test_a_change_without_the_right_csrf_token_is_refused(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        origin = {"Origin": browser.origin}
        missing = await browser.client.post("/rest", data={}, headers=origin)
        wrong = await browser.client.post("/rest", data={"csrf": "x" * 43}, headers=origin)
        assert missing.status == wrong.status == 403
        journal = browser.state.journal
        assert journal is not None
        assert look.today(journal).view.people[0][2] is None  # nothing was recorded
        right = await browser.post("/rest", {})
        assert right.status == 303
        assert look.today(journal).view.people[0][2] is not None


async def test_a_token_from_another_session_does_not_do(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        other = browser.guard.sessions  # a second session, as a second exchange would make
        from tend.ui.guard import Session

        other["someone-else"] = Session(csrf="theirs")
        answer = await browser.client.post(
            "/rest", data={"csrf": "theirs"}, headers={"Origin": browser.origin}
        )
        assert answer.status == 403


async def test_a_get_never_changes_anything(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        answer = await browser.get("/rest")
        assert answer.status in (404, 405)
        journal = browser.state.journal
        assert journal is not None
        assert look.today(journal).view.people[0][2] is None


async def test_a_script_in_a_note_is_shown_as_text(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        attack = '<script>alert("hi")</script><img src=x onerror=alert(1)>'
        await browser.post("/checkin", {"note": attack})
        await browser.post("/thanks", {"text": attack}, page="/together")
        for path in ("/", "/together", "/timeline", "/week"):
            page = await browser.text(path)
            assert "<script>alert" not in page, path
            assert "<img src=x" not in page, path
        assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in await browser.text("/")


async def test_every_answer_carries_the_strict_headers_and_no_cors(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        for path in ("/", "/static/tend.css", "/static/tend.js", "/nowhere"):
            answer = await browser.get(path, headers={"Origin": "http://evil.example"})
            headers = answer.headers
            assert headers["Content-Security-Policy"] == CSP, path
            assert "script-src 'self'" in CSP
            assert "frame-ancestors 'none'" in CSP
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "no-referrer"
            assert headers["Cache-Control"] == "no-store"
            assert not any(h.lower().startswith("access-control-") for h in headers), path
        refused = await browser.get("/", headers={"Host": "evil.example"})
        assert refused.headers["Content-Security-Policy"] == CSP


async def test_the_page_has_no_inline_script_or_style(journal_home: Path) -> None:
    async with page_on(journal_home) as browser:
        for path in ("/", "/together", "/week", "/timeline", "/devices", "/partnership"):
            page = await browser.text(path)
            assert "<style" not in page, path
            assert " style=" not in page, path
            assert " onclick=" not in page and " onload=" not in page, path
            for tag in page.split("<script")[1:]:
                assert tag.lstrip().startswith('src="/static/'), path


def test_tend_ui_refuses_to_listen_beyond_this_device_without_the_flag(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    refused = tend("ui", "--no-browser", "--host", "0.0.0.0")
    assert refused.returncode == 1
    assert "--listen-anywhere-i-understand" in refused.stderr


def test_the_browser_is_started_with_a_private_file_not_the_secret(tmp_path: Path) -> None:
    from tend.ui.server import launch_file

    address = "http://127.0.0.1:8765/?k=s3cret"
    page = launch_file(tmp_path, address)
    assert "s3cret" not in page.as_uri()  # what the browser's command line shows
    assert page.stat().st_mode & 0o777 == 0o600
    assert f'content="0;url={address}"' in page.read_text()


async def test_a_fault_in_the_page_is_said_calmly_with_the_strict_headers(
    journal_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tend.app import look as looking

    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(looking, "today", broken)
    async with page_on(journal_home) as browser:
        answer = await browser.get("/")
        assert answer.status == 500
        assert "something went wrong showing this page" in await answer.text()
        assert "a bug" not in await answer.text()
        assert answer.headers["Content-Security-Policy"] == CSP


def test_listening_everywhere_still_refuses_a_rebound_name() -> None:
    from tend.ui.guard import Guard

    guard = Guard(port=8765, extra_hosts=("0.0.0.0",), any_address=True)
    assert guard.host_ok("192.168.1.5:8765")
    assert guard.host_ok("[fe80::1]:8765")
    assert guard.host_ok("localhost:8765")
    assert not guard.host_ok("evil.example:8765")  # a name rebound to this machine
    assert not guard.host_ok("192.168.1.5:80")
    assert guard.origin_ok("http://192.168.1.5:8765")
    assert not guard.origin_ok("http://evil.example:8765")
    loopback = Guard(port=8765)
    assert not loopback.host_ok("192.168.1.5:8765")
