"""Who may write to this journal, and which entries count: the one trust engine.

Sync (core/trust/ingest.py), `tend verify` (core/trust/verify.py), key rotation and every view ask
this module, and it answers the same way for each, from the same rules.

Theory of operation
-------------------
An entry counts when all of these hold (each refusal has a `Reason`):

1. It is sound on its own (`check_log`): a header tend writes, of this space; seq contiguous
   from what is held and the link to the entry before it; an envelope that opens; an event that
   decodes, validates, sits at its own position (its device is the log, its id is the one
   derived from (log, seq)); and a signature by the log's key, which the log's first entry
   carries and from which its log id is derived. A log's first entry is its device's own
   `device.added`, signed by that key: the device's *claim* of who it is.
2. Its device is a member (`build`): an anchor (this device, and what its inviter trusted at
   pairing), or a device whose claim carries a certificate signed by its person's identity key
   and that a member device brought in with a `device.added` saying exactly the same (or that the
   person's recovery key brought in). A `device.added` that disagrees with the device's own
   claim, or whose certificate its person did not sign, is ignored and reported (`Ignored`),
   never turned into a ban: so a partner can neither add a device as the other person, nor
   re-point or cut off one of theirs.
3. Its device was not removed before it: a `device.removed` counts when the removed device's
   own person's identity key signed it, or when another person signed it (under its own label)
   relying on a `person.lost` mark of the device's person that the device had not answered by
   the cut (core/trust/lost_rule.py has that rule). Entries after its `upto` seq are refused
   everywhere, and if the entry at `upto` is not the one the removal names, the device's whole log
   is (someone forked it). Removals are applied in merge order, each only if its writer was still
   a member at that point, so the outcome depends on the set of events, not on arrival.
4. Its author is its device's person, and a name names only its author.

Membership facts count only from entries that count, so the rules are a fixed point: `settle`
grows the roster from what is held, admits what the new roster allows, and repeats until
nothing changes. Everything here is a pure function of the entries given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

from tend.core import clock
from tend.core.crypto.keystore import Anchor
from tend.core.domain.events import (
    DeviceAdded,
    DeviceRemoved,
    Event,
    PersonHere,
    PersonLost,
    PersonNamed,
)
from tend.core.errors import ChainError, UnreadableEntry
from tend.core.ids import LogId, PersonId, SpaceId, event_id_at, short
from tend.core.journal.mapper import Readable  # what the journal's mapper opens an entry into
from tend.core.log.header import GENESIS, Header
from tend.core.log.identity import (
    cert_valid,
    person_of,
    recovery_valid,
    removal_valid,
)
from tend.core.trust.lost_rule import (
    Acked,
    Held,
    Marks,
    Standing,
    nothing_acked,
    removal_allowed,
    signed_as_lost_removal,
    standing,
)

MAX_SKEW_MS = clock.MAX_SKEW_MS


class Reason(StrEnum):
    """Why an entry does not count. The first group is tampering or corruption (exit 3)."""

    NOT_AN_ENTRY = "is not an entry tend writes"
    OTHER_SPACE = "belongs to another journal"
    GAP = "does not follow the entries held (some are missing or withheld)"
    BROKEN_CHAIN = "does not follow the entry before it (reordered or altered)"
    FORK = "differs from the entry already held at this position (fork)"
    UNREADABLE = "cannot be opened (tampered or corrupt)"
    BAD_SIGNATURE = "is not signed by its device's key (forged or altered)"
    MISPLACED = "claims another device or position than the one it is in"
    NO_CLAIM = "opens a log without introducing the device that writes it"
    WRONG_AUTHOR = "claims to be written by someone other than its device's person"
    FORKED_REMOVED = "is in a removed device's log that differs from the one its removal names"
    FUTURE = "is dated more than a day in the future"
    # Not tampering: history, or not here yet.
    REMOVED = "was written after its device was removed"
    NOT_MEMBER = "is from a device nobody in this journal has brought in"

    @property
    def integrity(self) -> bool:
        return self not in (Reason.REMOVED, Reason.NOT_MEMBER)


@dataclass(frozen=True)
class Refusal:
    log: LogId
    seq: int
    reason: Reason
    detail: str = ""
    who: str | None = None  # whose device, once known

    def __str__(self) -> str:
        whose = f" ({self.who}'s device)" if self.who else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"log {short(self.log)}{whose} seq {self.seq}: {self.reason.value}{detail}"


class Issue(StrEnum):
    """Why a membership claim in an entry that counts was ignored (reported, never applied)."""

    UNSIGNED_ADD = "brought in a device as someone whose identity key did not sign it"
    MISMATCHED_ADD = "described a device differently from how that device describes itself"
    UNSIGNED_REMOVAL = "removed a device without its person's signature"
    NOT_LOST = "removed a device of someone who is not declared lost"
    OWN_LOSS = "declared their own person lost"


@dataclass(frozen=True)
class Ignored:
    writer: LogId
    seq: int
    issue: Issue
    device: LogId
    about: PersonId | None  # the person the claim tried to speak for, when known

    def __str__(self) -> str:
        return f"log {short(self.writer)} seq {self.seq}: {self.issue.value} ({short(self.device)})"


Opener = Callable[[Header, bytes], Readable]  # the header is the entry's, decoded


# --- 1. each log on its own ----------------------------------------------------------------------


@dataclass
class Checked:
    """What `check_log` found in one log's entries, in seq order."""

    log: LogId
    sound: list[tuple[bytes, Readable]] = field(default_factory=list)
    refusal: Refusal | None = None
    set_aside: list[bytes] = field(default_factory=list)  # sealed under a key not held here


