"""Taking in entries that came from elsewhere (the relay): verify everything, then append.

Nothing is applied until it has passed, per log, in this order:
  1. the header: this space, an epoch we hold a key for, seq continuing our copy of the log,
     and the previous-hash link (so nothing is missing, reordered, forked or replayed);
  2. the envelope opens (so nothing was altered) and the event inside is valid and claims the
     log it arrived in (and a private box, if it is ours, matches its carrier);
  3. the device is on the roster and not removed, and the signature on the last entry of each
     contiguous run verifies. Each signed header carries the hash of the entry before it, so
     one signature vouches for the whole run (an Ed25519 check costs ~100x an AEAD open).
A log that fails stops at the entry before the failure: what came before it in the batch is
kept, the bad entry and everything after it in that log are refused, and the problem is
reported with the log, the seq and, where known, whose device it is. Other logs are unaffected.
Entries sealed under an epoch this device has no key for are set aside, not applied: after a
device is removed from the space, that is everything written since.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from tend.core import clock, projections, roster, rotation
from tend.core.codec import decode_event
from tend.core.errors import ChainError, UnreadableEntry
from tend.core.events import Event, KeyRotated, PersonNamed
from tend.core.header import GENESIS, Header, entry_hash
from tend.core.ids import LogId, PersonId, short
from tend.core.journal import Journal, Readable

MAX_SKEW_MS = 24 * 3600 * 1000  # how far ahead of our clock another device's clock may be


@dataclass(frozen=True)
class Refusal:
    log: str
    seq: int
    reason: str
    who: str | None = None
    device: bytes = b""  # the full log id, so the report can say whose device it was

    def __str__(self) -> str:
        whose = f" ({self.who}'s device)" if self.who else ""
        return f"log {self.log}{whose} seq {self.seq}: {self.reason}"


@dataclass
class IngestReport:
    applied: int = 0
    duplicates: int = 0
    sealed_away: int = 0  # entries under a key epoch this device does not hold
    set_aside: list[bytes] = field(default_factory=list, repr=False)
    refused: list[Refusal] = field(default_factory=list)


@dataclass
class _Run:
    log: LogId
    accepted: list[tuple[bytes, Readable]] = field(default_factory=list)


def ingest(journal: Journal, entries: Sequence[bytes], now_ms: int | None = None) -> IngestReport:
    """Verify `entries` (any order, any logs) and append the ones that pass, atomically."""
    report = IngestReport()
    # Received "now" by this journal's clock (real time, or a story's clock in the demo).
    received = int(journal.now().timestamp() * 1000) if now_ms is None else now_ms
    runs = [_open_run(journal, log, raws, report) for log, raws in _by_log(entries, report).items()]
    members, good = _verified(journal, runs, report)
    names = projections.names(journal.membership())
    report.refused = [_named(r, members, names) for r in report.refused]
    if good:
        last = journal.store.meta("hlc")
        hlc = int.from_bytes(last, "big") if last else 0
        for _raw, readable in good:
            hlc = clock.observe(hlc, readable.outer.hlc)
        for raw, readable in good:
            journal.remember_opened(entry_hash(raw), readable.item(received))
        report.applied = journal.store.append(
            [(raw, received) for raw, _r in good], meta={"hlc": hlc.to_bytes(8, "big")}
        )
        # Only a key.rotated can teach a key; looking costs a pass over the whole journal.
        rotations = [r.event for _raw, r in good if isinstance(r.event.body, KeyRotated)]
        learnt = bool(rotations) and rotation.adopt_rotations(journal, rotations)
        if learnt and report.set_aside:
            # A new epoch key arrived in this batch: what was set aside may open now.
            again = ingest(journal, report.set_aside, received)
            report.applied += again.applied
            report.duplicates += again.duplicates
            report.refused.extend(again.refused)
            report.sealed_away, report.set_aside = again.sealed_away, again.set_aside
    return report


def _verified(
    journal: Journal, runs: list[_Run], report: IngestReport
) -> tuple[roster.Roster, list[tuple[bytes, Readable]]]:
    """Runs whose signatures verify against a roster grown only from verified entries.

    A device.added in a run counts only once that run's signature has verified, so nothing a
    forged or refused run says about membership can let another run in.
    """
    stored = [decode_event(i.raw) for i in journal.membership() if i.type.startswith("device.")]
    verified: list[Event] = []
    good: list[tuple[bytes, Readable]] = []
    pending = [run for run in runs if run.accepted]
    members = roster.build(journal.trust_anchors(), stored)
    progress = True
    while pending and progress:
        progress = False
        for run in list(pending):
            if not members.may_write(run.log):
                continue
            pending.remove(run)
            signed = _check_signatures(run, members, report)
            # A run may carry its own device's self-signed add, which names its person.
            with_run = roster.build(
                journal.trust_anchors(), stored + verified + [r.outer for _raw, r in signed]
            )
            kept = _check_authors(signed, with_run, report)
            good.extend(kept)
            verified.extend(r.outer for _raw, r in kept)
            progress = True
        members = roster.build(journal.trust_anchors(), stored + verified)
    for run in pending:
        reason = (
            "from a device removed from this space"
            if run.log in members.removed
            else "from a device that is not on the roster"
        )
        seq = run.accepted[0][1].opened.header.seq
        report.refused.append(Refusal(short(run.log), seq, reason, device=run.log))
    return members, good


def _check_authors(
    accepted: list[tuple[bytes, Readable]], members: roster.Roster, report: IngestReport
) -> list[tuple[bytes, Readable]]:
    """Cut a run at the first event that claims an author other than its device's person."""
    for index, (_raw, readable) in enumerate(accepted):
        outer = readable.outer
        person = members.people.get(outer.device)
        named_other = isinstance(outer.body, PersonNamed) and outer.body.person != outer.author
        if outer.author != person or named_other:
            header = readable.opened.header
            report.refused.append(
                Refusal(
                    short(header.log),
                    header.seq,
                    "claims to be written by someone other than its device's person",
                    device=header.log,
                )
            )
            return accepted[:index]
    return accepted


