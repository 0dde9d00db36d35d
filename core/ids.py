"""Typed identifiers, so a space id cannot be passed where a log id is meant."""

from __future__ import annotations

import secrets
from typing import NewType

SpaceId = NewType("SpaceId", bytes)
LogId = NewType("LogId", bytes)
PersonId = NewType("PersonId", bytes)
EventId = NewType("EventId", bytes)
Seq = NewType("Seq", int)

ID_LEN = 16


def new_space_id() -> SpaceId:
    return SpaceId(secrets.token_bytes(ID_LEN))


def new_log_id() -> LogId:
    # Random and opaque: never derived from a public key, so the relay cannot link logs to keys.
    return LogId(secrets.token_bytes(ID_LEN))


def new_person_id() -> PersonId:
    return PersonId(secrets.token_bytes(ID_LEN))


def new_event_id() -> EventId:
    return EventId(secrets.token_bytes(ID_LEN))


def short(raw: bytes) -> str:
    """The short hex form people see (and can type back) for an id."""
    return raw.hex()[:8]