def check_log(
    space: SpaceId,
    log: LogId,
    held: tuple[int, bytes] | None,
    log_key: bytes | None,
    items: Sequence[tuple[Header, bytes]],
    read: Opener,
    has_epoch: Callable[[int], bool],
    now_ms: int | None = None,
) -> Checked:
    """Rule 1 for new entries of one log, given what is held of it (head, and its key)."""
    out = Checked(log)
    seq, prev = held if held else (0, GENESIS)
    for index, (header, raw) in enumerate(items):
        reason = _frame_problem(space, log, header, seq, prev)
        if reason is not None:
            out.refusal = Refusal(log, header.seq, reason)
            break
        if not has_epoch(header.epoch):
            out.set_aside = [r for _h, r in items[index:]]
            break
        try:
            readable = read(header, raw)
        except UnreadableEntry as e:
            detail = "" if e.reason.startswith("cannot be opened") else e.reason
            out.refusal = Refusal(log, header.seq, Reason.UNREADABLE, detail)
            break
        reason = _event_problem(readable, now_ms)
        if reason is not None:
            out.refusal = Refusal(log, header.seq, reason)
            break
        out.sound.append((raw, readable))
        seq, prev = header.seq, readable.opened.hash
    key = log_key or (out.sound[0][1].header.log_key if out.sound else None)
    _check_signatures(out, key)
    return out


def _frame_problem(
    space: SpaceId, log: LogId, header: Header, seq: int, prev: bytes
) -> Reason | None:
    if header.space != space:
        return Reason.OTHER_SPACE
    if header.log != log:
        return Reason.MISPLACED
    if header.seq != seq + 1:
        return Reason.GAP
    if header.prev_hash != prev:
        return Reason.BROKEN_CHAIN
    return None


def _event_problem(readable: Readable, now_ms: int | None) -> Reason | None:
    header, outer = readable.header, readable.outer
    if outer.id != event_id_at(header.log, header.seq):
        return Reason.MISPLACED  # an id is its position's: one copied from elsewhere is refused
    if header.seq == 1:
        body = outer.body
        if not (isinstance(body, DeviceAdded) and body.sign_pub == header.log_key):
            return Reason.NO_CLAIM
    if now_ms is not None and clock.wall_of(outer.hlc) > now_ms + MAX_SKEW_MS:
        # A timestamp far in the future would drag this device's clock (and every later
        # entry's place in the merge order) along with it.
        return Reason.FUTURE
    return None


def _check_signatures(out: Checked, key: bytes | None) -> None:
    if not out.sound:
        return
    if key is not None and out.sound[-1][1].opened.signed_by(key):
        return  # the hash chain makes this one signature vouch for the whole run
    # Something in the run is forged: keep the longest prefix whose entries each verify.
    for index, (_raw, readable) in enumerate(out.sound):
        if key is None or not readable.opened.signed_by(key):
            out.refusal = Refusal(out.log, readable.header.seq, Reason.BAD_SIGNATURE)
            out.sound, out.set_aside = out.sound[:index], []
            return


