"""Admission and storage limits against a real relay on 127.0.0.1, driven by a modified client:
the protocol library used directly, saying whatever Hello or Push it likes.

Each test starts its own relay (make_app, a fresh SQLite file) with the settings it is about.
Per-address limits are tested from several loopback addresses: Linux routes all of 127.0.0.0/8
to lo, and aiohttp's connector binds its side of the socket to the address asked for.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from tend.core.ids import SpaceId, new_space_id
from tend.core.log.link_reply import reply_box
from tend.sync.membership import authorization
from tend.sync.protocol import (
    PROTOCOL_VERSIONS,
    Ack,
    Connection,
    Error,
    ErrorCode,
    Frame,
    Hello,
    Push,
    Role,
    Welcome,
)
from tend.sync.relay.app import make_app
from tend.sync.relay.config import RelayConfig
from tend.sync.relay.limits import code_hash, code_id, new_code
from tend.sync.relay.store import SqliteRelayStore
from tend.sync.relay.store_spec import SqliteSpec
from tests.relay_fixtures import ENTRY_SIZE, Log
from tests.test_relay import Person
from tests.test_relay_bounds import Serve, serve

TIMEOUT = 5.0
TOKEN = "operator-token-for-tests-0123456789"

__all__ = ["serve"]  # a fixture
NOT_A_MEMBER = "this relay keeps recovery records only for the devices of its journals"
NOT_AN_INVITER = (
    "this relay keeps invitations only from the devices of its journals, and their answers"
)


class Device:
    """A modified client: a websocket and a protocol.Connection(DEVICE), nothing of tend's own
    client logic, so it sends what the test says."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.conn = Connection(Role.DEVICE)

    async def hello(self, space: SpaceId, *, create: bool = True, code: str = "") -> Frame:
        await self.ws.send_bytes(
            self.conn.send(Hello(PROTOCOL_VERSIONS, space, CAPABILITY, create, code))
        )
        msg = await self.ws.receive(timeout=TIMEOUT)
        assert msg.type is WSMsgType.BINARY, msg
        return self.conn.receive(msg.data)

    async def push(self, request: int, entries: list[bytes]) -> Frame:
        await self.ws.send_bytes(self.conn.send(Push(request, tuple(entries))))
        msg = await self.ws.receive(timeout=TIMEOUT)
        assert msg.type is WSMsgType.BINARY, msg
        return self.conn.receive(msg.data)


CAPABILITY = os.urandom(32)
Connect = Callable[..., Awaitable[Device]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Connect]]]:
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start_(**settings: object) -> Connect:
        app = make_app(SqliteSpec(tmp_path / "relay.db"), RelayConfig(**settings))  # type: ignore[arg-type]
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]

        async def connect(source: str = "127.0.0.1") -> Device:
            connector = aiohttp.TCPConnector(local_addr=(source, 0))
            http = aiohttp.ClientSession(connector=connector)
            sessions.append(http)
            return Device(await http.ws_connect(f"http://{host}:{port}/v1/sync"))

        return connect

    yield start_
    for http in sessions:
        await http.close()
    for runner in runners:
        await runner.cleanup()


async def mint(tmp_path: Path, *, expires_at: float | None = None) -> str:
    """What `tend relay codes new` does, on the relay's own database while it runs."""
    code = new_code()
    store = await SqliteRelayStore.open(tmp_path / "relay.db")
    try:
        await store.add_codes([code_hash(code)], 0.0, expires_at)
    finally:
        await store.close()
    return code


def refused(frame: Frame, code: ErrorCode) -> bool:
    return isinstance(frame, Error) and frame.code == code and frame.fatal


async def test_an_open_relay_creates_a_space_for_anyone_as_before(
    start: Callable[..., Awaitable[Connect]],
) -> None:
    connect = await start()
    assert isinstance(await (await connect()).hello(new_space_id()), Welcome)


async def test_an_invite_only_relay_refuses_a_creation_without_a_code_in_one_line(
    start: Callable[..., Awaitable[Connect]],
) -> None:
    connect = await start(admission="token")
    space = new_space_id()
    answer = await (await connect()).hello(space)
    assert refused(answer, ErrorCode.ADMISSION)
    assert isinstance(answer, Error)
    assert answer.message.startswith("this relay admits new journals with a code from its operator")
    assert "\n" not in answer.message
    assert refused(await (await connect()).hello(space, create=False), ErrorCode.UNKNOWN_SPACE)


