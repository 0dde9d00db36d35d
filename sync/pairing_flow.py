"""Pairing through the relay: the short-code exchange and link invitations, end to end.

core/pairing.py and core/pake.py say what is sealed and checked; this moves it. With a short
code, both devices are online: the inviter claims the code's mailboxes (another number if they are
taken), and each step waits for the other side (docs/protocol.md, "Pairing mailboxes"). With a
link, the inviter leaves the sealed invitation with the relay for up to a week and remembers the
link in its device settings; whenever the partner joins, their reply waits at the relay, and the
inviting device completes the pairing at its next sync (`complete_links`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tend.core import pairing, pake
from tend.core.events import DeviceAdded
from tend.core.journal import Clock, Journal
from tend.core.passphrase import Lock
from tend.sync import mailbox

NAMEPLATE_TRIES = 8
STEP_WAIT = mailbox.MAX_WAIT  # seconds one long-poll waits
JOINER_WAIT = 60  # how long a joiner waits for each answer from the inviter
_WRONG = b"wrong code"  # what the inviter leaves for a joiner whose code was not right


class WrongCodeTried(pairing.InvalidInvite):
    """Someone answered the invitation with a different code: it is closed."""


@dataclass(frozen=True)
class Joined:
    journal: Journal
    inviter_log: bytes
    inviter_identity: bytes


# --- inviting with a short code ------------------------------------------------------------------


async def open_code(relay: str, seconds: int) -> tuple[pairing.ShortCode, pake.Inviter]:
    """A fresh short code whose first mailbox this device has claimed on the relay."""
    for _try in range(NAMEPLATE_TRIES):
        code = pairing.ShortCode.new(relay)
        inviter = pake.Inviter(code.password)
        try:
            await mailbox.put(relay, code.box("A1"), inviter.first, ttl=seconds, claim=True)
        except mailbox.MailboxTaken:
            continue  # someone else's invitation uses this number right now: another one
        return code, inviter
    raise mailbox.RelayUnavailable("the relay has no free invitation number now; try again soon")


async def complete_code(
    journal: Journal,
    code: pairing.ShortCode,
    inviter: pake.Inviter,
    *,
    own_device: bool,
    seconds: int,
) -> DeviceAdded | None:
    """Wait for the joiner, check its code, hand over the invitation, bring its device in.

    None if nobody came in time; WrongCodeTried if someone came with another code (the
    invitation is then closed, and they learn it failed)."""
    deadline = time.monotonic() + seconds
    answer = await _wait(code.relay, code.box("B1"), deadline)
    if answer is None:
        return None
    try:
        prefix, session = inviter.answer(answer)
    except pake.WrongCode:
        await mailbox.put(code.relay, code.box("A2"), _WRONG, ttl=JOINER_WAIT)
        raise WrongCodeTried(
            "someone tried to join with a different code; the invitation is closed and nothing "
            "was shared: run tend invite again"
        ) from None
    bundle = pairing.make_bundle(journal, session, own_device=own_device, relay=code.relay)
    await mailbox.put(code.relay, code.box("A2"), prefix + bundle, ttl=seconds)
    reply = await _wait(code.relay, code.box("B2"), deadline)
    if reply is None:
        return None
    return pairing.accept(journal, session, reply, own_device=own_device)


async def _wait(relay: str, box: str, deadline: float) -> bytes | None:
    while (left := deadline - time.monotonic()) > 0:
        found = await mailbox.take(relay, box, wait=max(1, min(int(left), STEP_WAIT)))
        if found is not None:
            return found
    return None


# --- joining -------------------------------------------------------------------------------------


async def join(
    home: Path,
    code: pairing.ShortCode | pairing.Link,
    *,
    name: str | None,
    label: str,
    lock: Lock | None,
    clock: Clock | None = None,
) -> Joined:
    """Join with a short code or a link: this device's journal, brought in by the inviter."""
    if isinstance(code, pairing.Link):
        return await _join_link(home, code, name, label, lock, clock)
    first = await mailbox.take(code.relay, code.box("A1"), wait=10)
    if first is None:
        raise pairing.InvalidInvite(
            "no invitation waits under that code (expired, already used, or mistyped)"
        )
    joiner = pake.Joiner(code.password, first)
    await mailbox.put(code.relay, code.box("B1"), joiner.message, ttl=JOINER_WAIT)
    answer = await _wait(code.relay, code.box("A2"), time.monotonic() + JOINER_WAIT)
    if answer is None or answer == _WRONG:
        raise pake.WrongCode
    session = joiner.finish(answer[: pake.INVITER_PREFIX])
    bundle = answer[pake.INVITER_PREFIX :]
    journal, reply = pairing.join(
        home, session, bundle, name=name, label=label, lock=lock, clock=clock
    )
    await mailbox.put(code.relay, code.box("B2"), reply, ttl=JOINER_WAIT)
    inviter_log, identity = pairing.inviter_public(bundle, session)
    return Joined(journal, inviter_log, identity)


