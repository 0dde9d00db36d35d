"""`tend ui` as a person runs it: a real process, its printed address, a clean stop."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from aiohttp import ClientSession, CookieJar

from tests.conftest import TendCLI, free_port, tend_env


async def test_tend_ui_prints_an_address_that_opens_the_page_and_stops_cleanly(
    tend: TendCLI,
) -> None:
    tend.ok("init", "--name", "Sam")
    tend.ok("checkin", "--note", "from the terminal")
    port = free_port()
    process = subprocess.Popen(
        tend.argv("ui", "--no-browser", "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=tend_env(),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"The page is at http://127.0.0.1:{port}/?k="), first
        address = first.split(" at ", 1)[1].strip()
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
            page = await browser.get(address)  # the secret, exchanged, then the page itself
            assert page.status == 200
            assert str(page.url) == f"http://127.0.0.1:{port}/"
            assert "from the terminal" in await page.text()
        assert (tend.home / "live.sock").exists()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert "The page has stopped" in out
        assert not (tend.home / "live.sock").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_timeline_can_show_only_ones_own_or_only_the_partners(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    tend.ok("gratitude", "the soup you made")
    assert "the soup you made" in tend.ok("timeline", "--whose", "me")
    assert "the soup you made" not in tend.ok("timeline", "--whose", "partner")


def test_a_busy_port_is_one_clear_line(tend: TendCLI, tmp_path: Path) -> None:
    import socket

    tend.ok("init", "--name", "Sam")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = tend("ui", "--no-browser", "--port", str(port))
    assert refused.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in refused.stderr
