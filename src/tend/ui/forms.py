"""Reading a submitted form into the typed arguments of an app function.

Only parsing: a number that is not one, a date that is not one, is refused here with the
field's name (shown by that field); ranges and choices are the application layer's to check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tend.app.dates import day_of
from tend.core.errors import ValidationError

Form = Mapping[str, Any]


def text(form: Form, name: str) -> str | None:
    """A text field, stripped; None when left empty (every field but the essential is optional)."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def required(form: Form, name: str, field: str | None = None) -> str:
    value = text(form, name)
    if value is None:
        raise ValidationError(field or name, "given (this one is needed)")
    return value


def number(form: Form, name: str, field: str | None = None) -> int | None:
    value = text(form, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError(field or name, "a whole number", value) from None


def ticked(form: Form, name: str) -> bool:
    return text(form, name) is not None


def chosen(form: Form, name: str) -> list[str]:
    """Every ticked chip of a group, then any free words (comma-separated), in order, once."""
    getall = getattr(form, "getall", None)
    values = getall(name, []) if getall is not None else [form.get(name)]
    out = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    more = text(form, name + "_more")
    if more:
        out += [p.strip() for p in more.split(",") if p.strip()]
    return list(dict.fromkeys(out))


def date(form: Form | Mapping[str, str], name: str, field: str | None = None) -> dt.date | None:
    value = text(form, name)
    return None if value is None else day_of(field or name, value)
