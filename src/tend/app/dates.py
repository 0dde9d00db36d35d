"""The words for days a person may use wherever a day is asked for: the same everywhere.

An ISO date (2026-03-14), `today`, `yesterday` or `tomorrow`, or a weekday's name (`monday` or
`mon`, in any case). A weekday means the latest such day on or before today wherever a day that
has come is asked for (a check-in, a small win, looking back at a week), and the next such day
on or after today for what is still to come (a calendar entry).
"""

from __future__ import annotations

import datetime as dt

from tend.core.errors import ValidationError

WORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EXPECTED = "a date like 2026-03-14, 'today', 'yesterday', 'tomorrow' or a weekday like 'mon'"
HELP = "e.g. 2026-03-14, yesterday or mon; a weekday is the latest one, today included"
AHEAD_HELP = "e.g. 2026-12-03, tomorrow or fri; a weekday is the next one, today included"


def is_word(text: str) -> bool:
    """Whether `text` is one of the words for a day (not an ISO date)."""
    word = text.strip().lower()
    return word in WORDS or _weekday(word) is not None


def day_of(field: str, text: str, today: dt.date | None = None, *, ahead: bool = False) -> dt.date:
    """The day `text` names: a word from WORDS, a weekday, or an ISO date. A weekday is the
    latest such day on or before today, or with `ahead` the next on or after it."""
    word = text.strip().lower()
    base = today or dt.date.today()
    if word in WORDS:
        return base + dt.timedelta(days=WORDS[word])
    weekday = _weekday(word)
    if weekday is not None:
        if ahead:
            return base + dt.timedelta(days=(weekday - base.weekday()) % 7)
        return base - dt.timedelta(days=(base.weekday() - weekday) % 7)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, EXPECTED, text) from None


def _weekday(word: str) -> int | None:
    """Monday 0 to Sunday 6, for a weekday's whole name or its first three letters or more."""
    if len(word) < 3:
        return None
    for number, name in enumerate(WEEKDAYS):
        if name.startswith(word):
            return number
    return None


def not_after(field: str, day: dt.date, today: dt.date, what: str) -> dt.date:
    """Refuse a day still to come where only a day that has come makes sense."""
    if day > today:
        raise ValidationError(field, f"today or a day before it ({what})", day.isoformat())
    return day
