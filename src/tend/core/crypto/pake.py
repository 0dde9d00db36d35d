"""The short-code exchange: SPAKE2 between inviter and joiner, then an ephemeral X25519 it vouches
for. The only module that imports spake2. Sans-IO: bytes in, bytes out; sync/ moves them through
the relay's mailboxes.

Theory of operation
-------------------
The code's words are a password both sides know and nobody else does. SPAKE2 (the PAKE
magic-wormhole uses) turns it into a shared key K such that a recorded exchange, or the relay
that carries it, gives nothing to test guesses with offline: each guess needs a live exchange
with the inviter, and the inviter closes the invitation after the first that fails.

    inviter -> joiner   A1 = SPAKE2 message a (33 bytes)
    joiner  -> inviter  B1 = SPAKE2 message b | joiner's ephemeral X25519 public xb (32)
                             | HMAC(K, "tend/pake/joiner" | a | b | xb)            (32)
    inviter -> joiner   A2 = inviter's ephemeral X25519 public xa (32)
                             | HMAC(K, "tend/pake/inviter" | a | b | xb | xa)      (32)
                             | what follows, sealed under the session key

    session key = HKDF-SHA256(K | X25519(xa, xb), info = "tend/pake/session/v1")

Each side checks the other's confirmation before using anything: a wrong code fails there,
after one try, on both sides. An Inviter answers one joiner message only; a joiner device sends
B1 at most once per code (sync/pairing_flow.py remembers the codes it tried), so a relay that
plays one side to the other gets at most one guess on each side:
two per code, 2 in 2^32. The ephemeral X25519 secrets are dropped after the exchange, so
even someone who later learns the code (or K) cannot open a recorded invitation: the session key
needs one of them (forward secrecy).
"""

from __future__ import annotations

import hashlib
import hmac

from spake2 import SPAKE2_A, SPAKE2_B
from spake2.ed25519_basic import NotOnCurve
from spake2.spake2 import SPAKEError

from tend.core.crypto import keys
from tend.core.errors import InvalidEnvelope, UserError

ID_INVITER = b"tend-inviter"
ID_JOINER = b"tend-joiner"
PAKE_MESSAGE = 33
PUBLIC = 32
MAC = 32
JOINER_MESSAGE = PAKE_MESSAGE + PUBLIC + MAC
INVITER_PREFIX = PUBLIC + MAC


class WrongCode(UserError):
    """The other side does not hold the same code (mistyped, or someone guessing)."""

    def __init__(self) -> None:
        super().__init__(
            "that code is not the right one; the invitation is closed, ask for a new one"
        )


def _mac(key: bytes, label: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, label + b"".join(parts), hashlib.sha256).digest()


def _session(pake_key: bytes, secret: bytes, peer_public: bytes) -> bytes:
    try:
        shared = keys.dh_shared(secret, peer_public)
    except InvalidEnvelope:
        raise WrongCode from None
    return keys.derive(pake_key + shared, b"pake/session/v1")


class Inviter:
    """The side that made the code: `first` goes out, then `answer` the joiner's message."""

    def __init__(self, password: bytes) -> None:
        self._spake = SPAKE2_A(password, idA=ID_INVITER, idB=ID_JOINER)
        self.first: bytes = self._spake.start()
        self._answered = False

    def answer(self, message: bytes) -> tuple[bytes, bytes]:
        """(the prefix of A2, the session key); WrongCode if the joiner's code is not ours.

        One answer per invitation: any second call is WrongCode, right code or not (each
        call would be one more online guess)."""
        if self._answered:
            raise WrongCode
        self._answered = True
        if not isinstance(message, bytes) or len(message) != JOINER_MESSAGE:
            raise WrongCode
        b, xb, confirm = message[:PAKE_MESSAGE], message[PAKE_MESSAGE:-MAC], message[-MAC:]
        try:
            pake_key = self._spake.finish(b)
        except (SPAKEError, NotOnCurve, ValueError):
            raise WrongCode from None
        if not hmac.compare_digest(confirm, _mac(pake_key, b"tend/pake/joiner", self.first, b, xb)):
            raise WrongCode
        secret = keys.new_dh_secret()
        xa = keys.dh_public(secret)
        mine = _mac(pake_key, b"tend/pake/inviter", self.first, b, xb, xa)
        return xa + mine, _session(pake_key, secret, xb)


class Joiner:
    """The side that typed the code: `message` answers the inviter's first, then `finish`."""

    def __init__(self, password: bytes, first: bytes) -> None:
        if not isinstance(first, bytes) or len(first) != PAKE_MESSAGE:
            raise WrongCode
        spake = SPAKE2_B(password, idA=ID_INVITER, idB=ID_JOINER)
        b = spake.start()
        try:
            self._key = spake.finish(first)
        except (SPAKEError, NotOnCurve, ValueError):
            raise WrongCode from None
        self._secret = keys.new_dh_secret()
        xb = keys.dh_public(self._secret)
        self._transcript = (first, b, xb)
        self.message: bytes = b + xb + _mac(self._key, b"tend/pake/joiner", first, b, xb)

    def finish(self, prefix: bytes) -> bytes:
        """The session key, from the first INVITER_PREFIX bytes of A2; WrongCode if the inviter
        did not hold the same code."""
        if not isinstance(prefix, bytes) or len(prefix) != INVITER_PREFIX:
            raise WrongCode
        xa, confirm = prefix[:PUBLIC], prefix[PUBLIC:]
        if not hmac.compare_digest(
            confirm, _mac(self._key, b"tend/pake/inviter", *self._transcript, xa)
        ):
            raise WrongCode
        return _session(self._key, self._secret, xa)
