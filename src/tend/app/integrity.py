"""Checking what this device holds: every chain, envelope, signature and membership rule."""

from __future__ import annotations

from collections.abc import Callable

from tend.core.journal import Journal
from tend.core.trust import verify as verifying
from tend.core.trust.verify import Report

LARGE = 2000  # entries from which a check is worth showing progress for


def entry_count(journal: Journal) -> int:
    return journal.store.count()


def verify(journal: Journal, progress: Callable[[int], None] | None = None) -> Report:
    return verifying.verify(journal, progress)


__all__ = ["LARGE", "Report", "entry_count", "verify"]
