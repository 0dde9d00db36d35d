"""The relay's HTTP routes for pairing and recovery: mailboxes, invitations and escrows.

Pairing mailboxes are memory-only (mailboxes.py). POST /v1/mailbox/{32 hex}?ttl=S (S <= 600,
body <= 16 KiB) queues a message (204; 429 when the mailbox holds MAILBOX_QUEUE messages, the
relay is full, or the poster's address or network is over its share or its claims, or the
address over its rate; with claim=1,
409 when the mailbox already holds a claimed message, so an inviter picking a short nameplate
learns it is taken: neither readers nor unclaimed messages make it so, mailboxes.py says why);
GET ?wait=S (S <= 60) answers 200 with the oldest message, removing it, or 404 when none came
within the wait, or a claim came meanwhile (429 when the reader's address already has as many
reads waiting as it may). Anyone may call these routes, so every per-address bound here counts
peer.peer_household (an IPv6 client's /64), and a mailbox's share and claims count its
peer.peer_network (an IPv6 /48) too.

Invitations and recovery escrows are persistent, in the store. POST /v1/invitation/{32 hex}
?ttl=S (1 <= S <= 7 days, body 1 byte to 16 KiB) stores one message per id (409 if the id
holds one, or held one taken before its ttl ran out); GET answers it once (200) and deletes it,
else 404. PUT /v1/recovery/{locator, 32 hex} takes a msgpack map {i: identity record, b: blob,
g: signature}, decoded with tight bounds, and stores or replaces the blob only if
core/log/escrow.write_allowed says the identity the locator derives from signed it (else 403);
GET answers the blob or 404, also once it was not rewritten for the relay's escrow_days. Both
kinds have a relay-wide cap (507 past it), a budget of bytes per household and a wider one per
network (an IPv6 /48; 429 past either): each row keeps only short keyed tags of its writer's
household and network, never the address (store.py). An invite-only relay keeps both only
from a device of one of its journals (the Authorization header names the space and shows its
capability, checked as a Hello's is; 401 else), and from anyone only the one answer to such a
device's invitation (`for`, core/log/link_reply.py).

Every input is checked before anything is asked of a mailbox or the store: ids, numbers, body
sizes (a body whose declared length is over the limit is not even read). What the mailboxes
and the store refuse becomes an HTTP answer in one place (`_answers`), one log line each and no
traceback. Log lines never name an id, a locator or a body, only sizes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import msgpack
from aiohttp import web

from tend.core.ids import SpaceId
from tend.core.log import escrow, link_reply
from tend.core.log.header import SIGNATURE_LEN
from tend.core.log.identity import IDENTITY_LEN
from tend.sync.relay.app_keys import CONFIG, LIMITS, MAILBOXES, STORE
from tend.sync.relay.limits import DAY
from tend.sync.relay.mailboxes import MailboxFull, MailboxInUse, Poster
from tend.sync.relay.metrics import log_event
from tend.sync.relay.peer import peer_address, peer_household, peer_network
from tend.sync.relay.store import BudgetReached, CapReached, StoreFailure, Writer

MAILBOX_ID = re.compile(r"[0-9a-f]{32}")
# The largest pairing message measured is the last one of a short code (A3, every space key),
# 665 bytes for a space never rotated, about 40 bytes more per rotation; an invitation bundle is
# under 1 KiB. 16 KiB, as for an invitation, leaves room for hundreds of rotations.
MAILBOX_MAX_BYTES = 16 << 10
MAILBOX_MAX_TTL = 600
MAILBOX_MAX_WAIT = 60

INVITATION_MAX_BYTES = 16 << 10
INVITATION_MIN_TTL = 1
INVITATION_MAX_TTL = 7 * 24 * 3600
ESCROW_MAX_BODY = escrow.MAX_BLOB + 256  # the blob, and identity and signature packed around it
MAX_BODY = max(MAILBOX_MAX_BYTES, ESCROW_MAX_BODY)  # the largest body any route here takes


def add_pairing_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/mailbox/{id}", handle_mailbox_post)
    router.add_get("/v1/mailbox/{id}", handle_mailbox_get)
    router.add_post("/v1/invitation/{id}", handle_invitation_post)
    router.add_get("/v1/invitation/{id}", handle_invitation_get)
    router.add_put("/v1/recovery/{id}", handle_escrow_put)
    router.add_get("/v1/recovery/{id}", handle_escrow_get)


@contextmanager
def _answers(kind: str) -> Iterator[None]:
    """What a mailbox or the store refuses, as the HTTP answer that says so: a mailbox in use
    409, a full one 429, an address over its budget 429, a full relay 507, a failing store
    503."""
    try:
        yield
    except MailboxInUse as e:
        log_event("mailbox.in_use")
        raise web.HTTPConflict(text=str(e)) from None
    except MailboxFull as e:
        log_event("mailbox.full", reason=str(e))
        raise web.HTTPTooManyRequests(text=str(e)) from None
    except BudgetReached as e:
        log_event("address.limited", reason=f"{kind} bytes")
        raise web.HTTPTooManyRequests(text=str(e)) from None
    except CapReached as e:
        log_event(f"{kind}.full")
        raise web.HTTPInsufficientStorage(text=str(e)) from None
    except StoreFailure as e:
        log_event("store.failed", error=type(e.__cause__).__name__)
        raise web.HTTPServiceUnavailable(text="the relay failed; try again later") from None


def _id(request: web.Request) -> str:
    """A drop box's id, for a log line that shows it only when the operator asks (metrics.py).
    Escrow locators are never logged: they name a person."""
    return request.match_info["id"]


# --- reading a request --------------------------------------------------------------------------


def _mailbox_id(request: web.Request, what: str = "a mailbox id") -> str:
    box_id = request.match_info["id"]
    if not MAILBOX_ID.fullmatch(box_id):
        raise web.HTTPBadRequest(text=f"{what} is 32 lowercase hex digits")
    return box_id


def _seconds(
    request: web.Request, name: str, default: float, upper: float, lower: float = 0
) -> float:
    raw = request.query.get(name)
    try:
        value = default if raw is None else float(raw)
    except ValueError:
        value = -1.0
    if not lower <= value <= upper:  # also refuses nan
        raise web.HTTPBadRequest(text=f"{name} must be a number of seconds from {lower} to {upper}")
    return value


def _claim(request: web.Request) -> bool:
    raw = request.query.get("claim", "0")
    if raw not in ("0", "1"):
        raise web.HTTPBadRequest(text="claim must be 0 or 1")
    return raw == "1"


def _too_large(limit: int, what: str = "a body") -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(limit, text=f"{what} is at most {limit} bytes here")


async def _body(request: web.Request, limit: int) -> bytes:
    """The request's body, at most `limit` bytes: else 413, unread if its length says so;
    408 if it does not arrive within the body deadline (a slow body holds a request slot)."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    deadline = request.app[CONFIG].body_deadline
    try:
        async with asyncio.timeout(deadline):
            body = await request.read()  # over client_max_size: 413 from aiohttp
    except TimeoutError:
        log_event("request.slow_body")
        late = web.HTTPRequestTimeout(text=f"the body did not arrive within {deadline:g} s")
        late.force_close()
        raise late from None
    if len(body) > limit:
        raise _too_large(limit)
    return body


