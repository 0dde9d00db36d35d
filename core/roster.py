"""Which devices may write to this space, and with which signing key.

Trust starts at this device's anchors (itself, and what its inviter trusted at pairing time,
authenticated by the invite code). A device joins the roster when devices already on it have
signed a `device.added` for it, and all such adds agree on its key, person and X25519 key: if
two trusted devices disagree about one log id, that log id is trusted by nobody (and neither
is anything only it vouched for), so a partner cannot re-point another person's device. A
device is removed when a device *of the same person* on the roster signed a `device.removed`
for it: each person manages their own devices, so one partner cannot cut the other off.

The result depends only on the set of events given, never on their order (a property test
checks this). Callers must pass only events whose signatures have been verified against the
roster they came from: core/ingest.py grows that set one verified run at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tend.core.events import DeviceAdded, DeviceRemoved, Event
from tend.core.ids import LogId, PersonId


@dataclass
class Roster:
    keys: dict[LogId, bytes] = field(default_factory=dict)  # device -> Ed25519 public key
    people: dict[LogId, PersonId] = field(default_factory=dict)
    dh_keys: dict[LogId, bytes] = field(default_factory=dict)
    labels: dict[LogId, str] = field(default_factory=dict)
    removed: set[LogId] = field(default_factory=set)

    def may_write(self, device: LogId) -> bool:
        return device in self.keys and device not in self.removed

    def active(self) -> list[LogId]:
        return [d for d in self.keys if d not in self.removed]


def _identity(add: DeviceAdded) -> tuple[bytes, bytes, bytes]:
    return (add.sign_pub, add.person, add.dh_pub)


def build(anchors: Mapping[bytes, bytes], events: Iterable[Event]) -> Roster:
    """The roster implied by `anchors` and the verified membership events among `events`."""
    adds: list[tuple[LogId, DeviceAdded]] = []
    removals: list[tuple[LogId, DeviceRemoved]] = []
    for ev in events:
        if isinstance(ev.body, DeviceAdded):
            adds.append((ev.device, ev.body))
        elif isinstance(ev.body, DeviceRemoved):
            removals.append((ev.device, ev.body))
    anchored = {LogId(k): v for k, v in anchors.items()}
    banned: set[LogId] = set()
    while True:
        trusted = _grow(anchored, adds, banned)
        conflicted = _conflicts(anchored, adds, trusted) - banned
        if not conflicted:
            break
        banned |= conflicted  # then recompute: what only they vouched for falls away too
    return _finish(anchored, adds, removals, trusted)


def _grow(
    anchored: dict[LogId, bytes], adds: list[tuple[LogId, DeviceAdded]], banned: set[LogId]
) -> dict[LogId, bytes]:
    trusted = dict(anchored)
    grew = True
    while grew:
        grew = False
        for writer, add in adds:
            if writer in trusted and add.device not in trusted and add.device not in banned:
                trusted[add.device] = add.sign_pub
                grew = True
    return trusted


def _conflicts(
    anchored: dict[LogId, bytes], adds: list[tuple[LogId, DeviceAdded]], trusted: dict[LogId, bytes]
) -> set[LogId]:
    seen: dict[LogId, set[tuple[bytes, bytes, bytes]]] = {}
    for writer, add in adds:
        if writer in trusted:
            seen.setdefault(add.device, set()).add(_identity(add))
    # An anchor's key was fixed at pairing, so it is never banned; its person and X25519 key
    # are settled in _finish.
    return {d for d, identities in seen.items() if len(identities) > 1 and d not in anchored}


def _finish(
    anchored: dict[LogId, bytes],
    adds: list[tuple[LogId, DeviceAdded]],
    removals: list[tuple[LogId, DeviceRemoved]],
    trusted: dict[LogId, bytes],
) -> Roster:
    roster = Roster(keys=trusted)
    candidates: dict[LogId, dict[tuple[bytes, bytes, bytes], tuple[bool, DeviceAdded]]] = {}
    for writer, add in adds:
        # Person and X25519 key come only from adds that agree with the trusted key.
        if writer in trusted and trusted.get(add.device) == add.sign_pub:
            own = writer == add.device
            known = candidates.setdefault(add.device, {}).get(_identity(add))
            if known is None or (own and not known[0]):
                candidates[add.device][_identity(add)] = (own, add)
    for device, found in candidates.items():
        # The device's own self-signed add settles it; otherwise only an undisputed identity.
        chosen = [a for own, a in found.values() if own] or list(a for _own, a in found.values())
        if len({_identity(a) for a in chosen}) == 1:
            roster.people[device] = PersonId(chosen[0].person)
            roster.dh_keys[device] = chosen[0].dh_pub
            roster.labels[device] = chosen[0].label
    for writer, removal in removals:
        same_person = roster.people.get(writer) == roster.people.get(removal.device)
        if writer in trusted and removal.device in trusted and same_person:
            roster.removed.add(removal.device)
    return roster
