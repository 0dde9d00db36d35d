"""The relay's storage: entries per (space, log id, seq), each log's key, each space's capability.

Theory of operation
-------------------
The relay cannot open an entry. It reads only the plaintext header (tend.core.log.header) and checks
signatures with public keys (tend.core.log.authorship); it holds no secret. For every log of a
space:

- an entry is at most MAX_ENTRY bytes, its header parses and names the space it is pushed to;
  at seq 1 the header carries the log's public key, from which the log id must be derived
  (Header.decode refuses one that is not), and the store keeps that key per (space, log);
- seqs are contiguous from 1 and each entry's prev hash is the hash of the one before
  (tend.core.log.store.check_next, the same rule devices apply);
- write authority: the last new entry of each log's run in a batch must carry a valid signature
  by the log's key (from the batch's seq 1, else the stored one). Each signed header carries
  the hash of the entry before it, so that one signature vouches for the whole run: nobody but
  the holder of a log's key can append to it, even with the space's capability;
- the same bytes again at a stored (log, seq) are a no-op, so a device may re-send after a
  lost ack; different bytes there are a fork and are refused;
- a log that a rotation removed cannot grow (its re-sends stay no-ops);
- a space holds at most `quota` bytes of entries and filed rotation records, and all spaces
  together at most `Caps.storage` (when the operator set one: RelayFull past it).

`put` is atomic: a batch is stored whole or not at all, and it returns only after the commit,
so an Ack sent after it promises durability. Each refusal is its own exception carrying the
ErrorCode the relay sends back. The checks live here, once (`plan_extension`,
`check_rotation`, `check_repair`, `check_junk`); each store only reads what they need and
writes what they decide, inside one transaction.

A space is registered by the first device that names it with create, and is then guarded by the
SHA-256 of its capability. `rotate` takes a rotation record (tend.core.log.rotation_record) signed
by a log of the space that was not removed, whose "previous" is the current capability hash:
it sets the new hash, files the signed record under the one replaced (kept for good, so a
device offline across several rotations can follow them one by one; records count toward the
quota; a replaced hash never comes back), and marks the logs the record removes.

`repair` drops the tail of a log from a seq where what the store holds is not the log's own
(not signed by its key, or not linked to the entry before it): junk an older relay, which did
not check signatures, let in. It takes a request signed by the log's key and never drops an
honest entry: if the entry at that seq is signed and linked, nothing changes.

Key records (tend.core.log.forgetting: an entry's wrapped content key and the hash of its
forget token) are kept apart from entries, one per (space, log, seq), and only when they come
with the push that newly stores their entry: a re-send, or anyone pushing a stored entry again,
cannot replace one. `keys` hands them out by position; `forget` erases one when given the token
whose hash it holds (ForgetRefused otherwise, and nothing erased). Erasing one leaves the
entries and every chain as they were; SQLite erases with `secure_delete` and empties its WAL.

What the store learns besides entries: each log's public key (random-looking, one per device,
linked to no person) and which logs were removed, with the rotation records (which name the
logs that stay, with their new epoch key sealed to each, and the logs removed).

Creating a space may need a one-time code or be limited per address, and an operator may
clear idle spaces (sync/relay/limits.py says the rules; both stores keep them in the
transaction that registers or deletes a space). Each space keeps when it was created and last
active (`touch`, which the relay calls at most hourly per space) and reports, without its
capability, what `tend relay spaces` shows (`spaces`); `collect` deletes what a `Collect` rule
names.

Besides the spaces, two small persistent drop boxes for pairing and recovery, which the relay
checks (ids, sizes, the escrow's signature) before the store is asked:

- invitations: one opaque message per 16-byte id, until it is taken or expires. `put_invitation`
  refuses (False) an id that holds one, or held one that was taken: a taken id stays reserved
  until the expiry it was posted with, so nobody can slip a second message under it while the
  first may still be looked for. `take_invitation` returns the message and deletes it in one
  transaction: of two takers, one gets it. Expired rows are ignored on read and swept on write.
- escrows: one opaque blob per 16-byte locator, stored or replaced by `put_escrow`, which
  notes when. An escrow not rewritten since `fresh_since` (the relay's escrow lifetime) is no
  longer served, is swept by the next write, and `collect_escrows` (the operator's gc) deletes
  it: escrows of identities nobody uses do not stay for good. A device rewrites its own well
  before then (sync/client.py).

Each kind has a store-wide cap on what it holds, every row counted as its bytes plus
ROW_OVERHEAD (so a flood of tiny rows is bounded too; a taken invitation keeps counting its
row until it expires); a write past the cap raises CapReached and changes nothing.

Each kind also has a per-household budget, so that one address cannot fill the shared cap: each row
keeps a short tag of the household that wrote it (`writer_tag`: a keyed hash truncated to
WRITER_TAG_BITS, its key random and kept in the store), and a write that would make the rows of its
writer's tag count more than the writer's budget raises BudgetReached and changes nothing. The store
can sum bytes per tag but cannot list who wrote: a tag is no address, and with 16 bits about as many
IPv4 addresses share each tag as there are tags. (Whoever reads the store reads the key too, so can
test a guessed address against a row, up to a 1 in 2**16 coincidence.) Two households whose tags
collide share one budget; that only makes an honest household's budget smaller by its neighbour's
use, never lets anyone past the cap. A taken invitation counts only ROW_OVERHEAD toward its writer's
budget and toward the cap (its message is gone; the row stays, reserving the id, until it expires):
else a household could post and take invitations in turn, each costing its budget only a row, until
their messages' bytes filled the cap for everyone. Each row keeps a second tag, of its writer's
wider network (sync/relay/peer.py's `network`: an IPv6 /48), counted the same way against the
writer's network budget, so that one holder of many households (a free /48 is 65,536 /64s) cannot
fill the cap either.

Every implementation passes one contract suite (tests/test_relay_store_contract.py). The API is
async so that an implementation over a network database (PostgreSQL) fits the same shape.

SQLite specifics: WAL with synchronous=FULL (a commit is fsynced), the file created mode 0600.
Two connections, each on a thread of its own (so the event loop never waits on an fsync, and a
connection is only ever used from the thread that opened it): the writer, and a read-only
reader (WAL lets it read while the writer writes). Writes are committed in groups: those that
arrive while a commit is in flight go together in the next transaction (at most MAX_GROUP),
each in its own savepoint, so a refused one is undone alone and raises its own PushRefused
while the rest commit; one fsync for the group, and every write returns only after it. This is
what lets a relay acknowledge hundreds of pushes a second on a disk that fsyncs a few hundred
times a second. Reads (a Hello's capability check, heads, catch-up pages, key records) never
queue behind writes; each runs in one read transaction, so it sees every write that has
returned and no half of one. `forget` runs alone, between groups: it empties the WAL after its
commit. sqlite3 errors are translated in one place (`_translated`) into StoreFailure; a write
whose group could not commit raises StoreFailure, and nothing of it is stored.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple, ParamSpec, Protocol, TypeVar, cast

from tend.core.errors import ChainError, MalformedRecord, ProtocolError
from tend.core.ids import LogId, Seq, SpaceId
from tend.core.log import authorship, forgetting, rotation_record
from tend.core.log.header import HEADER_LEN, KEY_LEN, MAX_ENTRY, Header, entry_hash, log_id_of
from tend.core.log.rotation_record import RotationRecord
from tend.core.log.store import check_next
from tend.sync.protocol import ErrorCode, Vector, repair_message
from tend.sync.relay.limits import (
    CodeInfo,
    Collect,
    Creation,
    SpaceInfo,
    check_code,
    check_creations,
)
from tend.sync.relay.signed import CHECKED

DEFAULT_QUOTA = 256 << 20  # bytes of entries (and filed rotation records) per space
DEFAULT_INVITATION_CAP = 64 << 20  # bytes of invitations in the whole store
DEFAULT_ESCROW_CAP = 256 << 20  # bytes of recovery escrows in the whole store
ROW_OVERHEAD = 64  # bytes each invitation or escrow counts toward its cap beyond its own
WRITER_TAG_BITS = 16  # what the store keeps of an invitation's or escrow's writer
WRITER_KEY_BYTES = 32
# The layout of the store's tables. A store made with another one is refused as it opens, in
# one line, rather than failing on a missing column later (nothing is migrated yet). 2: each
# invitation and escrow keeps its writer's tag, each escrow when it was written. 3: and the tag
# of its writer's wider network. 4: and whether it answers another (invitations).
SCHEMA_VERSION = 4
LINK_AT = HEADER_LEN - KEY_LEN  # where a header's link (the log key, at seq 1) starts

P = ParamSpec("P")
T = TypeVar("T")


# --- errors -------------------------------------------------------------------------------------


class PushRefused(ProtocolError):
    """The store refused a whole request (a push, a rotation, a repair); nothing of it was
    applied. `code` goes to the device."""

    code: ClassVar[ErrorCode] = ErrorCode.MALFORMED


class MalformedEntry(PushRefused):
    code = ErrorCode.MALFORMED


class MalformedRotation(PushRefused):
    code = ErrorCode.MALFORMED


class OversizedEntry(PushRefused):
    code = ErrorCode.TOO_LARGE


class SeqGap(PushRefused):
    code = ErrorCode.GAP


class LogFork(PushRefused):
    code = ErrorCode.FORK


class OverQuota(PushRefused):
    code = ErrorCode.QUOTA


class TooManyLogs(PushRefused):
    """The space holds MAX_LOGS_PER_SPACE logs: a push may not open another."""

    code = ErrorCode.QUOTA


class RelayFull(PushRefused):
    """All spaces together hold as many bytes as the operator's storage cap allows."""

    code = ErrorCode.FULL


