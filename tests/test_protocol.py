"""The sync protocol (sync/protocol.py): frames, the state table, limits, vectors and its spec.

A device and a relay `Connection` are wired through an in-memory pipe (`ConnectionPair`, after
h11's test helper), so every rule is checked on both ends without any I/O.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
import tracemalloc
from itertools import product
from pathlib import Path
from typing import Any, get_args

import msgpack
import pytest

from tend.core.errors import ProtocolError
from tend.core.ids import LogId
from tend.core.log import authorship, rotation_record
from tend.core.log.header import MAX_ENTRY, log_id_of
from tend.sync import protocol
from tend.sync.protocol import (
    KEY_RECORD_BYTES,
    MAX_ENTRIES_PER_FRAME,
    MAX_ENTRY_BYTES,
    MAX_FRAME_BYTES,
    MAX_SEQ,
    MAX_TEXT,
    MAX_VECTOR_LOGS,
    MAX_VERSIONS,
    PROTOCOL_VERSIONS,
    TRANSITIONS,
    Ack,
    CaughtUp,
    Connection,
    Entries,
    Error,
    ErrorCode,
    FetchKeys,
    Forget,
    Frame,
    Hello,
    Keys,
    LocalProtocolError,
    Pull,
    Push,
    Rekey,
    RemoteProtocolError,
    Repair,
    Role,
    Rotate,
    State,
    Vector,
    Welcome,
    decode,
    encode,
    negotiate,
    position,
    repair_message,
)

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).resolve().parent / "vectors"
FRAME_VECTORS: dict[str, Any] = json.loads((VECTORS / "frames.json").read_text(encoding="utf-8"))
DOC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")

SPACE = bytes(range(0x10, 0x20))
CAPABILITY = bytes(range(0x40, 0x60))
LOG_A = LogId(bytes(range(0x20, 0x30)))
LOG_B = LogId(bytes(range(0x30, 0x40)))
E1, E2, E3 = b"opaque entry 1", b"opaque entry 2", b"opaque entry 3"
KEY = bytes(range(0x80, 0xA0))  # a log's public key
SIG = bytes(range(0xA0, 0xE0))  # an Ed25519 signature: opaque to the protocol
# A signed rotation record (core/log/rotation_record.py), opaque to the protocol.
RECORD: bytes = msgpack.packb(
    {"s": SPACE, "e": 2, "p": bytes(32), "c": bytes(range(32)), "k": [[LOG_B, b"key"]]},
    use_bin_type=True,
)

# One frame of every type. The Error has an id and versions, so that each writes every key.
SAMPLES: dict[str, Frame] = {
    "hello": Hello((2,), SPACE, CAPABILITY, create=True, admission="k7q2-mx4p-9dzt-w3cf"),
    "welcome": Welcome(2, {LOG_A: 3, LOG_B: 1}),
    "pull": Pull({LOG_A: 1}),
    "entries": Entries((E1, E2), live=False, keys=(b"", bytes(KEY_RECORD_BYTES))),
    "caught_up": CaughtUp({LOG_A: 3, LOG_B: 1}),
    "push": Push(7, (E1, E2), (bytes(KEY_RECORD_BYTES), b"")),
    "ack": Ack(7, 2),
    "rotate": Rotate(8, RECORD, SIG),
    "rekey": Rekey(RECORD, SIG),
    "repair": Repair(10, LOG_A, KEY, 3, SIG),
    "fetch_keys": FetchKeys(11, (position(LOG_A, 3),)),
    "keys": Keys(11, (position(LOG_A, 3) + bytes(KEY_RECORD_BYTES),)),
    "forget": Forget(12, LOG_A, 3, KEY),
    "error": Error("unsupported_version", "no common version", 9, (1, 2)),
}
FRAME_CLASSES = get_args(Frame)
ALL_TYPES = sorted(cls.TYPE for cls in FRAME_CLASSES)
NON_ERROR_TYPES = [t for t in ALL_TYPES if t != "error"]
OPEN_STATES = [State.START, State.HELLO, State.READY, State.SYNCING, State.LIVE]
ILLEGAL = [
    (sender, state, kind)
    for sender, state, kind in product(Role, OPEN_STATES, NON_ERROR_TYPES)
    if (sender, state, kind) not in TRANSITIONS
]


def other(role: Role) -> Role:
    return Role.RELAY if role is Role.DEVICE else Role.DEVICE


class ConnectionPair:
    """A device and a relay connection joined by an in-memory pipe, frames delivered in order."""

    def __init__(self) -> None:
        self.device = Connection(Role.DEVICE)
        self.relay = Connection(Role.RELAY)

    def side(self, role: Role) -> Connection:
        return self.device if role is Role.DEVICE else self.relay

    def deliver(self, sender: Role, frame: Frame) -> Frame:
        """`sender` sends `frame`; the other end receives the bytes. Returns what it decoded."""
        data = self.side(sender).send(frame)
        return self.side(other(sender)).receive(data)


# The shortest way to each open state; connection_at(role, state) follows it.
PATH: list[tuple[Role, Frame]] = [
    (Role.DEVICE, Hello((2,), SPACE, CAPABILITY)),
    (Role.RELAY, Welcome(2, {LOG_A: 3})),
    (Role.DEVICE, Pull({})),
    (Role.RELAY, CaughtUp({LOG_A: 3})),
]


def pair_at(state: State) -> ConnectionPair:
    pair = ConnectionPair()
    for sender, frame in PATH[: OPEN_STATES.index(state)]:
        pair.deliver(sender, frame)
    assert pair.device.state is pair.relay.state is state
    return pair


def connection_at(role: Role, state: State) -> Connection:
    return pair_at(state).side(role)


def refused(data: bytes) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        decode(data)
    return info.value


def pack(body: Any) -> bytes:
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


def test_the_protocol_errors_are_tend_protocol_errors() -> None:
    assert issubclass(LocalProtocolError, ProtocolError)
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)


# --- frames round-trip ----------------------------------------------------------------------------


def test_the_samples_cover_every_frame_type() -> None:
    assert sorted(SAMPLES) == ALL_TYPES
    assert all(kind == frame.TYPE for kind, frame in SAMPLES.items())
    assert len(ALL_TYPES) == len(FRAME_CLASSES) == 14


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_every_frame_type_round_trips_through_encode_and_decode(kind: str) -> None:
    frame = SAMPLES[kind]
    data = encode(frame)
    assert decode(data) == frame
    assert type(decode(data)) is type(frame)
    assert encode(decode(data)) == data


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_a_frame_is_a_msgpack_map_whose_t_names_its_type(kind: str) -> None:
    body = msgpack.unpackb(encode(SAMPLES[kind]), raw=False, strict_map_key=False)
    assert isinstance(body, dict)
    assert body["t"] == kind
    assert all(isinstance(key, str) and len(key) == 1 for key in body)


def test_a_frame_decodes_from_bytearray_and_memoryview_too() -> None:
    data = encode(SAMPLES["push"])
    # Typed as bytes; the websocket layer may hand over either buffer type.
    buffers: list[Any] = [bytearray(data), memoryview(data)]
    assert [decode(buffer) for buffer in buffers] == [SAMPLES["push"]] * 2


def test_keys_in_another_order_and_unknown_keys_decode_to_the_same_frame() -> None:
    reordered = pack({"x": [1, 2], "n": 2, "i": 7, "t": "ack", "zz": {"any": b"thing"}})
    assert decode(reordered) == Ack(7, 2)


def test_an_error_writes_id_and_versions_only_when_it_has_them() -> None:
    body = msgpack.unpackb(encode(Error("going_away")), raw=False)
    assert body == {"t": "error", "c": "going_away", "m": ""}
    assert decode(encode(Error("going_away"))) == Error("going_away", "", None, ())


def test_rotate_rekey_and_repair_write_every_field_under_its_key() -> None:
    assert msgpack.unpackb(encode(Rotate(8, RECORD, SIG)), raw=False) == {
        "t": "rotate",
        "i": 8,
        "r": RECORD,
        "g": SIG,
    }
    assert msgpack.unpackb(encode(Rekey(RECORD, SIG)), raw=False) == {
        "t": "rekey",
        "r": RECORD,
        "g": SIG,
    }
    assert msgpack.unpackb(encode(Repair(10, LOG_A, KEY, 3, SIG)), raw=False) == {
        "t": "repair",
        "i": 10,
        "l": LOG_A,
        "k": KEY,
        "f": 3,
        "g": SIG,
    }


def test_a_repair_signs_the_space_the_log_and_the_seq_as_a_u64() -> None:
    assert repair_message(SPACE, LOG_A, 3) == (
        b"tend/repair/v1" + SPACE + LOG_A + b"\x00\x00\x00\x00\x00\x00\x00\x03"
    )


def test_an_error_code_enum_round_trips_as_its_text() -> None:
    frame = decode(encode(Error(ErrorCode.GAP, "seq 4 after 2", 3)))
    assert frame == Error("gap", "seq 4 after 2", 3)
    assert isinstance(frame, Error)
    assert frame.code == ErrorCode.GAP


def test_an_error_is_fatal_exactly_when_it_has_no_id() -> None:
    assert Error("going_away").fatal
    assert not Error("gap", id=0).fatal


def test_a_long_ascii_error_message_is_cut_to_the_text_limit() -> None:
    frame = decode(encode(Error("internal", "x" * (MAX_TEXT + 100))))
    assert isinstance(frame, Error)
    assert frame.message == "x" * MAX_TEXT


def test_a_long_non_ascii_error_message_is_cut_to_512_bytes_at_a_character_boundary() -> None:
    # "é" is two UTF-8 bytes and "€" three: a cut by characters would send 1,024 or 1,536 bytes,
    # which the peer refuses. The cut is by bytes, never inside a character.
    for char in ("é", "€", "🌱"):
        frame = decode(encode(Error("internal", char * MAX_TEXT)))
        assert isinstance(frame, Error)
        cut = frame.message.encode("utf-8")
        assert MAX_TEXT - len(char.encode()) < len(cut) <= MAX_TEXT
        assert frame.message == char * len(frame.message)


# --- a whole conversation -------------------------------------------------------------------------


def test_a_full_conversation_over_an_in_memory_pipe_reaches_live_on_both_sides() -> None:
    pair = ConnectionPair()
    script: list[tuple[Role, Frame, State]] = [
        (Role.DEVICE, Hello((2,), SPACE, CAPABILITY, create=True), State.HELLO),
        (Role.RELAY, Welcome(negotiate((2,)) or 0, {LOG_A: 3}), State.READY),
        (Role.DEVICE, Push(1, (E1,)), State.READY),
        (Role.RELAY, Ack(1, 1), State.READY),
        (Role.DEVICE, Pull({LOG_A: 1}), State.SYNCING),
        (Role.RELAY, Entries((E1, E2)), State.SYNCING),
        (Role.DEVICE, Push(2, (E2,)), State.SYNCING),
        (Role.RELAY, Entries((E3,)), State.SYNCING),
        (Role.RELAY, Ack(2, 0), State.SYNCING),
        (Role.RELAY, CaughtUp({LOG_A: 3, LOG_B: 1}), State.LIVE),
        (Role.RELAY, Entries((E3,), live=True), State.LIVE),
        (Role.DEVICE, Push(3, (E3,)), State.LIVE),
        (Role.RELAY, Error("fork", "different bytes for seq 3", 3), State.LIVE),
        (Role.DEVICE, Rotate(4, RECORD, SIG), State.LIVE),
        (Role.RELAY, Ack(4, 0), State.LIVE),
        (Role.DEVICE, Repair(5, LOG_A, KEY, 2, SIG), State.LIVE),
        (Role.RELAY, Error("fork", "the entry at seq 2 is the log's own", 5), State.LIVE),
        (Role.DEVICE, Repair(6, LOG_A, KEY, 3, SIG), State.LIVE),
        (Role.RELAY, Ack(6, 1), State.LIVE),
    ]
    for sender, frame, expected in script:
        assert pair.deliver(sender, frame) == frame
        assert (pair.device.state, pair.relay.state) == (expected, expected), frame
    assert pair.device.state is pair.relay.state is State.LIVE


def test_a_hello_with_a_replaced_capability_gets_rekey_and_both_ends_close() -> None:
    pair = ConnectionPair()
    pair.deliver(Role.DEVICE, Hello((2,), SPACE, CAPABILITY))
    assert pair.deliver(Role.RELAY, Rekey(RECORD, SIG)) == Rekey(RECORD, SIG)
    assert pair.device.state is pair.relay.state is State.CLOSED
    # Closed, not in error, and nothing more is sent or taken on this connection.
    for frame in (SAMPLES["welcome"], SAMPLES["rekey"], Error("gap", id=1), Error("internal")):
        with pytest.raises(LocalProtocolError, match="closed"):
            pair.relay.send(frame)
        with pytest.raises(LocalProtocolError, match="closed"):
            pair.device.receive(encode(frame))
    with pytest.raises(LocalProtocolError, match="closed"):
        pair.device.send(Hello((2,), SPACE, CAPABILITY))
    assert pair.device.state is pair.relay.state is State.CLOSED
    # The device comes back on a new connection with the capability the record gave it.
    again = ConnectionPair()
    again.deliver(Role.DEVICE, Hello((2,), SPACE, bytes(range(0x60, 0x80))))
    again.deliver(Role.RELAY, Welcome(2, {}))
    assert again.device.state is again.relay.state is State.READY


@pytest.mark.parametrize("state", [State.READY, State.SYNCING, State.LIVE])
def test_rekey_after_welcome_is_unexpected(state: State) -> None:
    device = connection_at(Role.DEVICE, state)
    with pytest.raises(RemoteProtocolError) as info:
        device.receive(encode(Rekey(RECORD, SIG)))
    assert info.value.code is ErrorCode.UNEXPECTED
    assert device.state is State.ERROR


def test_a_refused_hello_leaves_both_ends_in_error() -> None:
    pair = ConnectionPair()
    pair.deliver(Role.DEVICE, Hello((7, 8), SPACE, CAPABILITY))
    assert negotiate((7, 8)) is None
    refusal = Error(ErrorCode.UNSUPPORTED_VERSION, "no version in common", None, PROTOCOL_VERSIONS)
    got = pair.deliver(Role.RELAY, refusal)
    assert isinstance(got, Error)
    assert got.fatal
    assert got.versions == PROTOCOL_VERSIONS
    assert pair.device.state is pair.relay.state is State.ERROR


def test_after_a_remote_error_its_code_can_still_be_sent_with_encode() -> None:
    # The connection that found the error is in ERROR and refuses send(); the shell writes the
    # fatal Error with encode() and the peer moves to ERROR on reading it.
    pair = pair_at(State.READY)
    with pytest.raises(RemoteProtocolError) as info:
        pair.relay.receive(b"\xc1")
    with pytest.raises(LocalProtocolError):
        pair.relay.send(Error(info.value.code, info.value.detail))
    got = pair.device.receive(encode(Error(info.value.code, info.value.detail)))
    assert got == Error("malformed", info.value.detail)
    assert pair.device.state is State.ERROR


# --- the state table ------------------------------------------------------------------------------


def test_the_table_names_only_frame_types_and_open_states() -> None:
    for sender, state, kind in TRANSITIONS:
        assert kind in NON_ERROR_TYPES
        assert state in OPEN_STATES
        assert isinstance(sender, Role)
    assert set(TRANSITIONS.values()) <= {*OPEN_STATES, State.CLOSED}
    # Only the relay's Rekey, in answer to a Hello, ends a connection in closed.
    closing = [move for move, following in TRANSITIONS.items() if following is State.CLOSED]
    assert closing == [(Role.RELAY, State.HELLO, "rekey")]
    assert len(ILLEGAL) == len(Role) * len(OPEN_STATES) * len(NON_ERROR_TYPES) - len(TRANSITIONS)


@pytest.mark.parametrize(
    ("sender", "state", "kind"),
    list(TRANSITIONS),
    ids=[f"{r.value}-{s.value}-{k}" for r, s, k in TRANSITIONS],
)
def test_a_frame_the_table_allows_moves_sender_and_receiver_to_the_same_next_state(
    sender: Role, state: State, kind: str
) -> None:
    pair = pair_at(state)
    assert pair.deliver(sender, SAMPLES[kind]) == SAMPLES[kind]
    expected = TRANSITIONS[(sender, state, kind)]
    assert pair.side(sender).state is pair.side(other(sender)).state is expected


@pytest.mark.parametrize(
    ("sender", "state", "kind"), ILLEGAL, ids=[f"{r.value}-{s.value}-{k}" for r, s, k in ILLEGAL]
)
def test_sending_a_frame_the_table_does_not_allow_raises_a_local_error(
    sender: Role, state: State, kind: str
) -> None:
    connection = connection_at(sender, state)
    with pytest.raises(LocalProtocolError, match=f"{kind} is not allowed"):
        connection.send(SAMPLES[kind])
    assert connection.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        connection.send(Error("internal", id=1))


@pytest.mark.parametrize(
    ("sender", "state", "kind"), ILLEGAL, ids=[f"{r.value}-{s.value}-{k}" for r, s, k in ILLEGAL]
)
def test_receiving_a_frame_the_table_does_not_allow_is_unexpected_and_ends_the_connection(
    sender: Role, state: State, kind: str
) -> None:
    receiver = connection_at(other(sender), state)
    with pytest.raises(RemoteProtocolError) as info:
        receiver.receive(encode(SAMPLES[kind]))
    assert info.value.code is ErrorCode.UNEXPECTED
    assert receiver.state is State.ERROR
    # Refuses further input, even a frame that would otherwise change nothing.
    with pytest.raises(LocalProtocolError, match="error"):
        receiver.receive(encode(Error("gap", id=1)))
    assert receiver.state is State.ERROR


@pytest.mark.parametrize(("role", "state"), list(product(Role, OPEN_STATES)))
def test_a_fatal_error_moves_the_sender_and_the_receiver_to_error_from_any_open_state(
    role: Role, state: State
) -> None:
    pair = pair_at(state)
    got = pair.deliver(role, Error(ErrorCode.GOING_AWAY, "shutting down"))
    assert isinstance(got, Error)
    assert got.fatal
    assert pair.device.state is pair.relay.state is State.ERROR


@pytest.mark.parametrize(("role", "state"), list(product(Role, OPEN_STATES)))
def test_an_error_with_an_id_changes_no_state_on_either_end(role: Role, state: State) -> None:
    pair = pair_at(state)
    got = pair.deliver(role, Error(ErrorCode.QUOTA, "space is full", 5))
    assert got == Error("quota", "space is full", 5)
    assert pair.device.state is pair.relay.state is state


@pytest.mark.parametrize("end", ["error", "closed"])
@pytest.mark.parametrize("role", list(Role))
def test_a_connection_in_error_or_closed_refuses_to_send_and_to_receive(
    end: str, role: Role
) -> None:
    connection = connection_at(role, State.LIVE)
    if end == "closed":
        connection.close()
    else:
        connection.send(Error(ErrorCode.INTERNAL))
    final = connection.state
    assert final is (State.CLOSED if end == "closed" else State.ERROR)
    for frame in (Error(ErrorCode.INTERNAL), Error("gap", id=1), SAMPLES["ack"], SAMPLES["push"]):
        with pytest.raises(LocalProtocolError):
            connection.send(frame)
        with pytest.raises(LocalProtocolError):
            connection.receive(encode(frame))
    assert connection.state is final


def test_nothing_but_hello_may_come_first_and_only_welcome_rekey_or_error_answers_it() -> None:
    device_first = [k for k in NON_ERROR_TYPES if (Role.DEVICE, State.START, k) in TRANSITIONS]
    assert device_first == ["hello"]
    assert not any((Role.RELAY, State.START, k) in TRANSITIONS for k in NON_ERROR_TYPES)
    answers = [k for k in NON_ERROR_TYPES if (Role.RELAY, State.HELLO, k) in TRANSITIONS]
    assert answers == ["rekey", "welcome"]
    assert not any((Role.DEVICE, State.HELLO, k) in TRANSITIONS for k in NON_ERROR_TYPES)


# --- the sender's limits --------------------------------------------------------------------------


def test_a_push_too_large_to_send_is_refused_locally_and_the_connection_moves_to_error() -> None:
    device = connection_at(Role.DEVICE, State.LIVE)
    entries = tuple(bytes([i]) * MAX_ENTRY_BYTES for i in range(MAX_FRAME_BYTES // MAX_ENTRY + 1))
    with pytest.raises(LocalProtocolError, match="over"):
        device.send(Push(1, entries))
    assert device.state is State.ERROR


def test_a_pull_too_large_to_send_does_not_move_the_device_to_syncing() -> None:
    # The state must not advance past a frame that was never sent: a device left in SYNCING
    # would wait forever for catch-up the relay was never asked for.
    device = connection_at(Role.DEVICE, State.READY)
    huge = {LogId(i.to_bytes(16, "big")): 1 << 40 for i in range(MAX_FRAME_BYTES // 27 + 1)}
    with pytest.raises(LocalProtocolError, match="over"):
        device.send(Pull(huge))
    assert device.state is State.ERROR


# --- the receiver's limits ------------------------------------------------------------------------


def _push(entries: list[bytes]) -> bytes:
    return pack({"t": "push", "i": 1, "e": entries})


def test_a_frame_over_4_mib_is_too_large_even_when_everything_else_in_it_is_valid() -> None:
    # 63 full entries fit; a 64th takes the frame over 4 MiB, with every entry and count legal.
    entries = [bytes([i]) * MAX_ENTRY_BYTES for i in range(MAX_FRAME_BYTES // MAX_ENTRY_BYTES - 1)]
    under, over = _push(entries), _push([*entries, b"x" * MAX_ENTRY_BYTES])
    assert len(under) <= MAX_FRAME_BYTES < len(over)
    assert decode(under) == Push(1, tuple(entries))
    assert refused(over).code is ErrorCode.TOO_LARGE


def test_a_frame_over_the_limit_is_refused_before_msgpack_reads_it() -> None:
    # Garbage that msgpack would call malformed: too_large shows the length was checked first.
    assert refused(b"\xc1" * (MAX_FRAME_BYTES + 1)).code is ErrorCode.TOO_LARGE
    assert refused(b"\xc1" * MAX_FRAME_BYTES).code is ErrorCode.MALFORMED


def test_256_entries_in_a_frame_decode_and_257_are_too_large() -> None:
    assert decode(_push([b"e"] * MAX_ENTRIES_PER_FRAME)) == Push(1, (b"e",) * 256)
    assert refused(_push([b"e"] * (MAX_ENTRIES_PER_FRAME + 1))).code is ErrorCode.TOO_LARGE
    entries = pack({"t": "entries", "e": [b"e"] * 257, "l": False})
    assert refused(entries).code is ErrorCode.TOO_LARGE


def test_an_entry_of_64_kib_decodes_and_one_byte_more_is_too_large() -> None:
    assert MAX_ENTRY_BYTES == MAX_ENTRY == 65536
    assert decode(_push([b"x" * MAX_ENTRY_BYTES])) == Push(1, (b"x" * MAX_ENTRY_BYTES,))
    assert refused(_push([b"x" * (MAX_ENTRY_BYTES + 1)])).code is ErrorCode.TOO_LARGE


def test_an_empty_entry_is_malformed() -> None:
    assert refused(_push([b"x", b""])).code is ErrorCode.MALFORMED


def _record_frames(record: Any, signature: Any = SIG) -> list[bytes]:
    """A Rekey and a Rotate carrying `record` and `signature`."""
    rotate = {"t": "rotate", "i": 1, "r": record, "g": signature}
    return [pack({"t": "rekey", "r": record, "g": signature}), pack(rotate)]


def test_a_record_of_64_kib_decodes_and_one_byte_more_is_too_large() -> None:
    top = b"k" * MAX_ENTRY_BYTES
    assert [decode(data) for data in _record_frames(top)] == [Rekey(top, SIG), Rotate(1, top, SIG)]
    for data in _record_frames(b"k" * (MAX_ENTRY_BYTES + 1)):
        assert refused(data).code is ErrorCode.TOO_LARGE


def test_an_empty_or_absent_record_or_signature_is_malformed() -> None:
    for data in (*_record_frames(b""), pack({"t": "rekey", "g": SIG}), pack({"t": "rekey"})):
        assert refused(data).code is ErrorCode.MALFORMED
    for data in (pack({"t": "rotate", "i": 1, "r": RECORD}), pack({"t": "rekey", "r": RECORD})):
        assert refused(data).code is ErrorCode.MALFORMED


def test_a_record_that_is_not_bin_is_malformed() -> None:
    for value in ("record", 1, True, None, [b"record"], {b"e": b"k"}):
        for data in _record_frames(value):
            assert refused(data).code is ErrorCode.MALFORMED, value


def test_a_signature_or_key_of_another_size_is_malformed() -> None:
    for size in (0, 63, 65, 32):
        for data in _record_frames(RECORD, bytes(size)):
            assert refused(data).code is ErrorCode.MALFORMED, size
        repair = {"t": "repair", "i": 1, "l": LOG_A, "k": KEY, "f": 1, "g": bytes(size)}
        assert refused(pack(repair)).code is ErrorCode.MALFORMED, size
    for size in (0, 31, 33, 16):
        repair = {"t": "repair", "i": 1, "l": LOG_A, "k": bytes(size), "f": 1, "g": SIG}
        assert refused(pack(repair)).code is ErrorCode.MALFORMED, size
    for size in (0, 15, 17, 32):
        repair = {"t": "repair", "i": 1, "l": bytes(size), "k": KEY, "f": 1, "g": SIG}
        assert refused(pack(repair)).code is ErrorCode.MALFORMED, size


def test_a_repair_from_seq_must_be_a_seq_from_1_to_2_pow_63_minus_1() -> None:
    base = {"t": "repair", "i": 1, "l": LOG_A, "k": KEY, "g": SIG}
    assert decode(pack({**base, "f": MAX_SEQ})) == Repair(1, LOG_A, KEY, MAX_SEQ, SIG)
    for value in (0, -1, MAX_SEQ + 1, True, None, 1.0, "1"):
        assert refused(pack({**base, "f": value})).code is ErrorCode.MALFORMED, value
    assert refused(pack(base)).code is ErrorCode.MALFORMED


@pytest.mark.parametrize("kind", ["welcome", "pull", "caught_up"])
def test_a_vector_of_4096_logs_decodes_and_4097_are_too_large(kind: str) -> None:
    def frame(n: int) -> bytes:
        vector = {i.to_bytes(16, "big"): i for i in range(n)}
        return pack({"t": kind, "v": 1, "h": vector})

    decoded = decode(frame(MAX_VECTOR_LOGS))
    assert isinstance(decoded, Welcome | Pull | CaughtUp)
    vector = decoded.have if isinstance(decoded, Pull) else decoded.heads
    assert vector == {i.to_bytes(16, "big"): i for i in range(MAX_VECTOR_LOGS)}
    assert refused(frame(MAX_VECTOR_LOGS + 1)).code is ErrorCode.TOO_LARGE


def test_an_error_text_of_512_bytes_decodes_and_513_is_too_large() -> None:
    assert decode(pack({"t": "error", "c": "gap", "m": "é" * 256})) == Error("gap", "é" * 256)
    assert refused(pack({"t": "error", "c": "gap", "m": "é" * 256 + "x"})).code is (
        ErrorCode.TOO_LARGE
    )
    assert refused(pack({"t": "error", "c": "x" * 513, "m": ""})).code is ErrorCode.TOO_LARGE


def test_16_versions_decode_and_17_are_too_large() -> None:
    def hello(versions: list[int]) -> bytes:
        return pack({"t": "hello", "v": versions, "s": SPACE, "c": CAPABILITY, "n": False})

    many = list(range(1, MAX_VERSIONS + 1))
    assert decode(hello(many)) == Hello(tuple(many), SPACE, CAPABILITY)
    assert refused(hello([*many, 17])).code is ErrorCode.TOO_LARGE
    assert refused(pack({"t": "error", "c": "x", "m": "", "v": [*many, 17]})).code is (
        ErrorCode.TOO_LARGE
    )
    assert refused(hello([])).code is ErrorCode.MALFORMED


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("s", SPACE, [SPACE[:15], SPACE + b"\x00", b"", SPACE.hex()]),
        ("c", CAPABILITY, [CAPABILITY[:31], CAPABILITY + b"\x00", bytes(16)]),
    ],
)
def test_hello_ids_of_another_size_are_malformed(field: str, good: bytes, bad: list[Any]) -> None:
    base = {"t": "hello", "v": [1], "s": SPACE, "c": CAPABILITY, "n": False}
    assert decode(pack({**base, field: good})) == Hello((1,), SPACE, CAPABILITY)
    for value in bad:
        assert refused(pack({**base, field: value})).code is ErrorCode.MALFORMED


def test_a_log_id_of_another_size_is_malformed() -> None:
    for size in (0, 15, 17, 32):
        assert refused(pack({"t": "pull", "h": {bytes(size): 1}})).code is ErrorCode.MALFORMED


WHOLE_NUMBER_CASES: list[tuple[str, dict[str, Any], str]] = [
    # (name, a frame that decodes, the key of a whole number in it)
    ("push-id", {"t": "push", "i": 1, "e": [b"e"]}, "i"),
    ("ack-id", {"t": "ack", "i": 1, "n": 1}, "i"),
    ("ack-stored", {"t": "ack", "i": 1, "n": 1}, "n"),
    ("rotate-id", {"t": "rotate", "i": 1, "r": RECORD, "g": SIG}, "i"),
    ("repair-id", {"t": "repair", "i": 1, "l": LOG_A, "k": KEY, "f": 1, "g": SIG}, "i"),
    ("repair-from", {"t": "repair", "i": 1, "l": LOG_A, "k": KEY, "f": 1, "g": SIG}, "f"),
    ("error-id", {"t": "error", "c": "gap", "m": "", "i": 1}, "i"),
    ("welcome-version", {"t": "welcome", "v": 1, "h": {}}, "v"),
]
HOSTILE_INTS: list[Any] = [-1, -(1 << 63), 1 << 63, (1 << 64) - 1, True, False, 1.0, "1", b"\x01"]


@pytest.mark.parametrize(
    ("name", "base", "key"), WHOLE_NUMBER_CASES, ids=[c[0] for c in WHOLE_NUMBER_CASES]
)
def test_negative_huge_boolean_float_or_text_values_where_an_int_belongs_are_malformed(
    name: str, base: dict[str, Any], key: str
) -> None:
    decode(pack(base))
    for value in HOSTILE_INTS:
        error = refused(pack({**base, key: value}))
        assert error.code is ErrorCode.MALFORMED, (name, value)


def test_a_seq_in_a_vector_must_be_a_whole_number_from_0_to_2_pow_63_minus_1() -> None:
    assert decode(pack({"t": "pull", "h": {LOG_A: (1 << 63) - 1, LOG_B: 0}})) == Pull(
        {LOG_A: (1 << 63) - 1, LOG_B: 0}
    )
    for value in [*HOSTILE_INTS, None]:
        assert refused(pack({"t": "pull", "h": {LOG_A: value}})).code is ErrorCode.MALFORMED


def test_the_largest_request_id_decodes_and_ack_stored_stops_at_256() -> None:
    top = (1 << 63) - 1
    assert decode(pack({"t": "ack", "i": top, "n": 256})) == Ack(top, 256)
    assert refused(pack({"t": "ack", "i": top, "n": 257})).code is ErrorCode.MALFORMED


def test_a_version_must_be_a_whole_number_from_1_to_65535() -> None:
    def hello(versions: list[Any]) -> bytes:
        return pack({"t": "hello", "v": versions, "s": SPACE, "c": CAPABILITY, "n": False})

    assert decode(hello([1, 65535])) == Hello((1, 65535), SPACE, CAPABILITY)
    for value in (0, -1, 65536, True, 1.0, "1"):
        assert refused(hello([1, value])).code is ErrorCode.MALFORMED


def test_an_int_or_nothing_where_a_boolean_belongs_is_malformed() -> None:
    hello = {"t": "hello", "v": [1], "s": SPACE, "c": CAPABILITY}
    for value in (0, 1, None, "true"):
        assert refused(pack({**hello, "n": value})).code is ErrorCode.MALFORMED
        assert refused(pack({"t": "entries", "e": [], "l": value})).code is ErrorCode.MALFORMED
    assert refused(pack(hello)).code is ErrorCode.MALFORMED


def test_a_text_message_instead_of_a_binary_one_is_malformed() -> None:
    connection = connection_at(Role.RELAY, State.START)
    text: Any = encode(SAMPLES["hello"]).decode("latin-1")
    with pytest.raises(RemoteProtocolError) as info:
        connection.receive(text)
    assert info.value.code is ErrorCode.MALFORMED
    assert connection.state is State.ERROR


_PUSH_E = b"\x83\xa1t\xa4push\xa1i\x01\xa1e"  # {"t": "push", "i": 1, "e": ...


HUGE_CLAIMS: list[tuple[str, bytes, ErrorCode]] = [
    # A length prefix longer than the frame is truncation (malformed); one over a limit is
    # too_large. Either way nothing of the claimed size is allocated.
    ("bin-of-4-gib", _PUSH_E + b"\x91\xc6\xff\xff\xff\xff" + b"x" * 16, ErrorCode.MALFORMED),
    ("str-of-4-gib", b"\x81\xa1t\xdb\xff\xff\xff\xff" + b"x" * 16, ErrorCode.MALFORMED),
    ("array-of-4-g-items", _PUSH_E + b"\xdd\xff\xff\xff\xff", ErrorCode.TOO_LARGE),
    ("map-of-4-g-pairs", b"\xdf\xff\xff\xff\xff", ErrorCode.TOO_LARGE),
    ("bin-of-64-kib-plus-1", _PUSH_E + b"\x91\xc6\x00\x01\x00\x01", ErrorCode.MALFORMED),
    ("array-of-257-items", _PUSH_E + b"\xdc\x01\x01", ErrorCode.TOO_LARGE),
    ("nested-100000-deep", _PUSH_E + b"\x91" * 100_000, ErrorCode.MALFORMED),
]


@pytest.mark.parametrize(("name", "data", "code"), HUGE_CLAIMS, ids=[c[0] for c in HUGE_CLAIMS])
def test_a_frame_claiming_a_huge_value_fails_fast_without_allocating_it(
    name: str, data: bytes, code: ErrorCode
) -> None:
    tracemalloc.start()
    try:
        began = time.perf_counter()
        error = refused(data)
        elapsed = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code is code, name
    assert elapsed < 0.5, name
    assert peak < 1 << 20, (name, peak)


def test_a_hostile_frame_received_moves_the_connection_to_error_with_its_code() -> None:
    relay = connection_at(Role.RELAY, State.READY)
    with pytest.raises(RemoteProtocolError) as info:
        relay.receive(_push([b"e"] * 300))
    assert info.value.code is ErrorCode.TOO_LARGE
    assert relay.state is State.ERROR


# --- version negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "supported", "chosen"),
    [
        ((1,), (1,), 1),
        ((1, 2, 3), (2, 3, 4), 3),
        ((3, 1, 2), (1, 2), 2),
        ((5,), (1, 2), None),
        ((), (1,), None),
        ((1, 2), (), None),
        ((9, 4, 7), (7, 9), 9),
    ],
)
def test_negotiate_picks_the_highest_common_version_or_none(
    offered: tuple[int, ...], supported: tuple[int, ...], chosen: int | None
) -> None:
    assert negotiate(offered, supported) == chosen


def test_negotiate_defaults_to_the_versions_this_code_speaks() -> None:
    assert PROTOCOL_VERSIONS == (3,)
    assert negotiate((2, 3)) == 3
    assert negotiate((2,)) is None


# --- the committed frame vectors ------------------------------------------------------------------


def _vector(value: dict[str, int]) -> Vector:
    return {LogId(bytes.fromhex(log)): seq for log, seq in value.items()}


def frame_from_vector(kind: str, f: dict[str, Any]) -> Frame:
    """The frame a vector's JSON fields describe, built without the decoder."""
    entries = tuple(bytes.fromhex(e) for e in f.get("entries", []))
    match kind:
        case "hello":
            space, capability = bytes.fromhex(f["space"]), bytes.fromhex(f["capability"])
            code = f.get("admission", "")
            return Hello(tuple(f["versions"]), space, capability, f["create"], code)
        case "welcome":
            return Welcome(f["version"], _vector(f["heads"]))
        case "pull":
            return Pull(_vector(f["have"]))
        case "entries":
            return Entries(entries, f["live"], tuple(bytes.fromhex(k) for k in f.get("keys", [])))
        case "caught_up":
            return CaughtUp(_vector(f["heads"]))
        case "push":
            return Push(f["id"], entries, tuple(bytes.fromhex(k) for k in f.get("keys", [])))
        case "fetch_keys":
            return FetchKeys(f["id"], tuple(bytes.fromhex(x) for x in f["positions"]))
        case "keys":
            return Keys(f["id"], tuple(bytes.fromhex(x) for x in f["records"]))
        case "forget":
            return Forget(f["id"], bytes.fromhex(f["log"]), f["seq"], bytes.fromhex(f["token"]))
        case "ack":
            return Ack(f["id"], f["stored"])
        case "rotate":
            return Rotate(f["id"], bytes.fromhex(f["record"]), bytes.fromhex(f["signature"]))
        case "rekey":
            return Rekey(bytes.fromhex(f["record"]), bytes.fromhex(f["signature"]))
        case "repair":
            log, key = bytes.fromhex(f["log"]), bytes.fromhex(f["key"])
            return Repair(f["id"], log, key, f["from_seq"], bytes.fromhex(f["signature"]))
        case "error":
            return Error(f["code"], f["message"], f["id"], tuple(f["versions"]))
    raise AssertionError(f"unknown frame type {kind}")


