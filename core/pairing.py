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

The joiner's reply carries its device's certificate, signed by its person's identity key. The
inviter checks it, records a `device.added` for the joiner (which brings it in for every other
device) and pins it; the joiner pins the inviter and what it trusted, learnt through the code.
Both show the same safety code, derived from the space and the two identity keys, for the
partners to compare in person: a relay that swapped keys would show. An invite for one of your
own devices also carries your identity key and private-entry key.
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
from tend.core.errors import InvalidEnvelope, UserError, ValidationError
from tend.core.events import DeviceAdded
from tend.core.header import log_id_of
from tend.core.identity import IDENTITY_LEN, Identity, cert_valid
from tend.core.ids import LogId, SpaceId
from tend.core.journal import Clock, Journal
from tend.core.keystore import Anchor, DeviceKeys
from tend.core.rotation_record import MAX_EPOCH

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


def safety_code(space: bytes, identity_a: bytes, identity_b: bytes) -> str:
    """Twenty digits both partners' devices show; equal on both sides only if neither identity
    was swapped. It covers the two *identity* keys, so one comparison in person covers every
    device either partner brings in later (each is cross-signed by its person's identity)."""
    pubs = sorted(Identity.decode(i).sign_pub for i in (identity_a, identity_b))
    digest = hashlib.sha256(b"tend/safety/v2" + space + b"".join(pubs)).digest()
    number = int.from_bytes(digest[:9], "big") % 10**20
    text = f"{number:020d}"
    return " ".join(text[i : i + 4] for i in range(0, 20, 4))


def _seal(key: bytes, record: dict[str, Any], label: bytes) -> bytes:
    return envelope.seal(key, msgpack.packb(record, use_bin_type=True), label)


def _open(key: bytes, sealed: bytes, label: bytes) -> dict[str, Any]:
    try:
        record = msgpack.unpackb(
            envelope.open_envelope(key, sealed, label),
            raw=False,
            strict_map_key=False,
            max_ext_len=0,
        )
    except (InvalidEnvelope, ValueError, TypeError, msgpack.UnpackException):
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
    roster = journal.roster()
    record: dict[str, Any] = {
        "trusted": [
            [d, roster.members[d].sign_pub, roster.members[d].identity] for d in roster.active()
        ],
        "space": device.space,
        "epoch": device.epoch,
        "keys": device.space_keys,
        "inviter": [device.log, device.sign_public, device.identity],
        "relay": relay,
        "expires": now + INVITE_SECONDS * 1000,
    }
    if own_device:
        record.update(identity_seed=device.identity_seed, private=device.private_key)
    return _seal(invite.key, record, _BUNDLE)


@dataclass(frozen=True)
class Bundle:
    """An invitation, checked field by field (it comes from the network)."""

    space: SpaceId
    epoch: int
    space_keys: dict[int, bytes]
    inviter: tuple[LogId, Anchor]
    trusted: dict[LogId, Anchor]
    relay: str
    expires: int
    identity_seed: bytes | None  # for one's own device: the person's identity key
    private_key: bytes | None

    @classmethod
    def parse(cls, record: dict[str, Any]) -> Bundle:
        try:
            own = "identity_seed" in record
            bundle = cls(
                space=SpaceId(_sized(record["space"], 16)),
                epoch=_number(record["epoch"], 1, MAX_EPOCH),
                space_keys=_space_keys(record["keys"]),
                inviter=_anchor(record["inviter"]),
                trusted=dict(_anchor(a) for a in _listed(record["trusted"], 256)),
                relay=_text(record["relay"]),
                expires=_number(record["expires"], 0, 1 << 62),
                identity_seed=_sized(record["identity_seed"], 32) if own else None,
                private_key=_sized(record["private"], 32) if own else None,
            )
        except (KeyError, TypeError):
            raise InvalidInvite("the invitation is damaged") from None
        if bundle.epoch not in bundle.space_keys:
            raise InvalidInvite("the invitation is damaged")
        return bundle


