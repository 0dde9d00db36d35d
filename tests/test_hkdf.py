"""core/crypto/hkdf.py gives exactly what `cryptography`'s HKDF gives."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from tend.core.crypto import hkdf


def _reference(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


@pytest.mark.parametrize("length", [1, 31, 32, 33, 76, 64, 255, 8160])
def test_same_bytes_as_the_reference(length: int) -> None:
    for _ in range(5):
        ikm, salt, info = os.urandom(32), os.urandom(32), os.urandom(19)
        assert hkdf.derive(ikm, salt, info, length) == _reference(ikm, salt, info, length)


def test_empty_salt_is_the_zero_salt() -> None:
    ikm = os.urandom(32)
    assert hkdf.derive(ikm, b"", b"i", 32) == _reference(ikm, None, b"i", 32)


def test_rfc5869_case_1() -> None:
    okm = hkdf.derive(
        bytes.fromhex("0b" * 22), bytes.fromhex("000102030405060708090a0b0c"),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42,
    )  # fmt: skip
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


@pytest.mark.parametrize("length", [0, 8161])
def test_lengths_out_of_range(length: int) -> None:
    with pytest.raises(ValueError):
        hkdf.derive(b"k", b"s", b"i", length)


@pytest.mark.parametrize(("hash_name", "algorithm", "length"), [
    ("sha256", hashes.SHA256(), 32), ("sha256", hashes.SHA256(), 1),
    ("sha512", hashes.SHA512(), 64), ("sha512", hashes.SHA512(), 33),
])  # fmt: skip
def test_expand_is_hkdf_expand_of_the_reference(
    hash_name: str, algorithm: hashes.HashAlgorithm, length: int
) -> None:
    for _ in range(5):
        prk, info = os.urandom(32), os.urandom(40)
        expected = HKDFExpand(algorithm=algorithm, length=length, info=info).derive(prk)
        assert hkdf.expand(prk, info, length, hash_name) == expected


@pytest.mark.parametrize(("hash_name", "length", "prk_len"), [
    ("sha256", 33, 32), ("sha512", 65, 32), ("sha256", 0, 32), ("sha512", 64, 16),
])  # fmt: skip
def test_expand_refuses_more_than_one_block_or_a_short_key(
    hash_name: str, length: int, prk_len: int
) -> None:
    with pytest.raises(ValueError):
        hkdf.expand(bytes(prk_len), b"i", length, hash_name)
