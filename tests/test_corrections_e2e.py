"""Corrections and sharing later between two partners: a real relay on 127.0.0.1 and the real
`tend` command in subprocesses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Relay, TendCLI, pair

pytestmark = pytest.mark.slow  # a relay process and the real command for every step


@pytest.fixture
def couple(tmp_path: Path, relay: Relay) -> tuple[TendCLI, TendCLI]:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    return sam, alex


def id_in(said: str) -> str:
    return said.rsplit("[", 1)[1].split("]", 1)[0]


def events(cli: TendCLI, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cli.json("timeline", "--type", kind)["events"]
    return found


def sams_days(cli: TendCLI) -> dict[str, Any]:
    week = cli.json("week")
    days: dict[str, Any] = next(p for p in week["people"] if p["name"] == "Sam")["days"]
    return days


def sync(*clis: TendCLI) -> None:
    for _round in range(2):
        for cli in clis:
            cli.ok("sync")


def test_a_correction_changes_only_the_named_field_on_both_devices(
    couple: tuple[TendCLI, TendCLI],
) -> None:
    sam, alex = couple
    first = id_in(sam.ok("checkin", "--day", "flare", "--energy", "2", "--need", "rest"))
    sync(sam, alex)
    said = sam.ok("checkin", "--replaces", first, "--pain", "7")
    assert "the rest is as it was" in said
    sync(sam, alex)
    for cli in (sam, alex):
        [shown] = events(cli, "checkin")
        assert shown["supersedes"].startswith(first)
        fields = shown["fields"]
        assert (fields["day"], fields["energy"], fields["pain"], fields["needs"]) == (
            "flare",
            2,
            7,
            ["rest"],
        )
    assert sams_days(sam) == sams_days(alex)
    # Alex cannot correct Sam's entry: it is not one of Alex's own.
    refused = alex("checkin", "--replaces", first, "--pain", "1")
    assert refused.returncode != 0
    assert "no check-in of yours" in refused.stderr


def test_a_private_note_shared_later_reaches_the_partner_on_its_own_day(
    couple: tuple[TendCLI, TendCLI],
) -> None:
    sam, alex = couple
    sam.ok("checkin", "--energy", "4", "--pain", "3")
    noted = id_in(sam.ok("note", "I was scared at the appointment", "--date", "yesterday"))
    sync(sam, alex)
    assert events(alex, "note") == []
    [mine] = events(sam, "note")
    assert mine["private"] is True
    assert "(only you)" in sam.ok("timeline", env={"COLUMNS": "200"})
    days_before = sams_days(sam)
    sam.ok("share", noted)
    sync(sam, alex)
    [theirs] = events(alex, "note")
    [mine] = events(sam, "note")
    assert theirs["id"] == mine["id"] and theirs["id"].startswith(noted)
    assert theirs["date"] == mine["date"]
    assert theirs["fields"]["text"] == "I was scared at the appointment"
    assert mine["private"] is False and theirs["private"] is False
    assert sams_days(sam) == days_before == sams_days(alex)
    assert "(only you)" not in sam.ok("timeline", env={"COLUMNS": "200"})
