"""What partners write for each other reaches each other: today, week, month, the timeline, the
report and the markdown export show the words, who wrote them and what they are about.

Library tests use two real journals (real SQLite, real keys) brought together by a real
invitation and exchanging entries as sync would (tests/conftest.py); a few run the real `tend`
on those homes and read what it prints.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tend.app import export, home, look, record, settings
from tend.cli import jsonview
from tend.core.domain.events import ComfortSignal, Retraction
from tend.core.errors import UserError
from tend.core.journal import Journal
from tend.core.views import describe, projections
from tend.core.views import report as reporting
from tend.present import report_page
from tests.conftest import TendCLI, gossip, invite

TODAY = dt.date.today()
TOMORROW = TODAY + dt.timedelta(days=1)


@dataclass
class Couple:
    sam: Journal
    robin: Journal
    sam_home: Path
    robin_home: Path

    def close(self) -> None:
        self.sam.close()
        self.robin.close()


@pytest.fixture
def couple(tmp_path: Path) -> Iterator[Couple]:
    sam = home.start(tmp_path / "sam", "Sam")
    robin = invite(sam, tmp_path / "robin", own=False, name="Robin")
    gossip(sam, robin)
    pair = Couple(sam, robin, tmp_path / "sam", tmp_path / "robin")
    yield pair
    pair.close()


def run_tend(where: Path, *args: str) -> str:
    return TendCLI(where).ok(*args, env={"COLUMNS": "100", "NO_COLOR": "1"})


# --- today: comfort signals, a pause, the day's calendar ---------------------------------------


def test_today_shows_each_current_comfort_signal_with_its_note_and_a_pause_in_force(
    couple: Couple,
) -> None:
    record.comfort_signal(couple.robin, "green")
    record.comfort_signal(couple.robin, "red", note="my back is sore tonight")  # the latest counts
    record.comfort_signal(couple.sam, "pause", note="need a quiet evening")
    gossip(couple.sam, couple.robin)
    shown = look.today(couple.sam).view
    robin, sam = couple.robin.device.person, couple.sam.device.person
    assert shown.comfort[robin] == projections.Comfort("red", "my back is sore tonight")
    assert shown.comfort[sam].pause and not shown.comfort[robin].pause
    assert shown.paused() == [(sam, "Sam")]
    as_json = jsonview.today(shown, look.today(couple.sam).names)
    by_name = {p["name"]: p for p in as_json["people"]}
    assert by_name["Robin"]["comfort"] == {
        "signal": "red",
        "note": "my back is sore tonight",
        "pause": False,
        "private": False,
    }
    assert by_name["Sam"]["comfort"]["pause"] is True
    couple.close()
    out = run_tend(couple.robin_home, "today")
    assert "Sam asked for a pause." in out
    assert "comfort: red (my back is sore tonight)" in out
    assert "comfort: pause (need a quiet evening)" in out


def test_a_private_comfort_signal_is_marked_only_you_for_its_author_alone(couple: Couple) -> None:
    record.comfort_signal(couple.sam, "yellow", note="slow", private=True)
    record.comfort_signal(couple.robin, "green", share=True)
    gossip(couple.sam, couple.robin)
    sam, robin = couple.sam.device.person, couple.robin.device.person
    mine = look.today(couple.sam).view
    assert mine.comfort[sam] == projections.Comfort("yellow", "slow", private=True)
    assert not mine.comfort[robin].private
    assert sam not in look.today(couple.robin).view.comfort  # Robin cannot read it
    week = look.week(couple.sam)
    marked = {e.author: e.id in week.view.private for e in week.view.comfort}
    assert marked == {sam: True, robin: False}  # whatever order the two signals merged in
    couple.close()
    out = run_tend(couple.sam_home, "today")
    assert "comfort: yellow (slow) (only you)" in out
    assert "(only you)" not in run_tend(couple.robin_home, "today")
    shared = run_tend(couple.sam_home, "week")
    assert "yellow (slow) (only you)" in shared


def test_a_partner_cannot_take_back_or_replace_the_others_comfort_signal(couple: Couple) -> None:
    # Robin's device, modified: it writes a retraction of Sam's pause, and a signal that
    # claims to replace it. Sam's pause stands on both devices.
    pause = record.comfort_signal(couple.sam, "pause", note="not tonight")
    gossip(couple.sam, couple.robin)
    couple.robin.record(Retraction(target=pause.id))
    couple.robin.record(ComfortSignal(signal="green"), supersedes=pause.id)
    gossip(couple.sam, couple.robin)
    sam, robin = couple.sam.device.person, couple.robin.device.person
    for journal in (couple.sam, couple.robin):
        shown = look.today(journal).view
        assert shown.comfort[sam] == projections.Comfort("pause", "not tonight")
        assert shown.comfort[robin].signal == "green"  # Robin's own signal, and only that
        assert [name for _p, name in shown.paused()] == ["Sam"]


def test_today_shows_the_days_rest_and_appointments_and_whose_each_is(couple: Couple) -> None:
    record.calendar_entry(couple.sam, "appointment", TODAY, at="09:30", title="physio")
    record.calendar_entry(couple.robin, "rest", TODAY, who="both")
    record.calendar_entry(couple.robin, "appointment", TODAY, title="dentist", who="partner")
    record.calendar_entry(couple.sam, "appointment", TOMORROW, title="not today")
    gossip(couple.sam, couple.robin)
    shown = look.today(couple.sam)
    lines = [describe.calendar_line(e, shown.names) for e in shown.view.calendar]
    assert sorted(lines) == sorted(
        [
            f"Sam: physio on {TODAY} at 09:30",
            f"both of you: rest day on {TODAY}",
            f"Sam: dentist on {TODAY}",  # Robin put it down for their partner: Sam's
        ]
    )
    entries = jsonview.today(shown.view, shown.names)["calendar"]
    whose = sorted((e["for"]["name"], e["for"]["both"]) for e in entries if e["for"]["name"])
    assert whose == [("Sam", False), ("Sam", False)]
    assert [e["for"] for e in entries if e["for"]["both"]] == [
        {"both": True, "person": None, "name": None}
    ]
    couple.close()
    out = run_tend(couple.robin_home, "today")
    assert "On the calendar today" in out and "both of you: rest day" in out
    assert "not today" not in out


def test_a_flare_day_is_said_neutrally_in_today(couple: Couple) -> None:
    record.check_in(couple.robin, day="flare", needs=["soup"], offer="a film pick")
    couple.close()
    out = run_tend(couple.robin_home, "today")
    assert "flare day" in out and "resting" not in out
    assert "would help: soup" in out and "can offer: a film pick" in out


# --- comfort signals kept private by default ---------------------------------------------------


def test_a_comfort_signal_private_by_default_says_so_and_one_can_be_shared_anyway(
    couple: Couple,
) -> None:
    settings.keep_private_by_default(couple.sam, ["comfort"], on=True)
    kept = record.comfort_signal(couple.sam, "red", note="only for me")
    assert kept.private
    gossip(couple.sam, couple.robin)
    assert couple.sam.device.person not in look.today(couple.robin).view.comfort
    shared = record.comfort_signal(couple.sam, "yellow", note="go slowly", share=True)
    assert not shared.private
    with pytest.raises(UserError, match="either private or shared"):
        record.comfort_signal(couple.sam, "green", private=True, share=True)
    gossip(couple.sam, couple.robin)
    seen = look.today(couple.robin).view.comfort[couple.sam.device.person]
    assert seen == projections.Comfort("yellow", "go slowly")


def test_the_comfort_command_says_when_a_signal_stayed_private(couple: Couple) -> None:
    couple.close()
    cli = TendCLI(couple.sam_home)
    cli.ok("private-default", "comfort")
    said = cli.ok("comfort", "red", "--note", "tired")
    assert "Kept private" in said and "only your own devices" in said and "--share" in said
    said = cli.ok("comfort", "green", "--share")
    assert "Kept private" not in said and "Thank you for saying" in said
    both = cli("comfort", "green", "--share", "--private")
    assert both.returncode == 1 and len(both.stderr.strip().splitlines()) == 1


# --- week and month: what each wrote, in full -------------------------------------------------


def write_a_week(couple: Couple) -> None:
    """One of each thing people write for each other, this week, both ways."""
    sam, robin = couple.sam, couple.robin
    win = record.small_win(sam, "walked to the corner", note="slowly, arm in arm")
    gossip(sam, robin)
    record.celebrate(robin, win.id.hex()[:8], "so proud of you")
    record.partnership_week(
        robin,
        appreciations=["the soup on Tuesday", "your patience"],
        went_well="we laughed on the sofa",
        adjustment="an earlier night on Fridays",
    )
    record.boundary(sam, "no tickling near the scar")
    record.comfort_signal(robin, "yellow", note="gentle hugs only")
    task = record.care_task(sam, "pharmacy run", owner="me")
    gossip(sam, robin)
    record.care_swap(robin, task.id.hex()[:8], "me", note="I'm out anyway")
    record.check_in(sam, day="rest", needs=["a quiet hour"], offer="a foot rub", note="slept badly")
    gossip(sam, robin)


PERIOD_WORDS = (
    "so proud of you",
    "the soup on Tuesday",
    "your patience",
    "we laughed on the sofa",
    "an earlier night on Fridays",
    "no tickling near the scar",
    "gentle hugs only",
    "pharmacy run",
    "I'm out anyway",
    "a quiet hour",
    "a foot rub",
    "slept badly",
)


def test_the_week_and_month_carry_what_each_wrote_for_the_other(couple: Couple) -> None:
    write_a_week(couple)
    for shown in (look.week(couple.robin), look.month(couple.robin)):
        view = shown.view
        [note] = view.partnership
        assert "went well: we laughed on the sofa" in note.body.summary()
        [bound] = view.boundaries
        assert bound.author == couple.sam.device.person
        assert [e.body.summary() for e in view.comfort] == [
            "comfort signal: yellow (gentle hugs only)"
        ]
        assert shown.lookup is not None
        assert [describe.line(e, shown.lookup) for e in view.care_swaps] == [
            "swapped a care task: pharmacy run, now for Robin (I'm out anyway)"
        ]
    couple.close()
    for command in ("week", "month"):
        out = run_tend(couple.robin_home, command)
        flat = " ".join(out.split())
        missing = [w for w in PERIOD_WORDS if w not in flat]
        assert missing == [], command
        assert "Sam: no tickling near the scar" in flat  # who set it
        assert "state of the partnership for" not in flat  # the words themselves, not a title


def test_the_week_lists_you_first_as_today_does(couple: Couple) -> None:
    for journal, me in ((couple.sam, "Sam"), (couple.robin, "Robin")):
        week = look.week(journal)
        assert next(d.name for d in week.view.people.values()) == me
        assert look.today(journal).view.people[0][1] == me
        report = look.report(journal)
        assert report.people[0].name == me


def test_week_and_month_json_carry_the_new_lists_under_their_keys(couple: Couple) -> None:
    write_a_week(couple)
    record.calendar_entry(couple.sam, "rest", TODAY, who="both")
    gossip(couple.sam, couple.robin)
    couple.close()
    cli = TendCLI(couple.robin_home)
    for command in ("week", "month"):
        got = cli.json(command)
        assert [e["summary"] for e in got["comfort"]] == [
            "comfort signal: yellow (gentle hugs only)"
        ]
        assert [e["fields"]["text"] for e in got["boundaries"]] == ["no tickling near the scar"]
        assert [e["author_name"] for e in got["boundaries"]] == ["Sam"]
        assert got["care_swaps"][0]["summary"].startswith("swapped a care task: pharmacy run")
        assert "we laughed on the sofa" in got["partnership"][0]["summary"]
        assert got["calendar"][0]["for"] == {"both": True, "person": None, "name": None}
        assert got["people"][0]["name"] == "Robin"  # you first


# --- the timeline -----------------------------------------------------------------------------


def test_the_timeline_says_which_joy_goal_task_and_small_win_an_entry_is_about(
    couple: Couple,
) -> None:
    sam, robin = couple.sam, couple.robin
    joy = record.joy_idea(sam, "tea on the balcony")
    goal = record.gentle_goal(sam, "one slow walk a week")
    task = record.care_task(sam, "watering the plants")
    win = record.small_win(sam, "cooked together")
    gossip(sam, robin)
    record.joy_status(robin, joy.id.hex()[:8], "done")
    record.goal_week(robin, goal.id.hex()[:8], "adapted", note="two short ones instead")
    record.care_swap(robin, task.id.hex()[:8], "me")
    record.celebrate(robin, win.id.hex()[:8], "best pasta")
    record.boundary(robin, "ask before a hug from behind")
    record.comfort_signal(robin, "red", note="sore today")
    gossip(sam, robin)
    shown = look.timeline(sam)
    assert shown.lookup is not None
    lines = [describe.line(e, shown.lookup) for e in shown.events]
    week = look.gentle_goals(sam)[0].weeks
    for expected in (
        "joy done: tea on the balcony",
        f"goal adapted for {next(iter(week))}: one slow walk a week (two short ones instead)",
        "swapped a care task: watering the plants, now for Robin",
        "celebrated a small win: cooked together (best pasta)",
        "shared a boundary: ask before a hug from behind",
        "comfort signal: red (sore today)",
    ):
        assert expected in lines
    # Robin's device says Robin brought it in; Sam's, which let it in, says whose it is.
    devices = {
        (shown.names[e.author], describe.line(e, shown.lookup))
        for e in shown.events
        if e.type == "device.added" and "(robin)" in describe.line(e, shown.lookup)
    }
    assert devices == {
        ("Robin", "brought a new device in (robin)"),
        ("Sam", "let Robin's new device in (robin)"),
    }
    couple.close()
    out = run_tend(couple.sam_home, "timeline")
    assert "joy done: tea on the balcony" in out and "now for Robin" in out
    events = TendCLI(couple.sam_home).json("timeline")["events"]
    assert "joy done: tea on the balcony" in [e["summary"] for e in events]


# --- the report -------------------------------------------------------------------------------


def test_the_report_has_partnership_notes_boundaries_cheers_and_signals_only_when_asked(
    couple: Couple,
) -> None:
    write_a_week(couple)
    quiet = look.report(couple.sam)
    assert quiet.signals == () and not quiet.with_signals
    [note] = quiet.partnership
    assert (note.by, note.went_well) == ("Robin", "we laughed on the sofa")
    assert note.appreciations == ("the soup on Tuesday", "your patience")
    assert [(b.by, b.text) for b in quiet.boundaries] == [("Sam", "no tickling near the scar")]
    assert quiet.small_wins[0].cheers == (reporting.Cheer("Robin", "so proud of you"),)
    page = report_page.render_html(quiet, TODAY, charts=[""] * len(quiet.people))
    for words in ("we laughed on the sofa", "an earlier night on Fridays", "so proud of you"):
        assert words in page
    assert "no tickling near the scar" in page
    assert "gentle hugs only" not in page and "Comfort signals" not in page
    told = look.report(couple.sam, with_signals=True)
    assert [(s.by, s.signal, s.note) for s in told.signals] == [
        ("Robin", "yellow", "gentle hugs only")
    ]
    page = report_page.render_html(told, TODAY, charts=[""] * len(told.people))
    assert "gentle hugs only" in page and "Comfort signals" in page


def test_the_report_command_takes_with_signals(couple: Couple, tmp_path: Path) -> None:
    write_a_week(couple)
    couple.close()
    cli = TendCLI(couple.robin_home)
    plain, told = tmp_path / "plain.html", tmp_path / "told.html"
    cli.ok("report", "--out", str(plain))
    cli.ok("report", "--out", str(told), "--with-signals")
    assert "gentle hugs only" not in plain.read_text()
    assert "gentle hugs only" in told.read_text()


# --- the markdown export ----------------------------------------------------------------------


def test_the_markdown_export_holds_every_word_of_every_kind_recorded(
    couple: Couple, tmp_path: Path
) -> None:
    sam, robin = couple.sam, couple.robin
    record.check_in(sam, day="gentle", energy=4, pain=6, mood=2, needs=["quiet"], offer="tea")
    record.check_in(sam, note="the rain was lovely")
    win = record.small_win(sam, "sat outside", note="ten whole minutes")
    record.thank(sam, "thank you for the blanket")
    joy = record.joy_idea(sam, "kite flying")
    record.calendar_entry(sam, "appointment", TOMORROW, at="10:15", title="physio")
    record.calendar_entry(sam, "rest", TOMORROW, title="after physio", who="both")
    goal = record.gentle_goal(sam, "one slow walk a week")
    record.ritual(sam, "Sunday pancakes")
    record.partnership_week(
        sam, appreciations=["your calm"], went_well="the walk", adjustment="fewer screens"
    )
    record.boundary(sam, "no surprises at the door")
    record.comfort_signal(sam, "yellow", note="slowly please")
    task = record.care_task(sam, "laundry")
    gossip(sam, robin)
    record.celebrate(robin, win.id.hex()[:8], "lovely to see")
    record.joy_status(robin, joy.id.hex()[:8], "planned")
    record.goal_week(robin, goal.id.hex()[:8], "met", note="twice!")
    record.care_swap(robin, task.id.hex()[:8], "me", note="my turn")
    gossip(sam, robin)
    out = tmp_path / "journal.md"
    export.write(sam, "markdown", out)
    text = out.read_text()
    for words in (
        "gentle day",
        "energy 4",
        "pain 6",
        "mood 2",
        "would help: quiet",
        "can offer: tea",
        "the rain was lovely",
        "sat outside",
        "ten whole minutes",
        "thank you for the blanket",
        "kite flying",
        "joy planned: kite flying",
        "physio",
        "at 10:15",
        "both of you: rest day (after physio)",
        "one slow walk a week",
        "goal met for",
        "twice!",
        "Sunday pancakes",
        "your calm",
        "went well: the walk",
        "one adjustment: fewer screens",
        "no surprises at the door",
        "comfort signal: yellow (slowly please)",
        "laundry",
        "now for Robin (my turn)",
        "celebrated a small win: sat outside (lovely to see)",
    ):
        assert words in text, words
    assert json.dumps(text)  # one plain text file


# --- wording -----------------------------------------------------------------------------------


def test_meeting_a_goal_is_praised_without_assuming_who_met_it(couple: Couple) -> None:
    goal = record.gentle_goal(couple.sam, "one slow walk a week")
    couple.close()
    said = TendCLI(couple.sam_home).ok("goal", "week", goal.id.hex()[:8], "met")
    assert "Well done" in said and "both of you" not in said


def test_a_name_in_a_section_heading_is_shown_as_written_never_read_as_markup(
    tmp_path: Path,
) -> None:
    sam = home.start(tmp_path / "sam", "Sam [red]x[/red]")
    record.check_in(sam, day="rest", note="a slow morning")
    sam.close()
    out = run_tend(tmp_path / "sam", "week")
    assert "Sam [red]x[/red]'s days" in out
