"""Domain events <-> bytes (msgpack), with upgrades from older schema versions.

Stored form: a msgpack map with short keys. The payload travels as a map of its fields plus its
schema version; decoding first upgrades an old payload map step by step, then builds the typed
payload, which validates it. Anything that does not decode to a valid event raises
`CorruptStore` naming what was wrong, so a hostile or damaged entry can never be applied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import msgpack

from tend.core.domain.events import PAYLOADS, Event, Payload
from tend.core.domain.validate import iso_date
from tend.core.errors import CorruptStore, TendError
from tend.core.ids import EventId, LogId, PersonId

Fields = dict[str, Any]

# (type, from_version) -> function returning the fields at from_version + 1.
UPGRADES: dict[tuple[str, int], Callable[[Fields], Fields]] = {}


def _upgrade(
    kind: str, version: int
) -> Callable[[Callable[[Fields], Fields]], Callable[[Fields], Fields]]:
    def register(fn: Callable[[Fields], Fields]) -> Callable[[Fields], Fields]:
        UPGRADES[(kind, version)] = fn
        return fn

    return register


@_upgrade("checkin", 1)
def _checkin_v1_to_v2(old: Fields) -> Fields:
    # v1 had one free-text "need"; v2 has a list of chips.
    new = {k: val for k, val in old.items() if k != "need"}
    need = old.get("need")
    new["needs"] = [need] if need else []
    return new


# msgpack gives lists; payloads hold (nested) tuples so they stay hashable and frozen.
_TUPLE_FIELDS = {"needs", "appreciations", "heads", "versions"}
MAX_SEEN = 256  # logs named in one event's seen-vector
EVENT_KEYS = frozenset("iadhwlztvpsk")


def _frozen(value: object) -> object:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def payload_fields(body: Payload) -> Fields:
    return {f.name: getattr(body, f.name) for f in dataclasses.fields(body)}  # type: ignore[arg-type]


def encode_event(ev: Event) -> bytes:
    record = {
        "i": ev.id,
        "a": ev.author,
        "d": ev.device,
        "h": ev.hlc,
        "w": ev.wall_ms,
        "l": ev.local_date,
        "z": ev.tz_minutes,
        "t": ev.body.TYPE,
        "v": ev.body.SCHEMA,
        "p": payload_fields(ev.body),
    }
    if ev.supersedes is not None:
        record["s"] = ev.supersedes
    if ev.seen:
        record["k"] = dict(ev.seen)
    out: bytes = msgpack.packb(record, use_bin_type=True)
    return out


def decode_payload(kind: str, version: int, fields: Fields) -> Payload:
    cls = PAYLOADS.get(kind)
    if cls is None:
        raise CorruptStore(f"unknown event type {kind!r}")
    if not isinstance(version, int) or not 1 <= version <= cls.SCHEMA:
        raise CorruptStore(f"{kind}: unsupported schema version {version!r}")
    while version < cls.SCHEMA:
        step = UPGRADES.get((kind, version))
        if step is None:
            raise CorruptStore(f"{kind}: no upgrade from schema version {version}")
        fields = step(fields)
        version += 1
    lists = _TUPLE_FIELDS.intersection(fields)  # usually none: most payloads hold no list
    args = {**fields, **{k: _frozen(fields[k]) for k in lists}} if lists else fields
    try:
        return cls(**args)
    except TypeError as e:
        raise CorruptStore(f"{kind}: unexpected fields") from e


def decode_event(raw: bytes) -> Event:
    return event_of(unpack_event(raw))


def unpack_event(raw: bytes) -> Fields:
    """The map an event's bytes hold, checked for shape only (`event_of` builds the event);
    CorruptStore for anything else. Apart so a reader that must compare two events' fields
    (an entry and the words it carries) unpacks each once."""
    try:
        record = msgpack.unpackb(raw, raw=False, strict_map_key=True, max_ext_len=0)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as e:
        raise CorruptStore("event could not be decoded") from e
    if not isinstance(record, dict):
        raise CorruptStore("event is not a map")
    if not EVENT_KEYS.issuperset(record):
        # Nothing rides along unread: an old Automerge change ("c"), or anything else.
        raise CorruptStore("event holds fields tend does not write")
    return record


def event_of(record: Fields) -> Event:
    """The event an unpacked map (`unpack_event`) holds, validated; CorruptStore if invalid."""
    try:
        fields = record["p"]
        if type(fields) is not dict:
            raise CorruptStore("event payload is not a map")
        body = decode_payload(record["t"], record["v"], fields)
        return Event(
            id=EventId(_id(record["i"])),
            author=PersonId(_id(record["a"])),
            device=LogId(_id(record["d"])),
            hlc=_int(record["h"]),
            wall_ms=_int(record["w"]),
            local_date=_date(record["l"]),
            tz_minutes=_int(record["z"]),
            body=body,
            supersedes=EventId(_id(record["s"])) if "s" in record else None,
            seen=_seen(record["k"]) if "k" in record else (),
        )
    except TendError as e:
        if isinstance(e, CorruptStore):
            raise
        raise CorruptStore(f"invalid event: {e}") from e
    except (KeyError, ValueError, TypeError, RecursionError) as e:
        # RecursionError: a hostile value nested about a thousand deep fails in repr() or str().
        raise CorruptStore("event could not be decoded") from e


def _id(value: object) -> bytes:
    if type(value) is not bytes or len(value) != 16:
        raise CorruptStore("expected a 16-byte id in event")
    return value


def _seen(value: object) -> tuple[tuple[LogId, int], ...]:
    if not isinstance(value, dict) or len(value) > MAX_SEEN:
        raise CorruptStore("an event's seen-vector is not a small map")
    return tuple(sorted((LogId(_id(log)), _seq(seq)) for log, seq in value.items()))


def _seq(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
        raise CorruptStore("expected a seq in event")
    return value


def _date(value: object) -> str:
    iso_date("local_date", value)  # a ValidationError here becomes CorruptStore above
    assert isinstance(value, str)
    return value


def _int(value: object) -> int:
    # Every integer an event carries (HLC, wall ms, minutes) fits in 63 bits (`type is int`
    # also refuses a boolean).
    if type(value) is not int or not -(1 << 62) < value < 1 << 62:
        raise CorruptStore("expected an integer of a sensible size in event")
    return value
