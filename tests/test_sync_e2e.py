"""Two partners, a real relay on 127.0.0.1, and the real `tend` command in subprocesses."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tend.core.domain.events import CheckIn
from tend.core.journal import Journal
from tests.conftest import Relay, TendCLI, free_port, pair, tend_env

pytestmark = pytest.mark.slow  # a relay process and the real command for every step

SECRET_WORDS = ("Zephyrine", "Quillonbrae", "marmalade-umbrella-7731", "lavender-ferry-4410")


def entry_count(home: Path) -> int:
    """Entries stored so far, read while another process may be writing (WAL readers are safe)."""
    db = sqlite3.connect(f"file:{home / 'journal.db'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        db.close()


def safety(line: str) -> str:
    return line.split("Safety code: ", 1)[1][:7]


def timeline(cli: TendCLI) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = cli.json("timeline")["events"]
    return events


@pytest.fixture
def couple(tmp_path: Path, relay: Relay) -> tuple[TendCLI, TendCLI]:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    inviter_line, joiner_line = pair(sam, alex, relay)
    assert safety(inviter_line) == safety(joiner_line)
    return sam, alex


def test_partners_who_record_offline_and_sync_in_any_order_see_the_same_journal(
    couple: tuple[TendCLI, TendCLI],
) -> None:
    sam, alex = couple
    sam.ok("checkin", "--day", "rest", "--energy", "3", "--need", "quiet company")
    alex.ok("checkin", "--day", "good", "--energy", "7", "--offer", "soup")
    alex.ok("gratitude", "for resting when you needed to")
    sam.ok("milestone", "walked to the corner together", "--category", "movement")
    alex.ok("sync")
    sam.ok("sync")
    alex.ok("sync")
    assert timeline(sam) == timeline(alex)
    people = {p["name"]: p["checkin"]["fields"]["energy"] for p in sam.json("today")["people"]}
    assert people == {"Sam": 3, "Alex": 7}
    assert sam.json("today") == alex.json("today") | {"people": sam.json("today")["people"]}


def test_the_relay_never_holds_or_logs_plaintext(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    sam.ok("checkin", "--note", SECRET_WORDS[2], "--need", SECRET_WORDS[0])
    alex.ok("gratitude", SECRET_WORDS[3])
    alex.ok("milestone", SECRET_WORDS[1])
    sam.ok("sync")
    alex.ok("sync")
    sam.ok("sync")
    assert any(e["fields"].get("text") == SECRET_WORDS[3] for e in timeline(sam))
    relay.stop()
    blobs = [p.read_bytes() for p in relay.folder.iterdir() if p.is_file()]
    assert blobs and any(len(b) > 10_000 for b in blobs)
    for word in (*SECRET_WORDS, "Sam", "Alex"):
        for encoded in (word.encode(), word.encode("utf-16-le")):
            assert all(encoded not in blob for blob in blobs), word


def test_a_relay_killed_mid_catch_up_loses_and_duplicates_nothing(
    tmp_path: Path,
    couple: tuple[TendCLI, TendCLI],
    relay: Relay,
) -> None:
    sam, alex = couple
    journal = Journal.open(sam.home)
    for n in range(1500):  # a long history, written through the library to save time
        journal.record(CheckIn(energy=n % 11, note=f"day {n}"))
    journal.close()
    sam.ok("sync")
    catching_up = subprocess.Popen(
        alex.argv("sync"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=tend_env(),
    )
    time.sleep(0.4)
    relay.kill()
    catching_up.communicate(timeout=60)
    relay.start()
    alex.ok("sync")
    notes = [e["fields"]["note"] for e in timeline(alex) if e["type"] == "checkin"]
    assert sorted(notes) == sorted(f"day {n}" for n in range(1500))
    assert alex.ok("verify").startswith("All ")
    assert timeline(alex) == timeline(sam)


def test_a_removed_device_reads_nothing_written_afterwards(
    tmp_path: Path,
    couple: tuple[TendCLI, TendCLI],
    relay: Relay,
) -> None:
    sam, alex = couple
    old_phone = TendCLI(tmp_path / "alex-old-phone")
    pair(alex, old_phone, relay, "--own-device", name=None)
    sam.ok("gratitude", "before")
    sam.ok("sync")
    old_phone.ok("sync")
    assert [e["fields"]["text"] for e in timeline(old_phone) if e["type"] == "gratitude"] == [
        "before"
    ]
    device = next(d["id"] for d in old_phone.json("devices", "list")["devices"] if d["this_device"])
    alex.ok("devices", "remove", device[:8])
    sam.ok("sync")
    sam.ok("gratitude", "after")
    sam.ok("sync")
    alex.ok("sync")
    assert [e["fields"]["text"] for e in timeline(alex) if e["type"] == "gratitude"] == [
        "before",
        "after",
    ]
    result = old_phone("sync")
    assert result.returncode == 1, result.stderr
    assert "removed" in result.stderr
    texts = [e["fields"]["text"] for e in timeline(old_phone) if e["type"] == "gratitude"]
    assert texts == ["before"]


def test_a_client_that_cannot_reach_the_relay_says_so_and_keeps_everything(
    tmp_path: Path,
) -> None:
    lonely = TendCLI(tmp_path / "lonely")
    lonely.ok("init", "--name", "Robin", "--relay", f"http://127.0.0.1:{free_port()}")
    lonely.ok("checkin", "--day", "rest")
    result = lonely("sync")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach the relay" in result.stderr
    assert [e["type"] for e in timeline(lonely)][-1] == "checkin"


def test_a_private_entry_syncs_to_my_devices_but_the_partner_sees_nothing_of_it(
    couple: tuple[TendCLI, TendCLI],
) -> None:
    sam, alex = couple
    sam.ok("checkin", "--pain", "8", "--note", SECRET_WORDS[2], "--private")
    sam.ok("sync")
    alex.ok("sync")
    raw = alex.ok("timeline", "--json")
    assert SECRET_WORDS[2] not in raw
    assert not any(e["type"] in ("checkin", "sealed") for e in json.loads(raw)["events"])
    assert "Sam" in {p["name"] for p in alex.json("today")["people"]}
    assert all(p["checkin"] is None for p in alex.json("today")["people"] if p["name"] == "Sam")
    notes = [e["fields"].get("note") for e in timeline(sam) if e["type"] == "checkin"]
    assert notes == [SECRET_WORDS[2]]


def test_an_entry_altered_on_the_relay_is_refused_naming_whose_it_was(
    couple: tuple[TendCLI, TendCLI],
    relay: Relay,
) -> None:
    sam, alex = couple
    sam.ok("gratitude", "for the walk")
    sam.ok("sync")
    relay.stop()
    db = sqlite3.connect(relay.db)
    (table,) = [
        r[0]
        for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if "entr" in r[0]
    ]
    rowid, blob = db.execute(f"SELECT rowid, entry FROM {table} ORDER BY rowid DESC").fetchone()
    altered = bytearray(blob)
    altered[-30] ^= 0x01
    db.execute(f"UPDATE {table} SET entry = ? WHERE rowid = ?", (bytes(altered), rowid))
    db.commit()
    db.close()
    relay.start()
    before = timeline(alex)
    result = alex("sync")
    assert result.returncode == 3, result.stderr
    assert "Sam's device" in result.stderr and "seq" in result.stderr
    assert all(e["fields"].get("text") != "for the walk" for e in timeline(alex))
    assert len(timeline(alex)) >= len(before)


def test_watching_devices_receive_each_others_entries_live_and_say_what_arrived(
    couple: tuple[TendCLI, TendCLI],
) -> None:
    sam, alex = couple
    watcher = subprocess.Popen(
        alex.argv("sync", "--watch"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=tend_env(),
        text=True,
    )
    out = ""
    try:
        time.sleep(1)  # connected and caught up: what comes next arrives live
        sam.ok("checkin", "--day", "rest")
        sam.ok("gratitude", "for the soup, live")
        sam.ok("sync")
        deadline = time.monotonic() + 20
        seen = False
        while not seen and time.monotonic() < deadline:
            time.sleep(0.2)
            texts = [e["fields"].get("text") for e in timeline(alex)]
            seen = "for the soup, live" in texts
        assert seen
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, _err = watcher.communicate(timeout=20)
    assert watcher.returncode == 0
    lines = out.splitlines()
    assert "Sam: rest day" in lines and "Sam: thank you: for the soup, live" in lines


def test_after_a_device_is_removed_the_partner_syncs_cleanly_and_is_told_once(
    tmp_path: Path,
    couple: tuple[TendCLI, TendCLI],
    relay: Relay,
) -> None:
    sam, alex = couple
    old_phone = TendCLI(tmp_path / "alex-old-phone")
    pair(alex, old_phone, relay, "--own-device", name=None)
    sam.ok("sync")
    device = next(d["id"] for d in old_phone.json("devices", "list")["devices"] if d["this_device"])
    # The phone writes and syncs once more before Alex, who has not seen that, removes it.
    old_phone.ok("gratitude", "from the phone, just before it was lost")
    old_phone.ok("sync")
    alex.ok("devices", "remove", device[:8])

    first = sam("sync")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("A device was removed from the journal") == 1
    assert "from the phone, just before it was lost" not in [
        e["fields"].get("text") for e in timeline(sam)
    ]
    again = sam("sync")
    assert (again.returncode, again.stderr) == (0, "")
    joiner = TendCLI(tmp_path / "sam-tablet")
    pair(sam, joiner, relay, "--own-device", name=None)
    assert joiner.ok("verify").startswith("All ")
