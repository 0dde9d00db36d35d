"""What one address may leave at a relay on the open internet: invitations and recovery escrows
within a byte budget per household, and escrows that expire when nobody rewrites them.

Attacked as a stranger would: plain HTTP to a real relay (an aiohttp app on a TCP site) on
127.0.0.1, with no credentials; a client bound to 127.0.0.2 is another household to the relay
(Linux routes all of 127.0.0.0/8 to loopback). Every test runs on SQLite and, when
TEND_TEST_POSTGRES holds a DSN, on PostgreSQL in a fresh schema. Time passing is the one thing
not waited for: an escrow is made old by moving its write time back in the store.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tend.cli.relay_operator_cmds import gc
from tend.core.domain.events import Gratitude
from tend.core.journal import Journal
from tend.core.log import escrow
from tend.sync import client
from tend.sync.relay.app import make_app
from tend.sync.relay.config import RelayConfig
from tend.sync.relay.settings import SettingError, load
from tend.sync.relay.store import ROW_OVERHEAD
from tend.sync.relay.store_spec import PostgresSpec, SqliteSpec, StoreSpec
from tests.conftest import TendCLI
from tests.test_relay import Person

OTHER = "127.0.0.2"  # another household on loopback
DAY = 86400.0
POSTGRES_DSN = os.environ.get("TEND_TEST_POSTGRES", "")
BODY = 1000  # bytes of one invitation or escrow here
ONE = BODY + ROW_OVERHEAD  # what one counts toward a budget
FAST = {"invitation_posts_per_minute": 1000, "escrow_puts_per_minute": 1000}  # rates aside


@dataclass
class Running:
    url: str
    spec: StoreSpec

    async def age_escrows(self, days: float) -> None:
        """Every escrow held was written `days` earlier than it was."""
        if isinstance(self.spec, SqliteSpec):
            with sqlite3.connect(self.spec.path) as db:
                db.execute("UPDATE escrows SET written_at = written_at - ?", (days * DAY,))
            return
        import asyncpg

        db = await asyncpg.connect(self.spec.dsn)
        try:
            sql = f'UPDATE "{self.spec.schema}".escrows SET written_at = written_at - $1'
            await db.execute(sql, days * DAY)
        finally:
            await db.close()

    async def escrows_held(self) -> int:
        if isinstance(self.spec, SqliteSpec):
            with sqlite3.connect(self.spec.path) as db:
                return int(db.execute("SELECT count(*) FROM escrows").fetchone()[0])
        import asyncpg

        db = await asyncpg.connect(self.spec.dsn)
        try:
            return int(await db.fetchval(f'SELECT count(*) FROM "{self.spec.schema}".escrows'))
        finally:
            await db.close()


Serve = Callable[..., Awaitable[Running]]


@pytest.fixture(params=["sqlite", "postgres"])
async def serve(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Serve]:
    """Start a relay with the settings given, on the store this run tests."""
    if request.param == "postgres" and not POSTGRES_DSN:
        pytest.skip("TEND_TEST_POSTGRES is not set (a PostgreSQL DSN)")
    schema = f"tend_test_{secrets.token_hex(6)}"
    runners: list[web.AppRunner] = []

    async def start(**settings: Any) -> Running:
        spec: StoreSpec = (
            PostgresSpec(POSTGRES_DSN, schema)
            if request.param == "postgres"
            else SqliteSpec(tmp_path / "relay.db")
        )
        runner = web.AppRunner(make_app(spec, RelayConfig(**settings)), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return Running(f"http://{host}:{port}", spec)

    yield start
    for runner in runners:
        await runner.cleanup()
    if request.param == "postgres":
        import asyncpg

        db = await asyncpg.connect(POSTGRES_DSN)
        try:
            await db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await db.close()


def _client(local: str | None = None) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(local, 0) if local else None, force_close=True)
    return aiohttp.ClientSession(connector=connector)


def _box() -> str:
    return os.urandom(16).hex()


async def _post(http: aiohttp.ClientSession, url: str, box: str, ttl: int = 3600) -> int:
    async with http.post(f"{url}/v1/invitation/{box}?ttl={ttl}", data=bytes(BODY)) as answer:
        if answer.status == 429:
            text = (await answer.text()).strip()
            assert "\n" not in text and "try again" in text, text
        return answer.status


async def _take(http: aiohttp.ClientSession, url: str, box: str) -> tuple[int, bytes]:
    async with http.get(f"{url}/v1/invitation/{box}") as answer:
        return answer.status, await answer.read()


async def _put_escrow(http: aiohttp.ClientSession, url: str, person: Person, blob: bytes) -> int:
    where = f"{url}/v1/recovery/{person.locator.hex()}"
    async with http.put(where, data=person.write(blob)) as answer:
        if answer.status == 429:
            assert "\n" not in (await answer.text()).strip()
        return answer.status


async def _escrow(http: aiohttp.ClientSession, url: str, person: Person) -> bytes | None:
    async with http.get(f"{url}/v1/recovery/{person.locator.hex()}") as answer:
        return await answer.read() if answer.status == 200 else None


# --- invitations ----------------------------------------------------------------------------------


async def test_one_address_filling_its_invitation_budget_is_refused_and_another_still_gets_in(
    serve: Serve,
) -> None:
    relay = await serve(invitation_bytes_per_address=3 * ONE + ROW_OVERHEAD, **FAST)
    flooded = [_box() for _ in range(10)]
    async with _client() as attacker, _client(OTHER) as honest:
        statuses = [await _post(attacker, relay.url, box) for box in flooded]
        assert statuses == [204] * 3 + [429] * 7
        ours = _box()
        assert await _post(honest, relay.url, ours) == 204
        assert await _take(honest, relay.url, ours) == (200, bytes(BODY))
        for box in flooded[:3]:  # what was stored before the refusals is untouched
            assert await _take(honest, relay.url, box) == (200, bytes(BODY))
        assert [(await _take(honest, relay.url, box))[0] for box in flooded[3:]] == [404] * 7


async def test_an_invitation_budget_frees_when_one_is_taken_or_expires(serve: Serve) -> None:
    relay = await serve(invitation_bytes_per_address=3 * ONE + ROW_OVERHEAD, **FAST)
    soon, taken = _box(), _box()
    async with _client() as household, _client(OTHER) as partner:
        assert await _post(household, relay.url, soon, ttl=1) == 204
        assert await _post(household, relay.url, taken) == 204
        assert await _post(household, relay.url, _box()) == 204
        assert await _post(household, relay.url, _box()) == 429
        assert await _take(partner, relay.url, taken) == (200, bytes(BODY))
        assert await _post(household, relay.url, _box()) == 204  # the taken one's room
        assert await _post(household, relay.url, _box()) == 429
        await asyncio.sleep(1.2)
        assert await _post(household, relay.url, _box()) == 204  # the expired one's room


async def test_the_store_keeps_a_short_tag_of_each_writer_and_no_address(serve: Serve) -> None:
    relay = await serve(**FAST)
    async with _client(OTHER) as household:
        assert await _post(household, relay.url, _box()) == 204
        assert await _put_escrow(household, relay.url, Person.new(), b"sealed") == 204
    if isinstance(relay.spec, SqliteSpec):
        with sqlite3.connect(relay.spec.path) as db:
            db.execute("PRAGMA wal_checkpoint(FULL)")
            tags = [row[0] for row in db.execute("SELECT writer FROM invitations")]
            tags += [row[0] for row in db.execute("SELECT writer FROM escrows")]
        assert all(isinstance(tag, int) and 0 <= tag < 1 << 16 for tag in tags) and tags
        held = relay.spec.path.read_bytes()
        assert OTHER.encode() not in held and bytes([127, 0, 0, 2]) not in held


# --- escrows --------------------------------------------------------------------------------------


async def test_one_address_filling_its_escrow_budget_is_refused_and_another_still_gets_in(
    serve: Serve,
) -> None:
    relay = await serve(escrow_bytes_per_address=2 * ONE, **FAST)
    made_up = [Person.new() for _ in range(5)]  # anyone can make identities to sign escrows
    async with _client() as attacker, _client(OTHER) as honest:
        statuses = [await _put_escrow(attacker, relay.url, p, bytes(BODY)) for p in made_up]
        assert statuses == [204, 204, 429, 429, 429]
        assert await _put_escrow(attacker, relay.url, made_up[0], bytes(BODY)) == 204  # rewrite
        person = Person.new()
        assert await _put_escrow(honest, relay.url, person, b"our sealed record") == 204
        assert await _escrow(honest, relay.url, person) == b"our sealed record"
        assert await _escrow(honest, relay.url, made_up[1]) == bytes(BODY)
        assert await _escrow(honest, relay.url, made_up[2]) is None


async def test_an_expired_escrow_is_not_served_and_gc_deletes_it(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    relay = await serve(escrow_days=60)
    forgotten, kept = Person.new(), Person.new()
    async with _client() as http:
        assert await _put_escrow(http, relay.url, forgotten, b"nobody uses this") == 204
        await relay.age_escrows(61)
        assert await _escrow(http, relay.url, forgotten) is None  # held, but not served
        assert await relay.escrows_held() == 1
        assert await _put_escrow(http, relay.url, kept, b"in use") == 204
        assert await _escrow(http, relay.url, forgotten) is None
        assert await _escrow(http, relay.url, kept) == b"in use"
    # The next escrow write sweeps it; the operator's gc finds any left. Make one more to find.
    async with _client() as http:
        assert await _put_escrow(http, relay.url, forgotten, b"once more") == 204
    await relay.age_escrows(61)
    assert await relay.escrows_held() == 2
    collect = gc.callback  # the operator's command, on this test's store
    assert collect is not None
    await asyncio.to_thread(collect, relay.spec, 30, None, 60, True, False)  # --dry-run
    assert "2 recovery escrows not rewritten for 60 days to delete." in capsys.readouterr().out
    assert await relay.escrows_held() == 2
    await asyncio.to_thread(collect, relay.spec, 30, None, 60, False, True)
    assert "Deleted 2 recovery escrows not rewritten for 60 days." in capsys.readouterr().out
    assert await relay.escrows_held() == 0


async def test_rewriting_an_escrow_resets_its_expiry(serve: Serve) -> None:
    relay = await serve(escrow_days=60)
    person = Person.new()
    async with _client() as http:
        assert await _put_escrow(http, relay.url, person, b"v1") == 204
        await relay.age_escrows(59)
        assert await _put_escrow(http, relay.url, person, b"v1") == 204
        await relay.age_escrows(59)  # 118 days after the first write, 59 after the last
        assert await _escrow(http, relay.url, person) == b"v1"
        await relay.age_escrows(2)
        assert await _escrow(http, relay.url, person) is None


async def test_a_device_keeps_its_escrow_fresh_and_a_refused_rewrite_fails_no_sync(
    serve: Serve, tmp_path: Path
) -> None:
    relay = await serve(escrow_days=60)
    with Journal.create(tmp_path / "sam", "Sam") as sam:
        sam.record(Gratitude(text="for the tea"))
        await client.sync_once(sam, relay.url)
        await relay.age_escrows(45)
        sam.device.settings["escrow_at"] -= 45 * DAY  # a month and a half went by
        await client.sync_once(sam, relay.url)
        await relay.age_escrows(45)  # 90 days since the first write, 45 since the rewrite
        locator = escrow.locator_of(sam.device.identity)
        async with _client() as http, http.get(f"{relay.url}/v1/recovery/{locator.hex()}") as got:
            assert got.status == 200
        await _refused_writes_fail_no_sync(serve, sam, tmp_path)


async def _refused_writes_fail_no_sync(serve: Serve, sam: Journal, tmp_path: Path) -> None:
    """A rewrite refused (429) leaves the escrow noted as still due, and a first write over
    the household's budget leaves it unwritten: either way the sync itself succeeds."""
    slowed = await serve(escrow_puts_per_minute=0)
    stale = sam.device.settings["escrow_at"] - 31 * DAY
    sam.device.settings["escrow_at"] = stale
    sam.record(Gratitude(text="for the rain"))
    assert (await client.sync_once(sam, slowed.url)).uploaded >= 1
    assert sam.device.settings["escrow_at"] == stale
    assert sam.device.settings["escrow_refused_at"] > stale  # offered again in a while
    budgeted = await serve(escrow_bytes_per_address=0)
    with Journal.create(tmp_path / "ash", "Ash") as ash:
        ash.record(Gratitude(text="for the bread"))
        assert (await client.sync_once(ash, budgeted.url)).uploaded >= 1
        assert "escrow" not in ash.device.settings and "escrow_at" not in ash.device.settings


