"""What has gone out, as a version vector {log id: highest seq}: so each entry reaches a device
once, and each log reaches it in order.

A session's vector starts as the device's Pull vector and follows what it is sent or pushes; an
instance's feed (fanout.py) keeps one of what it has forwarded. Only headers are read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tend.core.ids import LogId
from tend.core.log.header import Header
from tend.sync.protocol import Vector


def advance(vector: Vector, entries: Sequence[bytes]) -> None:
    """Count `entries` as gone out (a catch-up page, or what the device pushed itself)."""
    for raw in entries:
        header = Header.decode(raw)
        vector[header.log] = max(vector.get(header.log, 0), header.seq)


def unsent(sent: Vector, entries: Sequence[bytes]) -> list[bytes]:
    """Entries past what `sent` covers, each once (live batches may overlap the catch-up), and
    counted as sent from now on."""
    out: list[bytes] = []
    for raw in entries:
        header = Header.decode(raw)
        if header.seq > sent.get(header.log, 0):
            sent[header.log] = header.seq
            out.append(raw)
    return out


def rewind(vector: Vector, log: LogId, from_seq: int) -> None:
    """Forget that `log` went out from `from_seq` on (a repair dropped it there)."""
    if vector.get(log, 0) >= from_seq:
        vector[log] = from_seq - 1


KeyRecords = Mapping[tuple[LogId, int], bytes]  # key records by position (log id, seq)


def positions(entries: Sequence[bytes]) -> list[tuple[LogId, int]]:
    """Each entry's position, (log id, seq), to look its key record up by."""
    out: list[tuple[LogId, int]] = []
    for raw in entries:
        header = Header.decode(raw)
        out.append((header.log, header.seq))
    return out


def parallel(entries: Sequence[bytes], keys: KeyRecords) -> tuple[bytes, ...]:
    """The key records of `entries` as an Entries frame carries them: one (or b"") per entry,
    or () when none of them has one."""
    if not keys:
        return ()
    records = tuple(keys.get(at, b"") for at in positions(entries))
    return records if any(records) else ()
