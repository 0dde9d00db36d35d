"""Recovery: a person's phrase brings them back, as the same person, on a new device.

Theory of operation
-------------------
A person's keys all come from one 32-byte root (core/crypto/keys.py `PersonSecrets`); the recovery
phrase is that root as 24 BIP39 words (the last carries a checksum, so a mistyped or missing
word is caught). A device keeps the root only until the person has seen the phrase once
(`tend recovery show`): whoever holds it can bring a device in as that person.

Each of the person's devices leaves with the relay an *escrow* (core/log/escrow.py): the space id,
every space key epoch, and the devices it trusts, sealed to the person's recovery X25519 key, so
only the phrase opens it; it is replaced when any of that changes. Every key rotation also seals
the new epoch key to each person's recovery key, so a restored device can follow rotations made
after the escrow was last written.

Restoring: the phrase gives the root, the root the locator of the escrow and the key to open
it. The new device keeps the person's identity key and private-entry key (so it reads its
person's private entries), pins what the escrow trusted, and opens its log with its own claim,
carrying a proof signed by the recovery key: every other device takes it as the same person's
(core/trust/engine.py), without anyone having to bring it in. Then it syncs everything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from tend.core.crypto import keys
from tend.core.crypto.keystore import Anchor, DeviceKeys
from tend.core.crypto.passphrase import Lock
from tend.core.errors import InvalidEnvelope, UserError
from tend.core.ids import LogId, SpaceId
from tend.core.journal import Clock, Journal
from tend.core.log import escrow
from tend.core.log.authorship import verify
from tend.core.log.header import log_id_of
from tend.core.log.identity import IDENTITY_LEN, Identity, recovery_message
from tend.core.log.rotation_record import MAX_EPOCH

PHRASE_WORDS = 24
_ESCROW_CONTEXT = b"tend/escrow-sealed/v1"
# Inside the seal the record is signed by the identity key: the seal is to a public key, which
# anyone (the relay too) can seal to, so the seal alone says nothing about who wrote it.
_RECORD_LABEL = b"tend/escrow-record/v1"


class InvalidPhrase(UserError):
    def __init__(self) -> None:
        super().__init__(
            "that recovery phrase is not right: a word is misspelt, missing or out of order "
            f"(it is {PHRASE_WORDS} words)"
        )


def _words() -> Any:
    from mnemonic import Mnemonic  # BIP39: words with a checksum, in many implementations

    return Mnemonic("english")


def phrase_of(root: bytes) -> str:
    phrase: str = _words().to_mnemonic(root)
    return phrase


def root_of(phrase: str) -> bytes:
    cleaned = " ".join(phrase.lower().split())
    words = _words()
    if len(cleaned.split()) != PHRASE_WORDS or not words.check(cleaned):
        raise InvalidPhrase
    root = bytes(words.to_entropy(cleaned))
    if len(root) != 32:
        raise InvalidPhrase
    return root


def show_once(journal: Journal) -> str:
    """The person's phrase, and this device forgets it (saved at once): shown once."""
    root = journal.device.root
    if root is None:
        raise UserError(
            "this device does not hold your recovery phrase: it is shown once, on the device "
            "that began your part of the journal, and it was shown already (or this is another "
            "of your devices)"
        )
    phrase = phrase_of(root)
    journal.device.root = None
    journal.save_device()
    return phrase


# --- the escrow -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Escrow:
    space: SpaceId
    space_keys: dict[int, bytes]
    epoch: int
    relay_epoch: int
    trusted: dict[LogId, Anchor]
    relay: str


def _record(journal: Journal) -> dict[str, Any]:
    device = journal.device
    roster = journal.roster()
    return {
        "space": device.space,
        "keys": device.space_keys,
        "epoch": device.epoch,
        "relay_epoch": int(device.settings.get("relay_epoch", device.epoch)),
        # Every device on the roster now, this one included: a restored device trusts them as
        # this device does, so all of history counts there at once.
        "trusted": [
            [d, roster.members[d].sign_pub, roster.members[d].identity] for d in roster.active()
        ],
        "relay": str(device.settings.get("relay", "")),
    }


def escrow_digest(journal: Journal) -> str:
    """Changes when what the escrow would hold changes (so a device writes it only then)."""
    return hashlib.sha256(msgpack.packb(_record(journal), use_bin_type=True)).hexdigest()[:32]