async def _join_link(
    home: Path,
    link: pairing.Link,
    name: str | None,
    label: str,
    lock: Lock | None,
    clock: Clock | None,
) -> Joined:
    bundle = await mailbox.take_invitation(link.relay, link.box("bundle"))
    if bundle is None:
        raise pairing.InvalidInvite(
            "no invitation waits under that link (expired, already used, or mistyped)"
        )
    journal, reply = pairing.join(
        home, link.key, bundle, name=name, label=label, lock=lock, clock=clock
    )
    await mailbox.put_invitation(link.relay, link.box("reply"), reply, ttl=pairing.LINK_SECONDS)
    inviter_log, identity = pairing.inviter_public(bundle, link.key)
    return Joined(journal, inviter_log, identity)


# --- inviting with a link ------------------------------------------------------------------------


async def open_link(journal: Journal, relay: str, *, own_device: bool) -> pairing.Link:
    """Leave a sealed invitation with the relay for a week, and remember it here."""
    link = pairing.Link.new(relay)
    bundle = pairing.make_bundle(
        journal, link.key, own_device=own_device, relay=relay, seconds=pairing.LINK_SECONDS
    )
    await mailbox.put_invitation(relay, link.box("bundle"), bundle, ttl=pairing.LINK_SECONDS)
    pending = list(journal.device.settings.get("invitations", []))
    pending.append(
        {
            "secret": link.secret.hex(),
            "relay": relay,
            "own": own_device,
            "expires": int(time.time()) + pairing.LINK_SECONDS,
        }
    )
    journal.device.settings["invitations"] = pending
    journal.save_device()
    return link


async def complete_links(journal: Journal) -> list[DeviceAdded]:
    """Bring in whoever answered a link this device left; forget links that expired."""
    pending = journal.device.settings.get("invitations", [])
    if not isinstance(pending, list) or not pending:
        return []
    added, keep = [], []
    for item in pending:
        done = await _complete_one(journal, item)
        if isinstance(done, DeviceAdded):
            added.append(done)
        elif done:
            keep.append(item)
    if keep != pending:
        journal.device.settings["invitations"] = keep
        journal.save_device()
    return added


async def _complete_one(journal: Journal, item: object) -> DeviceAdded | bool:
    """The device brought in; True to keep waiting; False to forget the invitation."""
    if not isinstance(item, dict) or int(item.get("expires", 0)) < time.time():
        return False
    try:
        link = pairing.Link(bytes.fromhex(str(item["secret"])), str(item["relay"]))
    except (KeyError, ValueError):
        return False
    reply = await mailbox.take_invitation(link.relay, link.box("reply"))
    if reply is None:
        return True
    try:
        return pairing.accept(journal, link.key, reply, own_device=bool(item.get("own")))
    except pairing.InvalidInvite:
        return False  # not an answer to this link: the link is used up all the same