# --- pairing mailboxes --------------------------------------------------------------------------


def _too_many(what: str) -> web.HTTPTooManyRequests:
    log_event("address.limited", reason=what)
    return web.HTTPTooManyRequests(text=f"too many {what} from this address; try again later")


async def handle_mailbox_post(request: web.Request) -> web.Response:
    box_id = _mailbox_id(request)
    ttl = _seconds(request, "ttl", MAILBOX_MAX_TTL, MAILBOX_MAX_TTL)
    claim = _claim(request)
    body = await _body(request, MAILBOX_MAX_BYTES)
    poster = Poster(peer_household(request), peer_network(request))
    if not request.app[LIMITS].mailbox_posts.allow(poster.household):
        raise _too_many("mailbox posts")
    with _answers("mailbox"):
        request.app[MAILBOXES].post(box_id, body, ttl, claim=claim, poster=poster)
    log_event("mailbox.posted", bytes=len(body), mailbox=_id(request), peer=peer_address(request))
    return web.Response(status=204)


async def handle_mailbox_get(request: web.Request) -> web.Response:
    box_id = _mailbox_id(request)
    wait = _seconds(request, "wait", 0, MAILBOX_MAX_WAIT)
    boxes, waits = request.app[MAILBOXES], request.app[LIMITS].mailbox_waits
    reader = peer_household(request)
    if not request.app[LIMITS].mailbox_reads.allow(reader):
        raise _too_many("mailbox reads")
    if wait > 0 and not waits.take(reader):
        raise _too_many("mailbox reads waiting")
    try:
        with _answers("mailbox"):
            body = await boxes.take(box_id, wait)
    finally:
        if wait > 0:
            waits.give_back(reader)
    if body is None:
        raise web.HTTPNotFound(text="no message")
    return web.Response(body=body, content_type="application/octet-stream")


