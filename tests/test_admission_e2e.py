"""An invite-only relay, a full relay and a cleared journal, as a couple and an operator meet
them: `tend relay serve` and every `tend` command in subprocesses, on 127.0.0.1.

Time passing is the one thing not waited for: a journal is made old by moving its dates back
in the relay's database, as many days of quiet would.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tend.core.ids import new_space_id
from tend.core.log.header import MAX_ENTRY
from tend.sync.protocol import PROTOCOL_VERSIONS, Ack, Connection, Hello, Push, Role, Welcome
from tests.conftest import Relay, TendCLI, pair, stored_entries
from tests.relay_fixtures import Log

FULL = "the relay is full for now; everything is kept here and goes at a later sync"
DAY = 86400


def start_relay(tmp_path: Path, *extra: str) -> Relay:
    folder = tmp_path / "relay"
    folder.mkdir(exist_ok=True)
    running = Relay(folder, *extra)
    running.start()
    return running


@pytest.fixture
def invite_only(tmp_path: Path) -> Iterator[Relay]:
    running = start_relay(tmp_path, "--admission", "token")
    yield running
    running.stop()


def operator(relay: Relay, tmp_path: Path, *args: str) -> str:
    return TendCLI(tmp_path / "operator").ok("relay", *args, "--db", str(relay.db))


def held(relay: Relay) -> int:
    with sqlite3.connect(relay.db) as db:
        return int(db.execute("SELECT count(*) FROM spaces").fetchone()[0])


def escrows(relay: Relay) -> int:
    with sqlite3.connect(relay.db) as db:
        return int(db.execute("SELECT count(*) FROM escrows").fetchone()[0])


def age(relay: Relay, days: int) -> None:
    """Every journal on the relay was started, and last synced, `days` ago."""
    then = time.time() - days * DAY
    with sqlite3.connect(relay.db) as db:
        db.execute("UPDATE spaces SET created_at = ?, active_at = ?", (then, then))


async def fill(relay: Relay, size: int) -> None:
    """A modified client fills a space of its own with `size` bytes of the largest entries."""
    space = new_space_id()
    log = Log(space)
    async with aiohttp.ClientSession() as http, http.ws_connect(relay.url + "/v1/sync") as ws:
        conn = Connection(Role.DEVICE)
        await ws.send_bytes(conn.send(Hello(PROTOCOL_VERSIONS, space, os.urandom(32), True)))
        assert isinstance(conn.receive((await ws.receive()).data), Welcome)
        entries = log.extend(size // MAX_ENTRY, size=MAX_ENTRY)
        await ws.send_bytes(conn.send(Push(1, tuple(entries))))
        assert isinstance(conn.receive((await ws.receive()).data), Ack)


def test_a_couple_starts_a_journal_on_an_invite_only_relay_with_the_operators_code(
    tmp_path: Path, invite_only: Relay
) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", invite_only.url)
    sam.ok("gratitude", "for the walk")
    before = stored_entries(sam.home)
    refused = sam("sync")
    assert refused.returncode == 1
    assert "this relay admits new journals with a code from its operator" in refused.stderr
    assert "tend sync --admission-code CODE" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert stored_entries(sam.home) == before and held(invite_only) == 0
    wrong = sam("sync", "--admission-code", "aaaa-bbbb-cccc-dddd")
    assert wrong.returncode == 1 and "code from its operator" in wrong.stderr
    code = operator(invite_only, tmp_path, "codes", "new").split()[0]
    sam.ok("sync", "--admission-code", code)
    assert held(invite_only) == 1
    assert escrows(invite_only) == 1  # left as a device of the journal: the relay keeps it
    assert " used " in operator(invite_only, tmp_path, "codes", "list")
    pair(sam, alex, invite_only)  # the partner joins the journal that is there: no code
    alex.ok("gratitude", "for the soup")
    alex.ok("sync")
    sam.ok("sync")
    assert held(invite_only) == 1


def test_a_link_invitation_works_on_an_invite_only_relay(
    tmp_path: Path, invite_only: Relay
) -> None:
    """The relay keeps invitations only from its journals' devices and the answers to them:
    the inviter leaves the link as a device of its journal, the joiner answers it before it
    is a member, and the inviter's keys go up as a member again."""
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", invite_only.url)
    code = operator(invite_only, tmp_path, "codes", "new").split()[0]
    out = sam.ok("invite", "--link", "--admission-code", code)
    link = next(w for w in out.split() if w.startswith("tend:"))
    assert "Joined" in alex.ok("join", link, "--name", "Alex")
    assert "A device joined with your link" in sam.ok("sync")
    alex.ok("sync")  # let in: the keys came
    alex.ok("checkin", "--day", "gentle", "--note", "walked to the corner")
    alex.ok("sync")
    sam.ok("sync")
    assert "walked to the corner" in json.dumps(sam.json("today"))


