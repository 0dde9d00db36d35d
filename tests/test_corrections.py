"""Corrections that change only what they name, private notes as their own kind, sharing a
private entry later, and the day's values (per field, the latest check-in that names it).

Two partners on real SQLite journals, paired through a real invitation (no relay); entries are
exchanged the way sync would (tests/conftest.py `gossip`). The partner's modified client is the
library used directly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tend.app import look, record
from tend.core.domain.codec import encode_event
from tend.core.domain.events import (
    Celebration,
    CheckIn,
    ComfortSignal,
    Event,
    Milestone,
    Note,
    PartnershipWeek,
    Share,
)
from tend.core.errors import UserError, ValidationError
from tend.core.ids import event_id_at
from tend.core.journal import Journal
from tests.conftest import TendCLI, gossip, invite

TODAY = dt.date.today()
YESTERDAY = TODAY - dt.timedelta(days=1)


@pytest.fixture
def couple(tmp_path: Path) -> tuple[Journal, Journal]:
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    gossip(sam, alex)
    return sam, alex


def day_of(journal: Journal, on: dt.date = TODAY) -> CheckIn | None:
    """Sam's values for a day, as the week on `journal` shows them."""
    shown = look.week(journal, on)
    sam = next(p for p, d in shown.view.people.items() if d.name == "Sam")
    return shown.view.people[sam].checkins.get(on.isoformat())


def timeline_ids(journal: Journal, kind: str) -> list[str]:
    return [e.id.hex() for e in look.timeline(journal, types=[kind]).events]


# --- the day's values -----------------------------------------------------------------------


