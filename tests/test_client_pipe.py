"""The sync client's real logic against the relay's own session logic, through an in-memory pipe.

No socket and no subprocess: two partners' journals sync through tests/pipe.py's `PipeRelay`,
the relay's Session and SQLite store on the far end of each connection. What is pinned here is
the client's side of the protocol (sync/client.py): a first sync, catching up on the partner,
uploading in bounded pushes, a watching device, and a relay that lies (rolls back, sends what
is not a frame, alters an entry) or goes away mid-exchange: reported, and nothing lost or
applied twice. The real relay on loopback, with the real command, is tests/test_sync_e2e.py.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tend.core.domain.events import CheckIn, Gratitude
from tend.core.journal import Journal
from tend.core.log import escrow
from tend.core.log.header import Header
from tend.core.trust.engine import Reason
from tend.sync import client
from tend.sync import protocol as p
from tests.conftest import entries_of, invite
from tests.pipe import PipeRelay

DAY = 86400.0
WAIT_SECONDS = 30.0  # for what takes milliseconds: generous on a loaded machine


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[PipeRelay]:
    relay = await PipeRelay.open(tmp_path / "relay.db")
    yield relay
    await relay.close()


@pytest.fixture
def couple(tmp_path: Path) -> Iterator[tuple[Journal, Journal]]:
    """Sam's journal and Alex's, paired through a real invitation; neither has synced."""
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    yield sam, alex
    alex.close()
    sam.close()


def heads(journal: Journal) -> dict[bytes, int]:
    return {bytes(log): int(seq) for log, (seq, _h) in journal.store.heads().items()}


def position(raw: bytes) -> tuple[bytes, int]:
    header = Header.decode(raw)
    return header.log, header.seq


def texts(journal: Journal) -> list[str]:
    return [e.body.text for e in journal.events() if isinstance(e.body, Gratitude)]


def notes(journal: Journal) -> list[str]:
    return sorted(e.body.note or "" for e in journal.events() if isinstance(e.body, CheckIn))


def write_days(journal: Journal, days: int) -> None:
    for n in range(days):
        journal.record(CheckIn(energy=n % 11, note=f"day {n}"))


async def sync(relay: PipeRelay, journal: Journal) -> client.SyncReport:
    return await client.sync_once_through(relay, journal)


def clean(report: client.SyncReport) -> bool:
    return not (report.refused or report.upload_refused or report.rolled_back or report.withheld)


async def until(done: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while not done():
            await asyncio.sleep(0.01)


async def until_held(relay: PipeRelay, journal: Journal) -> None:
    """Until the relay holds everything the journal holds."""
    async with asyncio.timeout(WAIT_SECONDS):
        while await relay.heads(journal.device.space) != heads(journal):
            await asyncio.sleep(0.01)


# --- syncing ----------------------------------------------------------------------------------


async def test_a_first_sync_hands_the_relay_everything_and_leaves_the_escrow(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    sam.record(Gratitude(text="for the walk"))
    report = await sync(relay, sam)
    assert (report.uploaded, report.downloaded, clean(report)) == (sam.store.count(), 0, True)
    assert await relay.heads(sam.device.space) == heads(sam)
    assert await relay.store.escrow(escrow.locator_of(sam.device.identity)) is not None
    hello = next(f for f in relay.received if isinstance(f, p.Hello))
    assert relay.escrow_members == [(hello.space, hello.capability)]  # as a member, as it said
    again = await sync(relay, sam)
    assert (again.uploaded, again.downloaded, clean(again)) == (0, 0, True)


async def test_a_device_rewrites_its_escrow_only_once_the_last_write_is_30_days_old(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    """A relay lets an escrow nobody rewrites expire: the device keeps its own fresh."""
    sam, _alex = couple
    await sync(relay, sam)
    written_at = sam.device.settings["escrow_at"]
    assert relay.escrow_writes == 1 and abs(written_at - time.time()) < 60
    sam.device.settings["escrow_at"] = time.time() - 29 * DAY
    await sync(relay, sam)
    assert relay.escrow_writes == 1  # fresh enough: nothing is written
    sam.device.settings["escrow_at"] = time.time() - 31 * DAY
    await sync(relay, sam)
    assert relay.escrow_writes == 2
    assert abs(sam.device.settings["escrow_at"] - time.time()) < 60
    await sync(relay, sam)
    assert relay.escrow_writes == 2


async def test_a_device_with_a_clock_set_back_rewrites_its_escrow(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    await sync(relay, sam)
    sam.device.settings["escrow_at"] = time.time() + 365 * DAY  # written "in the future"
    await sync(relay, sam)
    assert relay.escrow_writes == 2


async def test_an_escrow_the_relay_did_not_take_is_offered_again_only_after_a_while(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    """A relay over an address's rate or budget says not now: the syncs right after it do not
    offer the same record again (each would only be refused), one a quarter of an hour later
    does, a record that changed meanwhile goes at once, and a clock set back does not hold it
    back. (Another relay is offered it at once: tests/test_relay_bounds.py, a sync the relay
    takes no escrow from.)"""
    sam, _alex = couple
    relay.escrows_refused_for_now = True
    await sync(relay, sam)
    assert (relay.escrow_offers, relay.escrow_writes) == (1, 0)
    assert "escrow" not in sam.device.settings  # not noted as left
    refused = sam.device.settings["escrow_refused_by"]
    await sync(relay, sam)
    assert relay.escrow_offers == 1  # offered again so soon, it would only be refused
    relay_key, _digest = refused.split()
    sam.device.settings["escrow_refused_by"] = f"{relay_key} what-an-older-record-held"
    await sync(relay, sam)
    assert relay.escrow_offers == 2  # the record changed since it was refused: offered at once
    assert sam.device.settings["escrow_refused_by"] == refused
    relay.escrows_refused_for_now = False
    sam.device.settings["escrow_refused_at"] = time.time() - client.ESCROW_RETRY_AFTER - 1
    await sync(relay, sam)
    assert (relay.escrow_offers, relay.escrow_writes) == (3, 1)
    assert "escrow_refused_at" not in sam.device.settings
    assert "escrow_refused_by" not in sam.device.settings
    sam.device.settings["escrow"] = "what an older record held"
    sam.device.settings["escrow_refused_at"] = time.time() + 365 * DAY
    sam.device.settings["escrow_refused_by"] = refused
    await sync(relay, sam)
    assert relay.escrow_writes == 2


async def test_a_partner_catches_up_on_everything_the_other_wrote(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    write_days(sam, 5)
    sam.record(Gratitude(text="for the soup"))
    alex.record(Gratitude(text="for resting when you needed to"))
    await sync(relay, sam)
    missing = set(entries_of(sam)) - set(entries_of(alex))
    report = await sync(relay, alex)
    assert (report.downloaded, clean(report)) == (len(missing), True)
    await sync(relay, sam)
    assert notes(alex) == notes(sam) == sorted(f"day {n}" for n in range(5))
    both = ["for resting when you needed to", "for the soup"]
    assert sorted(texts(alex)) == sorted(texts(sam)) == both
    assert [i.order for i in alex.items()] == [i.order for i in sam.items()]


async def test_a_long_history_goes_up_in_bounded_pushes_and_all_of_it_arrives(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    write_days(sam, p.MAX_ENTRIES_PER_FRAME + 40)
    report = await sync(relay, sam)
    pushes = relay.pushed()
    assert len(pushes) >= 2
    assert all(0 < len(push.entries) <= p.MAX_ENTRIES_PER_FRAME for push in pushes)
    assert sorted(raw for push in pushes for raw in push.entries) == sorted(entries_of(sam))
    assert (report.uploaded, clean(report)) == (sam.store.count(), True)
    assert await relay.heads(sam.device.space) == heads(sam)


async def test_a_watching_device_gets_entries_live_and_comes_back_after_the_link_drops(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    stop, caught_up, wake = asyncio.Event(), asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(
        client.watch_through(relay, alex, stop, lambda _report: caught_up.set(), wake=wake)
    )
    try:
        await asyncio.wait_for(caught_up.wait(), WAIT_SECONDS)
        sam.record(Gratitude(text="live, before the drop"))
        await sync(relay, sam)
        await until(lambda: "live, before the drop" in texts(alex))
        caught_up.clear()
        await relay.drop()
        await asyncio.wait_for(caught_up.wait(), WAIT_SECONDS)  # it connected again
        sam.record(Gratitude(text="live, after the drop"))
        alex.record(Gratitude(text="from the watcher"))
        wake.set()  # as app/live.py does when this process records, or a command pokes it
        await sync(relay, sam)
        await until(lambda: "live, after the drop" in texts(alex))
        await until_held(relay, alex)  # pushed live, as soon as it was recorded
    finally:
        stop.set()
        report = await asyncio.wait_for(watcher, WAIT_SECONDS)
    assert clean(report) and not report.problems
    await sync(relay, sam)
    assert sorted(texts(sam)) == sorted(texts(alex))
    assert await relay.heads(alex.device.space) == heads(alex) == heads(sam)


async def test_doctor_on_a_log_the_relay_holds_faithfully_drops_nothing(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    await sync(relay, sam)
    assert await client.repair_through(relay, sam) == 0
    assert not any(isinstance(frame, p.Repair) for frame in relay.received)
    assert await relay.heads(sam.device.space) == heads(sam)


# --- a relay that lies --------------------------------------------------------------------------


async def test_a_relay_restored_from_an_old_backup_is_reported_and_given_back_what_it_lost(
    tmp_path: Path, relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    await sync(relay, sam)
    await relay.restart()  # closed, so the file is whole (SQLite checkpoints on close)
    backup = tmp_path / "backup.db"
    shutil.copyfile(relay.db, backup)
    for word in ("one", "two", "three"):
        sam.record(Gratitude(text=f"after the backup, {word}"))
    assert clean(await sync(relay, sam))
    await relay.restart(backup)
    report = await sync(relay, sam)
    assert report.rolled_back == [client.RolledBack(sam.device.log, 3)]
    assert report.uploaded == 3
    assert await relay.heads(sam.device.space) == heads(sam)
    assert clean(await sync(relay, sam))  # reported once: the relay holds it all again


async def test_a_relay_that_answers_with_what_is_not_a_frame_changes_nothing(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    sam.record(Gratitude(text="kept here"))
    before = entries_of(sam)
    relay.tamper = lambda _data: b"\xc1 not a frame"
    with pytest.raises(p.RemoteProtocolError) as caught:
        await sync(relay, sam)
    assert caught.value.code is p.ErrorCode.MALFORMED
    assert [type(frame) for frame in relay.received] == [p.Hello]  # nothing went up after it
    assert entries_of(sam) == before
    relay.tamper = None
    assert clean(await sync(relay, sam))
    assert await relay.heads(sam.device.space) == heads(sam)


async def test_an_entry_the_relay_altered_is_refused_naming_its_log_and_seq_and_not_applied(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    sam.record(Gratitude(text="for the walk"))
    seq = heads(sam)[sam.device.log]
    await sync(relay, sam)
    altered = next(raw for raw in entries_of(sam) if position(raw) == (sam.device.log, seq))

    def alter(data: bytes) -> bytes:
        frame = p.decode(data)
        if not isinstance(frame, p.Entries) or altered not in frame.entries:
            return data
        flipped = bytearray(altered)
        flipped[-30] ^= 0x01
        entries = tuple(bytes(flipped) if raw == altered else raw for raw in frame.entries)
        return p.encode(p.Entries(entries, live=frame.live))

    relay.tamper = alter
    report = await sync(relay, alex)
    assert [(r.log, r.seq, r.reason) for r in report.problems] == [
        (sam.device.log, seq, Reason.BAD_SIGNATURE)
    ]
    assert "for the walk" not in texts(alex)


# --- a relay that goes away ---------------------------------------------------------------------


async def test_a_relay_gone_mid_catch_up_is_a_clear_error_and_nothing_is_lost_or_doubled(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, alex = couple
    days = 2 * p.MAX_ENTRIES_PER_FRAME + 100
    write_days(sam, days)
    await sync(relay, sam)
    alex.record(Gratitude(text="written while the relay was away"))
    held, missing = alex.store.count(), len(set(entries_of(sam)) - set(entries_of(alex)))
    relay.cut_after = 2  # the Welcome and one page of the catch-up, then the link drops
    with pytest.raises(client.RelayUnavailable) as caught:
        await sync(relay, alex)
    assert str(caught.value) == "the relay closed the connection"
    kept = alex.store.count() - held
    assert kept >= p.MAX_ENTRIES_PER_FRAME  # the page that came before the drop is kept
    relay.cut_after = None
    report = await sync(relay, alex)
    assert (kept + report.downloaded, report.duplicates, clean(report)) == (missing, 0, True)
    assert notes(alex) == sorted(f"day {n}" for n in range(days))
    await sync(relay, sam)
    assert "written while the relay was away" in texts(sam)
    assert [i.order for i in alex.items()] == [i.order for i in sam.items()]


async def test_a_relay_gone_before_it_acknowledged_an_upload_gets_it_again_and_no_rollback_is_seen(
    relay: PipeRelay, couple: tuple[Journal, Journal]
) -> None:
    sam, _alex = couple
    write_days(sam, p.MAX_ENTRIES_PER_FRAME + 40)
    relay.cut_after = 2  # the Welcome and CaughtUp: no push is ever acknowledged
    with pytest.raises(client.RelayUnavailable):
        await sync(relay, sam)
    relay.cut_after = None
    report = await sync(relay, sam)
    assert clean(report)
    assert await relay.heads(sam.device.space) == heads(sam)
