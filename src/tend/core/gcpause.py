"""Pausing Python's cyclic garbage collector around work that makes many long-lived objects.

Taking in or opening years of entries makes hundreds of thousands of objects that all live on
(items, events, the readable entries): each generation-2 collection meanwhile walks every one
of them, for nothing, since they are freed by reference counting or not at all. Paused for the
duration (about a quarter of a ten-year catch-up; docs/benchmarks.md), the collector runs as
usual afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class Pause:
    """The collector held off, and whether it ran before: `lifted` runs it again meanwhile."""

    def __init__(self) -> None:
        self.was_enabled = gc.isenabled()

    @contextmanager
    def lifted(self) -> Iterator[None]:
        """Inside, the collector runs as before the pause (a pause must not outlast a wait on
        someone else, such as a relay that takes its time: the process may be serving more)."""
        if not self.was_enabled:
            yield
            return
        gc.enable()
        try:
            yield
        finally:
            gc.disable()


@contextmanager
def gc_paused() -> Iterator[Pause]:
    pause = Pause()
    gc.disable()
    try:
        yield pause
    finally:
        if pause.was_enabled:
            gc.enable()
