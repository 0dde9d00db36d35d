"""Every byte from a relay, a partner, an invitation or the local database is checked first.

Each case once gave a traceback, a huge allocation or a permanent fault; each must now give one
clear error (or a repair) and leave nothing half-done.
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tend.core.crypto import envelope
from tend.core.domain.events import CheckIn
from tend.core.errors import MalformedRecord
from tend.core.journal import Journal
from tend.core.log import rotation_record
from tend.core.trust import pairing
from tests.conftest import TendCLI

GOOD_RECORD: dict[str, Any] = {
    "s": bytes(16),
    "e": 2,
    "p": bytes(32),
    "c": bytes(32),
    "k": [[bytes(16), b"sealed"]],
    "x": [],
    "w": bytes(16),
    "h": [],
}


def record_with(**changes: Any) -> bytes:
    body = {**GOOD_RECORD, **changes}
    return msgpack.packb(body, use_bin_type=True)


def test_a_well_formed_rotation_record_parses() -> None:
    assert rotation_record.parse(record_with()).epoch == 2


@pytest.mark.parametrize(
    "raw",
    [
        record_with(k=[[2**40, b"x"]]),  # once: MemoryError from bytes(2**40)
        record_with(k=[[2**64 - 1, b"x"]]),  # once: OverflowError
        record_with(e=True),  # once: accepted as epoch 1
        record_with(e=2**64 - 1),
        record_with(e=1),
        record_with(k=[[bytes(16), b"x"]] * 65),
        record_with(k=[]),
        record_with(k=[[bytes(15), b"x"]]),
        record_with(k=[[bytes(16), b""]]),
        record_with(x=[[bytes(16), -1, bytes(32), bytes(64)]]),
        record_with(x=[[bytes(16), 1, bytes(31), bytes(64)]]),
        record_with(w="a log id"),
        record_with(extra=1),
        msgpack.packb([GOOD_RECORD]),
        msgpack.packb({**GOOD_RECORD, "k": msgpack.ExtType(1, b"x")}),
        b"\xc1",
        b"",
        b"\x91" * 100_000,  # a tower of nested arrays
    ],
)
def test_a_hostile_rotation_record_is_one_clear_refusal(raw: bytes) -> None:
    with pytest.raises(MalformedRecord):
        rotation_record.parse(raw)


def bundle_sealed_with(invite: bytes, record: object) -> bytes:
    return envelope.seal(invite, msgpack.packb(record, use_bin_type=True), pairing._BUNDLE)


@pytest.fixture
def real_bundle(tmp_path: Path) -> tuple[bytes, dict[str, Any]]:
    sam = Journal.create(tmp_path / "sam", "Sam")
    invite = secrets.token_bytes(32)  # a session key, as the PAKE leaves
    sealed = pairing.make_bundle(sam, invite, own_device=False, relay="http://127.0.0.1:1")
    return invite, pairing._open(invite, sealed, pairing._BUNDLE)


@pytest.mark.parametrize(
    "change",
    [
        {"space": "not bytes"},
        {"inviter": None},
        {"inviter": [bytes(16), bytes(32)]},
        {"inviter": [bytes(16), bytes(32), bytes(96)]},  # the id is not derived from the key
        {"trusted": [[1, 2, 3]] * 3},
        {"trusted": "everyone"},
        {"relay": 5},
        {"expires": "never"},
        {"name": 5},
    ],
)
def test_a_hostile_invitation_is_one_clear_refusal(
    tmp_path: Path, real_bundle: tuple[bytes, dict[str, Any]], change: dict[str, Any]
) -> None:
    invite, record = real_bundle
    hostile = bundle_sealed_with(invite, {**record, **change})
    with pytest.raises(pairing.InvalidInvite):
        pairing.join(tmp_path / "joiner", invite, hostile, name="Alex", label="")
    assert not (tmp_path / "joiner").exists()


@pytest.mark.parametrize("missing", ["space", "own", "inviter", "relay", "expires"])
def test_an_invitation_missing_a_field_is_refused(
    tmp_path: Path, real_bundle: tuple[bytes, dict[str, Any]], missing: str
) -> None:
    invite, record = real_bundle
    del record[missing]
    with pytest.raises(pairing.InvalidInvite):
        pairing.join(tmp_path / "j", invite, bundle_sealed_with(invite, record), name="A", label="")


@pytest.mark.parametrize(
    "reply",
    [
        {},
        {"sign_pub": "x", "dh_pub": bytes(32), "identity": bytes(96), "cert": bytes(64)},
        {"sign_pub": bytes(32), "dh_pub": bytes(32), "identity": bytes(96), "cert": bytes(64)},
        ["not", "a", "map"],
    ],
)
def test_a_hostile_reply_to_an_invitation_is_refused_and_records_nothing(
    tmp_path: Path, reply: object
) -> None:
    sam = Journal.create(tmp_path / "sam", "Sam")
    invite = secrets.token_bytes(32)  # a session key, as the PAKE leaves
    before = sam.store.count()
    sealed = envelope.seal(invite, msgpack.packb(reply, use_bin_type=True), pairing._REPLY)
    with pytest.raises(pairing.InvalidInvite):
        pairing.accept(sam, invite, sealed)
    assert sam.store.count() == before


def test_a_clock_value_that_only_grows_is_repaired_and_recording_goes_on(tmp_path: Path) -> None:
    sam = Journal.create(tmp_path / "sam", "Sam")
    sam.record(CheckIn(day="rest"))
    sam.close()
    db = sqlite3.connect(tmp_path / "sam" / "journal.db")
    db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", (b"\xff" * 100,))
    db.commit()
    db.close()

    reopened = Journal.open(tmp_path / "sam")
    recorded = reopened.record(CheckIn(day="gentle"))
    assert recorded.hlc < 1 << 62  # a sane clock, not one grown out of a damaged value
    assert reopened.store.meta("hlc") == recorded.hlc.to_bytes(8, "big")
    assert [i.type for i in reopened.items()][-2:] == ["checkin", "checkin"]


def test_a_stored_entry_of_the_wrong_type_gives_verify_exit_3_in_one_line(tend: TendCLI) -> None:
    tend.ok("init", "--name", "Sam")
    tend.ok("checkin", "--day", "rest")
    db = sqlite3.connect(tend.home / "journal.db")
    db.execute("DROP TRIGGER entries_are_append_only_update")
    db.execute("UPDATE entries SET entry = 'text where bytes belong' WHERE seq = 3")
    db.commit()
    db.close()
    for command in (("verify",), ("today",)):
        result = tend(*command)
        assert result.returncode == 3, (command, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("tend: ") and "damaged" in line


SMALL_ORDER_KEYS = [
    "00" * 32,
    "00" * 31 + "80",
    "01" + "00" * 31,
    "01" + "00" * 30 + "80",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ec" + "ff" * 30 + "7f",
    "ed" + "ff" * 30 + "7f",
    "ee" + "ff" * 30 + "7f",
]


@pytest.mark.parametrize("key", SMALL_ORDER_KEYS)
def test_no_signature_by_a_small_order_key_is_ever_accepted(key: str) -> None:
    from tend.core.log import authorship

    public = bytes.fromhex(key)
    # Without the check, some of these "verify" an all-zero or identity-point signature for
    # any message in four: a forgery with no secret at all.
    forged = [bytes(64), public + bytes(32), bytes.fromhex("01" + "00" * 31) + bytes(32)]
    messages = [bytes([n]) * 8 for n in range(16)]
    assert not any(authorship.verify(public, m, sig) for m in messages for sig in forged)


def test_the_small_order_check_lets_real_keys_through() -> None:
    from tend.core.crypto import keys
    from tend.core.log import authorship

    seed = keys.new_signing_seed()
    assert authorship.verify(keys.signing_public(seed), b"m", keys.sign(seed, b"m"))