def _named(refusal: Refusal, members: roster.Roster, names: dict[PersonId, str]) -> Refusal:
    person = members.people.get(LogId(refusal.device))
    if refusal.who or person is None:
        return refusal
    return dataclasses.replace(refusal, who=names.get(person))


def _by_log(
    entries: Sequence[bytes], report: IngestReport
) -> dict[LogId, list[tuple[Header, bytes]]]:
    logs: dict[LogId, list[tuple[Header, bytes]]] = {}
    for raw in entries:
        try:
            header = Header.decode(raw)
        except ChainError as e:
            report.refused.append(Refusal("?", 0, f"not an entry ({e})"))
            continue
        logs.setdefault(header.log, []).append((header, raw))
    for items in logs.values():
        items.sort(key=lambda pair: pair[0].seq)
    return logs


def _open_run(
    journal: Journal, log: LogId, items: list[tuple[Header, bytes]], report: IngestReport
) -> _Run:
    run = _Run(log)
    head = journal.store.head(log)
    seq, prev = head if head else (0, GENESIS)
    for header, raw in items:
        if header.seq <= seq:
            report.duplicates += 1  # already held (or twice in this batch); same bytes or a fork
            earlier = next(
                (r for r, rd in run.accepted if rd.opened.header.seq == header.seq), None
            )
            if earlier != raw and not _is_stored_copy(journal, header, raw):
                report.refused.append(
                    Refusal(
                        short(log),
                        header.seq,
                        "differs from the entry already held at this position (fork)",
                        device=log,
                    )
                )
                break
            continue
        problem = _check_header(journal, header, seq, prev)
        if problem == "no key":
            rest = [r for _h, r in items[items.index((header, raw)) :]]
            report.sealed_away += len(rest)
            report.set_aside.extend(rest)
            break
        if problem:
            report.refused.append(Refusal(short(log), header.seq, problem, device=log))
            break
        try:
            readable = journal.read_entry(raw)
        except UnreadableEntry as e:
            report.refused.append(Refusal(short(log), header.seq, e.reason, device=log))
            break
        if readable.outer.device != log:
            report.refused.append(
                Refusal(short(log), header.seq, "claims another device", device=log)
            )
            break
        if clock.wall_of(readable.outer.hlc) > journal.now().timestamp() * 1000 + MAX_SKEW_MS:
            # A timestamp far in the future would drag this device's clock (and every later
            # entry's place in the merge order) along with it.
            report.refused.append(
                Refusal(
                    short(log), header.seq, "is dated more than a day in the future", device=log
                )
            )
            break
        run.accepted.append((raw, readable))
        seq, prev = header.seq, entry_hash(raw)
    return run


def _is_stored_copy(journal: Journal, header: Header, raw: bytes) -> bool:
    return journal.store.entry_at(header.log, header.seq) == raw


def _check_header(journal: Journal, header: Header, seq: int, prev: bytes) -> str | None:
    if header.space != journal.device.space:
        return "belongs to another space"
    if header.seq != seq + 1:
        return f"expected seq {seq + 1} (entries missing or withheld)"
    if header.prev_hash != prev:
        return "does not follow the entry before it (reordered or altered)"
    if header.epoch not in journal.device.space_keys:
        return "no key"
    return None


def _check_signatures(
    run: _Run, members: roster.Roster, report: IngestReport
) -> list[tuple[bytes, Readable]]:
    public = members.keys[run.log]
    if run.accepted[-1][1].opened.signed_by(public):
        return run.accepted  # the hash chain makes this one signature vouch for the whole run
    # Something in the run is forged: keep the longest prefix whose entries each verify.
    for index, (_raw, readable) in enumerate(run.accepted):
        if not readable.opened.signed_by(public):
            seq = readable.opened.header.seq
            reason = "signature does not verify (forged or altered)"
            report.refused.append(Refusal(short(run.log), seq, reason, device=run.log))
            return run.accepted[:index]
    return run.accepted
