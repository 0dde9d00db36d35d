"""Where a journal lives on this device: starting one, and opening it.

The passphrase's derived key (a `Lock`) is the interface's to obtain (asked in a terminal,
held by the unlock agent, entered in the page); here it is only passed on.
"""

from __future__ import annotations

from pathlib import Path

from tend.app import settings
from tend.core.crypto.passphrase import Lock
from tend.core.errors import AlreadyInitialised, NextStep, UserError
from tend.core.journal import JOINING_FILE, Journal

PENDING_FILE = JOINING_FILE  # where a device that answered a link waits
STILL_JOINING = (
    "this device joined with a link and waits for the inviting device to let it in (nothing "
    "can be written here before that)"
)


def exists(home: Path) -> bool:
    return Journal.exists(home)


def still_joining(home: Path) -> bool:
    """Whether this device answered a link and waits for the inviter to let it in."""
    return Journal.waiting_to_join(home)


def refuse_if_exists(home: Path) -> None:
    if Journal.exists(home):
        raise AlreadyInitialised(f"there is already a journal in {home}")


def start(
    home: Path, name: str, *, lock: Lock | None = None, label: str = "", relay: str | None = None
) -> Journal:
    """A new journal on this device: a new person, a new space, this device in it."""
    refuse_if_exists(home)
    if relay:
        settings.relay_address(relay)  # a mistyped address refuses before anything is made
    journal = Journal.create(home, name, lock=lock, label=label)
    if relay:
        settings.set_relay(journal, relay)
    return journal


def open_journal(home: Path, lock: Lock | None) -> Journal:
    if still_joining(home):
        raise UserError(STILL_JOINING, next_step=NextStep.SYNC_LATER)
    return Journal.open(home, lock=lock)


def new_lock(typed: str, *, context: tuple[str, ...] = ()) -> Lock:
    """A lock for a device file made now, from a passphrase strong enough to guard it (a
    UserError says why one is not); `context` holds words it must not lean on (the name)."""
    from tend.core.crypto import passphrase

    passphrase.require_strong(typed, context=context)
    return passphrase.new_lock(typed)


def needs_passphrase(home: Path, file: str | None = None) -> bool:
    """Whether this home's journal (or `file` in it, e.g. PENDING_FILE) is locked with a
    passphrase (asked for before it opens)."""
    from tend.core.crypto import keystore

    path = home / (file or keystore.FILE_NAME)
    return path.exists() and keystore.is_wrapped(path)


def unlock(home: Path, typed: str, file: str | None = None) -> Lock:
    """The lock a typed passphrase gives for this home's journal (or `file` in it), checked: a
    wrong one raises WrongPassphrase here, before anything else is tried (the slow step)."""
    from tend.core.crypto import keystore

    path = home / (file or keystore.FILE_NAME)
    lock = keystore.unlock(path, typed)
    keystore.load(path, lock)
    return lock
