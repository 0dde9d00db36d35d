"""Generate the byte-exact sync frame vectors: tests/vectors/frames.json.

    python tests/vectors/make_frame_vectors.py

The valid frames are written here straight from the wire format (docs/protocol.md, "Frames"):
each is a msgpack map packed by hand with the keys in the documented order, not produced by
`tend.sync.protocol.encode`, so tests/test_protocol.py checks the code against an independent
statement of the bytes. The invalid frames carry the error code the spec requires, written by
hand too (nothing here calls the decoder). Everything is fixed, so a second run writes identical
bytes; rerun it only when the wire format changes on purpose.

Frames too big to commit as hex (over 4 MiB, an entry over 64 KiB, a vector of 4,097 logs) are
tested in tests/test_protocol.py instead.

The rotation record, the repair and their signatures are real: a fixed Ed25519 seed (the
`cryptography` package, not tend's code) gives a log key, its log id is derived from it as
core/log/header.py says, and the signatures cover exactly what docs/protocol.md says they cover, so
a test can check tend's verifiers against them. The sealed key in the record is a stand-in.

All byte strings in the JSON are lowercase hex; in "fields", version vectors are objects from a
hex log id to its seq, and absent optional values are null.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = Path(__file__).resolve().parent
FRAMES_FILE = HERE / "frames.json"

SPACE = bytes(range(0x10, 0x20))
CAPABILITY = bytes(range(0x40, 0x60))
NEW_CAPABILITY = bytes(range(0x60, 0x80))
LOG_A = bytes(range(0x20, 0x30))
LOG_B = bytes(range(0x30, 0x40))
ENTRY_1 = b"opaque entry 1"
ENTRY_2 = b"opaque entry 2"
ENTRY_3 = b"opaque entry 3"
CAPABILITY_HASH = hashlib.sha256(CAPABILITY).digest()
ADMISSION_CODE = "k7q2-mx4p-9dzt-w3cf"  # an operator's one-time code, as `tend relay codes new`
NEW_HASH = hashlib.sha256(NEW_CAPABILITY).digest()

# A log key from a fixed seed, and the log id it owns: SHA-256("tend/log-id/v1" | key)[:16].
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(0xC0, 0xE0)))
LOG_KEY = SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
LOG_C = hashlib.sha256(b"tend/log-id/v1" + LOG_KEY).digest()[:16]


def _pack(body: Any) -> bytes:
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


# A rotation record as docs/protocol.md and core/log/rotation_record.py describe it, keys in that
# order: log C moves the space from CAPABILITY to NEW_CAPABILITY at epoch 2, keeps itself and
# log A (each with a stand-in sealed key), removes log B up to its seq 3, and leaves one
# person's recovery copy (a stand-in too).
RECORD = _pack(
    {
        "s": SPACE,
        "e": 2,
        "p": CAPABILITY_HASH,
        "c": NEW_HASH,
        "k": [[LOG_C, bytes(range(0x80, 0xD0))], [LOG_A, bytes(80)]],
        "x": [[LOG_B, 3, bytes(range(0xE0, 0x100)), bytes(64)]],
        "w": LOG_C,
        "h": [[bytes(range(0x30, 0x40)), bytes(80)]],
    }
)
RECORD_SIGNATURE = SIGNER.sign(b"tend/rotation/v1" + RECORD)
REPAIR_FROM = 4
# Repair signs "tend/repair/v1" | space | log | from seq as a u64, big-endian.
REPAIR_SIGNATURE = SIGNER.sign(b"tend/repair/v1" + SPACE + LOG_C + REPAIR_FROM.to_bytes(8, "big"))
# A key record is a sidecar (48 bytes) and the hash of a forget token (32); a position is a log
# id and a seq as a u64, big-endian (core/log/forgetting.py, sync/protocol.py).
KEY_RECORD = bytes(range(0x80, 0xB0)) + bytes(range(0xB0, 0xD0))
POSITION_A3 = LOG_A + (3).to_bytes(8, "big")
TOKEN = bytes(range(0xA0, 0xC0))


def _hexed(value: Any) -> Any:
    """Field values as JSON: bytes as hex, vectors as {hex log id: seq}, tuples as lists."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {log.hex(): seq for log, seq in value.items()}
    if isinstance(value, list | tuple):
        return [_hexed(v) for v in value]
    return value


