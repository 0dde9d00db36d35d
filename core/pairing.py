"""Pairing: bringing a partner's device (or another of your own) into the space.

Theory of operation
-------------------
Two ways in, both carrying the relay, so `tend join CODE --name NAME` needs nothing else:

* A **short code**, when both are at their devices: ``417-ocean-maple-violet@relay.example.org``.
  The number names a pair of mailboxes on the relay (the inviter claims it); the three words
  (33 bits) are a password for SPAKE2 (core/pake.py), so neither a recorded exchange nor the
  relay can test a guess offline, and a wrong code fails after one try on both sides. The
  invitation then travels sealed under a session key from an ephemeral X25519 exchange that the
  PAKE authenticates: forward secrecy for the invitation.
* A **link**, for a partner who joins later (up to 7 days): ``tend:<26 letters>@relay...``,
  128 random bits. The relay keeps the sealed invitation under an id derived from the link, for
  one use; the joiner answers the same way, and the inviting device completes the pairing on its
  next sync. Whoever holds the link before the partner uses it could join in their place:
  share it as you would a key, and compare safety codes.

    inviter ── invitation (space id, space keys, inviter, what it trusts, relay, expiry) ─▶ joiner
    joiner  ── reply (its device: keys, identity record, certificate by its identity) ────▶ inviter

The inviter checks the certificate, records a `device.added` for the joiner (which brings it in
for every other device) and pins it; the joiner pins the inviter and what it trusted. Both show
the same safety code, over the two identity keys, to compare in person; until `tend devices
confirm` records that they did, devices say "not yet compared in person". An invitation for one
of your own devices also carries your identity key and private-entry key.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgpack

from tend.core import envelope, keys
from tend.core.errors import InvalidEnvelope, UserError, ValidationError
from tend.core.events import DeviceAdded
from tend.core.header import log_id_of
from tend.core.identity import IDENTITY_LEN, Identity, cert_valid
from tend.core.ids import LogId, SpaceId
from tend.core.journal import Clock, Journal
from tend.core.keystore import Anchor, DeviceKeys
from tend.core.passphrase import Lock
from tend.core.rotation_record import MAX_EPOCH

CODE_WORDS = 3
NAMEPLATES = 999
CODE_SECONDS = 600  # a short code's invitation waits at most this long
LINK_SECONDS = 7 * 24 * 3600  # a link's, at most a week
LINK_SECRET = 16
_BUNDLE = b"tend/invite/bundle/v2"
_REPLY = b"tend/invite/reply/v2"


class InvalidInvite(UserError):
    pass


def _wordlist() -> list[str]:
    from mnemonic import Mnemonic  # the BIP39 English list: short, distinct words

    words: list[str] = Mnemonic("english").wordlist
    return words


# --- where the relay is, in a code ---------------------------------------------------------------


def relay_host(url: str) -> str:
    """How a code names a relay: host[:port] for the usual scheme (http on loopback, https
    elsewhere), or the whole URL when it is anything else."""
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("http", "https"):
        raise UserError(f"{url} is not a relay address (it starts with http:// or https://)")
    usual = "http" if _loopback(parts.hostname) else "https"
    if parts.scheme != usual or parts.path.strip("/"):
        return url.rstrip("/")
    return parts.netloc


def relay_url(host: str) -> str:
    if host.startswith(("http://", "https://")):
        return host.rstrip("/")
    name = urlsplit("//" + host).hostname or ""
    return ("http://" if _loopback(name) else "https://") + host


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- short codes and links -----------------------------------------------------------------------


@dataclass(frozen=True)
class ShortCode:
    nameplate: int
    words: tuple[str, ...]
    relay: str  # a URL

    @classmethod
    def new(cls, relay: str) -> ShortCode:
        wordlist = _wordlist()
        words = tuple(secrets.choice(wordlist) for _ in range(CODE_WORDS))
        return cls(1 + secrets.randbelow(NAMEPLATES), words, relay)

    @property
    def text(self) -> str:
        return f"{self.nameplate}-{'-'.join(self.words)}@{relay_host(self.relay)}"

    @property
    def password(self) -> bytes:
        return "-".join(self.words).encode()

    def box(self, step: str) -> str:
        """The mailbox (32 hex digits) of one step of the exchange."""
        raw = f"tend/pake/box/v1|{self.nameplate}|{step}".encode()
        return hashlib.sha256(raw).digest()[:16].hex()


@dataclass(frozen=True)
class Link:
    secret: bytes
    relay: str  # a URL

    @classmethod
    def new(cls, relay: str) -> Link:
        return cls(secrets.token_bytes(LINK_SECRET), relay)

    @property
    def text(self) -> str:
        letters = base64.b32encode(self.secret).decode().rstrip("=").lower()
        return f"tend:{letters}@{relay_host(self.relay)}"

    def box(self, which: str) -> str:
        return keys.derive(self.secret, f"link/box/{which}".encode())[:16].hex()

    @property
    def key(self) -> bytes:
        return keys.derive(self.secret, b"link/key")


def parse_code(text: str) -> ShortCode | Link:
    """A short code or a link as people type or paste it; InvalidInvite, in one line, if not."""
    cleaned = text.strip()
    where, at, rest = cleaned.rpartition("@")
    if not at or not where or not rest:
        raise InvalidInvite("that code has no relay in it (it ends in @ and the relay's address)")
    if where.lower().startswith("tend:"):
        return Link(_link_secret(where[5:]), relay_url(rest))
    plate, *words = where.lower().replace(" ", "-").split("-")
    wordlist = set(_wordlist())
    if not plate.isdigit() or len(words) != CODE_WORDS or not all(w in wordlist for w in words):
        raise InvalidInvite(
            "that code does not look right (a number, three words, and @ the relay)"
        )
    return ShortCode(int(plate), tuple(words), relay_url(rest))


def _link_secret(letters: str) -> bytes:
    padded = letters.upper() + "=" * (-len(letters) % 8)
    try:
        secret = base64.b32decode(padded)
    except ValueError:
        raise InvalidInvite("that link does not look right") from None
    if len(secret) != LINK_SECRET:
        raise InvalidInvite("that link does not look right")
    return secret


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
        raise InvalidInvite(
            "that invitation could not be opened (a wrong link, or damaged)"
        ) from None
    if not isinstance(record, dict):
        raise InvalidInvite("the invitation is damaged")
    return record


def make_bundle(
    journal: Journal,
    key: bytes,
    *,
    own_device: bool,
    relay: str,
    seconds: int = CODE_SECONDS,
    now_ms: int | None = None,
) -> bytes:
    """The invitation, sealed under `key` (a short code's session key, or a link's key)."""
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
        "expires": now + seconds * 1000,
    }
    if own_device:
        record.update(identity_seed=device.identity_seed, private=device.private_key)
    return _seal(key, record, _BUNDLE)


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
    key: bytes,
    sealed_bundle: bytes,
    *,
    name: str | None,
    label: str,
    lock: Lock | None = None,
    now_ms: int | None = None,
    clock: Clock | None = None,
) -> tuple[Journal, bytes]:
    """Create this device's journal from an invitation; returns it and the sealed reply."""
    bundle = Bundle.parse(_open(key, sealed_bundle, _BUNDLE))
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now > bundle.expires:
        raise InvalidInvite("that invitation has expired; ask for a new one")
    own = bundle.identity_seed is not None
    if not own and not name:
        raise UserError("joining as a partner needs --name")
    if Journal.exists(home):
        raise UserError(f"there is already a journal in {home}")
    device = _new_device(bundle)
    journal = Journal.begin(home, device, lock, label=label, name=None if own else name, now=clock)
    reply = _seal(
        key,
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
        root = keys.new_root()  # kept until the person has seen it once (core/recovery.py)
        person = keys.PersonSecrets.from_root(root)
        identity_seed, private_key = person.identity_seed, person.private_key
        identity = person.identity().encode()
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
    journal: Journal, key: bytes, sealed_reply: bytes, *, own_device: bool | None = None
) -> DeviceAdded:
    """On the inviter: bring the joiner's device in with a signed event, and pin it.

    The reply must carry a certificate its own identity signed; with `own_device` given, it
    must also be what that invitation allows: this person's identity for an own-device invite,
    a new person for a partner's.
    """
    reply = _open(key, sealed_reply, _REPLY)
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


def inviter_public(sealed_bundle: bytes, key: bytes) -> tuple[LogId, bytes]:
    """The inviter's log id and person identity, as the invitation names them."""
    bundle = Bundle.parse(_open(key, sealed_bundle, _BUNDLE))
    return bundle.inviter[0], bundle.inviter[1].identity