def test_inviting_first_starts_the_journal_at_the_relay_with_the_code_given(
    tmp_path: Path, invite_only: Relay
) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", invite_only.url)
    code = operator(invite_only, tmp_path, "codes", "new").split()[0]
    pair(sam, alex, invite_only, "--admission-code", code)
    assert held(invite_only) == 1


def test_a_full_relay_keeps_everything_on_the_device_and_takes_it_once_there_is_room(
    tmp_path: Path,
) -> None:
    relay = start_relay(tmp_path, "--storage-cap-mb", "1")
    try:
        asyncio.run(fill(relay, 1 << 20))  # someone else takes the relay up to its cap
        sam = TendCLI(tmp_path / "sam")
        sam.ok("init", "--name", "Sam", "--relay", relay.url)
        sam.ok("gratitude", "for the quiet morning")
        mine = stored_entries(sam.home)
        full = sam("sync")
        assert full.returncode == 1, full
        assert full.stderr.strip() == f"tend: {FULL}"
        assert stored_entries(sam.home) == mine
        age(relay, 40)  # the filler goes quiet; Sam's journal is never synced past its start
        with sqlite3.connect(relay.db) as db:
            db.execute("UPDATE spaces SET active_at = ? WHERE usage < 100000", (time.time(),))
        report = operator(relay, tmp_path, "gc", "--idle-days", "30", "--dry-run")
        assert report.startswith("1 of 2 spaces to clear")
        assert held(relay) == 2
        operator(relay, tmp_path, "gc", "--idle-days", "30", "--yes")
        assert held(relay) == 1
        assert "Synced: sent " in sam.ok("sync")
        alex = TendCLI(tmp_path / "alex")
        pair(sam, alex, relay)
        assert "for the quiet morning" in alex.ok("timeline")
    finally:
        relay.stop()


def test_a_cleared_journal_is_said_to_be_gone_and_comes_back_only_when_asked(
    tmp_path: Path,
) -> None:
    relay = start_relay(tmp_path)
    try:
        sam = TendCLI(tmp_path / "sam")
        sam.ok("init", "--name", "Sam", "--relay", relay.url)
        sam.ok("sync")
        report = operator(relay, tmp_path, "spaces")
        assert report.startswith("1 spaces,") and "single device" in report
        assert "--idle-days" not in report
        age(relay, 20)
        operator(relay, tmp_path, "gc", "--idle-days", "30", "--single-device-days", "14", "--yes")
        assert held(relay) == 0
        gone = sam("sync")
        assert gone.returncode == 1
        assert "this relay no longer holds your journal" in gone.stderr
        assert "everything is kept here" in gone.stderr and "tend sync --recreate" in gone.stderr
        assert held(relay) == 0  # nothing started again behind the person's back
        sam.ok("sync", "--recreate")
        assert held(relay) == 1
        sam.ok("sync")
    finally:
        relay.stop()


def test_an_active_couples_journal_is_never_cleared(tmp_path: Path) -> None:
    relay = start_relay(tmp_path)
    try:
        sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
        sam.ok("init", "--name", "Sam", "--relay", relay.url)
        pair(sam, alex, relay)
        out = operator(
            relay, tmp_path, "gc", "--idle-days", "1", "--single-device-days", "1", "--yes"
        )
        assert out.startswith("0 of 1 spaces to clear")
        assert held(relay) == 1
        alex.ok("sync")
    finally:
        relay.stop()
