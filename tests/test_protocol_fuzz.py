"""Fuzz and property tests for the sync protocol (sync/protocol.py), driven by hypothesis.

Whatever arrives, a `Connection` raises only the protocol's own errors, and its state follows
the table: the model in `expected_state` is the rule these tests hold the code to.
"""

from __future__ import annotations

from collections import deque
from typing import Any, get_args

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tend.sync.protocol import (
    CAPABILITY_BYTES,
    ID_BYTES,
    KEY_BYTES,
    KEY_RECORD_BYTES,
    MAX_ENTRIES_PER_FRAME,
    MAX_REQUEST_ID,
    MAX_SEQ,
    MAX_VERSIONS,
    POSITION_BYTES,
    SIGNATURE_BYTES,
    TOKEN_BYTES,
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
    Welcome,
    decode,
    encode,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAME_CLASSES = get_args(Frame)
ALL_TYPES = sorted(cls.TYPE for cls in FRAME_CLASSES)
OPEN_STATES = [State.START, State.HELLO, State.READY, State.SYNCING, State.LIVE]
REACHABLE = [(role, state) for role in Role for state in OPEN_STATES]


def other(role: Role) -> Role:
    return Role.RELAY if role is Role.DEVICE else Role.DEVICE


# The shortest way to each open state, sent by one end and received by the other.
PATH: list[tuple[Role, Frame]] = [
    (Role.DEVICE, Hello((2,), bytes(16), bytes(32))),
    (Role.RELAY, Welcome(2, {})),
    (Role.DEVICE, Pull({})),
    (Role.RELAY, CaughtUp({})),
]


def reach(role: Role, state: State) -> Connection:
    """A connection for `role` brought to `state` by real frames from a real peer."""
    ends = {Role.DEVICE: Connection(Role.DEVICE), Role.RELAY: Connection(Role.RELAY)}
    for sender, frame in PATH[: OPEN_STATES.index(state)]:
        ends[other(sender)].receive(ends[sender].send(frame))
    assert ends[role].state is state
    return ends[role]


def expected_state(sender: Role, state: State, frame: Frame) -> State | None:
    """Where a frame from `sender` takes a connection in `state`; None if it is not allowed."""
    if isinstance(frame, Error):
        return State.ERROR if frame.fatal else state
    return TRANSITIONS.get((sender, state, frame.TYPE))


def pack(body: Any) -> bytes:
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


# --- strategies -----------------------------------------------------------------------------------

ids = st.binary(min_size=ID_BYTES, max_size=ID_BYTES)
vectors = st.dictionaries(ids, st.integers(0, MAX_SEQ), max_size=4)
entry_lists = st.lists(st.binary(min_size=1, max_size=48), max_size=4).map(tuple)
blobs = st.binary(min_size=1, max_size=48)
keys = st.binary(min_size=KEY_BYTES, max_size=KEY_BYTES)
signatures = st.binary(min_size=SIGNATURE_BYTES, max_size=SIGNATURE_BYTES)
request_ids = st.integers(0, MAX_REQUEST_ID)
version_lists = st.lists(st.integers(1, 0xFFFF), max_size=MAX_VERSIONS).map(tuple)
codes = st.sampled_from([code.value for code in ErrorCode]) | st.text(max_size=24)


def _fixed_lists(size: int) -> st.SearchStrategy[tuple[bytes, ...]]:
    return st.lists(st.binary(min_size=size, max_size=size), max_size=4).map(tuple)


def _with_key_records(
    entries: tuple[bytes, ...],
) -> st.SearchStrategy[tuple[tuple[bytes, ...], tuple[bytes, ...]]]:
    """Entries and their key records, as Push and Entries carry them: none, or one each."""
    record = st.sampled_from([b""]) | st.binary(
        min_size=KEY_RECORD_BYTES, max_size=KEY_RECORD_BYTES
    )
    each = st.lists(record, min_size=len(entries), max_size=len(entries)).map(tuple)
    return st.tuples(st.just(entries), st.just(()) | each)


keyed_entry_lists = entry_lists.flatmap(_with_key_records)


FRAMES: dict[str, st.SearchStrategy[Frame]] = {
    "hello": st.builds(
        Hello,
        version_lists.filter(bool),
        ids,
        st.binary(min_size=CAPABILITY_BYTES, max_size=CAPABILITY_BYTES),
        st.booleans(),
    ),
    "welcome": st.builds(Welcome, st.integers(0, 1 << 16), vectors),
    "pull": st.builds(Pull, vectors),
    "entries": keyed_entry_lists.flatmap(
        lambda pair: st.builds(Entries, st.just(pair[0]), st.booleans(), st.just(pair[1]))
    ),
    "caught_up": st.builds(CaughtUp, vectors),
    "push": keyed_entry_lists.flatmap(
        lambda pair: st.builds(Push, request_ids, st.just(pair[0]), st.just(pair[1]))
    ),
    "ack": st.builds(Ack, request_ids, st.integers(0, MAX_ENTRIES_PER_FRAME)),
    "rotate": st.builds(Rotate, request_ids, blobs, signatures),
    "rekey": st.builds(Rekey, blobs, signatures),
    "repair": st.builds(Repair, request_ids, ids, keys, st.integers(1, MAX_SEQ), signatures),
    "fetch_keys": st.builds(FetchKeys, request_ids, _fixed_lists(POSITION_BYTES)),
    "keys": st.builds(Keys, request_ids, _fixed_lists(POSITION_BYTES + KEY_RECORD_BYTES)),
    "forget": st.builds(
        Forget,
        request_ids,
        ids,
        st.integers(1, MAX_SEQ),
        st.binary(min_size=TOKEN_BYTES, max_size=TOKEN_BYTES),
    ),
    "error": st.builds(Error, codes, st.text(max_size=40), st.none() | request_ids, version_lists),
}
frames = st.one_of(*FRAMES.values())

# msgpack values of every kind, with the numbers and sizes at the edges of the limits.
EDGES: list[Any] = [
    -1,
    0,
    1,
    255,
    256,
    257,
    0xFFFF,
    0x10000,
    MAX_SEQ,
    MAX_SEQ + 1,
    (1 << 64) - 1,
    -(1 << 63),
    True,
    False,
    None,
    0.5,
    "",
    b"",
    bytes(15),
    bytes(16),
    bytes(17),
    bytes(31),
    bytes(32),
    bytes(33),
    bytes(63),
    bytes(64),
    bytes(65),
    [],
    {},
    [b"x"],
    {bytes(16): 1},
]
packable_ints = st.integers(-(1 << 63), (1 << 64) - 1)
scalars = (
    st.none()
    | st.booleans()
    | packable_ints
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=40)
    | st.sampled_from(EDGES)
)
# Map keys of every kind msgpack writes, arrays included (Python packs a tuple as an array).
map_keys = (
    st.text(max_size=2)
    | st.binary(max_size=17)
    | packable_ints
    | st.lists(packable_ints, max_size=2).map(tuple)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(map_keys, inner, max_size=4),
    max_leaves=12,
)
KEYS = ["t", "v", "s", "c", "n", "h", "e", "l", "i", "m", "r", "g", "k", "f"]
frame_shaped = st.fixed_dictionaries(
    {"t": st.sampled_from(ALL_TYPES)}, optional={key: values for key in KEYS[1:]}
).map(pack)
hostile_bytes = st.binary(max_size=300) | values.map(pack) | frame_shaped


