"""`tend demo` tells the whole story on an embedded relay and leaves nothing running."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TendCLI, tend_env, tend_executable

pytestmark = pytest.mark.slow  # the whole demo, with its embedded relay, in a process


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tend_executable(), "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=tend_env(env or {}),
        check=False,
    )


def test_the_demo_pairs_two_partners_syncs_and_looks_back_then_stops_its_relay(
    tmp_path: Path,
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    result = run_demo(env={"TMPDIR": str(temp)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in (
        "Robin invites Sam",
        "safety code",
        "They sync",
        "Today, side by side",
        "The week of",
        "Replay",
        "all check out",
        "tend demo --report",
        "took back a thank-you; its words are forgotten",
        "Sunday evening",
        "nothing is left running",
    ):
        assert step in out, step
    assert not list(temp.iterdir())  # the story's folder went, and no report was left behind
    assert "you never notice" not in out  # the words taken back are never shown again
    port = int(re.search(r"127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens there any more


def test_the_demo_writes_its_report_where_asked(tmp_path: Path) -> None:
    report = tmp_path / "three weeks.html"
    result = run_demo("--report", str(report))
    assert result.returncode == 0, result.stderr
    assert str(report) in result.stdout
    page = report.read_text()
    assert "<svg" in page and "laughed at the old photos" in page


def test_a_kept_demo_leaves_two_real_journals_that_verify_and_agree(tmp_path: Path) -> None:
    kept = tmp_path / "story"
    result = run_demo("--keep", str(kept))
    assert result.returncode == 0, result.stderr
    robin, sam = TendCLI(kept / "robin"), TendCLI(kept / "sam")
    assert robin.ok("verify").startswith("All ")
    assert sam.ok("verify").startswith("All ")
    assert robin.json("timeline") == sam.json("timeline")
    names = {p["name"] for p in robin.json("today")["people"]}
    assert names == {"Robin", "Sam"}
    kinds = [e["type"] for e in robin.json("timeline")["events"]]
    assert {"checkin", "milestone", "gratitude", "calendar", "joy.added", "goal.week"} <= set(kinds)
    assert (kept / "relay.db").exists()
    assert (kept / "report.html").exists()


def test_without_the_report_extra_the_demo_tells_the_story_and_says_what_the_report_needs(
    tmp_path: Path,
) -> None:
    hidden = tmp_path / "hidden" / "matplotlib"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('matplotlib hidden')\n")
    result = subprocess.run(
        [tend_executable(), "demo", "--report", str(tmp_path / "report.html")],
        capture_output=True,
        text=True,
        timeout=300,
        env=tend_env({"PYTHONPATH": str(hidden.parent)}),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'tend[report]'" in result.stdout
    assert not (tmp_path / "report.html").exists() and "Traceback" not in result.stderr


async def test_the_demo_opens_both_journals_in_two_pages_until_interrupted(tmp_path: Path) -> None:
    import asyncio
    import signal

    from aiohttp import ClientSession, CookieJar

    temp = tmp_path / "temp"
    temp.mkdir()
    process = await asyncio.create_subprocess_exec(
        tend_executable(),
        "demo",
        "--ui",
        "--no-browser",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=tend_env({"TMPDIR": str(temp)}),
    )
    assert process.stdout is not None
    told: list[str] = []
    pages: dict[str, str] = {}
    try:
        async with asyncio.timeout(120):
            while len(pages) < 2:
                line = (await process.stdout.readline()).decode()
                assert line, "".join(told)
                told.append(line)
                if found := re.search(
                    r"(Robin|Sam)'s page: (http://127\.0\.0\.1:\d+/\?k=\S+)", line
                ):
                    pages[found.group(1)] = found.group(2)
        partner = {"Robin": ("Sam", "thank you for your patience"), "Sam": ("Robin", "old photos")}
        for name, address in pages.items():
            bare = address.split("/?", 1)[0]
            async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
                refused = await browser.get(bare + "/timeline")
                assert refused.status in (401, 403), name  # not without the secret
                assert (await browser.get(address)).status == 200
                page = await (await browser.get(bare + "/timeline")).text()
                who, words = partner[name]
                assert who in page and words in page, (name, page[:2000])
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 60)
    said = "".join(told) + out.decode()
    assert process.returncode == 0, err.decode()
    assert "The pages have stopped" in said and "nothing is left running" in said
    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", said)]
    assert len(set(ports)) == 3  # the relay and the two pages
    for port in set(ports):
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex(("127.0.0.1", port)) != 0, port  # nobody listens there
    assert not list(temp.iterdir())  # the story's folder went, and each page's opening file
