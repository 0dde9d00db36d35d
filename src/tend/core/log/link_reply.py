"""Where the answer to a link invitation waits: an id the relay can tie to the invitation.

A link's invitation (its bundle) waits at the relay under an id derived from the link's secret,
so only the relay and whoever holds the link know it. The joiner's reply goes under

    reply id = SHA-256("tend/link/reply-box/v1" | bundle id (16 bytes))[:16]

which anyone who knows the bundle id can work out, and so can the relay. That is the point: an
invite-only relay takes invitations only from the devices of its journals, and the one post it
takes from anyone else is the reply to an invitation such a device left, at the one id that
answers it (sync/relay/pairing_routes.py). Knowing the id gives nothing more: the reply is
sealed to the link's key, and the inviter checks it before it lets anyone in.
"""

from __future__ import annotations

import hashlib

BOX_LEN = 16
REPLY_CONTEXT = b"tend/link/reply-box/v1"


def reply_box(bundle: bytes) -> bytes:
    """The id the answer to the invitation under `bundle` is posted to."""
    if len(bundle) != BOX_LEN:
        raise ValueError(f"an invitation id is {BOX_LEN} bytes")
    return hashlib.sha256(REPLY_CONTEXT + bundle).digest()[:BOX_LEN]
