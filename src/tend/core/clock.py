"""Hybrid logical clock: orders events across devices even when wall clocks disagree.

An HLC is one integer, (wall milliseconds << 16) | counter. It never goes backwards on a device,
and `observe` moves it past any timestamp we receive, so an event recorded after seeing another
always sorts after it. That is what lets replay use (HLC, log id, seq) as a causal order.
"""

from __future__ import annotations

import time

COUNTER_BITS = 16
MAX_SKEW_MS = 24 * 3600 * 1000  # how far ahead of our clock another device's clock may be
COUNTER_MASK = (1 << COUNTER_BITS) - 1


def pack(wall_ms: int, counter: int) -> int:
    return (wall_ms << COUNTER_BITS) | counter


def wall_of(hlc: int) -> int:
    return hlc >> COUNTER_BITS


def tick(last: int, now_ms: int | None = None) -> int:
    """The next timestamp for a local event, given the last one this device issued or saw."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now > wall_of(last):
        return pack(now, 0)
    return last + 1


def observe(last: int, seen: int) -> int:
    """The clock after receiving an event stamped `seen`."""
    return max(last, seen)
