"""Asking for a passphrase, once a session: a new lock for a new device file, or the lock that
opens an existing one (from the unlock agent, TEND_PASSPHRASE for scripts, or a terminal)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from tend.core.crypto.passphrase import Lock
from tend.core.errors import UserError

ENV = "TEND_PASSPHRASE"


def new_lock(home: Path, *, context: tuple[str, ...] = ()) -> Lock:
    """A lock for a device file being made now, from a strong passphrase asked twice."""
    from tend.app import home as home_of

    typed = os.environ.get(ENV)
    if not typed:
        if not sys.stdin.isatty():
            raise UserError(
                "--passphrase needs a terminal to ask on (or, in a script, TEND_PASSPHRASE)"
            )
        typed = click.prompt("Choose a passphrase", hide_input=True, confirmation_prompt=True)
    lock = home_of.new_lock(typed, context=context)
    if not os.environ.get(ENV):
        _hand_to_agent(home, lock)
    return lock


def open_lock(home: Path, file: str | None = None) -> Lock | None:
    """The lock for this journal's device file (or `file` in the home, e.g. a link joiner's
    pending device), or None if it has no passphrase or none can be had without waiting (then
    opening it says how to give one)."""
    from tend.core.crypto import keystore

    path = home / (file or keystore.FILE_NAME)
    if not (path.exists() and keystore.is_wrapped(path)):
        return None
    from tend.cli import unlock_agent  # only for a device file under a passphrase

    held = _from_agent(path, unlock_agent.held_lock(home))
    if held is not None:
        return held
    typed = os.environ.get(ENV)
    if typed:
        return keystore.unlock(path, typed)
    if not sys.stdin.isatty():
        return None  # never wait for input without a terminal
    lock = keystore.unlock(path, click.prompt("Passphrase", hide_input=True))
    keystore.load(path, lock)  # a wrong one is said now and never handed to the agent
    _hand_to_agent(home, lock)
    return lock


def _from_agent(path: Path, held: Lock | None) -> Lock | None:
    """The lock for this file from what the agent holds, or None (then the passphrase is
    asked for, or taken from TEND_PASSPHRASE).

    Only the agent's key is taken, and only if it opens the file; the salt and cost always
    come from the file itself (within bounds, core/crypto/passphrase.py), never from the agent, so a
    re-save can never write a cost the passphrase was not stretched with. An agent of another
    file (another salt), a fake one, or one whose key does not open the file is not used."""
    from tend.core.crypto import keystore
    from tend.core.errors import TendError

    if held is None:
        return None
    salt, cost = keystore.salt_and_cost(path)
    if held.salt != salt:
        return None
    lock = held if held.cost == cost else Lock(salt, cost, held.key)
    try:
        keystore.load(path, lock)
    except TendError:
        return None
    return lock


def _hand_to_agent(home: Path, lock: Lock) -> None:
    from tend.cli import unlock_agent

    unlock_agent.start(home, lock)


# The one wording of the choice, for every command that begins a journal (init, join, restore).
passphrase_option = click.option(
    "--passphrase",
    "use_passphrase",
    is_flag=True,
    help="Lock this device's keys with a passphrase, asked for once a session.",
)