def by_log(entries: Iterable[bytes]) -> tuple[dict[LogId, list[tuple[Header, bytes]]], int]:
    """Entries grouped per log in seq order, and how many were not entries at all."""
    logs: dict[LogId, list[tuple[Header, bytes]]] = {}
    junk = 0
    for raw in entries:
        try:
            header = Header.decode(raw)
        except ChainError:
            junk += 1
            continue
        logs.setdefault(header.log, []).append((header, raw))
    for items in logs.values():
        items.sort(key=lambda pair: pair[0].seq)
    return logs, junk


# --- 2 and 3. the roster -------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """A membership event in an entry, with where it sits (for the rules and merge order)."""

    writer: LogId
    seq: int
    hlc: int
    author: PersonId
    body: DeviceAdded | DeviceRemoved | PersonLost | PersonHere

    @property
    def order(self) -> tuple[int, bytes, int]:
        return (self.hlc, self.writer, self.seq)


def fact_of(ev: Event, seq: int) -> Fact | None:
    if isinstance(ev.body, DeviceAdded | DeviceRemoved | PersonLost | PersonHere):
        return Fact(ev.device, seq, ev.hlc, ev.author, ev.body)
    return None


@dataclass(frozen=True)
class Member:
    person: PersonId
    sign_pub: bytes
    dh_pub: bytes
    identity: bytes
    label: str
    brought_in_by: PersonId | None  # None: trusted directly (an anchor)


@dataclass
class Roster:
    members: dict[LogId, Member] = field(default_factory=dict)
    cutoffs: dict[LogId, int] = field(default_factory=dict)  # removed: last seq that counts
    forked: set[LogId] = field(default_factory=set)  # removed, and its log is not the one named
    ignored: list[Ignored] = field(default_factory=list)
    marks: Standing = field(default_factory=lambda: Standing({}, set(), set()))

    @property
    def lost(self) -> set[PersonId]:
        """Persons marked lost by someone else, whom none of their devices has answered."""
        return self.marks.lost

    def person(self, log: bytes) -> PersonId | None:
        member = self.members.get(LogId(log))
        return member.person if member else None

    def removed(self, log: bytes) -> bool:
        return LogId(log) in self.cutoffs

    def admits(self, log: bytes, seq: int) -> bool:
        log = LogId(log)
        if log not in self.members or log in self.forked:
            return False
        return seq <= self.cutoffs.get(log, math.inf)

    def active(self) -> list[LogId]:
        return [d for d in self.members if d not in self.cutoffs]

    def persons(self) -> dict[PersonId, bytes]:
        """Every person with a device here, and their identity record."""
        return {m.person: m.identity for m in self.members.values()}

    def devices_of(self, person: PersonId) -> list[LogId]:
        return [d for d, m in self.members.items() if m.person == person]


HashAt = Callable[[LogId, int], bytes | None]


def build(
    space: SpaceId,
    anchors: Mapping[LogId, Anchor],
    facts: Sequence[Fact],
    hash_at: HashAt,
    acked: Acked = nothing_acked,
) -> Roster:
    """The roster implied by the anchors and the membership facts of entries that count.

    Cut-offs only ever tighten from one round to the next (a removal, once it counted, stays),
    so the rounds end after at most one per removal, whatever the facts: a crafted chain of
    removals can neither make the result flip nor keep the loop going."""
    claims = _claims(space, facts)
    anchors = {log: a for log, a in anchors.items() if _anchor_holds(log, a, claims, hash_at)}
    adds: dict[LogId, list[Fact]] = {}
    for fact in sorted(facts, key=lambda f: f.order):
        if isinstance(fact.body, DeviceAdded) and fact.body.device != fact.writer:
            adds.setdefault(fact.writer, []).append(fact)
    removals = sorted(
        (f for f in facts if isinstance(f.body, DeviceRemoved)), key=lambda f: f.order
    )
    marks = Marks.of(f for f in facts if isinstance(f.body, PersonLost | PersonHere))
    cutoffs: dict[LogId, tuple[int, bytes]] = {}
    members = _grow(space, anchors, claims, adds, {})
    for _round in range(len(removals) + 1):
        tightened = _removals(space, members, removals, marks, cutoffs, Held(hash_at, acked))
        if tightened == cutoffs:
            break
        cutoffs = tightened
        members = _grow(space, anchors, claims, adds, {d: c for d, (c, _h) in cutoffs.items()})
    roster = Roster(members, {d: c for d, (c, _h) in cutoffs.items()})
    roster.marks = standing(marks, partial(_counts, members=members, cutoffs=roster.cutoffs))
    roster.forked = {
        d
        for d, (upto, digest) in cutoffs.items()
        if upto and hash_at(d, upto) not in (None, digest)
    }
    roster.ignored = _ignored(space, roster, claims, facts, marks, Held(hash_at, acked))
    return roster


