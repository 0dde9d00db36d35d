"""A modified client, for the tests that play the attacker.

An attacker who is a member of the space (the partner, or someone holding a device's files)
has the space key and their own device's keys, and can use the library directly: build any
event, seal it, sign it with their own key and append it to their own log, skipping every
check `Journal.record` makes. These helpers do exactly that, so each test can try to break one
rule the way a modified client would, and assert the honest side refuses it.
"""

from __future__ import annotations

import datetime as dt

from tend.core.crypto import entry
from tend.core.domain.codec import encode_event
from tend.core.domain.events import Event, Payload
from tend.core.ids import EventId, PersonId, event_id_at
from tend.core.journal import Journal
from tend.core.log.header import first_header, next_header


def next_seq(journal: Journal) -> int:
    head = journal.store.head(journal.device.log)
    return int(head[0]) + 1 if head else 1


def event_in(
    journal: Journal,
    body: Payload,
    *,
    author: PersonId | None = None,
    hlc: int | None = None,
    supersedes: EventId | None = None,
    event_id: EventId | None = None,
    local_date: str | None = None,
) -> Event:
    """An event for the next seq of `journal`'s own log, claiming whatever the caller likes."""
    now = journal.now()
    wall_ms = int(now.timestamp() * 1000)
    return Event(
        id=event_id or event_id_at(journal.device.log, next_seq(journal)),
        author=author or journal.device.person,
        device=journal.device.log,
        hlc=hlc if hlc is not None else max(journal.last_hlc() + 1, wall_ms << 16),
        wall_ms=wall_ms,
        local_date=local_date or now.date().isoformat(),
        tz_minutes=0,
        body=body,
        supersedes=supersedes,
    )


def write_own(journal: Journal, event: Event) -> bytes:
    """Seal, sign and append `event` to the attacker's own log, with no check at all."""
    device = journal.device
    head = journal.store.head(device.log)
    header = (
        next_header(device.space, device.log, int(head[0]) + 1, device.epoch, head[1])
        if head
        else first_header(device.space, device.sign_public, device.epoch)
    )
    raw = entry.build(header, encode_event(event), device.sign_seed, device.space_key)
    journal.store.append([(raw, int(dt.datetime.now().timestamp() * 1000))])
    return raw


def forge_in_log(owner: Journal, signer: Journal, event: Event) -> bytes:
    """An entry at the next seq of `owner`'s log, sealed with the space key, signed by `signer`
    (who is not `owner`): the envelope opens, the signature cannot verify."""
    seq, prev = owner.store.head(owner.device.log)  # type: ignore[misc]
    header = next_header(owner.device.space, owner.device.log, seq + 1, owner.device.epoch, prev)
    return entry.build(header, encode_event(event), signer.device.sign_seed, owner.device.space_key)