@st.composite
def mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    """`raw` with bits flipped, cut short, bytes inserted or deleted, or a field changed."""
    how = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "set", "drop", "retype"]))
    at = draw(st.integers(0, len(raw) - 1))
    if how == "flip":
        return raw[:at] + bytes([raw[at] ^ (1 << draw(st.integers(0, 7)))]) + raw[at + 1 :]
    if how == "truncate":
        return raw[:at]
    if how == "insert":
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    if how == "delete":
        return raw[:at] + raw[at + draw(st.integers(1, 8)) :]
    body = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    if how == "set":
        body[draw(st.sampled_from(KEYS) | st.text(max_size=2))] = draw(values)
    elif how == "drop":
        del body[draw(st.sampled_from(sorted(body)))]
    else:
        body["t"] = draw(st.sampled_from(ALL_TYPES) | st.text(max_size=10) | values)
    return pack(body)


# --- (a) arbitrary bytes in every open state ------------------------------------------------------


@FUZZ
@given(st.sampled_from(REACHABLE), hostile_bytes)
def test_arbitrary_bytes_received_in_any_open_state_raise_only_a_remote_protocol_error(
    at: tuple[Role, State], data: bytes
) -> None:
    role, state = at
    connection = reach(role, state)
    try:
        frame = connection.receive(data)
    except RemoteProtocolError as error:
        assert error.code in ErrorCode
        assert connection.state is State.ERROR
        return
    assert isinstance(frame, FRAME_CLASSES)
    assert connection.state is expected_state(other(role), state, frame)


# --- (b) mutated valid frames ---------------------------------------------------------------------


def assert_refused_or_stable(data: bytes) -> None:
    """Refused with a protocol error code, or a frame whose encoding decodes to itself."""
    try:
        frame = decode(data)
    except RemoteProtocolError as error:
        assert error.code in (ErrorCode.MALFORMED, ErrorCode.TOO_LARGE)
        return
    again = encode(frame)
    assert decode(again) == frame
    assert encode(decode(again)) == again


