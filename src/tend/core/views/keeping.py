"""What the two of you keep: rituals and boundaries as lists (goals and the care rota are in
projections.py). Each is the fold of its shared document, so both devices show the same list
whatever order the edits, retirements and keeps arrived in.

A ritual says when it was last kept, never how often or how long in a row: a quiet week is not
a broken chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tend.core.views.projections import board
from tend.core.views.read_model import Item


@dataclass(frozen=True)
class RitualRow:
    """A small ritual you keep together."""

    id: str
    title: str
    cadence: str
    active: bool
    fallback: str | None  # "if fatigue comes, then ..."
    last_kept: str | None  # the latest day it was kept (YYYY-MM-DD), if it has been


@dataclass(frozen=True)
class BoundaryRow:
    """A boundary, with the person whose it is (hex): only they may change or retire it."""

    id: str
    text: str
    by: str
    active: bool


def rituals(items: Sequence[Item]) -> list[RitualRow]:
    content = board(items, "rituals")
    kept: dict[str, str] = {}
    for key, fields in content.items():
        ritual, at, day = key.partition("@")
        if at and fields.get("kept") is True:
            kept[ritual] = max(day, kept.get(ritual, day))
    out = []
    for key, fields in content.items():
        if "@" in key:
            continue
        fallback = fields.get("fallback")
        out.append(
            RitualRow(
                key,
                str(fields.get("title", "")),
                str(fields.get("cadence", "")),
                bool(fields.get("active", True)),
                str(fallback) if fallback else None,
                kept.get(key),
            )
        )
    return out


def boundaries(items: Sequence[Item]) -> list[BoundaryRow]:
    return [
        BoundaryRow(
            key,
            str(fields.get("text", "")),
            str(fields.get("by", "")),
            bool(fields.get("active", True)),
        )
        for key, fields in board(items, "comfort").items()
        if not key.startswith("signal:")  # the comfort signals share the document
    ]
