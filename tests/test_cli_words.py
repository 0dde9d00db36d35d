"""What the command says when a person types something a little off: it names the fix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.conftest import TendCLI


@pytest.fixture
def robin(tmp_path: Path) -> TendCLI:
    cli = TendCLI(tmp_path / "robin")
    cli.ok("init", "--name", "Robin")
    return cli


def test_choice_words_are_not_case_sensitive(robin: TendCLI) -> None:
    robin.ok("checkin", "--day", "Rest")
    assert robin.json("timeline")["events"][-1]["fields"]["day"] == "rest"


def test_a_mistyped_command_gets_a_did_you_mean(robin: TendCLI) -> None:
    result = robin("chekin")
    assert result.returncode == 2
    assert "Did you mean 'tend checkin'?" in result.stderr


def test_words_without_quotes_are_answered_with_how_to_quote_them(robin: TendCLI) -> None:
    result = robin("gratitude", "for", "the", "soup")
    assert result.returncode == 2
    assert "put words with spaces in quotes" in result.stderr


def test_a_missing_option_says_how_to_find_what_to_add(robin: TendCLI) -> None:
    result = robin("calendar", "add", "--date", "tomorrow")
    assert result.returncode == 2
    assert "To fix: add it; 'tend calendar add -h'" in result.stderr


@pytest.mark.parametrize("address", ["127.0.0.1:8765", "relay.example", "ftp://relay.example"])
def test_a_relay_address_without_its_scheme_says_to_add_it(
    robin: TendCLI, tmp_path: Path, address: str
) -> None:
    result = robin("sync", "--relay", address)
    assert result.returncode == 1
    assert "needs http:// or https:// in front" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    fresh = TendCLI(tmp_path / "fresh")
    refused = fresh("init", "--name", "Sam", "--relay", address)
    assert refused.returncode == 1 and "http:// or https://" in refused.stderr
    assert not (tmp_path / "fresh").exists()  # nothing half made


def test_the_help_tells_the_demo_as_two_partners_story(robin: TendCLI) -> None:
    listing = robin.ok("--help")
    assert "one partner" not in listing
    assert "Two partners' three weeks" in listing


def test_calendar_list_keeps_to_the_week_asked_for(robin: TendCLI) -> None:
    today = dt.date.today()
    later = today + dt.timedelta(weeks=2)
    robin.ok("calendar", "add", "--kind", "rest", "--date", today.isoformat())
    robin.ok(
        "calendar", "add", "--kind", "appointment", "--date", later.isoformat(), "--title", "GP"
    )
    week = f"{later.isocalendar().year}-W{later.isocalendar().week:02d}"
    rows = robin.json("calendar", "list", "--week", week)["items"]
    assert [r["fields"]["date"] for r in rows] == [later.isoformat()]
    by_day = robin.json("calendar", "list", "--week", later.isoformat())["items"]
    assert by_day == rows  # a day names its week, as everywhere
    assert len(robin.json("calendar", "list")["items"]) == 2
    assert "GP  ·  Robin" in robin.ok("calendar", "list")  # whose it is
    bad = robin("calendar", "list", "--week", "soon")
    assert bad.returncode == 1 and "ISO week" in bad.stderr
