"""What shows a relay that a request comes from a device of one of its journals.

A device's Hello presents the space id and the capability (derived from the space key of the
epoch the relay knows). An invite-only relay asks the same of the drop-box writes it keeps only
for its journals' devices: recovery escrows, and invitations (sync/relay/pairing_routes.py).
"""

from __future__ import annotations

from tend.core.crypto.capability import capability
from tend.core.journal import Journal
from tend.core.trust import rotation


def credentials(journal: Journal) -> tuple[bytes, bytes]:
    """(space id, capability) as this device presents them to the relay now."""
    device = journal.device
    return device.space, capability(device.space_keys[rotation.relay_epoch(journal)])


def authorization(space: bytes, capability_: bytes) -> str:
    """The Authorization header of a drop-box write from a device of that journal."""
    return f"Tend-Space {space.hex()} {capability_.hex()}"