async def test_an_unknown_used_expired_or_revoked_code_creates_nothing(
    start: Callable[..., Awaitable[Connect]], tmp_path: Path
) -> None:
    connect = await start(admission="token")
    used = await mint(tmp_path)
    assert isinstance(await (await connect()).hello(new_space_id(), code=used), Welcome)
    expired = await mint(tmp_path, expires_at=1.0)
    revoked = await mint(tmp_path)
    store = await SqliteRelayStore.open(tmp_path / "relay.db")
    assert await store.revoke_code(code_id(code_hash(revoked))) == 1
    await store.close()
    for code in (new_code(), used, expired, revoked, "x" * 64):
        space = new_space_id()
        assert refused(await (await connect()).hello(space, code=code), ErrorCode.ADMISSION)
        assert refused(await (await connect()).hello(space, create=False), ErrorCode.UNKNOWN_SPACE)


async def test_a_good_code_creates_one_space_and_its_devices_need_no_code_after(
    start: Callable[..., Awaitable[Connect]], tmp_path: Path
) -> None:
    connect = await start(admission="token")
    code, space = await mint(tmp_path), new_space_id()
    assert isinstance(await (await connect()).hello(space, code=code.upper()), Welcome)
    assert isinstance(await (await connect()).hello(space), Welcome)  # the partner, later
    assert isinstance(await (await connect()).hello(space, create=False), Welcome)


async def test_two_devices_racing_with_one_code_create_one_space(
    start: Callable[..., Awaitable[Connect]], tmp_path: Path
) -> None:
    connect = await start(admission="token")
    code = await mint(tmp_path)
    devices = [await connect() for _ in range(4)]
    answers = await asyncio.gather(*(d.hello(new_space_id(), code=code) for d in devices))
    assert sum(isinstance(a, Welcome) for a in answers) == 1
    assert sum(refused(a, ErrorCode.ADMISSION) for a in answers) == 3


async def test_the_operator_token_creates_spaces_past_codes_and_address_limits(
    start: Callable[..., Awaitable[Connect]],
) -> None:
    connect = await start(admission="token", operator_token=TOKEN, creations_per_address=1)
    for _ in range(3):
        assert isinstance(await (await connect()).hello(new_space_id(), code=TOKEN), Welcome)
    wrong = TOKEN[:-1] + "x"
    assert refused(await (await connect()).hello(new_space_id(), code=wrong), ErrorCode.ADMISSION)


async def test_an_address_creates_at_most_its_limit_and_another_address_is_not_held_back(
    start: Callable[..., Awaitable[Connect]],
) -> None:
    connect = await start(creations_per_address=2)
    for _ in range(2):
        assert isinstance(await (await connect("127.0.0.2")).hello(new_space_id()), Welcome)
    space = new_space_id()
    assert refused(await (await connect("127.0.0.2")).hello(space), ErrorCode.SLOW_DOWN)
    assert refused(
        await (await connect("127.0.0.2")).hello(space, create=False), ErrorCode.UNKNOWN_SPACE
    )
    assert isinstance(await (await connect("127.0.0.3")).hello(space), Welcome)
    assert isinstance(await (await connect("127.0.0.2")).hello(space), Welcome)  # it exists now


async def test_a_push_past_the_storage_cap_is_refused_as_full_and_the_device_may_push_later(
    start: Callable[..., Awaitable[Connect]],
) -> None:
    connect = await start(storage_cap=3 * ENTRY_SIZE)
    filler, ours = new_space_id(), new_space_id()
    hog = await connect()
    assert isinstance(await hog.hello(filler), Welcome)
    assert isinstance(await hog.push(1, Log(filler).extend(3)), Ack)
    device, log = await connect(), Log(ours)
    assert isinstance(await device.hello(ours), Welcome)
    answer = await device.push(1, log.extend(1))
    assert isinstance(answer, Error) and answer.code == ErrorCode.FULL and answer.id == 1
    assert isinstance(await device.push(2, log.entries), Error)  # still open, still full


# --- drop boxes on an invite-only relay ---------------------------------------------------------


async def _journal_at(http: aiohttp.ClientSession, url: str) -> tuple[SpaceId, bytes]:
    """A journal the operator's own device starts at the relay: its space id and capability."""
    space, capability = new_space_id(), os.urandom(32)
    async with http.ws_connect(f"{url}/v1/sync") as ws:
        conn = Connection(Role.DEVICE)
        await ws.send_bytes(conn.send(Hello(PROTOCOL_VERSIONS, space, capability, True, TOKEN)))
        assert isinstance(conn.receive((await ws.receive(timeout=TIMEOUT)).data), Welcome)
    return space, capability


