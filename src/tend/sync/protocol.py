"""The sync protocol between a device and the relay: a sans-IO state machine.

Theory of operation
-------------------
One websocket message carries one frame: a msgpack map whose "t" names the frame type. This
module turns bytes into typed frames and frames into bytes, checks every size before decoding,
and enforces which frames may be sent or received in which state. It does no I/O and imports
no asyncio: the relay (sync/relay/session.py) and the client (sync/client.py) are thin shells
around it, and the fuzz and property tests drive it directly. The state here is a connection's
one state machine: the relay's session reads from it whether entries stored meanwhile wait
(SYNCING), go out at once (LIVE) or are no longer sent (CLOSED).

    device                                  relay
      Hello(versions, space, capability) ──▶
                                 ◀── Welcome(version, heads)      or Error + close
                                 ◀── Rekey(blob) then close       hello with a replaced capability
      Push(id, entries) ──▶                                       (any time after Welcome)
                                 ◀── Ack(id, stored)              after a durable write
                                 ◀── Error(id, code)              push refused, stay open
      Pull(have = {log id: highest seq}) ──▶
                                 ◀── Entries(batch, keys) …       catch-up, bounded
                                 ◀── CaughtUp(heads)
                                 ◀── Entries(live=True, keys) …   pushed as they arrive
      Rotate(id, signed rotation record) ──▶
                                 ◀── Ack(id)                      after removing a device
      Repair(id, own log, from seq, signed) ──▶
                                 ◀── Ack(id) or Error(id)         drop junk an old relay let in
      FetchKeys(id, positions) ──▶
                                 ◀── Keys(id, records)            key records the relay holds
      Forget(id, log, seq, token) ──▶
                                 ◀── Ack(id, erased) or Error(id) erase one key record

What the relay learns from frames: the space id, the capability (it stores only its hash),
opaque log ids and each log's public key, seq numbers, entry sizes (padded) and timing. Entries
are sealed to it; it checks only that each is signed by its log's key (write authority). A
rotation record (core/log/rotation_record.py) names which logs stay and which were removed and
carries the new epoch key sealed to each that stays; the relay checks its signer, files it
under the capability hash the Rotate replaced and hands it back, in a Rekey frame, to a device
that says hello with that old capability; the connection then closes.

Key records (core/log/forgetting.py) travel beside entries, never inside them: a Push carries,
parallel to its entries, each one's key record (80 bytes: the wrapped content key and the hash
of its forget token) or nothing; the relay keeps it only with an entry the push newly stores.
Devices fetch the records of entries they hold without words (FetchKeys, by log and seq); a
Forget presents a forget token, and the relay erases the record if its hash is the one stored
with it, so only the author's own devices can erase their words at the relay. The relay learns
which positions are asked about and which are forgotten, nothing of the words or the keys.

Errors say whose fault they are: `RemoteProtocolError` (the peer sent something illegal; it
carries the error code to send back) and `LocalProtocolError` (our caller misused this object).
After either, the connection is in ERROR and refuses further frames. A frame that cannot be sent
(not allowed in this state, or over a limit) moves nothing else: the state goes to ERROR, not to
where the frame would have led, and no bytes are returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

import msgpack

from tend.core.errors import ProtocolError
from tend.core.ids import LogId
from tend.core.log.header import MAX_ENTRY

PROTOCOL_VERSIONS: tuple[int, ...] = (3,)

# Limits, all checked before or while decoding (docs/protocol.md lists them).
MAX_FRAME_BYTES = 4 << 20  # one websocket message
# The relay's first frame from a device, before any authentication. A Hello is about 80 bytes
# (16 versions at most, a 16-byte id, a 32-byte capability): 4 KiB leaves room for fields a
# later version may add, and keeps what a stranger can make the relay decode small.
MAX_HELLO_BYTES = 4 << 10
# Arrays and maps in one frame, the top map included. No frame has more than three (a Push:
# the map, its entries, their key records), and none nests one array or map in another; the
# bound keeps a frame of empty arrays (one byte each) from becoming millions of objects.
MAX_CONTAINERS = 8
MAX_ENTRIES_PER_FRAME = 256  # a catch-up batch or a push
MAX_ENTRY_BYTES = MAX_ENTRY  # one entry (64 KiB)
MAX_VECTOR_LOGS = 4096  # logs named in one version vector
MAX_TEXT = 512  # an error message or code
MAX_ADMISSION_CODE = 64  # bytes of the code a Hello may carry to create a space
MAX_VERSIONS = 16
MAX_REQUEST_ID = (1 << 63) - 1
ID_BYTES = 16
CAPABILITY_BYTES = 32
CAPABILITY_HASH_BYTES = 32
KEY_BYTES = 32
SIGNATURE_BYTES = 64
MAX_SEQ = (1 << 63) - 1
REPAIR_PREFIX = b"tend/repair/v1"
KEY_RECORD_BYTES = 80  # a key record: sidecar (48) | H(forget token) (32)
POSITION_BYTES = ID_BYTES + 8  # log id | seq u64
TOKEN_BYTES = 32


class ErrorCode(StrEnum):
    UNSUPPORTED_VERSION = "unsupported_version"  # no protocol version in common
    MALFORMED = "malformed"  # not a frame we can decode
    TOO_LARGE = "too_large"  # over a named limit
    UNEXPECTED = "unexpected"  # a frame not allowed in this state
    UNAUTHORIZED = "unauthorized"  # wrong capability for this space
    UNKNOWN_SPACE = "unknown_space"  # no such space on this relay (and create was not asked)
    GAP = "gap"  # an entry whose seq does not follow the stored ones
    FORK = "fork"  # different bytes for a stored (log, seq), or a broken hash link
    QUOTA = "quota"  # the space is over its storage quota
    BAD_SIGNATURE = "bad_signature"  # not signed by the key of the log it is in (or of the signer)
    REMOVED = "removed"  # the log was removed from the space by a key rotation
    ADMISSION = "admission"  # the relay creates new spaces only with an operator's code
    SLOW_DOWN = "slow_down"  # this address created as many spaces as the relay allows for now
    FULL = "full"  # the relay holds as many bytes as its operator allows; try again later
    INTERNAL = "internal"  # the relay failed; try again later
    GOING_AWAY = "going_away"  # the relay is shutting down
    BUSY = "busy"  # the relay holds all it can from the device's address now; try again later
    TIMEOUT = "timeout"  # no Hello within the relay's deadline


class State(Enum):
    START = "start"
    HELLO = "hello"  # Hello sent (device) or received (relay), Welcome not yet
    READY = "ready"  # welcomed: may push; may pull
    SYNCING = "syncing"  # pulled, catch-up batches flowing; the relay holds live entries back
    LIVE = "live"  # caught up; new entries are pushed as they arrive
    ERROR = "error"
    CLOSED = "closed"  # after Rekey, or closed by its shell: nothing more is sent or received


class Role(Enum):
    DEVICE = "device"
    RELAY = "relay"


class LocalProtocolError(ProtocolError):
    """Our own caller tried something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something illegal. `code` is what to tell it in an Error frame."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.detail = message