@FUZZ
@given(frames)
def test_every_valid_frame_round_trips_through_encode_and_decode(frame: Frame) -> None:
    data = encode(frame)
    assert decode(data) == frame
    assert encode(decode(data)) == data


@FUZZ
@given(frames, st.data())
def test_a_mutated_valid_frame_is_refused_or_decodes_to_a_frame_that_round_trips(
    frame: Frame, data: st.DataObject
) -> None:
    assert_refused_or_stable(data.draw(mutations(encode(frame))))


@FUZZ
@given(frame_shaped)
def test_a_map_of_random_fields_under_a_real_type_is_refused_or_round_trips(data: bytes) -> None:
    assert_refused_or_stable(data)


# --- (c) sequences of frames ----------------------------------------------------------------------


@FUZZ
@given(st.sampled_from(REACHABLE), st.lists(st.tuples(st.booleans(), frames), max_size=12))
def test_any_sequence_of_frames_moves_a_connection_exactly_as_the_table_says(
    at: tuple[Role, State], steps: list[tuple[bool, Frame]]
) -> None:
    role, state = at
    connection = reach(role, state)
    for outgoing, frame in steps:
        before = connection.state
        sender = role if outgoing else other(role)
        following = expected_state(sender, before, frame)
        try:
            if outgoing:
                assert connection.send(frame) == encode(frame)
            else:
                assert connection.receive(encode(frame)) == frame
        except LocalProtocolError:
            assert outgoing or before in (State.ERROR, State.CLOSED)
            assert before in (State.ERROR, State.CLOSED) or following is None
            # Refused while open: now in error. Refused because error or closed: unchanged.
            assert connection.state is (
                before if before in (State.ERROR, State.CLOSED) else State.ERROR
            )
        except RemoteProtocolError as error:
            assert not outgoing
            assert before not in (State.ERROR, State.CLOSED)
            assert following is None
            assert error.code is ErrorCode.UNEXPECTED
            assert connection.state is State.ERROR
        else:
            assert before not in (State.ERROR, State.CLOSED)
            assert connection.state is following
        assert connection.state in State


def _frame_for(data: st.DataObject, connection: Connection) -> Frame:
    """Mostly a frame this end may send now, sometimes any frame at all."""
    allowed = [k for (r, s, k) in TRANSITIONS if r is connection.role and s is connection.state]
    if allowed and data.draw(st.integers(0, 9)) < 8:
        kind = data.draw(st.sampled_from([*allowed, "error"]))
    else:
        kind = data.draw(st.sampled_from(ALL_TYPES))
    return data.draw(FRAMES[kind])


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_frames_in_flight_both_ways_are_accepted_in_order_and_both_ends_agree_at_the_end(
    data: st.DataObject,
) -> None:
    ends = {Role.DEVICE: Connection(Role.DEVICE), Role.RELAY: Connection(Role.RELAY)}
    # Bytes each end has sent that the other has not read yet, in order (one websocket).
    in_flight: dict[Role, deque[tuple[Frame, bytes]]] = {role: deque() for role in Role}
    misused = False
    actions = st.sampled_from(["send", "send", "deliver", "deliver", "deliver", "close"])
    for _ in range(data.draw(st.integers(1, 40))):
        action, role = data.draw(actions), data.draw(st.sampled_from(list(Role)))
        connection = ends[role]
        if action == "close" and data.draw(st.integers(0, 9)) == 0:
            connection.close()
            misused = True
        elif action == "send":
            frame = _frame_for(data, connection)
            try:
                in_flight[role].append((frame, connection.send(frame)))
            except LocalProtocolError:
                misused = True
                assert connection.state is State.ERROR or connection.state is State.CLOSED
        elif action == "deliver" and in_flight[other(role)]:
            frame, raw = in_flight[other(role)].popleft()
            if connection.state in (State.ERROR, State.CLOSED):
                try:
                    connection.receive(raw)
                except LocalProtocolError:
                    continue
                raise AssertionError("a connection in error or closed took a frame")
            # What one end may send, the other accepts, whatever is in flight the other way.
            assert connection.receive(raw) == frame
        assert all(end.state in State for end in ends.values())
    for role in Role:
        while in_flight[role] and ends[other(role)].state not in (State.ERROR, State.CLOSED):
            frame, raw = in_flight[role].popleft()
            assert ends[other(role)].receive(raw) == frame
    if not misused:
        # The ends agree, or both are finished: a fatal Error from the device crossed the
        # relay's Rekey on the wire, leaving one end in error and the other closed.
        states = {end.state for end in ends.values()}
        assert len(states) == 1 or states == {State.ERROR, State.CLOSED}
