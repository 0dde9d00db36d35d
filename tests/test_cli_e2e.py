"""The installed `tend` command, end to end, as real processes on temporary homes.

What is pinned: every kind of record comes back exactly through the --json views; bad input is
refused with exit 1 and one line naming the field, and appends nothing; no command ever waits
for a terminal it does not have; replay shows only what this device held at that moment; exports
are written 0600 in formats others can open; a passphrase-locked journal opens only with its
passphrase.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TendCLI, stored_entries

EVENT_KEYS = {
    "id",
    "type",
    "author",
    "author_name",
    "device",
    "date",
    "recorded_at",
    "hlc",
    "supersedes",
    "fields",
    "private",
}

CHECKIN = {
    "day": "gentle",
    "energy": 4,
    "pain": 2,
    "mood": 3,
    "needs": ["quiet company", "a cup of tea"],
    "offer": "a film tonight",
    "note": "slow morning, better after lunch",
}
MILESTONE = {
    "title": "walked to the corner together",
    "category": "movement",
    "who": "both",
    "note": "ten whole minutes",
}
CELEBRATION_NOTE = "so proud of us"
GRATITUDE = "I appreciated how you made coffee while I rested"
RETRACTED = "thank you for the thing that did not happen"
# title -> (energy cost, status it is moved to)
JOYS = {
    "picnic in the park": (2, "planned"),
    "bake bread": (1, "done"),
    "museum trip": (3, "let-go"),
    "film night": (0, "idea"),
}
GOAL_TITLE = "one tender-touch session"
GOAL = {"title": GOAL_TITLE, "per_week": 2, "flare_rule": "halve"}
GOAL_NOTE = "a flare midweek; we adapted"
RITUAL = {"title": "sunday tea in bed", "cadence": "monthly"}
PARTNERSHIP = {
    "appreciations": ["you listened", "the soup"],
    "went_well": "the walk",
    "adjustment": "earlier nights",
}
COMFORT = {"signal": "yellow", "note": "go slowly today"}
BOUNDARY = "ask before hugging me from behind"
CARE = {"title": "laundry", "cadence": "daily"}
SWAP_NOTE = "I have energy today"


def short_id(stdout: str) -> str:
    """The [abcd1234] id a recording command prints."""
    found = re.search(r"\[([0-9a-f]{8})\]", stdout)
    assert found, stdout
    return found.group(1)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def state(cli: TendCLI) -> tuple[str, int]:
    """What a refused command must leave as it was: the whole timeline and the entry count."""
    return cli.ok("timeline", "--json"), int(cli.json("verify")["entries"])


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Journal:
    cli: TendCLI
    day: str  # the local date everything was recorded on
    week: str
    later: str  # a date outside this week and month, for the rest day
    ids: dict[str, str] = field(default_factory=dict)  # short ids by what they name
    me: str = ""
    device: str = ""

    def full(self, name: str, events: list[dict[str, Any]]) -> str:
        """The full hex id of the one event whose id starts with ids[name]."""
        found = [e["id"] for e in events if e["id"].startswith(self.ids[name])]
        assert len(found) == 1, (name, found)
        return str(found[0])


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    """One journal holding one of every kind of record, written through the command line."""
    cli = TendCLI(tmp_path_factory.mktemp("every-kind") / "home")
    today = dt.date.today()
    j = Journal(cli, today.isoformat(), week_of(today), (today + dt.timedelta(days=45)).isoformat())
    cli.ok("init", "--name", "Sam", "--device", "phone")
    j.ids["checkin"] = short_id(
        cli.ok(
            "checkin",
            "--day",
            "gentle",
            "--energy",
            "4",
            "--pain",
            "2",
            "--mood",
            "3",
            "--need",
            "quiet company",
            "--need",
            "a cup of tea",
            "--offer",
            "a film tonight",
            "--note",
            "slow morning, better after lunch",
        )
    )
    j.ids["milestone"] = short_id(
        cli.ok(
            "milestone",
            MILESTONE["title"],
            "--category",
            "movement",
            "--who",
            "both",
            "--note",
            MILESTONE["note"],
        )
    )
    cli.ok("celebrate", j.ids["milestone"], "--note", CELEBRATION_NOTE)
    j.ids["gratitude"] = short_id(cli.ok("gratitude", GRATITUDE))
    j.ids["retracted"] = short_id(cli.ok("gratitude", RETRACTED))
    cli.ok("retract", j.ids["retracted"], "--reason", "recorded by mistake")
    for title, (cost, status) in JOYS.items():
        j.ids[title] = short_id(cli.ok("joy", "add", title, "--cost", str(cost)))
        if status != "idea":
            cli.ok("joy", status, j.ids[title])
    j.ids["appointment"] = short_id(
        cli.ok(
            "calendar",
            "add",
            "--kind",
            "appointment",
            "--date",
            j.day,
            "--time",
            "09:30",
            "--title",
            "GP review",
            "--who",
            "both",
        )
    )
    j.ids["rest"] = short_id(cli.ok("calendar", "add", "--kind", "rest", "--date", j.later))
    j.ids["goal"] = short_id(
        cli.ok("goal", "add", GOAL_TITLE, "--per-week", "2", "--flare", "halve")
    )
    cli.ok("goal", "week", j.ids["goal"], "adapted", "--note", GOAL_NOTE)
    j.ids["ritual"] = short_id(cli.ok("ritual", RITUAL["title"], "--cadence", "monthly"))
    cli.ok(
        "partnership",
        "--appreciation",
        "you listened",
        "--appreciation",
        "the soup",
        "--went-well",
        "the walk",
        "--adjustment",
        "earlier nights",
    )
    cli.ok("comfort", "yellow", "--note", COMFORT["note"])
    cli.ok("boundary", BOUNDARY)
    j.ids["care"] = short_id(
        cli.ok("care", "add", CARE["title"], "--owner", "partner", "--cadence", "daily")
    )
    cli.ok("care", "swap", j.ids["care"], "--to", "me", "--note", SWAP_NOTE)
    devices = cli.json("devices", "list")["devices"]
    assert len(devices) == 1
    j.me, j.device = devices[0]["person"], devices[0]["id"]
    return j


# --- every kind of record reads back exactly ------------------------------------------------


def test_today_json_shows_the_checkin_with_every_field_exactly(journal: Journal) -> None:
    view = journal.cli.json("today")
    assert view["date"] == journal.day
    [person] = view["people"]
    assert (person["person"], person["name"]) == (journal.me, "Sam")
    checkin = person["checkin"]
    assert set(checkin) == EVENT_KEYS
    assert checkin["fields"] == CHECKIN
    assert checkin["id"].startswith(journal.ids["checkin"])
    assert (checkin["type"], checkin["author"], checkin["author_name"]) == (
        "checkin",
        journal.me,
        "Sam",
    )
    assert (checkin["device"], checkin["date"], checkin["supersedes"]) == (
        journal.device,
        journal.day,
        None,
    )


def _period_rules(journal: Journal, view: dict[str, Any]) -> None:
    [person] = view["people"]
    assert person["name"] == "Sam"
    assert person["days"] == {journal.day: CHECKIN}
    assert person["rest_days_honoured"] == 0  # a gentle day is not a rest day
    [milestone] = view["milestones"]
    assert milestone["fields"] == MILESTONE
    [celebration] = milestone["celebrations"]
    assert celebration["fields"] == {"milestone": milestone["id"], "note": CELEBRATION_NOTE}
    # The retracted thank-you is gone; the retraction itself is not an entry to show.
    assert [g["fields"] for g in view["gratitude"]] == [{"text": GRATITUDE}]
    assert [c["fields"] for c in view["calendar"]] == [
        {
            "kind": "appointment",
            "date": journal.day,
            "time": "09:30",
            "title": "GP review",
            "who": "both",
        }
    ]


def test_week_json_holds_every_record_of_the_week_exactly(journal: Journal) -> None:
    view = journal.cli.json("week", "--at", journal.day)
    _period_rules(journal, view)
    assert [p["fields"] for p in view["partnership"]] == [dict(PARTNERSHIP, week=journal.week)]
    [goal_week] = view["goal_weeks"]
    gid = goal_week["fields"]["goal"]
    assert gid.startswith(journal.ids["goal"])
    assert goal_week["fields"] == {
        "goal": gid,
        "week": journal.week,
        "outcome": "adapted",
        "note": GOAL_NOTE,
        "target": None,
        "flare": False,
    }
    assert view["goals"] == [
        dict(
            GOAL,
            active=True,
            id=gid,
            weeks={journal.week: "adapted"},
            fallback=None,
            targets={},
        )
    ]
    assert {j["title"]: (j["cost"], j["status"]) for j in view["joys"]} == JOYS


def test_month_json_holds_the_same_records(journal: Journal) -> None:
    view = journal.cli.json("month", "--at", journal.day)
    assert view["start"] == journal.day[:8] + "01"
    _period_rules(journal, view)


def test_timeline_json_lists_every_kind_oldest_first_without_what_was_taken_back(
    journal: Journal,
) -> None:
    events = journal.cli.json("timeline")["events"]
    # Each event object, with the line the text shows; a calendar entry also says whose it is.
    assert all(set(e) == EVENT_KEYS | {"summary"} for e in events if e["type"] != "calendar")
    assert all(set(e) == EVENT_KEYS | {"summary", "for"} for e in events if e["type"] == "calendar")
    assert [e["hlc"] for e in events] == sorted(e["hlc"] for e in events)
    assert {e["type"] for e in events} == {
        "device.added",
        "person.named",
        "checkin",
        "milestone",
        "milestone.celebrated",
        "gratitude",
        "joy.added",
        "joy.status",
        "calendar",
        "goal.set",
        "goal.week",
        "ritual.set",
        "partnership.week",
        "comfort.signal",
        "boundary.set",
        "care.task",
        "care.swap",
    }
    assert not [e for e in events if e["id"].startswith(journal.ids["retracted"])]
    assert RETRACTED not in json.dumps(events)
    by_type = {e["type"]: e["fields"] for e in events}
    assert by_type["ritual.set"] == dict(
        RITUAL, active=True, fallback=None, ritual=journal.full("ritual", events)
    )
    assert by_type["comfort.signal"] == COMFORT
    assert by_type["boundary.set"]["text"] == BOUNDARY
    assert by_type["care.swap"] == {
        "task": journal.full("care", events),
        "to": "me",
        "note": SWAP_NOTE,
        "week": None,  # a fixed task's swap: from then on
    }
    assert by_type["person.named"] == {"person": journal.me, "name": "Sam"}
    assert all(e["author_name"] == "Sam" and e["date"] == journal.day for e in events)


def test_joy_list_json_shows_each_idea_with_its_cost_and_latest_status(journal: Journal) -> None:
    items = journal.cli.json("joy", "list")["items"]
    assert {i["title"]: (i["cost"], i["status"]) for i in items} == JOYS
    for item in items:
        assert item["id"].startswith(journal.ids[item["title"]])
        assert item["by"] == journal.me


def test_goal_list_json_shows_the_goal_and_how_the_week_went(journal: Journal) -> None:
    [goal] = journal.cli.json("goal", "list")["items"]
    assert goal["id"].startswith(journal.ids["goal"])
    assert goal == dict(
        GOAL,
        active=True,
        id=goal["id"],
        weeks={journal.week: "adapted"},
        fallback=None,
        targets={},
    )


def test_calendar_list_json_shows_both_entries_by_date(journal: Journal) -> None:
    items = journal.cli.json("calendar", "list")["items"]
    assert [i["fields"] for i in items] == [
        {
            "kind": "appointment",
            "date": journal.day,
            "time": "09:30",
            "title": "GP review",
            "who": "both",
        },
        {"kind": "rest", "date": journal.later, "time": None, "title": None, "who": "me"},
    ]
    assert items[0]["id"].startswith(journal.ids["appointment"])
    assert items[1]["id"].startswith(journal.ids["rest"])


def test_care_list_json_shows_the_task_with_its_owner_after_the_swap(journal: Journal) -> None:
    [task] = journal.cli.json("care", "list")["items"]
    assert task["id"].startswith(journal.ids["care"])
    # Swapped from "partner" to "me": the owner is now the author, stored absolutely.
    assert task == dict(
        CARE, active=True, id=task["id"], owner=journal.me, rotate=False, week_swap=False
    )


def test_devices_list_json_shows_this_device_with_its_label(journal: Journal) -> None:
    assert journal.cli.json("devices", "list")["devices"] == [
        {
            "id": journal.device,
            "person": journal.me,
            "name": "Sam",
            "label": "phone",
            "this_device": True,
            "removed": False,
            "lost": False,
            "brought_in_by": None,
            "safety_code": None,
            "compared": True,  # one's own devices need no comparing
        }
    ]


# --- bad input is refused, in one line, and nothing is appended ----------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> TendCLI:
    cli = TendCLI(tmp_path_factory.mktemp("refusals") / "home")
    cli.ok("init", "--name", "Robin")
    cli.ok("checkin", "--day", "rest")
    cli.ok("goal", "add", "stretch together")
    return cli


@pytest.mark.parametrize(
    ("args", "field_named"),
    [
        (["checkin", "--energy", "11"], "energy"),
        (["checkin", "--pain", "-1"], "pain"),
        (["checkin", "--mood", "0"], "mood"),
        (["checkin", "--mood", "6", "--note", "fine"], "mood"),
        (["checkin"], "check-in"),  # empty, and no terminal to ask on: refused, never waits
        (["joy", "add", "kite flying", "--cost", "4"], "cost"),
        (["checkin", "--day", "rest", "--date", "2026-02-30"], "date"),
        (["calendar", "add", "--kind", "rest", "--date", "next tuesday"], "date"),
        (
            ["calendar", "add", "--kind", "appointment", "--date", "2026-12-03", "--time", "25:00"],
            "time",
        ),
        (["milestone", "   "], "title"),
        (["goal", "add", "walk", "--per-week", "0"], "per_week"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_bad_input_exits_1_with_one_line_naming_the_field_and_appends_nothing(
    small: TendCLI, args: list[str], field_named: str
) -> None:
    before = stored_entries(small.home)
    result = small(*args, timeout=10)
    assert result.returncode == 1, result
    line = one_line(result.stderr)
    assert line.startswith(f"tend: {field_named}:"), line
    assert result.stdout == ""
    assert stored_entries(small.home) == before


def test_a_goal_week_can_never_be_failed_usage_error_exit_2_appends_nothing(small: TendCLI) -> None:
    [goal] = small.json("goal", "list")["items"]
    before = stored_entries(small.home)
    result = small("goal", "week", goal["id"][:8], "failed", timeout=10)
    assert result.returncode == 2
    assert "'failed' is not one of 'met', 'adapted', 'paused'" in result.stderr
    assert stored_entries(small.home) == before


@pytest.mark.slow
def test_refused_commands_leave_the_timeline_and_the_entry_count_as_they_were(
    small: TendCLI,
) -> None:
    before = state(small)
    assert before[1] == 4  # device.added, person.named, a check-in, a goal
    assert small("checkin", "--energy", "11").returncode == 1
    assert small("checkin").returncode == 1
    assert small("goal", "week", "0000", "failed").returncode == 2
    assert state(small) == before


@pytest.mark.parametrize(
    "args",
    [
        ["today"],
        ["timeline", "--json"],
        ["checkin", "--day", "rest"],
        ["joy", "list"],
        ["verify"],
        ["export", "--format", "json", "--out", "journal.json"],
    ],
    ids=" ".join,
)
def test_a_command_without_a_journal_says_how_to_start_one_and_creates_nothing(
    tend: TendCLI, args: list[str]
) -> None:
    result = tend(*args, timeout=10)
    assert result.returncode == 1
    assert "start one with: tend init --name NAME" in one_line(result.stderr)
    assert not tend.home.exists()


# --- replay -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_replay_at_a_moment_shows_only_what_was_recorded_by_then_and_never_changes(
    tend: TendCLI,
) -> None:
    tend.ok("init", "--name", "Sam")
    tend.ok("checkin", "--energy", "2", "--note", "before the moment")
    moment = dt.datetime.now().astimezone().isoformat()  # after the first process has exited
    tend.ok("checkin", "--energy", "7", "--note", "after the moment")

    then = tend.ok("replay", "--at", moment, "--json")
    view = json.loads(then)
    assert view["entries_known"] == 3  # device.added, person.named, the first check-in
    [person] = view["today"]["people"]
    assert person["checkin"]["fields"]["note"] == "before the moment"
    [days] = [p["days"] for p in view["week"]["people"]]
    assert [d["note"] for d in days.values()] == ["before the moment"]
    assert "after the moment" not in then

    now = tend.json("replay", "--at", dt.datetime.now().astimezone().isoformat())
    assert now["today"]["people"][0]["checkin"]["fields"]["note"] == "after the moment"

    # Entries recorded later never change the past, even one dated back before the moment.
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    tend.ok("checkin", "--day", "rest", "--date", yesterday, "--note", "late, about yesterday")
    tend.ok("gratitude", "thank you, recorded later")
    assert tend.ok("replay", "--at", moment, "--json") == then


# --- export -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_exports_are_written_0600_and_hold_what_was_recorded(tend: TendCLI, tmp_path: Path) -> None:
    tend.ok("init", "--name", "Sam")
    tend.ok("milestone", "made soup from scratch", "--category", "meal")
    tend.ok("joy", "add", "kite flying on the hill", "--cost", "2")
    tend.ok("goal", "add", "stretch together")
    out = tmp_path / "exports"
    out.mkdir()

    tend.ok("export", "--format", "markdown", "--out", str(out / "journal.md"))
    markdown = (out / "journal.md").read_text()
    assert "**Sam**: small win: made soup from scratch" in markdown

    tend.ok("export", "--format", "json", "--out", str(out / "journal.json"))
    exported = json.loads((out / "journal.json").read_text())
    assert exported["format"] == "tend-export"
    assert list(exported["people"].values()) == ["Sam"]
    titles = [e["fields"].get("title") for e in exported["events"]]
    assert {"made soup from scratch", "kite flying on the hill", "stretch together"} <= set(titles)

    stdout = tend.ok("export", "--format", "automerge", "--out", str(out / "automerge"))
    assert "Wrote 2 Automerge documents" in stdout
    from automerge import core as am

    values: dict[str, object] = {}
    documents = sorted((out / "automerge").iterdir())
    assert [p.suffix for p in documents] == [".automerge", ".automerge"]
    for path in documents:
        doc = am.Document.load(path.read_bytes())
        for key in doc.keys(am.ROOT):
            found = doc.get(am.ROOT, key)
            assert found is not None and isinstance(found[0], tuple), key  # a scalar
            values[f"{path.stem}:{key.split('/')[-1]}"] = found[0][1]
    week = week_of(dt.date.today())
    assert values[f"joy-{week}:title"] == "kite flying on the hill"
    assert values[f"joy-{week}:cost"] == 2
    assert values["goals:title"] == "stretch together"

    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 4
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}


# --- a passphrase-locked journal ------------------------------------------------------------------

PASS = {"TEND_PASSPHRASE": "correct horse battery staple"}


@pytest.mark.slow
def test_a_locked_journal_opens_only_with_its_passphrase_and_never_waits_for_one(
    tend: TendCLI,
) -> None:
    tend.ok("init", "--name", "Xan", "--passphrase", env=PASS)
    tend.ok("checkin", "--day", "rest", "--note", "locked away", env=PASS)
    view = tend.json("today", env=PASS)
    assert view["people"][0]["checkin"]["fields"]["note"] == "locked away"

    wrong = tend("today", env={"TEND_PASSPHRASE": "correct horse battery stapler"}, timeout=10)
    assert wrong.returncode == 1
    assert one_line(wrong.stderr) == "tend: that passphrase does not open this journal"
    assert wrong.stdout == ""

    for args in (["today"], ["checkin", "--day", "rest"]):
        missing = tend(*args, timeout=10)  # no TEND_PASSPHRASE and no terminal to ask on
        assert missing.returncode == 1
        assert "TEND_PASSPHRASE" in one_line(missing.stderr)
    assert tend.json("verify", env=PASS)["entries"] == 3


def test_init_with_passphrase_but_no_terminal_and_no_env_refuses_and_creates_no_journal(
    tend: TendCLI,
) -> None:
    result = tend("init", "--name", "Xan", "--passphrase", timeout=10)
    assert result.returncode == 1
    assert "TEND_PASSPHRASE" in one_line(result.stderr)
    assert not (tend.home / "device.tend").exists()


def test_the_week_turns_where_this_device_says_and_joy_add_says_which_week(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    assert "Sunday at 18:00" in tend.ok("week-turns")
    assert "Sunday at 20:30" in tend.ok("week-turns", "20:30")
    assert "Sunday at 20:30" in tend.ok("week-turns")  # kept in the device file
    refused = tend("week-turns", "late")
    assert refused.returncode == 1 and "a time of day like 18:00" in refused.stderr
    said = tend.ok("joy", "add", "kite flying", "--week", "2026-W50")
    assert said.startswith("Joy idea added for the week of 7 December (2026-W50).")
    listed = json.loads(tend.ok("joy", "list", "--week", "2026-W50", "--json"))
    assert [j["title"] for j in listed["items"]] == ["kite flying"]


def test_care_list_says_who_does_each_task(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    tend.ok("care", "add", "watering", "--owner", "me", "--cadence", "daily")
    tend.ok("care", "add", "cooking", "--owner", "both")
    lines = tend.ok("care", "list").splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [
        "watering  ·  daily  ·  you",
        "cooking  ·  weekly  ·  both of you",
    ]


def test_a_flare_check_in_gently_offers_the_care_tasks_one_does_alone(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    assert "care task" not in tend.ok("checkin", "--day", "flare")  # nothing to offer yet
    task = short_id(tend.ok("care", "add", "pharmacy run", "--owner", "me"))
    tend.ok("care", "add", "cooking", "--owner", "both")
    said = tend.ok("checkin", "--day", "flare", "--energy", "1")
    assert f"your partner may take it: pharmacy run [{task}]." in said
    assert "cooking" not in said  # shared already
    assert "care task" not in tend.ok("checkin", "--day", "rest")  # only on a flare day


def test_the_words_for_days_work_wherever_a_day_is_asked_for(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    future = tend("checkin", "--day", "rest", "--date", "tomorrow")
    assert future.returncode == 1
    assert "today or a day before it (a check-in is about a day that has come;" in future.stderr
    assert tend("checkin", "--day", "rest", "--date", tomorrow).returncode == 1
    tend.ok("checkin", "--day", "gentle", "--date", "Yesterday")
    said = tend.ok(
        "calendar", "add", "--kind", "appointment", "--date", "tomorrow", "--title", "physio"
    )
    assert f"physio on {tomorrow}" in said  # an appointment is naturally still to come
    assert "As this journal was at" in tend.ok("replay", "--at", "yesterday")
    tend.ok("week", "--at", "yesterday")
    wrong = tend("replay", "--at", "someday")
    assert wrong.returncode == 1 and "a date like 2026-03-14" in wrong.stderr
