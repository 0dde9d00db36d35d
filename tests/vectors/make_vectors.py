"""Generate the byte-exact crypto test vectors: tests/vectors/envelope.json and entry.json.

    python tests/vectors/make_vectors.py

Everything is deterministic: keys, salts, signing seeds and plaintexts are fixed below, and
Ed25519 signatures are deterministic, so a second run writes identical files. The committed JSON
is the reference; tests/test_envelope_vectors.py and tests/test_entry.py check that the code
still reproduces it, and that this script still writes exactly what is committed. Only rerun it
on purpose, when the wire format changes (and bump the format version when you do).

All byte strings in the JSON are lowercase hex.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tend.core import entry, envelope, keys
from tend.core.ids import LogId, Seq, SpaceId

HERE = Path(__file__).resolve().parent
ENVELOPE_FILE = HERE / "envelope.json"
ENTRY_FILE = HERE / "entry.json"

KEY = bytes(range(0x00, 0x20))  # 000102...1f
OTHER_KEY = bytes(range(0xE0, 0x100))  # e0e1e2...ff
AAD = b"tend/test-vector/aad"

# (name, plaintext length, with aad?). The lengths straddle the padding buckets: the 256-byte
# steps up to 4 KiB, and Padme above it (256-byte steps to 8 KiB, 512-byte steps beyond).
VALID_SIZES: list[tuple[str, int, bool]] = [
    ("empty", 0, False),
    ("empty-with-aad", 0, True),
    ("one-byte", 1, True),
    ("255-bytes-fills-first-bucket", 255, False),
    ("256-bytes-needs-second-bucket", 256, True),
    ("4095-bytes-fills-last-linear-bucket", 4095, False),
    ("4096-bytes-first-padme-bucket", 4096, True),
    ("5000-bytes-padme", 5000, False),
    ("9000-bytes-padme-512-step", 9000, True),
]

SPACE = SpaceId(bytes(range(0x10, 0x20)))
LOG = LogId(bytes(range(0x20, 0x30)))
SIGN_SEED = bytes(range(0x40, 0x60))
OTHER_SIGN_SEED = bytes(range(0x60, 0x80))
EPOCH_KEYS = {1: KEY, 2: OTHER_KEY}


def _fixed(label: str, n: int) -> bytes:
    """n reproducible pseudo-random bytes named by `label`."""
    return hashlib.shake_256(b"tend/test-vector/" + label.encode()).digest(n)


def _salt(name: str) -> bytes:
    return _fixed("salt/" + name, envelope.SALT_LEN)


def _flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


def _seal_raw_padded(key: bytes, padded: bytes, aad: bytes, salt: bytes) -> bytes:
    """Seal `padded` as is, skipping pad(): for envelopes whose padding is malformed."""
    prefix = bytes([envelope.VERSION]) + envelope.key_id(key) + salt
    enc_key, nonce, commitment = envelope._derive(key, salt)
    return prefix + commitment + ChaCha20Poly1305(enc_key).encrypt(nonce, padded, prefix + aad)


def _plaintext(name: str, n: int) -> bytes:
    return b"x" if n == 1 else _fixed("plaintext/" + name, n)


def build_envelope_vectors() -> dict[str, Any]:
    valid: list[dict[str, Any]] = []
    for name, n, with_aad in VALID_SIZES:
        plaintext = _plaintext(name, n)
        valid.append(_valid_envelope(name, plaintext, AAD if with_aad else b""))
    # Content that itself ends like padding must still round-trip.
    valid.append(_valid_envelope("content-ending-in-marker-and-zeros", b"note\x80\x00\x00", AAD))

    base_plaintext = b"We walked to the pond today."
    base = envelope.seal(KEY, base_plaintext, AAD, salt=_salt("invalid-base"))
    cipher_at = envelope.PREFIX_LEN + envelope.COMMIT_LEN
    prefix = bytes([envelope.VERSION]) + envelope.key_id(KEY)
    no_marker = base_plaintext + bytes(256 - len(base_plaintext))
    invalid: list[tuple[str, bytes, bytes, bytes]] = [
        # (name, key, aad, envelope)
        ("wrong-key", OTHER_KEY, AAD, base),
        ("flipped-version-byte", KEY, AAD, _flip(base, 0)),
        ("version-2", KEY, AAD, bytes([2]) + base[1:]),
        ("flipped-key-id-byte", KEY, AAD, _flip(base, 1)),
        ("flipped-salt-byte", KEY, AAD, _flip(base, 1 + envelope.KEY_ID_LEN)),
        ("flipped-commitment-byte", KEY, AAD, _flip(base, envelope.PREFIX_LEN)),
        ("flipped-first-ciphertext-byte", KEY, AAD, _flip(base, cipher_at)),
        ("flipped-last-ciphertext-byte", KEY, AAD, _flip(base, len(base) - envelope.TAG_LEN - 1)),
        ("flipped-first-tag-byte", KEY, AAD, _flip(base, len(base) - envelope.TAG_LEN)),
        ("flipped-last-tag-byte", KEY, AAD, _flip(base, len(base) - 1, 0x80)),
        ("wrong-aad", KEY, AAD + b"!", base),
        ("aad-missing", KEY, b"", base),
        ("truncated-by-one-byte", KEY, AAD, base[:-1]),
        ("truncated-tag", KEY, AAD, base[: -envelope.TAG_LEN]),
        ("truncated-to-overhead", KEY, AAD, base[: envelope.OVERHEAD]),
        ("truncated-to-prefix", KEY, AAD, base[: envelope.PREFIX_LEN]),
        ("one-byte-appended", KEY, AAD, base + b"\x00"),
        ("empty", KEY, AAD, b""),
        (
            "commitment-from-another-salt",
            KEY,
            AAD,
            prefix + _salt("other") + base[envelope.PREFIX_LEN :],
        ),
        (
            "padding-marker-missing",
            KEY,
            AAD,
            _seal_raw_padded(KEY, no_marker, AAD, _salt("no-marker")),
        ),
        ("padding-all-zeros", KEY, AAD, _seal_raw_padded(KEY, bytes(256), AAD, _salt("all-zeros"))),
        (
            "padding-marker-not-last-nonzero",
            KEY,
            AAD,
            _seal_raw_padded(KEY, b"\x80" + bytes(254) + b"\x01", AAD, _salt("marker-early")),
        ),
    ]
    return {
        "format": "tend envelope v1; see docs/protocol.md#envelope",
        "generator": "tests/vectors/make_vectors.py",
        "valid": valid,
        "invalid": [
            {"name": name, "key": k.hex(), "aad": aad.hex(), "envelope": env.hex()}
            for name, k, aad, env in invalid
        ],
    }


def _valid_envelope(name: str, plaintext: bytes, aad: bytes) -> dict[str, Any]:
    salt = _salt(name)
    sealed = envelope.seal(KEY, plaintext, aad, salt=salt)
    enc_key, nonce, commitment = envelope._derive(KEY, salt)
    return {
        "name": name,
        "key": KEY.hex(),
        "key_id": envelope.key_id(KEY).hex(),
        "salt": salt.hex(),
        "enc_key": enc_key.hex(),
        "nonce": nonce.hex(),
        "commitment": commitment.hex(),
        "aad": aad.hex(),
        "plaintext": plaintext.hex(),
        "padded_length": envelope.padded_length(len(plaintext) + 1),
        "envelope": sealed.hex(),
    }


def _entry_case(name: str, header: entry.Header, event: bytes, epoch_key: bytes) -> dict[str, Any]:
    salt = _salt("entry/" + name)
    head = header.encode()
    signature = keys.sign(SIGN_SEED, b"tend/entry/v1" + head + event)
    raw = entry.build(header, event, SIGN_SEED, epoch_key, salt=salt)
    return {
        "name": name,
        "space": header.space.hex(),
        "log": header.log.hex(),
        "seq": header.seq,
        "epoch": header.epoch,
        "prev_hash": header.prev_hash.hex(),
        "event": event.hex(),
        "sign_seed": SIGN_SEED.hex(),
        "sign_public": keys.signing_public(SIGN_SEED).hex(),
        "key": epoch_key.hex(),
        "salt": salt.hex(),
        "header": head.hex(),
        "signature": signature.hex(),
        "inner": msgpack.packb([event, signature], use_bin_type=True).hex(),
        "entry": raw.hex(),
        "entry_hash": entry.entry_hash(raw).hex(),
    }


def build_entry_vectors() -> dict[str, Any]:
    first_header = entry.Header(SPACE, LOG, Seq(1), 1, entry.GENESIS)
    first = _entry_case("first-entry", first_header, b"tend test event: first", KEY)
    first_raw = bytes.fromhex(first["entry"])
    second_header = entry.Header(SPACE, LOG, Seq(2), 2, entry.entry_hash(first_raw))
    second = _entry_case(
        "second-entry-new-epoch",
        second_header,
        b"tend test event: second, after a key rotation",
        OTHER_KEY,
    )
    second_raw = bytes.fromhex(second["entry"])

    h = entry.HEADER_LEN
    seq_at = 1 + 16 + 16
    epoch_at = seq_at + 8
    prev_at = epoch_at + 4
    invalid: list[tuple[str, bytes, str]] = [
        ("flipped-version-byte", _flip(first_raw, 0), "ChainError"),
        ("flipped-space-byte", _flip(first_raw, 1), "InvalidEnvelope"),
        ("flipped-log-byte", _flip(first_raw, 1 + 16), "InvalidEnvelope"),
        ("flipped-high-seq-byte", _flip(first_raw, seq_at, 0x80), "InvalidEnvelope"),
        ("seq-bumped-to-2", _flip(first_raw, epoch_at - 1, 0x03), "InvalidEnvelope"),
        ("seq-zeroed", _flip(first_raw, epoch_at - 1, 0x01), "ChainError"),
        ("epoch-with-no-key", _flip(first_raw, prev_at - 1, 0x04), "InvalidEnvelope"),
        ("epoch-changed-to-one-with-a-key", _flip(first_raw, prev_at - 1, 0x03), "InvalidEnvelope"),
        ("flipped-prev-hash-byte", _flip(first_raw, prev_at), "InvalidEnvelope"),
        ("flipped-last-prev-hash-byte", _flip(first_raw, h - 1), "InvalidEnvelope"),
        ("flipped-envelope-byte", _flip(first_raw, h + envelope.OVERHEAD), "InvalidEnvelope"),
        ("flipped-tag-byte", _flip(first_raw, len(first_raw) - 1), "InvalidEnvelope"),
        ("header-of-another-entry", second_raw[:h] + first_raw[h:], "InvalidEnvelope"),
        ("truncated-by-one-byte", first_raw[:-1], "InvalidEnvelope"),
        ("truncated-to-header", first_raw[:h], "ChainError"),
        ("empty", b"", "ChainError"),
    ]

    # A space member holds the space key, so it can reseal someone's signed event under a header
    # of its choosing. The envelope then opens, but the signature no longer matches.
    inner = bytes.fromhex(first["inner"])
    forged_head = entry.Header(SPACE, LOG, Seq(7), 1, bytes(range(32))).encode()
    forged = forged_head + envelope.seal(KEY, inner, forged_head, salt=_salt("entry/forged"))
    unsigned = [
        {
            "name": "right-entry-wrong-public-key",
            "entry": first_raw.hex(),
            "public": keys.signing_public(OTHER_SIGN_SEED).hex(),
        },
        {
            "name": "signed-event-resealed-under-another-header",
            "entry": forged.hex(),
            "public": keys.signing_public(SIGN_SEED).hex(),
        },
    ]
    return {
        "format": "tend log entry v1; see docs/protocol.md#log-entry",
        "generator": "tests/vectors/make_vectors.py",
        "epoch_keys": {str(epoch): key.hex() for epoch, key in EPOCH_KEYS.items()},
        "valid": [first, second],
        "invalid": [
            {"name": name, "entry": raw.hex(), "error": error} for name, raw, error in invalid
        ],
        "opens_but_not_signed_by": unsigned,
    }


def dump(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2) + "\n"


def main() -> None:
    ENVELOPE_FILE.write_text(dump(build_envelope_vectors()), encoding="utf-8")
    ENTRY_FILE.write_text(dump(build_entry_vectors()), encoding="utf-8")
    print(f"wrote {ENVELOPE_FILE.name} and {ENTRY_FILE.name} in {HERE}")


if __name__ == "__main__":
    main()
