"""Real v2 entries and signed rotation records for the relay tests, built without the journal.

A `Log` is one device's log as a device writes it: a fresh Ed25519 log key, a log id derived
from it, a first entry carrying the key, each later one linked to the hash of the one before,
every entry sealed with core/entry.build (a random event under a space key) and signed by the
log key. The relay can check the header and the signature and open nothing, which is the point.
Entries of an exact size (the relay's limits) put random bytes where the envelope would be and
are signed all the same: the relay cannot tell the difference.

The attacker's tools are here too: entries signed by another key (`forged`, `junk`), headers
that claim a log id their key does not own, rotation records signed by anyone, and repair
requests (`repair_signature`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from tend.core.crypto import entry, keys
from tend.core.ids import LogId, Seq, SpaceId
from tend.core.log import rotation_record
from tend.core.log.header import (
    GENESIS,
    HEADER_LEN,
    SIGNATURE_LEN,
    SIGNED_PREFIX,
    Header,
    entry_hash,
    first_header,
    log_id_of,
    next_header,
)
from tend.core.log.rotation_record import Removal, RotationRecord
from tend.sync.protocol import Repair, repair_message

EPOCH = 1
EVENT = 200  # bytes of event in an ordinary entry: one 256-byte padded envelope


def sign_entry(header: Header, seed: bytes, space_key: bytes, size: int | None = None) -> bytes:
    """A signed entry: a sealed random event, or (with `size`) exactly `size` bytes with random
    bytes standing in for the envelope."""
    if size is None:
        return entry.build(header, os.urandom(EVENT), seed, space_key)
    unsigned = header.encode() + os.urandom(size - HEADER_LEN - SIGNATURE_LEN)
    return unsigned + keys.sign(seed, SIGNED_PREFIX + unsigned)


def capability_hash(capability: bytes) -> bytes:
    return hashlib.sha256(capability).digest()


@dataclass
class Log:
    """One device's log: its key, and the chain of entries written so far."""

    space: SpaceId
    seed: bytes = field(default_factory=keys.new_signing_seed)
    space_key: bytes = field(default_factory=keys.new_key)
    entries: list[bytes] = field(default_factory=list)

    @property
    def key(self) -> bytes:
        return keys.signing_public(self.seed)

    @property
    def log(self) -> LogId:
        return log_id_of(self.key)

    def header(self, seq: int, prev: bytes, space: bytes | None = None) -> Header:
        at = SpaceId(space or self.space)
        if seq == 1:
            return first_header(at, self.key, EPOCH)
        return next_header(at, self.log, seq, EPOCH, prev)

    def entry(
        self,
        seq: int,
        prev: bytes,
        *,
        size: int | None = None,
        space: bytes | None = None,
        seed: bytes | None = None,
    ) -> bytes:
        """An entry at `seq` linked to `prev` (at seq 1 the link is the key), signed by this
        log's key unless another `seed` is given."""
        return sign_entry(self.header(seq, prev, space), seed or self.seed, self.space_key, size)

    def next_prev(self) -> bytes:
        return entry_hash(self.entries[-1]) if self.entries else GENESIS

    def extend(self, n: int, *, size: int | None = None) -> list[bytes]:
        """The next `n` entries of this log (remembered, so later calls continue the chain)."""
        out: list[bytes] = []
        for _ in range(n):
            out.append(self.entry(len(self.entries) + 1, self.next_prev(), size=size))
            self.entries.append(out[-1])
        return out

    def fork(self, seq: int) -> bytes:
        """Different bytes at a seq, correctly linked to the entry before it and signed."""
        prev = entry_hash(self.entries[seq - 2]) if seq > 1 else GENESIS
        return self.entry(seq, prev)

    def forged(self, seed: bytes) -> bytes:
        """The log's next entry, seq and link right, signed by someone else's key."""
        return self.entry(len(self.entries) + 1, self.next_prev(), seed=seed)

    def junk(self, n: int, seed: bytes | None = None) -> list[bytes]:
        """`n` entries continuing the chain, linked among themselves but signed by another key:
        what an older relay, checking no signatures, let someone append. Not remembered."""
        seed = seed or keys.new_signing_seed()
        out: list[bytes] = []
        prev = self.next_prev()
        for seq in range(len(self.entries) + 1, len(self.entries) + n + 1):
            out.append(self.entry(seq, prev, seed=seed))
            prev = entry_hash(out[-1])
        return out

    def repair(
        self, request: int, from_seq: int, *, seed: bytes | None = None, log: bytes | None = None
    ) -> Repair:
        """A Repair of this log from `from_seq`, signed by this log's key (or `seed`'s)."""
        seed = seed or self.seed
        target = log or self.log
        signature = repair_signature(seed, self.space, target, from_seq)
        return Repair(request, target, keys.signing_public(seed), from_seq, signature)


def repair_signature(seed: bytes, space: bytes, log: bytes, from_seq: int) -> bytes:
    return keys.sign(seed, repair_message(space, log, from_seq))


def claimed_first_entry(space: SpaceId, log: bytes, key: bytes, seed: bytes) -> bytes:
    """A seq-1 entry naming log id `log` with `key` as its link, whatever `log_id_of(key)` is:
    the relay must refuse it unless the id is the key's."""
    header = Header(space, LogId(log), Seq(1), EPOCH, key)
    return sign_entry(header, seed, keys.new_key(), size=HEADER_LEN + 300 + SIGNATURE_LEN)


ENTRY_SIZE = len(Log(SpaceId(bytes(16))).extend(1)[0])  # an ordinary entry, padding included


def rotation(
    signer: Log,
    previous: bytes,
    capability: bytes,
    *,
    removed: Sequence[bytes] = (),
    keep: Sequence[bytes] = (),
    seed: bytes | None = None,
    signer_log: bytes | None = None,
    space: bytes | None = None,
    epoch: int = 2,
) -> tuple[bytes, bytes]:
    """A rotation record moving `signer`'s space from capability hash `previous` to
    `capability`, removing `removed` (sealing the new key to the signer and `keep`), and its
    signature by `signer` (or `seed`)."""
    who = LogId(signer_log or signer.log)
    record = RotationRecord(
        space=SpaceId(space or signer.space),
        epoch=epoch,
        previous=previous,
        capability=capability,
        sealed=tuple((LogId(d), os.urandom(80)) for d in (who, *keep)),
        removed=tuple(Removal(LogId(d), 0, bytes(32), bytes(64)) for d in removed),
        signer=who,
    ).encode()
    return record, keys.sign(seed or signer.seed, rotation_record.signing_input(record))
