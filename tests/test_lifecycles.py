"""Rituals, boundaries, gentle goals and care tasks over time, through the application layer on
real journals: listed, kept, edited, retired and brought back; the flare rule that bends a
week's goals; the care rota that turns about weekly. Where a rule says who may do what, a
modified client (the library used directly, as the partner could) tries to break it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tend.app import flare, home, keeping, look, record
from tend.core.domain import events as ev
from tend.core.errors import UserError, ValidationError
from tend.core.journal import Journal
from tend.core.views import projections
from tests.attacker import event_in, write_own
from tests.conftest import gossip, invite

WEDNESDAY = dt.datetime(2026, 12, 9, 10, 0).astimezone()  # in ISO week 2026-W50
WEEK = "2026-W50"


@pytest.fixture
def clock() -> dict[str, dt.datetime]:
    return {"now": WEDNESDAY}


@pytest.fixture
def sam(tmp_path: Path, clock: dict[str, dt.datetime]) -> Journal:
    journal = home.start(tmp_path / "sam", "Sam")
    journal.now = lambda: clock["now"]
    return journal


@pytest.fixture
def robin(sam: Journal, tmp_path: Path, clock: dict[str, dt.datetime]) -> Journal:
    partner = invite(sam, tmp_path / "robin", own=False, name="Robin")
    partner.now = lambda: clock["now"]
    gossip(sam, partner)
    return partner


def short(recorded: record.Recorded) -> str:
    return recorded.id.hex()[:8]


# --- lists, keeping, edits, retiring --------------------------------------------------------------


def test_rituals_are_listed_with_their_fallback_and_retired_ones_only_when_asked(
    sam: Journal,
) -> None:
    tea = record.ritual(sam, "evening tea", fallback="tea in bed")
    walk = record.ritual(sam, "sunday walk", cadence="weekly")
    keeping.retire(sam, "ritual", short(walk))
    shown = keeping.rituals(sam)
    assert [(r.title, r.fallback, r.active) for r in shown] == [("evening tea", "tea in bed", True)]
    everything = keeping.rituals(sam, everything=True)
    assert [(r.title, r.active) for r in everything] == [
        ("evening tea", True),
        ("sunday walk", False),
    ]
    keeping.bring_back(sam, "ritual", short(walk))
    assert {r.title for r in keeping.rituals(sam)} == {"evening tea", "sunday walk"}
    with pytest.raises(UserError, match="not retired"):
        keeping.bring_back(sam, "ritual", short(tea))


def test_a_ritual_kept_shows_the_last_day_kept_whatever_order_the_keeps_arrive_in(
    sam: Journal, robin: Journal
) -> None:
    tea = record.ritual(sam, "evening tea")
    gossip(sam, robin)
    assert keeping.rituals(robin)[0].last_kept is None  # never "missed": simply not yet
    keeping.keep_ritual(robin, short(tea))  # Wednesday
    # Later, Sam notes that they kept it on Monday too: the later entry is about an earlier day.
    keeping.keep_ritual(sam, short(tea), WEDNESDAY.date() - dt.timedelta(days=2))
    gossip(sam, robin)
    for journal in (sam, robin):
        (row,) = keeping.rituals(journal)
        assert row.last_kept == "2026-12-09"
    assert "count" not in str(row) and "streak" not in str(row)


def test_a_ritual_is_kept_on_a_day_that_has_come_and_not_while_retired(sam: Journal) -> None:
    tea = record.ritual(sam, "evening tea")
    with pytest.raises(ValidationError, match="day that has come"):
        keeping.keep_ritual(sam, short(tea), WEDNESDAY.date() + dt.timedelta(days=1))
    keeping.retire(sam, "ritual", short(tea))
    with pytest.raises(UserError, match="retired; bring it back first"):
        keeping.keep_ritual(sam, short(tea))


def test_an_edit_changes_only_what_it_names_so_two_edits_at_once_both_hold(
    sam: Journal, robin: Journal
) -> None:
    walk = record.gentle_goal(sam, "short walk", per_week=2, flare_rule="pause")
    gossip(sam, robin)
    keeping.edit_goal(sam, short(walk), title="a short walk together")  # offline, both of them
    keeping.edit_goal(robin, short(walk), per_week=3, fallback="a slow lap of the garden")
    gossip(sam, robin)
    for journal in (sam, robin):
        (goal,) = keeping.goals(journal)
        assert (goal.title, goal.per_week, goal.flare_rule, goal.fallback) == (
            "a short walk together",
            3,
            "pause",
            "a slow lap of the garden",
        )
    keeping.edit_goal(sam, short(walk), fallback="")  # an empty fallback takes it away
    assert keeping.goals(sam)[0].fallback is None
    with pytest.raises(ValidationError, match="at least one thing to change"):
        keeping.edit_goal(sam, short(walk))


def test_goals_and_care_tasks_retire_and_come_back_for_either_partner(
    sam: Journal, robin: Journal
) -> None:
    walk = record.gentle_goal(sam, "short walk")
    task = record.care_task(sam, "pharmacy run")
    gossip(sam, robin)
    keeping.retire(robin, "goal", short(walk))  # the couple's shared lists: either of you
    keeping.retire(robin, "care task", short(task))
    gossip(sam, robin)
    assert keeping.goals(sam) == [] and look.care_duties(sam)[0] == []
    assert [g.active for g in keeping.goals(sam, everything=True)] == [False]
    assert look.own_care_tasks(sam) == []  # not offered on a flare day either
    with pytest.raises(UserError, match="already retired"):
        keeping.retire(sam, "goal", short(walk))
    keeping.bring_back(sam, "goal", short(walk))
    keeping.edit_care_task(sam, short(task), active=True, title="the pharmacy run")
    assert [g.title for g in keeping.goals(robin)] == []  # until it arrives
    gossip(sam, robin)
    assert [g.title for g in keeping.goals(robin)] == ["short walk"]
    assert [d.task.title for d in look.care_duties(robin)[0]] == ["the pharmacy run"]


def test_a_retired_goal_leaves_the_week_unless_that_week_had_an_outcome(sam: Journal) -> None:
    walk = record.gentle_goal(sam, "short walk")
    swim = record.gentle_goal(sam, "long swim")
    record.goal_week(sam, short(swim), "met", week=WEEK)
    keeping.retire(sam, "goal", short(walk))
    keeping.retire(sam, "goal", short(swim))
    shown = look.week(sam, WEDNESDAY.date())
    assert [(g.title, g.weeks) for g in shown.goals] == [("long swim", {WEEK: "met"})]
    assert look.week(sam, WEDNESDAY.date() + dt.timedelta(days=7)).goals == []


def test_short_ids_find_what_to_change_and_say_plainly_when_they_do_not(sam: Journal) -> None:
    with pytest.raises(UserError, match="no ritual with an id starting abcd"):
        keeping.edit_ritual(sam, "abcd", title="x")
    with pytest.raises(ValidationError):
        keeping.retire(sam, "boundary", "ab")


# --- boundaries: only the person who set one ------------------------------------------------------


def test_only_the_person_who_set_a_boundary_can_change_or_retire_it(
    sam: Journal, robin: Journal
) -> None:
    mine = record.boundary(sam, "ask before hugging me from behind")
    gossip(sam, robin)
    shown = keeping.boundaries(robin)
    assert [(b.text, shown.whose(b)) for b in shown.rows] == [
        ("ask before hugging me from behind", "Sam's")
    ]
    with pytest.raises(UserError, match="this one is Sam's, and only they can change it"):
        keeping.retire(robin, "boundary", short(mine))
    with pytest.raises(UserError, match="only they can change it"):
        keeping.edit_boundary(robin, short(mine), text="hug whenever")
    keeping.edit_boundary(sam, short(mine), text="ask before hugging, please")
    keeping.retire(sam, "boundary", short(mine))
    gossip(sam, robin)
    assert keeping.boundaries(robin).rows == []
    (row,) = keeping.boundaries(robin, everything=True).rows
    assert (row.text, row.active) == ("ask before hugging, please", False)


def test_a_partners_modified_client_cannot_retire_or_reword_a_boundary_it_did_not_set(
    sam: Journal, robin: Journal
) -> None:
    mine = record.boundary(sam, "no tickling")
    gossip(sam, robin)
    target = mine.id
    # Robin's client skips every check and writes the edits straight into its own log.
    write_own(robin, event_in(robin, ev.BoundaryEdit(boundary=target, active=False)))
    write_own(robin, event_in(robin, ev.BoundaryEdit(boundary=target, text="tickling is fine")))
    write_own(robin, event_in(robin, ev.Boundary(boundary=target, text="anything", active=False)))
    # ... and tries the edits of the shared lists, aimed at the boundary's id.
    write_own(robin, event_in(robin, ev.GoalEdit(goal=target, active=False)))
    write_own(robin, event_in(robin, ev.CareEdit(task=target, active=False, title="x")))
    gossip(sam, robin)
    for journal in (sam, robin):
        (row,) = keeping.boundaries(journal, everything=True).rows
        assert (row.text, row.active, row.by) == ("no tickling", True, sam.device.person.hex())
        assert keeping.goals(journal, everything=True) == []


# --- the flare rule -------------------------------------------------------------------------------


def goals_by_title(journal: Journal) -> dict[str, projections.GoalRow]:
    return {g.title: g for g in keeping.goals(journal, WEEK)}


def test_a_flare_check_in_applies_each_goals_flare_rule_to_the_week(sam: Journal) -> None:
    record.gentle_goal(sam, "short walk", per_week=3, flare_rule="halve", fallback="a slow lap")
    record.gentle_goal(sam, "tender touch", per_week=1, flare_rule="halve")
    record.gentle_goal(sam, "one outing", flare_rule="pause")
    record.gentle_goal(sam, "breakfast together", per_week=7, flare_rule="keep")
    retired = record.gentle_goal(sam, "long swim", flare_rule="pause")
    keeping.retire(sam, "goal", short(retired))
    task = record.care_task(sam, "pharmacy run")
    said = record.check_in(sam, day="flare", energy=1)
    assert said.flare is not None and said.flare.week == WEEK and said.flare.wrote
    assert {b.goal.title: (b.did, b.target) for b in said.flare.bends} == {
        "short walk": ("halved", 2),  # half of 3, rounded up
        "tender touch": ("halved", 1),  # at least one
        "one outing": ("paused", None),
        "breakfast together": ("kept", None),
    }
    assert said.flare.fallbacks == [("short walk", "a slow lap")]
    assert [t.id for t in said.flare.swappable] == [task.id.hex()]
    goals = goals_by_title(sam)
    assert goals["short walk"].weeks == {WEEK: "adapted"}
    assert goals["short walk"].targets == {WEEK: 2}
    assert goals["one outing"].weeks == {WEEK: "paused"}
    assert goals["breakfast together"].weeks == {}
    assert keeping.goals(sam, WEEK, everything=True)[-1].weeks == {}  # the retired one


def test_a_flare_day_offers_an_anchor_memory_once_one_is_noted(sam: Journal) -> None:
    from tend.app import anchors

    assert record.check_in(sam, day="flare").flare.anchor is None  # type: ignore[union-attr]
    anchors.add(sam, "the evening we laughed at the sea")
    said = record.check_in(sam, day="flare")
    assert said.flare is not None and said.flare.anchor is not None
    assert said.flare.anchor.text == "the evening we laughed at the sea"
    assert record.check_in(sam, day="good").flare is None  # only a hard day offers one


def test_a_second_flare_day_in_the_week_writes_nothing_again(sam: Journal) -> None:
    record.gentle_goal(sam, "one outing", flare_rule="pause")
    record.check_in(sam, day="flare")
    count = len(sam.items())
    again = record.check_in(sam, day="flare", pain=7)
    assert again.flare is not None and not again.flare.wrote
    assert [b.did for b in again.flare.bends] == ["left"]
    assert len(sam.items()) == count + 1  # the check-in alone
    assert record.check_in(sam, day="rest").flare is None  # only a flare day bends anything


def test_a_week_already_marked_is_left_as_it_is(sam: Journal) -> None:
    walk = record.gentle_goal(sam, "short walk", per_week=2, flare_rule="pause")
    record.goal_week(sam, short(walk), "met", week=WEEK)
    said = record.check_in(sam, day="flare")
    assert said.flare is not None
    assert [(b.did, b.already) for b in said.flare.bends] == [("left", "met")]
    assert goals_by_title(sam)["short walk"].weeks == {WEEK: "met"}


def test_what_a_flare_did_is_undone_with_one_call_and_not_redone_that_week(sam: Journal) -> None:
    record.gentle_goal(sam, "short walk", per_week=4, flare_rule="halve")
    record.check_in(sam, day="flare")
    assert goals_by_title(sam)["short walk"].weeks == {WEEK: "adapted"}
    assert flare.undo(sam) == ["short walk"]
    assert goals_by_title(sam)["short walk"].weeks == {}
    later = record.check_in(sam, day="flare")  # undone stays undone for the week
    assert later.flare is not None and not later.flare.wrote
    assert goals_by_title(sam)["short walk"].weeks == {}
    with pytest.raises(UserError, match="nothing a flare of yours changed"):
        flare.undo(sam)
    flare.bend_goals(sam, WEEK)  # asked for again, by hand
    assert goals_by_title(sam)["short walk"].targets == {WEEK: 2}


def test_a_flare_check_in_for_an_earlier_day_bends_that_days_week(sam: Journal) -> None:
    record.gentle_goal(sam, "one outing", flare_rule="pause")
    last_sunday = dt.date(2026, 12, 6)
    said = record.check_in(sam, day="flare", on=last_sunday)
    assert said.flare is not None and said.flare.week == "2026-W49"
    assert keeping.goals(sam, "2026-W49")[0].weeks == {"2026-W49": "paused"}


def test_a_correction_that_makes_the_day_a_flare_day_bends_the_goals_once(sam: Journal) -> None:
    record.gentle_goal(sam, "one outing", flare_rule="pause")
    first = record.check_in(sam, day="good", energy=6)
    assert first.flare is None
    said = record.check_in(sam, day="flare", replaces=short(first))
    assert said.flare is not None and said.flare.wrote  # it is a flare day now
    assert said.event.body == ev.CheckIn(day="flare", energy=6)  # the rest as it was
    assert goals_by_title(sam)["one outing"].weeks == {WEEK: "paused"}
    count = len(sam.items())
    again = record.check_in(sam, energy=2, replaces=short(said))
    assert again.flare is None  # still the same flare day: nothing written, nothing offered
    assert len(sam.items()) == count + 1  # the correction alone


def test_correcting_a_flare_check_in_is_not_a_new_flare_day(sam: Journal) -> None:
    record.gentle_goal(sam, "one outing", flare_rule="pause")
    flared = record.check_in(sam, day="flare", energy=2)
    flare.undo(sam)
    fixed = record.check_in(sam, pain=6, replaces=short(flared))
    assert fixed.flare is None
    assert goals_by_title(sam)["one outing"].weeks == {}  # undone stays undone
    calmer = record.check_in(sam, day="gentle", replaces=short(fixed))
    assert calmer.flare is None  # no longer a flare day: nothing to bend


def test_a_private_flare_check_in_bends_no_shared_goal(sam: Journal) -> None:
    record.gentle_goal(sam, "one outing", flare_rule="pause")
    said = record.check_in(sam, day="flare", private=True)
    assert said.flare is not None and said.flare.private and said.flare.bends == []
    assert goals_by_title(sam)["one outing"].weeks == {}


def test_a_partner_cannot_undo_what_the_others_flare_wrote(sam: Journal, robin: Journal) -> None:
    record.gentle_goal(sam, "one outing", flare_rule="pause")
    record.check_in(sam, day="flare")
    gossip(sam, robin)
    with pytest.raises(UserError, match="nothing a flare of yours"):
        flare.undo(robin)
    (written,) = [e for e in sam.events() if isinstance(e.body, ev.GoalWeek) and e.body.flare]
    # Robin's modified client takes it back anyway: a retraction counts only from the author.
    write_own(robin, event_in(robin, ev.Retraction(target=written.id)))
    gossip(sam, robin)
    assert goals_by_title(sam)["one outing"].weeks == {WEEK: "paused"}
    # Robin's own flare day that week writes nothing more: the week is bent already.
    said = record.check_in(robin, day="flare")
    assert said.flare is not None and not said.flare.wrote


# --- the care rota --------------------------------------------------------------------------------


def who_does(journal: Journal, week: str) -> dict[str, str | None]:
    duties, names = look.care_duties(journal, week)
    return {d.task.title: names.get(d.person) if d.person else None for d in duties}


def test_a_rotating_task_turns_about_with_the_iso_week_on_both_devices(
    sam: Journal, robin: Journal
) -> None:
    record.care_task(sam, "laundry", owner="me", rotate=True)
    record.care_task(sam, "cooking", owner="partner")
    gossip(sam, robin)
    for journal in (sam, robin):
        assert who_does(journal, WEEK) == {"laundry": "Sam", "cooking": "Robin"}
        assert who_does(journal, "2026-W51") == {"laundry": "Robin", "cooking": "Robin"}
        assert who_does(journal, "2026-W52") == {"laundry": "Sam", "cooking": "Robin"}
        # 2026 has 53 ISO weeks: the turns follow the weeks, across the new year too.
        assert who_does(journal, "2026-W53") == {"laundry": "Robin", "cooking": "Robin"}
        assert who_does(journal, "2027-W01") == {"laundry": "Sam", "cooking": "Robin"}
        assert who_does(journal, "2026-W49") == {"laundry": "Robin", "cooking": "Robin"}
    with pytest.raises(ValidationError, match="one of you does at a time"):
        record.care_task(sam, "dishes", owner="both", rotate=True)


def test_a_swap_of_a_rotating_task_is_for_its_week_and_the_rota_carries_on(
    sam: Journal, robin: Journal, clock: dict[str, dt.datetime]
) -> None:
    laundry = record.care_task(sam, "laundry", owner="me", rotate=True)
    gossip(sam, robin)
    swapped = record.care_swap(sam, short(laundry), "partner")  # a flare week: Robin takes it
    body = swapped.event.body
    assert isinstance(body, ev.CareSwap) and body.week == WEEK
    gossip(sam, robin)
    for journal in (sam, robin):
        assert who_does(journal, WEEK) == {"laundry": "Robin"}
        assert who_does(journal, "2026-W51") == {"laundry": "Robin"}  # Robin's turn anyway
        assert who_does(journal, "2026-W52") == {"laundry": "Sam"}  # the rota carries on
    clock["now"] = WEDNESDAY + dt.timedelta(days=7)
    assert [d.task.week_swap for d in look.care_duties(sam)[0]] == [False]


def test_a_swap_of_a_fixed_task_is_from_then_on_unless_a_week_is_named(
    sam: Journal, robin: Journal
) -> None:
    pharmacy = record.care_task(sam, "pharmacy run", owner="me")
    gossip(sam, robin)
    record.care_swap(robin, short(pharmacy), "me")
    gossip(sam, robin)
    assert who_does(sam, WEEK) == who_does(sam, "2027-W20") == {"pharmacy run": "Robin"}
    record.care_swap(sam, short(pharmacy), "me", week="2026-W51")  # one week only
    gossip(sam, robin)
    assert who_does(robin, "2026-W51") == {"pharmacy run": "Sam"}
    assert who_does(robin, "2026-W52") == {"pharmacy run": "Robin"}


def test_turning_the_rotation_on_or_off_starts_with_whoever_has_it_this_week(
    sam: Journal, robin: Journal, clock: dict[str, dt.datetime]
) -> None:
    dishes = record.care_task(sam, "dishes", owner="partner")
    gossip(sam, robin)
    keeping.edit_care_task(sam, short(dishes), rotate=True)
    assert who_does(sam, WEEK) == {"dishes": "Robin"}
    assert who_does(sam, "2026-W51") == {"dishes": "Sam"}
    gossip(sam, robin)
    clock["now"] = WEDNESDAY + dt.timedelta(hours=1)
    keeping.edit_care_task(robin, short(dishes), owner="partner")  # Robin: Sam, from this week
    gossip(sam, robin)
    assert who_does(robin, WEEK) == {"dishes": "Sam"}
    assert who_does(robin, "2026-W51") == {"dishes": "Robin"}
    keeping.edit_care_task(sam, short(dishes), rotate=False)
    assert who_does(sam, "2026-W51") == {"dishes": "Sam"}  # stays with this week's person
    both = record.care_task(sam, "cooking", owner="both")
    with pytest.raises(UserError, match="give it one owner"):
        keeping.edit_care_task(sam, short(both), rotate=True)