# --- invitations --------------------------------------------------------------------------------


def _writer(request: web.Request, budget: int, network_budget: int) -> Writer:
    """The request's household and wider network as the store may keep them: short keyed tags,
    no address. A network holds at least one household's budget (for IPv4 it is one)."""
    store = request.app[STORE]
    return Writer(
        store.writer_tag(peer_household(request)),
        budget,
        store.writer_tag(peer_network(request)),
        max(budget, network_budget),
    )


async def handle_invitation_post(request: web.Request) -> web.Response:
    box = bytes.fromhex(_mailbox_id(request, "an invitation id"))
    ttl = _seconds(request, "ttl", INVITATION_MAX_TTL, INVITATION_MAX_TTL, lower=INVITATION_MIN_TTL)
    if not request.app[LIMITS].invitation_posts.allow(peer_household(request)):
        raise _too_many("invitations")
    answer = await _is_answer(request, box)
    body = await _body(request, INVITATION_MAX_BYTES)
    if not body:
        raise web.HTTPBadRequest(text="an invitation is at least 1 byte")
    now = time.time()  # wall-clock: expiries outlive a restart
    config = request.app[CONFIG]
    writer = _writer(
        request, config.invitation_bytes_per_address, config.invitation_bytes_per_network
    )
    with _answers("invitation"):
        store = request.app[STORE]
        stored = await store.put_invitation(box, body, now + ttl, now, writer, answer)
    if not stored:
        log_event("invitation.in_use")
        raise web.HTTPConflict(text="that invitation id is in use; pick another")
    log_event(
        "invitation.posted", bytes=len(body), mailbox=_id(request), peer=peer_address(request)
    )
    return web.Response(status=204)


async def handle_invitation_get(request: web.Request) -> web.Response:
    box = bytes.fromhex(_mailbox_id(request, "an invitation id"))
    with _answers("invitation"):
        body = await request.app[STORE].take_invitation(box, time.time())
    if body is None:
        raise web.HTTPNotFound(text="no invitation")
    log_event("invitation.taken", bytes=len(body), mailbox=_id(request), peer=peer_address(request))
    return web.Response(body=body, content_type="application/octet-stream")


# --- recovery escrows ---------------------------------------------------------------------------


def _no_ext(code: int, data: bytes) -> NoReturn:
    raise ValueError("no ext types")


def _unpack_escrow(body: bytes) -> object:
    try:
        return msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            max_bin_len=escrow.MAX_BLOB,
            max_str_len=1,
            max_array_len=0,
            max_map_len=3,
            max_ext_len=0,
            ext_hook=_no_ext,
        )
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as e:
        if "exceeds max_bin_len" in str(e):
            raise _too_large(escrow.MAX_BLOB, "a blob") from None
        raise web.HTTPBadRequest(text="the body is not a msgpack map within limits") from None


def _escrow_write(body: bytes) -> tuple[bytes, bytes, bytes]:
    """(identity, blob, signature) from a PUT body, or 400 (413 for a blob over the size)."""
    fields = _unpack_escrow(body)
    if isinstance(fields, dict) and fields.keys() == {"i", "b", "g"}:
        identity, blob, signature = fields["i"], fields["b"], fields["g"]
        if (
            isinstance(identity, bytes)
            and len(identity) == IDENTITY_LEN
            and isinstance(blob, bytes)
            and blob
            and isinstance(signature, bytes)
            and len(signature) == SIGNATURE_LEN
        ):
            return identity, blob, signature
    shape = f"i ({IDENTITY_LEN} bytes), b (1 to {escrow.MAX_BLOB} bytes), g ({SIGNATURE_LEN} bytes)"
    raise web.HTTPBadRequest(text=f"the body is a msgpack map of exactly {shape}")