# --- frames ---------------------------------------------------------------------------------------

Vector = dict[LogId, int]  # log id -> the highest seq held of it


@dataclass(frozen=True)
class Hello:
    versions: tuple[int, ...]
    space: bytes
    capability: bytes
    create: bool = False
    # What lets a device create a space on an invite-only relay: an operator's one-time code
    # or token. Sent only with create; absent on the wire when empty.
    admission: str = ""
    TYPE = "hello"


@dataclass(frozen=True)
class Welcome:
    version: int
    heads: Vector
    TYPE = "welcome"


@dataclass(frozen=True)
class Pull:
    have: Vector
    TYPE = "pull"


@dataclass(frozen=True)
class Entries:
    entries: tuple[bytes, ...]
    live: bool = False
    keys: tuple[bytes, ...] = ()  # empty, or one key record (or b"") per entry, as in Push
    TYPE = "entries"


@dataclass(frozen=True)
class CaughtUp:
    heads: Vector
    TYPE = "caught_up"


@dataclass(frozen=True)
class Push:
    id: int
    entries: tuple[bytes, ...]
    keys: tuple[bytes, ...] = ()  # empty, or one key record (or b"") per entry
    TYPE = "push"


@dataclass(frozen=True)
class Ack:
    id: int
    stored: int
    TYPE = "ack"


