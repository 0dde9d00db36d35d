"""Red team: pairing, links, recovery escrow, the lost-person rule and the passphrase lock.

Each test plays one attacker with the library directly (a modified client, a malicious
partner, or a malicious relay operator who can read and write its own store and answer any
request however it likes). Each began as a break a review found; each now passes, and stays as
the regression test of the claim in docs/security.md it breaks if it ever fails again.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

import msgpack
import pytest

from tend.core.crypto import keys, keystore, pake, passphrase
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import decode_event
from tend.core.domain.events import CheckIn
from tend.core.errors import CorruptStore, UserError, WrongPassphrase
from tend.core.journal import Journal
from tend.core.log import escrow
from tend.core.log.identity import Identity
from tend.core.trust import pairing, recovery, rotation
from tend.core.trust.ingest import ingest
from tests.conftest import (
    Relay,
    TendCLI,
    another_device_of,
    entries_of,
    gossip,
    invite,
    keys_of,
    pair,
    restored_from,
)

LINK = re.compile(r"(tend:[a-z2-7]+@\S+)")


def _couple(tmp_path: Path) -> tuple[Journal, Journal]:
    sam = Journal.create(tmp_path / "sam", "Sam", label="laptop")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex", label="phone")
    gossip(sam, alex)
    return sam, alex


def _notes(journal: Journal) -> list[str]:
    from tend.core.domain.codec import decode_event

    out = []
    for item in journal.items():
        if item.type == "checkin":
            body = decode_event(item.raw).body
            out.append(str(getattr(body, "note", "")))
    return out


# --- claim 1: short codes -------------------------------------------------------------------------


# A relay playing the inviter to the joiner gets one guess there, as it gets one at the inviter:
# two per code, never one per re-run (tests/test_pairing_two_phase.py::
# test_a_relay_playing_the_inviter_gets_one_guess_at_the_joiner_not_one_per_rerun).


def test_pake_transcript_parts_cannot_be_swapped_replayed_or_reflected() -> None:
    password = b"ocean-maple-violet"
    # Reflection: the inviter's own first message as the joiner's answer.
    inviter = pake.Inviter(password)
    with pytest.raises(pake.WrongCode):
        inviter.answer(inviter.first + bytes(pake.PUBLIC + pake.MAC))
    # Replay: a joiner's answer to another invitation with the same code.
    other = pake.Inviter(password)
    joiner = pake.Joiner(password, other.first)
    with pytest.raises(pake.WrongCode):
        pake.Inviter(password).answer(joiner.message)
    # Swapping the joiner's ephemeral key under its confirmation.
    inviter = pake.Inviter(password)
    joiner = pake.Joiner(password, inviter.first)
    swapped = joiner.message[: pake.PAKE_MESSAGE] + keys.dh_public(keys.new_dh_secret())
    with pytest.raises(pake.WrongCode):
        inviter.answer(swapped + joiner.message[-pake.MAC :])
    # A2 from another exchange, and the inviter's reply to itself.
    inviter = pake.Inviter(password)
    joiner = pake.Joiner(password, inviter.first)
    prefix, session = inviter.answer(joiner.message)
    assert joiner.finish(prefix) == session
    inviter2 = pake.Inviter(password)
    joiner2 = pake.Joiner(password, inviter2.first)
    with pytest.raises(pake.WrongCode):
        joiner2.finish(prefix)


def test_bundle_and_reply_are_bound_to_their_session_and_direction(tmp_path: Path) -> None:
    sam = Journal.create(tmp_path / "sam", "Sam")
    one, two = secrets.token_bytes(32), secrets.token_bytes(32)
    bundle = pairing.make_bundle(sam, one, own_device=False, relay="http://127.0.0.1:1")
    # A bundle from one pairing does not open in another, and is no reply (reflection).
    with pytest.raises(pairing.InvalidInvite):
        pairing.join(tmp_path / "x", two, bundle, name="X", label="")
    with pytest.raises(pairing.InvalidInvite):
        pairing.accept(sam, one, bundle, own_device=False)
    _joined, reply = pairing.join(tmp_path / "alex", one, bundle, name="Alex", label="")
    with pytest.raises(pairing.InvalidInvite):
        pairing.accept(sam, two, reply, own_device=False)  # replayed into another pairing
    with pytest.raises(pairing.InvalidInvite):
        pairing.accept(sam, one, reply, own_device=True)  # into an own-device invitation
    before = len(sam.roster().members)
    pairing.accept(sam, one, reply, own_device=False)
    assert len(sam.roster().members) == before + 1


# --- claim 3: links ------------------------------------------------------------------------------


def test_a_link_holder_who_never_answers_gets_no_key_of_the_journal(
    tmp_path: Path, relay: Relay
) -> None:
    """Whoever fetches a link's bundle first (a shared screen, a forwarded message) and never
    answers used to hold every space key while the inviter saw nobody. The bundle now holds
    nothing secret: the keys go only to a device the inviter has let in."""
    from tend.sync import mailbox, pairing_flow

    sam = Journal.create(tmp_path / "sam", "Sam")
    sam.record(CheckIn(day="gentle", note="only for Alex"))
    link = asyncio.run(pairing_flow.open_link(sam, relay.url, own_device=False))
    # Mallory saw the link (a shared screen, a forwarded message) and fetches it first.
    sealed = asyncio.run(mailbox.take_invitation(link.relay, link.box("bundle")))
    assert sealed is not None
    opened = msgpack.packb(pairing._open(link.key, sealed, pairing._BUNDLE), use_bin_type=True)
    held = sam.device
    for secret in (*held.space_keys.values(), held.identity_seed, held.private_key):
        assert secret not in opened, "the link's bundle carries a secret of the journal"
    # She never answers. Sam syncs as usual: nobody is let in, nothing more is sent.
    added = asyncio.run(pairing_flow.complete_links(sam))
    assert added == []


# Someone who reads a short code over a shoulder and answers first gets no key, and the inviter
# says so (tests/test_pairing_two_phase.py::
# test_a_short_code_holder_who_never_answers_gets_no_key_and_the_inviter_says_so).


def test_a_relay_cannot_make_the_inviter_accept_a_reply_without_the_link(tmp_path: Path) -> None:
    sam = Journal.create(tmp_path / "sam", "Sam")
    link = pairing.Link.new("http://127.0.0.1:1")
    bundle = pairing.make_bundle(sam, link.key, own_device=False, relay=link.relay)
    # The relay's own device, its reply sealed under a key it has (not the link's) ...
    stranger = Journal.create(tmp_path / "stranger", "Mallory")
    forged = pairing._seal(
        keys.new_key(),
        {
            "sign_pub": stranger.device.sign_public,
            "dh_pub": stranger.device.dh_public,
            "identity": stranger.device.identity,
            "cert": stranger.device.cert(),
            "label": "",
        },
        pairing._REPLY,
    )
    before = set(sam.roster().members)
    for reply in (forged, bundle, bundle[:-1] + bytes([bundle[-1] ^ 1])):
        with pytest.raises(pairing.InvalidInvite):
            pairing.accept(sam, link.key, reply, own_device=False)
    assert set(sam.roster().members) == before


# --- claim 4: two by design ----------------------------------------------------------------------


def _link(out: str) -> str:
    found = LINK.search(out)
    assert found, out
    return found.group(1)


def _people(home: Path) -> int:
    journal = Journal.open(home)
    try:
        roster = journal.roster()
        return len({m.person for d, m in roster.members.items() if not roster.removed(d)})
    finally:
        journal.close()


@pytest.mark.slow
def test_two_links_made_while_alone_bring_in_no_third_person_without_the_flag(
    tmp_path: Path, relay: Relay
) -> None:
    """The two-people check ran only when a link was made: two links made while Sam was alone
    let a third person in. It runs again when an answer is accepted."""
    sam = TendCLI(tmp_path / "sam")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    first = _link(sam.ok("invite", "--link", "--relay", relay.url))
    second = _link(sam.ok("invite", "--link", "--relay", relay.url))  # "in case the first got lost"
    TendCLI(tmp_path / "alex").ok("join", first, "--name", "Alex")
    TendCLI(tmp_path / "robin").ok("join", second, "--name", "Robin")
    sam.ok("sync")
    assert _people(sam.home) <= 2, "a third person joined without --another-person"


@pytest.mark.slow
def test_replacing_a_partner_who_is_not_lost_brings_in_no_third_person(
    tmp_path: Path, relay: Relay
) -> None:
    """--replacing marks the partner lost on Sam's word alone; a newcomer used to come in at
    once, and stay after the partner answered 'here'. Now the newcomer comes in only once the
    old devices are removed, and is refused if the partner answers first."""
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam")
    pair(sam, alex, relay)
    journal = Journal.open(alex.home)
    alex_id = journal.device.log.hex()
    journal.close()
    refused = sam("invite", "--link", "--relay", relay.url)
    assert refused.returncode == 1  # the rule, as documented
    out = sam("invite", "--link", "--replacing", alex_id, "--relay", relay.url)
    if out.returncode == 0:
        TendCLI(tmp_path / "robin").ok("join", _link(out.stdout), "--name", "Robin")
        sam.ok("sync")
        alex.ok("sync")  # "If they were not lost, their device says so ... and stays theirs"
        sam.ok("sync")
    assert _people(sam.home) <= 2, "a third person joined without --another-person"


# --- claim 5: recovery ---------------------------------------------------------------------------


def _sealed_escrow(identity: bytes, record: dict[str, object], signer_seed: bytes) -> bytes:
    """What anyone can write under anyone's locator: the recovery key is public (it is in the
    identity record every escrow PUT carries) and the seal is anonymous; only the signature
    inside tells who wrote the record."""
    locator = escrow.locator_of(identity)
    packed = msgpack.packb(record, use_bin_type=True)
    signed = keys.sign(signer_seed, b"tend/escrow-record/v1" + locator + packed)
    plain = msgpack.packb([packed, signed], use_bin_type=True)
    return keys.seal_to(
        Identity.decode(identity).recovery_dh_pub, plain, b"tend/escrow-sealed/v1" + locator
    )


def test_a_relay_cannot_forge_the_escrow_a_restore_trusts(tmp_path: Path) -> None:
    sam, alex = _couple(tmp_path)
    phrase = recovery.show_once(alex)
    person = keys.PersonSecrets.from_root(recovery.root_of(phrase))
    # The relay operator: a device of its own, pinned as Sam's, and a space key it chose,
    # signed with a key of its own (it has no way to get Alex's identity key).
    fake = another_device_of(sam.device)
    record = {
        "space": sam.device.space,
        "keys": {1: keys.new_key()},
        "epoch": 1,
        "relay_epoch": 1,
        "trusted": [[fake.log, fake.sign_public, sam.device.identity]],
        "relay": "http://127.0.0.1:1",
    }
    forged = _sealed_escrow(alex.device.identity, record, keys.new_signing_seed())
    with pytest.raises(UserError, match="not signed by you"):
        recovery.open_escrow(person, forged)
    # The same record, signed by Alex's identity key, opens: the check is the signature.
    genuine = _sealed_escrow(alex.device.identity, record, alex.device.identity_seed)
    assert fake.log in recovery.open_escrow(person, genuine).trusted
    # And the older, unsigned form opens no more than a record signed by someone else.
    plain = keys.seal_to(
        Identity.decode(alex.device.identity).recovery_dh_pub,
        msgpack.packb(record, use_bin_type=True),
        b"tend/escrow-sealed/v1" + escrow.locator_of(alex.device.identity),
    )
    with pytest.raises(UserError):
        recovery.open_escrow(person, plain)


def test_a_stolen_device_that_rewrites_the_escrow_is_shut_out_by_the_restore(
    tmp_path: Path,
) -> None:
    """Every device of a person holds the identity key, so a stolen one can write the escrow,
    and pin a device of the thief's own in it. A restore is what a person does when their
    devices are gone: it retires every other device of theirs in one rotation, the pinned one
    too, and seals the new key to none of them."""
    from tend.core.log import rotation_record

    sam, phone = _couple(tmp_path)
    phrase = recovery.show_once(phone)
    # The thief, holding the phone's files: a new device key of their own, as Alex ...
    spare = another_device_of(phone.device)
    spare_journal = Journal.begin(tmp_path / "thief", spare, None, label="phone", name=None)
    # ... and an escrow that pins it, signed with the identity key the phone holds.
    real = recovery._record(phone)
    real["trusted"].append([spare.log, spare.sign_public, spare.identity])
    blob = _sealed_escrow(phone.device.identity, real, phone.device.identity_seed)
    locator = escrow.locator_of(phone.device.identity)
    signature = keys.sign(phone.device.identity_seed, escrow.signing_input(locator, blob))
    assert escrow.write_allowed(locator, phone.device.identity, blob, signature)  # relay says yes
    # Alex restores from her phrase and syncs (what `tend recovery restore` does).
    restored = restored_from(tmp_path / "alex-new", phrase, blob)
    for _round in range(2):
        ingest(restored, entries_of(sam) + entries_of(phone) + entries_of(spare_journal))
    restored.restoring = None
    assert set(recovery.retire_other_devices(restored)) == {phone.device.log, spare.log}
    [rotated] = [i for i in restored.items() if i.type == "key.rotated"]
    record = rotation_record.parse(decode_event(rotated.raw).body.record)  # type: ignore[attr-defined]
    assert record.sealed_to(spare.log) is None and record.sealed_to(phone.device.log) is None
    gossip(sam, restored)
    for journal in (sam, restored):
        roster = journal.roster()
        assert roster.removed(phone.device.log)
        assert spare.log not in roster.active()
    # The thief's next entry, from either device, counts nowhere.
    spare_journal.record(CheckIn(day="flare", note="Alex: I want to stop"))
    phone.record(CheckIn(day="flare", note="Alex: I want to stop, really"))
    ingest(sam, entries_of(spare_journal) + entries_of(phone))
    assert not any("I want to stop" in n for n in _notes(sam))


def test_a_partner_cannot_bring_in_a_device_as_the_other_person_by_the_recovery_path(
    tmp_path: Path,
) -> None:
    sam, alex = _couple(tmp_path)
    # Sam's modified client: a device claiming Alex's identity, with Sam's own signatures.
    posing = DeviceKeys(
        space=sam.device.space,
        sign_seed=keys.new_signing_seed(),
        dh_secret=keys.new_dh_secret(),
        identity_seed=sam.device.identity_seed,
        identity=alex.device.identity,
        epoch=sam.device.epoch,
        space_keys=dict(sam.device.space_keys),
        private_key=keys.new_key(),
        local_key=keys.new_key(),
    )
    proof = keys.sign(sam.device.identity_seed, b"anything")
    journal = Journal.begin(tmp_path / "posing", posing, None, label="", name=None, recovery=proof)
    journal.record(CheckIn(day="flare", note="as Alex"))
    ingest(alex, entries_of(journal))
    ingest(sam, entries_of(journal))
    for j in (sam, alex):
        assert posing.log not in j.roster().members
        assert "as Alex" not in _notes(j)


def test_a_rolled_back_escrow_still_ends_in_the_removal_and_the_new_key(tmp_path: Path) -> None:
    sam, phone = _couple(tmp_path)
    phrase = recovery.show_once(phone)
    laptop = invite(phone, tmp_path / "alex-laptop", own=True, name=None)
    gossip(sam, phone, laptop)
    old = recovery.escrow_write(laptop)  # what the relay keeps, and later hands back
    rotation.remove_device(laptop, phone.device.log)
    gossip(sam, laptop)
    laptop.record(CheckIn(day="good", note="after the phone was removed"))
    gossip(sam, laptop)
    person = keys.PersonSecrets.from_root(recovery.root_of(phrase))
    found = recovery.open_escrow(person, old[2])
    assert phone.device.log in found.trusted and 2 not in found.space_keys
    restored = recovery.restore(
        tmp_path / "alex-new", person, found, relay="http://127.0.0.1:1", label="new", lock=None
    )
    everything = entries_of(sam) + entries_of(laptop) + entries_of(phone)
    held = keys_of(sam) | keys_of(laptop) | keys_of(phone)
    for _round in range(3):
        ingest(restored, everything, keys=held)
    assert restored.roster().removed(phone.device.log)
    assert restored.device.space_keys.get(2) == laptop.device.space_keys[2]
    assert restored.device.epoch == 2
    assert "after the phone was removed" in _notes(restored)


# --- claim 6: lost persons: the regression tests live in tests/test_lost.py -----------------------


# --- claim 7: passphrase and the unlock agent -----------------------------------------------------

STRONG = "maple river lantern cobalt"
FAST = passphrase.Cost(time=1, memory_kib=64, lanes=1)


@pytest.fixture
def runtime(agent_runtime: Path, tmp_path: Path) -> object:
    yield agent_runtime
    from tend.cli import unlock_agent

    unlock_agent.forget(tmp_path / "home")


def _agent_holds(home: Path, lock: passphrase.Lock) -> None:
    import time

    from tend.cli import unlock_agent

    unlock_agent.start(home, lock)
    deadline = time.monotonic() + 10
    while unlock_agent.held_lock(home) != lock:
        assert time.monotonic() < deadline, "the agent did not start"
        time.sleep(0.05)


def test_an_agent_lock_with_another_cost_leaves_the_passphrase_opening_the_file(
    runtime: object, tmp_path: Path
) -> None:
    """open_lock compares only the salt, and load only the key: the cost an agent hands over is
    never compared with the file's, nor checked against the bounds, and the next save writes it
    into the device file. After that the passphrase no longer opens it."""
    from tend.cli.unlock import open_lock

    home = tmp_path / "home"
    lock = passphrase.new_lock(STRONG, FAST)
    Journal.create(home, "Sam", lock=lock).close()
    path = home / keystore.FILE_NAME
    skewed = passphrase.Lock(lock.salt, passphrase.Cost(64, 64 << 20, 64), lock.key)
    _agent_holds(home, skewed)
    journal = Journal.open(home, lock=open_lock(home))
    journal.record(CheckIn(day="good", note="a normal day"))
    journal.save_device()
    journal.close()
    try:
        keystore.load(path, keystore.unlock(path, STRONG))
    except (CorruptStore, WrongPassphrase) as e:
        pytest.fail(f"the passphrase no longer opens the device file after an agent unlock: {e}")


def test_a_planted_device_file_and_a_fake_agent_are_refused(
    runtime: object, tmp_path: Path
) -> None:
    """The salt check binds an agent's lock to the device file, but nothing binds the device
    file to the journal: someone who can write the home (a synced folder) swaps in a file of
    their own, sealed under their key, and an agent (or no wrapping at all) that opens it. tend
    then writes the person's new entries under space keys the attacker chose."""
    from tend.cli.unlock import open_lock

    home = tmp_path / "home"
    real = Journal.create(home, "Sam", lock=passphrase.new_lock(STRONG, FAST))
    real.record(CheckIn(day="good", note="before"))
    real_log = real.device.log
    real.close()
    theirs = keys.new_key()
    planted = DeviceKeys.generate(
        real.device.space,  # the space id is in every header
        keys.PersonSecrets.from_root(keys.new_root()),
        None,
    )
    planted.space_keys, planted.epoch = {1: theirs}, 1
    their_lock = passphrase.new_lock("a passphrase of their own choosing", FAST)
    keystore.save(home / keystore.FILE_NAME, planted, their_lock)
    _agent_holds(home, their_lock)
    try:
        journal = Journal.open(home, lock=open_lock(home))
    except (UserError, CorruptStore, WrongPassphrase):
        return  # refused: the device file is not this journal's
    assert journal.device.log != real_log
    journal.record(CheckIn(day="flare", note="after"))
    sealed_under_theirs = journal.device.space_key == theirs
    journal.close()
    assert not sealed_under_theirs, "tend used a swapped device file and a key the attacker chose"


def test_weak_passphrases_and_out_of_bounds_costs_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tend.cli.unlock import new_lock

    for weak in ("password1234", "tendtendtend1", "samsamsam12345"):
        monkeypatch.setenv("TEND_PASSPHRASE", weak)
        with pytest.raises(UserError):
            new_lock(tmp_path / "h", context=("sam",))
    assert passphrase.DEFAULT_COST.memory_kib == 256 * 1024
    home = tmp_path / "home"
    lock = passphrase.new_lock(STRONG, FAST)
    Journal.create(home, "Sam", lock=lock).close()
    path = home / keystore.FILE_NAME
    outer = msgpack.unpackb(path.read_bytes(), raw=False)
    for cost in ([99, 64, 1], [1, 64 << 30, 1], [1, 64, 99]):
        outer["cost"] = cost
        path.write_bytes(msgpack.packb(outer, use_bin_type=True))
        with pytest.raises(CorruptStore):
            keystore.unlock(path, STRONG)
