"""Asking for a passphrase, once a session: a new lock for a new device file, or the lock that
opens an existing one (from the unlock agent, TEND_PASSPHRASE for scripts, or a terminal)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from tend.core.errors import UserError
from tend.core.passphrase import Lock

ENV = "TEND_PASSPHRASE"


def new_lock(home: Path, *, context: tuple[str, ...] = ()) -> Lock:
    """A lock for a device file being made now, from a strong passphrase asked twice."""
    from tend.core import passphrase

    typed = os.environ.get(ENV)
    if not typed:
        if not sys.stdin.isatty():
            raise UserError(
                "--passphrase needs a terminal to ask on (or, in a script, TEND_PASSPHRASE)"
            )
        typed = click.prompt("Choose a passphrase", hide_input=True, confirmation_prompt=True)
    passphrase.require_strong(typed, context=context)
    lock = passphrase.new_lock(typed)
    if not os.environ.get(ENV):
        _hand_to_agent(home, lock)
    return lock


def open_lock(home: Path) -> Lock | None:
    """The lock for this journal's device file, or None if it has no passphrase or none can be
    had without waiting (then opening it says how to give one)."""
    from tend.cli import unlock_agent
    from tend.core import keystore

    path = home / keystore.FILE_NAME
    if not (path.exists() and keystore.is_wrapped(path)):
        return None
    held = unlock_agent.held_lock(home)
    if held is not None and held.salt == keystore.salt_and_cost(path)[0]:
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


def _hand_to_agent(home: Path, lock: Lock) -> None:
    from tend.cli import unlock_agent

    unlock_agent.start(home, lock)