@dataclass(frozen=True)
class Rotate:
    """Move the space to a new capability: a rotation record (core/log/rotation_record.py) signed
    by the log key of the device that rotates. The relay checks the signature and files the
    signed record under the capability hash being replaced."""

    id: int
    record: bytes
    signature: bytes
    TYPE = "rotate"


@dataclass(frozen=True)
class Rekey:
    """What a Rotate left under the capability this device said hello with."""

    record: bytes
    signature: bytes
    TYPE = "rekey"


@dataclass(frozen=True)
class Repair:
    """Ask the relay to drop the tail of this device's own log from `from_seq`, where what it
    holds is not signed by the log's key (junk an older relay let in). Signed by that key:
    Ed25519(log key, REPAIR_PREFIX | space | log | from_seq u64)."""

    id: int
    log: bytes
    key: bytes
    from_seq: int
    signature: bytes
    TYPE = "repair"


@dataclass(frozen=True)
class FetchKeys:
    """Ask for the key records of entries, each named by its position (log id | seq u64)."""

    id: int
    positions: tuple[bytes, ...]
    TYPE = "fetch_keys"


@dataclass(frozen=True)
class Keys:
    """The key records the relay holds of what FetchKeys asked: position | key record each."""

    id: int
    records: tuple[bytes, ...]
    TYPE = "keys"


@dataclass(frozen=True)
class Forget:
    """Erase the key record of (log, seq): `token` is the entry's forget token, whose hash the
    relay holds with the record (core/log/forgetting.py)."""

    id: int
    log: bytes
    seq: int
    token: bytes
    TYPE = "forget"


def position(log: bytes, seq: int) -> bytes:
    return log + seq.to_bytes(8, "big")


def split_position(raw: bytes) -> tuple[LogId, int]:
    return LogId(raw[:ID_BYTES]), int.from_bytes(raw[ID_BYTES:POSITION_BYTES], "big")


def repair_message(space: bytes, log: bytes, from_seq: int) -> bytes:
    return REPAIR_PREFIX + space + log + from_seq.to_bytes(8, "big")


@dataclass(frozen=True)
class Error:
    code: str
    message: str = ""
    id: int | None = None  # set: a refused request, the connection stays open
    versions: tuple[int, ...] = field(default=())
    TYPE = "error"

    @property
    def fatal(self) -> bool:
        return self.id is None


Frame = (
    Hello
    | Welcome
    | Pull
    | Entries
    | CaughtUp
    | Push
    | Ack
    | Rotate
    | Rekey
    | Repair
    | FetchKeys
    | Keys
    | Forget
    | Error
)

# --- the state table ------------------------------------------------------------------------------
# (sender role, state, frame type) -> next state. The same table serves both ends: a device
# *sending* Hello and the relay *receiving* it make the same move. Error frames are handled
# apart: a fatal one (no id) moves to ERROR from any state; one with an id changes nothing.
# Rekey is the one frame that ends a connection in CLOSED: after it neither end sends anything.

