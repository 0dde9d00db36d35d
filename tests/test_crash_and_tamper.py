"""What survives a killed process, what a changed byte on disk does, and what the disk holds.

All through the installed `tend` command on temporary homes:
* a check-in killed at a random moment never loses an acknowledged entry nor stores one twice;
* one flipped byte in a stored entry is named (log and seq) by `tend verify`, exit 3, and any
  view stops with one line and exit 3;
* a flipped byte in the device file is refused in one line, and nothing is recorded with it;
* no name, note or title is ever on disk in the clear, write-ahead log included.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tend.core.crypto import entry, envelope, keystore
from tests.conftest import TendCLI, stored_entries, tend_env

CRASH_ROUNDS = 30
COMPLETE_EVERY = 6  # every sixth round runs to completion
CIPHERTEXT_AT = entry.HEADER_LEN + envelope.PREFIX_LEN + envelope.COMMIT_LEN


def lines(stderr: str) -> list[str]:
    return stderr.strip().splitlines()


def checkin_notes(cli: TendCLI) -> list[str]:
    events = cli.json("timeline", "--type", "checkin")["events"]
    return [str(e["fields"]["note"]) for e in events]


# --- crash safety -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_checkin_killed_at_any_moment_loses_no_acknowledged_entry_and_stores_none_twice(
    tend: TendCLI,
) -> None:
    tend.ok("init", "--name", "Sam")
    started = time.monotonic()
    tend.ok("checkin", "--energy", "5", "--note", "warm-up")
    whole_run = time.monotonic() - started
    # Kill anywhere from before Python is up to after the commit, on a fast or a slow machine.
    span = max(0.15, 1.2 * whole_run)
    rng = random.Random(20261121)
    acknowledged, killed = ["warm-up"], []
    for n in range(CRASH_ROUNDS):
        note = f"round-{n}"
        args = ("checkin", "--energy", str(n % 11), "--note", note)
        if n % COMPLETE_EVERY == COMPLETE_EVERY - 1:
            assert "Recorded" in tend.ok(*args)
            acknowledged.append(note)
            continue
        proc = subprocess.Popen(
            tend.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=tend_env(),
        )
        time.sleep(rng.uniform(0.0, span))
        proc.kill()  # SIGKILL; a no-op if it has already exited
        out, err = proc.communicate(timeout=30)
        assert "Traceback" not in err
        if proc.returncode == 0:
            assert "Recorded" in out
            acknowledged.append(note)
        else:
            assert proc.returncode == -signal.SIGKILL, (proc.returncode, err)
            killed.append(note)
    assert killed, "no round was killed before it finished: nothing was tested"

    verified = tend("verify")
    assert verified.returncode == 0, verified.stderr
    notes = checkin_notes(tend)
    assert len(notes) == len(set(notes)), "an entry was stored twice"
    assert [n for n in acknowledged if n not in notes] == []
    # ...and the journal still takes entries after all that.
    tend.ok("checkin", "--day", "rest", "--note", "after the crashes")
    assert checkin_notes(tend)[-1] == "after the crashes"


# --- a changed byte in an entry -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a few entries; tests copy it before damaging it."""
    cli = TendCLI(tmp_path_factory.mktemp("pristine") / "home")
    cli.ok("init", "--name", "Sam")
    for note in ("first", "second", "third"):
        cli.ok("checkin", "--day", "gentle", "--note", note)
    assert cli("verify").returncode == 0
    return cli.home


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> TendCLI:
    home = tmp_path / "home"
    shutil.copytree(pristine, home)
    return TendCLI(home)


def flip_in_db(home: Path, blob: bytes, offset: int) -> None:
    db = home / "journal.db"
    raw = bytearray(db.read_bytes())
    assert raw.count(blob) == 1, "the entry's bytes are not in the file exactly once"
    raw[raw.find(blob) + offset] ^= 0x01
    db.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "offset",
    [20, CIPHERTEXT_AT + 10, -1],
    ids=["in-the-header", "in-the-ciphertext", "last-byte-of-the-tag"],
)
def test_a_flipped_byte_in_a_stored_entry_is_named_by_verify_with_exit_3(
    copy: TendCLI, offset: int
) -> None:
    rows = stored_entries(copy.home)
    log, seq, blob = rows[3]  # the second check-in
    assert seq == 4
    flip_in_db(copy.home, blob, offset % len(blob))

    result = copy("verify")
    assert result.returncode == 3
    where = f"log {log.hex()[:8]} seq 4"
    problems = [line for line in lines(result.stderr) if line.startswith("problem:")]
    assert len(problems) == 1 and where in problems[0], result.stderr
    assert lines(result.stderr)[-1] == "tend: 1 of 5 entries failed verification (listed above)"
    report = copy("verify", "--json")
    assert report.returncode == 3
    assert [(p["log"], p["seq"]) for p in json.loads(report.stdout)["problems"]] == [
        (log.hex()[:8], 4)
    ]


def test_any_view_that_meets_a_damaged_entry_stops_with_exit_3_and_one_line(copy: TendCLI) -> None:
    log, _seq, blob = stored_entries(copy.home)[3]
    flip_in_db(copy.home, blob, CIPHERTEXT_AT + 10)
    for args in (["today"], ["timeline", "--json"]):
        result = copy(*args)
        assert result.returncode == 3
        [line] = lines(result.stderr)
        assert f"log {log.hex()[:8]} seq 4" in line and "tend verify" in line
        assert result.stdout == ""


