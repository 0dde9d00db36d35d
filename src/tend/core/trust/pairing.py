"""Pairing: bringing a partner's device (or another of your own) into the space.

Theory of operation
-------------------
Two ways in, both carrying the relay, so `tend join CODE --name NAME` needs nothing else:

* A **short code**, when both are at their devices: ``417-ocean-maple-violet@relay.example.org``.
  The number names a pair of mailboxes on the relay (the inviter claims it); the three words
  (33 bits) are a password for SPAKE2 (core/crypto/pake.py), so neither a recorded exchange nor the
  relay can test a guess offline, and a wrong code fails after one try on both sides. The
  invitation then travels sealed under a session key from an ephemeral X25519 exchange that the
  PAKE authenticates: forward secrecy for the invitation.
* A **link**, for a partner who joins later (up to 7 days): ``tend:<26 letters>@relay...``,
  128 random bits. The relay keeps the sealed invitation under an id derived from the link, for
  one use; the joiner answers the same way, and the inviting device completes the pairing on its
  next sync. Whoever holds the link before the partner uses it could join in their place:
  share it as you would a key, and compare safety codes.

    inviter ── invitation (space id, inviter, what it trusts, relay, expiry; no secret) ─▶ joiner
    joiner  ── reply (its device: public keys, identity record, certificate) ──────────▶ inviter
    inviter ── once it accepted the reply: the space keys (own device: + identity key) ─▶ joiner

A short code's third message (A3) is sealed under the session key; a link's is sealed to the
joiner's new device key and signed by the inviting device, and waits at the relay until the
joiner's next `tend sync` (its device waits on disk, in PENDING_FILE, with no journal and no
keys until then). Two by design is checked when the reply is accepted (`admit`).

The inviter checks the certificate, records a `device.added` for the joiner (which brings it in
for every other device) and pins it; the joiner pins the inviter and what it trusted. Both show
the same safety code, over the two identity keys, to compare in person; until `tend devices
confirm` records that they did, devices say "not yet compared in person". The keys sent to one
of your own devices also carry your identity key and private-entry key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgpack

from tend.core.crypto import envelope, keys, keystore
from tend.core.crypto.keystore import Anchor, DeviceKeys
from tend.core.crypto.passphrase import Lock
from tend.core.domain.events import DeviceAdded
from tend.core.errors import InvalidEnvelope, UserError, ValidationError
from tend.core.ids import LogId, PersonId, SpaceId
from tend.core.journal import JOINING_FILE, Clock, Journal
from tend.core.log import link_reply
from tend.core.log.header import log_id_of
from tend.core.log.identity import IDENTITY_LEN, Identity, cert_message, cert_valid
from tend.core.log.rotation_record import MAX_EPOCH
from tend.core.trust.loopback import is_loopback_host

CODE_WORDS = 3
NAMEPLATES = 999
CODE_SECONDS = 600  # a short code's invitation waits at most this long
LINK_SECONDS = 7 * 24 * 3600  # a link's, at most a week
LINK_SECRET = 16
_BUNDLE = b"tend/invite/bundle/v3"
_REPLY = b"tend/invite/reply/v3"
_KEYS = b"tend/invite/keys/v1|inviter->joiner"  # a short code's A3, under the session key
_KEYS_SEALED = b"tend/invite/keys-sealed/v1"  # a link's keys, sealed to the joiner's device
_KEYS_SIGNED = b"tend/invite/keys-signed/v1"  # ... and signed by the inviting device
PENDING_FILE = JOINING_FILE  # a link joiner's device, until the inviter lets it in


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
    usual = "http" if is_loopback_host(parts.hostname) else "https"
    if parts.scheme != usual or parts.path.strip("/"):
        return url.rstrip("/")
    return parts.netloc


def relay_url(host: str) -> str:
    if host.startswith(("http://", "https://")):
        return host.rstrip("/")
    name = urlsplit("//" + host).hostname or ""
    return ("http://" if is_loopback_host(name) else "https://") + host


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
        """The id of one of the link's drop boxes: "bundle" and "keys" from the link's secret,
        "reply" from the bundle's id (core/log/link_reply.py says why)."""
        if which == "reply":
            return link_reply.reply_box(bytes.fromhex(self.box("bundle"))).hex()
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
    """The invitation, sealed under `key` (a short code's session key, or a link's key).

    It holds nothing secret: what the joiner needs to make its device and answer (the space id,
    the inviter's public keys, what it trusts, the relay). The space keys (and, for one's own
    device, the identity key) follow only once the inviter has accepted the answer
    (`keys_record`)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    device = journal.device
    # The joiner trusts what the inviter trusts: the code authenticated the inviter, and the
    # inviter vouches for every device on its roster (its own, its partner's).
    roster = journal.roster()
    from tend.core.views.projections import names

    record: dict[str, Any] = {
        "trusted": [
            [d, roster.members[d].sign_pub, roster.members[d].identity] for d in roster.active()
        ],
        "space": device.space,
        "inviter": [device.log, device.sign_public, device.identity],
        "name": names(journal.items()).get(device.person, "")[:200],
        "relay": relay,
        "expires": now + seconds * 1000,
        "own": own_device,
    }
    return _seal(key, record, _BUNDLE)


@dataclass(frozen=True)
class Bundle:
    """An invitation, checked field by field (it comes from the network)."""

    space: SpaceId
    inviter: tuple[LogId, Anchor]
    inviter_name: str
    trusted: dict[LogId, Anchor]
    relay: str
    expires: int
    own: bool  # for another device of the inviter's own person

    @classmethod
    def parse(cls, record: dict[str, Any]) -> Bundle:
        try:
            bundle = cls(
                space=SpaceId(_sized(record["space"], 16)),
                inviter=_anchor(record["inviter"]),
                inviter_name=_text(record.get("name", "")),
                trusted=dict(_anchor(a) for a in _listed(record["trusted"], 256)),
                relay=_text(record["relay"]),
                expires=_number(record["expires"], 0, 1 << 62),
                own=record["own"] is True,
            )
        except (KeyError, TypeError):
            raise InvalidInvite("the invitation is damaged") from None
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


# --- the joiner: its device first, its journal once it is let in ---------------------------------


@dataclass
class Pending(keystore.DeviceKeyHolder):
    """A joiner's new device, made from the invitation, not yet let in (it has no space keys,
    so it has no journal and writes nothing). `finish` makes the journal from the keys record."""

    home: Path
    bundle: Bundle
    sign_seed: bytes
    dh_secret: bytes
    identity: bytes
    identity_seed: bytes | None  # None for one's own device until the inviter sends it
    private_key: bytes | None
    root: bytes | None
    name: str | None
    label: str

    @property
    def inviter_log(self) -> LogId:
        return self.bundle.inviter[0]

    @property
    def inviter_identity(self) -> bytes:
        return self.bundle.inviter[1].identity

    def device(self, space_keys: dict[int, bytes], epoch: int) -> DeviceKeys:
        assert self.identity_seed is not None and self.private_key is not None
        inviter_log, inviter = self.bundle.inviter
        return DeviceKeys(
            space=self.bundle.space,
            sign_seed=self.sign_seed,
            dh_secret=self.dh_secret,
            identity_seed=self.identity_seed,
            identity=self.identity,
            epoch=epoch,
            space_keys=dict(space_keys),
            private_key=self.private_key,
            local_key=keys.new_key(),
            settings={"relay": self.bundle.relay, "relay_epoch": epoch},
            anchors={**self.bundle.trusted, inviter_log: inviter},
            root=self.root,
        )

    def finish(
        self, record: dict[str, Any], *, lock: Lock | None = None, clock: Clock | None = None
    ) -> Journal:
        """This device's journal, from the keys the inviter sent after accepting the reply."""
        if "refused" in record:
            raise InvalidInvite(
                f"{self.bundle.inviter_name or 'the inviter'}'s device did not let this device "
                f"in: {_text(record['refused'])[:300]}; ask for a new invitation"
            )
        try:
            space_keys = _space_keys(record["keys"])
            epoch = _number(record["epoch"], 1, MAX_EPOCH)
            if self.bundle.own:
                seed, private = _sized(record["identity_seed"], 32), _sized(record["private"], 32)
        except (KeyError, TypeError):
            raise InvalidInvite("what the inviter sent is damaged") from None
        if epoch not in space_keys:
            raise InvalidInvite("what the inviter sent is damaged")
        if self.bundle.own:
            if keys.signing_public(seed) != Identity.decode(self.identity).sign_pub:
                raise InvalidInvite("the identity key sent does not match the identity")
            self.identity_seed, self.private_key = seed, private
        if Journal.exists(self.home):
            raise UserError(f"there is already a journal in {self.home}")
        device = self.device(space_keys, epoch)
        own = self.bundle.own
        return Journal.begin(
            self.home, device, lock, label=self.label, name=None if own else self.name, now=clock
        )

    def save(self, lock: Lock | None, extra: dict[str, str]) -> None:
        """Keep this pending device on disk (a link's joiner finishes at a later sync).

        It is written as a device file under another name, holding a throwaway space key that
        nothing ever seals with: no journal exists until `finish`, which puts the real keys in."""
        if self.identity_seed is None:
            raise UserError("a device of your own joins with a short code, not a link")
        placeholder = self.device({1: keys.new_key()}, 1)
        placeholder.settings["joining"] = {
            "bundle": _bundle_record(self.bundle),
            "name": self.name or "",
            "label": self.label,
            **extra,
        }
        from tend.core.fsutil import ensure_private_dir

        ensure_private_dir(self.home)
        keystore.save(self.home / PENDING_FILE, placeholder, lock)

    @classmethod
    def load(cls, home: Path, lock: Lock | None) -> tuple[Pending, dict[str, Any]]:
        device = keystore.load(home / PENDING_FILE, lock)
        saved = device.settings.get("joining")
        if not isinstance(saved, dict) or not isinstance(saved.get("bundle"), dict):
            raise UserError(f"{PENDING_FILE} is damaged; remove it and join again")
        pending = cls(
            home=home,
            bundle=Bundle.parse(saved["bundle"]),
            sign_seed=device.sign_seed,
            dh_secret=device.dh_secret,
            identity=device.identity,
            identity_seed=device.identity_seed,
            private_key=device.private_key,
            root=device.root,
            name=str(saved.get("name") or "") or None,
            label=str(saved.get("label") or ""),
        )
        return pending, saved