async def test_an_invite_only_relay_keeps_escrows_only_for_the_devices_of_its_journals(
    serve: Serve, tmp_path: Path
) -> None:
    """A stranger (or anyone not in one of its journals) could fill the escrow cap the operator
    meant for the couples it admitted. Only a request that names a journal held here and
    presents its capability, as a Hello does, is kept; anything else is 401 in one line and
    nothing is stored."""
    _app, url = await serve(admission="token", operator_token=TOKEN)
    async with aiohttp.ClientSession() as http:
        space, capability = await _journal_at(http, url)
        sam = Person.new()
        where = f"{url}/v1/recovery/{sam.locator.hex()}"
        strangers = [
            None,  # no header at all
            authorization(new_space_id(), os.urandom(32)),  # a journal not held here
            authorization(space, os.urandom(32)),  # a journal held here, a guessed key
            authorization(space, capability)[:-2],  # the right one, cut short
            f"Bearer {capability.hex()}",
        ]
        for header in strangers:
            headers = {} if header is None else {"Authorization": header}
            async with http.put(where, data=sam.write(b"sealed"), headers=headers) as answer:
                assert answer.status == 401, header
                text = await answer.text()
                assert (
                    text == "this relay keeps recovery records only for the devices of its journals"
                )
        async with http.get(where) as answer:
            assert answer.status == 404  # nothing of theirs was kept
        member = {"Authorization": authorization(space, capability)}
        async with http.put(where, data=sam.write(b"sealed"), headers=member) as answer:
            assert answer.status == 204
        async with http.get(where) as answer:
            assert await answer.read() == b"sealed"


async def test_an_open_relay_keeps_an_escrow_from_anyone_within_the_budgets(serve: Serve) -> None:
    _app, url = await serve()
    sam = Person.new()
    async with aiohttp.ClientSession() as http:
        where = f"{url}/v1/recovery/{sam.locator.hex()}"
        async with http.put(where, data=sam.write(b"sealed")) as answer:
            assert answer.status == 204


async def test_an_invite_only_relay_keeps_invitations_from_its_journals_and_one_answer_to_each(
    serve: Serve,
) -> None:
    """Anyone could post invitations to an invite-only relay and fill the invitation cap. Now a
    post is kept from a device of a journal held here, or as the one answer to such a device's
    invitation (a joiner is not a member yet): at the id that answers it, naming it, while it
    waits or after it was taken. Everything else is 401 in one line, nothing kept."""
    _app, url = await serve(
        admission="token", operator_token=TOKEN, invitation_posts_per_minute=100
    )
    bundle, unknown = os.urandom(16), os.urandom(16)
    answer = reply_box(bundle)

    async def post(
        box: bytes, headers: Mapping[str, str] | None = None, answering: bytes | None = None
    ) -> int:
        where = f"{url}/v1/invitation/{box.hex()}"
        params = {} if answering is None else {"for": answering.hex()}
        async with http.post(where, data=b"sealed", headers=headers, params=params) as got:
            if got.status == 401:
                assert await got.text() == NOT_AN_INVITER
            return got.status

    async with aiohttp.ClientSession() as http:
        space, capability = await _journal_at(http, url)
        member = {"Authorization": authorization(space, capability)}
        guessed = {"Authorization": authorization(space, os.urandom(32))}
        assert await post(os.urandom(16)) == 401  # a stranger, anywhere
        assert await post(os.urandom(16), guessed) == 401
        assert await post(answer, answering=bundle) == 401  # nothing to answer yet
        assert await post(bundle, member) == 204  # the inviter's invitation
        assert await post(os.urandom(16), answering=bundle) == 401  # not its answer's id
        assert await post(reply_box(unknown), answering=unknown) == 401
        assert await post(answer) == 401  # the right id, not saying what it answers
        async with http.get(f"{url}/v1/invitation/{bundle.hex()}") as taken:
            assert taken.status == 200  # the joiner takes the invitation, then answers it
        assert await post(answer, answering=bundle) == 204
        assert await post(answer, answering=bundle) == 409  # one answer only
        assert await post(reply_box(answer), answering=answer) == 401  # an answer to an answer
        assert await post(os.urandom(16), member) == 204  # the inviter's keys, wherever


async def test_an_open_relay_keeps_an_invitation_from_anyone(serve: Serve) -> None:
    _app, url = await serve()
    where = f"{url}/v1/invitation/{os.urandom(16).hex()}"
    async with aiohttp.ClientSession() as http, http.post(where, data=b"x") as got:
        assert got.status == 204
