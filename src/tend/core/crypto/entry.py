"""Log entries: the keyless frame (core/log/header.py) around a sealed event, signed by its log key.

Theory of operation
-------------------
    header    = version 0x02 | space id (16) | log id (16) | seq u64 | key epoch u32 | link (32)
    entry     = header | envelope(space key of that epoch, plaintext = event bytes, aad = header)
                       | Ed25519(log key, "tend/entry/v2" | header | envelope)
    hash      = SHA-256(entry);  the next entry's link carries it (at seq 1 the link is the log key)

What is authenticated: the AEAD binds the header to the content under the space key (which any
member holds); the signature binds both to the one device that holds the log key, whose public
half the log's first entry carries and from which the log id is derived. Signing the envelope
(encrypt-then-sign) lets the relay check write authority without any key to open it, and since
the header is in the envelope's associated data, a member who resealed someone's event under
their own log would change the header and so the log the event must claim as its device.
What the relay sees: the header (space, opaque log id, seq, epoch, a hash or the log key) and
padded sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tend.core.crypto import envelope, keys
from tend.core.errors import InvalidEnvelope, UserError
from tend.core.log import authorship
from tend.core.log.header import (
    GENESIS,
    HASH_LEN,
    HEADER_LEN,
    MAX_ENTRY,
    MAX_EPOCH,
    MAX_SEQ,
    SIGNATURE_LEN,
    SIGNED_PREFIX,
    VERSION,
    Header,
    entry_hash,
    first_header,
    log_id_of,
    next_header,
    sealed_part,
)

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
    "first_header",
    "next_header",
    "open_entry",
]


class EntryTooLarge(UserError, ValueError):
    """The event does not fit in one entry (MAX_ENTRY bytes)."""


def build(
    header: Header, event: bytes, sign_seed: bytes, key: bytes, *, salt: bytes | None = None
) -> bytes:
    _check_writable(header)
    head = header.encode()
    unsigned = head + envelope.seal(key, event, head, salt=salt)
    if len(unsigned) + SIGNATURE_LEN > MAX_ENTRY:
        raise EntryTooLarge("event too large for one entry")
    return unsigned + keys.sign(sign_seed, SIGNED_PREFIX + unsigned)


def _check_writable(header: Header) -> None:
    """Refuse to sign a header no reader would accept (a caller's mistake, said as such)."""
    if not (1 <= header.seq <= MAX_SEQ and 1 <= header.epoch < MAX_EPOCH):
        raise ValueError("an entry's seq and epoch must be in range")
    if header.seq == 1 and log_id_of(header.link) != header.log:
        raise ValueError("a first entry must carry the key its log id is derived from")


@dataclass(frozen=True, slots=True)
class Opened:
    header: Header
    event: bytes
    raw: bytes
    hash: bytes  # entry_hash(raw): the next entry's link, and the key record's binding

    def signed_by(self, public: bytes) -> bool:
        return authorship.written_by(public, self.raw)


def open_entry(
    entry: bytes, key_for_epoch: Callable[[int], bytes | None], header: Header | None = None
) -> Opened:
    """Open an entry's envelope. ChainError for a frame tend does not write; InvalidEnvelope for
    anything that does not open (the signature is checked by the reader, with the log's key).
    `header`, when the caller has decoded it already, must be `Header.decode(entry)`: a device
    catching up on years would otherwise decode every header many times over."""
    header = Header.decode(entry) if header is None else header
    key = key_for_epoch(header.epoch)
    if key is None:
        raise InvalidEnvelope
    event = envelope.open_envelope(key, sealed_part(entry), entry[:HEADER_LEN])
    return Opened(header, event, entry, entry_hash(entry))
