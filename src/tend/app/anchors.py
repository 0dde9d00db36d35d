"""Anchor memories: moments to hold on to, gently offered again on a hard day.

An anchor is shared with the partner unless the person keeps it private. On a flare day the
check-in can offer one (`for_a_hard_day`), chosen at random so the same one does not always
come back; nothing is asked in return.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from tend.app import dates, privacy
from tend.app.record import Recorded
from tend.core.domain import events as ev
from tend.core.journal import Journal
from tend.core.views import projections

HARD_DAYS: tuple[ev.DayKind, ...] = ("flare",)


@dataclass(frozen=True)
class AnchorRow:
    """One anchor memory: `date` is the day it happened, if the person gave one."""

    id: str
    text: str
    date: str | None
    by: str  # the person who noted it (hex)
    name: str | None  # their name, if it has reached this device
    private: bool  # kept to the author's own devices


def add(
    journal: Journal, text: str, *, on: dt.date | None = None, private: bool = False
) -> Recorded:
    """Keep an anchor memory; `on` is the day it happened (a day that has come)."""
    if on is not None:
        dates.not_after("date", on, journal.now().date(), "an anchor is a memory")
    body = ev.AnchorMemory(text=text, date=on.isoformat() if on else None)
    return Recorded(journal.record(body, private=private), private)


def listing(journal: Journal) -> list[AnchorRow]:
    """Every anchor memory this device can read (the partner's shared ones, all of one's own),
    in the order they were noted."""
    items = journal.items()
    names = projections.names(items)
    chosen = [i for i in items if i.type == ev.AnchorMemory.TYPE]
    private = privacy.kept_private(journal, chosen)
    rows = []
    for event in projections.timeline(items, types=frozenset({ev.AnchorMemory.TYPE})):
        body = event.body
        assert isinstance(body, ev.AnchorMemory)
        rows.append(
            AnchorRow(
                event.id.hex(),
                body.text,
                body.date,
                event.author.hex(),
                names.get(event.author),
                event.id in private,
            )
        )
    return rows


def one_at_random(journal: Journal, chance: random.Random | None = None) -> AnchorRow | None:
    """One anchor memory, chosen at random; None when there are none yet."""
    rows = listing(journal)
    return (chance or random.Random()).choice(rows) if rows else None


def for_a_hard_day(
    journal: Journal, day: ev.DayKind | None, chance: random.Random | None = None
) -> AnchorRow | None:
    """What a check-in may gently offer: one anchor memory on a hard day, else nothing."""
    return one_at_random(journal, chance) if day in HARD_DAYS else None
