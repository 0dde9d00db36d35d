"""The plaintext header of a log entry: what the relay may read, parsed with no keys.

This module imports no cryptography, so the relay can check seq continuity and hash links
without being able to open anything (see core/entry.py for the sealed part).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from tend.core.errors import ChainError
from tend.core.ids import LogId, Seq, SpaceId

VERSION = 1
HASH_LEN = 32
GENESIS = bytes(HASH_LEN)
_HEADER = struct.Struct(">B16s16sQI32s")
HEADER_LEN = _HEADER.size
MAX_ENTRY = 1 << 16  # 64 KiB: a journal event is small; bigger is refused everywhere
# The fixed part of an envelope (envelope.OVERHEAD: prefix, commitment, tag); anything shorter
# cannot be an entry. A test keeps this in step with core/envelope.py.
MIN_SEALED = 89


@dataclass(frozen=True, slots=True)
class Header:
    space: SpaceId
    log: LogId
    seq: Seq
    epoch: int
    prev_hash: bytes
    version: int = VERSION

    def encode(self) -> bytes:
        return _HEADER.pack(
            self.version, self.space, self.log, self.seq, self.epoch, self.prev_hash
        )

    @staticmethod
    def decode(entry: bytes) -> Header:
        if len(entry) < HEADER_LEN + MIN_SEALED or len(entry) > MAX_ENTRY:
            raise ChainError("entry has an impossible size")
        version, space, log, seq, epoch, prev = _HEADER.unpack_from(entry)
        if version != VERSION or seq < 1:
            raise ChainError("entry header is not one tend writes")
        return Header(SpaceId(space), LogId(log), Seq(seq), epoch, prev, version)


def entry_hash(entry: bytes) -> bytes:
    return hashlib.sha256(entry).digest()
