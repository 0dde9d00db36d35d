"""Which of a person's own entries went in private (sealed to their own devices).

A view meant for both partners must show the same on both devices, so it leaves out what only
one of them can read. The partner's private entries never open here; this person's own do, and
each item says whether it was sealed (core/views/read_model.py). A private entry shared later
(`tend share`) is read as its shared copy, which is not private.
"""

from __future__ import annotations

from collections.abc import Iterable

from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.core.views import projections
from tend.core.views.read_model import Item


def kept_private(journal: Journal, items: Iterable[Item]) -> set[EventId]:
    """The ids of this person's own entries among `items` that went in private."""
    me = journal.device.person
    return set(projections.private_ids(i for i in items if i.author == me))
