"""Who may create a space on a relay, and which spaces an operator may clear: the rules both
stores keep inside their transactions, and the values they report.

Admission. A relay run in the open would otherwise be free anonymous storage: anyone can make
up a space id and a capability and fill the space to its quota, then another. So creation can
be gated, and every gate is checked in the one transaction that registers the space:

- a one-time code (`new_code`, minted by the operator with `tend relay codes new`): the store
  keeps only its hash (`code_hash`), and registering a space with it marks it used by that space
  in the same transaction, so two devices racing with one code create one space. A code that is
  used, expired or revoked admits nothing (`check_code`).
- a per-address limit: at most `per_address` spaces created per `window` seconds from one
  address (as sync/relay/peer.py's `peer_household` counts it). The counts are kept in the store, so
  that relay instances sharing one PostgreSQL database agree; an address is kept only as a
  truncated salted hash (`address_key`), and counts of past windows are swept as new ones are
  written.

Garbage collection. Each space keeps when it was created and when it was last active (a hello
or a push, written at most once per ACTIVITY_STEP so that syncing stays one read), and how many
logs (devices) it holds. `Collect` says which are past the operator's limits: idle for too long,
or never joined by a second device. Both stores delete a collected space's entries, key
records, logs, filed rotations and the space row in one transaction, re-checking the rule
there, so a space that came back to life meanwhile is kept.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import ClassVar

from tend.core.errors import ProtocolError
from tend.core.ids import SpaceId
from tend.sync.protocol import ErrorCode

DAY = 86400.0
ACTIVITY_STEP = 3600.0  # a space's last activity is written at most this often (seconds)
CODE_BYTES = 10  # random bytes in a one-time code: 80 bits, 16 base32 letters
CODE_ID_CHARS = 8  # hex of a code's hash that names it in `codes list` and `codes revoke`
ADDRESS_KEY_BYTES = 16

ADMISSION_WORDS = (
    "this relay admits new journals with a code from its operator; ask them for one "
    "(everything is kept on your device meanwhile)"
)


class AdmissionRefused(ProtocolError):
    """A space may be created here only with a valid one-time code (or the operator's token)."""

    code: ClassVar[ErrorCode] = ErrorCode.ADMISSION


class CreationLimited(ProtocolError):
    """The address created as many spaces as the relay allows in its window."""

    code: ClassVar[ErrorCode] = ErrorCode.SLOW_DOWN


def new_code() -> str:
    """A fresh one-time code, as the operator hands it out: four groups of four letters."""
    letters = _base32(secrets.token_bytes(CODE_BYTES))
    return "-".join(letters[i : i + 4] for i in range(0, len(letters), 4))


def _base32(raw: bytes) -> str:
    import base64

    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def normalised(code: str) -> str:
    """A code as typed: case, spaces and dashes do not matter."""
    return "".join(c for c in code.lower() if c not in "- \t")


def code_hash(code: str) -> bytes:
    """What the store keeps of a code: enough to check one, nothing to hand one out."""
    return hashlib.sha256(b"tend/admission-code/v1\0" + normalised(code).encode()).digest()


def code_id(digest: bytes) -> str:
    return digest.hex()[:CODE_ID_CHARS]


def address_key(address: str) -> bytes:
    """What the store keeps of an address for its creation count: a salted, truncated hash,
    so the table is no list of who used the relay (a short-lived one: old windows are swept)."""
    digest = hashlib.sha256(b"tend/creation-address/v1\0" + address.encode()).digest()
    return digest[:ADDRESS_KEY_BYTES]


@dataclass(frozen=True)
class Creation:
    """What registering a new space must check, in its transaction. `code`: the hash of the
    one-time code to use up (None: none is needed). `address`: the creator's address_key
    (None: no per-address limit), at most `per_address` creations per `window` seconds."""

    now: float
    code: bytes | None = None
    address: bytes | None = None
    per_address: int = 0
    window: float = DAY

    @property
    def window_index(self) -> int:
        return int(self.now // self.window)


def check_code(found: tuple[float | None, float | None, bool] | None, now: float) -> None:
    """A code's (expires_at, used_at, revoked), as the store holds it, admits a creation now."""
    if found is None:
        raise AdmissionRefused(f"{ADMISSION_WORDS}: that code is not one of this relay's")
    expires_at, used_at, revoked = found
    if revoked:
        raise AdmissionRefused(f"{ADMISSION_WORDS}: that code was withdrawn")
    if used_at is not None:
        raise AdmissionRefused(f"{ADMISSION_WORDS}: that code was already used")
    if expires_at is not None and expires_at <= now:
        raise AdmissionRefused(f"{ADMISSION_WORDS}: that code has expired")


def check_creations(count: int, creation: Creation) -> None:
    """The address may create one more space in this window."""
    if creation.per_address and count >= creation.per_address:
        raise CreationLimited(
            "this relay has made as many new journals from your network as it allows for now; "
            "try again tomorrow (everything is kept on your device meanwhile)"
        )


@dataclass(frozen=True)
class CodeInfo:
    """One minted code, as the operator sees it (never the code itself: only its hash is kept)."""

    digest: bytes
    created_at: float
    expires_at: float | None
    used_at: float | None
    revoked: bool

    @property
    def id(self) -> str:
        return code_id(self.digest)

    def state(self, now: float) -> str:
        if self.revoked:
            return "revoked"
        if self.used_at is not None:
            return "used"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "unused"


@dataclass(frozen=True)
class SpaceInfo:
    """What the operator learns of one space: no capability, nothing of what it holds."""

    space: SpaceId
    created_at: float
    active_at: float
    usage: int  # bytes of entries and filed rotation records
    logs: int  # devices that ever pushed an entry

    @property
    def single_device(self) -> bool:
        return self.logs <= 1

    @property
    def label(self) -> str:
        """A short name for the space that is not its id: reports may be pasted anywhere."""
        return hashlib.sha256(b"tend/space-label/v1\0" + self.space).hexdigest()[:12]


@dataclass(frozen=True)
class Collect:
    """Which spaces an operator clears: idle (no hello or push) for `idle_days`, or, when
    `single_device_days` is given, created that long ago and never joined by a second device."""

    now: float
    idle_days: float
    single_device_days: float | None = None

    @property
    def idle_before(self) -> float:
        return self.now - self.idle_days * DAY

    @property
    def single_before(self) -> float:
        """Created before this and single-device: collected (-inf: no such rule)."""
        if self.single_device_days is None:
            return float("-inf")
        return self.now - self.single_device_days * DAY

    def matches(self, info: SpaceInfo) -> bool:
        if info.active_at < self.idle_before:
            return True
        return info.single_device and info.created_at < self.single_before
