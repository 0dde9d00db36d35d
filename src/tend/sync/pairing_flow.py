"""Pairing through the relay: the short-code exchange and link invitations, end to end.

core/trust/pairing.py and core/crypto/pake.py say what is sealed and checked; this moves it. Pairing
is two phases: the invitation holds nothing secret, and the space keys go to the joiner only after
the inviter has accepted its reply (and recorded the `device.added`).

With a short code, both devices are online: the inviter claims the code's mailboxes (another
number if they are taken), and each step waits for the other side (docs/protocol.md, "Pairing
mailboxes"): A1, B1, A2 (the invitation), B2 (the reply), A3 (the keys, or a refusal). With a
link, the inviter leaves the sealed invitation with the relay for up to a week and remembers the
link in its device settings; whenever the partner joins, their reply waits at the relay, and
the inviting device accepts it at its next sync (`complete_links`) and leaves the keys, sealed
to the joiner's new device, under the link's "keys" box; the joiner's device waits on disk
until its next sync (`finish_link`).

A joiner sends the confirmation of a code (B1) at most once per code on a device: it remembers
every code it tried (`USED_CODES`), so a relay that plays the inviter to it gets one guess, and
the inviter closes its invitation after one wrong answer: one online guess per side per code.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tend.core.crypto import pake
from tend.core.crypto.passphrase import Lock
from tend.core.domain.events import DeviceAdded
from tend.core.errors import NextStep, UserError
from tend.core.fsutil import ensure_private_dir, write_private_atomic
from tend.core.ids import PersonId
from tend.core.journal import Clock, Journal
from tend.core.trust import pairing
from tend.sync import mailbox
from tend.sync.membership import credentials

NAMEPLATE_TRIES = 8
STEP_WAIT = mailbox.MAX_WAIT  # seconds one long-poll waits
JOINER_WAIT = 60  # how long a joiner waits for each answer from the inviter
USED_CODES = "used-codes"  # in the joiner's home: a hash of every short code it answered
LINK_TTL = pairing.LINK_SECONDS
_WRONG = b"wrong code"  # what the inviter leaves for a joiner whose code was not right


class WrongCodeTried(pairing.InvalidInvite):
    """Someone answered the invitation with a different code: it is closed."""


@dataclass(frozen=True)
class Unanswered:
    """Someone holding the code opened the invitation but never sent a valid reply in time.
    Nothing secret was shared (the invitation holds no keys)."""


@dataclass(frozen=True)
class Joined:
    journal: Journal | None  # None while a link's joiner waits to be let in
    inviter_log: bytes
    inviter_identity: bytes
    inviter_name: str = ""


@dataclass(frozen=True)
class LinkOutcome:
    """What became of one answered link at this sync: `added`, or a line to tell the person
    (and what they can do next, if anything)."""

    added: DeviceAdded | None = None
    note: str = ""
    next_step: NextStep | None = None


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
    another_person: bool = False,
) -> DeviceAdded | Unanswered | None:
    """Wait for the joiner, check its code, hand over the invitation, check its reply, bring
    its device in, and only then send it the keys (A3).

    None if nobody came in time; Unanswered if someone with the code opened the invitation but
    sent no valid reply; WrongCodeTried if someone came with another code (the invitation is
    then closed, and they learn it failed); UserError if the reply would break two by design
    (the joiner is told, and nothing was shared)."""
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
            "was shared",
            next_step=NextStep.INVITE_AGAIN,
        ) from None
    bundle = pairing.make_bundle(journal, session, own_device=own_device, relay=code.relay)
    await mailbox.put(code.relay, code.box("A2"), prefix + bundle, ttl=seconds)
    reply = await _wait(code.relay, code.box("B2"), deadline)
    if reply is None:
        return Unanswered()
    try:
        added = pairing.parse_reply(journal, session, reply, own_device=own_device)
    except pairing.InvalidInvite:
        return Unanswered()
    why = pairing.admit(journal, added, another_person=another_person)
    if why is not None:
        refusal = pairing.seal_keys(session, {"refused": why})
        await mailbox.put(code.relay, code.box("A3"), refusal, ttl=JOINER_WAIT)
        raise UserError(f"their device was not let in: {why}; nothing was shared")
    pairing.record_added(journal, added)
    sealed = pairing.seal_keys(session, pairing.keys_record(journal, added))
    await mailbox.put(code.relay, code.box("A3"), sealed, ttl=JOINER_WAIT)
    return added


async def _wait(relay: str, box: str, deadline: float) -> bytes | None:
    while (left := deadline - time.monotonic()) > 0:
        found = await mailbox.take(relay, box, wait=max(1, min(int(left), STEP_WAIT)))
        if found is not None:
            return found
    return None


# --- joining -------------------------------------------------------------------------------------


def _code_digest(code: pairing.ShortCode) -> str:
    # The number and words alone: the same code typed with the relay spelt another way is the
    # same code, and must not earn another guess.
    raw = f"tend/used-code/v2|{code.nameplate}|{'-'.join(w.lower() for w in code.words)}".encode()
    return hashlib.sha256(raw).hexdigest()


def _tried_before(home: Path, code: pairing.ShortCode) -> bool:
    try:
        seen = (home / USED_CODES).read_text().split()
    except FileNotFoundError:
        return False
    return _code_digest(code) in seen


def _remember_tried(home: Path, code: pairing.ShortCode) -> None:
    """Before this device answers a code: never answer the same code again (a relay that
    played the inviter would otherwise get another guess each time `tend join` is re-run)."""
    ensure_private_dir(home)
    path = home / USED_CODES
    try:
        seen = path.read_text().split()
    except FileNotFoundError:
        seen = []
    write_private_atomic(path, ("\n".join([*seen[-255:], _code_digest(code)]) + "\n").encode())


async def join(
    home: Path,
    code: pairing.ShortCode | pairing.Link,
    *,
    name: str | None,
    label: str,
    lock: Lock | None,
    clock: Clock | None = None,
) -> Joined:
    """Join with a short code or a link: this device's journal, once the inviter let it in (for
    a link, later: `Joined.journal` is None and the device waits on disk)."""
    if isinstance(code, pairing.Link):
        return await _join_link(home, code, name, label, lock)
    if _tried_before(home, code):
        raise pairing.InvalidInvite(
            "that code was already tried on this device and did not work; ask for a new one"
        )
    first = await mailbox.take(code.relay, code.box("A1"), wait=10)
    if first is None:
        raise pairing.InvalidInvite(
            "no invitation waits under that code (expired, already used, or mistyped)"
        )
    joiner = pake.Joiner(code.password, first)
    _remember_tried(home, code)
    await mailbox.put(code.relay, code.box("B1"), joiner.message, ttl=JOINER_WAIT)
    answer = await _wait(code.relay, code.box("A2"), time.monotonic() + JOINER_WAIT)
    if answer is None or answer == _WRONG:
        raise pake.WrongCode
    session = joiner.finish(answer[: pake.INVITER_PREFIX])
    bundle = answer[pake.INVITER_PREFIX :]
    pending, reply = pairing.join(home, session, bundle, name=name, label=label)
    await mailbox.put(code.relay, code.box("B2"), reply, ttl=JOINER_WAIT)
    sealed = await _wait(code.relay, code.box("A3"), time.monotonic() + JOINER_WAIT)
    if sealed is None:
        raise pairing.InvalidInvite(
            "the inviting device did not let this device in (no answer came); nothing was "
            "made here: ask for a new code"
        )
    journal = pending.finish(pairing.open_keys(session, sealed), lock=lock, clock=clock)
    return Joined(journal, pending.inviter_log, pending.inviter_identity)


async def _join_link(
    home: Path,
    link: pairing.Link,
    name: str | None,
    label: str,
    lock: Lock | None,
) -> Joined:
    bundle = await mailbox.take_invitation(link.relay, link.box("bundle"))
    if bundle is None:
        raise pairing.InvalidInvite(
            "no invitation waits under that link (expired, already used, or mistyped)"
        )
    pending, reply = pairing.join(home, link.key, bundle, name=name, label=label)
    if pending.bundle.own:
        raise pairing.InvalidInvite("a link does not bring in a device of your own")
    pending.save(lock, extra={"link": link.secret.hex(), "link_relay": link.relay})
    answering = link.box("bundle")  # the joiner is not a member yet: it answers an invitation
    await mailbox.put_invitation(
        link.relay, link.box("reply"), reply, ttl=pairing.LINK_SECONDS, answering=answering
    )
    return Joined(None, pending.inviter_log, pending.inviter_identity, pending.bundle.inviter_name)


async def finish_link(home: Path, lock: Lock | None, clock: Clock | None = None) -> Joined:
    """For a device that joined with a link: its journal, if the inviter has let it in by now
    (else `Joined.journal` is None: still waiting). InvalidInvite if the inviter refused it
    (the pending device is then forgotten, so the person can join again)."""
    pending, extra = pairing.Pending.load(home, lock)
    link = pairing.Link(bytes.fromhex(str(extra["link"])), str(extra["link_relay"]))
    waiting = Joined(
        None, pending.inviter_log, pending.inviter_identity, pending.bundle.inviter_name
    )
    sealed = await mailbox.take_invitation(link.relay, link.box("keys"))
    if sealed is None:
        return waiting
    try:
        record = pairing.open_keys_sealed(pending, sealed)
    except pairing.InvalidInvite:
        return waiting  # not from the inviter (someone else with the link): keep waiting
    try:
        journal = pending.finish(record, lock=lock, clock=clock)
    except pairing.InvalidInvite:
        (home / pairing.PENDING_FILE).unlink(missing_ok=True)
        raise
    (home / pairing.PENDING_FILE).unlink(missing_ok=True)
    return Joined(journal, pending.inviter_log, pending.inviter_identity, waiting.inviter_name)


# --- inviting with a link ------------------------------------------------------------------------


async def open_link(
    journal: Journal,
    relay: str,
    *,
    own_device: bool,
    another_person: bool = False,
    replacing: PersonId | None = None,
) -> pairing.Link:
    """Leave a sealed invitation with the relay for a week, and remember it here, with what it
    was made for (checked again when its answer is accepted)."""
    if own_device:
        raise UserError("a link does not bring in a device of your own; use a short code")
    link = pairing.Link.new(relay)
    bundle = pairing.make_bundle(
        journal, link.key, own_device=False, relay=relay, seconds=pairing.LINK_SECONDS
    )
    await mailbox.put_invitation(
        relay, link.box("bundle"), bundle, ttl=pairing.LINK_SECONDS, member=credentials(journal)
    )
    pending = list(journal.device.settings.get("invitations", []))
    item: dict[str, Any] = {
        "secret": link.secret.hex(),
        "relay": relay,
        "own": False,
        "another": another_person,
        "expires": int(time.time()) + pairing.LINK_SECONDS,
    }
    if replacing is not None:
        item["replacing"] = bytes(replacing).hex()
    pending.append(item)
    journal.device.settings["invitations"] = pending
    journal.save_device()
    return link


async def complete_links(journal: Journal) -> list[LinkOutcome]:
    """Accept whoever answered a link this device left (or refuse them, once, saying why), and
    send the keys to those accepted; forget links that expired or were used."""
    pending = journal.device.settings.get("invitations", [])
    if not isinstance(pending, list) or not pending:
        return []
    state: list[dict[str, Any] | None] = [dict(i) if isinstance(i, dict) else None for i in pending]

    def save() -> None:
        journal.device.settings["invitations"] = [i for i in state if i is not None]
        journal.save_device()

    outcomes: list[LinkOutcome] = []
    for n, item in enumerate(state):
        if item is None:
            continue
        try:
            done, outcome = await _complete_one(journal, item, save)
        except mailbox.RelayUnavailable:
            done, outcome = False, None  # tried again at the next sync
        if outcome is not None:
            outcomes.append(outcome)
        if done:
            state[n] = None
    if [i for i in state if i is not None] != pending:
        save()
    return outcomes


async def _complete_one(
    journal: Journal, item: dict[str, Any], save: Callable[[], None]
) -> tuple[bool, LinkOutcome | None]:
    """(whether this link is done with, what to tell). `item` is updated in place."""
    try:
        link = pairing.Link(bytes.fromhex(str(item["secret"])), str(item["relay"]))
    except (KeyError, ValueError):
        return True, None
    if "keys" in item:  # accepted already; the keys did not reach the relay last time
        sealed = bytes.fromhex(str(item["keys"]))
        await _leave(journal, link, "keys", sealed)
        return True, None
    if "reply" in item:
        reply: bytes | None = bytes.fromhex(str(item["reply"]))
    else:
        if int(item.get("expires", 0)) < time.time():
            return True, None
        reply = await mailbox.take_invitation(link.relay, link.box("reply"))
    if reply is None:
        return False, None
    try:
        added = pairing.parse_reply(journal, link.key, reply, own_device=False)
    except pairing.InvalidInvite:
        return True, None  # not an answer to this link: the link is used up all the same
    replacing = PersonId(bytes.fromhex(str(item["replacing"]))) if "replacing" in item else None
    why = pairing.admit(
        journal, added, another_person=bool(item.get("another")), replacing=replacing
    )
    who = f" ({added.label})" if added.label else ""
    if why == "hold":
        told = "reply" in item
        item["reply"] = reply.hex()  # kept here: the relay hands a reply out only once
        save()
        note = f"Someone answered your link{who} to replace a lost person"
        step = NextStep.REMOVE_REPLACED_DEVICES
        return False, None if told else LinkOutcome(note=note, next_step=step)
    if why is not None:
        refusal = pairing.seal_keys_to(journal, added, {"refused": why})
        await _leave(journal, link, "keys", refusal)
        note = f"A device answered your link{who} but was not let in: {why}."
        return True, LinkOutcome(note=note)
    sealed = pairing.seal_keys_to(journal, added, pairing.keys_record(journal, added))
    item.pop("reply", None)
    item["keys"] = sealed.hex()  # sent again at the next sync if the relay does not take it now
    save()
    pairing.record_added(journal, added)
    await _leave(journal, link, "keys", sealed)
    return True, LinkOutcome(added=added)


async def _leave(journal: Journal, link: pairing.Link, which: str, data: bytes) -> None:
    """Leave what goes under one of the link's boxes, as a device of the journal."""
    member = credentials(journal)
    await mailbox.put_invitation(link.relay, link.box(which), data, ttl=LINK_TTL, member=member)
