"""Noticing a relay that withholds or rolls back: what other devices say they had seen.

Every event carries, signed, the highest seq its device held of every other log when it wrote
it (`Event.seen`). A relay cannot forge or alter entries (they are signed, chained and sealed),
but it could show each device a different prefix of each log, or stop passing one device's
entries on, or lose and roll back what it stored. The first two show here: if the partner's
device says it had seen 12 entries of some log and this device holds 9, the relay has not
handed over 3 that it had (or someone's device is lying about having seen them, which it signed).
The client checks this after each sync (sync/client.py); `tend verify` checks it over everything.
The claims seen so far are kept in the store's metadata, so a gap stays reported until it closes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgpack

from tend.core.domain.events import Event
from tend.core.ids import LogId
from tend.core.log.store import LogStore
from tend.core.trust.engine import Roster

META_KEY = "witness"
MAX_CLAIMS = 4096


@dataclass(frozen=True)
class Withheld:
    log: LogId
    missing: int  # entries another device had seen that are not here
    seen_by: LogId  # the device that had seen the most of them


Claims = dict[LogId, tuple[int, LogId]]  # log -> (highest seq another device saw, which device)


def claims_of(events: Iterable[Event], into: Claims | None = None) -> Claims:
    out: Claims = dict(into or {})
    for ev in events:
        for log, seq in ev.seen:
            if seq > out.get(log, (0, ev.device))[0]:
                out[log] = (seq, ev.device)
    return out


def withheld(claims: Claims, heads: Mapping[LogId, int], roster: Roster) -> list[Withheld]:
    """Logs where another device had seen more than is here (beyond a removal: not counted)."""
    out = []
    for log, (seq, by) in sorted(claims.items()):
        if not roster.admits(by, 1):
            continue  # a claim only counts from a device that counts
        expected = min(seq, roster.cutoffs.get(log, math.inf))
        held = heads.get(log, 0)
        if expected > held:
            out.append(Withheld(log, int(expected - held), by))
    return out


def load(store: LogStore) -> Claims:
    raw = store.meta(META_KEY)
    if not raw:
        return {}
    try:
        body = msgpack.unpackb(raw, raw=False, strict_map_key=False, max_array_len=MAX_CLAIMS)
        return {
            LogId(log): (int(seq), LogId(by))
            for log, (seq, by) in body.items()
            if isinstance(log, bytes) and isinstance(by, bytes) and isinstance(seq, int)
        }
    except (ValueError, TypeError, msgpack.UnpackException):
        return {}  # only a memory of what was seen: a damaged one starts afresh


def save(store: LogStore, claims: Claims) -> None:
    body = {log: [seq, by] for log, (seq, by) in list(claims.items())[:MAX_CLAIMS]}
    store.replace_meta(META_KEY, msgpack.packb(body, use_bin_type=True))
