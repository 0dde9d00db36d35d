"""The relay's drop boxes, client side: pairing mailboxes, invitations and recovery escrows.

- Mailboxes hold sealed pairing messages in the relay's memory for at most ten minutes, each
  handed out once. `put(claim=True)` posts only into a mailbox nobody has claimed (MailboxTaken
  if it holds a claimed message), so an inviter picking a short nameplate can pick another.
- Invitations wait in the relay's store for up to a week, one message per id, handed out once;
  the id stays refused (MailboxTaken) until its ttl runs out, even after it was taken.
- An escrow is a person's sealed recovery blob, under a locator derived from their identity,
  written only with a signature by that identity's key (core/log/escrow.py).

Ids, locators and contents come from core/trust/pairing.py and core/trust/recovery.py: derived from
secrets the relay never sees, and sealed, so the relay learns neither. Every answer is read with a
bound (nothing the relay keeps is longer than 64 KiB). Network failures are one-line
RelayUnavailable (sync/transport.py translates them).
"""

from __future__ import annotations

import re

import msgpack

from tend.core.errors import TendError
from tend.core.log import escrow
from tend.sync.membership import authorization
from tend.sync.transport import RelayRefused, RelayUnavailable, http_request, read_bounded

__all__ = [
    "INVITATION_TTL",
    "MAX_WAIT",
    "MailboxTaken",
    "RelayRefused",
    "RelayUnavailable",
    "get_escrow",
    "put",
    "put_escrow",
    "put_invitation",
    "take",
    "take_invitation",
]

MAX_WAIT = 60
INVITATION_TTL = 7 * 24 * 3600  # seconds: the longest the relay keeps an invitation
MAX_ANSWER = 64 << 10  # bytes: no message, invitation or escrow the relay keeps is longer
TIMEOUT = 30.0  # seconds for a request that does not wait for anyone
_HEX_ID = re.compile(r"[0-9a-f]{32}")


class MailboxTaken(TendError):
    """The relay holds a message under that id already (a claimed one, for a claim): pick
    another."""


def _url(relay: str, kind: str, box: str) -> str:
    if not _HEX_ID.fullmatch(box):
        raise ValueError("a mailbox or invitation id is 32 lowercase hex digits")
    return f"{relay.rstrip('/')}/v1/{kind}/{box}"


def _refusal(status: int, what: str) -> TendError:
    """What a failed answer means: taken (409), refused (another 4xx but 429), or try later."""
    if status == 409:
        return MailboxTaken(f"the relay refused {what}: that id is in use; pick another")
    if 400 <= status < 500 and status != 429:
        return RelayRefused(f"the relay refused {what} ({status})")
    return RelayUnavailable(f"the relay did not take {what} ({status})")


# --- pairing mailboxes --------------------------------------------------------------------------


async def put(relay: str, box: str, data: bytes, ttl: int = 600, claim: bool = False) -> None:
    """Post a message for up to `ttl` seconds; with `claim`, only into a mailbox nobody has
    claimed (else MailboxTaken)."""
    params = {"ttl": str(ttl), **({"claim": "1"} if claim else {})}
    url = _url(relay, "mailbox", box)
    async with http_request(relay, "POST", url, TIMEOUT, data=data, params=params) as response:
        if response.status == 409:
            raise _refusal(409, "a message")
        if response.status >= 300:
            raise RelayUnavailable(f"the relay did not take the invitation ({response.status})")


async def take(relay: str, box: str, wait: int) -> bytes | None:
    """The next message in the mailbox, waiting up to `wait` seconds; None if none came."""
    wait = min(wait, MAX_WAIT)
    url = _url(relay, "mailbox", box)
    async with http_request(relay, "GET", url, wait + 15, params={"wait": str(wait)}) as response:
        if response.status == 404:
            return None
        if response.status != 200:
            raise RelayUnavailable(f"the relay answered {response.status} for a mailbox")
        return await read_bounded(response, MAX_ANSWER)


# --- invitations --------------------------------------------------------------------------------


async def put_invitation(
    relay: str,
    box_hex: str,
    data: bytes,
    ttl: int = INVITATION_TTL,
    *,
    member: tuple[bytes, bytes] | None = None,
    answering: str | None = None,
) -> None:
    """Leave `data` under the id for up to `ttl` seconds (1 to a week). MailboxTaken if the id
    holds an invitation, or held one taken before its ttl ran out. An invite-only relay keeps
    it from a device of one of its journals (`member`: its space id and capability), or as the
    answer to the invitation whose id is `answering` (core/log/link_reply.py)."""
    url = _url(relay, "invitation", box_hex)
    params = {"ttl": str(ttl), **({"for": answering} if answering else {})}
    headers = {} if member is None else {"Authorization": authorization(*member)}
    options = {"data": data, "params": params, "headers": headers}
    async with http_request(relay, "POST", url, TIMEOUT, **options) as response:
        if response.status != 204:
            raise _refusal(response.status, "an invitation")


async def take_invitation(relay: str, box_hex: str) -> bytes | None:
    """The invitation under the id, which the relay deletes as it answers; None if none."""
    url = _url(relay, "invitation", box_hex)
    async with http_request(relay, "GET", url, TIMEOUT) as response:
        if response.status == 404:
            return None
        if response.status != 200:
            raise RelayUnavailable(f"the relay answered {response.status} for an invitation")
        return await read_bounded(response, MAX_ANSWER)


# --- recovery escrows ---------------------------------------------------------------------------


def _locator_hex(locator: bytes) -> str:
    if not isinstance(locator, bytes) or len(locator) != escrow.LOCATOR_LEN:
        raise ValueError(f"a locator is {escrow.LOCATOR_LEN} bytes")
    return locator.hex()


async def put_escrow(
    relay: str,
    locator: bytes,
    identity: bytes,
    blob: bytes,
    signature: bytes,
    member: tuple[bytes, bytes] | None = None,
) -> None:
    """Store or replace the blob under the locator; the relay checks that the identity's key
    signed it (escrow.signing_input) and that the locator derives from the identity. `member`,
    the (space id, capability) of a journal the relay holds, is what an invite-only relay
    asks of the writer."""
    body = msgpack.packb({"i": identity, "b": blob, "g": signature}, use_bin_type=True)
    url = _url(relay, "recovery", _locator_hex(locator))
    headers = {} if member is None else {"Authorization": authorization(*member)}
    async with http_request(relay, "PUT", url, TIMEOUT, data=body, headers=headers) as response:
        if response.status != 204:
            raise _refusal(response.status, "the recovery escrow")


async def get_escrow(relay: str, locator: bytes) -> bytes | None:
    """The blob under the locator, or None if the relay holds none."""
    url = _url(relay, "recovery", _locator_hex(locator))
    async with http_request(relay, "GET", url, TIMEOUT) as response:
        if response.status == 404:
            return None
        if response.status != 200:
            raise RelayUnavailable(f"the relay answered {response.status} for a recovery escrow")
        return await read_bounded(response, escrow.MAX_BLOB)
