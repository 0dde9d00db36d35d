"""The plaintext frame of a log entry: what the relay may read and check, with no secret key.

Theory of operation
-------------------
    header = version 0x02 | space id (16) | log id (16) | seq u64 | key epoch u32 | link (32)
    entry  = header | envelope (sealed under the space key of that epoch) | signature (64)
    signature = Ed25519(log key, "tend/entry/v2" | header | envelope)

`link` is the SHA-256 of the previous entry of the log, except at seq 1, where it is the log's
public key: the log id is derived from that key (`log_id_of`), so nobody can open a log under
an id that belongs to someone else's key, and every later entry of the log must carry a
signature that verifies under it. That is the log's *write authority*: the relay (and every
device) checks it with the public key alone (core/log/authorship.py), so only the device holding the
secret key can append to its own log, and the relay learns nothing it did not see before (a
random-looking key per log, never linked to a person).

Because each signed header carries the hash of the entry before it, a valid signature on the
last entry of a contiguous run vouches for every entry before it.

This module imports no cryptography, so the relay can parse and chain entries without being
able to open anything (see core/crypto/entry.py for the sealed part).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import lru_cache

from tend.core.errors import ChainError
from tend.core.ids import ID_LEN, LogId, Seq, SpaceId

VERSION = 2
HASH_LEN = 32
KEY_LEN = 32
SIGNATURE_LEN = 64
GENESIS = bytes(HASH_LEN)
_HEADER = struct.Struct(">B16s16sQI32s")
HEADER_LEN = _HEADER.size
MAX_ENTRY = 1 << 16  # 64 KiB: a journal event is small; bigger is refused everywhere
# The fixed part of an envelope (envelope.OVERHEAD: prefix, commitment, tag); anything shorter
# cannot be an entry. A test keeps this in step with core/crypto/envelope.py.
MIN_SEALED = 89
MIN_ENTRY = HEADER_LEN + MIN_SEALED + SIGNATURE_LEN
MAX_SEQ = (1 << 63) - 1
MAX_RECORD = MAX_ENTRY - 4096  # a signed record (a key rotation) must fit inside one event
MAX_EPOCH = 1 << 31
_LOG_ID_LABEL = b"tend/log-id/v1"
SIGNED_PREFIX = b"tend/entry/v2"


@lru_cache(maxsize=4096)
def log_id_of(log_key: bytes) -> LogId:
    """The log id a log key owns: derived, so an id cannot be claimed without its key."""
    return LogId(hashlib.sha256(_LOG_ID_LABEL + log_key).digest()[:ID_LEN])


@dataclass(frozen=True, slots=True)
class Header:
    space: SpaceId
    log: LogId
    seq: Seq
    epoch: int
    link: bytes  # prev hash, or the log key at seq 1
    version: int = VERSION

    @property
    def prev_hash(self) -> bytes:
        return GENESIS if self.seq == 1 else self.link

    @property
    def log_key(self) -> bytes | None:
        """The log's public key, carried by its first entry only."""
        return self.link if self.seq == 1 else None

    def encode(self) -> bytes:
        return _HEADER.pack(self.version, self.space, self.log, self.seq, self.epoch, self.link)

    @staticmethod
    def decode(entry: bytes) -> Header:
        if not isinstance(entry, bytes) or not MIN_ENTRY <= len(entry) <= MAX_ENTRY:
            raise ChainError("entry has an impossible size")
        version, space, log, seq, epoch, link = _HEADER.unpack_from(entry)
        if version != VERSION or not 1 <= seq <= MAX_SEQ or not 1 <= epoch < MAX_EPOCH:
            raise ChainError("entry header is not one tend writes")
        if seq == 1 and log_id_of(link) != log:
            raise ChainError("the log id is not the one its key owns")
        return Header(SpaceId(space), LogId(log), Seq(seq), epoch, link, version)


def first_header(space: SpaceId, log_key: bytes, epoch: int) -> Header:
    return Header(space, log_id_of(log_key), Seq(1), epoch, log_key)


def next_header(space: SpaceId, log: LogId, seq: int, epoch: int, prev_hash: bytes) -> Header:
    return Header(space, log, Seq(seq), epoch, prev_hash)


def sealed_part(entry: bytes) -> bytes:
    """The envelope between the header and the signature."""
    return entry[HEADER_LEN:-SIGNATURE_LEN]


def signature_of(entry: bytes) -> bytes:
    return entry[-SIGNATURE_LEN:]


def signed_message(entry: bytes) -> bytes:
    """What the log key signs: everything but the signature, under its own label."""
    return SIGNED_PREFIX + entry[:-SIGNATURE_LEN]


def entry_hash(entry: bytes) -> bytes:
    return hashlib.sha256(entry).digest()
