"""Which devices may write to this space, and with which signing key.

Trust starts at this device's anchors (itself, and the device that invited it, authenticated
by the invite code). A device is on the roster when a device already on it signed a
`device.added` for it; a `device.removed` signed by a device on the roster takes it off. The
fold runs to a fixed point, so the order in which these events arrive does not matter.
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


def build(anchors: Mapping[bytes, bytes], events: Iterable[Event]) -> Roster:
    """The roster implied by `anchors` and the signed membership events among `events`."""
    roster = Roster(keys={LogId(k): v for k, v in anchors.items()})
    membership = [e for e in events if isinstance(e.body, DeviceAdded | DeviceRemoved)]
    grew = True
    while grew:
        grew = False
        for ev in membership:
            body = ev.body
            if ev.device not in roster.keys:
                continue  # written by a device we do not (yet) trust
            if isinstance(body, DeviceAdded):
                if body.device not in roster.people:
                    grew = True
                roster.people.setdefault(body.device, body.person)
                roster.dh_keys.setdefault(body.device, body.dh_pub)
                roster.labels.setdefault(body.device, body.label)
                if body.device not in roster.keys:
                    roster.keys[body.device] = body.sign_pub
            elif isinstance(body, DeviceRemoved) and body.device not in roster.removed:
                roster.removed.add(body.device)
                grew = True
    return roster