_AFTER_WELCOME = (State.READY, State.SYNCING, State.LIVE)
TRANSITIONS: dict[tuple[Role, State, str], State] = {
    (Role.DEVICE, State.START, "hello"): State.HELLO,
    (Role.RELAY, State.HELLO, "welcome"): State.READY,
    (Role.RELAY, State.HELLO, "rekey"): State.CLOSED,
    (Role.DEVICE, State.READY, "pull"): State.SYNCING,
    (Role.RELAY, State.SYNCING, "entries"): State.SYNCING,
    (Role.RELAY, State.SYNCING, "caught_up"): State.LIVE,
    (Role.RELAY, State.LIVE, "entries"): State.LIVE,
    **{(Role.DEVICE, s, "push"): s for s in _AFTER_WELCOME},
    **{(Role.DEVICE, s, "rotate"): s for s in _AFTER_WELCOME},
    **{(Role.DEVICE, s, "repair"): s for s in _AFTER_WELCOME},
    **{(Role.DEVICE, s, "fetch_keys"): s for s in _AFTER_WELCOME},
    **{(Role.DEVICE, s, "forget"): s for s in _AFTER_WELCOME},
    **{(Role.RELAY, s, "keys"): s for s in _AFTER_WELCOME},
    **{(Role.RELAY, s, "ack"): s for s in _AFTER_WELCOME},
}


def negotiate(
    offered: tuple[int, ...], supported: tuple[int, ...] = PROTOCOL_VERSIONS
) -> int | None:
    """The highest version both sides speak, if any."""
    common = set(offered) & set(supported)
    return max(common) if common else None


class Connection:
    """One end of one connection. `send` gives the bytes to write; `receive` the frame read."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.peer = Role.RELAY if role is Role.DEVICE else Role.DEVICE
        self.state = State.START

    def send(self, frame: Frame) -> bytes:
        if self.state in (State.ERROR, State.CLOSED):
            raise LocalProtocolError(
                f"cannot send {frame.TYPE}: the connection is {self.state.value}"
            )
        try:
            # Encode before moving: a frame too large to send must not advance the state.
            following = self._following(self.role, frame, local=True)
            data = encode(frame)
        except LocalProtocolError:
            self.state = State.ERROR
            raise
        self.state = following
        return data

    def receive(self, data: bytes) -> Frame:
        if self.state in (State.ERROR, State.CLOSED):
            raise LocalProtocolError(f"cannot receive: the connection is {self.state.value}")
        try:
            if self.role is Role.RELAY and self.state is State.START:
                _check_hello_size(data)
            frame = decode(data)
            self.state = self._following(self.peer, frame, local=False)
        except RemoteProtocolError:
            self.state = State.ERROR
            raise
        return frame

    def close(self) -> None:
        self.state = State.CLOSED

    def _following(self, sender: Role, frame: Frame, *, local: bool) -> State:
        if isinstance(frame, Error):
            return State.ERROR if frame.fatal else self.state
        following = TRANSITIONS.get((sender, self.state, frame.TYPE))
        if following is None:
            message = (
                f"{frame.TYPE} is not allowed from the {sender.value} in state {self.state.value}"
            )
            if local:
                raise LocalProtocolError(message)
            raise RemoteProtocolError(ErrorCode.UNEXPECTED, message)
        return following


# --- encoding -------------------------------------------------------------------------------------


def encode(frame: Frame) -> bytes:
    body: dict[str, Any] = {"t": frame.TYPE}
    if isinstance(frame, Hello):
        body.update(v=list(frame.versions), s=frame.space, c=frame.capability, n=frame.create)
        if frame.admission:
            body.update(a=frame.admission)
    elif isinstance(frame, Welcome):
        body.update(v=frame.version, h=frame.heads)
    elif isinstance(frame, Pull):
        body.update(h=frame.have)
    elif isinstance(frame, CaughtUp):
        body.update(h=frame.heads)
    elif isinstance(frame, Ack):
        body.update(i=frame.id, n=frame.stored)
    elif isinstance(frame, Rotate):
        body.update(i=frame.id, r=frame.record, g=frame.signature)
    elif isinstance(frame, Rekey):
        body.update(r=frame.record, g=frame.signature)
    elif isinstance(frame, Repair):
        body.update(i=frame.id, l=frame.log, k=frame.key, f=frame.from_seq, g=frame.signature)
    elif isinstance(frame, Entries | Push | FetchKeys | Keys | Forget):
        body.update(_key_fields(frame))
    else:
        body.update(_error_fields(frame))
    data: bytes = msgpack.packb(body, use_bin_type=True)
    if len(data) > MAX_FRAME_BYTES:
        raise LocalProtocolError(f"{frame.TYPE} frame is {len(data)} bytes, over {MAX_FRAME_BYTES}")
    return data


def _key_fields(frame: Entries | Push | FetchKeys | Keys | Forget) -> dict[str, Any]:
    """The frames that carry entries' key records, or ask about them."""
    if isinstance(frame, Entries | Push):
        fields: dict[str, Any] = (
            {"e": list(frame.entries), "l": frame.live}
            if isinstance(frame, Entries)
            else {"i": frame.id, "e": list(frame.entries)}
        )
        if frame.keys:
            fields["k"] = list(frame.keys)
        return fields
    if isinstance(frame, FetchKeys):
        return {"i": frame.id, "p": list(frame.positions)}
    if isinstance(frame, Keys):
        return {"i": frame.id, "r": list(frame.records)}
    return {"i": frame.id, "l": frame.log, "n": frame.seq, "k": frame.token}


