"""The lifecycle commands as a person runs them: `tend ritual`, `tend boundary`, `tend goal` and
`tend care` list, keep, edit, retire and bring back; a flare check-in says what it did to the
goals and names the one command that undoes it."""

from __future__ import annotations

import datetime as dt
import re

from tests.conftest import TendCLI


def short_id(stdout: str) -> str:
    found = re.search(r"\[([0-9a-f]{8})\]", stdout)
    assert found, stdout
    return found.group(1)


def test_rituals_are_added_the_old_way_listed_kept_edited_and_retired(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    tea = short_id(tend.ok("ritual", "evening tea", "--fallback", "tea in bed"))  # as before
    walk = short_id(tend.ok("ritual", "add", "sunday walk", "--cadence", "weekly"))
    tend.ok("ritual", "keep", tea, "--date", "yesterday")
    yesterday = dt.date.today() - dt.timedelta(days=1)
    lines = tend.ok("ritual", "list").splitlines()
    assert lines == [
        f"{tea}  evening tea  ·  weekly  ·  last kept {yesterday:%A %-d %B}"
        "  ·  if fatigue comes: tea in bed",
        f"{walk}  sunday walk  ·  weekly",
    ]
    tend.ok("ritual", "edit", walk, "--cadence", "monthly")
    said = tend.ok("ritual", "retire", walk)
    assert f"tend ritual bring-back {walk}" in said
    assert [r["title"] for r in tend.json("ritual", "list")["items"]] == ["evening tea"]
    [retired] = [r for r in tend.json("ritual", "list", "--all")["items"] if not r["active"]]
    assert (retired["title"], retired["cadence"]) == ("sunday walk", "monthly")
    assert set(retired) == {"id", "title", "cadence", "active", "fallback", "last_kept"}
    refused = tend("ritual", "keep", walk)
    assert refused.returncode == 1 and "retired; bring it back first" in refused.stderr
    tend.ok("ritual", "bring-back", walk)
    assert len(tend.json("ritual", "list")["items"]) == 2


def test_boundaries_are_listed_with_whose_they_are_and_retired_by_their_setter(
    tend: TendCLI,
) -> None:
    tend.ok("init", "--name", "Sam")
    first = short_id(tend.ok("boundary", "ask before hugging me from behind"))
    assert tend.ok("boundary", "list") == f"{first}  ask before hugging me from behind  ·  yours\n"
    tend.ok("boundary", "edit", first, "--text", "ask before hugs, please")
    tend.ok("boundary", "retire", first)
    assert tend.ok("boundary", "list") == "Nothing here yet.\n"
    [row] = tend.json("boundary", "list", "--all")["items"]
    assert (row["text"], row["active"]) == ("ask before hugs, please", False)
    nothing = tend("boundary", "edit", first)
    assert nothing.returncode == 1 and "at least one thing to change" in nothing.stderr


def test_a_flare_check_in_says_what_it_did_and_one_command_undoes_it(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    walk = short_id(tend.ok("goal", "add", "short walk", "--per-week", "4", "--flare", "halve"))
    tend.ok("goal", "add", "one outing", "--flare", "pause", "--fallback", "a film at home")
    tend.ok("goal", "add", "breakfast together", "--flare", "keep")
    said = tend.ok("checkin", "--day", "flare")
    assert "  short walk: 2 of 4 this week." in said
    assert "  one outing: paused for this week. Rest counts." in said
    assert "  breakfast together: kept as it is." in said
    assert "If fatigue comes, for one outing: a film at home." in said
    assert "To put them back as they were: tend goal undo-flare" in said
    goals = {g["title"]: g for g in tend.json("goal", "list")["items"]}
    week = next(iter(goals["short walk"]["weeks"]))
    assert goals["short walk"]["weeks"] == {week: "adapted"}
    assert goals["short walk"]["targets"] == {week: 2}
    assert goals["one outing"]["fallback"] == "a film at home"
    again = tend.ok("checkin", "--day", "flare")
    assert "short walk: already bent for a flare this week; left as it is." in again
    assert "undo-flare" not in again
    assert "Put back as they were: short walk, one outing." in tend.ok("goal", "undo-flare")
    assert all(not g["weeks"] for g in tend.json("goal", "list")["items"])
    tend.ok("goal", "retire", walk)
    assert [g["title"] for g in tend.json("goal", "list")["items"]] == [
        "one outing",
        "breakfast together",
    ]
    assert "short walk" in tend.ok("goal", "list", "--all")


def test_a_private_flare_check_in_leaves_the_shared_goals(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    tend.ok("goal", "add", "one outing", "--flare", "pause")
    said = tend.ok("checkin", "--day", "flare", "--private")
    assert "your shared goals are as they were" in said and "tend goal flare" in said
    assert all(not g["weeks"] for g in tend.json("goal", "list")["items"])
    assert "one outing: paused for this week" in tend.ok("goal", "flare")


def test_a_care_task_that_rotates_says_who_has_it_each_week(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    laundry = short_id(tend.ok("care", "add", "laundry", "--rotate"))
    week = "2026-W50"
    after = "2026-W51"
    this_week = tend.ok("care", "list", "--week", week)
    next_week = tend.ok("care", "list", "--week", after)
    assert {this_week.split("  ·  ")[-1], next_week.split("  ·  ")[-1]} == {
        "you that week (turns about weekly)\n",
        "your partner that week (turns about weekly)\n",
    }
    said = tend.ok("care", "swap", laundry, "--to", "partner")
    assert "only; the rota carries on after it." in said
    [row] = tend.json("care", "list")["items"]
    assert (row["rotate"], row["week_swap"]) == (True, True)
    refused = tend("care", "add", "cooking", "--owner", "both", "--rotate")
    assert refused.returncode == 1 and "one of you does at a time" in refused.stderr
    fixed = short_id(tend.ok("care", "add", "pharmacy run"))
    assert tend.ok("care", "swap", fixed, "--to", "partner") == "Swapped, from now on.\n"
    tend.ok("care", "retire", fixed)
    assert [t["title"] for t in tend.json("care", "list")["items"]] == ["laundry"]
    tend.ok("care", "edit", fixed, "--active", "--title", "the pharmacy run")
    assert "the pharmacy run" in tend.ok("care", "list")
