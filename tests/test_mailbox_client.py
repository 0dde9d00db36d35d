"""sync/mailbox.py against a real relay on loopback, and against relays that misbehave.

Each test starts the relay app (make_app, a fresh SQLite file, an ephemeral 127.0.0.1 port) and
calls the client functions the pairing and recovery code use. The attacker's side: a mailbox or
invitation id already in use is MailboxTaken (so the inviter picks another), an invitation is
handed out once and its id stays refused, an escrow write not signed by the identity the
locator derives from is refused and changes nothing. A relay that is down, answers with an error
or sends more than any answer may hold is a one-line error, never a hang or a huge read.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from tend.core.errors import TendError
from tend.core.log import escrow
from tend.sync import mailbox
from tend.sync.client import RelayRefused, RelayUnavailable
from tend.sync.mailbox import MailboxTaken
from tend.sync.relay.app import make_app
from tend.sync.relay.config import RelayConfig
from tend.sync.relay.pairing_routes import INVITATION_MAX_BYTES
from tend.sync.relay.store import DEFAULT_ESCROW_CAP, DEFAULT_INVITATION_CAP, ROW_OVERHEAD
from tend.sync.relay.store_spec import SqliteSpec
from tests.test_relay import Person

Start = Callable[..., Awaitable[str]]


async def _serve(app: web.Application, running: list[web.AppRunner]) -> str:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    running.append(runner)
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Start a relay on the test's SQLite file (again: a restart); its URL."""
    running: list[web.AppRunner] = []

    async def start_(
        invitation_cap: int = DEFAULT_INVITATION_CAP, escrow_cap: int = DEFAULT_ESCROW_CAP
    ) -> str:
        for runner in running:  # one relay at a time owns the file
            await runner.cleanup()
        running.clear()
        config = RelayConfig(invitation_cap=invitation_cap, escrow_cap=escrow_cap)
        app = make_app(SqliteSpec(tmp_path / "relay.db"), config)
        return await _serve(app, running)

    yield start_
    for runner in running:
        await runner.cleanup()


@pytest.fixture
async def relay(start: Start) -> str:
    return await start()


def _box() -> str:
    return os.urandom(16).hex()


def one_line(error: BaseException) -> bool:
    text = str(error)
    return bool(text) and "\n" not in text


# --- pairing mailboxes --------------------------------------------------------------------------


async def test_a_message_goes_through_a_mailbox_once(relay: str) -> None:
    box = _box()
    await mailbox.put(relay, box, b"sealed", ttl=60)
    assert await mailbox.take(relay, box, wait=0) == b"sealed"
    assert await mailbox.take(relay, box, wait=0) is None


async def test_a_claim_on_a_mailbox_in_use_raises_mailbox_taken(relay: str) -> None:
    box = _box()
    await mailbox.put(relay, box, b"first", claim=True)
    with pytest.raises(MailboxTaken) as caught:
        await mailbox.put(relay, box, b"second", claim=True)
    assert isinstance(caught.value, TendError) and not isinstance(caught.value, RelayUnavailable)
    assert one_line(caught.value)
    await mailbox.put(relay, box, b"queued without a claim")
    assert await mailbox.take(relay, box, wait=0) == b"first"
    assert await mailbox.take(relay, box, wait=0) == b"queued without a claim"


async def test_a_claim_on_a_mailbox_someone_waits_on_goes_in_and_is_not_handed_to_them(
    relay: str,
) -> None:
    box = _box()
    waiting = asyncio.ensure_future(mailbox.take(relay, box, wait=5))
    await asyncio.sleep(0.2)
    await mailbox.put(relay, box, b"claim", claim=True)
    assert await waiting is None
    assert await mailbox.take(relay, box, wait=0) == b"claim"


async def test_a_take_waits_for_a_message_and_gives_up_with_none(relay: str) -> None:
    box = _box()
    waiting = asyncio.ensure_future(mailbox.take(relay, box, wait=5))
    await asyncio.sleep(0.2)
    await mailbox.put(relay, box, b"late")
    assert await waiting == b"late"
    assert await mailbox.take(relay, box, wait=1) is None


# --- invitations --------------------------------------------------------------------------------


