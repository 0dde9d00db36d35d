"""Taking in entries that came from elsewhere (the relay): verify everything, then append.

Nothing is applied until the trust engine (core/trust/engine.py) has checked it: per log, the frame,
the chain from what is held, the envelope, the event and the signature by the log's key; then,
over every log at once, the roster those entries imply and whether each entry counts. A log
that fails stops at the entry before the failure: what came before it is kept, the bad entry
and everything after it in that log are refused and reported (with the log, the seq and, where
known, whose device it is). Other logs are unaffected. Entries sealed under an epoch this device
has no key for, and entries of a device nobody has brought in yet, are set aside, not applied:
the first may open once a rotation arrives, the second once the device that brings it in syncs.

Key records (the wrapped content keys beside entries, core/journal/mapper.py) come along by
position; one that does not open its entry is dropped and the entry reads without its words
(as does one that came without), never refused for it: the chain and signatures do not cover
key records, and `tend verify` says which entries lack their words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tend.core import clock
from tend.core.domain.events import KeyRotated
from tend.core.gcpause import gc_paused
from tend.core.ids import LogId, PersonId, short
from tend.core.journal import Journal, item_of, shredding
from tend.core.journal.mapper import Readable
from tend.core.log.header import Header
from tend.core.log.store import Position
from tend.core.trust import engine as trust
from tend.core.trust import rotation
from tend.core.trust.engine import Reason, Refusal


@dataclass
class IngestReport:
    applied: int = 0
    duplicates: int = 0
    sealed_away: int = 0  # entries under a key epoch this device does not hold
    set_aside: list[bytes] = field(default_factory=list, repr=False)
    pending: list[bytes] = field(default_factory=list, repr=False)  # from devices not in (yet)
    refused: list[Refusal] = field(default_factory=list)
    removed_history: int = 0  # entries a removed device wrote after its removal: not applied
    witnessed: list[Readable] = field(default_factory=list, repr=False)

    @property
    def problems(self) -> list[Refusal]:
        """Refusals that mean tampering or corruption (exit 3), not history."""
        return [r for r in self.refused if r.reason.integrity]


def ingest(
    journal: Journal,
    entries: Sequence[bytes],
    now_ms: int | None = None,
    *,
    keys: Mapping[Position, bytes] | None = None,
) -> IngestReport:
    """Verify `entries` (any order, any logs) and append the ones that count, atomically, with
    the key records among `keys` that open them."""
    with gc_paused():  # a batch of thousands of entries makes objects that mostly live on
        return _ingest(journal, entries, now_ms, keys or {})


def _ingest(
    journal: Journal, entries: Sequence[bytes], now_ms: int | None, keys: Mapping[Position, bytes]
) -> IngestReport:
    report = IngestReport()
    # Received "now" by this journal's clock (real time, or a story's clock in the demo).
    received = int(journal.now().timestamp() * 1000) if now_ms is None else now_ms
    logs, junk = trust.by_log(entries)
    report.refused += [Refusal(LogId(bytes(16)), 0, Reason.NOT_AN_ENTRY)] * junk
    runs = [_check(journal, log, items, received, report, keys) for log, items in logs.items()]
    settled = trust.settle(
        journal.device.space,
        journal.device.trust_anchors(),
        journal.reading.facts(),
        runs,
        journal.store.hash_at,
        current=journal.roster(),
        acked=journal.reading.acked,
    )
    _sort_refusals(settled, report)
    report.pending = [raw for raws in settled.pending.values() for raw in raws]
    good = [pair for run in runs for pair in settled.admitted.get(run.log, [])]
    if report.refused:
        from tend.core.views import projections  # here: usually nothing is refused

        names = projections.names(journal.membership())
        report.refused = [_named(r, settled.roster, names) for r in report.refused]
    for run in runs:
        report.set_aside += run.set_aside if run.log not in settled.pending else []
    report.sealed_away = len(report.set_aside)
    if good:
        _append(journal, good, received, report, keys)
    return report


def _opener(journal: Journal, keys: Mapping[Position, bytes]) -> trust.Opener:
    read = journal.mapper.to_readable

    def opened(header: Header, raw: bytes) -> Readable:
        return read(raw, keys.get((header.log, header.seq)), header)

    return opened


def _sort_refusals(settled: trust.Settled, report: IngestReport) -> None:
    for refusal in settled.refused:
        if refusal.reason is Reason.REMOVED:
            report.removed_history += 1
        else:
            report.refused.append(refusal)


def _append(
    journal: Journal,
    good: list[tuple[bytes, Readable]],
    received: int,
    report: IngestReport,
    keys: Mapping[Position, bytes],
) -> None:
    hlc = journal.last_hlc()
    for _raw, readable in good:
        hlc = clock.observe(hlc, readable.outer.hlc)
    for _raw, readable in good:
        journal.reading.remember_opened(readable.opened.hash, item_of(readable, received))
    opened: dict[Position, bytes] = {
        (r.header.log, r.header.seq): r.key for _raw, r in good if r.key is not None
    }
    report.applied = journal.store.append(
        [(raw, received) for raw, _r in good],
        meta={"hlc": hlc.to_bytes(8, "big")},
        keys=opened,
        known=[(r.header, r.opened.hash) for _raw, r in good],
    )
    report.witnessed = [r for _raw, r in good]
    # A forget retraction erases here what it names; a named entry arriving late, at once.
    shredding.apply_forgets(journal)
    rotations = [r.outer for _raw, r in good if isinstance(r.outer.body, KeyRotated)]
    learnt = bool(rotations) and rotation.adopt_rotations(journal, rotations)
    if learnt and report.set_aside:
        # A new epoch key arrived in this batch: what was set aside may open now.
        again = ingest(journal, report.set_aside, received, keys=keys)
        report.applied += again.applied
        report.duplicates += again.duplicates
        report.refused.extend(again.refused)
        report.pending.extend(again.pending)
        report.removed_history += again.removed_history
        report.witnessed.extend(again.witnessed)
        report.sealed_away, report.set_aside = again.sealed_away, again.set_aside


def _check(
    journal: Journal,
    log: LogId,
    items: list[tuple[Header, bytes]],
    received: int,
    report: IngestReport,
    keys: Mapping[Position, bytes],
) -> trust.Checked:
    """Rule 1 for one log's new entries; what is already held is counted, or is a fork."""
    head = journal.store.head(log)
    held_seq = head[0] if head else 0
    fresh: list[tuple[Header, bytes]] = []
    seen: dict[int, bytes] = {}
    for header, raw in items:
        if header.seq in seen or header.seq <= held_seq:
            report.duplicates += 1  # already held (or twice in this batch); same bytes or a fork
            if seen.get(header.seq, raw) != raw or not _same_as_held(journal, header, raw):
                return trust.Checked(log, refusal=Refusal(log, header.seq, Reason.FORK))
            continue
        seen[header.seq] = raw
        fresh.append((header, raw))
    return trust.check_log(
        journal.device.space,
        log,
        head,
        journal.reading.log_key(log),
        fresh,
        _opener(journal, keys),
        lambda epoch: epoch in journal.device.space_keys,
        now_ms=int(journal.now().timestamp() * 1000),
    )


def _same_as_held(journal: Journal, header: Header, raw: bytes) -> bool:
    held = journal.store.entry_at(header.log, header.seq)
    return held is None or held == raw


def _named(refusal: Refusal, roster: trust.Roster, names: dict[PersonId, str]) -> Refusal:
    person = roster.person(refusal.log)
    if refusal.who or person is None:
        return refusal
    return dataclasses.replace(refusal, who=names.get(person))


__all__ = ["IngestReport", "Refusal", "ingest", "short"]