def _error_fields(frame: Error) -> dict[str, Any]:
    # MAX_TEXT counts UTF-8 bytes (the decoder's max_str_len), not characters.
    message = frame.message.encode("utf-8")[:MAX_TEXT].decode("utf-8", "ignore")
    fields: dict[str, Any] = {"c": frame.code, "m": message}
    if frame.id is not None:
        fields["i"] = frame.id
    if frame.versions:
        fields["v"] = list(frame.versions)
    return fields


def _bad(message: str, code: ErrorCode = ErrorCode.MALFORMED) -> RemoteProtocolError:
    return RemoteProtocolError(code, message)


def _check_hello_size(data: bytes) -> None:
    """Before Welcome the peer is nobody yet: its frame must be Hello-sized to be decoded."""
    if len(data) > MAX_HELLO_BYTES:
        message = f"a frame before welcome is at most {MAX_HELLO_BYTES} bytes"
        raise _bad(message, ErrorCode.TOO_LARGE)


class _Containers:
    """Counts the arrays and maps msgpack builds, as its list and object hooks, and stops it
    past MAX_CONTAINERS. msgpack has no bound on the total number of objects: each array and
    map is bounded alone (max_array_len, max_map_len), not how many there are."""

    def __init__(self) -> None:
        self.count = 0

    def list_hook(self, value: list[Any]) -> list[Any]:
        self._one()
        return value

    def object_hook(self, value: dict[Any, Any]) -> dict[Any, Any]:
        self._one()
        return value

    def _one(self) -> None:
        self.count += 1
        if self.count > MAX_CONTAINERS:
            raise ValueError(f"exceeds max_containers_len({MAX_CONTAINERS})")


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError("no ext types")