def pending_join(home: Path) -> bool:
    """Whether this home holds a device that joined with a link and waits to be let in."""
    return Journal.waiting_to_join(home)


def _bundle_record(bundle: Bundle) -> dict[str, Any]:
    return {
        "space": bundle.space,
        "inviter": [bundle.inviter[0], bundle.inviter[1].sign_pub, bundle.inviter[1].identity],
        "name": bundle.inviter_name,
        "trusted": [[d, a.sign_pub, a.identity] for d, a in bundle.trusted.items()],
        "relay": bundle.relay,
        "expires": bundle.expires,
        "own": bundle.own,
    }


def join(
    home: Path,
    key: bytes,
    sealed_bundle: bytes,
    *,
    name: str | None,
    label: str,
    now_ms: int | None = None,
) -> tuple[Pending, bytes]:
    """This device, made from an invitation (nothing written yet); returns it and the sealed
    reply. It becomes a journal with `Pending.finish`, once the inviter sends the keys."""
    bundle = Bundle.parse(_open(key, sealed_bundle, _BUNDLE))
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now > bundle.expires:
        raise InvalidInvite("that invitation has expired; ask for a new one")
    if not bundle.own and not name:
        raise UserError("joining as a partner needs --name")
    if Journal.exists(home):
        raise UserError(f"there is already a journal in {home}")
    pending = _new_device(home, bundle, None if bundle.own else name, label)
    reply: dict[str, Any] = {
        "sign_pub": pending.sign_public,
        "dh_pub": pending.dh_public,
        "identity": pending.identity,
        "label": label,
    }
    if pending.identity_seed is not None:
        reply["cert"] = keys.sign(
            pending.identity_seed,
            cert_message(bundle.space, pending.sign_public, pending.dh_public),
        )
    # One's own device has no identity key yet: the inviter certifies it when it accepts.
    return pending, _seal(key, reply, _REPLY)