# --- settings -------------------------------------------------------------------------------------


def test_an_escrow_lifetime_under_60_days_is_refused_where_it_is_set(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="at least 60 days"):
        load({"escrow_days": "30"}, {}, None)
    with pytest.raises(SettingError, match="TEND_RELAY_ESCROW_DAYS"):
        load({}, {"TEND_RELAY_ESCROW_DAYS": "59"}, None)
    assert load({"escrow_days": "60"}, {}, None)[1].escrow_days == 60
    assert RelayConfig().escrow_days == 400
    operator = TendCLI(tmp_path / "operator")
    served = operator("relay", "serve", "--escrow-days", "30", "--db", str(tmp_path / "r.db"))
    assert served.returncode != 0 and "at least 60 days" in served.stderr
    collected = operator("relay", "gc", "--idle-days", "30", "--escrow-days", "30", "--yes")
    assert collected.returncode != 0 and "at least 60 days" in collected.stderr
    assert "\n" not in served.stderr.strip() and "\n" not in collected.stderr.strip()


def test_the_default_budgets_hold_dozens_of_invitations_and_a_few_escrows() -> None:
    config = RelayConfig()
    assert config.invitation_bytes_per_address // (1024 + ROW_OVERHEAD) >= 48
    assert config.escrow_bytes_per_address // (escrow.MAX_BLOB + ROW_OVERHEAD) == 4


