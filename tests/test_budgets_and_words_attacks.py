"""Attacks on the relay's per-household budgets and escrow expiry, and on the mapper's rule
for words that are not their entry's own event and the catch-up's collector pause.

The relay is attacked as a stranger would: plain HTTP to a real relay on 127.0.0.1 (a client
bound to 127.0.0.2 is another household), on SQLite and, when TEND_TEST_POSTGRES holds a DSN,
on PostgreSQL. The mapper is attacked by the other partner with a modified client: the library
used directly to sign entries no honest client writes, delivered through a real relay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tend.core.domain.codec import encode_event
from tend.core.domain.events import CheckIn, Gratitude, Keyed, Sealed, Share
from tend.core.ids import short
from tend.core.journal import Journal
from tend.core.journal.mapper import EntryMapper
from tend.core.trust.engine import Reason
from tend.core.trust.ingest import ingest
from tend.core.trust.verify import COPIED_PRIVATE, WITHOUT_WORDS, verify
from tend.sync import client
from tend.sync.relay.store import ROW_OVERHEAD, WRITER_TAG_BITS, writer_tag
from tests.attacker import event_in
from tests.conftest import TendCLI, entries_of, gossip, invite, keys_of
from tests.test_catchup_fast_path_attacks import couple, texts, write_keyed
from tests.test_relay import Person
from tests.test_relay_budgets import (
    BODY,
    FAST,
    ONE,
    OTHER,
    POSTGRES_DSN,
    Serve,
    _box,
    _client,
    _escrow,
    _post,
    _put_escrow,
    _take,
    serve,
)

__all__ = ["couple", "serve"]  # fixtures shared with the tests they come from

INVITATION_MAX = 16 << 10  # the largest invitation body the relay takes

# --- invitations: taking and posting again ------------------------------------------------------


async def test_posting_and_taking_invitations_in_turn_does_not_fill_the_cap_for_everyone(
    serve: Serve,
) -> None:
    """A household posts an invitation, takes it itself, and posts another: each taken one
    costs its budget only a row. The cap must count a taken one no more than that either, or
    one household's budget's worth of rows holds the cap's worth of bytes for a week."""
    big = INVITATION_MAX + ROW_OVERHEAD
    relay = await serve(
        invitation_bytes_per_address=big + 20 * ROW_OVERHEAD,
        invitation_cap=8 * big,
        **FAST,
    )
    async with _client() as attacker, _client(OTHER) as honest:
        for _ in range(16):  # twice as many as the cap holds of them
            box = _box()
            where = f"{relay.url}/v1/invitation/{box}?ttl={7 * 24 * 3600}"
            async with attacker.post(where, data=bytes(INVITATION_MAX)) as answer:
                assert answer.status in (204, 429, 507)
                if answer.status != 204:
                    break
            assert (await _take(attacker, relay.url, box))[0] == 200
        ours = _box()
        assert await _post(honest, relay.url, ours) == 204
        assert await _take(honest, relay.url, ours) == (200, bytes(BODY))


async def test_a_taken_invitation_keeps_its_id_reserved_after_the_cap_gives_its_bytes_back(
    serve: Serve,
) -> None:
    relay = await serve(invitation_cap=2 * ONE, **FAST)
    box = _box()
    async with _client() as household, _client(OTHER) as partner:
        assert await _post(household, relay.url, box) == 204
        assert await _take(partner, relay.url, box) == (200, bytes(BODY))
        assert await _post(household, relay.url, box) == 409  # nobody slips a second one in
        assert await _take(partner, relay.url, box) == (404, b"no invitation")
        assert await _post(household, relay.url, _box()) == 204  # the bytes came back
        assert await _post(household, relay.url, _box()) == 507  # the taken row still counts


# --- races on one instance ----------------------------------------------------------------------


async def test_concurrent_invitations_from_one_household_stay_within_its_budget(
    serve: Serve,
) -> None:
    relay = await serve(invitation_bytes_per_address=3 * ONE, **FAST)
    async with _client() as attacker:
        statuses = await asyncio.gather(*(_post(attacker, relay.url, _box()) for _ in range(12)))
    assert sorted(statuses) == [204] * 3 + [429] * 9