def _claims(space: SpaceId, facts: Sequence[Fact]) -> dict[LogId, DeviceAdded]:
    """Each device's own first entry, when its certificate is signed by the identity it names."""
    out: dict[LogId, DeviceAdded] = {}
    for fact in facts:
        body = fact.body
        if not (fact.seq == 1 and isinstance(body, DeviceAdded) and body.device == fact.writer):
            continue
        if cert_valid(body.identity, space, body.sign_pub, body.dh_pub, body.cert):
            out[fact.writer] = body
    return out


def _counts(fact: Fact, members: Mapping[LogId, Member], cutoffs: Mapping[LogId, int]) -> bool:
    """Whether a fact's entry counts under these members and cutoffs (rules 2, 3 and 4)."""
    writer = members.get(fact.writer)
    return (
        writer is not None
        and fact.seq <= cutoffs.get(fact.writer, math.inf)
        and fact.author == writer.person
    )


def _grow(
    space: SpaceId,
    anchors: Mapping[LogId, Anchor],
    claims: Mapping[LogId, DeviceAdded],
    adds: Mapping[LogId, Sequence[Fact]],
    cutoffs: Mapping[LogId, int],
) -> dict[LogId, Member]:
    """Members reachable from the anchors through introductions that count: one walk, each
    writer's introductions looked at once (in merge order, so who brought a device in is the
    first who did, on every device)."""
    members = {log: _anchored(log, a, claims.get(log)) for log, a in anchors.items()}
    for log, claim in claims.items():
        if log not in members and claim.recovery and _recovered(space, claim):
            members[log] = _member(claim, None)
    waiting = sorted(members)
    while waiting:
        writer = waiting.pop(0)
        for fact in adds.get(writer, ()):
            assert isinstance(fact.body, DeviceAdded)
            device = fact.body.device
            if device in members or not _counts(fact, members, cutoffs):
                continue
            own = claims.get(device)
            if own is not None and _same_device(own, fact.body):
                members[device] = _member(own, members[writer].person)
                waiting.append(device)
    return members


def _anchor_holds(
    log: LogId, anchor: Anchor, claims: Mapping[LogId, DeviceAdded], hash_at: HashAt
) -> bool:
    """Whether a pinned device is what it was pinned as: its log's first entry is its own claim,
    certified by the identity pinned with it. (Until its log arrives there is nothing it could
    have written.) A pin is a promise about a key, and a pin from an escrow is the word of
    anyone who held the identity key, a thief too: a device nobody certified counts for no one."""
    claim = claims.get(log)
    if claim is None:
        return hash_at(log, 1) is None
    return claim.sign_pub == anchor.sign_pub and claim.identity == anchor.identity


def _anchored(log: LogId, anchor: Anchor, claim: DeviceAdded | None) -> Member:
    # Pairing fixed the key and person; the device's own claim adds its X25519 key and label.
    own = claim if claim is not None and claim.identity == anchor.identity else None
    return Member(
        person_of(anchor.identity),
        anchor.sign_pub,
        own.dh_pub if own else b"",
        anchor.identity,
        own.label if own else "",
        None,
    )


def _member(claim: DeviceAdded, brought_in_by: PersonId | None) -> Member:
    return Member(
        claim.person, claim.sign_pub, claim.dh_pub, claim.identity, claim.label, brought_in_by
    )


