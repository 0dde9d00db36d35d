"""`tend verify`: check every chain, envelope, signature and membership rule in the local store.

The same trust engine as sync (core/trust/engine.py), run over everything held from each log's first
entry: what would be refused if it arrived now is reported here, with the log and seq. Nothing
here trusts the view cache. Membership claims that the rules ignored (a device brought in as
someone who did not sign it) are reported too, as are entries another device had seen that
are not here (core/trust/witness.py), and entries held without their words that their author
did not ask to forget: a key record the relay withheld, or one that does not open its entry
(damaged, or moved from another entry). The log is whole without them; their words are not.
So are entries that carry a copy of this device's own private box from another entry (only a
device that can open the box can tell): read as a private entry nobody opens, never shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tend.core.domain.events import Keyed, Retraction, Sealed
from tend.core.errors import ChainError
from tend.core.ids import EventId, LogId, PersonId, short
from tend.core.journal import Journal, item_of
from tend.core.journal.mapper import Readable
from tend.core.log.header import Header, entry_hash
from tend.core.trust import engine as trust
from tend.core.trust import witness
from tend.core.trust.engine import Ignored, Reason
from tend.core.views import projections


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
    ignored: list[Ignored] = field(default_factory=list)
    removed_history: int = 0  # entries removed devices wrote after their removal (not shown)
    withheld: list[witness.Withheld] = field(default_factory=list)
    names: dict[PersonId, str] = field(default_factory=dict)  # from what verified

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(journal: Journal, progress: Callable[[int], None] | None = None) -> Report:
    report = Report()
    runs = [_check_log(journal, log, report, progress) for log in sorted(journal.store.heads())]
    settled = trust.settle(
        journal.device.space,
        journal.device.trust_anchors(),
        [],
        runs,
        journal.store.hash_at,
        acked=journal.reading.acked,
    )
    for refusal in settled.refused:
        if refusal.reason is Reason.REMOVED:
            report.removed_history += _beyond(journal, refusal.log, settled.roster)
        else:
            report.problems.append(Problem(short(refusal.log), refusal.seq, _reason(refusal)))
    for log, raws in settled.pending.items():
        first = min(trust.by_log(raws)[0][log], key=lambda pair: pair[0].seq)[0].seq
        report.problems.append(Problem(short(log), first, Reason.NOT_MEMBER.value))
    report.ignored = settled.roster.ignored
    report.signatures = sum(1 for run in runs if run.sound)
    events = [r.outer for run in runs for _raw, r in run.sound]
    heads = {log: int(seq) for log, (seq, _h) in journal.store.heads().items()}
    report.withheld = witness.withheld(witness.claims_of(events), heads, settled.roster)
    report.names = projections.names(
        item_of(r, 0) for log in settled.admitted for _raw, r in settled.admitted[log]
    )
    sound = [r for run in runs for _raw, r in run.sound]
    report.problems += _without_words(sound)
    report.problems += _copied_private(journal, sound)
    return report


WITHOUT_WORDS = (
    "its words are not here: the relay withheld or damaged its key record, or its author sealed"
    " words that are not the entry's own"
)


COPIED_PRIVATE = (
    "it carries a copy of a private entry of this device's from another entry: never shown,"
    " read on every device as a private entry nobody opens"
)


def _copied_private(journal: Journal, opened: list[Readable]) -> list[Problem]:
    """Entries read as private and unopened whose box this device can open: a box that is not
    their own (the mapper shows a private box only in the entry it was sealed for)."""
    return [
        Problem(short(r.header.log), r.header.seq, COPIED_PRIVATE)
        for r in opened
        if isinstance(r.event.body, Sealed) and journal.mapper.open_private(r.event.body)
    ]


def _without_words(opened: list[Readable]) -> list[Problem]:
    """Entries whose key record is missing or does not open them, not forgotten by their author
    (the target of a forget, the versions it names, and a later correction of any of them)."""
    forgotten = {
        (r.outer.author, target)
        for r in opened
        if isinstance(r.outer.body, Retraction) and r.outer.body.forget
        for target in (r.outer.body.target, *r.outer.body.versions)
    }
    # One walk down the chains of corrections, whatever their order (never a pass per link).
    corrections: dict[tuple[PersonId, EventId], list[EventId]] = {}
    for r in opened:
        ev = r.outer
        if isinstance(ev.body, Keyed) and ev.supersedes is not None:
            corrections.setdefault((ev.author, ev.supersedes), []).append(ev.id)
    todo = list(forgotten)
    while todo:
        author, ident = todo.pop()
        for later in corrections.pop((author, ident), ()):
            if (author, later) not in forgotten:
                forgotten.add((author, later))
                todo.append((author, later))
    return [
        Problem(short(r.header.log), r.header.seq, WITHOUT_WORDS)
        for r in opened
        if isinstance(r.outer.body, Keyed)
        and r.key is None
        and (r.outer.author, r.outer.id) not in forgotten
    ]


def _check_log(
    journal: Journal, log: LogId, report: Report, progress: Callable[[int], None] | None
) -> trust.Checked:
    items = []
    altered: trust.Refusal | None = None
    keys: dict[int, bytes] = {}
    for stored in journal.store.log_entries(log):
        if stored.key is not None:
            keys[stored.seq] = stored.key
        report.entries += 1
        if progress:
            progress(1)
        if altered is not None:
            continue  # counted; nothing after a damaged entry can be checked against it
        if entry_hash(stored.entry) != stored.hash:
            altered = trust.Refusal(log, stored.seq, Reason.UNREADABLE, "altered on disk")
            continue
        try:
            items.append((Header.decode(stored.entry), stored.entry))
        except ChainError:
            altered = trust.Refusal(log, stored.seq, Reason.NOT_AN_ENTRY)
    report.logs += 1
    checked = trust.check_log(
        journal.device.space,
        log,
        None,
        None,
        items,
        lambda header, raw: journal.mapper.to_readable(raw, keys.get(header.seq), header),
        lambda epoch: epoch in journal.device.space_keys,
    )
    if altered is not None and checked.refusal is None:
        checked.refusal = altered
    if checked.set_aside:
        seq = Header.decode(checked.set_aside[0]).seq
        checked.refusal = trust.Refusal(log, seq, Reason.UNREADABLE, "no key for its epoch")
        checked.set_aside = []
    return checked


def _beyond(journal: Journal, log: LogId, roster: trust.Roster) -> int:
    head = journal.store.head(log)
    return max(0, int(head[0]) - int(roster.cutoffs.get(log, math.inf))) if head else 0


def _reason(refusal: trust.Refusal) -> str:
    return refusal.reason.value + (f" ({refusal.detail})" if refusal.detail else "")
