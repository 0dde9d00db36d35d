"""Generate the byte-exact crypto test vectors: tests/vectors/envelope.json, entry.json,
identity.json and keyed.json.

    python tests/vectors/make_vectors.py

Everything is deterministic: keys, salts, roots, signing seeds, ephemeral X25519 secrets and
plaintexts are fixed below, and Ed25519 signatures are deterministic, so a second run writes
identical files. The committed JSON is the reference; tests/test_envelope_vectors.py,
tests/test_entry.py and tests/test_identity_vectors.py check that the code still reproduces it,
and that this script still writes exactly what is committed. Only rerun it on purpose, when a
format changes (and bump that format's version when you do).

All byte strings in the JSON are lowercase hex.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from tend.core.crypto import entry, envelope, keys
from tend.core.crypto.capability import hash_for
from tend.core.ids import LogId, PersonId, Seq, SpaceId, event_id_at
from tend.core.log import header, identity, rotation_record
from tend.core.log.header import log_id_of

HERE = Path(__file__).resolve().parent
ENVELOPE_FILE = HERE / "envelope.json"
ENTRY_FILE = HERE / "entry.json"
IDENTITY_FILE = HERE / "identity.json"
KEYED_FILE = HERE / "keyed.json"

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
SIGN_SEED = bytes(range(0x40, 0x60))  # the log key of the entry vectors (device "a" below)
OTHER_SIGN_SEED = bytes(range(0x60, 0x80))
LOG_KEY = keys.signing_public(SIGN_SEED)
LOG = log_id_of(LOG_KEY)
NOT_DERIVED_LOG = LogId(bytes(range(0x20, 0x30)))  # a log id no key owns
EPOCH_KEYS = {1: KEY, 2: OTHER_KEY}

ROOT = bytes(range(0xA0, 0xC0))  # the person's 32-byte root (their recovery phrase)
PARTNER_ROOT = bytes(range(0xC0, 0xE0))
UPTO = 3  # the last entry of the removed device that counts
EPOCH_KEY_CONTEXT = b"tend/epoch-key/v1"

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw


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
        ("version-1", KEY, AAD, bytes([1]) + base[1:]),
        ("version-3", KEY, AAD, bytes([3]) + base[1:]),
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
        "format": "tend envelope v2; see docs/protocol.md#envelope",
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


# --- log entries ------------------------------------------------------------------------------

# Offsets in the 77-byte header.
SPACE_AT, LOG_AT, SEQ_AT, EPOCH_AT, LINK_AT = 1, 17, 33, 41, 45


def _entry_case(name: str, head: entry.Header, event: bytes, epoch_key: bytes) -> dict[str, Any]:
    salt = _salt("entry/" + name)
    raw = entry.build(head, event, SIGN_SEED, epoch_key, salt=salt)
    return {
        "name": name,
        "space": head.space.hex(),
        "log": head.log.hex(),
        "seq": head.seq,
        "epoch": head.epoch,
        "link": head.link.hex(),
        "prev_hash": head.prev_hash.hex(),
        "event_id": event_id_at(head.log, head.seq).hex(),
        "event": event.hex(),
        "sign_seed": SIGN_SEED.hex(),
        "log_key": LOG_KEY.hex(),
        "key": epoch_key.hex(),
        "salt": salt.hex(),
        "header": head.encode().hex(),
        "envelope": header.sealed_part(raw).hex(),
        "signature": header.signature_of(raw).hex(),
        "entry": raw.hex(),
        "entry_hash": entry.entry_hash(raw).hex(),
    }


def _signed(unsigned: bytes, seed: bytes, label: bytes = header.SIGNED_PREFIX) -> bytes:
    return unsigned + keys.sign(seed, label + unsigned)


def build_entry_vectors() -> dict[str, Any]:
    first_head = entry.first_header(SPACE, LOG_KEY, 1)
    first = _entry_case("first-entry", first_head, b"tend test event: first", KEY)
    first_raw = bytes.fromhex(first["entry"])
    second_event = b"tend test event: second, after a key rotation"
    second_head = entry.next_header(SPACE, LOG, 2, 2, entry.entry_hash(first_raw))
    second = _entry_case("second-entry-new-epoch", second_head, second_event, OTHER_KEY)
    second_raw = bytes.fromhex(second["entry"])

    h = entry.HEADER_LEN
    sig_at = len(first_raw) - header.SIGNATURE_LEN
    # entry.build refuses to write such a header, so this one is sealed and signed by hand.
    bad_head = entry.Header(SPACE, NOT_DERIVED_LOG, Seq(1), 1, LOG_KEY).encode()
    unsigned = bad_head + envelope.seal(
        KEY, b"tend test event: first", bad_head, salt=_salt("entry/not-derived")
    )
    not_derived = unsigned + keys.sign(SIGN_SEED, header.SIGNED_PREFIX + unsigned)
    invalid: list[tuple[str, bytes, str]] = [
        # ChainError: Header.decode refuses the frame before any key is looked up.
        ("version-1", bytes([1]) + first_raw[1:], "ChainError"),
        ("version-3", _flip(first_raw, 0), "ChainError"),
        ("seq-1-log-id-not-derived-from-its-key", not_derived, "ChainError"),
        ("seq-1-flipped-log-id-byte", _flip(first_raw, LOG_AT), "ChainError"),
        ("seq-1-flipped-log-key-byte", _flip(first_raw, LINK_AT), "ChainError"),
        ("seq-1-flipped-last-log-key-byte", _flip(first_raw, h - 1), "ChainError"),
        ("seq-0", _flip(second_raw, EPOCH_AT - 1, 0x02), "ChainError"),
        ("seq-over-2-63-minus-1", _flip(second_raw, SEQ_AT, 0x80), "ChainError"),
        ("epoch-0", _flip(first_raw, LINK_AT - 1), "ChainError"),
        ("epoch-2-31", _flip(first_raw, EPOCH_AT, 0x80), "ChainError"),
        ("too-short", first_raw[: header.MIN_ENTRY - 1], "ChainError"),
        ("truncated-to-header", first_raw[:h], "ChainError"),
        ("empty", b"", "ChainError"),
        ("too-long", first_raw + bytes(header.MAX_ENTRY + 1 - len(first_raw)), "ChainError"),
        # InvalidEnvelope: a frame tend writes, but the envelope does not open under it.
        ("flipped-space-byte", _flip(first_raw, SPACE_AT), "InvalidEnvelope"),
        ("seq-2-flipped-log-id-byte", _flip(second_raw, LOG_AT), "InvalidEnvelope"),
        ("first-entry-seq-bumped-to-2", _flip(first_raw, EPOCH_AT - 1, 0x03), "InvalidEnvelope"),
        ("seq-2-bumped-to-3", _flip(second_raw, EPOCH_AT - 1), "InvalidEnvelope"),
        ("epoch-with-no-key", _flip(first_raw, LINK_AT - 1, 0x04), "InvalidEnvelope"),
        ("epoch-changed-to-one-with-a-key", _flip(first_raw, LINK_AT - 1, 0x03), "InvalidEnvelope"),
        ("flipped-prev-hash-byte", _flip(second_raw, LINK_AT), "InvalidEnvelope"),
        ("flipped-last-prev-hash-byte", _flip(second_raw, h - 1), "InvalidEnvelope"),
        ("flipped-envelope-version-byte", _flip(first_raw, h), "InvalidEnvelope"),
        ("flipped-ciphertext-byte", _flip(first_raw, h + envelope.OVERHEAD), "InvalidEnvelope"),
        ("flipped-last-tag-byte", _flip(first_raw, sig_at - 1), "InvalidEnvelope"),
        ("envelope-moved-under-another-header", second_raw[:h] + first_raw[h:], "InvalidEnvelope"),
        ("truncated-by-one-byte", first_raw[:-1], "InvalidEnvelope"),
        ("signature-missing", first_raw[:sig_at], "InvalidEnvelope"),
        ("one-byte-appended", first_raw + b"\x00", "InvalidEnvelope"),
    ]

    # Each of these opens (the envelope is sound under its header), but the log key did not sign
    # it. A space member holds the space key, so it can seal any event under any header; only
    # the signature tells it apart from what the log's own device wrote.
    first_unsigned, second_unsigned = first_raw[:sig_at], second_raw[: -header.SIGNATURE_LEN]
    forged_head = entry.Header(SPACE, LOG, Seq(7), 2, bytes(range(32))).encode()
    forged = (
        forged_head
        + envelope.seal(OTHER_KEY, second_event, forged_head, salt=_salt("entry/forged"))
        + header.signature_of(second_raw)
    )
    not_signed: list[tuple[str, bytes, bytes]] = [
        ("flipped-first-signature-byte", _flip(first_raw, sig_at), LOG_KEY),
        ("flipped-last-signature-byte", _flip(first_raw, len(first_raw) - 1, 0x80), LOG_KEY),
        ("first-entry-re-signed-by-another-key", _signed(first_unsigned, OTHER_SIGN_SEED), LOG_KEY),
        (
            "second-entry-re-signed-by-another-key",
            _signed(second_unsigned, OTHER_SIGN_SEED),
            LOG_KEY,
        ),
        (
            "signed-under-the-v1-label",
            _signed(first_unsigned, SIGN_SEED, b"tend/entry/v1"),
            LOG_KEY,
        ),
        ("signed-without-a-label", _signed(first_unsigned, SIGN_SEED, b""), LOG_KEY),
        (
            "signature-of-the-other-entry",
            second_unsigned + header.signature_of(first_raw),
            LOG_KEY,
        ),
        ("event-resealed-under-another-header-keeping-its-signature", forged, LOG_KEY),
        ("right-entry-wrong-public-key", first_raw, keys.signing_public(OTHER_SIGN_SEED)),
    ]
    return {
        "format": "tend log entry v2; see docs/protocol.md#log-entry",
        "generator": "tests/vectors/make_vectors.py",
        "log": {"sign_seed": SIGN_SEED.hex(), "log_key": LOG_KEY.hex(), "log_id": LOG.hex()},
        "epoch_keys": {str(epoch): key.hex() for epoch, key in EPOCH_KEYS.items()},
        "valid": [first, second],
        "invalid": [
            {"name": name, "entry": raw.hex(), "error": error} for name, raw, error in invalid
        ],
        "opens_but_not_signed_by": [
            {"name": name, "entry": raw.hex(), "public": public.hex()}
            for name, raw, public in not_signed
        ],
    }


# --- identities, cross-signing and key rotation -----------------------------------------------

# name -> (Ed25519 signing seed, X25519 secret) of each device in the identity vectors. Device
# "a" writes the log of the entry vectors; "b" is the person's other device, which "a" removes;
# "partner" is the partner's device; "recovered" is a device the person's recovery key brings in.
DEVICES: dict[str, tuple[bytes, bytes]] = {
    "a": (SIGN_SEED, _fixed("device/a/dh", 32)),
    "b": (_fixed("device/b/sign", 32), _fixed("device/b/dh", 32)),
    "partner": (_fixed("device/partner/sign", 32), _fixed("device/partner/dh", 32)),
    "recovered": (_fixed("device/recovered/sign", 32), _fixed("device/recovered/dh", 32)),
}
OTHER_SPACE = SpaceId(_fixed("other-space", 16))


def _person(root: bytes) -> dict[str, Any]:
    secrets = keys.PersonSecrets.from_root(root)
    who = secrets.identity()
    return {
        "root": root.hex(),
        "identity_seed": secrets.identity_seed.hex(),
        "recovery_seed": secrets.recovery_seed.hex(),
        "recovery_dh_secret": secrets.recovery_dh_secret.hex(),
        "private_key": secrets.private_key.hex(),
        "identity_public": who.sign_pub.hex(),
        "recovery_sign_public": who.recovery_sign_pub.hex(),
        "recovery_dh_public": who.recovery_dh_pub.hex(),
        "identity": who.encode().hex(),
        "person_id": who.person.hex(),
    }


def _device(name: str) -> dict[str, Any]:
    seed, dh = DEVICES[name]
    public = keys.signing_public(seed)
    return {
        "sign_seed": seed.hex(),
        "dh_secret": dh.hex(),
        "sign_public": public.hex(),
        "dh_public": keys.dh_public(dh).hex(),
        "log_id": log_id_of(public).hex(),
    }


def _pub(name: str) -> tuple[bytes, bytes]:
    seed, dh = DEVICES[name]
    return keys.signing_public(seed), keys.dh_public(dh)


def _cert(
    name: str, who: bytes, space: bytes, sign_pub: bytes, dh_pub: bytes, cert: bytes
) -> dict[str, Any]:
    return {
        "name": name,
        "identity": who.hex(),
        "space": space.hex(),
        "sign_public": sign_pub.hex(),
        "dh_public": dh_pub.hex(),
        "cert": cert.hex(),
    }


def _removal(
    name: str, who: bytes, space: bytes, device: bytes, upto: int, upto_hash: bytes, proof: bytes
) -> dict[str, Any]:
    return {
        "name": name,
        "identity": who.hex(),
        "space": space.hex(),
        "device": device.hex(),
        "upto": upto,
        "upto_hash": upto_hash.hex(),
        "proof": proof.hex(),
    }


def _seal_to(
    recipient_dh_public: bytes, plaintext: bytes, context: bytes, ephemeral: bytes, salt: bytes
) -> bytes:
    """keys.seal_to with its randomness fixed: the ephemeral X25519 secret and envelope salt."""
    secret = X25519PrivateKey.from_private_bytes(ephemeral)
    eph_pub = secret.public_key().public_bytes(_RAW, _RAW_PUB)
    shared = secret.exchange(X25519PublicKey.from_public_bytes(recipient_dh_public))
    key = keys.derive(shared, b"seal-to", salt=eph_pub + recipient_dh_public)
    return eph_pub + envelope.seal(key, plaintext, context, salt=salt)


def _record_body(record: rotation_record.RotationRecord) -> dict[str, Any]:
    return msgpack.unpackb(record.encode(), raw=False)  # type: ignore[no-any-return]


def _pack(body: object) -> bytes:
    out: bytes = msgpack.packb(body, use_bin_type=True)
    return out


def build_identity_vectors() -> dict[str, Any]:
    person, partner = _person(ROOT), _person(PARTNER_ROOT)
    mine, theirs = keys.PersonSecrets.from_root(ROOT), keys.PersonSecrets.from_root(PARTNER_ROOT)
    me, them = mine.identity().encode(), theirs.identity().encode()
    devices = {name: _device(name) for name in DEVICES}
    log_of = {name: log_id_of(_pub(name)[0]) for name in DEVICES}

    def certify(seed: bytes, device: str, space: bytes = SPACE) -> bytes:
        return keys.sign(seed, identity.cert_message(space, *_pub(device)))

    certs = [
        _cert("device-a", me, SPACE, *_pub("a"), certify(mine.identity_seed, "a")),
        _cert("device-b", me, SPACE, *_pub("b"), certify(mine.identity_seed, "b")),
        _cert(
            "partner-device",
            them,
            SPACE,
            *_pub("partner"),
            certify(theirs.identity_seed, "partner"),
        ),
    ]
    for case in certs:
        case["message"] = identity.cert_message(
            SPACE, bytes.fromhex(case["sign_public"]), bytes.fromhex(case["dh_public"])
        ).hex()

    upto_hash = _fixed("removal/upto-hash", 32)
    removal_message = identity.removal_message(SPACE, log_of["b"], UPTO, upto_hash)
    proof = keys.sign(mine.identity_seed, removal_message)
    removal = _removal("device-b-removed", me, SPACE, log_of["b"], UPTO, upto_hash, proof)
    removal["message"] = removal_message.hex()
    # The partner removing device "b" once its person was declared lost: signed by the partner,
    # under a label of its own, so it never reads as the person's own removal.
    mark = _fixed("lost/mark-event-id", 16)  # the person.lost the removal relies on
    lost_message = identity.lost_removal_message(SPACE, log_of["b"], UPTO, upto_hash, mark)
    lost_removal = _removal(
        "device-b-removed-by-the-partner-after-a-loss",
        them,
        SPACE,
        log_of["b"],
        UPTO,
        upto_hash,
        keys.sign(theirs.identity_seed, lost_message),
    )
    lost_removal["mark"] = mark.hex()
    lost_removal["message"] = lost_message.hex()

    recovery_message = identity.recovery_message(SPACE, *_pub("recovered"))
    recovery = _cert(
        "device-recovered",
        me,
        SPACE,
        *_pub("recovered"),
        keys.sign(mine.recovery_seed, recovery_message),
    )
    recovery["proof"] = recovery.pop("cert")
    recovery["message"] = recovery_message.hex()

    a_cert = certify(mine.identity_seed, "a")
    invalid_certs = [
        _cert("cert-for-another-space", me, OTHER_SPACE, *_pub("a"), a_cert),
        _cert("another-device-signing-key", me, SPACE, _pub("b")[0], _pub("a")[1], a_cert),
        _cert("another-device-x25519-key", me, SPACE, _pub("a")[0], _pub("b")[1], a_cert),
        _cert(
            "signed-by-the-partners-identity",
            me,
            SPACE,
            *_pub("a"),
            certify(theirs.identity_seed, "a"),
        ),
        _cert("checked-against-the-partners-identity", them, SPACE, *_pub("a"), a_cert),
        _cert(
            "signed-by-the-recovery-key", me, SPACE, *_pub("a"), certify(mine.recovery_seed, "a")
        ),
        _cert("signed-by-the-device-itself", me, SPACE, *_pub("a"), certify(SIGN_SEED, "a")),
        _cert(
            "recovery-proof-presented-as-a-cert",
            me,
            SPACE,
            *_pub("recovered"),
            keys.sign(mine.identity_seed, recovery_message),
        ),
        _cert("flipped-cert-byte", me, SPACE, *_pub("a"), _flip(a_cert, 0)),
    ]
    b = log_of["b"]
    invalid_removals = [
        _removal("removal-for-another-upto-seq", me, SPACE, b, UPTO + 1, upto_hash, proof),
        _removal("removal-for-another-upto-hash", me, SPACE, b, UPTO, _flip(upto_hash, 0), proof),
        _removal("removal-of-another-device", me, SPACE, log_of["a"], UPTO, upto_hash, proof),
        _removal("removal-in-another-space", me, OTHER_SPACE, b, UPTO, upto_hash, proof),
        _removal(
            "removal-signed-by-the-partners-identity",
            me,
            SPACE,
            b,
            UPTO,
            upto_hash,
            keys.sign(theirs.identity_seed, removal_message),
        ),
        _removal(
            "removal-signed-by-the-removed-device",
            me,
            SPACE,
            b,
            UPTO,
            upto_hash,
            keys.sign(DEVICES["b"][0], removal_message),
        ),
    ]
    invalid_recoveries = [
        _cert(
            "recovery-signed-by-the-identity-key",
            me,
            SPACE,
            *_pub("recovered"),
            keys.sign(mine.identity_seed, recovery_message),
        ),
        _cert(
            "recovery-proof-for-another-device",
            me,
            SPACE,
            *_pub("b"),
            keys.sign(mine.recovery_seed, recovery_message),
        ),
        _cert(
            "cert-presented-as-a-recovery-proof",
            me,
            SPACE,
            *_pub("a"),
            keys.sign(mine.recovery_seed, identity.cert_message(SPACE, *_pub("a"))),
        ),
    ]
    for case in invalid_recoveries:
        case["proof"] = case.pop("cert")

    # The rotation "a" makes when it removes "b": the epoch 2 key of the entry vectors, sealed to
    # "a" itself and to the partner's device.
    context = EPOCH_KEY_CONTEXT + SPACE + (2).to_bytes(4, "big")
    sealed: list[dict[str, Any]] = []
    for name in ("a", "partner"):
        ephemeral = _fixed(f"rotation/ephemeral/{name}", 32)
        salt = _salt(f"rotation/{name}")
        copy = _seal_to(_pub(name)[1], OTHER_KEY, context, ephemeral, salt)
        sealed.append(
            {
                "device": log_of[name].hex(),
                "dh_public": _pub(name)[1].hex(),
                "ephemeral_secret": ephemeral.hex(),
                "ephemeral_public": copy[:32].hex(),
                "salt": salt.hex(),
                "context": context.hex(),
                "key": OTHER_KEY.hex(),
                "sealed": copy.hex(),
            }
        )
    # And a copy for each person, sealed to the recovery X25519 key only their phrase derives.
    recovery_copies: list[dict[str, Any]] = []
    for who, holder in sorted(
        (("person", mine), ("partner", theirs)), key=lambda w: w[1].identity().person
    ):
        ephemeral = _fixed(f"rotation/recovery-ephemeral/{who}", 32)
        salt = _salt(f"rotation/recovery/{who}")
        public = holder.identity().recovery_dh_pub
        copy = _seal_to(public, OTHER_KEY, context, ephemeral, salt)
        recovery_copies.append(
            {
                "person": holder.identity().person.hex(),
                "recovery_dh_public": public.hex(),
                "ephemeral_secret": ephemeral.hex(),
                "salt": salt.hex(),
                "context": context.hex(),
                "key": OTHER_KEY.hex(),
                "sealed": copy.hex(),
            }
        )
    record_value = rotation_record.RotationRecord(
        space=SPACE,
        epoch=2,
        previous=hash_for(KEY),
        capability=hash_for(OTHER_KEY),
        sealed=tuple(
            (LogId(bytes.fromhex(s["device"])), bytes.fromhex(s["sealed"])) for s in sealed
        ),
        removed=(rotation_record.Removal(b, UPTO, upto_hash, proof),),
        signer=log_of["a"],
        recovery=tuple(
            (PersonId(bytes.fromhex(c["person"])), bytes.fromhex(c["sealed"]))
            for c in recovery_copies
        ),
    )
    record = record_value.encode()
    signature = keys.sign(SIGN_SEED, rotation_record.signing_input(record))
    rotation = {
        "space": SPACE.hex(),
        "epoch": 2,
        "previous": hash_for(KEY).hex(),
        "capability": hash_for(OTHER_KEY).hex(),
        "sealed": sealed,
        "removed": [
            {"device": b.hex(), "upto": UPTO, "upto_hash": upto_hash.hex(), "proof": proof.hex()}
        ],
        "signer": log_of["a"].hex(),
        "signer_public": LOG_KEY.hex(),
        "recovery": recovery_copies,
        "record": record.hex(),
        "signature": signature.hex(),
    }

    body = _record_body(record_value)

    def changed(**fields: object) -> bytes:
        return _pack({**body, **fields})

    sixty_five = [[_fixed(f"rotation/device/{i}", 16), b"\x01"] for i in range(65)]
    removal_row = body["x"][0]
    malformed: list[tuple[str, bytes]] = [
        ("extra-field", changed(z=1)),
        ("missing-field", _pack({k: v for k, v in body.items() if k != "w"})),
        ("space-of-15-bytes", changed(s=SPACE[:15])),
        ("capability-hash-of-31-bytes", changed(c=hash_for(OTHER_KEY)[:31])),
        ("signer-of-17-bytes", changed(w=log_of["a"] + b"\x00")),
        ("epoch-true", changed(e=True)),
        ("epoch-2-70-as-a-float", changed(e=float(2**70))),
        ("epoch-2-64-minus-1", changed(e=2**64 - 1)),
        ("epoch-2-31", changed(e=2**31)),
        ("epoch-1", changed(e=1)),
        ("epoch-as-text", changed(e="2")),
        ("sealed-list-with-65-devices", changed(k=sixty_five)),
        ("sealed-list-empty", changed(k=[])),
        ("sealed-key-empty", changed(k=[[log_of["a"], b""]])),
        ("sealed-key-of-513-bytes", changed(k=[[log_of["a"], bytes(513)]])),
        ("removal-proof-of-63-bytes", changed(x=[[*removal_row[:3], proof[:63]]])),
        ("removal-upto-negative", changed(x=[[removal_row[0], -1, *removal_row[2:]]])),
        ("removal-with-three-fields", changed(x=[removal_row[:3]])),
        ("recovery-copy-for-a-person-id-of-15-bytes", changed(h=[[bytes(15), b"\x01"]])),
        ("recovery-copies-missing", _pack({k: v for k, v in body.items() if k != "h"})),
        ("not-a-map", _pack(list(body.values()))),
        ("trailing-byte", record + b"\x00"),
        ("empty", b""),
    ]
    other_record = rotation_record.RotationRecord(
        space=SPACE,
        epoch=3,
        previous=record_value.previous,
        capability=record_value.capability,
        sealed=record_value.sealed,
        removed=record_value.removed,
        signer=record_value.signer,
        recovery=record_value.recovery,
    ).encode()
    device_a_public = keys.signing_public(SIGN_SEED)
    unsigned_records: list[tuple[str, bytes, bytes, bytes]] = [
        (
            "signature-by-another-key",
            record,
            keys.sign(OTHER_SIGN_SEED, rotation_record.signing_input(record)),
            device_a_public,
        ),
        (
            "signed-by-the-persons-identity-key",
            record,
            keys.sign(mine.identity_seed, rotation_record.signing_input(record)),
            device_a_public,
        ),
        ("signed-without-the-label", record, keys.sign(SIGN_SEED, record), device_a_public),
        ("checked-against-another-device", record, signature, _pub("partner")[0]),
        ("record-changed-after-signing", other_record, signature, device_a_public),
    ]
    return {
        "format": "tend identity v1; see docs/protocol.md#identity-and-cross-signing",
        "generator": "tests/vectors/make_vectors.py",
        "space": SPACE.hex(),
        "person": person,
        "partner": partner,
        "devices": devices,
        "certificates": certs,
        "removal": removal,
        "lost_removal": lost_removal,
        "recovery": recovery,
        "rotation": rotation,
        "invalid_certificates": invalid_certs,
        "invalid_removals": invalid_removals,
        "invalid_recoveries": invalid_recoveries,
        "malformed_rotation_records": [
            {"name": name, "record": raw.hex(), "error": "MalformedRecord"}
            for name, raw in malformed
        ],
        "rotation_records_not_signed_by": [
            {"name": name, "record": raw.hex(), "signature": sig.hex(), "public": public.hex()}
            for name, raw, sig, public in unsigned_records
        ],
    }


def build_keyed_vectors() -> dict[str, Any]:
    """An entry's words under its content key, its key record, and its forget token, computed
    here from the primitives as docs/protocol.md states them (not with core/crypto/shred.py)."""

    def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)

    zero = bytes(12)
    event_id = event_id_at(LOG, 2)
    content_key = _fixed("content-key", 32)
    words = _fixed("words", 40)  # stands for the event bytes of what a person wrote
    box = ChaCha20Poly1305(content_key).encrypt(zero, words, b"tend/keyed/v1" + SPACE + event_id)
    entry_hash = _fixed("entry-hash", 32)
    wrap_key = HKDFExpand(
        algorithm=hashes.SHA256(), length=32, info=b"tend/content-key/v2" + entry_hash
    ).derive(KEY)
    sidecar = ChaCha20Poly1305(wrap_key).encrypt(zero, content_key, b"")
    private_key = _fixed("private-key", 32)
    token = hkdf(private_key, event_id, b"tend/forget/v1")
    token_hash = hashlib.sha256(b"tend/forget/v1" + token).digest()
    outer = msgpack.packb(
        {
            "i": event_id,
            "a": _fixed("author", 16),
            "d": LOG,
            "h": 1 << 20,
            "w": 1_773_000_000_000,
            "l": "2026-03-14",
            "z": 60,
            "t": "keyed",
            "v": 1,
            "p": {"kind": "gratitude", "box": box},
        },
        use_bin_type=True,
    )
    return {
        "space": SPACE.hex(),
        "space_key": KEY.hex(),
        "event_id": event_id.hex(),
        "content_key": content_key.hex(),
        "words": words.hex(),
        "box": box.hex(),
        "entry_hash": entry_hash.hex(),
        "sidecar": sidecar.hex(),
        "private_key": private_key.hex(),
        "forget_token": token.hex(),
        "forget_token_hash": token_hash.hex(),
        "key_record": (sidecar + token_hash).hex(),
        "outer_event": outer.hex(),
        "invalid": [
            {"name": "sidecar-of-another-entry", "entry_hash": _fixed("other", 32).hex()},
            {"name": "flipped-sidecar-byte", "sidecar": _flip(sidecar, 7).hex()},
            {"name": "sidecar-under-another-epoch-key", "space_key": OTHER_KEY.hex()},
        ],
    }


def dump(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2) + "\n"


def main() -> None:
    ENVELOPE_FILE.write_text(dump(build_envelope_vectors()), encoding="utf-8")
    ENTRY_FILE.write_text(dump(build_entry_vectors()), encoding="utf-8")
    IDENTITY_FILE.write_text(dump(build_identity_vectors()), encoding="utf-8")
    KEYED_FILE.write_text(dump(build_keyed_vectors()), encoding="utf-8")
    names = ", ".join(f.name for f in (ENVELOPE_FILE, ENTRY_FILE, IDENTITY_FILE, KEYED_FILE))
    print(f"wrote {names} in {HERE}")


if __name__ == "__main__":
    main()
