"""Taking something back and forgetting it, end to end: two partners, a real relay on
127.0.0.1, the real `tend` command, and the partner as a modified client trying to erase or keep
what is not theirs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tend.core.crypto.capability import capability
from tend.core.domain.codec import decode_event
from tend.core.domain.events import Retraction
from tend.core.ids import LogId, event_id_at
from tend.core.journal import Journal
from tend.core.journal.mapper import EntryMapper
from tend.core.views.read_model import open_snapshot
from tend.sync import protocol as p
from tests.attacker import event_in, write_own
from tests.conftest import Relay, TendCLI, pair
from tests.test_attacks_e2e import RawClient

pytestmark = pytest.mark.slow  # a relay process and the real command for every step

WORDS = "you never listen to me Quillonbrae"
SORRY = "sorry, I was exhausted"


@pytest.fixture
def couple(tmp_path: Path, relay: Relay) -> tuple[TendCLI, TendCLI]:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    sam.ok("sync")
    alex.ok("sync")
    return sam, alex


def said(cli: TendCLI, text: str = WORDS) -> str:
    """Record `text` as a thank-you; its full id."""
    cli.ok("gratitude", text)
    events = cli.json("timeline")["events"]
    return str(next(e["id"] for e in events if e["fields"].get("text") == text))


def position(home: Path, event_id: str) -> tuple[LogId, int]:
    with Journal.open(home) as journal:
        for stored in journal.store.since(0):
            if event_id_at(stored.log, stored.seq).hex() == event_id:
                return stored.log, stored.seq
    raise AssertionError("no such entry")


def device_key_rows(home: Path, where: tuple[LogId, int]) -> int:
    db = sqlite3.connect(home / "journal.db")
    try:
        row = db.execute(
            "SELECT count(*) FROM content_keys WHERE log_id = ? AND seq = ?", where
        ).fetchone()
    finally:
        db.close()
    return int(row[0])


def relay_key_rows(relay: Relay, where: tuple[LogId, int]) -> int:
    db = sqlite3.connect(relay.db)
    try:
        row = db.execute(
            "SELECT count(*) FROM content_keys WHERE log = ? AND seq = ?", where
        ).fetchone()
    finally:
        db.close()
    return int(row[0])


def every_moment(cli: TendCLI) -> Iterator[str]:
    """All a device's read commands can say of the journal, at every moment worth asking."""
    yield cli.ok("timeline")
    yield json.dumps(cli.json("timeline"))
    yield cli.ok("today")
    yield cli.ok("week")
    now = dt.datetime.now().astimezone()
    for seconds in (-3600, -1, 0, 60, 3600 * 24):
        at = (now + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
        yield cli.ok("replay", "--at", at)
        yield json.dumps(cli.json("replay", "--at", at))


def words_anywhere(home: Path) -> bool:
    """Whether any API of this journal can still produce the words: every entry opened with
    every key record held, the items, the view cache, an export."""
    with Journal.open(home) as journal:
        mapper = EntryMapper(journal.device)
        records = [s.key for s in journal.store.since(0) if s.key]
        for stored in journal.store.since(0):
            for record in [None, *records]:
                try:
                    if WORDS.encode() in mapper.to_readable(stored.entry, record).event_bytes:
                        return True
                except Exception:
                    continue
        if any(WORDS.encode() in i.raw for i in journal.all_items()):
            return True
        snap = journal.store.snapshot()
        if snap is not None:
            cached = open_snapshot(journal.device.local_key, snap[1], snap[0]) or []
            if any(WORDS.encode() in i.raw for i in cached):
                return True
    return False


def test_forgotten_words_are_gone_from_both_devices_and_the_relay_and_every_log_verifies(
    couple: tuple[TendCLI, TendCLI], relay: Relay, tmp_path: Path
) -> None:
    sam, alex = couple
    said_id = said(sam)
    sam.ok("sync")
    alex.ok("sync")
    assert WORDS in alex.ok("timeline")  # Alex read it
    where = position(sam.home, said_id)
    assert relay_key_rows(relay, where) == 1 and device_key_rows(alex.home, where) == 1
    with Journal.open(alex.home) as alexs:
        alexs_record = alexs.store.key_at(*where)
    assert alexs_record is not None
    before = tmp_path / "before.json"
    alex.ok("export", "--format", "json", "--out", str(before))

    assert "forgotten" in sam.ok("retract", said_id[:8], "--forget", "--reason", SORRY)
    assert device_key_rows(sam.home, where) == 0  # at once, on the author's device
    sam.ok("sync")
    assert relay_key_rows(relay, where) == 0
    alex.ok("sync")

    for cli in (sam, alex):
        assert device_key_rows(cli.home, where) == 0
        shown = list(every_moment(cli))
        assert not any(WORDS in text for text in shown)
        saying = [t for t in shown if "took back" in t or '"forgotten": true' in t]
        assert len(saying) >= 6 and all(SORRY in text for text in saying)
        taken = cli.json("timeline")["taken_back"]
        assert [(t["name"], t["kind"], t["reason"], t["forgotten"]) for t in taken] == [
            ("Sam", "gratitude", SORRY, True)
        ]
        for form in ("json", "markdown"):
            export = tmp_path / f"{cli.home.name}.{form}"
            cli.ok("export", "--format", form, "--out", str(export))
            assert WORDS not in export.read_text()
        assert not words_anywhere(cli.home)
        assert "check out" in cli.ok("verify")
    for cli in (sam, alex):  # the erased record is not left in a free page or the WAL either
        held = b"".join(p.read_bytes() for p in cli.home.iterdir() if "journal.db" in p.name)
        assert alexs_record not in held and alexs_record[:48] not in held
    relay.stop()
    at_relay = b"".join(p.read_bytes() for p in relay.folder.iterdir() if "relay.db" in p.name)
    assert alexs_record[:48] not in at_relay
    relay.start()
    # What cannot be recalled: a copy made before (here, Alex's export).
    assert WORDS in before.read_text()

    # A device that joins afterwards fetches the entry, never its words.
    tablet = TendCLI(tmp_path / "tablet")
    pair(alex, tablet, relay, "--own-device", name=None)
    tablet.ok("sync")
    assert not any(WORDS in text for text in every_moment(tablet))
    assert tablet.json("timeline")["taken_back"][0]["reason"] == SORRY
    assert tablet.json("timeline")["unavailable"] == []
    assert not words_anywhere(tablet.home)
    assert "check out" in tablet.ok("verify")


def test_a_plain_retraction_shows_the_apology_and_never_the_words_even_in_replay_before_it(
    couple: tuple[TendCLI, TendCLI],
) -> None:
    sam, alex = couple
    said_id = said(sam)
    sam.ok("sync")
    alex.ok("sync")
    before = dt.datetime.now().astimezone().isoformat(timespec="milliseconds")
    sam.ok("retract", said_id[:8], "--reason", SORRY)
    sam.ok("sync")
    alex.ok("sync")
    then = alex.json("replay", "--at", before)
    assert WORDS not in json.dumps(then)
    assert then["taken_back"][0]["reason"] == SORRY
    assert then["taken_back"][0]["forgotten"] is False
    assert WORDS not in alex.ok("replay", "--at", before)
    assert SORRY in alex.ok("replay", "--at", before)
    assert SORRY in alex.ok("timeline")


def test_forgetting_a_note_shared_later_and_corrected_erases_every_copy_everywhere(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    sam.ok("note", "a first draft")  # private
    events = sam.json("timeline")["events"]
    first = next(e["id"] for e in events if e["type"] == "note")
    sam.ok("note", WORDS, "--replaces", first[:8])  # a private correction: a second version
    sam.ok("share", first[:8])  # shares what stands now, the correction
    sam.ok("sync")
    alex.ok("sync")
    assert WORDS in alex.ok("timeline")
    with Journal.open(sam.home) as sams:
        keyed = [(s.log, s.seq) for s in sams.store.since(0) if s.key is not None]
    assert len(keyed) == 3  # the note, its correction, and the share that carries it
    assert all(relay_key_rows(relay, w) == 1 and device_key_rows(alex.home, w) == 1 for w in keyed)

    sam.ok("retract", first[:8], "--forget")  # the first version's id: every version goes
    sam.ok("sync")
    alex.ok("sync")
    for where in keyed:
        assert relay_key_rows(relay, where) == 0
        assert device_key_rows(sam.home, where) == 0 and device_key_rows(alex.home, where) == 0
    for cli in (sam, alex):
        assert not any(WORDS in text for text in every_moment(cli))
        assert not words_anywhere(cli.home)
        assert [t["id"] for t in cli.json("timeline")["taken_back"]] == [first]
        assert cli.json("timeline")["unavailable"] == []
        assert "check out" in cli.ok("verify")


# --- the partner plays the attacker --------------------------------------------------------------


def test_the_partners_forget_of_someone_elses_entry_erases_nothing_anywhere(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    said_id = said(sam)
    sam.ok("sync")
    alex.ok("sync")
    where = position(sam.home, said_id)
    with Journal.open(alex.home) as alexs:
        forged = Retraction(target=bytes.fromhex(said_id), reason="gone", forget=True)  # type: ignore[arg-type]
        write_own(alexs, event_in(alexs, forged))
    alex.ok("sync")
    sam.ok("sync")
    assert device_key_rows(sam.home, where) == 1 and relay_key_rows(relay, where) == 1
    assert device_key_rows(alex.home, where) == 1
    for cli in (sam, alex):
        assert WORDS in cli.ok("timeline")
        assert cli.json("timeline")["taken_back"] == []


def forget_at_relay(relay: Relay, journal: Journal, frame: p.Forget) -> p.Frame:
    async def run() -> p.Frame:
        async with RawClient(relay.url) as client:
            welcome = await client.hello(journal.device.space, capability(journal.device.space_key))
            assert isinstance(welcome, p.Welcome), welcome
            await client.ws.send_bytes(client.conn.send(frame))
            while True:
                answer = await client.frame()
                if isinstance(answer, p.Ack | p.Error) and answer.id == frame.id:
                    return answer

    return asyncio.run(run())


def test_a_forget_frame_with_a_wrong_token_is_refused_and_erases_nothing(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    said_id = said(sam)
    sam.ok("sync")
    where = position(sam.home, said_id)
    with Journal.open(alex.home) as alexs:
        # Alex's best guess: the token Alex's own key would give (Sam's own-devices key is Sam's).
        guess = alexs.mapper.forget_token(*where)
        answer = forget_at_relay(relay, alexs, p.Forget(7, where[0], where[1], guess))
    assert isinstance(answer, p.Error) and answer.code == "unauthorized"
    assert "\n" not in answer.message and "token" in answer.message
    assert relay_key_rows(relay, where) == 1
    alex.ok("sync")
    assert WORDS in alex.ok("timeline")


def strip_key(relay: Relay, where: tuple[LogId, int]) -> None:
    relay.stop()
    db = sqlite3.connect(relay.db)
    db.execute("DELETE FROM content_keys WHERE log = ? AND seq = ?", where)
    db.commit()
    db.close()
    relay.start()


def test_a_relay_that_strips_a_key_record_without_a_forget_is_reported_not_a_crash(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    said_id = said(sam)
    sam.ok("sync")
    strip_key(relay, position(sam.home, said_id))
    alex.ok("sync")
    shown: dict[str, Any] = alex.json("timeline")
    assert WORDS not in json.dumps(shown)
    assert [u["id"] for u in shown["unavailable"]] == [said_id]
    assert "not available" in alex.ok("timeline")
    verdict = alex("verify")
    assert verdict.returncode != 0
    assert "words" in verdict.stdout + verdict.stderr
    assert "withheld" in (verdict.stdout + verdict.stderr)
    assert "1 entry here came without the words" in alex.ok("doctor")


def test_a_relay_that_swaps_key_records_between_entries_is_reported_and_shows_nothing(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    first = said(sam, "first " + WORDS)
    second = said(sam, "second " + WORDS)
    sam.ok("sync")
    a, b = position(sam.home, first), position(sam.home, second)
    relay.stop()
    db = sqlite3.connect(relay.db)
    rows = {
        pos: db.execute(
            "SELECT record FROM content_keys WHERE log = ? AND seq = ?", pos
        ).fetchone()[0]
        for pos in (a, b)
    }
    for pos, other in ((a, b), (b, a)):
        db.execute(
            "UPDATE content_keys SET record = ? WHERE log = ? AND seq = ?", (rows[other], *pos)
        )
    db.commit()
    db.close()
    relay.start()
    alex.ok("sync")
    shown = alex.json("timeline")
    assert WORDS not in json.dumps(shown)
    assert sorted(u["id"] for u in shown["unavailable"]) == sorted([first, second])
    assert alex("verify").returncode != 0
    with Journal.open(alex.home) as alexs:
        assert alexs.store.key_at(*a) is None and alexs.store.key_at(*b) is None
        retractions = [decode_event(i.raw) for i in alexs.items() if i.type == "retract"]
    assert retractions == []
