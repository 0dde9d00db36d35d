"""The envelope format, pinned byte for byte by tests/vectors/envelope.json, plus padding rules."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import given
from hypothesis import strategies as st

from tend.core.crypto import envelope
from tend.core.errors import InvalidEnvelope

VECTORS = Path(__file__).parent / "vectors"
DATA: dict[str, Any] = json.loads((VECTORS / "envelope.json").read_text(encoding="utf-8"))
VALID: list[dict[str, Any]] = DATA["valid"]
INVALID: list[dict[str, Any]] = DATA["invalid"]


def _b(value: str) -> bytes:
    return bytes.fromhex(value)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [str(case["name"]) for case in cases]


# --- the committed vectors ------------------------------------------------------------------


def test_the_vectors_cover_every_padding_regime() -> None:
    sizes = {len(_b(case["plaintext"])) for case in VALID}
    assert {0, 1, 255, 256, 4095, 4096, 5000} <= sizes
    assert any(case["aad"] for case in VALID)
    assert any(not case["aad"] for case in VALID)
    padded = {case["padded_length"] for case in VALID}
    assert any(4096 < p <= 8192 for p in padded)  # Padme, still 256-byte steps
    assert any(p > 8192 for p in padded)  # Padme, 512-byte steps
    assert len(INVALID) >= 20


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_seal_reproduces_the_committed_envelope_exactly(case: dict[str, Any]) -> None:
    sealed = envelope.seal(
        _b(case["key"]), _b(case["plaintext"]), _b(case["aad"]), salt=_b(case["salt"])
    )
    assert sealed.hex() == case["envelope"]


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_a_committed_envelope_opens_to_its_plaintext(case: dict[str, Any]) -> None:
    opened = envelope.open_envelope(_b(case["key"]), _b(case["envelope"]), _b(case["aad"]))
    assert opened == _b(case["plaintext"])


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_the_envelope_layout_is_version_key_id_salt_commitment_ciphertext_tag(
    case: dict[str, Any],
) -> None:
    raw = _b(case["envelope"])
    assert raw[0] == 2
    assert raw[1:9] == _b(case["key_id"]) == envelope.key_id(_b(case["key"]))
    assert envelope.envelope_key_id(raw) == _b(case["key_id"])
    assert raw[9:41] == _b(case["salt"])
    # 1 + 8 + 32 prefix, 32 commitment, padded ciphertext, 16 tag: only the bucket shows.
    assert len(raw) == 41 + 32 + case["padded_length"] + 16
    assert case["padded_length"] == envelope.padded_length(len(_b(case["plaintext"])) + 1)


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_hkdf_expand_sha512_of_key_and_salt_gives_the_cipher_key_and_commitment(
    case: dict[str, Any],
) -> None:
    okm = HKDFExpand(
        algorithm=hashes.SHA512(), length=64, info=b"tend/envelope/v2" + _b(case["salt"])
    ).derive(_b(case["key"]))
    assert okm.hex() == case["enc_key"] + case["commitment"]
    assert case["nonce"] == "00" * 12  # the cipher key is this envelope's alone
    raw, plaintext = _b(case["envelope"]), _b(case["plaintext"])
    assert raw[41:73] == _b(case["commitment"])
    padded = ChaCha20Poly1305(_b(case["enc_key"])).decrypt(
        _b(case["nonce"]), raw[73:], raw[:41] + _b(case["aad"])
    )
    assert len(padded) == case["padded_length"]
    assert padded == plaintext + b"\x80" + bytes(len(padded) - len(plaintext) - 1)


def test_the_key_id_is_blake2b_of_the_key_with_the_tend_personalisation() -> None:
    key = _b(VALID[0]["key"])
    expected = hashlib.blake2b(key, digest_size=8, person=b"tend-key-id").digest()
    assert envelope.key_id(key) == expected


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_every_invalid_vector_is_refused_with_invalid_envelope(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidEnvelope):
        envelope.open_envelope(_b(case["key"]), _b(case["envelope"]), _b(case["aad"]))


def test_every_refusal_looks_the_same_so_there_is_no_oracle() -> None:
    seen: set[tuple[type[BaseException], str]] = set()
    for case in INVALID:
        try:
            envelope.open_envelope(_b(case["key"]), _b(case["envelope"]), _b(case["aad"]))
        except Exception as e:
            seen.add((type(e), str(e)))
        else:
            pytest.fail(f"{case['name']} opened")
    assert seen == {(InvalidEnvelope, "envelope could not be opened")}


def test_the_padding_vectors_fail_in_unpad_not_in_the_aead() -> None:
    # Otherwise they would only repeat the tamper cases and never exercise the marker check.
    by_name = {case["name"]: case for case in INVALID}
    names = ["padding-marker-missing", "padding-all-zeros", "padding-marker-not-last-nonzero"]
    for name in names:
        case = by_name[name]
        raw, key, aad = _b(case["envelope"]), _b(case["key"]), _b(case["aad"])
        enc_key, nonce, _commitment = envelope._derive(key, raw[9:41])
        padded = ChaCha20Poly1305(enc_key).decrypt(nonce, raw[73:], raw[:41] + aad)
        assert len(padded) == 256
        with pytest.raises(InvalidEnvelope):
            envelope.unpad(padded)


def test_the_committed_json_is_what_make_vectors_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dump(module.build_envelope_vectors()) == (VECTORS / "envelope.json").read_text(
        encoding="utf-8"
    )
    assert module.dump(module.build_entry_vectors()) == (VECTORS / "entry.json").read_text(
        encoding="utf-8"
    )
    assert module.dump(module.build_identity_vectors()) == (VECTORS / "identity.json").read_text(
        encoding="utf-8"
    )


def test_the_envelope_vector_in_docs_protocol_md_is_the_committed_one() -> None:
    doc = "".join(
        (VECTORS.parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8").split()
    )
    case = next(c for c in VALID if c["name"] == "one-byte")
    for field in ("envelope", "key", "key_id", "salt", "aad", "enc_key", "nonce", "commitment"):
        assert case[field] in doc, field


def test_the_uses_of_the_envelope_in_docs_protocol_md_name_the_contexts_the_code_seals_with() -> (
    None
):
    from tend.core.crypto import keystore
    from tend.core.journal import mapper
    from tend.core.trust import pairing, recovery, rotation
    from tend.core.views import read_model

    doc = (VECTORS.parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    uses = doc.split("### Uses of the envelope", 1)[1].split("\n## ", 1)[0]
    for context in (
        mapper._PRIVATE_AAD,
        rotation._CONTEXT,
        pairing._BUNDLE,
        pairing._REPLY,
        keystore._AAD,
        read_model._AAD,
        recovery._ESCROW_CONTEXT,
        b"tend/seal-to",
    ):
        assert f'"{context.decode()}"' in uses, context
    assert "77-byte header" in uses


# --- behaviour around the vectors -------------------------------------------------------------


def test_two_seals_of_the_same_plaintext_differ_because_the_salt_is_fresh() -> None:
    key = _b(VALID[0]["key"])
    first, second = envelope.seal(key, b"same"), envelope.seal(key, b"same")
    assert first != second
    assert first[9:41] != second[9:41]
    assert envelope.open_envelope(key, first) == envelope.open_envelope(key, second) == b"same"


def test_seal_refuses_a_key_that_is_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        envelope.seal(bytes(31), b"x")


def test_seal_refuses_a_salt_that_is_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="salt"):
        envelope.seal(bytes(32), b"x", salt=bytes(16))


def test_seal_refuses_plaintext_over_the_limit() -> None:
    with pytest.raises(ValueError, match="too large"):
        envelope.seal(bytes(32), bytes(101), limit=100)
    assert envelope.open_envelope(
        bytes(32), envelope.seal(bytes(32), bytes(100), limit=100), limit=100
    ) == bytes(100)


def test_open_refuses_an_envelope_longer_than_its_limit_allows() -> None:
    key = bytes(32)
    big = envelope.seal(key, bytes(5000))
    assert envelope.open_envelope(key, big) == bytes(5000)
    with pytest.raises(InvalidEnvelope):
        envelope.open_envelope(key, big, limit=1000)


def test_open_refuses_a_key_that_is_not_32_bytes() -> None:
    case = VALID[0]
    with pytest.raises(InvalidEnvelope):
        envelope.open_envelope(_b(case["key"])[:31], _b(case["envelope"]), _b(case["aad"]))


def test_envelope_key_id_refuses_short_or_unknown_version_input() -> None:
    raw = _b(VALID[0]["envelope"])
    with pytest.raises(InvalidEnvelope):
        envelope.envelope_key_id(raw[: envelope.OVERHEAD - 1])
    with pytest.raises(InvalidEnvelope):
        envelope.envelope_key_id(bytes([3]) + raw[1:])


# --- padding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "bucket"),
    [
        (0, 256),
        (1, 256),
        (256, 256),
        (257, 512),
        (4095, 4096),
        (4096, 4096),
        (4097, 4352),
        (5001, 5120),
        (8192, 8192),
        (8193, 8704),
        (9001, 9216),
    ],
)
def test_padded_length_buckets_are_256_byte_steps_then_padme(n: int, bucket: int) -> None:
    assert envelope.padded_length(n) == bucket


@given(st.binary(max_size=10_000))
def test_pad_then_unpad_round_trips_any_bytes(data: bytes) -> None:
    padded = envelope.pad(data)
    assert len(padded) == envelope.padded_length(len(data) + 1)
    assert envelope.unpad(padded) == data


@given(st.binary(max_size=64).map(lambda b: b + b"\x80" + bytes(3)))
def test_content_that_looks_like_padding_still_round_trips(data: bytes) -> None:
    assert envelope.unpad(envelope.pad(data)) == data


@given(st.integers(min_value=0, max_value=1 << 21), st.integers(min_value=0, max_value=1 << 21))
def test_padded_length_is_monotone(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert envelope.padded_length(low) <= envelope.padded_length(high)


@given(st.integers(min_value=0, max_value=1 << 21))
def test_padded_length_is_never_below_n(n: int) -> None:
    assert envelope.padded_length(n) >= n


@given(st.integers(min_value=0, max_value=4096))
def test_padded_length_is_a_multiple_of_256_up_to_4096(n: int) -> None:
    p = envelope.padded_length(n)
    assert p % 256 == 0
    assert 256 <= p <= 4096
    assert p - n < 256 or n == 0


@given(st.integers(min_value=4097, max_value=1 << 21))
def test_padme_above_4096_costs_less_than_a_sixteenth(n: int) -> None:
    assert envelope.padded_length(n) - n < n / 16


@given(st.integers(min_value=0, max_value=1 << 21))
def test_a_bucket_size_is_its_own_bucket(n: int) -> None:
    p = envelope.padded_length(n)
    assert envelope.padded_length(p) == p


@given(st.binary(max_size=300))
def test_unpad_refuses_anything_without_a_final_marker(data: bytes) -> None:
    body = data.rstrip(b"\x00")
    if body.endswith(b"\x80"):
        assert envelope.unpad(data) == body[:-1]
    else:
        with pytest.raises(InvalidEnvelope):
            envelope.unpad(data)