class UnknownSpace(PushRefused):
    code = ErrorCode.UNKNOWN_SPACE


class BadSignature(PushRefused):
    """Not signed by the key of the log it is in (an entry, a repair) or of its signer (a
    rotation record), or the signer is no log of the space."""

    code = ErrorCode.BAD_SIGNATURE


class LogRemoved(PushRefused):
    code = ErrorCode.REMOVED


class ForgetRefused(PushRefused):
    """A Forget whose token is not the one the key record was stored with."""

    code = ErrorCode.UNAUTHORIZED


class StaleCapability(PushRefused):
    """A rotation whose "previous" is not the space's current capability hash."""

    code = ErrorCode.UNAUTHORIZED


class CapReached(ProtocolError):
    """The store holds as many bytes of invitations (or escrows) as its cap allows."""


class BudgetReached(ProtocolError):
    """The writer's household holds as many bytes of invitations (or escrows) as it may."""


class StoreFailure(ProtocolError):
    """The database itself failed (disk, corruption, closed store): the relay's fault."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL


# --- the interface ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PutResult:
    """`stored`: entries of the batch now held (identical re-sends included, as the Ack says).
    `new`: the ones this call added, in batch order, for forwarding to live devices.
    `logs`: each log of the batch as this commit left it (a store may leave it empty: then no
    push goes out before its commit: early.py)."""

    stored: int
    new: tuple[bytes, ...]
    logs: Mapping[LogId, LogState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LogState:
    """What the store holds about one log: its key (once seq 1 was stored), whether a rotation
    removed it, and its head (highest seq, that entry's hash)."""

    key: bytes | None = None
    removed: bool = False
    head: tuple[Seq, bytes] | None = None


class SignedRecord(NamedTuple):
    """A rotation record and its signature, filed under the capability hash it replaced."""

    record: bytes
    signature: bytes


class Change(NamedTuple):
    """A commit another relay instance made (a SharedStore reports them): new entries, a
    replaced capability (rotated), or a log cut back to before seq `repaired[1]`. No space:
    notifications may have been missed, so any space may have changed in any way."""

    space: SpaceId | None
    rotated: bool
    repaired: tuple[LogId, Seq] | None = None


NEVER_STALE = float("-inf")  # a `fresh_since` under which no escrow has expired


@dataclass(frozen=True)
class Writer:
    """Who writes an invitation or an escrow, as far as the store knows: the tag of their
    household (`writer_tag`) and how many counted bytes of the kind that tag may hold, and the
    same for the wider network the household is in (None: no budget, for the operator's and the
    tests' own writes)."""

    tag: int = 0
    budget: int | None = None
    network: int = 0
    network_budget: int | None = None


class Holdings(NamedTuple):
    """Counted bytes of one kind held, or added, under a writer's household and network tags."""

    household: int
    network: int


class Placed(NamedTuple):
    """Where a stored escrow is counted: its counted bytes and the tags it is kept under."""

    counted: int
    tag: int
    network: int


ANYONE = Writer()


def writer_tag(key: bytes, household: str) -> int:
    """A household as the store keeps it: a keyed hash cut to WRITER_TAG_BITS. The key is
    the store's own (random, never shown), so nobody without the store can tell from a tag
    whose it is; whoever reads the store can test a guessed household against a tag."""
    digest = hmac.new(key, household.encode(), "sha256").digest()
    return int.from_bytes(digest, "big") >> (len(digest) * 8 - WRITER_TAG_BITS)


class RelayStore(Protocol):
    async def register(
        self, space: SpaceId, capability_hash: bytes, creation: Creation | None = None
    ) -> bool:
        """Claim an unknown space for this hash; False (and no change) if already registered.
        A new space is first admitted by `creation` (its code used up, its address counted):
        AdmissionRefused or CreationLimited, and no change, if it is not."""

    async def capability_hash(self, space: SpaceId) -> bytes | None: ...

    async def rotate(self, space: SpaceId, record: bytes, signature: bytes) -> RotationRecord:
        """Check a signed rotation record (check_rotation) and apply it atomically: the new
        capability hash, the record filed under the one replaced (counted toward the quota),
        its removed logs marked. A PushRefused, and no change, if any check fails."""

    async def rekey(self, space: SpaceId, capability_hash: bytes) -> SignedRecord | None:
        """What a rotation filed under this replaced hash; None if it is not one."""

    async def put(
        self, space: SpaceId, entries: Sequence[bytes], keys: Sequence[bytes] = ()
    ) -> PutResult:
        """Store a batch atomically and durably, or raise a PushRefused and store nothing.
        `keys`: empty, or one key record (b"" for none) per entry, kept for the new ones."""

    async def keys(self, space: SpaceId, positions: Sequence[Position]) -> dict[Position, bytes]:
        """The key records held for these positions (absent where none is)."""

    async def forget(self, space: SpaceId, log: LogId, seq: int, token: bytes) -> int:
        """Erase the key record of (log, seq) if `token` hashes to the one it holds: 1 if one
        was erased, 0 if none was held; ForgetRefused, and nothing erased, for another token."""

    async def repair(
        self, space: SpaceId, log: LogId, key: bytes, from_seq: int, signature: bytes
    ) -> int:
        """Drop the log's entries from `from_seq` on, if the one there is junk (check_repair,
        check_junk); the number dropped. A PushRefused, and nothing dropped, otherwise."""

    async def log_state(self, space: SpaceId, log: LogId) -> LogState:
        """The log's key, removed flag and head (all empty for a log the store never saw)."""

    async def heads(self, space: SpaceId) -> Vector:
        """{log id: highest stored seq}."""

    async def since(
        self, space: SpaceId, have: Mapping[LogId, int], limit: int, max_bytes: int | None = None
    ) -> list[bytes]:
        """Up to `limit` entries above `have`, ordered by (log id, seq): one catch-up page.
        With `max_bytes`, the page ends with the entry that reaches that many bytes (so it
        holds at least one), and no more is read from the database."""

    async def usage(self, space: SpaceId) -> int:
        """Bytes of entries and filed records stored for the space (0 if unknown)."""

    def writer_tag(self, household: str) -> int:
        """What the store keeps of a household that writes an invitation or an escrow."""
        ...

    async def put_invitation(
        self,
        box: bytes,
        body: bytes,
        expires_at: float,
        now: float,
        writer: Writer = ANYONE,
        answer: bool = False,
    ) -> bool:
        """Store `body` under `box` until `expires_at` (seconds, like `now`), sweeping rows
        expired at `now`; False (and no change) if the id holds a message or held one that was
        taken, and neither has expired. BudgetReached past the writer's budget, CapReached past
        the cap, and no change either way. `answer`: it answers another invitation, and so is
        not one `invitation_answerable` names."""

    async def take_invitation(self, box: bytes, now: float) -> bytes | None:
        """The message under `box`, deleted in the same transaction; None if there is none
        or it expired. The id stays reserved until its expiry."""

    async def invitation_answerable(self, box: bytes, now: float) -> bool:
        """Whether `box` holds an invitation that is not itself an answer, or held one that
        was taken, not expired at `now`: what an answer to it is checked against."""

    async def put_escrow(
        self,
        locator: bytes,
        blob: bytes,
        now: float,
        writer: Writer = ANYONE,
        fresh_since: float = NEVER_STALE,
    ) -> None:
        """Store or replace the blob under `locator`, written at `now`, first sweeping the
        escrows not written since `fresh_since`. BudgetReached past the writer's budget,
        CapReached past the cap, and no change either way."""

    async def escrow(self, locator: bytes, fresh_since: float = NEVER_STALE) -> bytes | None:
        """The blob under `locator`, or None (also when it was not written since
        `fresh_since`: it has expired)."""

    async def stale_escrows(self, fresh_since: float) -> int:
        """How many escrows were not written since `fresh_since`: what `collect_escrows`
        would delete now."""

    async def collect_escrows(self, fresh_since: float) -> int:
        """Delete the escrows not written since `fresh_since`; how many."""

    async def touch(self, space: SpaceId, now: float) -> None:
        """The space was active at `now` (a hello or a push)."""

    async def spaces(self) -> list[SpaceInfo]:
        """Every space, as an operator's report sees it, least recently active first."""

    async def collect(self, rule: Collect) -> list[SpaceInfo]:
        """Delete every space `rule` matches (checked again in the deleting transaction), each
        with its entries, key records, logs and filed rotations; the spaces deleted."""

    async def add_codes(
        self, digests: Sequence[bytes], now: float, expires_at: float | None
    ) -> None:
        """Keep these hashes of fresh one-time codes (limits.code_hash)."""

    async def codes(self) -> list[CodeInfo]:
        """Every code minted, oldest first."""

    async def revoke_code(self, code_id: str) -> int:
        """Withdraw the unused codes whose id (limits.code_id) starts with `code_id`; how many."""

    async def close(self) -> None: ...


# --- checks shared by implementations -----------------------------------------------------------


Position = tuple[LogId, int]


def new_key_records(
    entries: Sequence[bytes], keys: Sequence[bytes], new: Sequence[bytes]
) -> list[tuple[Header, bytes]]:
    """The (header, key record) pairs to keep: those pushed with an entry this batch adds."""
    if not keys:
        return []
    if len(keys) != len(entries):
        raise MalformedEntry("one key record (or none) per entry")
    added = set(new)
    out = []
    for raw, record in zip(entries, keys, strict=True):
        if record and raw in added:
            if len(record) != forgetting.RECORD_LEN:
                raise MalformedEntry("a key record is 80 bytes")
            out.append((Header.decode(raw), record))
    return out


def check_forget(token: bytes, record: bytes | None) -> bool:
    """Whether to erase `record` for `token`: True if it matches, False if there is none."""
    if record is None:
        return False
    _sidecar, stored_hash = forgetting.split_record(record)
    if not forgetting.token_matches(token, stored_hash):
        raise ForgetRefused("that forget token is not this entry's author's")
    return True


def parse_entry(space: SpaceId, raw: bytes) -> Header:
    """The header of an entry pushed to `space`, or the refusal for it."""
    if len(raw) > MAX_ENTRY:
        raise OversizedEntry(f"an entry is {len(raw)} bytes, over the {MAX_ENTRY} limit")
    try:
        header = Header.decode(raw)
    except ChainError as e:
        raise MalformedEntry(str(e)) from None
    if header.space != space:
        raise MalformedEntry("an entry names another space than the one it was pushed to")
    return header


def owned_key(log: bytes, stored: bytes | None, first_entry: bytes | None) -> bytes | None:
    """The log's key: the one stored, else the link of its stored seq-1 entry (a log stored
    before the store kept keys), and only if the log id is derived from it."""
    key = stored if stored is not None else first_entry and first_entry[LINK_AT:HEADER_LEN]
    return key if key and log_id_of(key) == log else None


def parse_batch(space: SpaceId, entries: Sequence[bytes]) -> list[tuple[Header, bytes]]:
    """Every header of a batch, before any database work: a malformed batch costs no lock."""
    return [(parse_entry(space, raw), raw) for raw in entries]


def check_extends(
    head: tuple[Seq, bytes] | None, header: Header, raw: bytes, stored: bytes | None
) -> bool:
    """check_next, with its ChainError sorted into a gap or a fork for the device."""
    try:
        return check_next(head, header, raw, stored)
    except ChainError as e:
        last_seq = head[0] if head else 0
        is_gap = stored is None and header.seq != last_seq + 1
        raise (SeqGap if is_gap else LogFork)(str(e)) from None


def resent_positions(
    parsed: Sequence[tuple[Header, bytes]], states: Mapping[LogId, LogState]
) -> list[tuple[LogId, Seq]]:
    """The batch's positions at or below a stored head: only these can hold an entry already
    (a re-send or a fork), so only these need reading."""
    out: list[tuple[LogId, Seq]] = []
    for header, _ in parsed:
        head = states[header.log].head if header.log in states else None
        if head is not None and header.seq <= head[0]:
            out.append((header.log, header.seq))
    return out


@dataclass
class Extension:
    """What a batch adds: its new entries (header, bytes, hash) in batch order, the new heads of
    the logs it grows, and the keys of the logs it opens (seq 1)."""

    new: list[tuple[Header, bytes, bytes]] = field(default_factory=list)
    heads: dict[LogId, tuple[Seq, bytes]] = field(default_factory=dict)
    keys: dict[LogId, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(raw) for _, raw, _ in self.new)

    @property
    def entries(self) -> tuple[bytes, ...]:
        return tuple(raw for _, raw, _ in self.new)

    def states(self, before: Mapping[LogId, LogState]) -> dict[LogId, LogState]:
        """Each log of `before` as it is once this extension is written."""
        return {
            log: LogState(
                key=state.key or self.keys.get(log),
                removed=state.removed,
                head=self.heads.get(log, state.head),
            )
            for log, state in before.items()
        }


def plan_extension(
    parsed: Sequence[tuple[Header, bytes]],
    states: Mapping[LogId, LogState],
    stored: Mapping[tuple[LogId, Seq], bytes],
) -> Extension:
    """Check a parsed batch against what the store holds (`states` for every log of the batch,
    `stored` at its resent_positions) and say what to write; a PushRefused for a gap, a fork,
    a removed log or a run not signed by its log's key."""
    plan = Extension()
    held = dict(stored)
    last: dict[LogId, tuple[bytes, bytes]] = {}  # the last new entry of each log's run, hashed
    for header, raw in parsed:
        state = states.get(header.log, LogState())
        position = (header.log, header.seq)
        head = plan.heads.get(header.log, state.head)
        if not check_extends(head, header, raw, held.get(position)):
            continue  # an identical re-send
        if state.removed:
            raise LogRemoved(f"log {header.log.hex()[:8]} was removed from the space")
        digest = entry_hash(raw)
        plan.new.append((header, raw, digest))
        plan.heads[header.log] = (header.seq, digest)
        held[position] = raw  # a second copy later in the batch: a re-send
        last[header.log] = (raw, digest)
        if header.log_key is not None and state.key is None:
            plan.keys[header.log] = header.log_key
    for log, (raw, digest) in last.items():
        key = states.get(log, LogState()).key or plan.keys.get(log)
        _check_written(key, log, raw, digest)
    return plan


def _check_written(key: bytes | None, log: LogId, raw: bytes, digest: bytes) -> None:
    """The run's last entry is signed by its log's key (its chain vouches for the rest); an
    entry already checked under that key (signed.py: early, before its commit) is not again."""
    if key is not None and CHECKED.passed(key, digest):
        return
    if key is None or not authorship.written_by(key, raw):
        raise BadSignature(f"log {log.hex()[:8]}: not signed by the log's own key")
    CHECKED.remember(key, digest)


def check_storage(held: int, added: int, cap: int | None) -> None:
    """Whether all spaces together may hold `added` more bytes than the `held` they do."""
    if cap is not None and added and held + added > cap:
        raise RelayFull(
            "the relay is full for now: it holds as much as its operator allows; "
            "everything is kept on your device and goes at a later sync"
        )


# A device writes one log, and a couple's journal holds a log for each device either of them
# ever had: a few dozen in ten years. Every Welcome lists every log's head and every Pull names
# them all (at most MAX_VECTOR_LOGS, 4,096, in one frame), and a catch-up walks them for each
# page, so a member opening logs by the thousand would make the space unreadable to the others
# and slow for the relay: a push that would open more than this is refused (quota).
MAX_LOGS_PER_SPACE = 1024


def opened_logs(plan: Extension, states: Mapping[LogId, LogState]) -> int:
    """How many logs the space has not held that `plan` opens."""
    return sum(1 for log in plan.keys if states.get(log, LogState()).head is None)


def check_logs(held: int, opened: int) -> None:
    """TooManyLogs if a space holding `held` logs may not open `opened` more."""
    if held + opened > MAX_LOGS_PER_SPACE:
        raise TooManyLogs(
            f"the space holds {held} logs; it may hold {MAX_LOGS_PER_SPACE}, not {held + opened}"
        )


def check_quota(usage: int, added: int, quota: int) -> int:
    """The space's usage after adding `added` bytes, or OverQuota."""
    if usage + added > quota:
        raise OverQuota(f"the space holds {usage} bytes; {added} more is over its {quota}")
    return usage + added


def parse_rotation(space: SpaceId, record: bytes) -> RotationRecord:
    """A rotation record for this space, or MalformedRotation."""
    try:
        rotation = rotation_record.parse(record)
    except MalformedRecord as e:
        raise MalformedRotation(str(e)) from None
    if rotation.space != space:
        raise MalformedRotation("the rotation record names another space")
    if rotation.capability == rotation.previous:
        raise MalformedRotation("the rotation record does not change the capability")
    return rotation


def check_rotation(
    rotation: RotationRecord,
    record: bytes,
    signature: bytes,
    *,
    current: bytes,
    signer: LogState,
    replaced_before: bool,
) -> None:
    """Whether a parsed record may rotate the space now: signed by a log of the space that was
    not removed, replacing the current capability hash with one the space never had."""
    if signer.key is None:
        raise BadSignature("the rotation's signer is not a log of this space")
    if not rotation_record.signed_by(record, signature, signer.key):
        raise BadSignature("the rotation record is not signed by its signer's log key")
    if signer.removed:
        raise LogRemoved("the rotation's signer was removed from the space")
    if not hmac.compare_digest(rotation.previous, current):
        raise StaleCapability("the rotation does not replace the space's current capability")
    if replaced_before:
        raise MalformedRotation("the new capability is one the space already had")


def check_repair(space: SpaceId, log: LogId, key: bytes, from_seq: int, signature: bytes) -> None:
    """A repair request is the log's own: its key owns the log id and signed the request."""
    if log_id_of(key) != log:
        raise BadSignature("a repair's key does not own the log it names")
    if not authorship.verify(key, repair_message(space, log, from_seq), signature):
        raise BadSignature("the repair is not signed by the log's key")


def check_junk(key: bytes, from_seq: int, held: bytes | None, previous: bytes | None) -> None:
    """Refuse a repair unless the entry `held` at `from_seq` is junk: not signed by `key`, or
    not linked to `previous` (the entry at from_seq - 1), or at seq 1 not carrying `key`."""
    if held is None:
        raise SeqGap(f"the relay holds no entry at seq {from_seq} of this log: nothing to repair")
    if from_seq > 1 and previous is None:
        raise SeqGap(f"the relay holds no entry at seq {from_seq - 1} to repair after")
    try:
        link = Header.decode(held).link
    except ChainError:
        return  # not even an entry
    expected = key if previous is None else entry_hash(previous)
    if link == expected and authorship.written_by(key, held):
        raise LogFork(f"the entry at seq {from_seq} is the log's own: nothing is dropped")


class Caps(NamedTuple):
    """The store-wide caps, in counted bytes (see `counted`)."""

    invitations: int = DEFAULT_INVITATION_CAP
    escrows: int = DEFAULT_ESCROW_CAP
    storage: int | None = None  # bytes of entries across all spaces (None: no cap)


def check_cap(held: int, change: int, cap: int, what: str) -> int:
    """What the store holds of `what` after a write changing it by `change` bytes, or
    CapReached. A write that frees room (a smaller escrow) always passes."""
    total = held + change
    if change > 0 and total > cap:
        raise CapReached(f"the relay holds as many {what} as it may ({cap} bytes); try later")
    return total


def counted(body: bytes) -> int:
    """What one invitation or escrow counts toward its cap."""
    return len(body) + ROW_OVERHEAD


def check_schema_version(found: int, made_before: bool) -> None:
    """A store whose tables existed before this open (`made_before`) must have been made with
    SCHEMA_VERSION (`found`: what it says it was made with, 0 if it says nothing)."""
    if made_before and found != SCHEMA_VERSION:
        raise StoreFailure(
            f"relay store: this database was made by another version of the relay (layout "
            f"{found}, this one reads {SCHEMA_VERSION}) and cannot be converted; please start "
            "the relay on a new database"
        )


def escrow_writer(held: Holdings, old: Placed | None, new: int, writer: Writer) -> tuple[int, int]:
    """The (household, network) tags an escrow of `new` counted bytes written by `writer` is
    kept under, given what the writer's tags hold (`held`) and the escrow it replaces (`old`,
    None for none); BudgetReached if it may not be written. A rewrite moves the escrow to its
    writer's tags when both budgets have room; one that grows nothing always passes, and stays
    under the tags it was counted under when they have not (a device that moved behind a
    household or network whose budget is full still keeps its escrow fresh, and nobody gains
    room)."""
    mine = Holdings(
        old.counted if old is not None and old.tag == writer.tag else 0,
        old.counted if old is not None and old.network == writer.network else 0,
    )
    try:
        check_budget(held, Holdings(new - mine.household, new - mine.network), writer, "escrows")
    except BudgetReached:
        if old is None or new > old.counted:
            raise
        return old.tag, old.network
    return writer.tag, writer.network


def check_budget(held: Holdings, change: Holdings, writer: Writer, what: str) -> None:
    """BudgetReached if a write changing by `change` bytes what the writer's tags hold (now
    `held`) takes either over its budget: the household's, then its wider network's. A write
    that frees room always passes."""
    if _over(held.household, change.household, writer.budget):
        raise BudgetReached(
            f"this address already leaves as many {what} at this relay as it may "
            f"({writer.budget} bytes); try again later"
        )
    if _over(held.network, change.network, writer.network_budget):
        raise BudgetReached(
            f"the network this address is in already leaves as many {what} at this relay as "
            f"it may ({writer.network_budget} bytes); try again later"
        )


def _over(held: int, change: int, budget: int | None) -> bool:
    return budget is not None and change > 0 and held + change > budget


# --- SQLite -------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (
    space BLOB PRIMARY KEY,
    capability_hash BLOB NOT NULL,
    usage INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL DEFAULT 0,
    active_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS admission_codes (
    digest BLOB PRIMARY KEY,
    created_at REAL NOT NULL,
    expires_at REAL,
    used_at REAL,
    space BLOB,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS creations (
    address BLOB NOT NULL,
    period INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (address, period)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rotations (
    space BLOB NOT NULL,
    replaced BLOB NOT NULL,
    record BLOB NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (space, replaced)
);
CREATE TABLE IF NOT EXISTS logs (
    space BLOB NOT NULL,
    log BLOB NOT NULL,
    key BLOB,
    removed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (space, log)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (
    space BLOB NOT NULL,
    log BLOB NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (space, log)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    space BLOB NOT NULL,
    log BLOB NOT NULL,
    seq INTEGER NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (space, log, seq)
);
CREATE TABLE IF NOT EXISTS invitations (
    box BLOB PRIMARY KEY,
    body BLOB,
    counted INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    writer INTEGER NOT NULL,
    network INTEGER NOT NULL,
    answer INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS invitations_by_expiry ON invitations(expires_at);
CREATE INDEX IF NOT EXISTS invitations_by_writer ON invitations(writer);
CREATE INDEX IF NOT EXISTS invitations_by_network ON invitations(network);
CREATE TABLE IF NOT EXISTS escrows (
    locator BLOB PRIMARY KEY,
    blob BLOB NOT NULL,
    counted INTEGER NOT NULL,
    writer INTEGER NOT NULL,
    network INTEGER NOT NULL,
    written_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS escrows_by_writer ON escrows(writer);
CREATE INDEX IF NOT EXISTS escrows_by_network ON escrows(network);
CREATE INDEX IF NOT EXISTS escrows_by_age ON escrows(written_at);
CREATE TABLE IF NOT EXISTS store_keys (
    name TEXT PRIMARY KEY,
    key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS held (
    kind TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS content_keys (
    space BLOB NOT NULL,
    log BLOB NOT NULL,
    seq INTEGER NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (space, log, seq)
) WITHOUT ROWID;
"""


# Every table that holds rows of a space: a collected space leaves nothing in any of them.
_DELETE_SPACE = tuple(
    f"DELETE FROM {table} WHERE space = ?"  # noqa: S608 (names from this tuple only)
    for table in ("entries", "content_keys", "heads", "logs", "rotations", "spaces")
)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as e:
        raise StoreFailure(f"relay store: {what} failed ({e})") from e


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        # SQLite would create it (and its -wal and -shm, which copy its mode) world-readable.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    with _translated("opening the database"):
        db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        # Before anything is written (it is fixed from then on): an entry row is about 800 bytes,
        # and a 4 KiB page holds four of them with a fifth's worth of space unused.
        db.execute("PRAGMA page_size=8192")
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: fsync the WAL on every commit, so an Ack means the entries survive a crash.
        db.execute("PRAGMA synchronous=FULL")
        # An erased key record is overwritten, not left in a free page.
        db.execute("PRAGMA secure_delete=ON")
        made_before = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'spaces'").fetchone()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        check_schema_version(int(version), made_before is not None)
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return db


class _Queries:
    """Reads on one connection: the writer's (inside its transactions, where a write checks
    what it is about to change) or the reader's (alone, on its own thread)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _in_snapshot(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn`, one of this connection's reads, on one view of the database: what was
        committed when it began (a read of several statements never sees half a commit)."""
        with _translated("reading"):
            self._db.execute("BEGIN")
        try:
            return fn(*args, **kwargs)
        finally:
            with _translated("reading"):
                self._db.execute("ROLLBACK")

    def _space_infos(self) -> list[SpaceInfo]:
        rows = self._db.execute(
            "SELECT s.space, s.created_at, s.active_at, s.usage, "
            "(SELECT count(*) FROM heads AS h WHERE h.space = s.space) "
            "FROM spaces AS s ORDER BY s.active_at, s.space"
        ).fetchall()
        return [SpaceInfo(SpaceId(bytes(r[0])), r[1], r[2], int(r[3]), int(r[4])) for r in rows]

    def _spaces(self) -> list[SpaceInfo]:
        with _translated("reading spaces"):
            return self._space_infos()

    def _codes(self) -> list[CodeInfo]:
        with _translated("reading admission codes"):
            rows = self._db.execute(
                "SELECT digest, created_at, expires_at, used_at, revoked FROM admission_codes "
                "ORDER BY created_at, digest"
            ).fetchall()
        return [CodeInfo(bytes(r[0]), r[1], r[2], r[3], bool(r[4])) for r in rows]

    def _invitation_answerable(self, box: bytes, now: float) -> bool:
        with _translated("reading an invitation"):
            row = self._db.execute(
                "SELECT 1 FROM invitations WHERE box = ? AND expires_at > ? AND answer = 0",
                (box, now),
            ).fetchone()
        return row is not None

    def _capability_hash(self, space: SpaceId) -> bytes | None:
        with _translated("reading a space"):
            row = self._db.execute(
                "SELECT capability_hash FROM spaces WHERE space = ?", (space,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def _filed(self, space: SpaceId, capability_hash: bytes) -> SignedRecord | None:
        row = self._db.execute(
            "SELECT record, signature FROM rotations WHERE space = ? AND replaced = ?",
            (space, capability_hash),
        ).fetchone()
        return SignedRecord(bytes(row[0]), bytes(row[1])) if row else None

    def _rekey(self, space: SpaceId, capability_hash: bytes) -> SignedRecord | None:
        with _translated("reading a rekey"):
            return self._filed(space, capability_hash)

    def _keys(self, space: SpaceId, positions: list[Position]) -> dict[Position, bytes]:
        out: dict[Position, bytes] = {}
        with _translated("reading key records"):
            for log, seq in positions:
                row = self._db.execute(
                    "SELECT record FROM content_keys WHERE space = ? AND log = ? AND seq = ?",
                    (space, log, seq),
                ).fetchone()
                if row is not None:
                    out[(log, seq)] = bytes(row[0])
        return out

    def _entry_at(self, space: SpaceId, log: LogId, seq: int) -> bytes | None:
        row = self._db.execute(
            "SELECT entry FROM entries WHERE space = ? AND log = ? AND seq = ?", (space, log, seq)
        ).fetchone()
        return bytes(row[0]) if row else None

    def _state(self, space: SpaceId, log: LogId) -> LogState:
        row = self._db.execute(
            "SELECT key, removed FROM logs WHERE space = ? AND log = ?", (space, log)
        ).fetchone()
        if row and row[0] is not None:
            key = owned_key(log, bytes(row[0]), None)
        else:
            key = owned_key(log, None, self._entry_at(space, log, 1))
        return LogState(key, bool(row and row[1]), self._head(space, log))

    def _read_state(self, space: SpaceId, log: LogId) -> LogState:
        with _translated("reading a log"):
            return self._state(space, log)

    def _log_count(self, space: SpaceId) -> int:
        row = self._db.execute("SELECT count(*) FROM heads WHERE space = ?", (space,)).fetchone()
        return int(row[0])

    def _head(self, space: SpaceId, log: LogId) -> tuple[Seq, bytes] | None:
        row = self._db.execute(
            "SELECT seq, hash FROM heads WHERE space = ? AND log = ?", (space, log)
        ).fetchone()
        return (Seq(row[0]), bytes(row[1])) if row else None

    def _heads(self, space: SpaceId) -> Vector:
        with _translated("reading heads"):
            rows = self._db.execute(
                "SELECT log, seq FROM heads WHERE space = ?", (space,)
            ).fetchall()
        return {LogId(bytes(log)): int(seq) for log, seq in rows}

    def _since(
        self, space: SpaceId, have: Mapping[LogId, int], limit: int, max_bytes: int | None
    ) -> list[bytes]:
        out: list[bytes] = []
        room = max_bytes if max_bytes is not None else -1  # bytes left; -1: no bound
        with _translated("reading entries"):
            logs = self._db.execute(
                "SELECT log, seq FROM heads WHERE space = ? ORDER BY log", (space,)
            ).fetchall()
            for log, head in logs:
                start = have.get(LogId(bytes(log)), 0)
                if len(out) >= limit or room == 0:
                    break
                if head <= start:
                    continue
                rows = self._db.execute(
                    "SELECT entry FROM entries WHERE space = ? AND log = ? AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (space, log, start, limit - len(out)),
                )
                for (entry,) in rows:  # row by row: a page past its bytes is never read
                    out.append(bytes(entry))
                    if room > 0 and (room := max(0, room - len(entry))) == 0:
                        break
        return out

    def _usage(self, space: SpaceId) -> int:
        with _translated("reading usage"):
            row = self._db.execute("SELECT usage FROM spaces WHERE space = ?", (space,)).fetchone()
        return int(row[0]) if row else 0

    def _escrow(self, locator: bytes, fresh_since: float) -> bytes | None:
        with _translated("reading an escrow"):
            row = self._db.execute(
                "SELECT blob FROM escrows WHERE locator = ? AND written_at >= ?",
                (locator, fresh_since),
            ).fetchone()
        return bytes(row[0]) if row else None

    def _stale_escrows(self, fresh_since: float) -> int:
        with _translated("counting expired escrows"):
            (count,) = self._db.execute(
                "SELECT count(*) FROM escrows WHERE written_at < ?", (fresh_since,)
            ).fetchone()
        return int(count)


MAX_GROUP = 256  # writes in one transaction: bounds how long one commit keeps the rest waiting


class _Pending(NamedTuple):
    """A write waiting for the next group, and where its outcome goes."""

    call: Callable[[], object]
    done: asyncio.Future[object]


class _Outcome(NamedTuple):
    value: object = None
    error: Exception | None = None


def _writer_key(db: sqlite3.Connection) -> bytes:
    """The store's key for writer tags: made once, at random, and kept with what it tags."""
    with _translated("reading the writer key"):
        db.execute(
            "INSERT OR IGNORE INTO store_keys(name, key) VALUES ('writer', ?)",
            (os.urandom(WRITER_KEY_BYTES),),
        )
        (key,) = db.execute("SELECT key FROM store_keys WHERE name = 'writer'").fetchone()
    return bytes(key)


def _connect_reader(path: Path) -> _Queries:
    with _translated("opening the database"):
        db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        db.execute("PRAGMA query_only=ON")
    return _Queries(db)


def _settle(done: asyncio.Future[object], outcome: _Outcome) -> None:
    if done.done():  # its caller was cancelled: the write is committed (or not) all the same
        return
    if outcome.error is not None:
        done.set_exception(outcome.error)
    else:
        done.set_result(outcome.value)


def _again(error: StoreFailure) -> StoreFailure:
    """A fresh copy of a group's failure for each of its writes (each raises its own)."""
    return StoreFailure(str(error))


class SqliteRelayStore(_Queries):
    """RelayStore on one SQLite file. Open with `await SqliteRelayStore.open(path)`.

    Writes are committed in groups: the writes that arrive while a transaction is being
    committed wait, and then go together in the next one, each in its own savepoint (so a
    refused push is undone alone and raises for its own caller), with one fsync for the group;
    each returns only once the group's commit is durable. Under load, a commit's fsync is shared
    by hundreds of pushes instead of paid by each. Reads go to a second connection on a thread
    of their own (WAL lets it read while the writer writes), so a Hello's capability check never
    waits behind the writes; they see what was committed, which includes every write that has
    returned.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        reader: _Queries,
        workers: tuple[ThreadPoolExecutor, ...],
        quota: int,
        caps: Caps,
        writer_key: bytes,
    ) -> None:
        super().__init__(db)
        self._reader = reader
        self._worker, self._read_worker = workers
        self._quota = quota
        self._caps = caps
        self._writer_key = writer_key
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        quota: int = DEFAULT_QUOTA,
        invitation_cap: int = DEFAULT_INVITATION_CAP,
        escrow_cap: int = DEFAULT_ESCROW_CAP,
        storage_cap: int | None = None,
    ) -> SqliteRelayStore:
        # A thread per connection: sqlite3 connections belong to the thread that made them.
        # One writer is all SQLite allows anyway; one reader keeps reads off its queue.
        workers = tuple(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tend-relay-{role}")
            for role in ("db", "read")
        )
        loop = asyncio.get_running_loop()
        try:
            db = await loop.run_in_executor(workers[0], _connect, path)
            key = await loop.run_in_executor(workers[0], _writer_key, db)
            reader = await loop.run_in_executor(workers[1], _connect_reader, path)
        except BaseException:
            for worker in workers:
                worker.shutdown(wait=False)
            raise
        caps = Caps(invitation_cap, escrow_cap, storage_cap)
        return cls(db, reader, workers, quota, caps, key)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreFailure("relay store: it is closed")

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn` on the writer's thread, alone (not in a group)."""
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    async def _read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn`, a method of the reader, on the reader's thread."""
        self._check_open()
        loop = asyncio.get_running_loop()
        call = functools.partial(self._reader._in_snapshot, fn, *args, **kwargs)
        return await loop.run_in_executor(self._read_worker, call)

    async def _grouped(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn`, a write, in the next group commit; its result once that commit is durable."""
        self._check_open()
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(functools.partial(fn, *args, **kwargs), done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return cast(T, await done)

    async def _flush(self) -> None:
        """Commit what is pending, a group at a time, until nothing is."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                calls = [pending.call for pending in group]
                try:
                    outcomes = await loop.run_in_executor(self._worker, self._commit, calls)
                except RuntimeError as e:  # the worker is shut down
                    outcomes = [_Outcome(error=StoreFailure(f"relay store: {e}")) for _ in calls]
                for pending, outcome in zip(group, outcomes, strict=True):
                    _settle(pending.done, outcome)
        finally:
            self._flusher = None

    async def register(
        self, space: SpaceId, capability_hash: bytes, creation: Creation | None = None
    ) -> bool:
        creation = creation or Creation(time.time())
        return await self._grouped(self._register, space, capability_hash, creation)

    async def capability_hash(self, space: SpaceId) -> bytes | None:
        return await self._read(self._reader._capability_hash, space)

    async def rotate(self, space: SpaceId, record: bytes, signature: bytes) -> RotationRecord:
        rotation = parse_rotation(space, record)
        await self._grouped(self._rotate, space, rotation, SignedRecord(record, signature))
        return rotation

    async def rekey(self, space: SpaceId, capability_hash: bytes) -> SignedRecord | None:
        return await self._read(self._reader._rekey, space, capability_hash)

    async def put(
        self, space: SpaceId, entries: Sequence[bytes], keys: Sequence[bytes] = ()
    ) -> PutResult:
        parsed = parse_batch(space, entries)
        if keys and len(keys) != len(entries):
            raise MalformedEntry("one key record (or none) per entry")
        new, logs = await self._grouped(self._put, space, parsed, list(entries), list(keys))
        return PutResult(len(entries), new, logs)

    async def keys(self, space: SpaceId, positions: Sequence[Position]) -> dict[Position, bytes]:
        return await self._read(self._reader._keys, space, list(positions))

    async def forget(self, space: SpaceId, log: LogId, seq: int, token: bytes) -> int:
        # Alone: emptying the WAL after the erasure needs no transaction open around it.
        return await self._call(self._forget, space, log, seq, token)

    async def repair(
        self, space: SpaceId, log: LogId, key: bytes, from_seq: int, signature: bytes
    ) -> int:
        check_repair(space, log, key, from_seq, signature)
        return await self._grouped(self._repair, space, log, key, from_seq)

    async def log_state(self, space: SpaceId, log: LogId) -> LogState:
        return await self._read(self._reader._read_state, space, log)

    async def heads(self, space: SpaceId) -> Vector:
        return await self._read(self._reader._heads, space)

    async def since(
        self, space: SpaceId, have: Mapping[LogId, int], limit: int, max_bytes: int | None = None
    ) -> list[bytes]:
        return await self._read(self._reader._since, space, dict(have), limit, max_bytes)

    async def usage(self, space: SpaceId) -> int:
        return await self._read(self._reader._usage, space)

    def writer_tag(self, household: str) -> int:
        return writer_tag(self._writer_key, household)

    async def put_invitation(
        self,
        box: bytes,
        body: bytes,
        expires_at: float,
        now: float,
        writer: Writer = ANYONE,
        answer: bool = False,
    ) -> bool:
        return await self._grouped(self._put_invitation, box, body, expires_at, now, writer, answer)

    async def take_invitation(self, box: bytes, now: float) -> bytes | None:
        return await self._grouped(self._take_invitation, box, now)

    async def invitation_answerable(self, box: bytes, now: float) -> bool:
        return await self._read(self._reader._invitation_answerable, box, now)

    async def put_escrow(
        self,
        locator: bytes,
        blob: bytes,
        now: float,
        writer: Writer = ANYONE,
        fresh_since: float = NEVER_STALE,
    ) -> None:
        await self._grouped(self._put_escrow, locator, blob, now, writer, fresh_since)

    async def escrow(self, locator: bytes, fresh_since: float = NEVER_STALE) -> bytes | None:
        return await self._read(self._reader._escrow, locator, fresh_since)

    async def stale_escrows(self, fresh_since: float) -> int:
        return await self._read(self._reader._stale_escrows, fresh_since)

    async def collect_escrows(self, fresh_since: float) -> int:
        return await self._call(self._collect_escrows, fresh_since)

    async def touch(self, space: SpaceId, now: float) -> None:
        await self._grouped(self._touch, space, now)

    async def spaces(self) -> list[SpaceInfo]:
        return await self._read(self._reader._spaces)

    async def collect(self, rule: Collect) -> list[SpaceInfo]:
        return await self._grouped(self._collect, rule)

    async def add_codes(
        self, digests: Sequence[bytes], now: float, expires_at: float | None
    ) -> None:
        await self._grouped(self._add_codes, list(digests), now, expires_at)

    async def codes(self) -> list[CodeInfo]:
        return await self._read(self._reader._codes)

    async def revoke_code(self, code_id: str) -> int:
        return await self._grouped(self._revoke_code, code_id)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # refuse new calls; what is pending is committed first
        if self._flusher is not None:
            await self._flusher
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._read_worker, self._reader._db.close)
        await loop.run_in_executor(self._worker, self._db.close)
        self._worker.shutdown(wait=True)
        self._read_worker.shutdown(wait=True)

    # Everything below runs on the writer's thread.

    def _commit(self, calls: list[Callable[[], object]]) -> list[_Outcome]:
        """Each call in a savepoint of one transaction, committed (and fsynced) once."""
        try:
            with _translated("beginning writes"):
                self._db.execute("BEGIN IMMEDIATE")
        except StoreFailure as e:
            return [_Outcome(error=_again(e)) for _ in calls]
        outcomes = [self._attempt(call) for call in calls]
        try:
            with _translated("committing writes"):
                if not self._db.in_transaction:
                    raise sqlite3.OperationalError("SQLite rolled the transaction back")
                self._db.execute("COMMIT")
        except StoreFailure as e:
            self._undo(grouped=False)
            return [o if o.error else _Outcome(error=_again(e)) for o in outcomes]
        return outcomes

    def _attempt(self, call: Callable[[], object]) -> _Outcome:
        if not self._db.in_transaction:  # an earlier call's failure rolled the group back
            return _Outcome(error=StoreFailure("relay store: a write beside this one failed"))
        try:
            return _Outcome(call())
        except Exception as e:  # this call's refusal or failure, for its caller alone
            return _Outcome(error=e)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """One write, atomic: a savepoint in its group's transaction (a transaction of its own
        when it runs alone), undone alone if it raises."""
        with _translated(what):
            grouped = self._db.in_transaction
            self._db.execute("SAVEPOINT one_write" if grouped else "BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("RELEASE one_write" if grouped else "COMMIT")
            except BaseException:
                # Also when COMMIT itself failed (disk full): never leave the transaction open.
                self._undo(grouped)
                raise

    def _undo(self, grouped: bool) -> None:
        with _translated("rolling back"):
            if not self._db.in_transaction:
                return  # SQLite rolled it all back itself (some I/O errors do)
            if grouped:
                self._db.execute("ROLLBACK TO one_write")
                self._db.execute("RELEASE one_write")
            else:
                self._db.execute("ROLLBACK")

    def _register(self, space: SpaceId, capability_hash: bytes, creation: Creation) -> bool:
        with self._transaction("registering a space"):
            cursor = self._db.execute(
                "INSERT INTO spaces(space, capability_hash, created_at, active_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(space) DO NOTHING",
                (space, capability_hash, creation.now, creation.now),
            )
            if cursor.rowcount != 1:
                return False  # nothing is used up for a space that exists
            self._use_code(space, creation)
            self._count_creation(creation)
        return True

    def _use_code(self, space: SpaceId, creation: Creation) -> None:
        if creation.code is None:
            return
        row = self._db.execute(
            "SELECT expires_at, used_at, revoked FROM admission_codes WHERE digest = ?",
            (creation.code,),
        ).fetchone()
        check_code(None if row is None else (row[0], row[1], bool(row[2])), creation.now)
        self._db.execute(
            "UPDATE admission_codes SET used_at = ?, space = ? WHERE digest = ?",
            (creation.now, space, creation.code),
        )

    def _count_creation(self, creation: Creation) -> None:
        if creation.address is None or not creation.per_address:
            return
        period = creation.window_index
        self._db.execute("DELETE FROM creations WHERE period < ?", (period,))
        row = self._db.execute(
            "SELECT count FROM creations WHERE address = ? AND period = ?",
            (creation.address, period),
        ).fetchone()
        check_creations(int(row[0]) if row else 0, creation)
        self._db.execute(
            "INSERT INTO creations(address, period, count) VALUES (?, ?, 1) "
            "ON CONFLICT(address, period) DO UPDATE SET count = count + 1",
            (creation.address, period),
        )

    def _touch(self, space: SpaceId, now: float) -> None:
        with _translated("noting activity"):
            self._db.execute(
                "UPDATE spaces SET active_at = ? WHERE space = ? AND active_at < ?",
                (now, space, now),
            )

    def _collect(self, rule: Collect) -> list[SpaceInfo]:
        with self._transaction("collecting spaces"):
            gone = [info for info in self._space_infos() if rule.matches(info)]
            for info in gone:
                for statement in _DELETE_SPACE:
                    self._db.execute(statement, (info.space,))
        return gone

    def _add_codes(self, digests: list[bytes], now: float, expires_at: float | None) -> None:
        with self._transaction("storing admission codes"):
            self._db.executemany(
                "INSERT INTO admission_codes(digest, created_at, expires_at) VALUES (?, ?, ?)",
                [(digest, now, expires_at) for digest in digests],
            )

    def _revoke_code(self, code_id: str) -> int:
        with self._transaction("withdrawing admission codes"):
            cursor = self._db.execute(
                "UPDATE admission_codes SET revoked = 1 "
                "WHERE lower(hex(digest)) LIKE ? AND used_at IS NULL AND revoked = 0",
                (code_id.lower() + "%",),
            )
            return cursor.rowcount

    def _space(self, space: SpaceId) -> tuple[bytes, int]:
        """The space's capability hash and usage, or UnknownSpace."""
        row = self._db.execute(
            "SELECT capability_hash, usage FROM spaces WHERE space = ?", (space,)
        ).fetchone()
        if row is None:
            raise UnknownSpace("no such space on this relay")
        return bytes(row[0]), int(row[1])

    def _rotate(self, space: SpaceId, rotation: RotationRecord, signed: SignedRecord) -> None:
        with self._transaction("rotating a capability"):
            current, usage = self._space(space)
            check_rotation(
                rotation,
                *signed,
                current=current,
                signer=self._state(space, rotation.signer),
                replaced_before=self._filed(space, rotation.capability) is not None,
            )
            filed = len(signed.record) + len(signed.signature)
            usage = check_quota(usage, filed, self._quota)
            # A filed record counts toward what all spaces hold, like an entry: past the cap,
            # rotations would otherwise fill the disk a push may no longer.
            check_storage(self._stored_bytes(), filed, self._caps.storage)
            self._db.execute(
                "INSERT INTO rotations(space, replaced, record, signature) VALUES (?, ?, ?, ?)",
                (space, current, *signed),
            )
            self._db.execute(
                "UPDATE spaces SET capability_hash = ?, usage = ? WHERE space = ?",
                (rotation.capability, usage, space),
            )
            # Only logs this relay has seen are marked (a record cannot burn a log id before its
            # device first pushes), and a log a later rotation seals a key to is a member again:
            # the relay cannot check who removed whom, so a removal is never final here.
            self._db.executemany(
                "UPDATE logs SET removed = 1 WHERE space = ? AND log = ?",
                [(space, removal.device) for removal in rotation.removed],
            )
            self._db.executemany(
                "UPDATE logs SET removed = 0 WHERE space = ? AND log = ?",
                [(space, log) for log, _key in rotation.sealed],
            )

    def _put(
        self,
        space: SpaceId,
        parsed: list[tuple[Header, bytes]],
        entries: list[bytes],
        keys: list[bytes],
    ) -> tuple[tuple[bytes, ...], dict[LogId, LogState]]:
        with self._transaction("storing entries"):
            _, usage = self._space(space)
            states = {log: self._state(space, log) for log in {h.log for h, _ in parsed}}
            plan = plan_extension(parsed, states, self._stored(space, parsed, states))
            if opened := opened_logs(plan, states):
                check_logs(self._log_count(space), opened)
            check_quota(usage, plan.size, self._quota)
            if self._caps.storage is not None and plan.size:
                check_storage(self._stored_bytes(), plan.size, self._caps.storage)
            self._write(space, plan)
            self._db.executemany(
                "INSERT INTO content_keys(space, log, seq, record) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(space, log, seq) DO NOTHING",
                [
                    (space, h.log, h.seq, record)
                    for h, record in new_key_records(entries, keys, plan.entries)
                ],
            )
        return plan.entries, plan.states(states)

    def _forget(self, space: SpaceId, log: LogId, seq: int, token: bytes) -> int:
        with self._transaction("forgetting a key record"):
            row = self._db.execute(
                "SELECT record FROM content_keys WHERE space = ? AND log = ? AND seq = ?",
                (space, log, seq),
            ).fetchone()
            if not check_forget(token, bytes(row[0]) if row else None):
                return 0
            self._db.execute(
                "DELETE FROM content_keys WHERE space = ? AND log = ? AND seq = ?",
                (space, log, seq),
            )
        with _translated("forgetting a key record"):
            # The WAL still holds the page as it was: copy the erased one in and empty it.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return 1

    def _stored(
        self, space: SpaceId, parsed: list[tuple[Header, bytes]], states: dict[LogId, LogState]
    ) -> dict[tuple[LogId, Seq], bytes]:
        out: dict[tuple[LogId, Seq], bytes] = {}
        for log, seq in resent_positions(parsed, states):
            if (raw := self._entry_at(space, log, seq)) is not None:
                out[(log, seq)] = raw
        return out

    def _write(self, space: SpaceId, plan: Extension) -> None:
        self._db.executemany(
            "INSERT INTO entries(space, log, seq, entry) VALUES (?, ?, ?, ?)",
            [(space, h.log, h.seq, raw) for h, raw, _digest in plan.new],
        )
        self._db.executemany(
            "INSERT INTO heads(space, log, seq, hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(space, log) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            [(space, log, seq, digest) for log, (seq, digest) in plan.heads.items()],
        )
        self._db.executemany(
            "INSERT INTO logs(space, log, key) VALUES (?, ?, ?) "
            "ON CONFLICT(space, log) DO UPDATE SET key = excluded.key",
            [(space, log, key) for log, key in plan.keys.items()],
        )
        if plan.new:
            self._db.execute(
                "UPDATE spaces SET usage = usage + ? WHERE space = ?", (plan.size, space)
            )

    def _repair(self, space: SpaceId, log: LogId, key: bytes, from_seq: int) -> int:
        with self._transaction("repairing a log"):
            self._space(space)
            previous = self._entry_at(space, log, from_seq - 1) if from_seq > 1 else None
            check_junk(key, from_seq, self._entry_at(space, log, from_seq), previous)
            return self._drop_from(space, log, from_seq, previous)

    def _drop_from(self, space: SpaceId, log: LogId, from_seq: int, previous: bytes | None) -> int:
        """Delete the log's entries from `from_seq` on; its head becomes `previous`."""
        at = (space, log, from_seq)
        count, size = self._db.execute(
            "SELECT count(*), coalesce(sum(length(entry)), 0) FROM entries "
            "WHERE space = ? AND log = ? AND seq >= ?",
            at,
        ).fetchone()
        self._db.execute("DELETE FROM entries WHERE space = ? AND log = ? AND seq >= ?", at)
        self._db.execute("DELETE FROM content_keys WHERE space = ? AND log = ? AND seq >= ?", at)
        self._db.execute("DELETE FROM heads WHERE space = ? AND log = ?", (space, log))
        if previous is not None:
            self._db.execute(
                "INSERT INTO heads(space, log, seq, hash) VALUES (?, ?, ?, ?)",
                (space, log, from_seq - 1, entry_hash(previous)),
            )
        self._db.execute("UPDATE spaces SET usage = usage - ? WHERE space = ?", (size, space))
        return int(count)

    def _stored_bytes(self) -> int:
        (total,) = self._db.execute("SELECT coalesce(sum(usage), 0) FROM spaces").fetchone()
        return int(total)

    # -- invitations and escrows

    def _held(self, kind: str) -> int:
        row = self._db.execute("SELECT bytes FROM held WHERE kind = ?", (kind,)).fetchone()
        return int(row[0]) if row else 0

    def _set_held(self, kind: str, total: int) -> None:
        self._db.execute(
            "INSERT INTO held(kind, bytes) VALUES (?, ?) "
            "ON CONFLICT(kind) DO UPDATE SET bytes = excluded.bytes",
            (kind, total),
        )

    def _put_invitation(
        self, box: bytes, body: bytes, expires_at: float, now: float, writer: Writer, answer: bool
    ) -> bool:
        with self._transaction("storing an invitation"):
            held = self._held("invitations") - self._sweep_invitations(now)
            if self._db.execute("SELECT 1 FROM invitations WHERE box = ?", (box,)).fetchone():
                self._set_held("invitations", held)
                return False
            size = counted(body)
            mine = self._writer_invitations(writer)
            check_budget(mine, Holdings(size, size), writer, "invitations")
            total = check_cap(held, size, self._caps.invitations, "invitations")
            self._db.execute(
                "INSERT INTO invitations(box, body, counted, expires_at, writer, network, answer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (box, body, size, expires_at, writer.tag, writer.network, int(answer)),
            )
            self._set_held("invitations", total)
        return True

    def _writer_invitations(self, writer: Writer) -> Holdings:
        """What the invitations of a writer's tags count toward its budgets (a taken one, only
        its row)."""
        row = self._db.execute(
            "SELECT coalesce(sum(CASE WHEN writer = ? THEN size END), 0), "
            "coalesce(sum(CASE WHEN network = ? THEN size END), 0) FROM ("
            "SELECT writer, network, CASE WHEN body IS NULL THEN ? ELSE counted END AS size "
            "FROM invitations WHERE writer = ? OR network = ?)",
            (writer.tag, writer.network, ROW_OVERHEAD, writer.tag, writer.network),
        ).fetchone()
        return Holdings(int(row[0]), int(row[1]))

    def _sweep_invitations(self, now: float) -> int:
        """Delete the invitations expired at `now`; the bytes they counted."""
        (freed,) = self._db.execute(
            "SELECT coalesce(sum(counted), 0) FROM invitations WHERE expires_at <= ?", (now,)
        ).fetchone()
        self._db.execute("DELETE FROM invitations WHERE expires_at <= ?", (now,))
        return int(freed)

    def _take_invitation(self, box: bytes, now: float) -> bytes | None:
        with self._transaction("taking an invitation"):
            row = self._db.execute(
                "SELECT body, counted FROM invitations "
                "WHERE box = ? AND expires_at > ? AND body IS NOT NULL",
                (box, now),
            ).fetchone()
            if row is None:
                return None
            # The row stays, without its message, so the id is refused until it expires; it
            # counts only its row toward the cap, as toward its writer's budget.
            self._db.execute(
                "UPDATE invitations SET body = NULL, counted = ? WHERE box = ?", (ROW_OVERHEAD, box)
            )
            self._set_held("invitations", self._held("invitations") - int(row[1]) + ROW_OVERHEAD)
        return bytes(row[0])

    def _put_escrow(
        self, locator: bytes, blob: bytes, now: float, writer: Writer, fresh_since: float
    ) -> None:
        with self._transaction("storing an escrow"):
            held = self._held("escrows") - self._sweep_escrows(fresh_since)
            row = self._db.execute(
                "SELECT counted, writer, network FROM escrows WHERE locator = ?", (locator,)
            ).fetchone()
            replaced = Placed(*map(int, row)) if row else None
            tags = escrow_writer(self._writer_escrows(writer), replaced, counted(blob), writer)
            old = replaced.counted if replaced else 0
            total = check_cap(held, counted(blob) - old, self._caps.escrows, "escrows")
            self._db.execute(
                "INSERT INTO escrows(locator, blob, counted, writer, network, written_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(locator) DO UPDATE SET "
                "blob = excluded.blob, counted = excluded.counted, writer = excluded.writer, "
                "network = excluded.network, written_at = excluded.written_at",
                (locator, blob, counted(blob), *tags, now),
            )
            self._set_held("escrows", total)

    def _writer_escrows(self, writer: Writer) -> Holdings:
        row = self._db.execute(
            "SELECT coalesce(sum(CASE WHEN writer = ? THEN counted END), 0), "
            "coalesce(sum(CASE WHEN network = ? THEN counted END), 0) "
            "FROM escrows WHERE writer = ? OR network = ?",
            (writer.tag, writer.network, writer.tag, writer.network),
        ).fetchone()
        return Holdings(int(row[0]), int(row[1]))

    def _sweep_escrows(self, fresh_since: float) -> int:
        """Delete the escrows not written since `fresh_since`; the bytes they counted."""
        (freed,) = self._db.execute(
            "SELECT coalesce(sum(counted), 0) FROM escrows WHERE written_at < ?", (fresh_since,)
        ).fetchone()
        self._db.execute("DELETE FROM escrows WHERE written_at < ?", (fresh_since,))
        return int(freed)

    def _collect_escrows(self, fresh_since: float) -> int:
        with self._transaction("collecting escrows"):
            count = self._stale_escrows(fresh_since)
            self._set_held("escrows", self._held("escrows") - self._sweep_escrows(fresh_since))
        return count
