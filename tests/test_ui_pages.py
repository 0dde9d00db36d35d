"""Each page renders from a real journal, and each form records through the application
layer: the entry is then read back with the library, as the command would see it."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest

from tend.app import home, keeping, look
from tend.core.domain import events as ev
from tend.core.journal import Journal
from tend.core.views import projections
from tests.conftest import gossip, invite
from tests.ui_helpers import Browser, page_on

PAGES = (
    "/",
    "/practices",
    "/together",
    "/partnership",
    "/week",
    "/month",
    "/timeline",
    "/replay",
    "/compare",
    "/devices",
)


@pytest.fixture
def sam(tmp_path: Path) -> Path:
    where = tmp_path / "sam"
    home.start(where, "Sam").close()
    return where


def journal_of(browser: Browser) -> Journal:
    assert browser.state.journal is not None
    return browser.state.journal


def mine(browser: Browser, kind: type[ev.Payload]) -> list[ev.Event]:
    journal = journal_of(browser)
    return [
        e
        for e in look.timeline(journal, types=[kind.TYPE]).events
        if e.author == journal.device.person
    ]


def body(event: ev.Event) -> ev.Payload:
    return event.body


async def test_every_page_renders_with_its_heading_and_labelled_controls(sam: Path) -> None:
    async with page_on(sam) as browser:
        for path in PAGES:
            page = await browser.text(path)
            assert "<h1>" in page, path
            for control in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
                if 'type="hidden"' in control:
                    continue
                found = re.search(r'id="([^"]+)"', control)
                assert found, (path, control)
                assert f'for="{found.group(1)}"' in page, (path, control)


async def test_one_tap_rest_day_is_a_complete_check_in(sam: Path) -> None:
    async with page_on(sam) as browser:
        answer = await browser.post("/rest", {}, follow=True)
        assert "Rest day kept. Rest counts." in await answer.text()
        [entry] = mine(browser, ev.CheckIn)
        assert body(entry) == ev.CheckIn(day="rest")
        assert "rest day (kept)" in await browser.text("/")


async def test_a_check_in_records_sliders_chips_and_a_note(sam: Path) -> None:
    async with page_on(sam) as browser:
        await browser.post(
            "/checkin",
            [
                ("day", "gentle"),
                ("energy_on", "1"),
                ("energy", "4"),
                ("pain_on", "1"),
                ("pain", "2"),
                ("mood", "3"),
                ("need", "a hug"),
                ("need", "quiet"),
                ("need_more", "tea, a film"),
                ("offer", "listening"),
                ("note", "slow morning"),
            ],
        )
        [entry] = mine(browser, ev.CheckIn)
        assert body(entry) == ev.CheckIn(
            day="gentle",
            energy=4,
            pain=2,
            mood=3,
            needs=("a hug", "quiet", "tea", "a film"),
            offer="listening",
            note="slow morning",
        )
        page = await browser.text("/")
        assert "energy 4 · pain 2 · mood 3" in page
        assert "would help: a hug, quiet, tea, a film" in page


async def test_an_untouched_slider_is_left_out_without_javascript(sam: Path) -> None:
    # A range input always submits a value; a plain form says "note it" with the checkbox.
    async with page_on(sam) as browser:
        await browser.post("/checkin", [("energy", "5"), ("pain", "5"), ("note", "just this")])
        [entry] = mine(browser, ev.CheckIn)
        assert body(entry) == ev.CheckIn(note="just this")


async def test_a_private_check_in_stays_with_its_author(tmp_path: Path) -> None:
    sam_home = tmp_path / "sam"
    sam = home.start(sam_home, "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    sam.close()
    async with page_on(sam_home) as browser:
        answer = await browser.post("/checkin", {"note": "mine alone", "private": "1"}, follow=True)
        assert "Checked in, privately." in await answer.text()
        await browser.post("/checkin", {"note": "for both of us"})
        assert len(mine(browser, ev.CheckIn)) == 2
        gossip(journal_of(browser), alex)
    seen = [e.body for e in look.timeline(alex, types=[ev.CheckIn.TYPE]).events]
    assert seen == [ev.CheckIn(note="for both of us")]
    alex.close()


async def test_a_bad_value_is_refused_by_its_field_and_what_was_typed_is_kept(sam: Path) -> None:
    async with page_on(sam) as browser:
        answer = await browser.post(
            "/checkin", [("energy_on", "1"), ("energy", "11"), ("note", "kept words")]
        )
        assert answer.status == 400
        page = await answer.text()
        assert re.search(r'id="err-energy"[^>]*>energy: must be a whole number from 0 to 10', page)
        assert 'aria-describedby="err-energy"' in page
        assert "kept words</textarea>" in page
        assert mine(browser, ev.CheckIn) == []


async def test_small_wins_thanks_and_celebrating_the_partners_win(tmp_path: Path) -> None:
    sam_home, alex_home = tmp_path / "sam", tmp_path / "alex"
    sam = home.start(sam_home, "Sam")
    alex = invite(sam, alex_home, own=False, name="Alex")
    from tend.app import record

    win = record.small_win(alex, "walked to the corner", category="movement")
    gossip(sam, alex)
    sam.close()
    async with page_on(sam_home) as browser:
        page = await browser.text("/together")
        assert "walked to the corner" in page
        await browser.post(
            "/celebrate", {"win": win.id.hex(), "note": "so proud"}, page="/together"
        )
        await browser.post(
            "/win", {"title": "cooked lunch", "category": "meal", "who": "me"}, page="/together"
        )
        await browser.post("/thanks", {"text": "the coffee while I rested"}, page="/together")
        [cheer] = mine(browser, ev.Celebration)
        assert body(cheer) == ev.Celebration(milestone=win.id, note="so proud")
        [own] = mine(browser, ev.Milestone)
        assert body(own) == ev.Milestone(title="cooked lunch", category="meal", who="me")
        [thanks] = mine(browser, ev.Gratitude)
        assert body(thanks) == ev.Gratitude(text="the coffee while I rested")
        page = await browser.text("/together")
        # one's own small win has no button to celebrate it; the partner's has
        assert f'value="{win.id.hex()}"' in page
        assert f'value="{own.id.hex()}"' not in page
    alex.close()


async def test_the_joy_map_from_idea_to_done(sam: Path) -> None:
    async with page_on(sam) as browser:
        await browser.post("/joy", {"title": "picnic in the park", "cost": "2"}, page="/together")
        [row] = look.joy_map(journal_of(browser))
        assert (row.title, row.cost, row.status) == ("picnic in the park", 2, "idea")
        for status in ("planned", "done"):
            await browser.post("/joy/status", {"joy": row.id, "status": status}, page="/together")
            [row] = look.joy_map(journal_of(browser))
            assert row.status == status
        await browser.post("/joy/status", {"joy": row.id, "status": "let-go"}, page="/together")
        assert look.joy_map(journal_of(browser))[0].status == "let-go"


async def test_calendar_goals_rituals_boundaries_comfort_and_care(sam: Path) -> None:
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    async with page_on(sam) as browser:
        t = "/together"
        await browser.post(
            "/calendar",
            {"kind": "appointment", "date": tomorrow, "time": "09:30", "title": "physio"},
            page=t,
        )
        [entry] = look.calendar(journal_of(browser)).events
        assert body(entry) == ev.CalendarEntry(
            kind="appointment", date=tomorrow, time="09:30", title="physio", who="me"
        )
        await browser.post(
            "/goal",
            {"title": "one tender-touch session", "per_week": "1", "flare_rule": "halve"},
            page=t,
        )
        [goal] = keeping.goals(journal_of(browser))
        assert (goal.title, goal.flare_rule) == ("one tender-touch session", "halve")
        await browser.post("/goal/week", {"goal": goal.id, "outcome": "adapted"}, page=t)
        [goal] = keeping.goals(journal_of(browser))
        assert list(goal.weeks.values()) == ["adapted"]
        await browser.post("/ritual", {"title": "Sunday tea", "cadence": "weekly"}, page=t)
        [ritual] = keeping.rituals(journal_of(browser))
        await browser.post("/ritual/keep", {"ritual": ritual.id}, page=t)
        assert keeping.rituals(journal_of(browser))[0].last_kept == dt.date.today().isoformat()
        await browser.post("/boundary", {"text": "no talk of work after nine"}, page=t)
        assert [b.text for b in keeping.boundaries(journal_of(browser)).rows] == [
            "no talk of work after nine"
        ]
        await browser.post("/comfort", {"signal": "yellow", "note": "tired"}, page=t)
        [signal] = mine(browser, ev.ComfortSignal)
        assert body(signal) == ev.ComfortSignal(signal="yellow", note="tired")
        await browser.post("/care", {"title": "the dishes", "owner": "me"}, page=t)
        duties, _names = look.care_duties(journal_of(browser))
        [duty] = duties
        await browser.post("/care/swap", {"task": duty.task.id, "to": "partner"}, page=t)
        [swap] = mine(browser, ev.CareSwap)
        assert isinstance(swap.body, ev.CareSwap) and swap.body.to == "partner"
        page = await browser.text(t)
        for words in ("physio", "one tender-touch session", "Sunday tea", "no talk of work"):
            assert words in page


async def test_an_unknown_id_is_refused_calmly_on_the_same_page(sam: Path) -> None:
    async with page_on(sam) as browser:
        answer = await browser.post("/ritual/keep", {"ritual": "ffff"}, page="/together")
        assert answer.status == 400
        assert "ritual" in await answer.text()
        answer = await browser.post("/win", {"title": "  "}, page="/together")
        assert answer.status == 400
        assert 'id="err-title"' in await answer.text()


async def test_the_weekly_partnership_draft_is_saved_less_what_was_unticked(sam: Path) -> None:
    async with page_on(sam) as browser:
        await browser.post("/win", {"title": "a slow walk"}, page="/together")
        await browser.post("/win", {"title": "laughed at dinner"}, page="/together")
        page = await browser.text("/partnership")
        assert "a slow walk" in page and "laughed at dinner" in page
        boxes = re.findall(r'name="keep_(\d+)"[^>]*>\s*<label[^>]*>([^<]+)<', page)
        kept = [(n, text) for n, text in boxes if "a slow walk" in text]
        await browser.post(
            "/partnership",
            [
                ("week", re.search(r'name="week" value="([^"]+)"', page).group(1)),  # type: ignore[union-attr]
                *[(f"keep_{n}", "1") for n, _t in kept],
                ("adjustment", "rest before outings"),
            ],
            page="/partnership",
        )
        [saved] = mine(browser, ev.PartnershipWeek)
        assert isinstance(saved.body, ev.PartnershipWeek)
        assert saved.body.went_well == "a slow walk"
        assert saved.body.adjustment == "rest before outings"


async def test_look_back_draws_charts_and_keeps_rest_days_as_kept(sam: Path) -> None:
    async with page_on(sam) as browser:
        await browser.post("/checkin", [("energy_on", "1"), ("energy", "6")])
        await browser.post("/rest", {})
        await browser.post("/win", {"title": "sat in the sun"}, page="/together")
        for path in ("/week", "/month"):
            page = await browser.text(path)
            assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2  # energy, pain
            assert "rest day, kept" in page
            assert "a small win" in page
            assert "sat in the sun" in page
        assert "rest day" in await browser.text("/timeline")


async def test_the_timeline_filters_by_kind_person_and_dates(sam: Path) -> None:
    async with page_on(sam) as browser:
        await browser.post("/rest", {})
        await browser.post("/thanks", {"text": "for the soup"}, page="/together")
        only_thanks = await browser.text(f"/timeline?kind={ev.Gratitude.TYPE}")
        assert "for the soup" in only_thanks and "rest day" not in only_thanks
        assert "for the soup" in await browser.text("/timeline?whose=me")
        assert "for the soup" not in await browser.text("/timeline?whose=partner")
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        assert "for the soup" not in await browser.text(f"/timeline?since={tomorrow}")
        bad = await browser.get("/timeline?since=someday")
        assert bad.status == 400
        assert "since: must be a date" in await bad.text()


async def test_taking_back_an_entry_from_the_timeline(sam: Path) -> None:
    async with page_on(sam) as browser:
        await browser.post("/thanks", {"text": "oops, wrong words"}, page="/together")
        [thanks] = mine(browser, ev.Gratitude)
        answer = await browser.post(
            "/take-back", {"entry": thanks.id.hex()}, page="/timeline", follow=True
        )
        assert "Taken back" in await answer.text()
        assert mine(browser, ev.Gratitude) == []


async def test_taking_back_with_forget_erases_the_words_from_this_device(sam: Path) -> None:
    words = "words I would rather nobody kept"
    async with page_on(sam) as browser:
        await browser.post("/thanks", {"text": words}, page="/together")
        [thanks] = mine(browser, ev.Gratitude)
        assert f'data-testid="forget-{thanks.id.hex()[:8]}"' in await browser.text("/timeline")
        answer = await browser.post(
            "/take-back",
            {"entry": thanks.id.hex(), "forget": "1"},
            page="/timeline",
            follow=True,
        )
        assert "its words forgotten" in await answer.text()
        journal = journal_of(browser)
        assert mine(browser, ev.Gratitude) == []
        assert not any(words.encode() in i.raw for i in journal.all_items())
        [taken] = projections.taken_back(journal.items())
        assert (taken.kind, taken.forgotten) == ("gratitude", True)
        assert words not in await browser.text("/timeline")


async def test_replay_and_compare(sam: Path) -> None:
    async with page_on(sam) as browser:
        await browser.post("/checkin", {"note": "the words of today"})
        today = dt.date.today()
        page = await browser.text(f"/replay?at={today.isoformat()}")
        assert "the words of today" in page
        earlier = await browser.text(f"/replay?at={(today - dt.timedelta(days=400)).isoformat()}")
        assert "the words of today" not in earlier
        month = f"{today:%Y-%m}"
        page = await browser.text(f"/compare?first={month}&second={today.year - 1}-01")
        assert 'data-testid="compare"' in page
        bad = await browser.get("/compare?first=whenever&second=2026")
        assert bad.status == 400


async def test_both_partners_side_by_side_you_first_with_comfort_and_pause(tmp_path: Path) -> None:
    from tend.app import record

    sam_home, alex_home = tmp_path / "sam", tmp_path / "alex"
    sam = home.start(sam_home, "Sam")
    alex = invite(sam, alex_home, own=False, name="Alex")
    record.check_in(alex, day="gentle", energy=3, needs=["quiet"])
    record.comfort_signal(alex, "pause", note="need a breather")
    gossip(sam, alex)
    sam.close()
    async with page_on(sam_home) as browser:
        page = await browser.text("/")
        first, second = page.index('data-testid="person-1"'), page.index('data-testid="person-2"')
        assert page.index("Sam", first) < second < page.index("Alex", second)
        assert "would help: quiet" in page[second:]
        assert "comfort: pause (need a breather)" in page
        assert "Alex asked for a pause." in page
        # what the partner records later appears after it arrives (no reload of the journal)
        record.check_in(alex, energy=7)
        gossip(journal_of(browser), alex)
        assert "energy 7" in await browser.text("/")
    alex.close()


async def test_the_event_stream_tells_an_open_page_of_a_change(sam: Path) -> None:
    async with page_on(sam) as browser:
        stream = await browser.get("/events")
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert await stream.content.readline() == b"retry: 5000\n"
        await stream.content.readline()
        async with asyncio.timeout(10):
            while browser.state.feed.listeners == 0:
                await asyncio.sleep(0.01)
            await browser.post("/rest", {})
            assert await stream.content.readline() == b"event: change\n"
            assert await stream.content.readline() == b"data: journal\n"
        stream.close()


async def test_every_form_works_as_a_plain_post_without_javascript(sam: Path) -> None:
    async with page_on(sam) as browser:
        for path in PAGES:
            page = await browser.text(path)
            for form in re.findall(r"<form\b[^>]*>", page):
                assert 'method="post"' in form or 'method="get"' in form, (path, form)
                assert 'action="/' in form, (path, form)
            for form in re.split(r"<form\b", page)[1:]:
                head = form.split(">", 1)[0]
                if 'method="post"' in head:
                    assert 'name="csrf"' in form.split("</form>")[0], (path, head)


def test_charts_say_their_values_in_words() -> None:
    from tend.ui import charts

    days = [
        charts.Day(dt.date(2026, 3, 9) + dt.timedelta(days=i), v, i == 2, i == 1)
        for i, v in enumerate([3, 5, None, 7])
    ]
    svg = str(charts.chart("Sam: energy", "energy", days))
    assert "Mon 9 Mar 3; Tue 10 Mar 5; Wed 11 Mar not noted (rest, kept); Thu 12 Mar 7" in svg
    assert svg.count("<circle") == 3
    assert "rest day, kept" in svg and "a small win" in svg


def test_names_in_a_chart_title_are_escaped() -> None:
    from tend.ui import charts

    svg = str(charts.chart("<b>Sam</b>: energy", "energy", []))
    assert "<b>" not in svg and "&lt;b&gt;" in svg


async def test_correcting_a_check_in_keeps_its_day_and_its_privacy(tmp_path: Path) -> None:
    sam_home = tmp_path / "sam"
    sam = home.start(sam_home, "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    sam.close()
    async with page_on(sam_home) as browser:
        await browser.post(
            "/checkin",
            [
                ("energy_on", "1"),
                ("energy", "3"),
                ("need", "quiet"),
                ("note", "tird"),
                ("private", "1"),
            ],
        )
        [first] = mine(browser, ev.CheckIn)
        timeline = await browser.text("/timeline")
        assert f'href="/correct?entry={first.id.hex()}"' in timeline
        form = await browser.text(f"/correct?entry={first.id.hex()}")
        assert 'value="3"' in form and ">tird</textarea>" in form
        assert re.search(r'value="quiet" checked', form)
        assert "It stays private, as the check-in it corrects is." in form
        refused = await browser.post(
            "/correct",
            {"replaces": first.id.hex(), "mood": "9"},
            page=f"/correct?entry={first.id.hex()}",
        )
        assert refused.status == 400
        assert f'name="replaces" value="{first.id.hex()}"' in await refused.text()
        said = await browser.post(
            "/correct",  # the note corrected, the need cleared, the energy as it was
            [("replaces", first.id.hex()), ("energy_on", "1"), ("energy", "3"), ("note", "tired")],
            page=f"/correct?entry={first.id.hex()}",
            follow=True,
        )
        assert "Corrected." in await said.text()
        [now] = mine(browser, ev.CheckIn)  # the correction stands in for the first
        assert now.supersedes == first.id
        assert body(now) == ev.CheckIn(energy=3, note="tired")
        assert now.local_date == first.local_date
        gossip(journal_of(browser), alex)
    assert look.timeline(alex, types=[ev.CheckIn.TYPE]).events == []  # still private
    alex.close()


async def test_someone_elses_check_in_cannot_be_corrected(tmp_path: Path) -> None:
    from tend.app import record

    sam_home = tmp_path / "sam"
    sam = home.start(sam_home, "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    theirs = record.check_in(alex, note="mine")
    gossip(sam, alex)
    sam.close()
    async with page_on(sam_home) as browser:
        answer = await browser.get(f"/correct?entry={theirs.id.hex()}")
        assert answer.status == 400
        assert "check-in of yours" in await answer.text()
    alex.close()


def test_every_next_step_has_the_pages_own_words() -> None:
    from tend.core.errors import NextStep
    from tend.ui import words

    assert set(words.NEXT_STEPS) == set(NextStep)


async def test_a_note_of_ones_own_is_private_until_shared_later(tmp_path: Path) -> None:
    sam_home = tmp_path / "sam"
    sam = home.start(sam_home, "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    sam.close()
    async with page_on(sam_home) as browser:
        said = await browser.post("/note", {"text": "a quiet thought"}, follow=True)
        assert "A note of your own, kept privately." in await said.text()
        [kept] = mine(browser, ev.Note)
        timeline = await browser.text("/timeline")
        assert '<span class="tag">only you</span>' in timeline
        assert f'data-testid="share-{kept.id.hex()[:8]}"' in timeline
        gossip(journal_of(browser), alex)
        assert look.timeline(alex, types=[ev.Note.TYPE]).events == []
        await browser.post("/share", {"entry": kept.id.hex()}, page="/timeline")
        again = await browser.post("/share", {"entry": kept.id.hex()}, page="/timeline")
        assert again.status == 400
        assert "already shared" in await again.text()
        gossip(journal_of(browser), alex)
    [shared] = look.timeline(alex, types=[ev.Note.TYPE]).events
    assert shared.body == ev.Note(text="a quiet thought")
    alex.close()


async def test_a_background_read_by_the_script_leaves_the_message_for_the_page(sam: Path) -> None:
    async with page_on(sam) as browser:
        await browser.post("/rest", {})  # the redirect is not followed yet
        background = await browser.get("/", headers={"X-Tend-Live": "1"})
        assert "Rest day kept." not in await background.text()
        assert "Rest day kept. Rest counts." in await browser.text("/")
        assert "Rest day kept." not in await browser.text("/")  # said once


async def test_a_correction_of_an_unknown_check_in_is_refused_in_one_line(sam: Path) -> None:
    async with page_on(sam) as browser:
        answer = await browser.post("/correct", {"replaces": "ffff", "note": "x"}, page="/")
        assert answer.status == 400
        assert "check-in of yours" in await answer.text()


async def test_setting_aside_what_you_keep(sam: Path) -> None:
    async with page_on(sam) as browser:
        t = "/together"
        await browser.post("/ritual", {"title": "Sunday tea"}, page=t)
        await browser.post("/goal", {"title": "a short walk"}, page=t)
        [ritual] = keeping.rituals(journal_of(browser))
        [goal] = keeping.goals(journal_of(browser))
        for kind, found in (("ritual", ritual.id), ("goal", goal.id)):
            said = await browser.post(
                "/set-aside", {"kind": kind, "id": found}, page=t, follow=True
            )
            assert "Set aside." in await said.text()
        assert keeping.rituals(journal_of(browser)) == []
        assert keeping.goals(journal_of(browser)) == []
        assert [r.id for r in keeping.rituals(journal_of(browser), everything=True)] == [ritual.id]
        refused = await browser.post("/set-aside", {"kind": "mood", "id": goal.id}, page=t)
        assert refused.status == 400
        page = await browser.text(t)
        assert f'data-testid="bring-back-{ritual.id[:8]}"' in page
        await browser.post("/bring-back", {"kind": "ritual", "id": ritual.id}, page=t)
        assert [r.title for r in keeping.rituals(journal_of(browser))] == ["Sunday tea"]


async def test_a_flare_check_in_bends_the_goals_and_says_so_gently(sam: Path) -> None:
    async with page_on(sam) as browser:
        t = "/together"
        await browser.post("/goal", {"title": "a short walk", "flare_rule": "pause"}, page=t)
        await browser.post(
            "/goal", {"title": "two stretches", "per_week": "2", "flare_rule": "halve"}, page=t
        )
        said = await browser.post("/checkin", {"day": "flare"}, follow=True)
        page = await said.text()
        assert "a short walk: paused for this week. Rest counts." in page
        assert "two stretches: 1 of 2 this week." in page
        [walk, stretches] = sorted(keeping.goals(journal_of(browser)), key=lambda g: g.title)
        assert list(walk.weeks.values()) == ["paused"]
        assert list(stretches.targets.values()) == [1]
        undone = await browser.post("/goals/unflare", {}, page=t, follow=True)
        assert "Put back as they were: " in await undone.text()
        assert all(not g.weeks for g in keeping.goals(journal_of(browser)))
        again = await browser.post("/goals/unflare", {}, page=t)
        assert again.status == 400
        bent = await browser.post("/goals/flare", {}, page=t, follow=True)
        assert "a short walk: paused for this week." in await bent.text()


async def test_privacy_defaults_and_checking_everything_from_the_devices_page(sam: Path) -> None:
    from tend.app import settings

    async with page_on(sam) as browser:
        said = await browser.post(
            "/private-default", {"kind": "comfort"}, page="/devices", follow=True
        )
        assert "Private by default on this device: comfort." in await said.text()
        assert settings.private_kinds(journal_of(browser)) == ["comfort"]
        page = await browser.text("/devices")
        assert re.search(r'id="private-comfort" name="kind" value="comfort" checked', page)
        await browser.post("/comfort", {"signal": "red"}, page="/together")
        [signal] = mine(browser, ev.ComfortSignal)
        assert signal.id in look.timeline(journal_of(browser)).private
        await browser.post("/private-default", {}, page="/devices")
        assert settings.private_kinds(journal_of(browser)) == []
        checked = await browser.post("/verify", {}, page="/devices", follow=True)
        assert re.search(r"All \d+ entries in 1 log check out", await checked.text())


async def test_practices_anchor_memories_learning_questions_and_reaching_out(
    tmp_path: Path,
) -> None:
    from tend.app import anchors, clinician, learning, record

    sam_home = tmp_path / "sam"
    sam = home.start(sam_home, "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    record.thank(alex, "for the soup")
    gossip(sam, alex)
    sam.close()
    async with page_on(sam_home) as browser:
        p = "/practices"
        assert "Alex thanked Sam: for the soup" in await browser.text(p)
        await browser.post("/anchor", {"text": "the day at the lake", "date": "2025-08-14"}, page=p)
        [memory] = anchors.listing(journal_of(browser))
        assert (memory.text, memory.date, memory.private) == (
            "the day at the lake",
            "2025-08-14",
            False,
        )
        later = await browser.post("/anchor", {"text": "someday", "date": "2999-01-01"}, page=p)
        assert later.status == 400
        assert 'id="err-date"' in await later.text()
        await browser.post("/learn", {"title": "a book on fatigue", "kind": "book"}, page=p)
        [item] = learning.listing(journal_of(browser))
        said = await browser.post("/learn/done", {"item": item.id}, page=p, follow=True)
        assert "Read it." in await said.text()
        assert learning.listing(journal_of(browser))[0].status == "done"
        await browser.post("/ask", {"text": "is the new dose why I am tired?"}, page=p)
        [question] = clinician.questions(journal_of(browser))
        assert question.private
        gossip(journal_of(browser), alex)
    assert [a.text for a in anchors.listing(alex)] == ["the day at the lake"]
    assert clinician.questions(alex) == []
    alex.close()


async def test_a_copy_to_keep_is_downloaded_from_the_page(sam: Path) -> None:
    import json

    async with page_on(sam) as browser:
        await browser.post("/thanks", {"text": "the walk by the river"}, page="/together")
        copy = await browser.post("/export", {"format": "markdown"}, page="/devices")
        assert copy.status == 200
        assert copy.headers["Content-Disposition"].startswith('attachment; filename="tend-journal-')
        assert copy.headers["Cache-Control"] == "no-store"
        assert "the walk by the river" in await copy.text()
        data = await browser.post("/export", {"format": "json"}, page="/devices")
        assert "the walk by the river" in json.dumps(json.loads(await data.text()))
        odd = await browser.post("/export", {"format": "pdf"}, page="/devices")
        assert odd.status == 400
