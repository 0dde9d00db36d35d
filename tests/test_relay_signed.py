"""Each entry's signature checked once by the relay: early on the event loop, and not again as
it commits (sync/relay/signed.py), without letting a forged entry through on the strength of
a check that passed for another."""

from __future__ import annotations

import pytest

from tend.core.ids import SpaceId
from tend.core.log import authorship
from tend.core.log.header import entry_hash
from tend.sync.relay.signed import CheckedSignatures
from tend.sync.relay.store import BadSignature, parse_batch, plan_extension
from tests.relay_fixtures import Log

SPACE = SpaceId(bytes(range(16)))


def _counting_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every entry whose signature the store checks from now on, in order."""
    checked: list[bytes] = []
    real = authorship.written_by

    def written_by(key: bytes, entry: bytes) -> bool:
        checked.append(entry)
        return real(key, entry)

    monkeypatch.setattr(authorship, "written_by", written_by)  # as the store calls it
    return checked


def test_an_entry_checked_before_its_commit_is_not_checked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = Log(SPACE)
    parsed = parse_batch(SPACE, log.extend(3))
    checked = _counting_checks(monkeypatch)
    early = plan_extension(parsed, {}, {})  # as early.py plans it, on the event loop
    commit = plan_extension(parsed, {}, {})  # and the store's thread, as it commits
    assert checked == [log.entries[-1]]  # the run's last entry, once
    assert [raw for _h, raw, _d in commit.new] == [raw for _h, raw, _d in early.new]


def test_a_forged_entry_is_refused_though_the_logs_true_one_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The owner's seq 3 passed its check (and is remembered); the attacker's seq 3, same seq
    and link but its own signature, is other bytes with another hash: checked, and refused."""
    owner, attacker = Log(SPACE), Log(SPACE)
    first = owner.extend(2)
    honest = owner.entry(3, owner.next_prev())
    forged = owner.forged(attacker.seed)
    plan_extension(parse_batch(SPACE, [*first, honest]), {}, {})
    checked = _counting_checks(monkeypatch)
    with pytest.raises(BadSignature):
        plan_extension(parse_batch(SPACE, [*first, forged]), {}, {})
    assert checked == [forged]


def test_a_check_is_found_again_only_under_the_same_key_for_the_same_bytes() -> None:
    checked = CheckedSignatures()
    key, other_key = b"k" * 32, b"o" * 32
    entry = b"an entry"
    checked.remember(key, entry_hash(entry))
    assert checked.passed(key, entry_hash(entry))
    assert not checked.passed(other_key, entry_hash(entry))
    assert not checked.passed(key, entry_hash(entry + b"!"))


def test_only_the_latest_checks_are_remembered() -> None:
    checked = CheckedSignatures(capacity=3)
    digests = [entry_hash(bytes([n])) for n in range(5)]
    for digest in digests:
        checked.remember(b"k" * 32, digest)
    assert [checked.passed(b"k" * 32, d) for d in digests] == [False, False, True, True, True]
