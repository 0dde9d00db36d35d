"""The words for days: ISO dates, today/yesterday/tomorrow, and weekday names, the same for
every command that asks for a day (app/dates.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from tend.app.dates import day_of
from tend.core.errors import ValidationError
from tests.conftest import TendCLI

WEDNESDAY = dt.date(2026, 3, 11)


@pytest.mark.parametrize(
    ("word", "looking_back", "looking_ahead"),
    [
        ("monday", dt.date(2026, 3, 9), dt.date(2026, 3, 16)),
        ("Mon", dt.date(2026, 3, 9), dt.date(2026, 3, 16)),
        ("wed", WEDNESDAY, WEDNESDAY),  # today counts, either way
        ("WEDNESDAY", WEDNESDAY, WEDNESDAY),
        ("thurs", dt.date(2026, 3, 5), dt.date(2026, 3, 12)),
        ("sunday", dt.date(2026, 3, 8), dt.date(2026, 3, 15)),
        ("yesterday", dt.date(2026, 3, 10), dt.date(2026, 3, 10)),
        ("2026-01-02", dt.date(2026, 1, 2), dt.date(2026, 1, 2)),
    ],
)
def test_a_weekday_is_the_latest_one_looking_back_and_the_next_one_ahead(
    word: str, looking_back: dt.date, looking_ahead: dt.date
) -> None:
    assert day_of("date", word, WEDNESDAY) == looking_back
    assert day_of("date", word, WEDNESDAY, ahead=True) == looking_ahead


@pytest.mark.parametrize("word", ["mo", "someday", "2026-13-01", "fridays"])
def test_anything_else_is_refused_naming_what_is_allowed(word: str) -> None:
    with pytest.raises(ValidationError, match="a weekday like 'mon'"):
        day_of("date", word, WEDNESDAY)


def test_every_kind_that_describes_a_day_takes_a_past_date_and_refuses_a_future_one(
    tend: TendCLI,
) -> None:
    tend.ok("init", "--name", "Sam")
    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    for args in (
        ("milestone", "walked", "--date", "mon"),
        ("gratitude", "for the tea", "--date", "monday"),
        ("comfort", "green", "--date", "MON"),
        ("note", "a quiet day", "--date", "Monday"),
    ):
        tend.ok(*args)
    dates = {e["type"]: e["date"] for e in tend.json("timeline")["events"]}
    for kind in ("milestone", "gratitude", "comfort.signal", "note"):
        assert dates[kind] == monday.isoformat()
    refused = tend("milestone", "walked", "--date", "tomorrow")
    assert refused.returncode != 0
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "put it on the calendar" in refused.stderr
    tend.ok("calendar", "add", "--kind", "rest", "--date", "mon")
    [entry] = tend.json("calendar", "list")["items"]
    ahead = today + dt.timedelta(days=(0 - today.weekday()) % 7)
    assert entry["fields"]["date"] == ahead.isoformat()
    assert tend.json("week", "--at", "mon")["start"] == monday.isoformat()


def test_a_week_can_be_named_by_a_day_in_it(tend: TendCLI) -> None:
    from tend.core.domain.validate import week_of

    tend.ok("init", "--name", "Sam")
    today = dt.date.today()
    friday = today + dt.timedelta(days=(4 - today.weekday()) % 7)  # the next one, for a plan
    said = tend.ok("joy", "add", "tea on the balcony", "--week", "fri")
    assert f"({week_of(friday)})" in said
    assert [j["title"] for j in tend.json("joy", "list", "--week", "friday")["items"]] == [
        "tea on the balcony"
    ]
    tend.ok("partnership", "--went-well", "we asked plainly", "--week", "yesterday")
    [noted] = tend.json("timeline", "--type", "partnership.week")["events"]
    assert noted["fields"]["week"] == week_of(today - dt.timedelta(days=1))
    wrong = tend("joy", "add", "tea", "--week", "someday")
    assert wrong.returncode == 1 and "an ISO week like 2026-W50, or a day in it" in wrong.stderr