def decode(data: bytes) -> Frame:
    """Bytes -> frame, or RemoteProtocolError. Sizes are bounded before and during decoding."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _bad("frames are binary messages")
    if len(data) > MAX_FRAME_BYTES:
        raise _bad(f"frame over {MAX_FRAME_BYTES} bytes", ErrorCode.TOO_LARGE)
    containers = _Containers()
    try:
        body = msgpack.unpackb(
            bytes(data),
            raw=False,
            strict_map_key=False,
            use_list=True,
            max_bin_len=MAX_ENTRY_BYTES,
            max_str_len=MAX_TEXT,
            max_array_len=max(MAX_ENTRIES_PER_FRAME, MAX_VERSIONS),
            max_map_len=MAX_VECTOR_LOGS,
            max_ext_len=0,
            ext_hook=_no_ext,
            list_hook=containers.list_hook,
            object_hook=containers.object_hook,
        )
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as e:
        # msgpack reports a length over one of the limits above as "N exceeds max_..._len(M)".
        kinds = ("bin", "str", "array", "map", "containers")
        over = any(f"exceeds max_{kind}_len" in str(e) for kind in kinds)
        raise _bad(
            f"not a msgpack frame within limits ({type(e).__name__})",
            ErrorCode.TOO_LARGE if over else ErrorCode.MALFORMED,
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("t"), str):
        raise _bad("a frame is a map with a type")
    parse = _PARSERS.get(body["t"])
    if parse is None:
        raise _bad("unknown frame type")
    return parse(body)


def _field(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad(f"{body['t']}: field {key!r} missing or of the wrong type")
    return value


def _fixed_bytes(body: Mapping[str, Any], key: str, size: int) -> bytes:
    value = _field(body, key, bytes)
    if len(value) != size:
        raise _bad(f"{body['t']}: field {key!r} must be {size} bytes")
    return bytes(value)


def _count(body: Mapping[str, Any], key: str, upper: int) -> int:
    value = _field(body, key, int)
    if not 0 <= value <= upper:
        raise _bad(f"{body['t']}: field {key!r} out of range")
    return int(value)


def _seq(body: Mapping[str, Any], key: str) -> int:
    value = _count(body, key, MAX_SEQ)
    if value < 1:
        raise _bad(f"{body['t']}: field {key!r} must be a seq from 1")
    return value


def _blob(body: Mapping[str, Any], key: str, required: bool) -> bytes:
    """An opaque byte string of up to MAX_ENTRY_BYTES: 1 byte at least if required, else absent
    means empty."""
    if not required and key not in body:
        return b""
    value = _field(body, key, bytes)
    if len(value) > MAX_ENTRY_BYTES:
        raise _bad(f"{body['t']}: field {key!r} over {MAX_ENTRY_BYTES} bytes", ErrorCode.TOO_LARGE)
    if required and not value:
        raise _bad(f"{body['t']}: field {key!r} must not be empty")
    return bytes(value)


def _vector(body: Mapping[str, Any], key: str) -> Vector:
    raw = _field(body, key, dict)
    out: Vector = {}
    for log, seq in raw.items():
        if not isinstance(log, bytes) or len(log) != ID_BYTES:
            raise _bad(f"{body['t']}: a log id must be {ID_BYTES} bytes")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
            raise _bad(f"{body['t']}: a seq must be a whole number")
        out[LogId(log)] = seq
    return out


def _entries(body: Mapping[str, Any]) -> tuple[bytes, ...]:
    raw = _field(body, "e", list)
    if len(raw) > MAX_ENTRIES_PER_FRAME:
        raise _bad("too many entries in one frame", ErrorCode.TOO_LARGE)
    if not all(isinstance(e, bytes) and e for e in raw):
        raise _bad(f"{body['t']}: entries must be non-empty byte strings")
    return tuple(raw)


def _sized_list(body: Mapping[str, Any], key: str, sizes: tuple[int, ...]) -> tuple[bytes, ...]:
    """A list of at most MAX_ENTRIES_PER_FRAME byte strings, each of one of `sizes` bytes."""
    raw = _field(body, key, list)
    if len(raw) > MAX_ENTRIES_PER_FRAME:
        raise _bad(f"{body['t']}: too many items in one frame", ErrorCode.TOO_LARGE)
    if not all(isinstance(v, bytes) and len(v) in sizes for v in raw):
        raise _bad(f"{body['t']}: field {key!r} holds an item of the wrong size")
    return tuple(bytes(v) for v in raw)


def _keyed_entries(body: Mapping[str, Any]) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """A Push's or an Entries' entries, and their key records: none, or one (or b"") each."""
    entries = _entries(body)
    keys = _sized_list(body, "k", (0, KEY_RECORD_BYTES)) if "k" in body else ()
    if keys and len(keys) != len(entries):
        raise _bad(f"{body['t']}: one key record (or none) per entry")
    return entries, keys


def _push(body: Mapping[str, Any]) -> Push:
    entries, keys = _keyed_entries(body)
    return Push(_count(body, "i", MAX_REQUEST_ID), entries, keys)


def _entries_frame(body: Mapping[str, Any]) -> Entries:
    entries, keys = _keyed_entries(body)
    return Entries(entries, bool(_field(body, "l", bool)), keys)


def _versions(body: Mapping[str, Any], required: bool) -> tuple[int, ...]:
    if not required and "v" not in body:
        return ()
    raw = _field(body, "v", list)
    if len(raw) > MAX_VERSIONS:
        raise _bad(f"versions: at most {MAX_VERSIONS}", ErrorCode.TOO_LARGE)
    if not raw and required:
        raise _bad("versions: at least one")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 1 << 16 for v in raw):
        raise _bad("versions: whole numbers")
    return tuple(raw)


def _admission(body: Mapping[str, Any]) -> str:
    code = _text(body, "a")
    if len(code.encode("utf-8")) > MAX_ADMISSION_CODE:
        limit = f"hello: an admission code is at most {MAX_ADMISSION_CODE} bytes"
        raise _bad(limit, ErrorCode.TOO_LARGE)
    return code


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise _bad(f"{body['t']}: field {key!r} must be text")
    return value


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Frame]] = {
    "hello": lambda b: Hello(
        _versions(b, True),
        _fixed_bytes(b, "s", ID_BYTES),
        _fixed_bytes(b, "c", CAPABILITY_BYTES),
        bool(_field(b, "n", bool)),
        _admission(b),
    ),
    "welcome": lambda b: Welcome(_count(b, "v", 1 << 16), _vector(b, "h")),
    "pull": lambda b: Pull(_vector(b, "h")),
    "entries": _entries_frame,
    "caught_up": lambda b: CaughtUp(_vector(b, "h")),
    "push": _push,
    "ack": lambda b: Ack(_count(b, "i", MAX_REQUEST_ID), _count(b, "n", MAX_ENTRIES_PER_FRAME)),
    "rotate": lambda b: Rotate(
        _count(b, "i", MAX_REQUEST_ID),
        _blob(b, "r", True),
        _fixed_bytes(b, "g", SIGNATURE_BYTES),
    ),
    "rekey": lambda b: Rekey(_blob(b, "r", True), _fixed_bytes(b, "g", SIGNATURE_BYTES)),
    "repair": lambda b: Repair(
        _count(b, "i", MAX_REQUEST_ID),
        _fixed_bytes(b, "l", ID_BYTES),
        _fixed_bytes(b, "k", KEY_BYTES),
        _seq(b, "f"),
        _fixed_bytes(b, "g", SIGNATURE_BYTES),
    ),
    "fetch_keys": lambda b: FetchKeys(
        _count(b, "i", MAX_REQUEST_ID), _sized_list(b, "p", (POSITION_BYTES,))
    ),
    "keys": lambda b: Keys(
        _count(b, "i", MAX_REQUEST_ID), _sized_list(b, "r", (POSITION_BYTES + KEY_RECORD_BYTES,))
    ),
    "forget": lambda b: Forget(
        _count(b, "i", MAX_REQUEST_ID),
        _fixed_bytes(b, "l", ID_BYTES),
        _seq(b, "n"),
        _fixed_bytes(b, "k", TOKEN_BYTES),
    ),
    "error": lambda b: Error(
        _text(b, "c"),
        _text(b, "m"),
        _count(b, "i", MAX_REQUEST_ID) if "i" in b else None,
        _versions(b, False),
    ),
}