async def test_concurrent_escrows_from_one_household_stay_within_its_budget(serve: Serve) -> None:
    relay = await serve(escrow_bytes_per_address=3 * ONE, **FAST)
    made_up = [Person.new() for _ in range(12)]
    async with _client() as attacker:
        statuses = await asyncio.gather(
            *(_put_escrow(attacker, relay.url, p, bytes(BODY)) for p in made_up)
        )
    assert sorted(statuses) == [204] * 3 + [429] * 9


# --- escrows: moving between budgets, others' escrows, expiry -----------------------------------


async def test_rewriting_an_escrow_from_another_household_moves_it_and_gains_no_room(
    serve: Serve,
) -> None:
    """Escrows moved from one household's budget to another's leave the first room, and fill
    the second: two households hold no more than their two budgets, however they shuffle."""
    relay = await serve(escrow_bytes_per_address=2 * ONE, **FAST)
    made_up = [Person.new() for _ in range(6)]
    async with _client() as here, _client(OTHER) as there:
        assert [await _put_escrow(here, relay.url, p, bytes(BODY)) for p in made_up[:3]] == [
            204,
            204,
            429,
        ]
        # Moved over: now counted there, and here has room again.
        assert await _put_escrow(there, relay.url, made_up[0], bytes(BODY)) == 204
        assert await _put_escrow(there, relay.url, made_up[1], bytes(BODY)) == 204
        assert await _put_escrow(there, relay.url, made_up[3], bytes(BODY)) == 429
        assert await _put_escrow(here, relay.url, made_up[2], bytes(BODY)) == 204
        assert await _put_escrow(here, relay.url, made_up[3], bytes(BODY)) == 204
        assert await _put_escrow(here, relay.url, made_up[4], bytes(BODY)) == 429
        # Into a full budget a rewrite that grows nothing passes and stays where it was
        # counted; one that grows is refused.
        assert await _put_escrow(here, relay.url, made_up[0], bytes(BODY)) == 204
        assert await _put_escrow(here, relay.url, made_up[4], bytes(BODY)) == 429
        assert await _put_escrow(here, relay.url, made_up[0], bytes(BODY + 1)) == 429
        assert await _put_escrow(there, relay.url, made_up[0], bytes(BODY - 1)) == 204
        served = [await _escrow(here, relay.url, p) for p in made_up]
    assert served == [bytes(BODY - 1), bytes(BODY), bytes(BODY), bytes(BODY), None, None]


async def test_nobody_but_its_identity_can_rewrite_shrink_or_refresh_an_escrow(
    serve: Serve,
) -> None:
    """A stranger cannot move someone's escrow into a full budget, empty it, or keep an
    abandoned one alive: every write needs the identity's signature over this locator."""
    relay = await serve(escrow_days=60, **FAST)
    victim, attacker_identity = Person.new(), Person.new()
    async with _client() as honest, _client(OTHER) as attacker:
        assert await _put_escrow(honest, relay.url, victim, b"our sealed record") == 204
        where = f"{relay.url}/v1/recovery/{victim.locator.hex()}"
        forged = [
            # the attacker's own identity, signing for the victim's locator
            attacker_identity.write(b"x").replace(attacker_identity.locator, victim.locator),
            # the victim's identity, the attacker's signature over this locator
            _body(victim.identity, b"x", attacker_identity.sign(b"x", victim.locator)),
            # the victim's identity and a signature over another blob
            _body(victim.identity, b"x", victim.sign(b"y")),
        ]
        for body in forged:
            async with attacker.put(where, data=body) as answer:
                assert answer.status == 403
        assert await _escrow(attacker, relay.url, victim) == b"our sealed record"


def _body(identity: bytes, blob: bytes, signature: bytes) -> bytes:
    from tests.test_relay import escrow_body

    return escrow_body(identity, blob, signature)


async def test_expired_escrows_leave_their_households_budget_at_once(serve: Serve) -> None:
    relay = await serve(escrow_bytes_per_address=2 * ONE, escrow_days=60, **FAST)
    old = [Person.new() for _ in range(2)]
    async with _client() as household:
        assert [await _put_escrow(household, relay.url, p, bytes(BODY)) for p in old] == [204] * 2
        assert await _put_escrow(household, relay.url, Person.new(), bytes(BODY)) == 429
        await relay.age_escrows(61)
        new = Person.new()
        assert await _put_escrow(household, relay.url, new, bytes(BODY)) == 204
        assert await _escrow(household, relay.url, new) == bytes(BODY)
        assert [await _escrow(household, relay.url, p) for p in old] == [None, None]
    assert await relay.escrows_held() == 1