async def test_an_invitation_is_taken_once_and_its_id_stays_taken(relay: str) -> None:
    box = _box()
    await mailbox.put_invitation(relay, box, b"sealed bundle", ttl=3600)
    with pytest.raises(MailboxTaken) as caught:
        await mailbox.put_invitation(relay, box, b"substitute", ttl=3600)
    assert one_line(caught.value)
    assert await mailbox.take_invitation(relay, box) == b"sealed bundle"
    assert await mailbox.take_invitation(relay, box) is None
    with pytest.raises(MailboxTaken):
        await mailbox.put_invitation(relay, box, b"substitute after the take")
    assert await mailbox.take_invitation(relay, box) is None


async def test_an_invitation_waits_through_a_relay_restart(start: Start) -> None:
    box = _box()
    await mailbox.put_invitation(await start(), box, b"for the partner, whenever")
    assert await mailbox.take_invitation(await start(), box) == b"for the partner, whenever"


async def test_an_invitation_expires(relay: str) -> None:
    box = _box()
    await mailbox.put_invitation(relay, box, b"soon gone", ttl=1)
    await asyncio.sleep(1.1)
    assert await mailbox.take_invitation(relay, box) is None


async def test_an_invitation_refused_or_over_the_cap_is_a_one_line_error(start: Start) -> None:
    relay = await start(invitation_cap=INVITATION_MAX_BYTES + ROW_OVERHEAD)
    with pytest.raises(RelayRefused) as refused:
        await mailbox.put_invitation(relay, _box(), bytes(INVITATION_MAX_BYTES + 1))  # 413
    with pytest.raises(RelayRefused):
        await mailbox.put_invitation(relay, _box(), b"x", ttl=0)  # 400
    await mailbox.put_invitation(relay, _box(), bytes(INVITATION_MAX_BYTES))
    with pytest.raises(RelayUnavailable) as full:
        await mailbox.put_invitation(relay, _box(), b"x")  # 507: try later
    assert one_line(refused.value) and one_line(full.value)


# --- recovery escrows ---------------------------------------------------------------------------


async def test_an_escrow_is_written_replaced_and_read_back(relay: str) -> None:
    alice = Person.new()
    assert await mailbox.get_escrow(relay, alice.locator) is None
    for blob in (b"v1", os.urandom(escrow.MAX_BLOB)):
        await mailbox.put_escrow(relay, alice.locator, alice.identity, blob, alice.sign(blob))
        assert await mailbox.get_escrow(relay, alice.locator) == blob


async def test_an_escrow_write_by_someone_else_is_refused_and_changes_nothing(
    relay: str,
) -> None:
    alice, mallory = Person.new(), Person.new()
    await mailbox.put_escrow(relay, alice.locator, alice.identity, b"v1", alice.sign(b"v1"))
    attempts = [
        (alice.identity, mallory.sign(b"evil", alice.locator)),  # another identity's key
        (mallory.identity, mallory.sign(b"evil", alice.locator)),  # not Alice's locator
        (alice.identity, os.urandom(64)),  # forged
        (alice.identity, alice.sign(b"v1")),  # Alice's, but for another blob
    ]
    for identity, signature in attempts:
        with pytest.raises(RelayRefused) as caught:
            await mailbox.put_escrow(relay, alice.locator, identity, b"evil", signature)
        assert one_line(caught.value)
    assert await mailbox.get_escrow(relay, alice.locator) == b"v1"


async def test_an_escrow_over_the_cap_is_unavailable_and_changes_nothing(start: Start) -> None:
    relay = await start(escrow_cap=ROW_OVERHEAD + 10)
    alice, bob = Person.new(), Person.new()
    await mailbox.put_escrow(relay, alice.locator, alice.identity, bytes(10), alice.sign(bytes(10)))
    with pytest.raises(RelayUnavailable):
        await mailbox.put_escrow(relay, bob.locator, bob.identity, b"x", bob.sign(b"x"))
    assert await mailbox.get_escrow(relay, bob.locator) is None