def _recovered(space: SpaceId, claim: DeviceAdded) -> bool:
    return recovery_valid(claim.identity, space, claim.sign_pub, claim.dh_pub, claim.recovery)


def _same_device(claim: DeviceAdded, add: DeviceAdded) -> bool:
    return (claim.sign_pub, claim.dh_pub, claim.identity, claim.cert) == (
        add.sign_pub,
        add.dh_pub,
        add.identity,
        add.cert,
    )


def _removal_counts(
    space: SpaceId,
    fact: Fact,
    members: Mapping[LogId, Member],
    cutoffs: Mapping[LogId, int],
    marks: Marks,
    held: Held,
) -> bool:
    """Whether a removal is signed as the rules ask: by the device's own person, or by another
    person under a mark of the device's person that the device had not answered."""
    body = fact.body
    assert isinstance(body, DeviceRemoved)
    target, writer = members[body.device], members[fact.writer]
    if removal_valid(target.identity, space, body.device, body.upto, body.upto_hash, body.proof):
        return True
    counts = partial(_counts, members=members, cutoffs=cutoffs)
    return removal_allowed(space, marks, fact, target, writer, counts, held)


def _removals(
    space: SpaceId,
    members: Mapping[LogId, Member],
    removals: Sequence[Fact],
    marks: Marks,
    known: Mapping[LogId, tuple[int, bytes]],
    held: Held,
) -> dict[LogId, tuple[int, bytes]]:
    """`known` cut-offs, tightened by the signed removals (in merge order) whose writer still
    counts at that point and whose target is a member."""
    cutoffs = dict(known)
    for fact in removals:
        body = fact.body
        assert isinstance(body, DeviceRemoved)
        current = {d: c for d, (c, _h) in cutoffs.items()}
        if body.device not in members or not _counts(fact, members, current):
            continue
        if not _removal_counts(space, fact, members, current, marks, held):
            continue
        was = cutoffs.get(body.device)
        if was is None or body.upto < was[0]:
            cutoffs[body.device] = (body.upto, body.upto_hash)
    return cutoffs


def _ignored(
    space: SpaceId,
    roster: Roster,
    claims: Mapping[LogId, DeviceAdded],
    facts: Sequence[Fact],
    marks: Marks,
    held: Held,
) -> list[Ignored]:
    """Membership claims in entries that count, which the rules did not follow (for reports)."""
    out: list[Ignored] = []
    for fact in facts:
        if not _counts(fact, roster.members, roster.cutoffs):
            continue
        body = fact.body
        if isinstance(body, DeviceAdded) and body.device != fact.writer:
            issue = _add_issue(space, body, claims.get(body.device))
            if issue is not None:
                out.append(Ignored(fact.writer, fact.seq, issue, body.device, body.person))
        elif isinstance(body, DeviceRemoved):
            issue = _removal_issue(space, roster, fact, body, marks, held)
            if issue is not None:
                about = roster.members[body.device].person
                out.append(Ignored(fact.writer, fact.seq, issue, body.device, about))
        elif isinstance(body, PersonLost) and body.person == fact.author:
            out.append(Ignored(fact.writer, fact.seq, Issue.OWN_LOSS, fact.writer, body.person))
    return out


def _removal_issue(
    space: SpaceId,
    roster: Roster,
    fact: Fact,
    body: DeviceRemoved,
    marks: Marks,
    held: Held,
) -> Issue | None:
    if body.device not in roster.members:
        return None
    if _removal_counts(space, fact, roster.members, roster.cutoffs, marks, held):
        return None
    if signed_as_lost_removal(space, body, roster.members[fact.writer]):
        return Issue.NOT_LOST
    return Issue.UNSIGNED_REMOVAL


def _add_issue(space: SpaceId, add: DeviceAdded, claim: DeviceAdded | None) -> Issue | None:
    if not cert_valid(add.identity, space, add.sign_pub, add.dh_pub, add.cert):
        return Issue.UNSIGNED_ADD
    if claim is not None and not _same_device(claim, add):
        return Issue.MISMATCHED_ADD
    return None


# --- 4. admitting entries, and the fixed point ----------------------------------------------------


@dataclass
class Settled:
    roster: Roster
    admitted: dict[LogId, list[tuple[bytes, Readable]]]
    refused: list[Refusal]
    pending: dict[LogId, list[bytes]]  # from devices not (yet) members: kept aside, not applied


