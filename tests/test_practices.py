"""The practices: a drafted state of the partnership, anchor memories for hard days, a list
for learning together, questions for the clinician, and who reached out.

Library tests use the application layer over two real journals paired through a real
invitation (entries handed over as sync would); a partner who breaks a rule uses the library
directly, as a modified client would (tests/attacker.py). Command tests run the real `tend`.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tend.app import anchors, clinician, learning, look, partnership, reaching, record
from tend.core.domain.events import CheckIn, DayKind, LearnItem, LearnStatus, PartnershipWeek
from tend.core.domain.validate import week_of
from tend.core.errors import UserError, ValidationError
from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.present import report_page
from tests.attacker import event_in, write_own
from tests.conftest import TendCLI, gossip, invite

TODAY = dt.date.today()
WEEK = week_of(TODAY)


@pytest.fixture
def couple(tmp_path: Path) -> Iterator[tuple[Journal, Journal]]:
    """Sam and Alex, paired, each holding the other's entries."""
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    gossip(sam, alex)
    yield sam, alex
    sam.close()
    alex.close()


def cli_for(journal: Journal) -> TendCLI:
    journal.close()  # the command opens the home itself
    return TendCLI(journal.home)


def numbers_in(value: Any) -> list[Any]:
    """Every number anywhere in a JSON value (booleans are not numbers)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []


# --- anchor memories -------------------------------------------------------------------------


def test_an_anchor_is_shared_unless_kept_private_and_the_author_sees_both(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    anchors.add(sam, "the evening we laughed at the sea", on=dt.date(2025, 8, 14))
    kept = anchors.add(sam, "your hand on my back in the waiting room", private=True)
    assert kept.private
    gossip(sam, alex)
    mine = anchors.listing(sam)
    assert [(r.text, r.date, r.private) for r in mine] == [
        ("the evening we laughed at the sea", "2025-08-14", False),
        ("your hand on my back in the waiting room", None, True),
    ]
    assert [(r.text, r.name) for r in anchors.listing(alex)] == [
        ("the evening we laughed at the sea", "Sam")
    ]


def test_a_hard_day_is_offered_an_anchor_and_other_days_are_left_in_peace(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    assert anchors.for_a_hard_day(sam, "flare") is None  # none yet: nothing to offer
    anchors.add(alex, "dancing badly in the kitchen")
    anchors.add(alex, "the first walk after hospital")
    gossip(sam, alex)
    days: tuple[DayKind | None, ...] = ("good", "gentle", "rest", None)
    for day in days:
        assert anchors.for_a_hard_day(sam, day) is None
    offered = {anchors.for_a_hard_day(sam, "flare", random.Random(n)) for n in range(20)}
    assert {row.text for row in offered if row is not None} == {
        "dancing badly in the kitchen",
        "the first walk after hospital",
    }


def test_an_anchor_is_a_memory_so_its_day_has_come_and_its_words_are_checked(
    couple: tuple[Journal, Journal],
) -> None:
    sam, _alex = couple
    with pytest.raises(ValidationError, match=r"^date: must be today or a day before it"):
        anchors.add(sam, "next summer", on=TODAY + dt.timedelta(days=1))
    with pytest.raises(ValidationError, match=r"^text: must be some text"):
        anchors.add(sam, "  ")
    assert anchors.listing(sam) == []


def test_a_taken_back_anchor_is_not_offered_again(couple: tuple[Journal, Journal]) -> None:
    sam, _alex = couple
    gone = anchors.add(sam, "a day better let go")
    record.take_back(sam, gone.id.hex())
    assert anchors.listing(sam) == [] and anchors.one_at_random(sam) is None


# --- learning together ----------------------------------------------------------------------


def test_either_partner_marks_an_item_and_both_see_the_same_list(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    book = learning.add(sam, "Loving someone with a chronic illness", kind="book")
    question = learning.add(
        sam, "How do we talk about intimacy now?", kind="question", link="https://example.org/q"
    )
    gossip(sam, alex)
    marked = learning.mark(alex, book.id.hex()[:8])  # Alex read it; it was Sam's to add
    assert (marked.status, learning.done_word(marked.kind)) == ("done", "read it")
    assert learning.done_word("question") == "talked it over"
    gossip(sam, alex)
    for journal in (sam, alex):
        rows = learning.listing(journal)
        assert [(r.title, r.status, r.link) for r in rows] == [
            ("Loving someone with a chronic illness", "done", None),
            ("How do we talk about intimacy now?", "open", "https://example.org/q"),
        ]
        assert rows[1].id == question.id.hex() and rows[1].by == sam.device.person.hex()
    learning.mark(sam, book.id.hex()[:8], "open")  # back on the list, by the other one
    gossip(sam, alex)
    assert learning.listing(alex)[0].status == "open"


def test_a_partner_cannot_rewrite_an_items_words_nor_mark_what_nobody_added(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    book = learning.add(sam, "a gentle book", kind="book")
    gossip(sam, alex)
    # Alex's modified client rewrites Sam's item, and marks an item nobody ever added.
    rewrite = LearnItem(item=book.id, title="a book Sam never chose", kind="article")
    write_own(alex, event_in(alex, rewrite))
    nothing = EventId(bytes(range(16)))
    write_own(alex, event_in(alex, LearnStatus(item=nothing, status="done")))
    # ... and adds an item claiming Sam's id as its own (it creates nothing: the id is Sam's).
    write_own(alex, event_in(alex, LearnItem(item=book.id, title="mine now")))
    gossip(sam, alex)
    for journal in (sam, alex):
        rows = learning.listing(journal)
        assert [(r.title, r.kind, r.status) for r in rows] == [("a gentle book", "book", "open")]


def test_a_link_is_a_web_address_and_an_unknown_item_is_one_clear_line(
    couple: tuple[Journal, Journal],
) -> None:
    sam, _alex = couple
    for bad in ("javascript:alert(1)", "example.org", "https://exa mple.org", "https://"):
        with pytest.raises(ValidationError, match=r"^link: must be a web address"):
            learning.add(sam, "an article", kind="article", link=bad)
    with pytest.raises(UserError, match="no item on the learning list with an id starting"):
        learning.mark(sam, "abcdef12")
    assert learning.listing(sam) == []


# --- questions for the clinician --------------------------------------------------------------


def test_a_question_is_private_by_default_and_shared_only_when_asked(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    first = clinician.ask(sam, "Could the new tiredness be the medication?")
    second = clinician.ask(sam, "When can we travel again?", share=True)
    assert first.private and not second.private
    gossip(sam, alex)
    assert [(q.text, q.private) for q in clinician.questions(sam)] == [
        ("Could the new tiredness be the medication?", True),
        ("When can we travel again?", False),
    ]
    assert clinician.questions(alex) == []  # Alex's list holds only Alex's own questions
    seen_by_alex = [e.body.summary() for e in look.timeline(alex).events]
    assert "a question for the clinician: When can we travel again?" in seen_by_alex
    assert not any("medication" in line for line in seen_by_alex)


def test_the_report_of_ones_own_entries_has_the_questions_and_the_shared_one_does_not(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    sam.record(CheckIn(day="gentle", energy=4))
    clinician.ask(sam, "Is <this> pain normal?")
    clinician.ask(alex, "How can I support without hovering?", share=True)
    gossip(sam, alex)
    own = look.report(sam, own_only=True)
    assert [q.text for q in own.questions] == ["Is <this> pain normal?"]
    page = report_page.render_html(own, TODAY, charts=[""] * len(own.people))
    assert "Questions for the clinician" in page and "Is &lt;this&gt; pain normal?" in page
    together = look.report(sam)
    assert together.questions == ()
    page = report_page.render_html(together, TODAY, charts=[""] * len(together.people))
    assert "Questions for the clinician" not in page and "pain normal" not in page


# --- the state of the partnership, drafted ------------------------------------------------------


def a_week_together(sam: Journal, alex: Journal) -> None:
    """Monday to Wednesday of this week (or the days of it that have come)."""
    monday = TODAY - dt.timedelta(days=TODAY.weekday())
    win = record.small_win(sam, "walked to the corner together", category="movement")
    gossip(sam, alex)
    record.celebrate(alex, win.id.hex())
    record.check_in(alex, day="good", offer="a film tonight", on=monday)
    record.check_in(sam, day="flare", needs=["quiet company", "soup"], on=monday)
    record.thank(sam, "I appreciated how you made coffee while I rested")
    record.thank(alex, "thank you for telling me plainly what helps")
    idea = record.joy_idea(sam, "tea on the balcony", week=WEEK)
    record.joy_status(sam, idea.id.hex(), "done")
    gossip(sam, alex)


def test_a_draft_gathers_the_week_and_suggests_what_sam_might_appreciate(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    a_week_together(sam, alex)
    made = partnership.draft(sam)
    assert made.week == WEEK
    assert [(w.name, w.text) for w in made.small_wins] == [("Sam", "walked to the corner together")]
    assert [(r.name, r.days) for r in made.rest] == [("Sam", (made.start,))]
    # In merge order: two entries written in the same millisecond on two devices may come in
    # either order, so only who wrote what is asked here.
    assert sorted((t.name, t.text) for t in made.thank_yous) == [
        ("Alex", "thank you for telling me plainly what helps"),
        ("Sam", "I appreciated how you made coffee while I rested"),
    ]
    assert made.joys_done == ("tea on the balcony",)
    assert [(a.name, a.needs) for a in made.asked_for] == [("Sam", ("quiet company", "soup"))]
    assert [(s.number, s.kind, s.text) for s in made.suggestions] == [
        (1, "appreciation", "I appreciated how you made coffee while I rested"),
        (2, "appreciation", "celebrating our small win: walked to the corner together"),
        (3, "appreciation", "offering a film tonight"),
        (4, "went_well", "walked to the corner together"),
        (5, "went_well", "tea on the balcony"),
        (6, "went_well", "we made room for rest when it was needed"),
    ]
    assert [c.name for c in made.cards] == [
        "appreciation",
        "i-statement",
        "listening back",
        "repair",
    ]
    assert made.cards[0].prompt == "I appreciated it when you ..."
    # Alex's draft of the same week suggests what Alex wrote, not Sam's words.
    theirs = partnership.draft(alex)
    assert [s.text for s in theirs.suggestions if s.kind == "appreciation"] == [
        "thank you for telling me plainly what helps"
    ]


def test_saving_a_draft_keeps_what_was_not_dropped_as_the_weeks_entry(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    a_week_together(sam, alex)
    made = partnership.draft(sam)
    saved = partnership.save(sam, made, drop=[2, 6], adjustment="plan rest before physio")
    body = saved.event.body
    assert isinstance(body, PartnershipWeek)
    assert body.week == WEEK
    assert body.appreciations == (
        "I appreciated how you made coffee while I rested",
        "offering a film tonight",
    )
    assert body.went_well == "walked to the corner together; tea on the balcony"
    assert body.adjustment == "plan rest before physio"
    with pytest.raises(ValidationError, match=r"^drop: must be the number of a suggestion"):
        partnership.save(sam, made, drop=[7])


def test_a_quiet_week_drafts_gently_and_saving_nothing_says_what_is_needed(
    couple: tuple[Journal, Journal],
) -> None:
    sam, _alex = couple
    made = partnership.draft(sam, "2026-W02")
    assert made.suggestions == () and made.small_wins == () and len(made.cards) == 4
    with pytest.raises(ValidationError, match=r"^drop: .* \(this draft has none\)"):
        partnership.save(sam, made, drop=[1])
    with pytest.raises(ValidationError, match=r"^partnership: must be at least one"):
        partnership.save(sam, made)
    with pytest.raises(ValidationError, match=r"^week: must be an ISO week"):
        partnership.draft(sam, "next week")


# --- who reached out ---------------------------------------------------------------------------


def test_reaching_out_is_the_same_on_both_devices_in_words_and_in_order(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    a_week_together(sam, alex)
    record.thank(sam, "a thank-you not shared yet", private=True)
    seen = [reaching.reached_out(j) for j in (sam, alex)]
    assert seen[0] == seen[1]
    moments = [(m.name, m.kind, m.text, m.for_name) for m in seen[0].moments]
    assert sorted(moments) == sorted(
        [
            ("Alex", "celebrated", "walked to the corner together", "Sam"),
            ("Alex", "offered", "a film tonight", "Sam"),
            ("Sam", "thanked", "I appreciated how you made coffee while I rested", "Alex"),
            ("Alex", "thanked", "thank you for telling me plainly what helps", "Sam"),
        ]
    )
    assert [m.date for m in seen[0].moments] == sorted(m.date for m in seen[0].moments)


def test_a_month_or_a_week_is_asked_for_plainly(couple: tuple[Journal, Journal]) -> None:
    sam, _alex = couple
    assert reaching.span(month="2026-02")[:2] == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert reaching.span(week="2026-W10")[:2] == (dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    with pytest.raises(ValidationError, match=r"^month: must be a month like 2026-03"):
        reaching.reached_out(sam, month="March")
    with pytest.raises(ValidationError, match=r"^week: must be a week or a month, not both"):
        reaching.reached_out(sam, week="2026-W10", month="2026-03")


# --- the commands --------------------------------------------------------------------------------


def test_tend_anchor_adds_lists_and_offers_one(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    assert "No anchor memories yet" in tend.ok("anchor")
    assert "Kept as an anchor." in tend.ok("anchor", "the evening we laughed at the sea")
    said = tend.ok("anchor", "add", "tea in the garden", "--date", "yesterday", "--private")
    assert "Kept as an anchor (private)." in said
    rows = tend.json("anchor", "list")["items"]
    assert [(r["text"], r["private"]) for r in rows] == [
        ("the evening we laughed at the sea", False),
        ("tea in the garden", True),
    ]
    assert set(rows[0]) == {"id", "text", "date", "by", "name", "private"}
    assert rows[1]["date"] == (TODAY - dt.timedelta(days=1)).isoformat()
    assert tend.ok("anchor").startswith("Something to hold on to: ")
    bad = tend("anchor", "add", "someday", "--date", "tomorrow")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "date:" in bad.stderr


def test_tend_learn_adds_marks_and_lists(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    added = tend.ok("learn", "add", "What do we want from touch now?", "--kind", "question")
    item = re.search(r"\[([0-9a-f]{8})\]", added)
    assert item is not None
    tend.ok("learn", "add", "An article on pacing", "--kind", "article", "--link", "https://x.org")
    assert tend.ok("learn", "done", item[1]).strip() == "Talked it over. Lovely."
    listed = tend.ok("learn", "list")
    assert "talked it over" in listed and "on the list  https://x.org" in listed
    rows = tend.json("learn", "list")["items"]
    assert [(r["kind"], r["status"]) for r in rows] == [("question", "done"), ("article", "open")]
    assert set(rows[0]) == {"id", "title", "kind", "link", "status", "by"}
    bad = tend("learn", "add", "x", "--link", "ftp://x")
    assert bad.returncode == 1 and "link: must be a web address" in bad.stderr


def test_tend_ask_notes_privately_and_the_own_report_gathers_the_questions(
    tend: TendCLI, tmp_path: Path
) -> None:
    tend.ok("init", "--name", "Sam")
    assert "(private)" in tend.ok("ask", "Is the new tiredness the medicine?")
    assert "(shared)" in tend.ok("ask", "add", "Can we travel in spring?", "--share")
    rows = tend.json("ask", "list")["items"]
    assert [(r["text"], r["private"]) for r in rows] == [
        ("Is the new tiredness the medicine?", True),
        ("Can we travel in spring?", False),
    ]
    assert set(rows[0]) == {"id", "text", "date", "private"}
    assert "Is the new tiredness the medicine?" in tend.ok("ask")  # alone, it lists them
    mine, ours = tmp_path / "mine.html", tmp_path / "ours.html"
    tend.ok("report", "--out", str(mine), "--only-mine")
    tend.ok("report", "--out", str(ours))
    assert "Questions for the clinician" in mine.read_text()
    assert "Is the new tiredness the medicine?" in mine.read_text()
    assert "Questions for the clinician" not in ours.read_text()


def test_tend_partnership_draft_saves_what_is_kept_and_still_records_as_before(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    a_week_together(sam, alex)
    tend = cli_for(sam)
    shown = tend.ok("partnership", "draft", "--drop", "3")
    assert "[1] I appreciated how you made coffee while I rested" in shown
    assert "[3] offering a film tonight  (dropped)" in shown
    assert "What I heard you say is ..." in shown and "I'm sorry for ...;" in shown
    assert (
        "tend partnership --week " + WEEK in shown
        and "offering a film" not in shown.split("Or in your own words:")[1]
    )
    assert "tend partnership draft --save" in shown
    out = tend.json("partnership", "draft", "--save", "--drop", "3")
    assert out["saved"] and out["week"] == WEEK
    assert set(out) == {
        "week", "start", "end", "small_wins", "rest", "thank_yous", "joys_done", "asked_for",
        "suggestions", "cards", "saved",
    }  # fmt: skip
    assert numbers_in({k: v for k, v in out.items() if k != "suggestions"}) == []
    week = tend.json("week")["partnership"]
    assert [e["fields"]["appreciations"] for e in week] == [
        [
            "I appreciated how you made coffee while I rested",
            "celebrating our small win: walked to the corner together",
        ]
    ]
    bad = tend("partnership", "draft", "--drop", "9")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == "tend: drop: must be the number of a suggestion shown (1 to 6)\n"
    assert "Noted for this week." in tend.ok("partnership", "--went-well", "we asked plainly")
    assert len(tend.json("week")["partnership"]) == 2


def test_tend_reached_out_shows_no_number_side_by_side(couple: tuple[Journal, Journal]) -> None:
    sam, alex = couple
    a_week_together(sam, alex)
    tend = cli_for(sam)
    shown = tend.ok("reached-out").splitlines()
    assert shown[0].startswith("Reaching out, the week of ")
    body = "\n".join(shown[1:])
    assert "Alex celebrated a small win, walked to the corner together" in body
    assert "Alex offered a film tonight" in body
    assert "Sam thanked Alex: I appreciated how you made coffee while I rested" in body
    assert not re.search(r"\d", body)  # no count, no tally, no number of any kind
    out = tend.json("reached-out")
    assert set(out) == {"start", "end", "moments"}
    assert numbers_in(out) == []
    month = tend.ok("reached-out", "--month", f"{TODAY:%Y-%m}").splitlines()
    for line in month[1:]:  # a month names its days: one date on a line, and nobody beside it
        assert len(re.findall(r"\d+", line)) <= 1
        assert not re.search(r"\d", line) or not re.search("Sam|Alex", line)
    bad = tend("reached-out", "--month", "March")
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "tend: month: must be a month like 2026-03 (got 'March')"
    )


def test_every_new_kind_has_a_timeline_line_and_a_markdown_line(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    sam, _alex = couple
    anchors.add(sam, "the sea")
    item = learning.add(sam, "a book", kind="book")
    learning.mark(sam, item.id.hex())
    clinician.ask(sam, "about sleep")
    lines = [e.body.summary() for e in look.timeline(sam).events]
    assert {
        "an anchor memory: the sea",
        "to learn together: a book (book)",
        "learned something together",
        "a question for the clinician: about sleep",
    } <= set(lines)
    tend = cli_for(sam)
    out = tmp_path / "journal.md"
    tend.ok("export", "--format", "markdown", "--out", str(out))
    text = out.read_text()
    assert "an anchor memory: the sea" in text and "to learn together: a book" in text
    assert "a question for the clinician: about sleep" in text
    timeline = json.loads(tend.ok("timeline", "--json"))["events"]
    assert {"anchor", "learn.added", "learn.status", "clinician.question"} <= {
        e["type"] for e in timeline
    }