VALID_VECTORS: list[dict[str, Any]] = FRAME_VECTORS["valid"]
INVALID_VECTORS: list[dict[str, Any]] = FRAME_VECTORS["invalid"]


def test_the_frame_vectors_cover_every_type_and_both_error_codes() -> None:
    assert sorted({case["type"] for case in VALID_VECTORS}) == ALL_TYPES
    assert {case["error"] for case in INVALID_VECTORS} == {"malformed", "too_large"}
    assert len(INVALID_VECTORS) >= 40


def test_the_vectors_record_and_repair_are_signed_as_tends_own_checks_expect() -> None:
    fields = {case["name"]: case["fields"] for case in VALID_VECTORS}
    rotate, repair = fields["rotate"], fields["repair"]
    record, signature = bytes.fromhex(rotate["record"]), bytes.fromhex(rotate["signature"])
    key = bytes.fromhex(repair["key"])
    parsed = rotation_record.parse(record)
    assert parsed.space == SPACE
    assert parsed.signer == log_id_of(key) == bytes.fromhex(repair["log"])
    assert rotation_record.signed_by(record, signature, key)
    message = repair_message(SPACE, parsed.signer, repair["from_seq"])
    assert authorship.verify(key, message, bytes.fromhex(repair["signature"]))
    assert not authorship.verify(key, repair_message(SPACE, parsed.signer, 1), signature)


