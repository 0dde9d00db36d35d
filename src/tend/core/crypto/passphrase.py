"""A passphrase turned into the key that wraps a device file, and the check that it is strong.

Argon2id (RFC 9106) at 256 MiB: a stolen laptop's device file costs an attacker that much memory
and about a second of work for every guess. The derived key, not the passphrase, is what a
journal keeps in memory and what the unlock agent (cli/unlock_agent.py) holds for a session:
re-saving the device file seals under the same salt and key, so nothing needs to ask again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tend.core.errors import CorruptStore, UserError

SALT_LEN = 16
KEY_LEN = 32


@dataclass(frozen=True)
class Cost:
    """Argon2id parameters, recorded in the file so a later change of default still opens it."""

    time: int  # passes over memory
    memory_kib: int
    lanes: int

    def check(self) -> None:
        """Bounds for what a file may ask of this machine: a damaged or hostile file must not
        make tend allocate 64 GiB or spin for an hour."""
        if not (1 <= self.time <= 16 and 8 <= self.memory_kib <= 4 << 20 and 1 <= self.lanes <= 16):
            raise CorruptStore("the device file asks for a passphrase cost out of bounds")
        if self.memory_kib < 8 * self.lanes:
            raise CorruptStore("the device file asks for a passphrase cost out of bounds")


# About 0.8 s on a two-core machine of 2026; paid once per login session with the agent.
DEFAULT_COST = Cost(time=3, memory_kib=256 * 1024, lanes=4)


@dataclass(frozen=True)
class Lock:
    """What seals and opens one device file: the salt and cost it records, and the key."""

    salt: bytes
    cost: Cost
    key: bytes


def derive(passphrase: str, salt: bytes, cost: Cost) -> bytes:
    cost.check()
    if len(salt) != SALT_LEN:
        raise CorruptStore("the device file's passphrase salt is damaged")
    return stretch(passphrase.encode("utf-8"), salt, cost)


def stretch(secret: bytes, salt: bytes, cost: Cost) -> bytes:
    """Argon2id, version 0x13, 32 bytes out: exactly the reference implementation."""
    from argon2.low_level import Type, hash_secret_raw

    return hash_secret_raw(
        secret,
        salt,
        time_cost=cost.time,
        memory_cost=cost.memory_kib,
        parallelism=cost.lanes,
        hash_len=KEY_LEN,
        type=Type.ID,
    )


def new_lock(passphrase: str, cost: Cost | None = None) -> Lock:
    """A lock for a new device file (or a changed passphrase): a fresh salt."""
    chosen = cost or DEFAULT_COST
    salt = secrets.token_bytes(SALT_LEN)
    return Lock(salt, chosen, derive(passphrase, salt, chosen))


MIN_LENGTH = 12
_MIN_SCORE = 3  # zxcvbn: "safely unguessable", beyond 10^10 guesses


def weakness(passphrase: str, *, context: tuple[str, ...] = ()) -> str | None:
    """Why this passphrase is too easy to guess, in a sentence; None when it is strong enough.

    `context` holds words an attacker knows (names, "tend"), which count for nothing."""
    if len(passphrase) < MIN_LENGTH:
        return f"a passphrase needs at least {MIN_LENGTH} characters; four random words work well"
    from zxcvbn import zxcvbn  # its word lists are large: loaded only when a passphrase is set

    result = zxcvbn(passphrase, user_inputs=[*context, "tend", "journal"])
    if int(result["score"]) >= _MIN_SCORE:
        return None
    hint = result.get("feedback", {}).get("warning") or "it is a common pattern"
    why = str(hint).rstrip(".").lower()
    return f"that passphrase is easy to guess ({why}); four random words work well"


def require_strong(passphrase: str, *, context: tuple[str, ...] = ()) -> None:
    problem = weakness(passphrase, context=context)
    if problem:
        raise UserError(problem)
