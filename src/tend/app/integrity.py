"""Checking what this device holds: every chain, envelope, signature and membership rule."""

from __future__ import annotations

from collections.abc import Callable

from tend.core.journal import Journal
from tend.core.trust import verify as verifying
from tend.core.trust.verify import Report
from tend.core.views import projections
from tend.core.views.read_model import Item

LARGE = 2000  # entries from which a check is worth showing progress for


def entry_count(journal: Journal) -> int:
    return journal.store.count()


def verify(journal: Journal, progress: Callable[[int], None] | None = None) -> Report:
    return verifying.verify(journal, progress)


def without_words(journal: Journal) -> list[Item]:
    """Entries held here without their words that nobody took back: the relay withheld or
    damaged their key record (what `tend verify` names, and `tend doctor` tells)."""
    return projections.unavailable(journal.items())


__all__ = ["LARGE", "Report", "entry_count", "verify", "without_words"]
