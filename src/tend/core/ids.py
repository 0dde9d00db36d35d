"""Typed identifiers, so a space id cannot be passed where a log id is meant.

Spaces are random. Everything else is derived, so that nobody can claim an id that is not theirs:
a log id from its log key (core/log/header.py), a person id from their identity keys
(core/log/identity.py), and an event id from the one position it occupies, (log id, seq): no other
entry, in any log, can carry it, so "the author of event X" and "the thing created by event X"
are unambiguous.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import NewType

SpaceId = NewType("SpaceId", bytes)
LogId = NewType("LogId", bytes)
PersonId = NewType("PersonId", bytes)
EventId = NewType("EventId", bytes)
Seq = NewType("Seq", int)

ID_LEN = 16
_EVENT_ID_LABEL = b"tend/event-id/v1"


def new_space_id() -> SpaceId:
    return SpaceId(secrets.token_bytes(ID_LEN))


def event_id_at(log: bytes, seq: int) -> EventId:
    """The id of the event at (log, seq): derived, so it cannot be copied into another log."""
    digest = hashlib.sha256(_EVENT_ID_LABEL + log + seq.to_bytes(8, "big")).digest()
    return EventId(digest[:ID_LEN])


def short(raw: bytes) -> str:
    """The short hex form people see (and can type back) for an id."""
    return raw.hex()[:8]