def test_a_private_note_never_blanks_the_days_values(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    record.check_in(sam, day="flare", energy=2, pain=6)
    noted = record.note(sam, "a hard afternoon, but the soup helped")
    gossip(sam, alex)
    assert noted.private
    for journal in (sam, alex):  # both devices show the same day
        assert day_of(journal) == CheckIn(day="flare", energy=2, pain=6)
    today = look.today(sam).view
    assert today.people[0][2] is not None
    assert today.people[0][2].body == CheckIn(day="flare", energy=2, pain=6)


def test_a_partial_check_in_changes_only_what_it_names(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    record.check_in(sam, day="gentle", energy=4, needs=["quiet"])
    record.check_in(sam, pain=5)
    record.check_in(sam, note="only a word", private=True)
    gossip(sam, alex)
    shared = CheckIn(day="gentle", energy=4, pain=5, needs=("quiet",))
    assert day_of(alex) == shared
    assert day_of(sam) == CheckIn(
        day="gentle", energy=4, pain=5, needs=("quiet",), note="only a word"
    )
    for journal in (sam, alex):  # the same average on both devices
        summary = look.compare(journal, [f"{TODAY:%Y-%m}"])[0]
        assert [p.energy for p in summary.people if p.name == "Sam"] == [[4]]


# --- corrections ------------------------------------------------------------------------------


def test_a_correction_keeps_every_field_it_does_not_name(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    first = record.check_in(sam, day="flare", energy=2, needs=["rest"], note="slept badly")
    fixed = record.check_in(sam, pain=7, replaces=first.id.hex()[:8])
    gossip(sam, alex)
    whole = CheckIn(day="flare", energy=2, pain=7, needs=("rest",), note="slept badly")
    assert fixed.event.body == whole
    assert fixed.event.supersedes == first.id
    for journal in (sam, alex):
        assert day_of(journal) == whole
        assert timeline_ids(journal, "checkin") == [fixed.id.hex()]


def test_a_field_is_emptied_only_when_asked(couple: tuple[Journal, Journal]) -> None:
    sam, _alex = couple
    first = record.check_in(sam, day="gentle", energy=3, note="wrong words")
    fixed = record.check_in(sam, replaces=first.id.hex(), clear=["note"])
    assert fixed.event.body == CheckIn(day="gentle", energy=3)
    with pytest.raises(ValidationError, match="given what changes"):
        record.check_in(sam, replaces=fixed.id.hex())
    with pytest.raises(ValidationError, match="clear: must be one of"):
        record.check_in(sam, replaces=fixed.id.hex(), clear=["title"])


def test_a_correction_stands_where_the_check_in_it_corrects_stood(
    couple: tuple[Journal, Journal],
) -> None:
    sam, _alex = couple
    morning = record.check_in(sam, energy=3)
    record.check_in(sam, energy=5)  # later that day
    record.check_in(sam, pain=7, replaces=morning.id.hex())
    assert day_of(sam) == CheckIn(energy=5, pain=7)


def test_correcting_twice_corrects_what_stands_now(couple: tuple[Journal, Journal]) -> None:
    sam, _alex = couple
    first = record.check_in(sam, energy=3, day="rest")
    record.check_in(sam, pain=7, replaces=first.id.hex())
    last = record.check_in(sam, mood=2, replaces=first.id.hex())
    assert last.event.body == CheckIn(day="rest", energy=3, pain=7, mood=2)
    assert len(timeline_ids(sam, "checkin")) == 1


def test_every_kind_with_content_can_be_corrected_keeping_the_rest(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    win = record.small_win(sam, "walked to the corner", category="movement", who="me", note="slow")
    fixed_win = record.small_win(sam, "walked to the park", replaces=win.id.hex())
    assert fixed_win.event.body == Milestone(
        title="walked to the park", category="movement", who="me", note="slow"
    )
    thanks = record.thank(sam, "for the tea", on=YESTERDAY)
    fixed_thanks = record.thank(sam, "for the tea and the blanket", replaces=thanks.id.hex())
    assert fixed_thanks.event.local_date == YESTERDAY.isoformat()  # stays on its day
    signal = record.comfort_signal(sam, "yellow", note="gentle today")
    green = record.comfort_signal(sam, "green", replaces=signal.id.hex()).event.body
    assert green == ComfortSignal(signal="green", note="gentle today")
    soon = TODAY + dt.timedelta(days=3)
    visit = record.calendar_entry(sam, "appointment", soon, at="09:30", title="physio")
    moved = record.calendar_entry(sam, None, None, at="11:00", replaces=visit.id.hex())
    assert moved.event.body.summary() == f"physio on {soon.isoformat()} at 11:00"
    week = record.partnership_week(sam, appreciations=["patience"], went_well="talking")
    fixed_week = record.partnership_week(sam, adjustment="earlier nights", replaces=week.id.hex())
    said = week.event.body.summary() + " · one adjustment: earlier nights"
    assert fixed_week.event.body.summary() == said  # the week and the rest as they were
    assert isinstance(fixed_week.event.body, PartnershipWeek)
    assert fixed_week.event.body.appreciations == ("patience",)
    cheer = record.celebrate(sam, win.id.hex(), "so proud")
    fixed_cheer = record.celebrate(sam, None, replaces=cheer.id.hex(), clear=["note"])
    assert fixed_cheer.event.body == Celebration(milestone=win.id)
    noted = record.note(sam, "first words")
    assert record.note(sam, "better words", replaces=noted.id.hex()).private
    gossip(sam, alex)
    gratitude = look.timeline(alex, types=["gratitude"]).events
    assert [e.body.summary() for e in gratitude] == ["thank you: for the tea and the blanket"]


def test_only_the_author_can_correct_an_entry(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    mine = record.check_in(sam, day="flare", energy=2)
    gossip(sam, alex)
    with pytest.raises(UserError, match="no check-in of yours"):
        record.check_in(alex, pain=1, replaces=mine.id.hex())
    # Alex's modified client writes the "correction" anyway.
    alex.record(CheckIn(day="good", energy=9), supersedes=mine.id)
    gossip(sam, alex)
    for journal in (sam, alex):
        assert day_of(journal) == CheckIn(day="flare", energy=2)
        assert mine.id.hex() in timeline_ids(journal, "checkin")


# --- sharing later ------------------------------------------------------------------------------


def test_a_private_note_shared_later_keeps_its_day_and_the_partner_gains_it(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    noted = record.note(sam, "I was scared at the appointment", on=YESTERDAY)
    gossip(sam, alex)
    assert timeline_ids(alex, "note") == []
    assert look.timeline(sam).private == {noted.id}
    record.share(sam, noted.id.hex()[:8])
    gossip(sam, alex)
    for journal in (sam, alex):
        shown = look.timeline(journal, types=["note"])
        assert [(e.id, e.local_date, e.body) for e in shown.events] == [
            (noted.id, YESTERDAY.isoformat(), Note(text="I was scared at the appointment"))
        ]
        assert shown.private == frozenset()
    with pytest.raises(UserError, match="already shared"):
        record.share(sam, noted.id.hex())


def test_sharing_a_private_check_in_later_leaves_the_days_values_alone(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    early = record.check_in(sam, energy=2, pain=6, private=True)
    record.check_in(sam, energy=5)
    gossip(sam, alex)
    assert day_of(sam) == CheckIn(energy=5, pain=6)
    assert day_of(alex) == CheckIn(energy=5)
    record.share(sam, early.id.hex())
    gossip(sam, alex)
    for journal in (sam, alex):
        assert day_of(journal) == CheckIn(energy=5, pain=6)  # energy 5 still: it came later
        assert len(timeline_ids(journal, "checkin")) == 2


def test_a_private_correction_shared_later_stands_where_it_stood(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    early = record.check_in(sam, energy=2, private=True)
    record.check_in(sam, energy=5)
    fixed = record.check_in(sam, pain=7, replaces=early.id.hex())
    assert fixed.private
    record.share(sam, fixed.id.hex())
    gossip(sam, alex)
    for journal in (sam, alex):
        assert day_of(journal) == CheckIn(energy=5, pain=7)


def test_a_private_entry_corrected_twice_then_shared_stands_where_it_first_stood(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    early = record.check_in(sam, energy=2, private=True)
    record.check_in(sam, energy=5)
    record.check_in(sam, pain=7, replaces=early.id.hex())
    record.check_in(sam, mood=3, replaces=early.id.hex())
    record.share(sam, early.id.hex())  # what stands now: the second correction
    gossip(sam, alex)
    for journal in (sam, alex):
        assert day_of(journal) == CheckIn(energy=5, pain=7, mood=3)


def test_a_private_question_or_anchor_shared_later_reaches_the_partner(
    couple: tuple[Journal, Journal],
) -> None:
    from tend.app import anchors, clinician

    sam, alex = couple
    asked = clinician.ask(sam, "Could the tiredness be the new medicine?")
    held = anchors.add(sam, "the evening we laughed at the sea", private=True)
    gossip(sam, alex)
    assert [a.private for a in anchors.listing(sam)] == [True]
    assert anchors.listing(alex) == []
    record.share(sam, asked.id.hex())
    record.share(sam, held.id.hex())
    gossip(sam, alex)
    assert [q.private for q in clinician.questions(sam)] == [False]
    for journal in (sam, alex):
        assert [(a.id, a.private) for a in anchors.listing(journal)] == [(held.id.hex(), False)]
        assert timeline_ids(journal, "clinician.question") == [asked.id.hex()]


def test_only_the_author_can_share_an_entry(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    secret = record.check_in(sam, energy=1, note="only mine", private=True)
    gossip(sam, alex)
    with pytest.raises(UserError, match="no entry of yours"):
        record.share(alex, secret.id.hex())
    sealed = next(i for i in alex.items() if i.type == "sealed")
    # Alex's modified client: a share that claims to carry Sam's entry, with words of Alex's.
    forged = Event(
        id=secret.id,
        author=sam.device.person,
        device=sam.device.log,
        hlc=sealed.hlc,
        wall_ms=secret.event.wall_ms,
        local_date=secret.event.local_date,
        tz_minutes=0,
        body=CheckIn(energy=10, note="Sam is fine, really"),
    )
    alex.record(Share(entry=encode_event(forged), seq=sealed.seq))
    # And one that carries an entry "by Alex" under the id of Sam's entry, from Sam's log.
    posing = Event(
        id=event_id_at(sam.device.log, sealed.seq),
        author=alex.device.person,
        device=sam.device.log,
        hlc=sealed.hlc,
        wall_ms=secret.event.wall_ms,
        local_date=secret.event.local_date,
        tz_minutes=0,
        body=CheckIn(energy=10, note="Sam is fine, really"),
    )
    alex.record(Share(entry=encode_event(posing), seq=sealed.seq))
    gossip(sam, alex)
    for journal in (sam, alex):
        notes = [getattr(e.body, "note", None) for e in journal.events()]
        assert "Sam is fine, really" not in notes
        assert all(e.type != "share" for e in look.timeline(journal).events)
    assert day_of(alex) is None
    assert day_of(sam) == CheckIn(energy=1, note="only mine")
    assert look.timeline(sam).private == {secret.id}  # still Sam's alone


def test_private_entries_are_marked_in_the_authors_views(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    from tend.core.views import export

    sam, _alex = couple
    hidden = record.check_in(sam, energy=3, private=True)
    record.small_win(sam, "made tea", private=True)
    record.thank(sam, "for the walk")
    assert look.today(sam).view.private == {hidden.id}
    week = look.week(sam).view
    assert {e.body.summary() for e in week.milestones if e.id in week.private} == {
        "small win: made tea"
    }
    assert not any(e.id in week.private for e in week.gratitude)
    sam_days = next(d for d in week.people.values() if d.name == "Sam")
    assert sam_days.private_days == {TODAY.isoformat()}
    out = tmp_path / "out.md"
    export.to_markdown(sam.items(), out)
    lines = out.read_text().splitlines()
    assert any("made tea" in line and line.endswith("(only you)") for line in lines)
    assert not any("for the walk" in line and "(only you)" in line for line in lines)


def test_the_report_marks_private_entries_for_their_author(
    couple: tuple[Journal, Journal],
) -> None:
    from tend.present import report_page

    sam, _alex = couple
    record.small_win(sam, "made tea", private=True)
    record.thank(sam, "for the walk")
    shown = look.report(sam, TODAY, TODAY)
    assert [(w.title, w.private) for w in shown.small_wins] == [("made tea", True)]
    assert [(t.text, t.private) for t in shown.thank_yous] == [("for the walk", False)]
    page = report_page.render_html(shown, TODAY, charts=[""] * len(shown.people))
    assert page.count("(only you)") == 1


def test_the_text_views_mark_private_entries(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    tend.ok("checkin", "--energy", "3", "--private")
    tend.ok("note", "just for me")
    wide = {"COLUMNS": "200"}
    for view in ("today", "week", "month", "timeline"):
        assert "(only you)" in tend.ok(view, env=wide), view
    assert [e["private"] for e in tend.json("timeline", "--type", "note")["events"]] == [True]
    assert tend.json("today")["people"][0]["checkin"]["private"] is True


def test_a_correction_keeps_its_entrys_privacy(couple: tuple[Journal, Journal]) -> None:
    sam, _alex = couple
    shared = record.check_in(sam, energy=3)
    with pytest.raises(ValidationError, match="private: must be left out when correcting"):
        record.check_in(sam, pain=2, private=True, replaces=shared.id.hex())
    hidden = record.note(sam, "mine")
    with pytest.raises(ValidationError, match="share: must be left out when correcting"):
        record.note(sam, "ours", share=True, replaces=hidden.id.hex())