def _new_device(home: Path, bundle: Bundle, name: str | None, label: str) -> Pending:
    if bundle.own:
        # Another device of the inviter's own person: the same identity, a new device key; the
        # identity key comes with the space keys.
        identity, seed, private, root = bundle.inviter[1].identity, None, None, None
    else:
        root = keys.new_root()  # kept until the person has seen it once (core/trust/recovery.py)
        person = keys.PersonSecrets.from_root(root)
        seed, private = person.identity_seed, person.private_key
        identity = person.identity().encode()
    return Pending(
        home=home,
        bundle=bundle,
        sign_seed=keys.new_signing_seed(),
        dh_secret=keys.new_dh_secret(),
        identity=identity,
        identity_seed=seed,
        private_key=private,
        root=root,
        name=name,
        label=label,
    )


# --- the inviter: accepting the reply, then sending the keys -------------------------------------


def parse_reply(
    journal: Journal, key: bytes, sealed_reply: bytes, *, own_device: bool | None = None
) -> DeviceAdded:
    """The joiner's device as its reply names it, checked (nothing recorded).

    A partner's reply must carry a certificate its own identity signed; one's own device's
    reply names this person's identity and is certified here (with `own_device` True only).
    With `own_device` given, the reply must be what that invitation allows."""
    reply = _open(key, sealed_reply, _REPLY)
    me = journal.device
    try:
        mine = reply["identity"] == me.identity
        cert = reply.get("cert", b"")
        if mine and own_device and cert == b"":
            cert = keys.sign(
                me.identity_seed, cert_message(me.space, reply["sign_pub"], reply["dh_pub"])
            )
        added = DeviceAdded(
            sign_pub=reply["sign_pub"],
            dh_pub=reply["dh_pub"],
            identity=reply["identity"],
            cert=cert,
            label=reply.get("label", ""),
        )
    except (KeyError, TypeError, ValueError, ValidationError):
        raise InvalidInvite("the reply to the invitation is damaged") from None
    if not cert_valid(added.identity, me.space, added.sign_pub, added.dh_pub, added.cert):
        raise InvalidInvite("the reply is not signed by the identity it names")
    if own_device is not None and mine != own_device:
        raise InvalidInvite("the reply does not match the invitation (wrong person)")
    return added


