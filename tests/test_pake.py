"""The short-code exchange (core/crypto/pake.py): SPAKE2, key confirmation and an ephemeral X25519,
attacked as the relay that carries every message would attack it."""

from __future__ import annotations

import pytest
from spake2 import SPAKE2_A, SPAKE2_B

from tend.core.crypto import pake
from tend.core.trust import pairing

CODE = b"apple-river-stone"


def _exchange(inviter_code: bytes, joiner_code: bytes) -> tuple[bytes, bytes, list[bytes]]:
    """A whole exchange; (inviter's session key, joiner's, the messages the relay carried)."""
    inviter = pake.Inviter(inviter_code)
    joiner = pake.Joiner(joiner_code, inviter.first)
    prefix, inviter_key = inviter.answer(joiner.message)
    return inviter_key, joiner.finish(prefix), [inviter.first, joiner.message, prefix]


def test_the_same_code_gives_both_sides_one_session_key_and_each_run_a_new_one() -> None:
    first_inviter, first_joiner, _ = _exchange(CODE, CODE)
    second_inviter, second_joiner, _ = _exchange(CODE, CODE)
    assert first_inviter == first_joiner
    assert second_inviter == second_joiner
    assert first_inviter != second_inviter  # ephemeral: nothing to reuse across invitations
    assert len(first_inviter) == 32


def test_a_wrong_code_fails_at_the_inviter_before_anything_is_sent_back() -> None:
    inviter = pake.Inviter(CODE)
    joiner = pake.Joiner(b"apple-river-stove", inviter.first)
    with pytest.raises(pake.WrongCode, match="not the right one"):
        inviter.answer(joiner.message)


def test_an_inviter_with_another_code_is_caught_by_the_joiner() -> None:
    # The relay plays the inviter with a guessed code: the joiner refuses its confirmation.
    relay_as_inviter = pake.Inviter(b"guess-guess-guess")
    joiner = pake.Joiner(CODE, relay_as_inviter.first)
    with pytest.raises(pake.WrongCode):
        relay_as_inviter.answer(joiner.message)  # the relay cannot even confirm to itself
    real = pake.Inviter(CODE)
    real_joiner = pake.Joiner(CODE, real.first)
    prefix, _key = real.answer(real_joiner.message)
    impostor = pake.Joiner(CODE, relay_as_inviter.first)
    with pytest.raises(pake.WrongCode):
        impostor.finish(prefix)  # a confirmation from another exchange is refused


@pytest.mark.parametrize("where", ["spake", "ephemeral", "confirmation"])
def test_any_byte_the_relay_changes_in_the_joiners_message_fails_the_exchange(where: str) -> None:
    inviter = pake.Inviter(CODE)
    joiner = pake.Joiner(CODE, inviter.first)
    at = {"spake": 5, "ephemeral": pake.PAKE_MESSAGE + 3, "confirmation": -1}[where]
    changed = bytearray(joiner.message)
    changed[at] ^= 0x01
    with pytest.raises(pake.WrongCode):
        inviter.answer(bytes(changed))


@pytest.mark.parametrize("at", [0, pake.PUBLIC - 1, pake.PUBLIC, pake.INVITER_PREFIX - 1])
def test_any_byte_the_relay_changes_in_the_inviters_answer_fails_the_exchange(at: int) -> None:
    inviter = pake.Inviter(CODE)
    joiner = pake.Joiner(CODE, inviter.first)
    prefix, _key = inviter.answer(joiner.message)
    changed = bytearray(prefix)
    changed[at] ^= 0x01
    with pytest.raises(pake.WrongCode):
        joiner.finish(bytes(changed))


def test_a_recorded_exchange_gives_no_test_of_a_guess_even_of_the_right_code() -> None:
    # Everything the relay saw, and the right code, replayed into a fresh SPAKE2: it cannot
    # reproduce the key confirmation (that needs the inviter's secret scalar), so a recorded
    # exchange tells a guesser nothing, right or wrong.
    inviter_key, _joiner_key, (first, message, _prefix) = _exchange(CODE, CODE)
    b = message[: pake.PAKE_MESSAGE]
    for guess in (CODE, b"wrong-wrong-wrong"):
        replay = SPAKE2_A(guess, idA=pake.ID_INVITER, idB=pake.ID_JOINER)
        replay.start()
        key = replay.finish(b)
        xb = message[pake.PAKE_MESSAGE : -pake.MAC]
        expected = pake._mac(key, b"tend/pake/joiner", first, b, xb)
        assert expected != message[-pake.MAC :]
        other = SPAKE2_B(guess, idA=pake.ID_INVITER, idB=pake.ID_JOINER)
        other.start()
        assert other.finish(first) != inviter_key


def test_messages_of_the_wrong_size_are_a_wrong_code_not_a_crash() -> None:
    inviter = pake.Inviter(CODE)
    for junk in (b"", b"\x00" * pake.PAKE_MESSAGE, b"\xff" * pake.JOINER_MESSAGE):
        with pytest.raises(pake.WrongCode):
            inviter.answer(junk)
    for first in (b"", b"\x00" * 32, b"\x00" * pake.PAKE_MESSAGE):
        with pytest.raises(pake.WrongCode):
            pake.Joiner(CODE, first)


def test_the_mailboxes_depend_on_the_number_alone_so_they_confirm_no_guess_of_the_words() -> None:
    # The relay knows which mailboxes a code uses; they must say nothing about its words.
    one = pairing.ShortCode(17, ("apple", "river", "stone"), "http://127.0.0.1:1")
    two = pairing.ShortCode(17, ("zoo", "zoo", "zoo"), "http://127.0.0.1:1")
    other = pairing.ShortCode(18, ("apple", "river", "stone"), "http://127.0.0.1:1")
    for step in ("A1", "B1", "A2", "B2"):
        assert one.box(step) == two.box(step)
        assert one.box(step) != other.box(step)
    assert len({one.box(s) for s in ("A1", "B1", "A2", "B2")}) == 4


def test_a_code_and_a_link_carry_their_relay_and_parse_back() -> None:
    code = pairing.ShortCode.new("http://127.0.0.1:8765")
    assert code.text.endswith("@127.0.0.1:8765")
    assert pairing.parse_code(code.text) == code
    remote = pairing.ShortCode.new("https://relay.example.org")
    assert remote.text.endswith("@relay.example.org")
    assert pairing.parse_code(remote.text).relay == "https://relay.example.org"
    link = pairing.Link.new("https://relay.example.org")
    assert pairing.parse_code(link.text) == link
    assert len(link.secret) == 16  # 128 bits: nothing to guess
    for bad in ("7-apple-river", "7-apple-river-stone", "tend:abc@relay.example.org", "x@y"):
        with pytest.raises(pairing.InvalidInvite):
            pairing.parse_code(bad)