@pytest.mark.parametrize("case", VALID_VECTORS, ids=[c["name"] for c in VALID_VECTORS])
def test_encode_writes_exactly_the_committed_frame(case: dict[str, Any]) -> None:
    assert encode(frame_from_vector(case["type"], case["fields"])).hex() == case["frame"]


@pytest.mark.parametrize("case", VALID_VECTORS, ids=[c["name"] for c in VALID_VECTORS])
def test_a_committed_frame_decodes_to_its_fields(case: dict[str, Any]) -> None:
    assert decode(bytes.fromhex(case["frame"])) == frame_from_vector(case["type"], case["fields"])


@pytest.mark.parametrize("case", INVALID_VECTORS, ids=[c["name"] for c in INVALID_VECTORS])
def test_a_committed_invalid_frame_is_refused_with_its_error_code(case: dict[str, Any]) -> None:
    assert refused(bytes.fromhex(case["frame"])).code == case["error"]


def test_the_committed_frames_json_is_what_make_frame_vectors_writes() -> None:
    path = VECTORS / "make_frame_vectors.py"
    spec = importlib.util.spec_from_file_location("make_frame_vectors", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.dump(module.build_frame_vectors())
    assert written == (VECTORS / "frames.json").read_text(encoding="utf-8")


# --- docs/protocol.md is written from the code ----------------------------------------------------


def _sync_section(heading: str) -> str:
    """The text under `heading` in the Sync protocol section, up to the next heading as deep."""
    sync = DOC[DOC.index("\n## Sync protocol\n") :]
    depth = len(heading.split(" ", 1)[0])
    start = sync.index(f"\n{heading}\n") + len(heading) + 2
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{depth}}} ", sync[start:])]
    return sync[start : start + ends[0]] if ends else sync[start:]