def test_a_network_budget_under_one_households_is_refused_where_it_is_set() -> None:
    with pytest.raises(SettingError, match="invitation_bytes_per_network"):
        load(
            {"invitation_bytes_per_network": "1000", "invitation_bytes_per_address": "2000"},
            {},
            None,
        )
    with pytest.raises(SettingError, match="escrow_bytes_per_network"):
        load({}, {"TEND_RELAY_ESCROW_BYTES_PER_NETWORK": "1"}, None)
    with pytest.raises(SettingError, match="negative"):
        load({"invitation_bytes_per_network": "-1"}, {}, None)
    with pytest.raises(SettingError, match="mailbox_bytes_per_network"):
        load({"mailbox_bytes_per_network": str(100 << 10)}, {}, None)
    with pytest.raises(SettingError, match="mailbox_claims_per_network"):
        load({}, {"TEND_RELAY_MAILBOX_CLAIMS_PER_NETWORK": "3"}, None)
    relay = load({}, {"TEND_RELAY_ESCROW_BYTES_PER_NETWORK": str(1 << 20)}, None)[1]
    assert relay.escrow_bytes_per_network == 1 << 20


def test_a_network_holds_eight_households_budgets_by_default() -> None:
    config = RelayConfig()
    assert config.invitation_bytes_per_network == 8 * config.invitation_bytes_per_address
    assert config.escrow_bytes_per_network == 8 * config.escrow_bytes_per_address
    assert config.mailbox_bytes_per_network == 8 * config.mailbox_bytes_per_address
    assert config.mailbox_claims_per_network == 4 * config.mailbox_claims_per_address
