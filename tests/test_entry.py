"""Log entries, format v2: byte-exact vectors (tests/vectors/entry.json), tamper refusal, and the
log key's signature over header and envelope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tend.core.crypto import entry, envelope, keys
from tend.core.errors import ChainError, InvalidEnvelope
from tend.core.ids import LogId, Seq, SpaceId, event_id_at
from tend.core.log import authorship, header

DATA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "entry.json").read_text(encoding="utf-8")
)
VALID: list[dict[str, Any]] = DATA["valid"]
INVALID: list[dict[str, Any]] = DATA["invalid"]
UNSIGNED: list[dict[str, Any]] = DATA["opens_but_not_signed_by"]
EPOCH_KEYS: dict[int, bytes] = {int(e): bytes.fromhex(k) for e, k in DATA["epoch_keys"].items()}
ERRORS: dict[str, type[Exception]] = {"InvalidEnvelope": InvalidEnvelope, "ChainError": ChainError}

FIRST = bytes.fromhex(VALID[0]["entry"])
SECOND = bytes.fromhex(VALID[1]["entry"])
KEY = EPOCH_KEYS[1]
SEED = bytes.fromhex(DATA["log"]["sign_seed"])
PUBLIC = keys.signing_public(SEED)
LOG = header.log_id_of(PUBLIC)
# Offsets in the header: version, space, log, seq, epoch, link.
LOG_AT, SEQ_AT, EPOCH_AT, LINK_AT = 17, 33, 41, 45


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
        _b(case["link"]),
    )


def _flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


def _any_epoch(key: bytes) -> Any:
    return lambda _epoch: key


# --- the committed vectors ------------------------------------------------------------------


def test_the_log_of_the_vectors_owns_its_id_through_its_key() -> None:
    log = DATA["log"]
    assert _b(log["log_key"]) == PUBLIC
    assert _b(log["log_id"]) == LOG == header.log_id_of(PUBLIC)
    assert all(_b(case["log"]) == LOG and _b(case["log_key"]) == PUBLIC for case in VALID)


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_build_reproduces_the_committed_entry_exactly(case: dict[str, Any]) -> None:
    head = _header(case)
    assert head.encode().hex() == case["header"]
    assert head.prev_hash.hex() == case["prev_hash"]
    raw = entry.build(
        head, _b(case["event"]), _b(case["sign_seed"]), _b(case["key"]), salt=_b(case["salt"])
    )
    assert raw.hex() == case["entry"]
    assert entry.entry_hash(raw).hex() == case["entry_hash"]
    assert event_id_at(head.log, head.seq).hex() == case["event_id"]


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_the_entry_layout_is_header_then_envelope_then_signature(case: dict[str, Any]) -> None:
    raw, head, sealed = _b(case["entry"]), _b(case["header"]), _b(case["envelope"])
    assert len(head) == entry.HEADER_LEN == 77
    assert raw == head + sealed + _b(case["signature"])
    assert len(_b(case["signature"])) == header.SIGNATURE_LEN == 64
    # The envelope is exactly the event sealed under the epoch key, with the header as context:
    # no inner framing around the event bytes.
    assert envelope.seal(_b(case["key"]), _b(case["event"]), head, salt=_b(case["salt"])) == sealed
    assert envelope.open_envelope(_b(case["key"]), sealed, head) == _b(case["event"])
    message = b"tend/entry/v2" + head + sealed
    assert keys.sign(_b(case["sign_seed"]), message).hex() == case["signature"]
    assert authorship.verify(_b(case["log_key"]), message, _b(case["signature"]))


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_a_committed_entry_opens_to_its_event_signed_by_its_log_key(case: dict[str, Any]) -> None:
    opened = entry.open_entry(_b(case["entry"]), EPOCH_KEYS.get)
    assert opened.header == _header(case)
    assert opened.event == _b(case["event"])
    assert opened.raw == _b(case["entry"])
    assert opened.signed_by(_b(case["log_key"]))
    assert authorship.written_by(_b(case["log_key"]), _b(case["entry"]))


def test_the_first_entry_carries_the_log_key_and_the_second_the_hash_before_it() -> None:
    first, second = VALID
    assert (first["seq"], first["epoch"], second["seq"], second["epoch"]) == (1, 1, 2, 2)
    assert _b(first["link"]) == PUBLIC
    assert _b(first["prev_hash"]) == entry.GENESIS == bytes(32)
    assert entry.Header.decode(FIRST).log_key == PUBLIC
    assert second["link"] == second["prev_hash"] == first["entry_hash"]
    assert entry.Header.decode(SECOND).log_key is None
    assert entry.entry_hash(FIRST) == _b(first["entry_hash"])


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_every_invalid_entry_vector_is_refused_with_its_error(case: dict[str, Any]) -> None:
    with pytest.raises(ERRORS[case["error"]]):
        entry.open_entry(_b(case["entry"]), EPOCH_KEYS.get)


def test_the_invalid_vectors_cover_each_refusal_of_the_frame() -> None:
    names = set(_ids(INVALID))
    for name in (
        "seq-1-log-id-not-derived-from-its-key",
        "version-1",
        "seq-0",
        "epoch-0",
        "too-short",
        "too-long",
        "envelope-moved-under-another-header",
    ):
        assert name in names
    assert len(_b(next(c for c in INVALID if c["name"] == "too-long")["entry"])) > entry.MAX_ENTRY


@pytest.mark.parametrize("case", UNSIGNED, ids=_ids(UNSIGNED))
def test_an_entry_that_opens_is_still_not_signed_by_the_log_key(case: dict[str, Any]) -> None:
    opened = entry.open_entry(_b(case["entry"]), EPOCH_KEYS.get)
    assert not opened.signed_by(_b(case["public"]))
    assert not authorship.written_by(_b(case["public"]), _b(case["entry"]))


def test_an_event_resealed_under_another_header_opens_but_its_signature_does_not_follow() -> None:
    # A space member holds the space key and can reseal; only the signature notices.
    name = "event-resealed-under-another-header-keeping-its-signature"
    forged = _b(next(c for c in UNSIGNED if c["name"] == name)["entry"])
    opened = entry.open_entry(forged, EPOCH_KEYS.get)
    assert opened.event == _b(VALID[1]["event"])
    assert header.signature_of(forged) == _b(VALID[1]["signature"])
    assert not opened.signed_by(PUBLIC)


def test_the_entry_vector_in_docs_protocol_md_is_the_committed_one() -> None:
    doc = "".join(
        (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8").split()
    )
    case = VALID[0]
    for field in (
        "entry",
        "header",
        "signature",
        "entry_hash",
        "log_key",
        "log",
        "event_id",
        "salt",
        "event",
        "sign_seed",
    ):
        assert case[field] in doc, field


# --- tampering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [FIRST, SECOND], ids=["first", "second"])
@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_any_flipped_byte_anywhere_in_an_entry_is_refused(raw: bytes, mask: int) -> None:
    # Refused by decoding or opening, or else by the log key's signature (the signature bytes
    # themselves are covered by nothing else).
    accepted = []
    for index in range(len(raw)):
        tampered = _flip(raw, index, mask)
        try:
            opened = entry.open_entry(tampered, EPOCH_KEYS.get)
        except (InvalidEnvelope, ChainError):
            continue
        if opened.signed_by(PUBLIC):
            accepted.append(index)
        assert index >= len(raw) - header.SIGNATURE_LEN, index
    assert accepted == []


@pytest.mark.parametrize(
    "index",
    [*range(SEQ_AT, SEQ_AT + 8), *range(EPOCH_AT, EPOCH_AT + 3), *range(LINK_AT, entry.HEADER_LEN)],
)
def test_a_flipped_link_seq_or_epoch_byte_fails_the_aead_because_the_header_is_its_aad(
    index: int,
) -> None:
    # On seq 2 these flips leave a header tend writes (seq and epoch stay in range, the link is
    # a prev hash), and the opener hands over the right key for any epoch: only the AEAD notices.
    tampered = _flip(SECOND, index)
    decoded = entry.Header.decode(tampered)
    assert decoded != entry.Header.decode(SECOND)
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(tampered, _any_epoch(EPOCH_KEYS[2]))


@pytest.mark.parametrize("index", range(SEQ_AT, SEQ_AT + 7))
def test_a_flipped_seq_byte_of_a_first_entry_fails_the_aead(index: int) -> None:
    # Bytes 0-6 of seq 1 are zero: a flip leaves seq > 1, where the link is read as a prev hash
    # and no key-derived log id is asked for, so the header passes and only the AEAD can notice.
    tampered = _flip(FIRST, index)
    assert entry.Header.decode(tampered).seq > 1
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(tampered, EPOCH_KEYS.get)


@pytest.mark.parametrize("index", [*range(LOG_AT, SEQ_AT), *range(LINK_AT, entry.HEADER_LEN)])
def test_a_first_header_whose_log_id_is_not_derived_from_its_key_is_refused(index: int) -> None:
    with pytest.raises(ChainError, match="the log id is not the one its key owns"):
        entry.Header.decode(_flip(FIRST, index))


def test_a_first_entry_under_a_log_id_no_key_owns_is_refused_even_when_well_signed() -> None:
    case = next(c for c in INVALID if c["name"] == "seq-1-log-id-not-derived-from-its-key")
    raw = _b(case["entry"])
    assert raw[LINK_AT : entry.HEADER_LEN] == PUBLIC
    assert raw[LOG_AT:SEQ_AT] != LOG
    assert authorship.written_by(PUBLIC, raw)  # signed by the key it carries: still refused
    with pytest.raises(ChainError, match="the log id is not the one its key owns"):
        entry.Header.decode(raw)


def test_an_entry_for_an_epoch_without_a_key_is_refused() -> None:
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(FIRST, {2: EPOCH_KEYS[2]}.get)


def test_an_entry_opened_with_the_wrong_key_for_its_epoch_is_refused() -> None:
    with pytest.raises(InvalidEnvelope):
        entry.open_entry(FIRST, {1: EPOCH_KEYS[2]}.get)


# --- signatures -----------------------------------------------------------------------------


def test_signed_by_is_true_only_for_the_log_key() -> None:
    opened = entry.open_entry(FIRST, EPOCH_KEYS.get)
    assert opened.signed_by(PUBLIC)
    assert not opened.signed_by(keys.signing_public(keys.new_signing_seed()))
    assert not opened.signed_by(b"")
    assert not opened.signed_by(PUBLIC[:31])


@pytest.mark.parametrize("raw", [FIRST, SECOND], ids=["first", "second"])
def test_the_signature_covers_the_header_and_the_envelope(raw: bytes) -> None:
    signature = header.signature_of(raw)
    unsigned = raw[: -header.SIGNATURE_LEN]
    assert authorship.written_by(PUBLIC, unsigned + signature)
    for index in range(len(unsigned)):
        moved = _flip(unsigned, index) + signature
        assert not authorship.written_by(PUBLIC, moved), index


def test_a_signature_is_bound_to_the_entry_v2_label() -> None:
    assert header.SIGNED_PREFIX == b"tend/entry/v2"
    signature, unsigned = header.signature_of(FIRST), FIRST[: -header.SIGNATURE_LEN]
    assert header.signed_message(FIRST) == b"tend/entry/v2" + unsigned
    assert keys.verify(PUBLIC, b"tend/entry/v2" + unsigned, signature)
    assert not keys.verify(PUBLIC, unsigned, signature)
    assert not keys.verify(PUBLIC, b"tend/entry/v1" + unsigned, signature)


def test_the_relay_side_helpers_cut_the_entry_at_its_fixed_offsets() -> None:
    case = VALID[0]
    assert header.sealed_part(FIRST) == _b(case["envelope"])
    assert header.signature_of(FIRST) == _b(case["signature"])


# --- building -------------------------------------------------------------------------------


def test_build_then_open_round_trips_with_random_salt() -> None:
    head = entry.next_header(SpaceId(bytes(16)), LOG, 3, 1, bytes([9]) * 32)
    raw = entry.build(head, b"an event", SEED, KEY)
    assert raw != entry.build(head, b"an event", SEED, KEY)  # a fresh salt each time
    opened = entry.open_entry(raw, EPOCH_KEYS.get)
    assert (opened.header, opened.event) == (head, b"an event")
    assert opened.signed_by(PUBLIC)


def test_first_header_derives_the_log_id_from_the_key_it_carries() -> None:
    head = entry.first_header(SpaceId(bytes(16)), PUBLIC, 1)
    assert (head.log, head.seq, head.link, head.log_key) == (LOG, 1, PUBLIC, PUBLIC)
    assert head.prev_hash == entry.GENESIS


def test_build_refuses_an_event_too_large_for_one_entry() -> None:
    head = entry.first_header(SpaceId(bytes(16)), PUBLIC, 1)
    assert len(entry.build(head, bytes(60_000), SEED, KEY)) <= entry.MAX_ENTRY
    with pytest.raises(entry.EntryTooLarge, match="too large"):
        entry.build(head, bytes(64_000), SEED, KEY)
    with pytest.raises(ValueError, match="too large"):
        entry.build(head, bytes(entry.MAX_ENTRY), SEED, KEY)


# --- the header -----------------------------------------------------------------------------


def _raw_header(version: int = 2, seq: int = 2, epoch: int = 1) -> bytes:
    return entry.Header(SpaceId(bytes(16)), LOG, Seq(seq), epoch, bytes(32), version).encode()


FILL = bytes(header.MIN_ENTRY - header.HEADER_LEN)


def test_the_entry_size_limits() -> None:
    assert header.MIN_ENTRY == 77 + 89 + 64
    assert header.MAX_ENTRY == 65_536


def test_header_decode_rejects_input_too_short_to_hold_an_envelope_and_a_signature() -> None:
    assert entry.Header.decode(_raw_header() + FILL).seq == 2
    for size in (0, 1, entry.HEADER_LEN - 1, entry.HEADER_LEN, header.MIN_ENTRY - 1):
        with pytest.raises(ChainError, match="impossible size"):
            entry.Header.decode((_raw_header() + FILL)[:size])


def test_header_decode_rejects_input_over_the_entry_limit() -> None:
    at_limit = _raw_header() + bytes(entry.MAX_ENTRY - entry.HEADER_LEN)
    assert entry.Header.decode(at_limit).seq == 2
    with pytest.raises(ChainError, match="impossible size"):
        entry.Header.decode(at_limit + b"\x00")


def test_header_decode_rejects_what_is_not_bytes() -> None:
    with pytest.raises(ChainError, match="impossible size"):
        entry.Header.decode(bytearray(_raw_header() + FILL))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "seq", "epoch"),
    [
        (0, 2, 1),
        (1, 2, 1),
        (3, 2, 1),
        (255, 2, 1),
        (2, 0, 1),
        (2, 1 << 63, 1),
        (2, 2, 0),
        (2, 2, 1 << 31),
        (2, 2, (1 << 32) - 1),
    ],
)
def test_header_decode_rejects_an_unknown_version_seq_0_or_an_epoch_out_of_range(
    version: int, seq: int, epoch: int
) -> None:
    with pytest.raises(ChainError, match="not one tend writes"):
        entry.Header.decode(_raw_header(version, seq, epoch) + FILL)


def test_header_decode_accepts_the_extremes_of_seq_and_epoch() -> None:
    last = entry.Header.decode(_raw_header(seq=header.MAX_SEQ, epoch=header.MAX_EPOCH - 1) + FILL)
    assert (last.seq, last.epoch) == ((1 << 63) - 1, (1 << 31) - 1)


@st.composite
def _headers(draw: st.DrawFn) -> entry.Header:
    space = SpaceId(draw(st.binary(min_size=16, max_size=16)))
    seq = draw(st.one_of(st.just(1), st.integers(min_value=1, max_value=header.MAX_SEQ)))
    epoch = draw(st.integers(min_value=1, max_value=header.MAX_EPOCH - 1))
    link = draw(st.binary(min_size=32, max_size=32))
    log = header.log_id_of(link) if seq == 1 else LogId(draw(st.binary(min_size=16, max_size=16)))
    return entry.Header(space, log, Seq(seq), epoch, link)


@given(_headers())
def test_a_header_round_trips_through_its_77_bytes(head: entry.Header) -> None:
    raw = head.encode()
    assert len(raw) == entry.HEADER_LEN == 77
    assert entry.Header.decode(raw + FILL) == head


def test_the_relay_side_header_minimum_matches_the_envelope_overhead() -> None:
    assert header.MIN_SEALED == envelope.OVERHEAD
