"""Pairing: inviting a partner's device (or another of one's own) with a short code or a link,
joining with one, and the rules that keep a journal to two people unless both ask for more.

Coroutines where the relay is involved (the page runs them in its loop)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tend.app import finding, settings
from tend.app.syncing import until_arrived
from tend.core.crypto import pake
from tend.core.crypto.passphrase import Lock
from tend.core.errors import NextStep, UserError
from tend.core.ids import PersonId
from tend.core.journal import Journal
from tend.core.trust import lost, pairing
from tend.sync import pairing_flow
from tend.sync.client import SyncReport

THIRD_PERSON = (
    "this journal already has two people in it; a third would read everything either of you "
    "shares, from the very beginning"
)


@dataclass(frozen=True)
class CodeJoined:
    """The other device joined with the short code."""

    safety_code: str
    report: SyncReport


@dataclass(frozen=True)
class Welcome:
    """This device is in: synced, with the safety code to compare with the inviter."""

    journal: Journal
    report: SyncReport
    safety_code: str
    inviter_name: str
    own_device: bool  # joined as another device of the inviter's own person


@dataclass(frozen=True)
class Waiting:
    """This device answered a link and waits for the inviter to let it in."""

    inviter_name: str


def check_who(journal: Journal, *, own_device: bool, another_person: bool) -> bool:
    """Two by design: a third person only when both ask for it. Whether this invitation is for
    a third person (to be said plainly)."""
    if own_device or not lost.people_present(journal):
        return False
    if not another_person:
        raise UserError(THIRD_PERSON, next_step=NextStep.INVITE_ANOTHER_PERSON)
    return True


def mark_replaced(journal: Journal, device_prefix: str) -> tuple[bytes, PersonId]:
    """Mark the person of one of their old devices as lost, to invite them back as a new
    identity; the device and the person."""
    target = finding.device(journal, device_prefix)
    return target, lost.declare_lost(journal, target)


async def open_code(url: str, seconds: int) -> tuple[pairing.ShortCode, pake.Inviter]:
    return await pairing_flow.open_code(url, seconds)


async def complete_code(
    journal: Journal,
    url: str,
    code: pairing.ShortCode,
    inviter: pake.Inviter,
    *,
    own_device: bool,
    seconds: int,
    another_person: bool,
) -> CodeJoined:
    added = await pairing_flow.complete_code(
        journal,
        code,
        inviter,
        own_device=own_device,
        seconds=seconds,
        another_person=another_person,
    )
    if added is None:
        raise UserError(
            "nobody joined with that code before it expired", next_step=NextStep.INVITE_AGAIN
        )
    if isinstance(added, pairing_flow.Unanswered):
        raise UserError(
            "someone opened the invitation but never answered; nothing was shared",
            next_step=NextStep.INVITE_AGAIN,
        )
    report = await until_arrived(journal, url, added.device)  # their name, once they sent it
    me = journal.device
    return CodeJoined(pairing.safety_code(me.space, me.identity, added.identity), report)


async def open_link(
    journal: Journal, url: str, *, another_person: bool, replacing: PersonId | None
) -> pairing.Link:
    return await pairing_flow.open_link(
        journal, url, own_device=False, another_person=another_person, replacing=replacing
    )


async def join(
    home: Path,
    parsed: pairing.ShortCode | pairing.Link,
    *,
    name: str | None,
    label: str,
    lock: Lock | None,
) -> Welcome | Waiting:
    """Join with a short code or a link: in now (a code), or waiting to be let in (a link)."""
    joined = await pairing_flow.join(home, parsed, name=name, label=label, lock=lock)
    if joined.journal is None:
        return Waiting(joined.inviter_name)
    return await welcome(joined.journal, parsed.relay, joined)


async def finish_joining(home: Path, lock: Lock | None) -> Welcome | Waiting:
    """For a device that answered a link: in, if the inviter let it in by now."""
    joined = await pairing_flow.finish_link(home, lock)
    if joined.journal is None:
        return Waiting(joined.inviter_name)
    relay = settings.known_relay(joined.journal) or ""
    return await welcome(joined.journal, relay, joined)


async def welcome(journal: Journal, relay: str, joined: pairing_flow.Joined) -> Welcome:
    report = await until_arrived(journal, relay, joined.inviter_log)
    me = journal.device
    code = pairing.safety_code(me.space, me.identity, joined.inviter_identity)
    own_device = joined.inviter_identity == me.identity
    return Welcome(journal, report, code, joined.inviter_name, own_device)


def parse_code(text: str) -> pairing.ShortCode | pairing.Link:
    return pairing.parse_code(text)