def _sized(value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise InvalidInvite("the invitation is damaged")
    return value


def _number(value: object, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInvite("the invitation is damaged")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or len(value) > 2048:
        raise InvalidInvite("the invitation is damaged")
    return value


def _listed(value: object, most: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > most:
        raise InvalidInvite("the invitation is damaged")
    return value


def _space_keys(value: object) -> dict[int, bytes]:
    if not isinstance(value, dict) or not 0 < len(value) <= 1 << 16:
        raise InvalidInvite("the invitation is damaged")
    return {_number(k, 1, MAX_EPOCH): _sized(v, 32) for k, v in value.items()}


def _anchor(value: object) -> tuple[LogId, Anchor]:
    triple = _listed(value, 3)
    if len(triple) != 3:
        raise InvalidInvite("the invitation is damaged")
    log, sign_pub, identity = (
        _sized(triple[0], 16),
        _sized(triple[1], 32),
        _sized(triple[2], IDENTITY_LEN),
    )
    if log_id_of(sign_pub) != log:
        raise InvalidInvite("the invitation names a device that does not match its key")
    return LogId(log), Anchor(sign_pub, identity)


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
    bundle = Bundle.parse(_open(invite.key, sealed_bundle, _BUNDLE))
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now > bundle.expires:
        raise InvalidInvite("that invitation has expired; ask for a new code")
    own = bundle.identity_seed is not None
    if not own and not name:
        raise UserError("joining as a partner needs --name")
    if Journal.exists(home):
        raise UserError(f"there is already a journal in {home}")
    device = _new_device(bundle)
    journal = Journal.begin(
        home, device, passphrase, label=label, name=None if own else name, now=clock
    )
    reply = _seal(
        invite.key,
        {
            "sign_pub": device.sign_public,
            "dh_pub": device.dh_public,
            "identity": device.identity,
            "cert": device.cert(),
            "label": label,
        },
        _REPLY,
    )
    return journal, reply


def _new_device(bundle: Bundle) -> DeviceKeys:
    if bundle.identity_seed is not None and bundle.private_key is not None:
        # Another device of the inviter's own person: the same identity, a new device key.
        identity_seed, private_key = bundle.identity_seed, bundle.private_key
        identity, root = bundle.inviter[1].identity, None
        if Identity.decode(identity).sign_pub != keys.signing_public(identity_seed):
            raise InvalidInvite("the invitation's identity key does not match its identity")
    else:
        person = keys.PersonSecrets.from_root(keys.new_root())  # not kept: see Journal.create
        identity_seed, private_key = person.identity_seed, person.private_key
        identity, root = person.identity().encode(), None
    inviter_log, inviter = bundle.inviter
    return DeviceKeys(
        space=bundle.space,
        sign_seed=keys.new_signing_seed(),
        dh_secret=keys.new_dh_secret(),
        identity_seed=identity_seed,
        identity=identity,
        epoch=bundle.epoch,
        space_keys=bundle.space_keys,
        private_key=private_key,
        local_key=keys.new_key(),
        settings={"relay": bundle.relay, "relay_epoch": bundle.epoch},
        anchors={**bundle.trusted, inviter_log: inviter},
        root=root,
    )


def accept(
    journal: Journal, invite: InviteKeys, sealed_reply: bytes, *, own_device: bool | None = None
) -> DeviceAdded:
    """On the inviter: bring the joiner's device in with a signed event, and pin it.

    The reply must carry a certificate its own identity signed; with `own_device` given, it
    must also be what that invitation allows: this person's identity for an own-device invite,
    a new person for a partner's.
    """
    reply = _open(invite.key, sealed_reply, _REPLY)
    try:
        added = DeviceAdded(
            sign_pub=reply["sign_pub"],
            dh_pub=reply["dh_pub"],
            identity=reply["identity"],
            cert=reply["cert"],
            label=reply.get("label", ""),
        )
    except (KeyError, TypeError, ValidationError):
        raise InvalidInvite("the reply to the invitation is damaged") from None
    space = journal.device.space
    if not cert_valid(added.identity, space, added.sign_pub, added.dh_pub, added.cert):
        raise InvalidInvite("the reply is not signed by the identity it names")
    mine = added.identity == journal.device.identity
    if own_device is not None and mine != own_device:
        raise InvalidInvite("the reply does not match the invitation (wrong person)")
    journal.record(added)
    journal.device.anchors[added.device] = Anchor(added.sign_pub, added.identity)
    journal.save_device()
    return added


def inviter_public(sealed_bundle: bytes, invite: InviteKeys) -> tuple[LogId, bytes]:
    """The inviter's log id and person identity, as the invitation names them."""
    bundle = Bundle.parse(_open(invite.key, sealed_bundle, _BUNDLE))
    return bundle.inviter[0], bundle.inviter[1].identity
