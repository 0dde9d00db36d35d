"""Log entries: a plaintext header the relay may read, and the sealed, signed event.

Theory of operation
-------------------
    header = version u8 | space id (16) | log id (16) | seq u64 | key epoch u32 | prev hash (32)
    entry  = header | envelope(space key of that epoch, aad=header,
                               plaintext = msgpack [event bytes, Ed25519 signature])
    signature = Ed25519(device key, "tend/entry/v1" | header | event bytes)
    hash(entry) = SHA-256(entry);  the next entry's header carries it as prev hash.

What is authenticated: the AEAD binds the header to the content under the space key (any member
could have sealed it); the signature binds both to one device on the roster. Because the signed
header carries the previous entry's hash, a valid signature on the last entry of a contiguous run
vouches for every entry before it, so a reader may verify one signature per run.
What the relay sees: the header (space, opaque log id, seq, epoch, a hash) and padded sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgpack

from tend.core import envelope, keys
from tend.core.errors import InvalidEnvelope
from tend.core.header import GENESIS, HASH_LEN, HEADER_LEN, MAX_ENTRY, VERSION, Header, entry_hash

__all__ = [
    "GENESIS",
    "HASH_LEN",
    "HEADER_LEN",
    "MAX_ENTRY",
    "VERSION",
    "Header",
    "Opened",
    "build",
    "entry_hash",
    "open_entry",
]
_SIG_CONTEXT = b"tend/entry/v1"


def _signed_message(header: bytes, event: bytes) -> bytes:
    return _SIG_CONTEXT + header + event


def build(
    header: Header, event: bytes, sign_seed: bytes, key: bytes, *, salt: bytes | None = None
) -> bytes:
    head = header.encode()
    signature = keys.sign(sign_seed, _signed_message(head, event))
    inner: bytes = msgpack.packb([event, signature], use_bin_type=True)
    entry = head + envelope.seal(key, inner, head, salt=salt)
    if len(entry) > MAX_ENTRY:
        raise ValueError("event too large for one entry")
    return entry


@dataclass(frozen=True, slots=True)
class Opened:
    header: Header
    event: bytes
    signature: bytes

    def signed_by(self, public: bytes) -> bool:
        return keys.verify(
            public, _signed_message(self.header.encode(), self.event), self.signature
        )


def open_entry(entry: bytes, key_for_epoch: Callable[[int], bytes | None]) -> Opened:
    """Open an entry's envelope. Raises InvalidEnvelope for any failure to open."""
    header = Header.decode(entry)
    key = key_for_epoch(header.epoch)
    if key is None:
        raise InvalidEnvelope
    inner = envelope.open_envelope(key, entry[HEADER_LEN:], entry[:HEADER_LEN])
    try:
        event, signature = msgpack.unpackb(inner, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise InvalidEnvelope from None
    if not isinstance(event, bytes) or not isinstance(signature, bytes):
        raise InvalidEnvelope
    return Opened(header, event, signature)
