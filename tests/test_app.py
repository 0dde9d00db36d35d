"""The application layer used directly, as the coming page will: every use case is a typed
function over a real journal (real SQLite, real keys), with the rules the command relied on."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest

from tend.app import (
    devices,
    export,
    finding,
    home,
    integrity,
    look,
    record,
    settings,
    syncing,
    weeks,
)
from tend.core.crypto import passphrase
from tend.core.domain.events import CheckIn, JoyIdea
from tend.core.errors import AlreadyInitialised, UserError, ValidationError, WrongPassphrase
from tend.core.journal import Journal
from tests.conftest import Relay, gossip, invite

FAST = passphrase.Cost(time=1, memory_kib=64, lanes=1)  # the test's lock, cheap to derive


@pytest.fixture
def sam(tmp_path: Path) -> Journal:
    return home.start(tmp_path / "sam", "Sam")


def test_starting_twice_in_one_home_is_refused_and_the_first_journal_kept(tmp_path: Path) -> None:
    first = home.start(tmp_path / "h", "Sam", relay="http://127.0.0.1:9")
    assert settings.known_relay(first) == "http://127.0.0.1:9"
    first.close()
    with pytest.raises(AlreadyInitialised):
        home.start(tmp_path / "h", "Robin")
    with home.open_journal(tmp_path / "h", None) as again:
        assert look.today(again).names[again.device.person] == "Sam"


def test_a_check_in_kept_private_by_default_says_so_and_a_correction_keeps_its_day(
    sam: Journal,
) -> None:
    assert settings.keep_private_by_default(sam, ["checkin"], on=True) == ["checkin"]
    yesterday = dt.date.today() - dt.timedelta(days=1)
    first = record.check_in(sam, day="rest", energy=3, on=yesterday)
    assert first.private
    fixed = record.check_in(sam, day="rest", energy=4, replaces=first.id.hex()[:8])
    assert fixed.event.supersedes == first.id
    assert fixed.event.local_date == yesterday.isoformat()  # the corrected entry's day
    shown = look.week(sam, yesterday).view.people[sam.device.person].checkins
    body = shown[yesterday.isoformat()]
    assert isinstance(body, CheckIn) and body.energy == 4


def test_private_by_default_is_saved_with_the_passphrase_the_journal_was_opened_with(
    tmp_path: Path,
) -> None:
    lock = passphrase.new_lock("a long and quiet passphrase", FAST)
    journal = home.start(tmp_path / "h", "Sam", lock=lock)
    settings.keep_private_by_default(journal, ["comfort"], on=True)
    journal.close()
    with pytest.raises(WrongPassphrase):  # without the passphrase nothing opens
        home.open_journal(tmp_path / "h", None)
    with home.open_journal(tmp_path / "h", lock) as again:
        assert settings.private_kinds(again) == ["comfort"]


def test_only_the_kinds_that_can_be_private_by_default_are_accepted(sam: Journal) -> None:
    with pytest.raises(UserError, match="only checkin, comfort"):
        settings.keep_private_by_default(sam, ["gratitude"], on=True)
    assert settings.private_kinds(sam) == []


def test_short_ids_find_one_thing_and_say_plainly_when_they_do_not(sam: Journal) -> None:
    win = record.small_win(sam, "walked to the corner together")
    record.celebrate(sam, win.id.hex()[:6], "so proud")
    with pytest.raises(ValidationError):
        record.celebrate(sam, win.id.hex()[:3])
    with pytest.raises(UserError, match="no small win with an id starting ffff"):
        record.celebrate(sam, "ffff")
    with pytest.raises(UserError, match="more than one thing starts with abcd"):
        finding.resolve_id("abcd", [b"\xab\xcd\x01", b"\xab\xcd\x02"], "thing")


def test_a_partner_cannot_take_back_or_correct_what_the_other_wrote(
    sam: Journal, tmp_path: Path
) -> None:
    robin = invite(sam, tmp_path / "robin", own=False, name="Robin")
    said = record.thank(sam, "for the soup")
    gossip(sam, robin)
    with pytest.raises(UserError, match="no entry of yours"):
        record.take_back(robin, said.id.hex()[:8])
    with pytest.raises(UserError, match="no check-in of yours"):
        record.check_in(robin, day="good", replaces=said.id.hex()[:8])


def test_the_shared_lists_come_back_typed_from_what_was_recorded(sam: Journal) -> None:
    idea = record.joy_idea(sam, "tea in the garden", cost=0)
    record.joy_status(sam, idea.id.hex()[:8], "done")
    goal = record.gentle_goal(sam, "short walk", per_week=2, flare_rule="halve")
    record.goal_week(sam, goal.id.hex()[:8], "adapted")
    task = record.care_task(sam, "pharmacy run")
    record.care_swap(sam, task.id.hex()[:8], "partner")
    record.calendar_entry(sam, "appointment", dt.date.today(), at="09:30", title="physio")
    assert [(j.title, j.status) for j in look.joy_map(sam)] == [("tea in the garden", "done")]
    (shown_goal,) = look.gentle_goals(sam)
    assert shown_goal.flare_rule == "halve" and list(shown_goal.weeks.values()) == ["adapted"]
    ((duty,), _names) = look.care_duties(sam)
    shown_task = duty.task
    assert (shown_task.title, shown_task.owner) == (
        "pharmacy run",
        f"partner-of:{sam.device.person.hex()}",
    )
    (appointment,) = look.calendar(sam).events
    assert appointment.body.summary() == f"physio on {dt.date.today().isoformat()} at 09:30"


def test_replay_shows_the_journal_as_it_was_before_a_later_entry(sam: Journal) -> None:
    record.check_in(sam, day="gentle", energy=5)
    time.sleep(0.01)  # the moment lies strictly between the two entries' arrival
    before = dt.datetime.now().astimezone()
    time.sleep(0.01)
    later = record.check_in(sam, day="flare", energy=1)
    then = look.replay(sam, before)
    (_person, _name, shown) = then.today.view.people[0]
    assert shown is not None and shown.id != later.id
    assert then.entries_known < len(sam.items())


def test_the_roster_gives_a_safety_code_for_the_partner_and_confirming_it_is_remembered(
    sam: Journal, tmp_path: Path
) -> None:
    robin = invite(sam, tmp_path / "robin", own=False, name="Robin")
    gossip(sam, robin)
    rows = {row.name: row for row in devices.roster(sam).devices}
    assert rows["Sam"].this_device and rows["Sam"].safety_code is None
    assert rows["Robin"].safety_code and not rows["Robin"].compared
    devices.confirm_compared(sam)
    assert {row.name: row.compared for row in devices.roster(sam).devices}["Robin"]
    with pytest.raises(UserError, match="nobody else"):
        devices.confirm_compared(home.start(tmp_path / "alone", "Alone"))


def test_removing_a_device_rotates_the_key_to_those_who_stay(sam: Journal, tmp_path: Path) -> None:
    phone = invite(sam, tmp_path / "phone", own=True, name=None)
    gossip(sam, phone)
    removal = devices.remove(sam, phone.device.log.hex()[:8])
    assert removal.removed == phone.device.log
    assert removal.epoch == sam.device.epoch > phone.device.epoch
    assert removal.staying == 1


def test_verify_and_export_run_over_the_same_journal(sam: Journal, tmp_path: Path) -> None:
    record.check_in(sam, day="rest")
    report = integrity.verify(sam)
    assert report.ok and report.entries == integrity.entry_count(sam)
    written = export.write(sam, "json", tmp_path / "out.json")
    assert written.entries >= 1 and (tmp_path / "out.json").stat().st_mode & 0o077 == 0


def test_a_sync_through_a_real_relay_reports_what_was_sent_and_fetched(
    sam: Journal, tmp_path: Path, relay: Relay
) -> None:
    robin = invite(sam, tmp_path / "robin", own=False, name="Robin")
    record.small_win(sam, "walked to the corner together")
    sent = asyncio.run(syncing.sync(sam, relay.url))
    assert sent.report.uploaded >= 1 and not sent.report.problems and sent.joined == []
    fetched = asyncio.run(syncing.sync(robin, relay.url))
    assert fetched.report.downloaded >= sent.report.uploaded
    titles = [e.body.summary() for e in look.timeline(robin).events]
    assert any("walked to the corner together" in t for t in titles)


def test_what_became_of_a_link_is_told_before_a_sync_that_then_fails(
    sam: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A link is used up as it is let in: if the relay then goes away, its news must already be
    # out (the next sync would have nothing to say).
    from tend.sync import client, pairing_flow

    async def answered(journal: Journal) -> list[pairing_flow.LinkOutcome]:
        return [pairing_flow.LinkOutcome(note="Someone answered your link (phone); refused")]

    async def gone(*_args: object) -> client.SyncReport:
        raise client.RelayUnavailable("the relay at http://r went away mid-sync")

    sam.device.settings["invitations"] = [{"made": "for the test"}]
    monkeypatch.setattr(pairing_flow, "complete_links", answered)
    monkeypatch.setattr(client, "sync_once", gone)
    told: list[syncing.SyncOutcome] = []
    with pytest.raises(client.RelayUnavailable):
        asyncio.run(syncing.sync(sam, "http://r", on_let_in=told.append))
    assert [n for news in told for n, _step in news.notes] == [
        "Someone answered your link (phone); refused"
    ]


def test_what_the_relay_dropped_is_told_before_the_sync_that_follows_fails(
    sam: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tend.sync import client

    async def dropped(*_args: object) -> int:
        return 3

    async def gone(*_args: object) -> client.SyncReport:
        raise client.RelayUnavailable("the relay at http://r went away mid-sync")

    monkeypatch.setattr(client, "repair", dropped)
    monkeypatch.setattr(client, "sync_once", gone)
    told: list[int] = []
    with pytest.raises(client.RelayUnavailable):
        asyncio.run(syncing.repair(sam, "http://r", told.append))
    assert told == [3]


# --- which week a plan is for -------------------------------------------------------------------

SUNDAY_EVENING = dt.datetime(2026, 12, 6, 19, 0).astimezone()  # 2026-W49 ends that night


@pytest.mark.parametrize(
    ("moment", "turn", "week"),
    [
        (dt.datetime(2026, 12, 6, 17, 59), dt.time(18, 0), "2026-W49"),
        (dt.datetime(2026, 12, 6, 18, 0), dt.time(18, 0), "2026-W50"),
        (dt.datetime(2026, 12, 6, 19, 0), dt.time(20, 0), "2026-W49"),
        (dt.datetime(2026, 12, 5, 23, 30), dt.time(18, 0), "2026-W49"),  # Saturday night
        (dt.datetime(2026, 12, 7, 9, 0), dt.time(18, 0), "2026-W50"),
        (dt.datetime(2026, 12, 27, 21, 0), dt.time(18, 0), "2026-W53"),  # into a 53-week year
    ],
)
def test_planning_looks_at_the_coming_week_once_the_week_turns_on_sunday(
    moment: dt.datetime, turn: dt.time, week: str
) -> None:
    assert weeks.planning_week(moment, turn) == week


def test_a_joy_planned_on_sunday_evening_is_on_mondays_joy_map(tmp_path: Path) -> None:
    clock = [SUNDAY_EVENING]
    journal = Journal.create(tmp_path / "sam", "Sam", now=lambda: clock[0])
    idea = record.joy_idea(journal, "tea in the garden")
    body = idea.event.body
    assert isinstance(body, JoyIdea) and body.week == "2026-W50"
    assert weeks.monday_of(body.week) == dt.date(2026, 12, 7)
    assert [j.title for j in look.joy_map(journal)] == ["tea in the garden"]  # Sunday, 19:00
    clock[0] = SUNDAY_EVENING + dt.timedelta(hours=14)  # Monday morning
    assert [j.title for j in look.joy_map(journal)] == ["tea in the garden"]
    assert look.joy_map(journal, "2026-W49") == []  # the week that ended keeps its own


def test_when_the_week_turns_is_kept_for_this_device_and_checked(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "sam", "Sam", now=lambda: SUNDAY_EVENING)
    assert weeks.turn_of(journal) == dt.time(18, 0)
    weeks.set_turn(journal, "20:00")
    assert weeks.next_planning_week(journal) == "2026-W49"  # 19:00 is before 20:00 now
    with pytest.raises(ValidationError):
        weeks.set_turn(journal, "25:00")
    journal.close()
    with home.open_journal(tmp_path / "sam", None) as again:
        assert weeks.turn_of(again) == dt.time(20, 0)


def test_the_care_rota_says_who_does_each_task_for_either_partner(
    sam: Journal, tmp_path: Path
) -> None:
    robin = invite(sam, tmp_path / "robin", own=False, name="Robin")
    record.care_task(sam, "pharmacy run", owner="partner")  # Sam means Robin
    record.care_task(sam, "watering", owner="me")
    record.care_task(robin, "cooking", owner="both")
    gossip(sam, robin)
    for journal, me, other in ((sam, "Sam", "Robin"), (robin, "Robin", "Sam")):
        duties, names = look.care_duties(journal)
        who = {d.task.title: (names.get(d.person) if d.person else None, d.mine) for d in duties}
        assert who == {
            "pharmacy run": ("Robin", me == "Robin"),
            "watering": ("Sam", me == "Sam"),
            "cooking": (None, True),  # both of you
        }, other
    task = next(d.task for d in look.care_duties(robin)[0] if d.task.title == "watering")
    record.care_swap(robin, task.id[:8], "me")  # Robin takes the watering over
    gossip(sam, robin)
    duties, names = look.care_duties(sam)
    assert {d.task.title: names.get(d.person) for d in duties if d.person}["watering"] == "Robin"


def test_an_owner_the_device_cannot_place_is_nobody_rather_than_a_guess() -> None:
    from tend.core.ids import PersonId
    from tend.core.views.projections import owner_of

    a, b, c = (PersonId(bytes([n]) * 16) for n in (1, 2, 3))
    assert owner_of(a.hex(), [a, b]) == a
    assert owner_of(f"partner-of:{a.hex()}", [a, b]) == b
    assert owner_of(f"partner-of:{a.hex()}", [a, b, c]) is None  # which partner? not said
    assert owner_of(f"both-of:{a.hex()}", [a, b]) is None
    assert owner_of("not an id", [a, b]) is None


def test_a_swap_made_later_wins_over_an_older_one_that_arrives_after_it(
    tmp_path: Path,
) -> None:
    # Robin swaps while offline on Monday; Sam swaps back on Thursday; Robin's entry reaches
    # Sam only afterwards. The later swap, by when people made it, wins on both devices.
    monday = dt.datetime(2026, 12, 7, 9, 0).astimezone()
    clock = {"sam": monday, "robin": monday}
    sam = Journal.create(tmp_path / "sam", "Sam", now=lambda: clock["sam"])
    robin = invite(sam, tmp_path / "robin", own=False, name="Robin")
    robin.now = lambda: clock["robin"]
    task = record.care_task(sam, "pharmacy run", owner="me")
    gossip(sam, robin)
    clock["robin"] = monday + dt.timedelta(hours=1)
    record.care_swap(robin, task.id.hex()[:8], "me")  # offline: Robin will do it
    clock["sam"] = monday + dt.timedelta(days=3)
    record.care_swap(sam, task.id.hex()[:8], "me")  # Thursday: Sam takes it back
    clock["robin"] = clock["sam"] + dt.timedelta(minutes=5)  # Robin is back online, Thursday
    gossip(sam, robin)  # Robin's older swap arrives now
    for journal in (sam, robin):
        duties, names = look.care_duties(journal)
        assert [names.get(d.person) for d in duties if d.person] == ["Sam"]
