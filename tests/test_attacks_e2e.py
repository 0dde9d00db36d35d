"""The attacks that go through the relay, each played against a real relay on 127.0.0.1 and the
real `tend` command: the partner (or anyone holding the space capability) as a modified client
speaking the protocol directly, a relay whose data was damaged or rolled back, a removed device.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tend.core.crypto import keys
from tend.core.crypto.capability import capability, hash_for
from tend.core.ids import Seq
from tend.core.journal import Journal
from tend.core.log import rotation_record
from tend.core.log.header import Header, entry_hash, next_header
from tend.core.log.rotation_record import RotationRecord
from tend.sync import protocol as p
from tests.attacker import event_in
from tests.conftest import Relay, TendCLI, pair
from tests.relay_fixtures import sign_entry

pytestmark = pytest.mark.slow  # a relay process and the real command for every step


def texts(cli: TendCLI) -> list[str]:
    return [e["fields"].get("text") for e in cli.json("timeline")["events"]]


class RawClient:
    """A modified client: the protocol spoken by hand, with whatever keys the attacker holds."""

    def __init__(self, url: str) -> None:
        self.url = url + "/v1/sync"
        self.conn = p.Connection(p.Role.DEVICE)

    async def __aenter__(self) -> RawClient:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(self.url, max_msg_size=p.MAX_FRAME_BYTES)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.ws.close()
        await self.http.close()

    async def frame(self) -> p.Frame:
        message = await self.ws.receive()
        return self.conn.receive(message.data)

    async def hello(self, space: bytes, cap: bytes) -> p.Frame:
        await self.ws.send_bytes(self.conn.send(p.Hello(p.PROTOCOL_VERSIONS, space, cap, True)))
        return await self.frame()

    async def request(self, frame: p.Push | p.Rotate) -> p.Frame:
        await self.ws.send_bytes(self.conn.send(frame))
        while True:
            answer = await self.frame()
            if isinstance(answer, p.Ack | p.Error) and answer.id == frame.id:
                return answer


def attack(url: str, journal: Journal, frame: p.Push | p.Rotate) -> p.Frame:
    async def run() -> p.Frame:
        async with RawClient(url) as client:
            welcome = await client.hello(journal.device.space, capability(journal.device.space_key))
            assert isinstance(welcome, p.Welcome), welcome
            return await client.request(frame)

    return asyncio.run(run())


@pytest.fixture
def couple(tmp_path: Path, relay: Relay) -> tuple[TendCLI, TendCLI]:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    sam.ok("sync")
    alex.ok("sync")
    return sam, alex


# --- 5. only a log's own device can append to it; only a member can rotate ------------------------


def test_junk_pushed_at_the_partners_next_seq_is_refused_and_nothing_wedges(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    with Journal.open(sam.home) as sams, Journal.open(alex.home) as alexs:
        seq, prev = sams.store.head(sams.device.log)  # type: ignore[misc]
        d = sams.device
        # Alex holds the capability and the space key: a well-formed, chained entry at Sam's
        # next seq, sealed properly, signed with Alex's own key.
        junk = sign_entry(
            next_header(d.space, d.log, seq + 1, d.epoch, prev), alexs.device.sign_seed, d.space_key
        )
        answer = attack(relay.url, alexs, p.Push(1, (junk,)))
    assert isinstance(answer, p.Error) and answer.code == "bad_signature"
    sam.ok("gratitude", "for the tea")
    assert "Synced" in sam.ok("sync")
    alex.ok("sync")
    assert "for the tea" in texts(alex)


def test_a_rotation_signed_by_no_member_is_refused_and_nobody_is_told_they_were_removed(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    with Journal.open(alex.home) as alexs:
        d = alexs.device
        stranger = keys.new_signing_seed()  # not the key of any log in the space
        record = RotationRecord(
            d.space,
            2,
            hash_for(d.space_key),
            hash_for(keys.new_key()),
            ((d.log, b"x" * 40),),
            (),
            d.log,
        ).encode()
        forged = keys.sign(stranger, rotation_record.signing_input(record))
        answer = attack(relay.url, alexs, p.Rotate(1, record, forged))
    assert isinstance(answer, p.Error) and answer.code == "bad_signature"
    for cli in (sam, alex):
        result = cli("sync")
        assert result.returncode == 0 and "removed" not in result.stderr, result.stderr


def test_a_rotation_by_the_partner_that_leaves_a_device_out_is_not_taken_for_a_removal(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    with Journal.open(alex.home) as alexs:
        d = alexs.device
        # A member's own, validly signed rotation, that seals the new key to Alex alone.
        record = RotationRecord(
            d.space,
            2,
            hash_for(d.space_key),
            hash_for(keys.new_key()),
            ((d.log, b"x" * 40),),
            (),
            d.log,
        ).encode()
        signature = keys.sign(d.sign_seed, rotation_record.signing_input(record))
        answer = attack(relay.url, alexs, p.Rotate(1, record, signature))
    assert isinstance(answer, p.Ack)
    result = sam("sync")
    assert result.returncode == 3, result.stderr
    assert "Alex's device renewed the journal's key without this device" in result.stderr
    assert "this device was removed" not in result.stderr
    assert sam.ok("verify").startswith("All ")


def test_a_log_an_older_relay_let_junk_into_is_repaired_by_doctor_and_nothing_is_lost(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    with Journal.open(sam.home) as sams:
        seq, prev = sams.store.head(sams.device.log)  # type: ignore[misc]
        d = sams.device
        junk = sign_entry(
            next_header(d.space, d.log, seq + 1, d.epoch, prev),
            keys.new_signing_seed(),
            d.space_key,
        )
    relay.stop()
    _insert_behind_the_relays_back(relay.db, junk)
    relay.start()
    sam.ok("checkin", "--day", "rest")  # Sam's real seq + 1, where the junk sits
    wedged = sam("sync")
    assert wedged.returncode == 3 and "tend doctor" in wedged.stderr, wedged.stderr
    repaired = sam.ok("doctor")
    assert "dropped 1 entries" in repaired
    assert sam("sync").returncode == 0
    alex.ok("sync")
    assert [e["fields"].get("day") for e in alex.json("timeline")["events"]][-1] == "rest"
    assert alex.ok("verify").startswith("All ")


def _insert_behind_the_relays_back(db_path: Path, raw: bytes) -> None:
    """What an older relay, or a bug, might have stored: bytes no push would be let in with."""
    header = Header.decode(raw)
    db = sqlite3.connect(db_path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"entries", "heads"} <= tables
        db.execute(
            "INSERT INTO entries(space, log, seq, entry) VALUES (?, ?, ?, ?)",
            (header.space, header.log, header.seq, raw),
        )
        db.execute(
            "UPDATE heads SET seq = ?, hash = ? WHERE space = ? AND log = ?",
            (header.seq, entry_hash(raw), header.space, header.log),
        )
        db.commit()
    finally:
        db.close()


# --- 6. removal closes the window -----------------------------------------------------------------


def test_what_a_partner_wrote_offline_during_a_removal_leaves_under_the_new_key(
    tmp_path: Path, couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    old_phone = TendCLI(tmp_path / "alex-old-phone")
    pair(alex, old_phone, relay, "--own-device", name=None)
    for cli in (sam, alex, old_phone, sam):
        cli.ok("sync")
    sam.ok("gratitude", "written offline, while the phone was being removed")
    device = next(d["id"] for d in old_phone.json("devices", "list")["devices"] if d["this_device"])
    alex.ok("devices", "remove", device[:8])
    result = sam.ok("sync")  # catches up first, learns the new key, re-seals, then uploads
    assert "Synced" in result
    with Journal.open(sam.home) as sams, Journal.open(old_phone.home) as phone:
        mine = list(sams.store.log_entries(sams.device.log))
        assert Header.decode(mine[-1].entry).epoch == 2
        # Even a relay that hands the removed phone everything gives it nothing to read.
        from tend.core.trust.ingest import ingest

        report = ingest(phone, [s.entry for s in mine])
        assert report.applied == 0 and report.sealed_away >= 1
    alex.ok("sync")
    assert "written offline, while the phone was being removed" in texts(alex)


# --- 7. a relay that withholds or rolls back is noticed ----------------------------------------


def test_a_relay_that_withholds_the_partners_entries_is_noticed_and_a_rollback_is_healed(
    tmp_path: Path, couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    tablet = TendCLI(tmp_path / "sam-tablet")
    pair(sam, tablet, relay, "--own-device", name=None)
    for text in ("one", "two", "three"):
        alex.ok("gratitude", text)
    alex.ok("sync")
    sam.ok("sync")
    sam.ok("checkin", "--day", "rest")  # signed: "I had seen all of Alex's entries"
    sam.ok("sync")
    with Journal.open(alex.home) as alexs:
        alex_log = alexs.device.log
        alex_head = int(alexs.store.head(alex_log)[0])  # type: ignore[index]
    relay.stop()
    _roll_back(relay.db, alex_log, alex_head - 2)  # the relay loses Alex's last two entries
    relay.start()

    noticed = tablet("sync")
    assert noticed.returncode == 0, noticed.stderr
    assert f"has not passed on 2 entries of log {alex_log.hex()[:8]}" in noticed.stderr
    assert "one" in texts(tablet) and "three" not in texts(tablet)
    assert tablet("verify").stderr.count("withheld: 2 entries") == 1

    healed = sam("sync")  # Sam's device sees the relay hold less than before, and re-sends
    assert f"holds 2 fewer entries of log {alex_log.hex()[:8]}" in healed.stderr
    tablet.ok("sync")
    assert "three" in texts(tablet)
    assert "withheld" not in tablet("verify").stderr


def _roll_back(db_path: Path, log: bytes, keep: int) -> None:
    db = sqlite3.connect(db_path)
    try:
        row = db.execute(
            "SELECT entry FROM entries WHERE log = ? AND seq = ?", (log, keep)
        ).fetchone()
        db.execute("DELETE FROM entries WHERE log = ? AND seq > ?", (log, keep))
        db.execute(
            "UPDATE heads SET seq = ?, hash = ? WHERE log = ?", (keep, entry_hash(row[0]), log)
        )
        db.commit()
    finally:
        db.close()


# --- 8. partner-written text reaches the terminal literally ------------------------------------


HOSTILE_TEXT = [
    "\x1b]0;owned\x07",  # window title
    "\x1b]52;c;aGVsbG8=\x07",  # clipboard write
    "\x1b[2J",  # clear the screen
    "\x9b2J",  # the same, as a C1 control
    "\x1b]8;;https://example.invalid\x1b\\click\x1b]8;;\x1b\\",  # a hyperlink
]
MARKUP = "[link=https://example.invalid]click[/link] [bold red]alarm[/bold red]"


def test_a_partners_control_characters_never_reach_the_terminal(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    for hostile in HOSTILE_TEXT:
        refused = alex("checkin", "--note", f"hi {hostile}")
        assert refused.returncode == 1 and "control characters" in refused.stderr
    # A modified client skips validation, writes the bytes into its log and pushes them ...
    with Journal.open(alex.home) as alexs:
        raws = [_write_raw_checkin(alexs, f"hi {hostile}") for hostile in HOSTILE_TEXT]
        answer = attack(relay.url, alexs, p.Push(1, tuple(raws)))
    assert isinstance(answer, p.Ack) and answer.stored == len(raws)
    # ... and Sam's device refuses each such entry rather than show it.
    result = sam("sync")
    assert result.returncode == 3 and "cannot be opened" in result.stderr
    for command in (("today",), ("timeline",), ("devices",), ("week",)):
        shown = sam.ok(*command)
        assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown


def test_a_partners_words_that_look_like_markup_are_shown_as_words(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    alex.ok("checkin", "--note", MARKUP)
    alex.ok("gratitude", MARKUP)
    alex.ok("sync")
    sam.ok("sync")
    for command in (("today",), ("timeline",), ("week",)):
        shown = sam.ok(*command).replace("\n", "").replace("│", "").replace(" ", "")
        assert MARKUP.replace(" ", "") in shown, command


def _write_raw_checkin(journal: Journal, note: str) -> bytes:
    import msgpack

    from tend.core.crypto import entry
    from tend.core.domain.codec import encode_event
    from tend.core.domain.events import CheckIn

    clean = msgpack.unpackb(encode_event(event_in(journal, CheckIn(note="x"))), raw=False)
    clean["p"]["note"] = note
    d = journal.device
    seq, prev = journal.store.head(d.log)  # type: ignore[misc]
    raw = entry.build(
        next_header(d.space, d.log, Seq(seq + 1), d.epoch, prev),
        msgpack.packb(clean, use_bin_type=True),
        d.sign_seed,
        d.space_key,
    )
    journal.store.append([(raw, 0)])
    return raw


# --- found by an internal review: each was a break before it was fixed --------------------------


def test_moving_to_a_relay_that_holds_less_never_makes_a_device_rewrite_what_left_it(
    tmp_path: Path, couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    sam, alex = couple
    old_phone = TendCLI(tmp_path / "alex-old-phone")
    pair(alex, old_phone, relay, "--own-device", name=None)
    for cli in (sam, alex, old_phone, sam):
        cli.ok("sync")
    device = next(d["id"] for d in old_phone.json("devices", "list")["devices"] if d["this_device"])
    alex.ok("devices", "remove", device[:8])
    for cli in (sam, alex, sam):
        cli.ok("sync")
    with Journal.open(sam.home) as sams:
        before = [s.entry for s in sams.store.since(0)]
    (tmp_path / "second").mkdir()
    second = Relay(tmp_path / "second")
    second.start()
    try:
        moved = sam("sync", "--relay", second.url)  # a new, empty relay (or one that lost data)
        assert moved.returncode == 0, moved.stderr
        with Journal.open(sam.home) as sams:
            assert [s.entry for s in sams.store.since(0)] == before
        alex.ok("sync", "--relay", second.url)
        sam.ok("gratitude", "after the move")
        sam.ok("sync", "--relay", second.url)
        assert alex("sync", "--relay", second.url).returncode == 0
        assert "after the move" in texts(alex)
    finally:
        second.stop()


def test_a_partners_rotation_naming_a_device_removed_is_not_a_lasting_ban_at_the_relay(
    couple: tuple[TendCLI, TendCLI], relay: Relay
) -> None:
    from tend.core.log.rotation_record import Removal

    sam, alex = couple
    with Journal.open(sam.home) as sams:
        sam_log = sams.device.log
    with Journal.open(alex.home) as alexs:
        d = alexs.device
        first_key, second_key = keys.new_key(), keys.new_key()
        everyone = list(alexs.roster().members.items())

        def signed(epoch: int, previous: bytes, key: bytes, keep_sam: bool) -> p.Rotate:
            context = b"tend/epoch-key/v1" + d.space + epoch.to_bytes(4, "big")
            sealed = tuple(
                (log, keys.seal_to(m.dh_pub, key, context))
                for log, m in everyone
                if keep_sam or log != sam_log
            )
            bogus = () if keep_sam else (Removal(sam_log, 0, bytes(32), bytes(64)),)
            record = RotationRecord(
                d.space, epoch, previous, hash_for(key), sealed, bogus, d.log
            ).encode()
            return p.Rotate(
                1, record, keys.sign(d.sign_seed, rotation_record.signing_input(record))
            )

        # Alex "removes" Sam's device (no signature of Sam's), and the relay marks it ...
        assert isinstance(
            attack(relay.url, alexs, signed(2, hash_for(d.space_key), first_key, False)), p.Ack
        )
        assert asyncio.run(_removed_at(relay, d.space, sam_log)) is True
        # ... then, the couple having talked, a rotation that keeps Sam's device lifts it.
        alexs.keyring.adopt_epoch(2, first_key)
        assert isinstance(
            attack(relay.url, alexs, signed(3, hash_for(first_key), second_key, True)), p.Ack
        )
    assert asyncio.run(_removed_at(relay, d.space, sam_log)) is False


async def _removed_at(relay: Relay, space: bytes, log: bytes) -> bool:
    from tend.core.ids import LogId, SpaceId
    from tend.sync.relay.store import SqliteRelayStore

    store = await SqliteRelayStore.open(relay.db)
    try:
        return (await store.log_state(SpaceId(space), LogId(log))).removed
    finally:
        await store.close()
