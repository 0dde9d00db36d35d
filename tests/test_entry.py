"""Log entries: byte-exact vectors (tests/vectors/entry.json), tamper refusal, signatures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tend.core import entry, envelope, keys
from tend.core.errors import ChainError, InvalidEnvelope
from tend.core.ids import LogId, Seq, SpaceId

DATA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "entry.json").read_text(encoding="utf-8")
)
VALID: list[dict[str, Any]] = DATA["valid"]
INVALID: list[dict[str, Any]] = DATA["invalid"]
UNSIGNED: list[dict[str, Any]] = DATA["opens_but_not_signed_by"]
EPOCH_KEYS: dict[int, bytes] = {int(e): bytes.fromhex(k) for e, k in DATA["epoch_keys"].items()}
ERRORS: dict[str, type[Exception]] = {"InvalidEnvelope": InvalidEnvelope, "ChainError": ChainError}

FIRST = bytes.fromhex(VALID[0]["entry"])
KEY = EPOCH_KEYS[1]
SEED = bytes.fromhex(VALID[0]["sign_seed"])
PUBLIC = keys.signing_public(SEED)
SEQ_AT = 1 + 16 + 16  # version, space, log
PREV_AT = SEQ_AT + 8 + 4  # seq, epoch


def _b(value: str) -> bytes:
    return bytes.fromhex(value)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [str(case["name"]) for case in cases]


def _header(case: dict[str, Any]) -> entry.Header:
    return entry.Header(
        SpaceId(_b(case["space"])),
        LogId(_b(case["log"])),
        Seq(case["seq"]),
        case["epoch"],
        _b(case["prev_hash"]),
    )


def _flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


# --- the committed vectors ------------------------------------------------------------------


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_build_reproduces_the_committed_entry_exactly(case: dict[str, Any]) -> None:
    header = _header(case)
    assert header.encode().hex() == case["header"]
    raw = entry.build(
        header, _b(case["event"]), _b(case["sign_seed"]), _b(case["key"]), salt=_b(case["salt"])
    )
    assert raw.hex() == case["entry"]
    assert entry.entry_hash(raw).hex() == case["entry_hash"]


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_the_entry_layout_is_header_then_an_envelope_of_event_and_signature(
    case: dict[str, Any],
) -> None:
    raw, header = _b(case["entry"]), _b(case["header"])
    assert len(header) == entry.HEADER_LEN == 77
    assert raw[:77] == header
    inner = envelope.open_envelope(_b(case["key"]), raw[77:], header)
    assert inner.hex() == case["inner"]
    assert msgpack.unpackb(inner) == [_b(case["event"]), _b(case["signature"])]
    message = b"tend/entry/v1" + header + _b(case["event"])
    assert keys.verify(_b(case["sign_public"]), message, _b(case["signature"]))
    assert keys.sign(_b(case["sign_seed"]), message).hex() == case["signature"]


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_a_committed_entry_opens_to_its_event_signed_by_its_device(case: dict[str, Any]) -> None:
    opened = entry.open_entry(_b(case["entry"]), EPOCH_KEYS.get)
    assert opened.header == _header(case)
    assert opened.event == _b(case["event"])
    assert opened.signature == _b(case["signature"])
    assert opened.signed_by(_b(case["sign_public"]))


def test_the_vector_chain_links_each_entry_to_the_hash_of_the_one_before() -> None:
    first, second = VALID
    assert first["seq"] == 1
    assert _b(first["prev_hash"]) == entry.GENESIS == bytes(32)
    assert second["seq"] == 2
    assert second["prev_hash"] == first["entry_hash"]
    assert entry.entry_hash(FIRST) == _b(first["entry_hash"])


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_every_invalid_entry_vector_is_refused_with_its_error(case: dict[str, Any]) -> None:
    with pytest.raises(ERRORS[case["error"]]):
        entry.open_entry(_b(case["entry"]), EPOCH_KEYS.get)


@pytest.mark.parametrize("case", UNSIGNED, ids=_ids(UNSIGNED))
def test_an_entry_that_opens_is_still_not_signed_by_the_wrong_device(case: dict[str, Any]) -> None:
    opened = entry.open_entry(_b(case["entry"]), EPOCH_KEYS.get)
    assert not opened.signed_by(_b(case["public"]))


def test_a_signed_event_resealed_under_another_header_is_not_signed_by_anyone() -> None:
    # A space member can reseal; only the signature notices. Check against the real signer.
    forged = next(c for c in UNSIGNED if c["name"] == "signed-event-resealed-under-another-header")
    opened = entry.open_entry(_b(forged["entry"]), EPOCH_KEYS.get)
    assert opened.event == _b(VALID[0]["event"])
    assert _b(forged["public"]) == PUBLIC
    assert not opened.signed_by(PUBLIC)


def test_the_entry_vector_in_docs_protocol_md_is_the_committed_one() -> None:
    doc = "".join(
        (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8").split()
    )
    case = VALID[0]
    for field in ("entry", "inner", "signature", "entry_hash", "sign_public", "salt", "event"):
        assert case[field] in doc, field


# --- tampering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_any_flipped_byte_anywhere_in_an_entry_is_refused(mask: int) -> None:
    opened_anyway = []
    for index in range(len(FIRST)):
        try:
            entry.open_entry(_flip(FIRST, index, mask), EPOCH_KEYS.get)
        except (InvalidEnvelope, ChainError):
            continue
        opened_anyway.append(index)
    assert opened_anyway == []


@pytest.mark.parametrize("index", range(PREV_AT, entry.HEADER_LEN))
def test_a_flipped_prev_hash_byte_fails_the_aead_because_the_header_is_its_aad(index: int) -> None:
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(_flip(FIRST, index), EPOCH_KEYS.get)


@pytest.mark.parametrize("index", range(SEQ_AT, SEQ_AT + 7))
def test_a_flipped_seq_byte_fails_the_aead_because_the_header_is_its_aad(index: int) -> None:
    # Bytes 0-6 of seq 1 are zero, so a flip leaves seq >= 1: the header check passes and
    # only the AEAD can notice.
    tampered = _flip(FIRST, index)
    assert entry.Header.decode(tampered).seq > 1
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(tampered, EPOCH_KEYS.get)


def test_an_entry_for_an_epoch_without_a_key_is_refused() -> None:
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(FIRST, {2: EPOCH_KEYS[2]}.get)


def test_an_entry_opened_with_the_wrong_key_for_its_epoch_is_refused() -> None:
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(FIRST, {1: EPOCH_KEYS[2]}.get)


@pytest.mark.parametrize(
    "inner",
    [
        msgpack.packb([1, 2]),
        msgpack.packb([b"event"]),
        msgpack.packb([b"event", b"sig", b"extra"]),
        msgpack.packb({b"event": b"sig"}),
        msgpack.packb(["event", "text is not bytes"]),
        msgpack.packb(7),
        msgpack.packb([b"event", b"sig"]) + b"\x00",
        b"\xc1",
        b"",
    ],
    ids=[
        "ints",
        "one-item",
        "three-items",
        "map",
        "strings",
        "int",
        "trailing-byte",
        "reserved-byte",
        "empty",
    ],
)
def test_a_well_sealed_entry_with_a_malformed_inside_is_refused(inner: bytes) -> None:
    # A space member holds the key and can seal anything; the inside is still checked.
    head = entry.Header(SpaceId(bytes(16)), LogId(bytes(16)), Seq(1), 1, entry.GENESIS).encode()
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(head + envelope.seal(KEY, inner, head), EPOCH_KEYS.get)


# --- signatures -----------------------------------------------------------------------------


def test_signed_by_is_true_only_for_the_signing_device() -> None:
    opened = entry.open_entry(FIRST, EPOCH_KEYS.get)
    assert opened.signed_by(PUBLIC)
    assert not opened.signed_by(keys.signing_public(keys.new_signing_seed()))
    assert not opened.signed_by(b"")


def test_the_signature_covers_the_header() -> None:
    opened = entry.open_entry(FIRST, EPOCH_KEYS.get)
    h = opened.header
    for other in (
        entry.Header(h.space, h.log, Seq(h.seq + 1), h.epoch, h.prev_hash),
        entry.Header(h.space, h.log, h.seq, h.epoch + 1, h.prev_hash),
        entry.Header(h.space, h.log, h.seq, h.epoch, bytes([1]) * 32),
        entry.Header(h.space, LogId(bytes(16)), h.seq, h.epoch, h.prev_hash),
        entry.Header(SpaceId(bytes(16)), h.log, h.seq, h.epoch, h.prev_hash),
    ):
        assert not entry.Opened(other, opened.event, opened.signature).signed_by(PUBLIC)


def test_the_signature_covers_the_event() -> None:
    opened = entry.open_entry(FIRST, EPOCH_KEYS.get)
    moved = entry.Opened(opened.header, opened.event + b" ", opened.signature)
    assert not moved.signed_by(PUBLIC)


def test_a_signature_is_bound_to_the_entry_context_string() -> None:
    opened = entry.open_entry(FIRST, EPOCH_KEYS.get)
    bare = opened.header.encode() + opened.event
    assert not keys.verify(PUBLIC, bare, opened.signature)
    assert keys.verify(PUBLIC, b"tend/entry/v1" + bare, opened.signature)


# --- building -------------------------------------------------------------------------------


def test_build_then_open_round_trips_with_random_salt() -> None:
    header = entry.Header(SpaceId(bytes(16)), LogId(bytes(16)), Seq(3), 1, bytes([9]) * 32)
    raw = entry.build(header, b"an event", SEED, KEY)
    assert raw != entry.build(header, b"an event", SEED, KEY)  # a fresh salt each time
    opened = entry.open_entry(raw, EPOCH_KEYS.get)
    assert (opened.header, opened.event) == (header, b"an event")
    assert opened.signed_by(PUBLIC)


def test_build_refuses_an_event_too_large_for_one_entry() -> None:
    header = entry.Header(SpaceId(bytes(16)), LogId(bytes(16)), Seq(1), 1, entry.GENESIS)
    assert len(entry.build(header, bytes(60_000), SEED, KEY)) <= entry.MAX_ENTRY
    with pytest.raises(ValueError, match="too large"):
        entry.build(header, bytes(entry.MAX_ENTRY), SEED, KEY)


# --- the header -----------------------------------------------------------------------------


def _raw_header(version: int = 1, seq: int = 1) -> bytes:
    return entry.Header(
        SpaceId(bytes(16)), LogId(bytes(16)), Seq(seq), 1, entry.GENESIS, version
    ).encode()


def test_header_decode_rejects_input_too_short_to_hold_an_envelope() -> None:
    shortest = entry.HEADER_LEN + envelope.OVERHEAD
    assert entry.Header.decode(_raw_header() + bytes(envelope.OVERHEAD)).seq == 1
    for size in (0, 1, entry.HEADER_LEN - 1, entry.HEADER_LEN, shortest - 1):
        with pytest.raises(ChainError, match="impossible size"):
            entry.Header.decode((_raw_header() + bytes(shortest))[:size])


def test_header_decode_rejects_input_over_the_entry_limit() -> None:
    at_limit = _raw_header() + bytes(entry.MAX_ENTRY - entry.HEADER_LEN)
    assert entry.Header.decode(at_limit).seq == 1
    with pytest.raises(ChainError, match="impossible size"):
        entry.Header.decode(at_limit + b"\x00")


@pytest.mark.parametrize(("version", "seq"), [(0, 1), (2, 1), (255, 1), (1, 0)])
def test_header_decode_rejects_an_unknown_version_or_seq_zero(version: int, seq: int) -> None:
    with pytest.raises(ChainError, match="not one tend writes"):
        entry.Header.decode(_raw_header(version, seq) + bytes(envelope.OVERHEAD))


@given(
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=16, max_size=16),
    st.integers(min_value=1, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_a_header_round_trips_through_its_77_bytes(
    space: bytes, log: bytes, seq: int, epoch: int, prev: bytes
) -> None:
    header = entry.Header(SpaceId(space), LogId(log), Seq(seq), epoch, prev)
    raw = header.encode()
    assert len(raw) == entry.HEADER_LEN
    assert entry.Header.decode(raw + bytes(envelope.OVERHEAD)) == header


def test_the_relay_side_header_minimum_matches_the_envelope_overhead() -> None:
    from tend.core import envelope, header

    assert header.MIN_SEALED == envelope.OVERHEAD