def admit(roster: Roster, checked: Checked) -> tuple[list[tuple[bytes, Readable]], Refusal | None]:
    """Rules 2 to 4 over one log's sound entries: the prefix that counts, and why it stops."""
    log = checked.log
    person = roster.person(log)
    for index, (_raw, readable) in enumerate(checked.sound):
        seq = readable.header.seq
        reason = _admission_problem(roster, log, seq, person, readable.outer)
        if reason is not None:
            return checked.sound[:index], Refusal(log, seq, reason)
    return checked.sound, None


def _admission_problem(
    roster: Roster, log: LogId, seq: int, person: PersonId | None, outer: Event
) -> Reason | None:
    if person is None:
        return Reason.NOT_MEMBER
    if log in roster.forked:
        return Reason.FORKED_REMOVED
    if seq > roster.cutoffs.get(log, math.inf):
        return Reason.REMOVED
    named_other = isinstance(outer.body, PersonNamed) and outer.body.person != outer.author
    if outer.author != person or named_other:
        return Reason.WRONG_AUTHOR
    return None


def settle(
    space: SpaceId,
    anchors: Mapping[LogId, Anchor],
    held: Sequence[Fact],
    runs: Sequence[Checked],
    hash_at: HashAt,
    current: Roster | None = None,
    acked: Acked = nothing_acked,
) -> Settled:
    """Grow the roster from held facts plus the new runs' facts, admit what it allows, repeat.

    `held` are the membership facts of entries already stored (they counted when stored; the
    roster still re-applies the rules to them, so a later removal can end a device's say).
    `current`, the roster of `held` alone, is used as it is when the runs carry no membership
    fact: the usual case of a live entry, admitted without working the roster out again."""
    facts_of_runs = {
        run.log: [f for _raw, r in run.sound if (f := fact_of(r.outer, r.header.seq))]
        for run in runs
    }
    if current is not None and not any(facts_of_runs.values()):
        return _settled(current, runs, {run.log: admit(current, run) for run in runs})
    trusted = {run.log: len(run.sound) for run in runs}  # assume every sound entry counts
    acked_too = _acked_with(runs, acked)
    for _round in range(sum(trusted.values()) + 2):
        facts = [*held, *_facts_within(facts_of_runs, runs, trusted)]
        roster = build(space, anchors, facts, hash_at, acked_too)
        results = {run.log: admit(roster, run) for run in runs}
        counted = {log: len(kept) for log, (kept, _why) in results.items()}
        if counted == trusted:
            break
        trusted = counted
    return _settled(roster, runs, results)


def _acked_with(runs: Sequence[Checked], stored: Acked) -> Acked:
    """`stored`, with what the runs' entries (not stored yet) signed as seen as well."""
    seen = {run.log: [(r.header.seq, dict(r.outer.seen)) for _raw, r in run.sound] for run in runs}

    def acked(log: LogId, seq: int, target: LogId) -> int:
        later = [claims.get(target, 0) for at, claims in seen.get(log, ()) if at <= seq]
        return max([stored(log, seq, target), *later])

    return acked


def _settled(
    roster: Roster,
    runs: Sequence[Checked],
    results: Mapping[LogId, tuple[list[tuple[bytes, Readable]], Refusal | None]],
) -> Settled:
    settled = Settled(roster, {}, [], {})
    for run in runs:
        kept, why = results[run.log]
        if kept:
            settled.admitted[run.log] = kept
        if why is not None and why.reason == Reason.NOT_MEMBER:
            # Perhaps the device that brings it in has not synced yet: keep it for later.
            settled.pending[run.log] = [raw for raw, _r in run.sound[len(kept) :]] + run.set_aside
        elif why is not None:
            settled.refused.append(why)
        if run.refusal is not None:
            settled.refused.append(run.refusal)
    return settled


def _facts_within(
    facts: Mapping[LogId, list[Fact]], runs: Sequence[Checked], counted: Mapping[LogId, int]
) -> list[Fact]:
    out: list[Fact] = []
    for run in runs:
        if counted[run.log]:
            last = run.sound[counted[run.log] - 1][1].header.seq
            out += [f for f in facts[run.log] if f.seq <= last]
    return out