async def test_an_escrow_survives_a_relay_restart(start: Start) -> None:
    alice = Person.new()
    await mailbox.put_escrow(await start(), alice.locator, alice.identity, b"s", alice.sign(b"s"))
    assert await mailbox.get_escrow(await start(), alice.locator) == b"s"


# --- bad arguments and bad relays ---------------------------------------------------------------


async def test_ids_and_locators_are_checked_before_any_request() -> None:
    nowhere = "http://127.0.0.1:9"  # nothing is sent: no error about reaching it
    for call in (
        mailbox.put(nowhere, "../metrics", b"x"),
        mailbox.take(nowhere, "AB" * 16, wait=0),
        mailbox.put_invitation(nowhere, "ab" * 15, b"x"),
        mailbox.take_invitation(nowhere, "ab" * 16 + "/x"),
        mailbox.put_escrow(nowhere, bytes(15), bytes(96), b"x", bytes(64)),
        mailbox.get_escrow(nowhere, bytes(17)),
    ):
        with pytest.raises(ValueError):
            await call


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_a_relay_that_is_down_is_a_one_line_relay_unavailable() -> None:
    down, box, locator = _closed_port(), _box(), os.urandom(16)
    for call in (
        mailbox.put(down, box, b"x", claim=True),
        mailbox.take(down, box, wait=0),
        mailbox.put_invitation(down, box, b"x"),
        mailbox.take_invitation(down, box),
        mailbox.put_escrow(down, locator, bytes(96), b"x", bytes(64)),
        mailbox.get_escrow(down, locator),
    ):
        with pytest.raises(RelayUnavailable) as caught:
            await call
        assert one_line(caught.value)


@pytest.fixture
async def hostile() -> AsyncIterator[Callable[[int, bytes, bool], Awaitable[str]]]:
    """A server that answers every request with the given status and body (streamed, with no
    length, when `chunked`)."""
    running: list[web.AppRunner] = []

    async def start_(status: int, body: bytes, chunked: bool) -> str:
        async def answer(request: web.Request) -> web.StreamResponse:
            await request.read()
            response = web.StreamResponse(status=status)
            if chunked:
                response.enable_chunked_encoding()
            else:
                response.content_length = len(body)
            await response.prepare(request)
            for at in range(0, len(body), 1 << 16):
                await response.write(body[at : at + (1 << 16)])
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        return await _serve(app, running)

    yield start_
    for runner in running:
        await runner.cleanup()


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_longer_than_anything_the_relay_keeps_is_refused(
    hostile: Callable[[int, bytes, bool], Awaitable[str]], chunked: bool
) -> None:
    url = await hostile(200, bytes(mailbox.MAX_ANSWER + 1), chunked)
    for call in (
        mailbox.take(url, _box(), wait=0),
        mailbox.take_invitation(url, _box()),
        mailbox.get_escrow(url, os.urandom(16)),
    ):
        with pytest.raises(RelayUnavailable) as caught:
            await call
        assert one_line(caught.value)


async def test_an_escrow_answer_over_the_largest_blob_is_refused(
    hostile: Callable[[int, bytes, bool], Awaitable[str]],
) -> None:
    url = await hostile(200, bytes(escrow.MAX_BLOB + 1), True)
    with pytest.raises(RelayUnavailable):
        await mailbox.get_escrow(url, os.urandom(16))
    exact = await hostile(200, bytes(escrow.MAX_BLOB), True)
    assert await mailbox.get_escrow(exact, os.urandom(16)) == bytes(escrow.MAX_BLOB)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_failing_relay_is_relay_unavailable(
    hostile: Callable[[int, bytes, bool], Awaitable[str]], status: int
) -> None:
    url = await hostile(status, b"<html>\nbroken\n</html>", False)
    box, locator = _box(), os.urandom(16)
    for call in (
        mailbox.put(url, box, b"x"),
        mailbox.take(url, box, wait=0),
        mailbox.put_invitation(url, box, b"x"),
        mailbox.take_invitation(url, box),
        mailbox.put_escrow(url, locator, bytes(96), b"x", bytes(64)),
        mailbox.get_escrow(url, locator),
    ):
        with pytest.raises(RelayUnavailable) as caught:
            await call
        assert one_line(caught.value) and "broken" not in str(caught.value)
