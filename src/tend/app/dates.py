"""The words for days a person may use wherever a day is asked for: the same everywhere."""

from __future__ import annotations

import datetime as dt

from tend.core.errors import ValidationError

WORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}
EXPECTED = "a date like 2026-03-14, 'today', 'yesterday' or 'tomorrow'"


def day_of(field: str, text: str, today: dt.date | None = None) -> dt.date:
    """The day `text` names: a word from WORDS, or an ISO date."""
    word = text.strip().lower()
    if word in WORDS:
        return (today or dt.date.today()) + dt.timedelta(days=WORDS[word])
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, EXPECTED, text) from None


def not_after(field: str, day: dt.date, today: dt.date, what: str) -> dt.date:
    """Refuse a day still to come where only a day that has come makes sense."""
    if day > today:
        raise ValidationError(field, f"today or a day before it ({what})", day.isoformat())
    return day