def admit(
    journal: Journal,
    added: DeviceAdded,
    *,
    another_person: bool,
    replacing: PersonId | None = None,
) -> str | None:
    """Two by design, checked when the reply is accepted: None if `added` may come in, "hold"
    if it must wait (the person it replaces still has devices here), else why not, in words.

    A partner's invitation lets in a new person only while the roster (counting everyone with a
    device not removed, lost or not) would then have at most two people, or with
    --another-person. One made with --replacing waits until every device of the person it
    replaces is removed; if that person answered that they are here, it is refused."""
    me = journal.device
    if added.identity == me.identity:
        return None
    roster = journal.roster()
    if replacing is not None:
        still = [d for d in roster.devices_of(replacing) if not roster.removed(d)]
        if still and replacing not in roster.lost:
            return "the person it was to replace answered that they are here, so it was not used"
        if still:
            return "hold"
    people = {m.identity for d, m in roster.members.items() if not roster.removed(d)}
    people |= {me.identity, added.identity}
    if len(people) > 2 and not another_person:
        return (
            "this journal already has two people in it, and the invitation was not made with "
            "--another-person"
        )
    return None


def record_added(journal: Journal, added: DeviceAdded) -> DeviceAdded:
    """Bring the joiner's device in with a signed event, and pin it."""
    journal.record(added)
    journal.device.anchors[added.device] = Anchor(added.sign_pub, added.identity)
    journal.save_device()
    return added


