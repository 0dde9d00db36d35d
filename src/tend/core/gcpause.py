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


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
