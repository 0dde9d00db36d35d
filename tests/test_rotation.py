"""Removing a device rotates the space key: the removed device reads nothing written after."""

from __future__ import annotations

from pathlib import Path

import pytest

from tend.core.domain.codec import decode_event
from tend.core.domain.events import Gratitude
from tend.core.errors import UserError
from tend.core.journal import Journal
from tend.core.log import rotation_record
from tend.core.trust import rotation
from tend.core.trust.ingest import ingest
from tests.conftest import entries_of, gossip, invite, keys_of


def texts(journal: Journal) -> list[str]:
    return [e.body.text for e in journal.events() if isinstance(e.body, Gratitude)]


@pytest.fixture
def three(tmp_path: Path) -> tuple[Journal, Journal, Journal]:
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    gossip(sam, alex)
    alex_old_phone = invite(alex, tmp_path / "alex-old-phone", own=True, name=None)
    gossip(sam, alex, alex_old_phone)
    return sam, alex, alex_old_phone


def test_a_removed_device_cannot_read_what_is_written_afterwards(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, alex, old = three
    sam.record(Gratitude(text="before the phone was lost"))
    gossip(sam, alex, old)
    rotation.remove_device(alex, old.device.log)
    gossip(sam, alex)
    sam.record(Gratitude(text="after the phone was lost"))
    gossip(sam, alex)

    report = ingest(old, entries_of(sam) + entries_of(alex), keys=keys_of(sam) | keys_of(alex))
    assert report.sealed_away >= 1 and not report.refused
    assert texts(old) == ["before the phone was lost"]
    assert texts(sam) == texts(alex) == ["before the phone was lost", "after the phone was lost"]
    assert sam.device.epoch == alex.device.epoch == 2 and old.device.epoch == 1
    assert 2 not in old.device.space_keys


def test_history_stays_readable_after_rotation(three: tuple[Journal, Journal, Journal]) -> None:
    sam, alex, old = three
    alex.record(Gratitude(text="for the soup"))
    gossip(sam, alex, old)
    rotation.remove_device(alex, old.device.log)
    gossip(sam, alex)
    reopened = Journal.open(sam.home)
    assert [e.body.text for e in reopened.events() if isinstance(e.body, Gratitude)] == [
        "for the soup"
    ]
    assert set(reopened.device.space_keys) == {1, 2}


def test_entries_a_removed_device_writes_later_are_refused(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, alex, old = three
    rotation.remove_device(alex, old.device.log)
    gossip(sam, alex)
    old.record(Gratitude(text="written by a lost phone"))
    report = ingest(sam, entries_of(old), keys=keys_of(old))
    # History, not an error: refused quietly and counted, never shown.
    assert (report.refused, report.removed_history, report.applied) == ([], 1, 0)
    assert "written by a lost phone" not in texts(sam)


def test_the_rotation_is_sealed_to_every_device_that_stays(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, alex, old = three
    rotated = rotation.remove_device(alex, old.device.log)
    record = rotation_record.parse(rotated.record)
    assert {bytes(d) for d, _sealed in record.sealed} == {sam.device.log, alex.device.log}
    assert [r.device for r in record.removed] == [old.device.log]
    assert rotation_record.signed_by(rotated.record, rotated.signature, alex.device.sign_public)
    last = decode_event(alex.items()[-1].raw)
    assert last.type == "key.rotated"


def test_a_device_cannot_remove_itself_or_a_stranger(
    three: tuple[Journal, Journal, Journal], tmp_path: Path
) -> None:
    sam, _alex, _old = three
    with pytest.raises(UserError, match="cannot remove itself"):
        rotation.remove_device(sam, sam.device.log)
    stranger = Journal.create(tmp_path / "stranger", "Stranger")
    with pytest.raises(UserError, match="no device"):
        rotation.remove_device(sam, stranger.device.log)


def test_a_partner_cannot_remove_the_other_persons_device(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, _alex, old = three
    with pytest.raises(UserError, match="only one of their own devices"):
        rotation.remove_device(sam, old.device.log)
    assert sam.device.epoch == 1


# --- removal closes the window, and only a signed removal ends a device's say -------------------


def test_entries_a_removed_device_wrote_before_its_removal_reached_us_are_hidden_after(
    three: tuple[Journal, Journal, Journal],
) -> None:
    sam, alex, old = three
    gossip(sam, alex, old)
    cutoff = old.store.head(old.device.log)
    # The lost phone's new holder writes; Sam gets it before Alex removes the phone ...
    old.record(Gratitude(text="written by whoever has the phone"))
    ingest(sam, entries_of(old), keys=keys_of(old))
    assert "written by whoever has the phone" in texts(sam)
    # ... Alex had not seen that entry when removing: it is after the removal's cutoff.
    alex_view = {s.seq for s in alex.store.log_entries(old.device.log)}
    assert max(alex_view) == cutoff[0]  # type: ignore[index]
    rotation.remove_device(alex, old.device.log)
    ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert "written by whoever has the phone" not in texts(sam)
    assert sam.roster().cutoffs == {old.device.log: cutoff[0]}  # type: ignore[index]


def test_unsent_entries_under_a_revoked_epoch_are_resealed_before_they_leave(
    three: tuple[Journal, Journal, Journal],
) -> None:
    from tend.core.log.header import Header
    from tend.core.trust import reseal

    sam, alex, old = three
    gossip(sam, alex, old)
    relay_has = int(sam.store.head(sam.device.log)[0])  # type: ignore[index]
    # Sam writes offline, not knowing Alex is removing the old phone meanwhile.
    sam.record(Gratitude(text="written offline"))
    sam.record(Gratitude(text="also offline"))
    rotation.remove_device(alex, old.device.log)
    ingest(sam, entries_of(alex), keys=keys_of(alex))
    assert sam.device.epoch == 2

    assert reseal.reseal_unsent(sam, relay_has) == 2

    tail = [s.entry for s in sam.store.log_entries(sam.device.log)][relay_has:]
    assert [Header.decode(raw).epoch for raw in tail] == [2, 2]
    report = ingest(old, entries_of(sam), keys=keys_of(sam))
    assert "written offline" not in texts(old) and report.sealed_away == 2
    assert ingest(alex, entries_of(sam), keys=keys_of(sam)).refused == []
    assert texts(alex)[-2:] == ["written offline", "also offline"]
    assert texts(sam)[-2:] == ["written offline", "also offline"]


def test_a_rekey_from_the_relay_is_believed_only_as_far_as_its_signatures_go(
    three: tuple[Journal, Journal, Journal], tmp_path: Path
) -> None:
    from tend.core.errors import MalformedRecord

    sam, alex, old = three
    gossip(sam, alex, old)
    rotated = rotation.remove_device(alex, old.device.log)
    # Sam, offline during the rotation, is handed it by the relay: a copy for Sam, signed.
    outcome = rotation.adopt_rekey(sam, rotated.record, rotated.signature)
    assert (outcome.result, outcome.signer_known) == (rotation.Rekeyed.ADOPTED, True)
    # The removed phone finds its own removal, signed by its own person: it was removed.
    assert rotation.adopt_rekey(old, rotated.record, rotated.signature).result is (
        rotation.Rekeyed.REMOVED
    )
    # A record whose signature is not its signer's is refused outright.
    with pytest.raises(MalformedRecord):
        rotation.adopt_rekey(sam, rotated.record, bytes(64))
    for junk in (b"", b"\x00" * 10, b"\x91\xc0", rotated.record[:-3]):
        with pytest.raises(MalformedRecord):
            rotation.adopt_rekey(sam, junk, rotated.signature)


def test_a_rotation_that_leaves_a_device_out_without_its_persons_removal_is_not_a_removal(
    three: tuple[Journal, Journal, Journal],
) -> None:
    from tend.core.crypto import keys
    from tend.core.crypto.capability import hash_for
    from tend.core.log import rotation_record

    sam, alex, old = three
    gossip(sam, alex, old)
    # Sam's device (a member) signs a rotation that simply leaves Alex's old phone out.
    record = rotation_record.RotationRecord(
        space=sam.device.space,
        epoch=2,
        previous=hash_for(sam.device.space_key),
        capability=hash_for(keys.new_key()),
        sealed=((sam.device.log, b"\x01" * 40),),
        removed=(),
        signer=sam.device.log,
    ).encode()
    signature = keys.sign(sam.device.sign_seed, rotation_record.signing_input(record))
    outcome = rotation.adopt_rekey(old, record, signature)
    assert (outcome.result, outcome.signer, outcome.signer_known) == (
        rotation.Rekeyed.LEFT_OUT,
        sam.device.log,
        True,
    )
    assert old.device.epoch == 1 and 2 not in old.device.space_keys


def test_a_copy_of_another_key_than_the_record_names_is_not_adopted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sam's modified client retires Sam's tablet and seals Alex's phone, and Alex's recovery
    # key, a key other than the one the record commits to: Alex would write under a key
    # nobody else holds (or one Sam chose for Alex alone). Neither copy is taken.
    from tend.core.crypto import keys
    from tend.core.trust import recovery

    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = invite(sam, tmp_path / "alex", own=False, name="Alex")
    tablet = invite(sam, tmp_path / "tablet", own=True, name=None)
    gossip(sam, alex, tablet)
    person = keys.PersonSecrets.from_root(recovery.root_of(recovery.show_once(alex)))
    found = recovery.open_escrow(person, recovery.escrow_write(alex)[2])  # before the rotation
    other = keys.new_key()
    real_seal = keys.seal_to

    def seal_another(public: bytes, plaintext: bytes, context: bytes) -> bytes:
        if public in (alex.device.dh_public, person.identity().recovery_dh_pub):
            return real_seal(public, other, context)
        return real_seal(public, plaintext, context)

    monkeypatch.setattr(keys, "seal_to", seal_another)
    rotation.remove_device(sam, tablet.device.log)
    monkeypatch.undo()
    restored = recovery.restore(
        tmp_path / "alex-new", person, found, relay="http://127.0.0.1:1", label="", lock=None
    )
    for journal in (alex, restored):
        for _round in range(2):
            ingest(journal, entries_of(sam) + entries_of(alex), keys=keys_of(sam) | keys_of(alex))
        assert other not in journal.device.space_keys.values()
        assert journal.device.epoch == 1
    assert sam.device.epoch == 2
