"""Checks at the edge: a bad value raises `ValidationError` naming the field and what is allowed."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from tend.core.errors import ValidationError

MAX_TEXT = 2000  # a note is a few sentences; this bounds what one entry can carry
MAX_TITLE = 200
MAX_CHIPS = 12
WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
# What a terminal or a page could take as an instruction rather than words: C0 and C1 control
# characters (a newline is words), DEL, and the bidirectional overrides and isolates that can
# make text read differently from what it is.
UNSAFE_TEXT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def int_range(field: str, value: object, lo: int, hi: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationError(field, f"a whole number from {lo} to {hi}", value)


def choice(field: str, value: object, allowed: Iterable[str], *, required: bool = False) -> None:
    options = tuple(allowed)
    if value is None and not required:
        return
    if value not in options:
        raise ValidationError(field, "one of " + ", ".join(options), value)


def text(field: str, value: object, *, limit: int = MAX_TEXT, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(field, "some text" if required else "text", value)
    if len(value) > limit:
        raise ValidationError(field, f"at most {limit} characters", f"{len(value)} characters")
    if UNSAFE_TEXT.search(value):
        raise ValidationError(field, "words without control characters (a newline is fine)")


def chips(field: str, values: object) -> None:
    if not isinstance(values, tuple) or len(values) > MAX_CHIPS:
        raise ValidationError(field, f"at most {MAX_CHIPS} short phrases")
    for item in values:
        text(field, item, limit=MAX_TITLE, required=True)


def raw_id(field: str, value: object, length: int = 16) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        raise ValidationError(field, f"an id of {length} bytes")


def iso_date(field: str, value: object, *, required: bool = True) -> None:
    if value is None and not required:
        return
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(field, "a date like 2026-03-14", value) from None
    if not isinstance(value, str) or len(value) != 10:
        raise ValidationError(field, "a date like 2026-03-14", value)


def iso_week(field: str, value: object) -> None:
    match = WEEK_RE.match(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match.group(2)) <= 53:
        raise ValidationError(field, "an ISO week like 2026-W11", value)


def clock_time(field: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not TIME_RE.match(value):
        raise ValidationError(field, "a time like 09:30", value)


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


MAX_LINK = 500
LINK_RE = re.compile(r"^https?://[^\s/]+\S*$")


def link(field: str, value: object) -> None:
    """An optional web address: http:// or https://, with no spaces."""
    if value is None:
        return
    text(field, value, limit=MAX_LINK)
    if not LINK_RE.match(str(value)):
        raise ValidationError(field, "a web address starting with https:// or http://", value)
