"""The recovery phrase: shown once, and a journal brought back with it on a new device, as the
same person (every key epoch, all history, the person's private entries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tend.app import home as homes
from tend.core.crypto import keys
from tend.core.crypto.keystore import FILE_NAME
from tend.core.crypto.passphrase import Lock
from tend.core.errors import UserError
from tend.core.ids import LogId
from tend.core.journal import DB_NAME, Journal
from tend.core.log import escrow
from tend.core.log.identity import person_of
from tend.core.trust import lost, pairing
from tend.core.trust import recovery as phrases
from tend.core.views import projections
from tend.sync import client, mailbox
from tend.sync.client import SyncReport


@dataclass(frozen=True)
class Retired:
    device: LogId
    label: str


@dataclass(frozen=True)
class Partner:
    name: str | None
    safety_code: str


@dataclass(frozen=True)
class Restored:
    journal: Journal
    report: SyncReport
    name: str
    retired: list[Retired]  # this person's other devices, retired in one rotation
    others: list[Partner]  # who else is in the journal, with the code to compare in person


def show_once(journal: Journal) -> list[str]:
    """The 24 words, once: this device forgets them as it shows them."""
    return phrases.show_once(journal).split()


async def restore(
    home: Path,
    phrase: str,
    *,
    relay: str,
    label: str = "",
    make_lock: Callable[[], Lock | None] = lambda: None,
) -> Restored:
    """Bring the journal back from the relay with the phrase (`make_lock` is asked for the
    passphrase's key only once the phrase has found its record). A restore that did not finish its
    first sync and the retirement of the other devices is undone whole, to be run again."""
    homes.refuse_if_exists(home)
    person = keys.PersonSecrets.from_root(phrases.root_of(phrase))
    blob = await mailbox.get_escrow(relay, escrow.locator_of(person.identity().encode()))
    if blob is None:
        raise UserError(
            f"the relay at {relay} holds no recovery record for that phrase (another relay, or "
            "your devices never synced there)"
        )
    found = phrases.open_escrow(person, blob)
    lock = make_lock()
    journal = phrases.restore(home, person, found, relay=relay, label=label, lock=lock)
    try:
        report = await client.sync_once(journal, relay)
        journal.restoring = None
        retired = phrases.retire_other_devices(journal)
    except BaseException:
        # The phrase's key for following rotations lives only in this process.
        journal.close()
        _undo(home)
        raise
    if retired:
        await client.sync_once(journal, relay)  # the others learn of it now, not later
    name = projections.names(journal.items()).get(journal.device.person, "you")
    return Restored(journal, report, name, _retired(journal, retired), _others(journal))


def _undo(home: Path) -> None:
    for name in (FILE_NAME, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        (home / name).unlink(missing_ok=True)


def _retired(journal: Journal, devices: list[LogId]) -> list[Retired]:
    members = journal.roster().members
    return [
        Retired(d, members[d].label if d in members and members[d].label else "") for d in devices
    ]


def _others(journal: Journal) -> list[Partner]:
    names = projections.names(journal.items())
    me = journal.device
    return [
        Partner(
            names.get(person_of(identity)),
            pairing.safety_code(me.space, me.identity, identity),
        )
        for identity in lost.people_present(journal)
    ]
