"""Pairing in two phases, two by design at accept time, and one guess per side per code.

Real components: a real relay on 127.0.0.1, the real `tend` as subprocesses where what a person
sees matters, the library where a test plays an attacker (someone holding a code or a link, or
the relay itself).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest

from tend.core.crypto import pake
from tend.core.domain.events import CheckIn, DeviceAdded
from tend.core.errors import UserError
from tend.core.journal import Journal
from tend.core.trust import pairing
from tend.sync import mailbox, pairing_flow
from tests.conftest import Relay, TendCLI, pair, tend_env

pytestmark = pytest.mark.slow  # a relay process, and the real command for most steps

LINK = re.compile(r"(tend:[a-z2-7]+@\S+)")
CODE = re.compile(r"^Invite code: (\S+)$", re.M)


def _people(journal: Journal) -> int:
    roster = journal.roster()
    return len({m.person for d, m in roster.members.items() if not roster.removed(d)})


# --- F5: the first message holds no secret; the keys follow the acceptance ------------------------


def test_a_link_bundle_holds_no_key_and_the_joiner_gets_them_only_once_the_inviter_accepted(
    tmp_path: Path, relay: Relay
) -> None:
    sam = Journal.create(tmp_path / "sam", "Sam")
    sam.record(CheckIn(day="gentle", note="only for Alex"))
    link = asyncio.run(pairing_flow.open_link(sam, relay.url, own_device=False))
    sealed = asyncio.run(mailbox.take_invitation(link.relay, link.box("bundle")))
    assert sealed is not None
    record = pairing._open(link.key, sealed, pairing._BUNDLE)
    secret = set(sam.device.space_keys.values()) | {
        sam.device.identity_seed,
        sam.device.private_key,
        sam.device.sign_seed,
        sam.device.dh_secret,
        sam.device.local_key,
    }
    flat = repr(record).encode()
    assert not any(s in flat or repr(s).encode() in flat for s in secret)
    assert set(record) == {"trusted", "space", "inviter", "name", "relay", "expires", "own"}
    # The joiner made its device and answered; until Sam's device accepts, no keys wait for it.
    pending, reply = pairing.join(tmp_path / "alex", link.key, sealed, name="Alex", label="")
    asyncio.run(
        mailbox.put_invitation(link.relay, link.box("reply"), reply, ttl=pairing.LINK_SECONDS)
    )
    pending.save(None, extra={"link": link.secret.hex(), "link_relay": link.relay})
    waiting = asyncio.run(pairing_flow.finish_link(tmp_path / "alex", None))
    assert waiting.journal is None and not Journal.exists(tmp_path / "alex")
    outcomes = asyncio.run(pairing_flow.complete_links(sam))
    assert [o.added.device for o in outcomes if o.added] == [pending.log]
    joined = asyncio.run(pairing_flow.finish_link(tmp_path / "alex", None))
    assert joined.journal is not None
    assert joined.journal.device.space_keys == sam.device.space_keys
    assert not (tmp_path / "alex" / pairing.PENDING_FILE).exists()


def test_keys_sealed_to_the_joiner_by_anyone_but_the_inviter_are_not_taken(
    tmp_path: Path, relay: Relay
) -> None:
    """Whoever holds the link knows the box the keys go to (and, from the reply, the joiner's
    public key): keys they seal are refused, since the inviting device signs what it sends."""
    sam = Journal.create(tmp_path / "sam", "Sam")
    mallory = Journal.create(tmp_path / "mallory", "Mallory")
    link = asyncio.run(pairing_flow.open_link(sam, relay.url, own_device=False))
    sealed = asyncio.run(mailbox.take_invitation(link.relay, link.box("bundle")))
    assert sealed is not None
    pending, reply = pairing.join(tmp_path / "alex", link.key, sealed, name="Alex", label="")
    pending.save(None, extra={"link": link.secret.hex(), "link_relay": link.relay})
    added = pairing.parse_reply(sam, link.key, reply, own_device=False)
    forged = pairing.seal_keys_to(mallory, added, pairing.keys_record(mallory, added))
    asyncio.run(mailbox.put_invitation(link.relay, link.box("keys"), forged, ttl=60))
    still = asyncio.run(pairing_flow.finish_link(tmp_path / "alex", None))
    assert still.journal is None and not Journal.exists(tmp_path / "alex")


def test_a_link_joiner_waits_in_one_line_writes_nothing_and_finishes_at_its_next_sync(
    tmp_path: Path, relay: Relay
) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    sam.ok("checkin", "--day", "gentle", "--note", "before Alex joined")
    sam.ok("sync")
    link = LINK.search(sam.ok("invite", "--link"))
    assert link
    joined = alex.ok("join", link.group(1), "--name", "Alex")
    assert "Waiting for Sam's device to let you in" in joined
    assert not (alex.home / "device.tend").exists()
    for command in (("checkin", "--day", "good"), ("today",)):
        refused = alex(*command)
        assert refused.returncode == 1
        lines = [x for x in refused.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "run tend sync later" in lines[0], refused.stderr
    early = alex("sync")
    assert early.returncode == 0, early.stderr
    assert "Waiting for Sam's device to let you in: run tend sync later" in early.stdout
    assert not (alex.home / "device.tend").exists()
    assert "A device joined with your link" in sam.ok("sync")
    done = alex.ok("sync")
    assert "Sam's device let you in" in done and "Safety code" in done
    notes = [p["checkin"] for p in alex.json("today")["people"] if p.get("checkin")]
    assert any(n["fields"].get("note") == "before Alex joined" for n in notes)
    assert alex.ok("verify").startswith("All ")


def test_a_short_code_holder_who_never_answers_gets_no_key_and_the_inviter_says_so(
    tmp_path: Path, relay: Relay
) -> None:
    sam = TendCLI(tmp_path / "sam")
    sam.ok("init", "--name", "Sam")
    proc = subprocess.Popen(
        sam.argv("invite", "--relay", relay.url, "--wait", "10"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=tend_env(),
    )
    assert proc.stdout is not None
    found = CODE.match(proc.stdout.readline().rstrip("\n"))
    assert found
    code = pairing.parse_code(found.group(1))
    assert isinstance(code, pairing.ShortCode)

    async def eavesdropper() -> dict[str, object]:
        first = await mailbox.take(code.relay, code.box("A1"), wait=10)
        assert first is not None
        joiner = pake.Joiner(code.password, first)
        await mailbox.put(code.relay, code.box("B1"), joiner.message, ttl=60)
        answer = None
        while answer is None:
            answer = await mailbox.take(code.relay, code.box("A2"), wait=10)
        session = joiner.finish(answer[: pake.INVITER_PREFIX])
        return pairing._open(session, answer[pake.INVITER_PREFIX :], pairing._BUNDLE)

    record = asyncio.run(eavesdropper())
    _out, err = proc.communicate(timeout=60)
    assert "keys" not in record and "identity_seed" not in record and "epoch" not in record
    assert proc.returncode == 1
    assert "someone opened the invitation but never answered; nothing was shared" in err
    assert "nobody joined" not in err


def test_an_own_device_gets_the_identity_key_only_after_the_inviter_accepted(
    tmp_path: Path, relay: Relay
) -> None:
    sam = TendCLI(tmp_path / "sam")
    sam.ok("init", "--name", "Sam")
    tablet = TendCLI(tmp_path / "tablet")
    pair(sam, tablet, relay, "--own-device", name=None)
    laptop, pad = Journal.open(sam.home), Journal.open(tablet.home)
    try:
        assert pad.device.identity_seed == laptop.device.identity_seed
        assert pad.device.person == laptop.device.person
        assert pad.device.space_keys == laptop.device.space_keys
    finally:
        laptop.close()
        pad.close()
    assert tablet.ok("verify").startswith("All ")


# --- F6: two by design, checked when the answer is accepted ---------------------------------------


def test_a_link_made_while_alone_is_refused_at_accept_once_a_code_brought_the_partner(
    tmp_path: Path, relay: Relay
) -> None:
    sam = Journal.create(tmp_path / "sam", "Sam")
    link = asyncio.run(pairing_flow.open_link(sam, relay.url, own_device=False))

    async def code_pairing() -> object:
        code, inviter = await pairing_flow.open_code(relay.url, 30)
        inviting = asyncio.create_task(
            pairing_flow.complete_code(sam, code, inviter, own_device=False, seconds=30)
        )
        joined = await pairing_flow.join(tmp_path / "alex", code, name="Alex", label="", lock=None)
        assert joined.journal is not None
        joined.journal.close()
        return await inviting

    assert isinstance(asyncio.run(code_pairing()), DeviceAdded)
    # Robin uses the old link.
    robin = TendCLI(tmp_path / "robin")
    robin.ok("join", LINK.search(link.text).group(1), "--name", "Robin")  # type: ignore[union-attr]
    outcomes = asyncio.run(pairing_flow.complete_links(sam))
    assert [o.added for o in outcomes] == [None]
    assert "two people" in outcomes[0].note
    assert _people(sam) == 2
    assert asyncio.run(pairing_flow.complete_links(sam)) == []  # said once
    told = robin("sync")
    assert told.returncode == 1
    assert "did not let this device in" in told.stderr
    assert not (robin.home / "device.tend").exists()


def test_a_code_answer_that_would_bring_a_third_person_is_refused_and_the_joiner_gets_nothing(
    tmp_path: Path, relay: Relay
) -> None:
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = pairing.pair_directly(sam, tmp_path / "alex", own=False, name="Alex")
    alex.close()

    async def third() -> tuple[BaseException | object, BaseException | None]:
        code, inviter = await pairing_flow.open_code(relay.url, 30)
        inviting = asyncio.create_task(
            pairing_flow.complete_code(sam, code, inviter, own_device=False, seconds=30)
        )
        joining: BaseException | None = None
        try:
            await pairing_flow.join(tmp_path / "robin", code, name="Robin", label="", lock=None)
        except pairing.InvalidInvite as e:
            joining = e
        try:
            return await inviting, joining
        except UserError as e:
            return e, joining

    inviter_side, joiner_side = asyncio.run(third())
    assert isinstance(inviter_side, UserError) and "two people" in str(inviter_side)
    assert joiner_side is not None and "did not let this device in" in str(joiner_side)
    assert _people(sam) == 2
    assert not Journal.exists(tmp_path / "robin")


def test_a_replacement_whose_lost_person_answers_here_is_refused_once_and_told(
    tmp_path: Path, relay: Relay
) -> None:
    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam")
    pair(sam, alex, relay)
    journal = Journal.open(alex.home)
    alex_id = journal.device.log.hex()
    journal.close()
    code_refused = sam("invite", "--replacing", alex_id, "--relay", relay.url, "--wait", "10")
    assert code_refused.returncode == 1 and "--link" in code_refused.stderr
    out = sam.ok("invite", "--link", "--replacing", alex_id, "--relay", relay.url)
    robin = TendCLI(tmp_path / "robin")
    robin.ok("join", LINK.search(out).group(1), "--name", "Robin")  # type: ignore[union-attr]
    held = sam("sync")
    assert held.returncode == 0 and "once every old device" in held.stderr
    assert "once every old device" not in sam("sync").stderr  # said once
    alex.ok("sync")  # Alex was not lost: "here"
    refused = sam("sync")
    assert refused.returncode == 0, refused.stderr
    assert "not let in" in refused.stderr and "here" in refused.stderr
    assert "not let in" not in sam("sync").stderr  # said once
    told = robin("sync")
    assert told.returncode == 1 and "did not let this device in" in told.stderr
    check = Journal.open(sam.home)
    try:
        assert _people(check) == 2
    finally:
        check.close()


# --- F7: one online guess per side per code -------------------------------------------------------


def test_an_inviter_answers_one_joiner_message_only() -> None:
    password = b"ocean-maple-violet"
    inviter = pake.Inviter(password)
    wrong = pake.Joiner(b"apple-river-stone", inviter.first)
    with pytest.raises(pake.WrongCode):
        inviter.answer(wrong.message)
    right = pake.Joiner(password, inviter.first)
    with pytest.raises(pake.WrongCode):
        inviter.answer(right.message)  # a second guess, even the right one, is refused


def test_a_relay_playing_the_inviter_gets_one_guess_at_the_joiner_not_one_per_rerun(
    tmp_path: Path, relay: Relay
) -> None:
    """The relay holds A1: it can keep the real one and hand the joiner its own, made with a
    guessed code, and test the guess against the joiner's confirmation (B1). Indistinguishable
    from a typo for the joiner; what holds is that the joiner's device answers a code once."""
    code = pairing.ShortCode.new(relay.url)
    alex = TendCLI(tmp_path / "alex")

    def relays_guess(guess: bytes) -> subprocess.CompletedProcess[str] | None:
        fake = pake.Inviter(guess)

        async def play() -> bytes | None:
            await mailbox.put(code.relay, code.box("A1"), fake.first, ttl=60)
            proc = await asyncio.create_subprocess_exec(
                *alex.argv("join", code.text, "--name", "Alex"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=tend_env(),
            )
            answered = await mailbox.take(code.relay, code.box("B1"), wait=8)
            if answered is not None:
                with pytest.raises(pake.WrongCode):
                    fake.answer(answered)  # the relay learns this guess was wrong
                await mailbox.put(code.relay, code.box("A2"), bytes(96), ttl=60)
            _out, err = await proc.communicate()
            results.append(subprocess.CompletedProcess([], proc.returncode or 0, "", err.decode()))
            return answered

        return asyncio.run(play())  # type: ignore[return-value]

    results: list[subprocess.CompletedProcess[str]] = []
    first = relays_guess(b"apple-river-stone")
    assert first is not None  # guess one: the joiner answered
    assert results[0].returncode == 1 and "not the right one" in results[0].stderr
    second = relays_guess(b"stone-apple-river")
    assert second is None, "the joiner answered the same code a second time"
    assert results[1].returncode == 1
    assert "already tried on this device" in results[1].stderr
    assert not (alex.home / "device.tend").exists()