# (name, frame type, fields as the dataclass names them, the wire map in the documented order)
VALID: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "hello",
        "hello",
        {"versions": [2], "space": SPACE, "capability": CAPABILITY, "create": False},
        {"t": "hello", "v": [2], "s": SPACE, "c": CAPABILITY, "n": False},
    ),
    (
        "hello-create",
        "hello",
        {"versions": [1, 2], "space": SPACE, "capability": CAPABILITY, "create": True},
        {"t": "hello", "v": [1, 2], "s": SPACE, "c": CAPABILITY, "n": True},
    ),
    (
        "hello-create-with-admission-code",
        "hello",
        {
            "versions": [3],
            "space": SPACE,
            "capability": CAPABILITY,
            "create": True,
            "admission": ADMISSION_CODE,
        },
        {"t": "hello", "v": [3], "s": SPACE, "c": CAPABILITY, "n": True, "a": ADMISSION_CODE},
    ),
    (
        "welcome",
        "welcome",
        {"version": 2, "heads": {LOG_A: 3, LOG_B: 1}},
        {"t": "welcome", "v": 2, "h": {LOG_A: 3, LOG_B: 1}},
    ),
    (
        "pull",
        "pull",
        {"have": {LOG_A: 1}},
        {"t": "pull", "h": {LOG_A: 1}},
    ),
    (
        "pull-from-nothing",
        "pull",
        {"have": {}},
        {"t": "pull", "h": {}},
    ),
    (
        "entries",
        "entries",
        {"entries": [ENTRY_1, ENTRY_2], "live": False},
        {"t": "entries", "e": [ENTRY_1, ENTRY_2], "l": False},
    ),
    (
        "caught-up",
        "caught_up",
        {"heads": {LOG_A: 3, LOG_B: 1}},
        {"t": "caught_up", "h": {LOG_A: 3, LOG_B: 1}},
    ),
    (
        "entries-live",
        "entries",
        {"entries": [ENTRY_3], "live": True},
        {"t": "entries", "e": [ENTRY_3], "l": True},
    ),
    (
        "entries-live-with-key-records",
        "entries",
        {"entries": [ENTRY_1, ENTRY_2], "live": True, "keys": [b"", KEY_RECORD]},
        {"t": "entries", "e": [ENTRY_1, ENTRY_2], "l": True, "k": [b"", KEY_RECORD]},
    ),
    (
        "push",
        "push",
        {"id": 7, "entries": [ENTRY_1, ENTRY_2]},
        {"t": "push", "i": 7, "e": [ENTRY_1, ENTRY_2]},
    ),
    (
        "push-with-key-records",
        "push",
        {"id": 7, "entries": [ENTRY_1, ENTRY_2], "keys": [KEY_RECORD, b""]},
        {"t": "push", "i": 7, "e": [ENTRY_1, ENTRY_2], "k": [KEY_RECORD, b""]},
    ),
    (
        "fetch-keys",
        "fetch_keys",
        {"id": 11, "positions": [POSITION_A3]},
        {"t": "fetch_keys", "i": 11, "p": [POSITION_A3]},
    ),
    (
        "keys",
        "keys",
        {"id": 11, "records": [POSITION_A3 + KEY_RECORD]},
        {"t": "keys", "i": 11, "r": [POSITION_A3 + KEY_RECORD]},
    ),
    (
        "forget",
        "forget",
        {"id": 12, "log": LOG_A, "seq": 3, "token": TOKEN},
        {"t": "forget", "i": 12, "l": LOG_A, "n": 3, "k": TOKEN},
    ),
    (
        "ack",
        "ack",
        {"id": 7, "stored": 2},
        {"t": "ack", "i": 7, "n": 2},
    ),
    (
        "rotate",
        "rotate",
        {"id": 8, "record": RECORD, "signature": RECORD_SIGNATURE},
        {"t": "rotate", "i": 8, "r": RECORD, "g": RECORD_SIGNATURE},
    ),
    (
        "rekey",
        "rekey",
        {"record": RECORD, "signature": RECORD_SIGNATURE},
        {"t": "rekey", "r": RECORD, "g": RECORD_SIGNATURE},
    ),
    (
        "repair",
        "repair",
        {
            "id": 9,
            "log": LOG_C,
            "key": LOG_KEY,
            "from_seq": REPAIR_FROM,
            "signature": REPAIR_SIGNATURE,
        },
        {"t": "repair", "i": 9, "l": LOG_C, "k": LOG_KEY, "f": REPAIR_FROM, "g": REPAIR_SIGNATURE},
    ),
    (
        "error-fatal",
        "error",
        {
            "code": "unsupported_version",
            "message": "no common version",
            "id": None,
            "versions": [2],
        },
        {"t": "error", "c": "unsupported_version", "m": "no common version", "v": [2]},
    ),
    (
        "error-with-id",
        "error",
        {"code": "gap", "message": "", "id": 7, "versions": []},
        {"t": "error", "c": "gap", "m": "", "i": 7},
    ),
    (
        "error-bad-signature",
        "error",
        {
            "code": "bad_signature",
            "message": "not signed by the log's key",
            "id": 7,
            "versions": [],
        },
        {"t": "error", "c": "bad_signature", "m": "not signed by the log's key", "i": 7},
    ),
]

