"""Which week a plan is for. Planning on Sunday evening is planning the coming week, so after
the week turns (Sunday at 18:00, or the time this device was given) planning commands look
ahead; reflecting on a week (its goal outcomes, the partnership note) stays with the week."""

from __future__ import annotations

import datetime as dt

from tend.core.domain.validate import WEEK_RE, week_of
from tend.core.errors import ValidationError
from tend.core.journal import Journal

DEFAULT_TURN = dt.time(18, 0)
SUNDAY = 7


def planning_week(now: dt.datetime, turn: dt.time = DEFAULT_TURN) -> str:
    """The ISO week a plan made at `now` is for."""
    day = now.date()
    if day.isoweekday() == SUNDAY and now.time() >= turn:
        day += dt.timedelta(days=1)
    return week_of(day)


def turn_of(journal: Journal) -> dt.time:
    """When this device's week turns, on Sunday."""
    saved = journal.device.settings.get("week_turns_at")
    return dt.time.fromisoformat(saved) if saved else DEFAULT_TURN


def set_turn(journal: Journal, value: str) -> dt.time:
    """Set when the week turns on Sunday ("18:00"); saved at once."""
    try:
        turn = dt.time.fromisoformat(value)
    except ValueError:
        raise ValidationError("time", "a time of day like 18:00", value) from None
    journal.device.settings["week_turns_at"] = turn.strftime("%H:%M")
    journal.save_device()
    return turn


def next_planning_week(journal: Journal) -> str:
    return planning_week(journal.now(), turn_of(journal))


def monday_of(week: str) -> dt.date:
    """The first day of an ISO week ("2026-W50" -> 7 December 2026)."""
    year, number = week.split("-W")
    return dt.date.fromisocalendar(int(year), int(number), 1)


def named(field: str, text: str | None, *, ahead: bool) -> str | None:
    """An ISO week as given ("2026-W50"), or the week of a day named as anywhere else ("fri",
    "tomorrow", "2026-12-11"; app/dates.py): a weekday is the next one for a plan (`ahead`),
    the latest one for a week looked back on."""
    if text is None or WEEK_RE.match(text):
        return text
    from tend.app import dates

    try:
        return week_of(dates.day_of(field, text, ahead=ahead))
    except ValidationError:
        raise ValidationError(field, "an ISO week like 2026-W50, or a day in it", text) from None