def escrow_write(journal: Journal) -> tuple[bytes, bytes, bytes, bytes]:
    """(locator, identity record, sealed blob, signature): what the relay is given."""
    device = journal.device
    locator = escrow.locator_of(device.identity)
    record = msgpack.packb(_record(journal), use_bin_type=True)
    signed = keys.sign(device.identity_seed, _RECORD_LABEL + locator + record)
    plaintext = msgpack.packb([record, signed], use_bin_type=True)
    recipient = Identity.decode(device.identity).recovery_dh_pub
    blob = keys.seal_to(recipient, plaintext, _ESCROW_CONTEXT + locator)
    signature = keys.sign(device.identity_seed, escrow.signing_input(locator, blob))
    return locator, device.identity, blob, signature


def open_escrow(person: keys.PersonSecrets, blob: bytes) -> Escrow:
    """The escrow, opened with the phrase's keys and checked to be signed by its identity."""
    identity = person.identity()
    locator = escrow.locator_of(identity.encode())
    try:
        plaintext = keys.open_sealed(person.recovery_dh_secret, blob, _ESCROW_CONTEXT + locator)
        record, signed = msgpack.unpackb(plaintext, raw=False, max_ext_len=0)
        if not isinstance(record, bytes) or not verify(
            identity.sign_pub, _RECORD_LABEL + locator + record, signed
        ):
            raise UserError(
                "the relay's recovery record for you is not signed by you: it was not written "
                "by one of your devices, so nothing was restored from it"
            )
        fields = msgpack.unpackb(record, raw=False, strict_map_key=False, max_ext_len=0)
        return _escrow(fields)
    except (InvalidEnvelope, ValueError, TypeError, KeyError, msgpack.UnpackException):
        raise UserError("the relay's recovery record for you could not be opened") from None


def _escrow(record: Any) -> Escrow:
    if not isinstance(record, dict):
        raise ValueError("not a map")
    space_keys = {_epoch(e): _sized(k, 32) for e, k in dict(record["keys"]).items()}
    epoch = _epoch(record["epoch"])
    if epoch not in space_keys:
        raise ValueError("no key for the epoch")
    trusted: dict[LogId, Anchor] = {}
    for log, pub, identity in list(record["trusted"])[:256]:
        if log_id_of(_sized(pub, 32)) != log:
            raise ValueError("a trusted device does not match its key")
        trusted[LogId(log)] = Anchor(pub, _sized(identity, IDENTITY_LEN))
    relay = record["relay"]
    if not isinstance(relay, str) or len(relay) > 2048:
        raise ValueError("not a relay")
    return Escrow(
        SpaceId(_sized(record["space"], 16)),
        space_keys,
        epoch,
        _epoch(record["relay_epoch"]),
        trusted,
        relay,
    )


def _sized(value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError("wrong size")
    return value


def _epoch(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_EPOCH:
        raise ValueError("not an epoch")
    return value


# --- restoring ------------------------------------------------------------------------------------


def restore(
    home: Path,
    person: keys.PersonSecrets,
    found: Escrow,
    *,
    relay: str,
    label: str,
    lock: Lock | None,
    now: Clock | None = None,
) -> Journal:
    """This device's journal, as the person the phrase belongs to, ready to sync everything."""
    if Journal.exists(home):
        raise UserError(f"there is already a journal in {home}")
    device = DeviceKeys(
        space=found.space,
        sign_seed=keys.new_signing_seed(),
        dh_secret=keys.new_dh_secret(),
        identity_seed=person.identity_seed,
        identity=person.identity().encode(),
        epoch=found.epoch,
        space_keys=dict(found.space_keys),
        private_key=person.private_key,
        local_key=keys.new_key(),
        settings={"relay": relay, "relay_epoch": found.relay_epoch},
        anchors=dict(found.trusted),
    )
    message = recovery_message(device.space, device.sign_public, device.dh_public)
    proof = keys.sign(person.recovery_seed, message)
    journal = Journal.begin(home, device, lock, label=label, name=None, recovery=proof, now=now)
    journal.keyring.restoring = person.recovery_dh_secret  # in memory, for following rotations
    return journal


def retire_other_devices(journal: Journal) -> list[LogId]:
    """Take every other device of this person off the roster, in one rotation.

    A restore is what a person does when their devices are gone, and a device that is gone may
    be in someone else's hands: it holds the identity key, so whatever it wrote (the escrow
    included) is as good as the person's own. Retiring all of them at once, with a new key
    sealed only to those who stay, shuts every such device out in the same step. A device the
    person still has joins again with `tend invite --own-device`."""
    from tend.core.trust import rotation

    roster = journal.roster()
    me = journal.device
    others = [d for d in roster.active() if roster.members[d].person == me.person and d != me.log]
    if others:
        rotation.remove_devices(journal, others)
    return others