def test_a_changed_entry_with_its_stored_hash_fixed_up_still_fails_its_envelope(
    copy: TendCLI,
) -> None:
    log, seq, blob = stored_entries(copy.home)[-1]  # the last: its hash is in no later header
    changed = bytearray(blob)
    changed[CIPHERTEXT_AT + 10] ^= 0x01
    db = copy.home / "journal.db"
    raw = db.read_bytes()
    old_hash, new_hash = hashlib.sha256(blob).digest(), hashlib.sha256(changed).digest()
    # The hash is stored with the entry and as its log's head: fix up both.
    assert raw.count(blob) == 1 and raw.count(old_hash) == 2
    db.write_bytes(raw.replace(blob, bytes(changed)).replace(old_hash, new_hash))

    result = copy("verify", "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["problems"] == [
        {"log": log.hex()[:8], "seq": seq, "reason": "cannot be opened (tampered or corrupt)"}
    ]


# --- a changed byte in the device file --------------------------------------------------------


def device_file_positions(path: Path) -> dict[str, int]:
    raw = path.read_bytes()
    device = keystore.load(path)
    secrets = {
        "space key": device.space_key,
        "sign seed": device.sign_seed,
        "dh secret": device.dh_secret,
        "private key": device.private_key,
        "local key": device.local_key,
        "space id": device.space,
    }
    positions = {name: raw.find(value) + 5 for name, value in secrets.items()}
    assert all(p >= 5 for p in positions.values())
    positions["current epoch"] = raw.find(b"\xa5epoch") + 6
    positions["epoch of the space key"] = raw.find(b"\xa4keys") + 6
    positions["first byte"] = 0
    positions["last byte"] = len(raw) - 1
    return positions


@pytest.mark.slow
def test_a_flipped_byte_in_the_device_file_is_refused_in_one_line_and_nothing_is_recorded(
    copy: TendCLI,
) -> None:
    path = copy.home / keystore.FILE_NAME
    good = path.read_bytes()
    before = stored_entries(copy.home)
    for name, at in device_file_positions(path).items():
        damaged = bytearray(good)
        damaged[at] ^= 0x01
        path.write_bytes(bytes(damaged))
        for args in (["checkin", "--day", "rest"], ["joy", "add", "a kite"]):
            result = copy(*args)
            assert result.returncode in (1, 3), (name, args, result)
            [line] = lines(result.stderr)
            assert "device.tend" in line, (name, line)
        assert stored_entries(copy.home) == before, f"recorded with a damaged {name}"
    for args in (["today"], ["verify"]):
        assert copy(*args).returncode == 3  # the last byte (the checksum) is still flipped
    path.write_bytes(good)
    assert copy("verify").returncode == 0


# --- no plaintext at rest -------------------------------------------------------------------------

SECRETS = [
    "Zephyrine",
    "marmalade-umbrella-7731",
    "marigold-lantern-5150",
    "quince-harbour-2048",
    "walked-to-the-lighthouse-3317",
    "thank-you-for-the-persimmon-9902",
    "kite-over-the-saltmarsh-4471",
    "stretch-with-the-cello-6632",
    "physio-with-Okonkwo-2290",
    "private-tangerine-1188",
]


def leaks(raw: bytes) -> list[str]:
    return [
        s
        for s in SECRETS
        if any(s.encode(codec) in raw for codec in ("utf-8", "utf-16-le", "utf-16-be"))
    ]


def files_under(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_no_name_note_or_title_is_on_disk_in_the_clear_wal_included(
    tend: TendCLI, tmp_path: Path
) -> None:
    tend.ok("init", "--name", SECRETS[0])
    # A reader held open keeps SQLite from folding the write-ahead log back in on exit, so the
    # -wal file holds every page written below and is searched too.
    reader = sqlite3.connect(tend.home / "journal.db")
    try:
        reader.execute("SELECT COUNT(*) FROM entries").fetchall()
        tend.ok("checkin", "--day", "gentle", "--note", SECRETS[1], "--need", SECRETS[2])
        tend.ok("checkin", "--offer", SECRETS[3], "--energy", "3")
        tend.ok("milestone", SECRETS[4], "--category", "outing")
        tend.ok("gratitude", SECRETS[5])
        tend.ok("joy", "add", SECRETS[6])
        tend.ok("goal", "add", SECRETS[7])
        tend.ok(
            "calendar",
            "add",
            "--kind",
            "appointment",
            "--date",
            "2026-12-03",
            "--title",
            SECRETS[8],
        )
        tend.ok("checkin", "--private", "--note", SECRETS[9])
        tend.ok("timeline")  # a read may write the view cache

        with_wal = files_under(tend.home)
        assert len(with_wal.get("journal.db-wal", b"")) > 0, sorted(with_wal)
        assert {name: leaks(raw) for name, raw in with_wal.items()} == {n: [] for n in with_wal}
    finally:
        reader.close()  # the last connection: SQLite checkpoints into journal.db
    settled = files_under(tend.home)
    assert {name: leaks(raw) for name, raw in settled.items()} == {n: [] for n in settled}

    # The control: the same search finds every one of them in a plaintext export.
    tend.ok("export", "--format", "json", "--out", str(tmp_path / "export.json"))
    assert leaks((tmp_path / "export.json").read_bytes()) == SECRETS