def _fresh_since(request: web.Request, now: float) -> float:
    """Escrows written before this have expired: nobody rewrote them for escrow_days."""
    return now - request.app[CONFIG].escrow_days * DAY


# How a device shows it belongs to a journal the relay holds: the space id and its capability,
# as a Hello gives them (the request goes over TLS to any host but loopback, as a Hello does).
MEMBER = re.compile(r"Tend-Space ([0-9a-f]{32}) ([0-9a-f]{64})")


def _invite_only(request: web.Request) -> bool:
    return request.app[CONFIG].admission == "token"


async def _from_a_member(request: web.Request, kind: str) -> bool:
    """Whether the request names a journal held here and presents its capability, checked as
    a Hello's is (its hash, compared in constant time). Nothing of it is kept or logged."""
    found = MEMBER.fullmatch(request.headers.get("Authorization", ""))
    if found is None:
        return False
    space, capability = (bytes.fromhex(group) for group in found.groups())
    with _answers(kind):
        stored = await request.app[STORE].capability_hash(SpaceId(space))
    return stored is not None and hmac.compare_digest(stored, hashlib.sha256(capability).digest())


def _not_a_member(kind: str, text: str) -> web.HTTPUnauthorized:
    log_event(f"{kind}.refused", reason="not a member")
    return web.HTTPUnauthorized(text=text)


async def _check_member(request: web.Request) -> None:
    """On an invite-only relay, an escrow is kept only for a device of a journal held here:
    else anyone could fill the escrow cap its operator meant for the couples it admitted."""
    if _invite_only(request) and not await _from_a_member(request, "escrow"):
        text = "this relay keeps recovery records only for the devices of its journals"
        raise _not_a_member("escrow", text)


async def _is_answer(request: web.Request, box: bytes) -> bool:
    """Whether an invite-only relay keeps this invitation only as an answer: not from a device
    of a journal held here, but, from anyone, the one answer to such a device's invitation:
    posted at the id that answers it (core/log/link_reply.py), naming it in `for`, while it
    waits or was taken and has not expired. A joiner answers a link before it is a member; an
    answer is never answerable itself (so answers cannot chain); nobody else gets a row. 401
    if neither."""
    if not _invite_only(request) or await _from_a_member(request, "invitation"):
        return False
    answering = request.query.get("for", "")
    if MAILBOX_ID.fullmatch(answering) and link_reply.reply_box(bytes.fromhex(answering)) == box:
        with _answers("invitation"):
            store = request.app[STORE]
            if await store.invitation_answerable(bytes.fromhex(answering), time.time()):
                return True
    text = "this relay keeps invitations only from the devices of its journals, and their answers"
    raise _not_a_member("invitation", text)


async def handle_escrow_put(request: web.Request) -> web.Response:
    locator = bytes.fromhex(_mailbox_id(request, "a locator"))
    if not request.app[LIMITS].escrow_puts.allow(peer_household(request)):
        raise _too_many("recovery escrow writes")
    await _check_member(request)
    identity, blob, signature = _escrow_write(await _body(request, ESCROW_MAX_BODY))
    if not escrow.write_allowed(locator, identity, blob, signature):
        log_event("escrow.refused")
        raise web.HTTPForbidden(text="not signed by the identity this locator derives from")
    now = time.time()
    config = request.app[CONFIG]
    writer = _writer(request, config.escrow_bytes_per_address, config.escrow_bytes_per_network)
    with _answers("escrow"):
        await request.app[STORE].put_escrow(locator, blob, now, writer, _fresh_since(request, now))
    log_event("escrow.stored", bytes=len(blob))
    return web.Response(status=204)


async def handle_escrow_get(request: web.Request) -> web.Response:
    locator = bytes.fromhex(_mailbox_id(request, "a locator"))
    with _answers("escrow"):
        blob = await request.app[STORE].escrow(locator, _fresh_since(request, time.time()))
    if blob is None:
        raise web.HTTPNotFound(text="no escrow")
    return web.Response(body=blob, content_type="application/octet-stream")