MALFORMED = "malformed"
TOO_LARGE = "too_large"

_HELLO = {"t": "hello", "v": [2], "s": SPACE, "c": CAPABILITY, "n": False}
_PUSH = {"t": "push", "i": 7, "e": [ENTRY_1]}
_ROTATE = {"t": "rotate", "i": 8, "r": RECORD, "g": RECORD_SIGNATURE}
_REKEY = {"t": "rekey", "r": RECORD, "g": RECORD_SIGNATURE}
_REPAIR = {"t": "repair", "i": 9, "l": LOG_C, "k": LOG_KEY, "f": 4, "g": REPAIR_SIGNATURE}


def _with(base: dict[str, Any], **changes: Any) -> bytes:
    return _pack({**base, **changes})


def _without(base: dict[str, Any], key: str) -> bytes:
    return _pack({k: v for k, v in base.items() if k != key})


def _deep(levels: int) -> bytes:
    """A push whose entries field is an array nested `levels` deep."""
    head = _pack({"t": "push", "i": 7})
    # Bump the fixmap count from 2 to 3 and append "e": [[[...]]].
    return bytes([head[0] + 1]) + head[1:] + _pack("e") + b"\x91" * levels + b"\xc0"


def _invalid() -> list[tuple[str, bytes, str]]:
    hello, ack = _pack(_HELLO), _pack({"t": "ack", "i": 7, "n": 2})
    push_prefix = _pack({"t": "push", "i": 7})
    push_e = bytes([push_prefix[0] + 1]) + push_prefix[1:] + _pack("e")
    rekey_prefix = _pack({"t": "rekey", "g": RECORD_SIGNATURE})
    rekey_r = bytes([rekey_prefix[0] + 1]) + rekey_prefix[1:] + _pack("r")
    return [
        # Not a frame at all.
        ("empty", b"", MALFORMED),
        ("reserved-msgpack-byte", b"\xc1", MALFORMED),
        ("truncated-hello", hello[:-1], MALFORMED),
        ("trailing-byte-after-ack", ack + b"\x00", MALFORMED),
        ("array-not-map", _pack(["ack", 7, 2]), MALFORMED),
        ("map-without-type", _pack({"i": 7, "n": 2}), MALFORMED),
        ("type-not-text", _pack({"t": 1, "i": 7, "n": 2}), MALFORMED),
        ("unknown-type", _pack({"t": "bye"}), MALFORMED),
        ("type-is-bin-not-str", _pack({"t": b"ack", "i": 7, "n": 2}), MALFORMED),
        ("ext-type-value", _pack({"t": "ack", "i": 7, "n": msgpack.ExtType(1, b"x")}), MALFORMED),
        ("text-not-utf8", b"\x83\xa1t\xa5error\xa1c\xa2\xff\xfe\xa1m\xa0", MALFORMED),
        ("map-key-is-an-array", b"\x82\xa1t\xa4pull\x91\x01\x80", MALFORMED),
        ("nested-1100-deep", _deep(1100), MALFORMED),
        # Missing fields and wrong types.
        ("push-without-entries", _without(_PUSH, "e"), MALFORMED),
        # Key records and forgetting.
        ("push-with-more-key-records-than-entries", _with(_PUSH, k=[b"", b""]), MALFORMED),
        ("push-key-record-of-47-bytes", _with(_PUSH, k=[KEY_RECORD[:47]]), MALFORMED),
        (
            "entries-with-fewer-key-records-than-entries",
            _pack({"t": "entries", "e": [ENTRY_1, ENTRY_2], "l": True, "k": [KEY_RECORD]}),
            MALFORMED,
        ),
        (
            "entries-key-record-of-81-bytes",
            _pack({"t": "entries", "e": [ENTRY_1], "l": False, "k": [KEY_RECORD + b"x"]}),
            MALFORMED,
        ),
        (
            "fetch-keys-position-of-23-bytes",
            _pack({"t": "fetch_keys", "i": 1, "p": [POSITION_A3[:23]]}),
            MALFORMED,
        ),
        (
            "keys-record-without-position",
            _pack({"t": "keys", "i": 1, "r": [KEY_RECORD]}),
            MALFORMED,
        ),
        (
            "forget-token-of-31-bytes",
            _pack({"t": "forget", "i": 1, "l": LOG_A, "n": 3, "k": TOKEN[:31]}),
            MALFORMED,
        ),
        (
            "forget-at-seq-0",
            _pack({"t": "forget", "i": 1, "l": LOG_A, "n": 0, "k": TOKEN}),
            MALFORMED,
        ),
        ("hello-without-create", _without(_HELLO, "n"), MALFORMED),
        ("entries-without-live", _pack({"t": "entries", "e": [ENTRY_1]}), MALFORMED),
        ("hello-create-is-int", _with(_HELLO, n=1), MALFORMED),
        ("hello-admission-code-is-bin", _with(_HELLO, n=True, a=b"k7q2"), MALFORMED),
        ("hello-admission-code-of-65-bytes", _with(_HELLO, n=True, a="k" * 65), TOO_LARGE),
        ("entries-live-is-int", _pack({"t": "entries", "e": [ENTRY_1], "l": 0}), MALFORMED),
        ("push-entry-is-text", _with(_PUSH, e=["opaque entry"]), MALFORMED),
        ("push-entry-is-empty", _with(_PUSH, e=[b""]), MALFORMED),
        ("push-entries-is-bin", _with(_PUSH, e=ENTRY_1), MALFORMED),
        ("pull-have-is-array", _pack({"t": "pull", "h": [[LOG_A, 1]]}), MALFORMED),
        ("error-code-is-int", _pack({"t": "error", "c": 3, "m": ""}), MALFORMED),
        ("rekey-without-record", _without(_REKEY, "r"), MALFORMED),
        ("rekey-without-signature", _without(_REKEY, "g"), MALFORMED),
        ("rekey-record-is-empty", _with(_REKEY, r=b""), MALFORMED),
        ("rekey-record-is-text", _with(_REKEY, r="sealed keys"), MALFORMED),
        ("rekey-record-is-nil", _with(_REKEY, r=None), MALFORMED),
        ("rekey-record-is-a-map", _with(_REKEY, r={"e": 2}), MALFORMED),
        ("rekey-signature-is-text", _with(_REKEY, g="signature"), MALFORMED),
        ("rotate-without-record", _without(_ROTATE, "r"), MALFORMED),
        ("rotate-without-signature", _without(_ROTATE, "g"), MALFORMED),
        ("rotate-record-is-empty", _with(_ROTATE, r=b""), MALFORMED),
        ("rotate-record-is-text", _with(_ROTATE, r="sealed keys"), MALFORMED),
        ("rotate-record-is-nil", _with(_ROTATE, r=None), MALFORMED),
        ("rotate-record-is-an-array", _with(_ROTATE, r=[RECORD]), MALFORMED),
        ("rotate-of-protocol-1", _pack({"t": "rotate", "i": 8, "c": NEW_HASH}), MALFORMED),
        ("repair-without-key", _without(_REPAIR, "k"), MALFORMED),
        ("repair-without-from-seq", _without(_REPAIR, "f"), MALFORMED),
        ("repair-without-signature", _without(_REPAIR, "g"), MALFORMED),
        ("repair-key-is-text", _with(_REPAIR, k=LOG_KEY.hex()), MALFORMED),
        # Fixed sizes.
        ("hello-space-15-bytes", _with(_HELLO, s=SPACE[:15]), MALFORMED),
        ("hello-space-17-bytes", _with(_HELLO, s=SPACE + b"\x00"), MALFORMED),
        ("hello-space-is-text", _with(_HELLO, s=SPACE.hex()[:16]), MALFORMED),
        ("hello-capability-31-bytes", _with(_HELLO, c=CAPABILITY[:31]), MALFORMED),
        ("hello-capability-33-bytes", _with(_HELLO, c=CAPABILITY + b"\x00"), MALFORMED),
        ("rotate-signature-63-bytes", _with(_ROTATE, g=RECORD_SIGNATURE[:63]), MALFORMED),
        ("rotate-signature-65-bytes", _with(_ROTATE, g=RECORD_SIGNATURE + b"\x00"), MALFORMED),
        ("rekey-signature-32-bytes", _with(_REKEY, g=RECORD_SIGNATURE[:32]), MALFORMED),
        ("repair-log-15-bytes", _with(_REPAIR, l=LOG_C[:15]), MALFORMED),
        ("repair-log-17-bytes", _with(_REPAIR, l=LOG_C + b"\x00"), MALFORMED),
        ("repair-key-31-bytes", _with(_REPAIR, k=LOG_KEY[:31]), MALFORMED),
        ("repair-key-33-bytes", _with(_REPAIR, k=LOG_KEY + b"\x00"), MALFORMED),
        ("repair-signature-63-bytes", _with(_REPAIR, g=REPAIR_SIGNATURE[:63]), MALFORMED),
        ("pull-log-id-15-bytes", _pack({"t": "pull", "h": {LOG_A[:15]: 1}}), MALFORMED),
        ("pull-log-id-17-bytes", _pack({"t": "pull", "h": {LOG_A + b"\x00": 1}}), MALFORMED),
        ("pull-log-id-is-text", _pack({"t": "pull", "h": {"log": 1}}), MALFORMED),
        # Whole numbers out of range, and booleans or floats where a whole number belongs.
        ("push-id-negative", _with(_PUSH, i=-1), MALFORMED),
        ("push-id-2-pow-63", _with(_PUSH, i=1 << 63), MALFORMED),
        ("push-id-2-pow-64-minus-1", _with(_PUSH, i=(1 << 64) - 1), MALFORMED),
        ("push-id-is-true", _with(_PUSH, i=True), MALFORMED),
        ("push-id-is-float", _with(_PUSH, i=7.0), MALFORMED),
        ("push-id-is-nil", _with(_PUSH, i=None), MALFORMED),
        ("ack-stored-257", _pack({"t": "ack", "i": 7, "n": 257}), MALFORMED),
        ("ack-stored-negative", _pack({"t": "ack", "i": 7, "n": -1}), MALFORMED),
        ("ack-stored-is-false", _pack({"t": "ack", "i": 7, "n": False}), MALFORMED),
        ("pull-seq-negative", _pack({"t": "pull", "h": {LOG_A: -1}}), MALFORMED),
        ("pull-seq-2-pow-63", _pack({"t": "pull", "h": {LOG_A: 1 << 63}}), MALFORMED),
        ("pull-seq-is-true", _pack({"t": "pull", "h": {LOG_A: True}}), MALFORMED),
        ("welcome-version-negative", _pack({"t": "welcome", "v": -1, "h": {}}), MALFORMED),
        ("welcome-version-is-true", _pack({"t": "welcome", "v": True, "h": {}}), MALFORMED),
        ("error-id-negative", _pack({"t": "error", "c": "gap", "m": "", "i": -1}), MALFORMED),
        ("rotate-id-negative", _with(_ROTATE, i=-1), MALFORMED),
        ("repair-id-2-pow-63", _with(_REPAIR, i=1 << 63), MALFORMED),
        ("repair-from-seq-0", _with(_REPAIR, f=0), MALFORMED),
        ("repair-from-seq-negative", _with(_REPAIR, f=-1), MALFORMED),
        ("repair-from-seq-2-pow-63", _with(_REPAIR, f=1 << 63), MALFORMED),
        ("repair-from-seq-is-true", _with(_REPAIR, f=True), MALFORMED),
        # Versions.
        ("hello-no-versions", _with(_HELLO, v=[]), MALFORMED),
        ("hello-version-0", _with(_HELLO, v=[0]), MALFORMED),
        ("hello-version-65536", _with(_HELLO, v=[1 << 16]), MALFORMED),
        ("hello-version-is-true", _with(_HELLO, v=[True]), MALFORMED),
        ("hello-versions-is-int", _with(_HELLO, v=1), MALFORMED),
        ("hello-17-versions", _with(_HELLO, v=list(range(1, 18))), TOO_LARGE),
        # Counts and lengths over a limit, and lengths that claim more than the frame holds.
        ("push-257-entries", _with(_PUSH, e=[b"x"] * 257), TOO_LARGE),
        ("error-message-513-bytes", _pack({"t": "error", "c": "gap", "m": "x" * 513}), TOO_LARGE),
        ("error-code-513-bytes", _pack({"t": "error", "c": "x" * 513, "m": ""}), TOO_LARGE),
        ("entries-claims-a-4-gib-array", push_e + b"\xdd\xff\xff\xff\xff", TOO_LARGE),
        ("frame-claims-a-4-gib-map", b"\xdf\xff\xff\xff\xff", TOO_LARGE),
        ("entry-claims-4-gib-of-bin", push_e + b"\x91\xc6\xff\xff\xff\xff" + b"x" * 8, MALFORMED),
        ("text-claims-4-gib", b"\x81\xa1t\xdb\xff\xff\xff\xff" + b"x" * 8, MALFORMED),
        ("rekey-record-claims-4-gib", rekey_r + b"\xc6\xff\xff\xff\xff" + b"x" * 8, MALFORMED),
    ]


def build_frame_vectors() -> dict[str, Any]:
    return {
        "format": "tend sync frames, protocol version 2; see docs/protocol.md#sync-protocol",
        "generator": "tests/vectors/make_frame_vectors.py",
        "valid": [
            {
                "name": name,
                "type": kind,
                "fields": {key: _hexed(value) for key, value in fields.items()},
                "frame": _pack(body).hex(),
            }
            for name, kind, fields, body in VALID
        ],
        "invalid": [
            {"name": name, "frame": raw.hex(), "error": error} for name, raw, error in _invalid()
        ],
    }


def dump(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2) + "\n"


def main() -> None:
    FRAMES_FILE.write_text(dump(build_frame_vectors()), encoding="utf-8")
    print(f"wrote {FRAMES_FILE.name} in {HERE}")


if __name__ == "__main__":
    main()