# --- bodies -------------------------------------------------------------------------------------


async def test_a_body_longer_than_any_declared_length_is_refused_and_counts_nothing(
    serve: Serve,
) -> None:
    """Sent chunked, with no Content-Length to refuse it by: read up to the limit, then 413,
    and the household's budget is untouched."""
    relay = await serve(invitation_bytes_per_address=ONE, **FAST)

    async def chunks(total: int) -> object:
        for _ in range(total // 1024):
            yield bytes(1024)

    box = _box()
    async with _client() as household:
        where = f"{relay.url}/v1/invitation/{box}"
        async with household.post(where, data=chunks(INVITATION_MAX + 1024)) as answer:
            assert answer.status == 413
        assert await _take(household, relay.url, box) == (404, b"no invitation")
        assert await _post(household, relay.url, _box()) == 204  # the whole budget was left


# --- what the store says about who wrote --------------------------------------------------------


async def test_with_the_store_a_guessed_household_can_be_tested_against_a_row(
    serve: Serve,
) -> None:
    """The store keeps the tag key beside the tags, so whoever reads it can compute a guessed
    household's tag and see whether any row carries it: no address is held, but a guess is
    confirmed up to a 1 in 2**16 coincidence per tag present. docs/security.md says so."""
    relay = await serve(**FAST)
    async with _client(OTHER) as household:
        assert await _post(household, relay.url, _box()) == 204
    if not hasattr(relay.spec, "path"):
        pytest.skip("read here from the SQLite file")
    with sqlite3.connect(relay.spec.path) as db:
        (key,) = db.execute("SELECT key FROM store_keys WHERE name = 'writer'").fetchone()
        tags = {row[0] for row in db.execute("SELECT writer FROM invitations")}
    assert writer_tag(bytes(key), OTHER) in tags  # the guess that is right matches
    wrong = [f"198.51.100.{n}" for n in range(1, 255)]
    matches = sum(writer_tag(bytes(key), guess) in tags for guess in wrong)
    assert matches <= 2  # a wrong guess matches only by a 16-bit coincidence
    assert WRITER_TAG_BITS == 16
    security = (Path(__file__).parents[1] / "docs" / "security.md").read_text()
    assert "test a guessed address" in security


# --- an old relay database ----------------------------------------------------------------------


def test_a_relay_database_of_the_old_layout_is_refused_in_one_line(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE spaces (space BLOB PRIMARY KEY, capability_hash BLOB NOT NULL)")
        db.execute("CREATE TABLE escrows (locator BLOB PRIMARY KEY, blob BLOB NOT NULL)")
    operator = TendCLI(tmp_path / "operator")
    listed = operator("relay", "spaces", "--db", str(old))
    assert listed.returncode != 0
    assert "\n" not in listed.stderr.strip() and "new database" in listed.stderr, listed.stderr


# --- words that are not their entry's own event -------------------------------------------------


def test_words_not_their_entrys_own_read_alike_with_the_record_without_it_and_after_a_resync(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    """Alex seals words of another day under a record that opens: Sam (with the record), a
    device of Sam's that never had it, and Sam after a re-sync all read the same entry, and
    nothing after it is lost; verify names it on each. The record is not kept, so nothing is
    left for a forget to reach or miss."""
    sam, alex = couple
    seq = int(alex.store.head(alex.device.log)[0]) + 1  # type: ignore[index]
    honest = event_in(alex, Gratitude(text="a day that is not this one"))
    write_keyed(alex, honest, {}, words=dataclasses.replace(honest, local_date="2020-02-02"))
    alex.record(Gratitude(text="after it"))
    with_record = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert not with_record.refused
    later = invite(sam, tmp_path / "sam2", own=True, name="Sam")
    others = {at: key for at, key in keys_of(alex).items() if at != (alex.device.log, seq)}
    without = ingest(later, entries_of(alex), keys=others)  # every record but that entry's
    assert not without.refused
    # By id: the next entry may share its clock (written in the same millisecond).
    shown = [e for e in sam.events() if e.id == honest.id]
    shown_later = [e for e in later.events() if e.id == honest.id]
    assert shown == shown_later and len(shown) <= 1
    assert all(isinstance(e.body, Keyed) for e in shown)
    for journal in (sam, later):
        assert "a day that is not this one" not in texts(journal)
        assert "after it" in texts(journal)
        problems = [(p.seq, p.reason) for p in verify(journal).problems]
        assert (seq, WITHOUT_WORDS) in problems
        assert journal.store.key_at(alex.device.log, seq) is None
    again = ingest(sam, entries_of(alex), keys=keys_of(alex))  # the same batch, once more
    assert not again.refused and again.applied == 0
    assert sam.store.key_at(alex.device.log, seq) is None
    assert texts(sam) == texts(later)


def test_a_partners_copy_of_a_private_box_inside_words_is_read_alike_by_both(
    couple: tuple[Journal, Journal],
) -> None:
    """Alex copies Sam's private (Sealed) box, which Alex's devices hold but cannot open, into
    the words of a keyed entry of Alex's own. Alex's devices read it as a private entry they
    cannot open; Sam's device opens the box, finds it is not this entry's, and refuses Alex's
    log from there on, so everything Alex writes afterwards is never seen by Sam while Alex's
    devices take it: the two partners' devices no longer converge. Read alike, Sam would hold
    the entry as a sealed entry it cannot read (never showing the box) and take what follows;
    `tend verify` on Sam's device, the one that can tell, names the copy."""
    sam, alex = couple
    sam.record(CheckIn(note="only mine"), private=True)
    gossip(sam, alex)
    sealed = [
        r.event.body
        for r in (
            EntryMapper(alex.device).to_readable(s.entry, s.key)
            for s in alex.store.log_entries(sam.device.log)
        )
        if isinstance(r.event.body, Sealed)
    ]
    assert len(sealed) == 1
    copied = event_in(alex, sealed[0])
    write_keyed(alex, copied, {})
    alex.record(Gratitude(text="after the copy"))
    assert "after the copy" in texts(alex)
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert "after the copy" in texts(sam), report.refused
    assert not report.refused
    mapper = EntryMapper(alex.device)
    seq = next(
        s.seq
        for s in alex.store.log_entries(alex.device.log)
        if mapper.to_readable(s.entry, s.key).outer.id == copied.id
    )
    named = [(p.log, p.seq) for p in verify(sam).problems if p.reason == COPIED_PRIVATE]
    assert named == [(short(alex.device.log), seq)]
    assert not [p for p in verify(alex).problems if p.reason == COPIED_PRIVATE]


@pytest.mark.parametrize("kind", ["sealed", "share"])
def test_words_of_a_private_or_shared_kind_that_are_not_the_entrys_own_are_never_read(
    couple: tuple[Journal, Journal], kind: str
) -> None:
    """Words of the kind the entry says, but another author's: neither a private box nor a
    share inside them is opened or shown, and what follows is taken in."""
    sam, alex = couple
    sam.record(Gratitude(text="Sam's own words"))
    gossip(sam, alex)
    sams = next(
        e for e in alex.events() if isinstance(e.body, Gratitude) and e.author == sam.device.person
    )
    body: Sealed | Share
    if kind == "sealed":
        body = Sealed(box=bytes(64))
    else:
        body = Share(entry=encode_event(sams), seq=1, place=0)
    ev = event_in(alex, body)
    write_keyed(alex, ev, {}, words=dataclasses.replace(ev, author=sam.device.person))
    alex.record(Gratitude(text="after it"))
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert not report.refused
    assert "after it" in texts(sam)
    assert texts(sam).count("Sam's own words") == 1  # not shown again as Alex's share


def test_an_entry_whose_outer_claims_the_partner_is_refused_whatever_its_words(
    couple: tuple[Journal, Journal],
) -> None:
    """The outer event names Sam as author in Alex's log; words naming Alex (not the entry's
    own, so never read) do not make it Alex's: it is refused as before, on every device."""
    sam, alex = couple
    seq = int(alex.store.head(alex.device.log)[0]) + 1  # type: ignore[index]
    claimed = event_in(alex, Gratitude(text="Sam said this"), author=sam.device.person)
    write_keyed(alex, claimed, {}, words=dataclasses.replace(claimed, author=alex.device.person))
    with_record = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert [(r.seq, r.reason) for r in with_record.refused] == [(seq, Reason.WRONG_AUTHOR)]
    assert "Sam said this" not in texts(sam)


def test_a_correction_whose_words_supersede_another_entry_is_read_as_its_outer_chain(
    couple: tuple[Journal, Journal],
) -> None:
    """Words that would correct Sam's entry, sealed inside an entry whose outer corrects
    Alex's own: the words are not read, so Sam's entry is not taken back on any device."""
    sam, alex = couple
    sam.record(Gratitude(text="Sam's entry"))
    first = alex.record(Gratitude(text="Alex's first"))
    gossip(sam, alex)
    sams = next(
        e for e in alex.events() if e.author == sam.device.person and isinstance(e.body, Gratitude)
    )
    correction = event_in(alex, Gratitude(text="Alex's fix"), supersedes=first.id)
    write_keyed(alex, correction, {}, words=dataclasses.replace(correction, supersedes=sams.id))
    report = ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert not report.refused
    assert "Sam's entry" in texts(sam)
    assert "Alex's fix" not in texts(sam)


# --- the catch-up's collector pause -------------------------------------------------------------


async def test_a_catch_up_whose_every_frame_waits_loses_and_reorders_nothing(
    serve: Serve, couple: tuple[Journal, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no wait at all before the collector runs again, every frame is received under a
    lifted pause: every entry still arrives once and in order, and the collector is on after."""
    import gc

    sam, alex = couple
    relay = await serve()
    for n in range(120):
        alex.record(Gratitude(text=f"entry {n}"))
    await client.sync_once(alex, relay.url)
    monkeypatch.setattr(client, "COLLECTOR_WAIT", 0.0)
    assert gc.isenabled()
    await client.sync_once(sam, relay.url)
    assert gc.isenabled()
    assert [t for t in texts(sam) if t.startswith("entry ")] == [f"entry {n}" for n in range(120)]


# --- an honest device that moved ---------------------------------------------------------------


async def test_a_device_that_moved_behind_a_full_household_still_keeps_its_escrow_fresh(
    serve: Serve,
) -> None:
    """Sam's device wrote its escrow from home, then moved behind an address whose budget a
    neighbour (or anyone whose 16-bit tag collides) keeps full: a shared mobile NAT, say. Its
    rewrite every 30 days is the same size and adds nothing to what the relay holds, so it
    passes (the escrow stays counted where it was), and the escrow never expires."""
    relay = await serve(escrow_bytes_per_address=2 * ONE, escrow_days=60, **FAST)
    sam = Person.new()
    async with _client() as home, _client(OTHER) as shared:
        assert await _put_escrow(home, relay.url, sam, bytes(BODY)) == 204
        neighbours = [Person.new() for _ in range(2)]
        assert [await _put_escrow(shared, relay.url, p, bytes(BODY)) for p in neighbours] == [
            204,
            204,
        ]
        for _month in range(3):  # the device, now behind the shared address, every 30 days
            await relay.age_escrows(30)
            for p in neighbours:  # the neighbour keeps theirs fresh too
                assert await _put_escrow(shared, relay.url, p, bytes(BODY)) == 204
            assert await _put_escrow(shared, relay.url, sam, bytes(BODY)) == 204
        assert await _escrow(shared, relay.url, sam) == bytes(BODY)


# --- two instances sharing PostgreSQL: taking gives bytes back without losing a count ----------


@pytest.mark.skipif(not POSTGRES_DSN, reason="TEND_TEST_POSTGRES is not set (a PostgreSQL DSN)")
async def test_two_instances_posting_and_taking_at_once_keep_the_cap_count_exact() -> None:
    """One instance posts while the other takes: each take gives back to the cap what its
    message counted, under the same lock as the posts, so no give-back is lost to a post that
    read the count before it (the count held is the sum of the rows, to the byte)."""
    import asyncpg

    from tend.sync.relay.store_pg import PostgresRelayStore

    schema = f"tend_test_{os.urandom(6).hex()}"
    stores = await asyncio.gather(
        *(PostgresRelayStore.open(POSTGRES_DSN, schema=schema) for _ in "ab")
    )
    now = 1_750_000_000.0
    try:
        boxes = [os.urandom(16) for _ in range(40)]
        for box in boxes[:20]:
            assert await stores[0].put_invitation(box, bytes(500), now + 600, now)

        async def take(box: bytes) -> None:
            assert await stores[1].take_invitation(box, now) == bytes(500)

        async def post(box: bytes) -> None:
            assert await stores[0].put_invitation(box, bytes(300), now + 600, now)

        await asyncio.gather(*(take(b) for b in boxes[:20]), *(post(b) for b in boxes[20:]))
        db = await asyncpg.connect(POSTGRES_DSN)
        try:
            held = await db.fetchval(
                f"SELECT bytes FROM \"{schema}\".held WHERE kind = 'invitations'"
            )
            rows = await db.fetchval(f'SELECT sum(counted) FROM "{schema}".invitations')
        finally:
            await db.close()
        assert held == rows == 20 * ROW_OVERHEAD + 20 * (300 + ROW_OVERHEAD)
    finally:
        for store in stores:
            await store.close()
        db = await asyncpg.connect(POSTGRES_DSN)
        try:
            await db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await db.close()


# --- one stranger, many households --------------------------------------------------------------


async def test_one_stranger_with_an_ipv6_48_cannot_fill_the_invitation_cap(serve: Serve) -> None:
    """Through a proxy the relay trusts, each request names its client: here /64s of one /48,
    all one stranger's. Each /64 is a household with a budget of its own, but the /48 holds at
    most invitation_bytes_per_network between them (eight budgets by default; here seven), so a
    cap of eight budgets keeps room for an honest household elsewhere."""
    relay = await serve(
        invitation_bytes_per_address=ONE,
        invitation_bytes_per_network=7 * ONE,
        invitation_cap=8 * ONE,
        trusted_proxies=("127.0.0.1/32",),
        **FAST,
    )
    async with _client() as proxy:
        statuses = []
        for n in range(8):
            headers = {"X-Forwarded-For": f"2001:db8:77:{n:x}::1"}
            where = f"{relay.url}/v1/invitation/{_box()}"
            async with proxy.post(where, data=bytes(BODY), headers=headers) as answer:
                statuses.append(answer.status)
                if answer.status == 429:
                    assert "\n" not in (await answer.text()).strip()
        assert statuses == [204] * 7 + [429]
        honest = {"X-Forwarded-For": "198.51.100.7"}
        where = f"{relay.url}/v1/invitation/{_box()}"
        async with proxy.post(where, data=bytes(BODY), headers=honest) as answer:
            assert answer.status == 204


async def test_a_48_spread_over_many_64s_is_refused_at_its_network_and_another_48_gets_in(
    serve: Serve,
) -> None:
    """Escrows, as invitations: every /64 of the /48 has room of its own, the /48 has not."""
    relay = await serve(
        escrow_bytes_per_address=ONE,
        escrow_bytes_per_network=3 * ONE,
        trusted_proxies=("127.0.0.1/32",),
        **FAST,
    )
    async with _client() as proxy:
        spread = [await _escrow_from(proxy, relay.url, f"2001:db8:88:{n:x}::1") for n in range(6)]
        assert spread == [204] * 3 + [429] * 3
        assert await _escrow_from(proxy, relay.url, "2001:db8:99:1::1") == 204


async def test_ipv4_addresses_of_one_24_each_keep_their_own_budget(serve: Serve) -> None:
    """IPv4 is not widened (a /24 is often a carrier's NAT pool or a shared office): each
    address is its own network, so a /24's addresses are held back only by their own budgets."""
    relay = await serve(
        invitation_bytes_per_address=ONE,
        invitation_bytes_per_network=ONE,
        trusted_proxies=("127.0.0.1/32",),
        **FAST,
    )
    async with _client() as proxy:
        for n in range(1, 11):
            headers = {"X-Forwarded-For": f"198.51.100.{n}"}
            where = f"{relay.url}/v1/invitation/{_box()}"
            async with proxy.post(where, data=bytes(BODY), headers=headers) as answer:
                assert answer.status == 204
        async with proxy.post(
            f"{relay.url}/v1/invitation/{_box()}",
            data=bytes(BODY),
            headers={"X-Forwarded-For": "198.51.100.1"},
        ) as answer:
            assert answer.status == 429  # its own budget is full


async def _escrow_from(proxy: aiohttp.ClientSession, url: str, client: str) -> int:
    person = Person.new()
    where = f"{url}/v1/recovery/{person.locator.hex()}"
    headers = {"X-Forwarded-For": client}
    async with proxy.put(where, data=person.write(bytes(BODY)), headers=headers) as answer:
        if answer.status == 429:
            assert "\n" not in (await answer.text()).strip()
        return answer.status
