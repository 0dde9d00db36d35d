"""Pairing: bringing a partner's device (or another of your own) into the space.

Theory of operation
-------------------
`tend invite` makes a short single-use code, e.g. ``K7QM4-XD2PA`` (50 random bits). Both
sides stretch it with scrypt and derive, with HKDF, two mailbox ids (one per direction) and a
key. The relay only ever sees the mailbox ids and sealed bytes, never the code; reversing a
mailbox id (or opening a recorded invitation) means a scrypt per guess over 2^50 codes; see
docs/security.md for what that does and does not protect.

    inviter ── sealed bundle (space id, space keys, inviter's device, relay, expiry) ──▶ joiner
    joiner  ── sealed reply (its new device: log id, person, public keys, label) ──────▶ inviter

The inviter then records a signed `device.added` for the joiner, which puts it on the roster
for every other device; the joiner anchors its trust in the inviter's signing key, which it
learnt through the code. Both show the same safety code, derived from the space and the two
signing keys, for the partners to compare in person: a relay that swapped keys would show.
An invite for one of your own devices also carries your private-entry key.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from tend.core import envelope, keys
from tend.core.errors import InvalidEnvelope, UserError
from tend.core.events import DeviceAdded
from tend.core.ids import LogId, PersonId, SpaceId, new_log_id, new_person_id
from tend.core.journal import Clock, Journal
from tend.core.keystore import DeviceKeys

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_CHARS = 10
INVITE_SECONDS = 600
_SCRYPT_N = 1 << 14
_BUNDLE = b"tend/invite/bundle/v1"
_REPLY = b"tend/invite/reply/v1"


class InvalidInvite(UserError):
    pass


@dataclass(frozen=True)
class InviteKeys:
    to_joiner: str  # mailbox id (32 hex) the inviter writes to
    to_inviter: str  # mailbox id the joiner answers on
    key: bytes


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return f"{raw[:5]}-{raw[5:]}"


def normalise(code: str) -> str:
    cleaned = code.upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(str.maketrans("ILOU", "110V"))
    if len(cleaned) != CODE_CHARS or any(c not in ALPHABET for c in cleaned):
        raise InvalidInvite("that invite code does not look right (it is 10 letters and digits)")
    return cleaned


def derive(code: str) -> InviteKeys:
    stretched = keys.passphrase_key(normalise(code), b"tend/invite", _SCRYPT_N)
    return InviteKeys(
        to_joiner=keys.derive(stretched, b"invite/mailbox/to-joiner")[:16].hex(),
        to_inviter=keys.derive(stretched, b"invite/mailbox/to-inviter")[:16].hex(),
        key=keys.derive(stretched, b"invite/key"),
    )


def capability(space_key: bytes) -> bytes:
    """What the relay asks for: derived from the current epoch's key, so members need no
    other secret and a new epoch gives a new capability. The relay keeps only its hash."""
    return keys.derive(space_key, b"relay-capability")


def capability_hash(cap: bytes) -> bytes:
    return hashlib.sha256(cap).digest()


def safety_code(space: bytes, public_a: bytes, public_b: bytes) -> str:
    """Six digits both devices of a pair show; equal on both sides only if no key was swapped."""
    digest = hashlib.sha256(b"tend/safety/v1" + space + b"".join(sorted((public_a, public_b))))
    number = int.from_bytes(digest.digest()[:8], "big") % 1_000_000
    return f"{number // 1000:03d} {number % 1000:03d}"


def _seal(key: bytes, record: dict[str, Any], label: bytes) -> bytes:
    return envelope.seal(key, msgpack.packb(record, use_bin_type=True), label)


def _open(key: bytes, sealed: bytes, label: bytes) -> dict[str, Any]:
    try:
        record = msgpack.unpackb(
            envelope.open_envelope(key, sealed, label), raw=False, strict_map_key=False
        )
    except (InvalidEnvelope, ValueError, msgpack.UnpackException):
        raise InvalidInvite("that invite code does not match this invitation") from None
    if not isinstance(record, dict):
        raise InvalidInvite("the invitation is damaged")
    return record


def make_bundle(
    journal: Journal, invite: InviteKeys, *, own_device: bool, relay: str, now_ms: int | None = None
) -> bytes:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    device = journal.device
    # The joiner trusts what the inviter trusts: the code authenticated the inviter, and the
    # inviter vouches for every device on its roster (its own, its partner's).
    from tend.core.rotation import current_roster

    members = current_roster(journal)
    record: dict[str, Any] = {
        "trusted": {bytes(d): members.keys[d] for d in members.active()},
        "space": device.space,
        "epoch": device.epoch,
        "keys": device.space_keys,
        "inviter": device.log,
        "inviter_pub": device.sign_public,
        "relay": relay,
        "expires": now + INVITE_SECONDS * 1000,
    }
    if own_device:
        record.update(person=device.person, private=device.private_key)
    return _seal(invite.key, record, _BUNDLE)


def join(
    home: Path,
    invite: InviteKeys,
    sealed_bundle: bytes,
    *,
    name: str | None,
    label: str,
    passphrase: str | None = None,
    now_ms: int | None = None,
    clock: Clock | None = None,
) -> tuple[Journal, bytes]:
    """Create this device's journal from an invitation; returns it and the sealed reply."""
    bundle = _open(invite.key, sealed_bundle, _BUNDLE)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now > int(bundle["expires"]):
        raise InvalidInvite("that invitation has expired; ask for a new code")
    own = "person" in bundle
    if not own and not name:
        raise UserError("joining as a partner needs --name")
    if Journal.exists(home):
        raise UserError(f"there is already a journal in {home}")
    device = DeviceKeys(
        space=SpaceId(bundle["space"]),
        person=PersonId(bundle["person"]) if own else new_person_id(),
        log=new_log_id(),
        sign_seed=keys.new_signing_seed(),
        dh_secret=keys.new_dh_secret(),
        epoch=int(bundle["epoch"]),
        space_keys={int(k): v for k, v in bundle["keys"].items()},
        private_key=bundle["private"] if own else keys.new_key(),
        local_key=keys.new_key(),
        settings={"relay": bundle["relay"], "relay_epoch": int(bundle["epoch"])},
        anchors={**dict(bundle.get("trusted", {})), bundle["inviter"]: bundle["inviter_pub"]},
    )
    journal = Journal.begin(
        home,
        device,
        passphrase,
        label=label,
        name=None if own else name,
        now=clock,
    )
    reply = _seal(
        invite.key,
        {
            "log": device.log,
            "person": device.person,
            "sign_pub": device.sign_public,
            "dh_pub": device.dh_public,
            "label": label,
        },
        _REPLY,
    )
    return journal, reply


def accept(
    journal: Journal, invite: InviteKeys, sealed_reply: bytes, *, own_device: bool | None = None
) -> DeviceAdded:
    """On the inviter: put the joiner's device on the roster with a signed event.

    With `own_device` given, the reply must be what that invitation allows: the inviter's own
    person for an own-device invite, a new person for a partner's.
    """
    reply = _open(invite.key, sealed_reply, _REPLY)
    mine = reply.get("person") == journal.device.person
    if own_device is not None and mine != own_device:
        raise InvalidInvite("the reply does not match the invitation (wrong person)")
    added = DeviceAdded(
        device=LogId(reply["log"]),
        person=PersonId(reply["person"]),
        sign_pub=reply["sign_pub"],
        dh_pub=reply["dh_pub"],
        label=str(reply.get("label", "")),
    )
    journal.record(added)
    return added


def inviter_public(sealed_bundle: bytes, invite: InviteKeys) -> tuple[bytes, bytes]:
    bundle = _open(invite.key, sealed_bundle, _BUNDLE)
    return bundle["inviter"], bundle["inviter_pub"]