def _table_rows(text: str) -> list[list[str]]:
    """The body rows of the markdown tables in `text`, cells stripped of spaces and backticks."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
    return [row for row in rows if row[0] not in ("Sender", "Key", "Constant", "Code")]


def test_the_state_table_in_the_doc_lists_exactly_the_transitions() -> None:
    rows = _table_rows(_sync_section("### State machine"))
    documented = [(Role(r[0]), State(r[1]), r[2], State(r[3])) for r in rows]
    assert len(documented) == len(set(documented))
    assert set(documented) == {(r, s, k, nxt) for (r, s, k), nxt in TRANSITIONS.items()}


def test_the_doc_names_every_state() -> None:
    states = _sync_section("### State machine")
    for state in State:
        assert f"**{state.value}**" in states


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_each_frame_table_in_the_doc_lists_exactly_the_keys_encode_writes(kind: str) -> None:
    name = type(SAMPLES[kind]).__name__
    rows = _table_rows(_sync_section(f"#### {name} (`{kind}`)"))
    body = msgpack.unpackb(encode(SAMPLES[kind]), raw=False, strict_map_key=False)
    assert [row[0] for row in rows] == list(body)


def test_the_limits_table_in_the_doc_gives_the_values_of_the_constants() -> None:
    rows = _table_rows(_sync_section("### Limits"))
    documented = {row[0]: int(row[1]) for row in rows}
    limits = [
        "MAX_FRAME_BYTES",
        "MAX_HELLO_BYTES",
        "MAX_CONTAINERS",
        "MAX_ENTRIES_PER_FRAME",
        "MAX_ENTRY_BYTES",
        "MAX_VECTOR_LOGS",
        "MAX_TEXT",
        "MAX_ADMISSION_CODE",
        "MAX_VERSIONS",
        "MAX_REQUEST_ID",
        "MAX_SEQ",
        "ID_BYTES",
        "CAPABILITY_BYTES",
        "CAPABILITY_HASH_BYTES",
        "KEY_BYTES",
        "SIGNATURE_BYTES",
        "KEY_RECORD_BYTES",
        "POSITION_BYTES",
        "TOKEN_BYTES",
    ]
    assert documented == {name: getattr(protocol, name) for name in limits}


def test_the_error_code_table_in_the_doc_lists_exactly_the_error_codes() -> None:
    rows = _table_rows(_sync_section("### Error codes"))
    assert sorted(row[0] for row in rows) == sorted(code.value for code in ErrorCode)


def test_the_frame_examples_in_the_doc_are_the_committed_vectors() -> None:
    examples = "".join(_sync_section("### Frame vectors").split())
    by_name = {case["name"]: case["frame"] for case in VALID_VECTORS}
    for name in ("ack", "hello"):
        assert f"```{by_name[name]}```" in examples, name
        assert f"{len(by_name[name]) // 2}bytes" in examples, name
    for case in VALID_VECTORS:
        assert f"`{case['name']}`" in examples, case["name"]
