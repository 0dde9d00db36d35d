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

All byte strings in the JSON are lowercase hex; in "fields", version vectors are objects from a
hex log id to its seq, and absent optional values are null (an absent rekey is empty bytes, "").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack

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
NEW_HASH = hashlib.sha256(NEW_CAPABILITY).digest()


def _pack(body: Any) -> bytes:
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


# A rekey blob as a rotating device writes it (core/rotation.py): the new epoch and, for each
# device that stays, its log id and the new epoch key sealed to it. The protocol carries it as
# opaque bytes, so the sealed keys here are fixed stand-ins.
REKEY = _pack({"epoch": 2, "sealed": [[LOG_A, bytes(range(0x80, 0xD0))], [LOG_B, bytes(80)]]})


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
        {"versions": [1], "space": SPACE, "capability": CAPABILITY, "create": False},
        {"t": "hello", "v": [1], "s": SPACE, "c": CAPABILITY, "n": False},
    ),
    (
        "hello-create",
        "hello",
        {"versions": [1, 2], "space": SPACE, "capability": CAPABILITY, "create": True},
        {"t": "hello", "v": [1, 2], "s": SPACE, "c": CAPABILITY, "n": True},
    ),
    (
        "welcome",
        "welcome",
        {"version": 1, "heads": {LOG_A: 3, LOG_B: 1}},
        {"t": "welcome", "v": 1, "h": {LOG_A: 3, LOG_B: 1}},
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
        "push",
        "push",
        {"id": 7, "entries": [ENTRY_1, ENTRY_2]},
        {"t": "push", "i": 7, "e": [ENTRY_1, ENTRY_2]},
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
        {"id": 8, "capability_hash": NEW_HASH, "rekey": b""},
        {"t": "rotate", "i": 8, "c": NEW_HASH},
    ),
    (
        "rotate-with-rekey",
        "rotate",
        {"id": 9, "capability_hash": NEW_HASH, "rekey": REKEY},
        {"t": "rotate", "i": 9, "c": NEW_HASH, "r": REKEY},
    ),
    (
        "rekey",
        "rekey",
        {"rekey": REKEY},
        {"t": "rekey", "r": REKEY},
    ),
    (
        "error-fatal",
        "error",
        {
            "code": "unsupported_version",
            "message": "no common version",
            "id": None,
            "versions": [1],
        },
        {"t": "error", "c": "unsupported_version", "m": "no common version", "v": [1]},
    ),
    (
        "error-with-id",
        "error",
        {"code": "gap", "message": "", "id": 7, "versions": []},
        {"t": "error", "c": "gap", "m": "", "i": 7},
    ),
]

MALFORMED = "malformed"
TOO_LARGE = "too_large"

_HELLO = {"t": "hello", "v": [1], "s": SPACE, "c": CAPABILITY, "n": False}
_PUSH = {"t": "push", "i": 7, "e": [ENTRY_1]}
_ROTATE = {"t": "rotate", "i": 8, "c": NEW_HASH}


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
    rekey_prefix = _pack({"t": "rekey"})
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
        ("hello-without-create", _without(_HELLO, "n"), MALFORMED),
        ("entries-without-live", _pack({"t": "entries", "e": [ENTRY_1]}), MALFORMED),
        ("hello-create-is-int", _with(_HELLO, n=1), MALFORMED),
        ("entries-live-is-int", _pack({"t": "entries", "e": [ENTRY_1], "l": 0}), MALFORMED),
        ("push-entry-is-text", _with(_PUSH, e=["opaque entry"]), MALFORMED),
        ("push-entry-is-empty", _with(_PUSH, e=[b""]), MALFORMED),
        ("push-entries-is-bin", _with(_PUSH, e=ENTRY_1), MALFORMED),
        ("pull-have-is-array", _pack({"t": "pull", "h": [[LOG_A, 1]]}), MALFORMED),
        ("error-code-is-int", _pack({"t": "error", "c": 3, "m": ""}), MALFORMED),
        ("rekey-without-blob", _pack({"t": "rekey"}), MALFORMED),
        ("rekey-blob-is-empty", _pack({"t": "rekey", "r": b""}), MALFORMED),
        ("rekey-blob-is-text", _pack({"t": "rekey", "r": "sealed keys"}), MALFORMED),
        ("rekey-blob-is-nil", _pack({"t": "rekey", "r": None}), MALFORMED),
        ("rekey-blob-is-a-map", _pack({"t": "rekey", "r": {"epoch": 2}}), MALFORMED),
        ("rotate-rekey-is-text", _with(_ROTATE, r="sealed keys"), MALFORMED),
        ("rotate-rekey-is-nil", _with(_ROTATE, r=None), MALFORMED),
        ("rotate-rekey-is-an-array", _with(_ROTATE, r=[REKEY]), MALFORMED),
        # Fixed sizes.
        ("hello-space-15-bytes", _with(_HELLO, s=SPACE[:15]), MALFORMED),
        ("hello-space-17-bytes", _with(_HELLO, s=SPACE + b"\x00"), MALFORMED),
        ("hello-space-is-text", _with(_HELLO, s=SPACE.hex()[:16]), MALFORMED),
        ("hello-capability-31-bytes", _with(_HELLO, c=CAPABILITY[:31]), MALFORMED),
        ("hello-capability-33-bytes", _with(_HELLO, c=CAPABILITY + b"\x00"), MALFORMED),
        ("rotate-hash-31-bytes", _pack({"t": "rotate", "i": 8, "c": bytes(31)}), MALFORMED),
        ("rotate-hash-33-bytes", _pack({"t": "rotate", "i": 8, "c": bytes(33)}), MALFORMED),
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
        ("rekey-blob-claims-4-gib", rekey_r + b"\xc6\xff\xff\xff\xff" + b"x" * 8, MALFORMED),
    ]


def build_frame_vectors() -> dict[str, Any]:
    return {
        "format": "tend sync frames, protocol version 1; see docs/protocol.md#sync-protocol",
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
