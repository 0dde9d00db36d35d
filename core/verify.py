"""`tend verify`: check every chain, envelope and signature in the local store.

Trust is anchored in this device: its own log is on the roster, and so is every device that a
device already on the roster added (a signed `device.added` event). Nothing here trusts the view
cache. Each problem names the log and seq of the entry, so a person can say what failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tend.core import entry, roster
from tend.core.codec import decode_event
from tend.core.errors import ChainError, CorruptStore, InvalidEnvelope
from tend.core.events import Event
from tend.core.ids import LogId, short
from tend.core.journal import Journal


@dataclass(frozen=True)
class Problem:
    log: str
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"log {self.log} seq {self.seq}: {self.reason}"


@dataclass
class Report:
    entries: int = 0
    logs: int = 0
    signatures: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Checked:
    opened: entry.Opened
    event: Event


def verify(journal: Journal, progress: Callable[[int], None] | None = None) -> Report:
    report = Report()
    store = journal.store
    checked: list[_Checked] = []
    for log in sorted(store.heads()):
        report.logs += 1
        checked.extend(_check_log(journal, log, report, progress))
    _check_signatures(journal, checked, report)
    return report


def _check_log(
    journal: Journal, log: LogId, report: Report, progress: Callable[[int], None] | None
) -> list[_Checked]:
    out = []
    prev, expected = {entry.GENESIS}, 1
    for stored in journal.store.log_entries(log):
        report.entries += 1
        if progress:
            progress(1)
        problem = _check_entry(journal, stored.entry, stored.hash, log, expected, prev)
        if isinstance(problem, str):
            report.problems.append(Problem(short(log), stored.seq, problem))
        else:
            out.append(problem)
        # An entry altered on disk is reported once: the next one follows it if it names either
        # its stored hash or the hash of its bytes, so one changed byte never blames a neighbour.
        prev, expected = {stored.hash, entry.entry_hash(stored.entry)}, stored.seq + 1
    return out


def _check_entry(
    journal: Journal, raw: bytes, digest: bytes, log: LogId, expected: int, prev: set[bytes]
) -> _Checked | str:
    if entry.entry_hash(raw) != digest:
        return "its bytes do not match its stored hash (altered on disk)"
    try:
        header = entry.Header.decode(raw)
    except ChainError as e:
        return str(e)
    if header.log != log or header.seq != expected:
        return f"out of sequence (expected seq {expected})"
    if header.prev_hash not in prev:
        return "does not follow the entry before it (broken hash chain)"
    if header.space != journal.device.space:
        return "belongs to another journal"
    try:
        opened = entry.open_entry(raw, journal.device.space_keys.get)
        ev = decode_event(opened.event)
    except InvalidEnvelope:
        return "cannot be opened: tampered or corrupt"
    except CorruptStore as e:
        return f"does not hold a valid event ({e})"
    if ev.device != log:
        return "claims to come from another device"
    return _Checked(opened, ev)


def _check_signatures(journal: Journal, checked: list[_Checked], report: Report) -> None:
    """Every signature, against a roster grown only from entries already verified."""
    verified: list[_Checked] = []
    pending = list(checked)
    members = roster.build(journal.trust_anchors(), [])
    progress = True
    while pending and progress:
        progress = False
        for item in list(pending):
            public = members.keys.get(item.opened.header.log)
            if public is None:
                continue
            pending.remove(item)
            report.signatures += 1
            if item.opened.signed_by(public):
                verified.append(item)
                progress = True
            else:
                _problem(report, item, "signature does not verify")
        members = roster.build(journal.trust_anchors(), [v.event for v in verified])
    for item in pending:
        _problem(report, item, "written by a device that is not on the roster")
    for item in verified:
        if members.people.get(item.opened.header.log) != item.event.author:
            _problem(report, item, "claims to be written by someone other than its device's person")


def _problem(report: Report, item: _Checked, reason: str) -> None:
    header = item.opened.header
    report.problems.append(Problem(short(header.log), header.seq, reason))