def accept(
    journal: Journal, key: bytes, sealed_reply: bytes, *, own_device: bool | None = None
) -> DeviceAdded:
    """On the inviter: check the reply (parse_reply) and bring the joiner's device in."""
    return record_added(journal, parse_reply(journal, key, sealed_reply, own_device=own_device))


def keys_record(journal: Journal, added: DeviceAdded) -> dict[str, Any]:
    """What the joiner gets once let in: every space key, the epoch, and for one's own device
    the identity and private-entry keys."""
    device = journal.device
    record: dict[str, Any] = {"keys": dict(device.space_keys), "epoch": device.epoch}
    if added.identity == device.identity:
        record.update(identity_seed=device.identity_seed, private=device.private_key)
    return record


def seal_keys(session: bytes, record: dict[str, Any]) -> bytes:
    """A short code's last message (A3), under the session key, inviter to joiner."""
    return _seal(session, record, _KEYS)


def open_keys(session: bytes, sealed: bytes) -> dict[str, Any]:
    return _open(session, sealed, _KEYS)


def _keys_context(space: bytes, joiner_log: bytes) -> bytes:
    return _KEYS_SEALED + space + joiner_log


def seal_keys_to(journal: Journal, added: DeviceAdded, record: dict[str, Any]) -> bytes:
    """A link's keys: sealed to the joiner's new device, signed by this (the inviting) device."""
    me = journal.device
    plain = msgpack.packb(record, use_bin_type=True)
    context = _keys_context(me.space, added.device)
    signature = keys.sign(me.sign_seed, _KEYS_SIGNED + context + plain)
    body = msgpack.packb({"r": plain, "s": signature}, use_bin_type=True)
    return keys.seal_to(added.dh_pub, body, context)


def open_keys_sealed(pending: Pending, sealed: bytes) -> dict[str, Any]:
    """The keys a link's inviter sent this pending device; InvalidInvite if not theirs."""
    context = _keys_context(pending.bundle.space, pending.log)
    damaged = InvalidInvite("what the inviter sent could not be opened (damaged, or not theirs)")
    try:
        body = msgpack.unpackb(keys.open_sealed(pending.dh_secret, sealed, context), raw=False)
        plain, signature = body["r"], body["s"]
        if not isinstance(plain, bytes) or not isinstance(signature, bytes):
            raise damaged
        inviter = pending.bundle.inviter[1].sign_pub
        if not keys.verify(inviter, _KEYS_SIGNED + context + plain, signature):
            raise damaged
        record = msgpack.unpackb(plain, raw=False, strict_map_key=False, max_ext_len=0)
    except (InvalidEnvelope, ValueError, TypeError, KeyError, msgpack.UnpackException):
        raise damaged from None
    if not isinstance(record, dict):
        raise damaged
    return record


def inviter_public(sealed_bundle: bytes, key: bytes) -> tuple[LogId, bytes]:
    """The inviter's log id and person identity, as the invitation names them."""
    bundle = Bundle.parse(_open(key, sealed_bundle, _BUNDLE))
    return bundle.inviter[0], bundle.inviter[1].identity


def pair_directly(
    host: Journal,
    home: Path,
    *,
    own: bool,
    name: str | None,
    label: str = "",
    relay: str = "",
    clock: Clock | None = None,
) -> Journal:
    """Both sides of a pairing in one process, no relay (tests and benchmarks): invitation,
    reply, acceptance, keys; returns the joiner's journal."""
    session = keys.new_key()  # as the PAKE leaves
    bundle = make_bundle(host, session, own_device=own, relay=relay)
    pending, reply = join(home, session, bundle, name=name, label=label)
    added = accept(host, session, reply, own_device=own)
    sealed = seal_keys(session, keys_record(host, added))
    return pending.finish(open_keys(session, sealed), clock=clock)
