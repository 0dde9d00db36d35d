"""The roster: who may write, with which key; the same whatever order its events arrive in."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from tend.core import roster
from tend.core.events import DeviceAdded, DeviceRemoved, Event, Payload
from tend.core.ids import EventId, LogId, PersonId

SAM, ALEX = PersonId(b"S" * 16), PersonId(b"A" * 16)
LAPTOP, PHONE, ALEX_PHONE, ALEX_TABLET = (LogId(bytes([n]) * 16) for n in (1, 2, 3, 4))
KEY = {d: bytes([d[0] + 100]) * 32 for d in (LAPTOP, PHONE, ALEX_PHONE, ALEX_TABLET)}
DH = {d: bytes([d[0] + 200]) * 32 for d in KEY}


def ev(writer: LogId, body: Payload, n: int = 0) -> Event:
    return Event(
        id=EventId(bytes([n]) * 16),
        author=SAM,
        device=writer,
        hlc=n,
        wall_ms=n,
        local_date="2026-03-09",
        tz_minutes=0,
        body=body,
    )


def add(
    writer: LogId,
    device: LogId,
    person: PersonId,
    key: bytes | None = None,
    dh: bytes | None = None,
) -> Event:
    return ev(
        writer,
        DeviceAdded(
            device=device,
            person=person,
            sign_pub=key or KEY.get(device, b"\x05" * 32),
            dh_pub=dh or DH.get(device, b"\x06" * 32),
        ),
    )


ANCHORS: dict[bytes, bytes] = {LAPTOP: KEY[LAPTOP]}
HONEST = [
    add(LAPTOP, LAPTOP, SAM),
    add(LAPTOP, PHONE, SAM),
    add(PHONE, PHONE, SAM),
    add(LAPTOP, ALEX_PHONE, ALEX),
    add(ALEX_PHONE, ALEX_PHONE, ALEX),
    add(ALEX_PHONE, ALEX_TABLET, ALEX),
    add(ALEX_TABLET, ALEX_TABLET, ALEX),
]


def summary(r: roster.Roster) -> object:
    return (
        sorted(r.keys.items()),
        sorted(r.people.items()),
        sorted(r.dh_keys.items()),
        sorted(r.removed),
    )


def test_devices_added_by_trusted_devices_are_trusted_transitively() -> None:
    r = roster.build(ANCHORS, HONEST)
    assert set(r.active()) == {LAPTOP, PHONE, ALEX_PHONE, ALEX_TABLET}
    assert r.people[ALEX_TABLET] == ALEX and r.dh_keys[PHONE] == DH[PHONE]


@given(st.integers(0, 2**32 - 1))
def test_the_roster_does_not_depend_on_the_order_of_its_events(seed: int) -> None:
    attack = [
        add(ALEX_PHONE, PHONE, ALEX, dh=DH[ALEX_PHONE]),  # re-point Sam's phone to Alex
        ev(ALEX_PHONE, DeviceRemoved(device=LAPTOP)),  # Alex removing Sam's laptop
        ev(PHONE, DeviceRemoved(device=ALEX_TABLET)),  # Sam removing Alex's tablet
        add(ALEX_TABLET, LogId(b"\x09" * 16), ALEX),
        add(PHONE, LogId(b"\x09" * 16), SAM),
        ev(LAPTOP, DeviceRemoved(device=PHONE)),
    ]
    events = HONEST + attack
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    assert summary(roster.build(ANCHORS, shuffled)) == summary(roster.build(ANCHORS, events))


def test_a_device_two_trusted_devices_disagree_about_is_trusted_by_nobody() -> None:
    forged = add(ALEX_PHONE, PHONE, ALEX, key=b"\xee" * 32)
    r = roster.build(ANCHORS, [*HONEST, forged])
    assert PHONE not in r.keys
    assert LAPTOP in r.keys and ALEX_PHONE in r.keys


def test_the_partner_cannot_re_point_a_device_to_another_person_or_x25519_key() -> None:
    forged = add(ALEX_PHONE, LAPTOP, ALEX, dh=DH[ALEX_PHONE])  # same key, other person and DH
    r = roster.build(ANCHORS, [forged, *HONEST])
    assert r.people[LAPTOP] == SAM and r.dh_keys[LAPTOP] == DH[LAPTOP]


def test_only_a_device_of_the_same_person_can_remove_a_device() -> None:
    r = roster.build(
        ANCHORS,
        [
            *HONEST,
            ev(ALEX_PHONE, DeviceRemoved(device=PHONE)),
            ev(PHONE, DeviceRemoved(device=ALEX_TABLET)),
            ev(ALEX_PHONE, DeviceRemoved(device=ALEX_TABLET)),
        ],
    )
    assert r.removed == {ALEX_TABLET}
    assert r.may_write(PHONE) and not r.may_write(ALEX_TABLET)


def test_membership_events_from_untrusted_writers_count_for_nothing() -> None:
    stranger = LogId(b"\x07" * 16)
    r = roster.build(
        ANCHORS,
        [
            *HONEST,
            add(stranger, stranger, ALEX, key=b"\x01" * 32),
            ev(stranger, DeviceRemoved(device=PHONE)),
        ],
    )
    assert stranger not in r.keys and PHONE not in r.removed
