"""Identities, cross-signing and key rotation records, pinned by tests/vectors/identity.json.

Each valid vector is reproduced byte for byte from its fixed inputs and verifies; each invalid
one is refused by the check that guards it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tend.core.crypto import envelope, keys
from tend.core.crypto.capability import hash_for
from tend.core.errors import InvalidEnvelope, MalformedRecord, ValidationError
from tend.core.ids import LogId, PersonId, SpaceId, event_id_at
from tend.core.log import identity, rotation_record
from tend.core.log.header import log_id_of

VECTORS = Path(__file__).parent / "vectors"
DATA: dict[str, Any] = json.loads((VECTORS / "identity.json").read_text(encoding="utf-8"))
PEOPLE: dict[str, dict[str, Any]] = {"person": DATA["person"], "partner": DATA["partner"]}
DEVICES: dict[str, dict[str, Any]] = DATA["devices"]
CERTS: list[dict[str, Any]] = DATA["certificates"]
ROTATION: dict[str, Any] = DATA["rotation"]
MALFORMED: list[dict[str, Any]] = DATA["malformed_rotation_records"]
NOT_SIGNED: list[dict[str, Any]] = DATA["rotation_records_not_signed_by"]
SPACE = SpaceId(bytes.fromhex(DATA["space"]))


def _b(value: str) -> bytes:
    return bytes.fromhex(value)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [str(case["name"]) for case in cases]


def _hkdf(root: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(root)


def _cert_ok(case: dict[str, Any]) -> bool:
    return identity.cert_valid(
        _b(case["identity"]),
        _b(case["space"]),
        _b(case["sign_public"]),
        _b(case["dh_public"]),
        _b(case["cert"]),
    )


def _removal_ok(case: dict[str, Any]) -> bool:
    return identity.removal_valid(
        _b(case["identity"]),
        _b(case["space"]),
        LogId(_b(case["device"])),
        case["upto"],
        _b(case["upto_hash"]),
        _b(case["proof"]),
    )


def _recovery_ok(case: dict[str, Any]) -> bool:
    return identity.recovery_valid(
        _b(case["identity"]),
        _b(case["space"]),
        _b(case["sign_public"]),
        _b(case["dh_public"]),
        _b(case["proof"]),
    )


# --- a person: root, derived keys, identity record, person id -------------------------------------


@pytest.mark.parametrize("who", PEOPLE.values(), ids=list(PEOPLE))
def test_from_root_derives_the_committed_seeds_with_their_hkdf_labels(who: dict[str, Any]) -> None:
    root = _b(who["root"])
    secrets = keys.PersonSecrets.from_root(root)
    assert secrets.identity_seed.hex() == who["identity_seed"]
    assert secrets.recovery_seed.hex() == who["recovery_seed"]
    assert secrets.recovery_dh_secret.hex() == who["recovery_dh_secret"]
    assert secrets.private_key.hex() == who["private_key"]
    # HKDF-SHA256, no salt, the root as key material, one label each.
    assert _hkdf(root, b"tend/person/identity").hex() == who["identity_seed"]
    assert _hkdf(root, b"tend/person/recovery-sign").hex() == who["recovery_seed"]
    assert _hkdf(root, b"tend/person/recovery-dh").hex() == who["recovery_dh_secret"]
    assert _hkdf(root, b"tend/person/private-entries").hex() == who["private_key"]


@pytest.mark.parametrize("who", PEOPLE.values(), ids=list(PEOPLE))
def test_the_identity_record_is_the_three_public_keys_and_names_the_person(
    who: dict[str, Any],
) -> None:
    record = keys.PersonSecrets.from_root(_b(who["root"])).identity()
    assert record.sign_pub == keys.signing_public(_b(who["identity_seed"]))
    assert record.sign_pub.hex() == who["identity_public"]
    assert record.recovery_sign_pub == keys.signing_public(_b(who["recovery_seed"]))
    assert record.recovery_sign_pub.hex() == who["recovery_sign_public"]
    assert record.recovery_dh_pub == keys.dh_public(_b(who["recovery_dh_secret"]))
    assert record.recovery_dh_pub.hex() == who["recovery_dh_public"]
    raw = _b(who["identity"])
    assert len(raw) == identity.IDENTITY_LEN == 96
    assert raw == _b(
        who["identity_public"] + who["recovery_sign_public"] + who["recovery_dh_public"]
    )
    assert record.encode() == raw
    assert identity.Identity.decode(raw) == record
    person = hashlib.sha256(b"tend/person-id/v1" + raw).digest()[:16]
    assert person.hex() == who["person_id"] == identity.person_of(raw).hex() == record.person.hex()


def test_from_root_refuses_a_root_that_is_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        keys.PersonSecrets.from_root(_b(DATA["person"]["root"])[:31])


@pytest.mark.parametrize("raw", [b"", bytes(95), bytes(97), "a" * 96], ids=["0", "95", "97", "str"])
def test_an_identity_record_of_the_wrong_size_is_refused(raw: object) -> None:
    with pytest.raises(ValidationError):
        identity.Identity.decode(raw)


@pytest.mark.parametrize("name", list(DEVICES))
def test_a_devices_log_id_is_derived_from_its_signing_key(name: str) -> None:
    device = DEVICES[name]
    public = keys.signing_public(_b(device["sign_seed"]))
    assert public.hex() == device["sign_public"]
    assert keys.dh_public(_b(device["dh_secret"])).hex() == device["dh_public"]
    digest = hashlib.sha256(b"tend/log-id/v1" + public).digest()[:16]
    assert digest.hex() == device["log_id"] == log_id_of(public).hex()


def test_an_event_id_is_derived_from_its_log_and_seq() -> None:
    log = _b(DEVICES["a"]["log_id"])
    expected = hashlib.sha256(b"tend/event-id/v1" + log + (1).to_bytes(8, "big")).digest()[:16]
    assert event_id_at(log, 1) == expected
    assert event_id_at(log, 2) != expected


# --- what the identity key and the recovery key sign ------------------------------------------


@pytest.mark.parametrize("case", CERTS, ids=_ids(CERTS))
def test_a_committed_certificate_reproduces_and_verifies(case: dict[str, Any]) -> None:
    who = next(p for p in PEOPLE.values() if p["identity"] == case["identity"])
    message = b"tend/device-cert/v1" + _b(case["space"] + case["sign_public"] + case["dh_public"])
    assert message.hex() == case["message"]
    assert (
        identity.cert_message(_b(case["space"]), _b(case["sign_public"]), _b(case["dh_public"]))
        == message
    )
    assert keys.sign(_b(who["identity_seed"]), message).hex() == case["cert"]
    assert _cert_ok(case)


def test_each_device_certificate_names_a_device_of_the_vectors() -> None:
    by_name = {c["name"]: c for c in CERTS}
    for device, cert in (("a", "device-a"), ("b", "device-b"), ("partner", "partner-device")):
        assert by_name[cert]["sign_public"] == DEVICES[device]["sign_public"]
        assert by_name[cert]["dh_public"] == DEVICES[device]["dh_public"]
    assert by_name["partner-device"]["identity"] == DATA["partner"]["identity"]


def test_the_committed_removal_proof_reproduces_and_verifies() -> None:
    case = DATA["removal"]
    message = (
        b"tend/device-removed/v1"
        + _b(case["space"] + case["device"])
        + case["upto"].to_bytes(8, "big")
        + _b(case["upto_hash"])
    )
    assert message.hex() == case["message"]
    assert (
        identity.removal_message(
            _b(case["space"]), LogId(_b(case["device"])), case["upto"], _b(case["upto_hash"])
        )
        == message
    )
    assert keys.sign(_b(DATA["person"]["identity_seed"]), message).hex() == case["proof"]
    assert case["device"] == DEVICES["b"]["log_id"]
    assert _removal_ok(case)


def test_the_committed_lost_removal_verifies_for_the_remover_and_never_as_an_own_removal() -> None:
    case = DATA["lost_removal"]
    where = (_b(case["space"]), LogId(_b(case["device"])), case["upto"], _b(case["upto_hash"]))
    mark = _b(case["mark"])
    message = b"tend/lost-device-removed/v1" + _b(case["space"] + case["device"])
    message += case["upto"].to_bytes(8, "big") + _b(case["upto_hash"]) + mark
    assert identity.lost_removal_message(*where, mark) == message
    assert message.hex() == case["message"]
    assert keys.sign(_b(DATA["partner"]["identity_seed"]), message).hex() == case["proof"]
    proof = _b(case["proof"])
    partner, person = _b(DATA["partner"]["identity"]), _b(DATA["person"]["identity"])
    assert identity.lost_removal_valid(partner, *where, mark, proof)
    assert not identity.lost_removal_valid(partner, *where, bytes(16), proof)  # another mark
    assert not identity.removal_valid(partner, *where, proof)  # not the partner's own device
    assert not identity.removal_valid(person, *where, proof)  # nor the person's own word
    assert not identity.lost_removal_valid(person, *where, mark, proof)


def test_the_committed_recovery_proof_reproduces_and_verifies() -> None:
    case = DATA["recovery"]
    message = b"tend/device-recovered/v1" + _b(
        case["space"] + case["sign_public"] + case["dh_public"]
    )
    assert message.hex() == case["message"]
    assert (
        identity.recovery_message(_b(case["space"]), _b(case["sign_public"]), _b(case["dh_public"]))
        == message
    )
    assert keys.sign(_b(DATA["person"]["recovery_seed"]), message).hex() == case["proof"]
    assert case["sign_public"] == DEVICES["recovered"]["sign_public"]
    assert _recovery_ok(case)


@pytest.mark.parametrize(
    "case", DATA["invalid_certificates"], ids=_ids(DATA["invalid_certificates"])
)
def test_every_invalid_certificate_is_refused(case: dict[str, Any]) -> None:
    assert not _cert_ok(case)


@pytest.mark.parametrize("case", DATA["invalid_removals"], ids=_ids(DATA["invalid_removals"]))
def test_every_invalid_removal_proof_is_refused(case: dict[str, Any]) -> None:
    assert not _removal_ok(case)


@pytest.mark.parametrize("case", DATA["invalid_recoveries"], ids=_ids(DATA["invalid_recoveries"]))
def test_every_invalid_recovery_proof_is_refused(case: dict[str, Any]) -> None:
    assert not _recovery_ok(case)


def test_the_three_labels_keep_each_signature_to_its_own_purpose() -> None:
    space, key, log = bytes(16), bytes(32), LogId(bytes(16))
    labels = [
        identity.cert_message(space, key, key)[: -16 - 64],
        identity.removal_message(space, log, 0, key)[: -16 - 16 - 8 - 32],
        identity.recovery_message(space, key, key)[: -16 - 64],
    ]
    assert labels == [
        b"tend/device-cert/v1",
        b"tend/device-removed/v1",
        b"tend/device-recovered/v1",
    ]
    assert not any(a != b and b.startswith(a) for a in labels for b in labels)


# --- the key rotation record ------------------------------------------------------------------


def test_the_committed_rotation_record_reproduces_byte_for_byte() -> None:
    record = rotation_record.RotationRecord(
        space=SpaceId(_b(ROTATION["space"])),
        epoch=ROTATION["epoch"],
        previous=_b(ROTATION["previous"]),
        capability=_b(ROTATION["capability"]),
        sealed=tuple((LogId(_b(s["device"])), _b(s["sealed"])) for s in ROTATION["sealed"]),
        removed=tuple(
            rotation_record.Removal(
                LogId(_b(r["device"])), r["upto"], _b(r["upto_hash"]), _b(r["proof"])
            )
            for r in ROTATION["removed"]
        ),
        signer=LogId(_b(ROTATION["signer"])),
        recovery=tuple((PersonId(_b(c["person"])), _b(c["sealed"])) for c in ROTATION["recovery"]),
    )
    raw = record.encode()
    assert raw.hex() == ROTATION["record"]
    signed = keys.sign(_b(DEVICES["a"]["sign_seed"]), rotation_record.signing_input(raw))
    assert signed.hex() == ROTATION["signature"]
    assert rotation_record.signing_input(raw) == b"tend/rotation/v1" + raw


def test_the_committed_rotation_record_parses_and_verifies() -> None:
    raw, signature = _b(ROTATION["record"]), _b(ROTATION["signature"])
    parsed = rotation_record.parse(raw)
    assert parsed.encode() == raw
    assert parsed.space == SPACE
    assert (parsed.epoch, parsed.signer.hex()) == (2, DEVICES["a"]["log_id"])
    assert parsed.removed[0].device.hex() == DEVICES["b"]["log_id"]
    assert rotation_record.signed_by(raw, signature, _b(ROTATION["signer_public"]))
    assert ROTATION["signer_public"] == DEVICES["a"]["sign_public"]
    assert log_id_of(_b(ROTATION["signer_public"])).hex() == ROTATION["signer"]


def test_the_rotation_record_is_a_msgpack_map_of_eight_short_keys() -> None:
    body = msgpack.unpackb(_b(ROTATION["record"]), raw=False)
    assert list(body) == ["s", "e", "p", "c", "k", "x", "w", "h"]
    assert body["h"] == [[_b(c["person"]), _b(c["sealed"])] for c in ROTATION["recovery"]]
    assert body["k"] == [[_b(s["device"]), _b(s["sealed"])] for s in ROTATION["sealed"]]
    removal = ROTATION["removed"][0]
    assert body["x"] == [
        [_b(removal["device"]), removal["upto"], _b(removal["upto_hash"]), _b(removal["proof"])]
    ]


def test_the_rotation_replaces_the_capability_of_epoch_1_by_that_of_epoch_2() -> None:
    epoch_keys = json.loads((VECTORS / "entry.json").read_text(encoding="utf-8"))["epoch_keys"]
    assert _b(ROTATION["previous"]) == hash_for(_b(epoch_keys["1"]))
    assert _b(ROTATION["capability"]) == hash_for(_b(epoch_keys["2"]))


@pytest.mark.parametrize(
    "copy", ROTATION["recovery"], ids=[c["person"] for c in ROTATION["recovery"]]
)
def test_each_recovery_copy_opens_with_the_recovery_secret_its_persons_phrase_derives(
    copy: dict[str, Any],
) -> None:
    # A device restored from the phrase follows this rotation though none of its devices saw it.
    holder = next(p for p in (DATA["person"], DATA["partner"]) if p["person_id"] == copy["person"])
    assert copy["recovery_dh_public"] == holder["recovery_dh_public"]
    context = _b(copy["context"])
    secret = _b(holder["recovery_dh_secret"])
    assert keys.open_sealed(secret, _b(copy["sealed"]), context) == _b(copy["key"])
    other = next(p for p in (DATA["person"], DATA["partner"]) if p is not holder)
    with pytest.raises(InvalidEnvelope):
        keys.open_sealed(_b(other["recovery_dh_secret"]), _b(copy["sealed"]), context)


@pytest.mark.parametrize("copy", ROTATION["sealed"], ids=[s["device"] for s in ROTATION["sealed"]])
def test_each_sealed_copy_reproduces_and_opens_for_its_device_only(copy: dict[str, Any]) -> None:
    device = next(d for d in DEVICES.values() if d["log_id"] == copy["device"])
    context = b"tend/epoch-key/v1" + SPACE + ROTATION["epoch"].to_bytes(4, "big")
    assert _b(copy["context"]) == context
    assert keys.open_sealed(_b(device["dh_secret"]), _b(copy["sealed"]), context) == _b(copy["key"])
    # The sealed-to-a-device format, by hand: ephemeral public, then an envelope under a key
    # HKDF derives from the X25519 shared secret.
    ephemeral = X25519PrivateKey.from_private_bytes(_b(copy["ephemeral_secret"]))
    eph_pub = keys.dh_public(_b(copy["ephemeral_secret"]))
    assert eph_pub.hex() == copy["ephemeral_public"]
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(_b(device["dh_public"])))
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=eph_pub + _b(device["dh_public"]),
        info=b"tend/seal-to",
    ).derive(shared)
    sealed = eph_pub + envelope.seal(key, _b(copy["key"]), context, salt=_b(copy["salt"]))
    assert sealed.hex() == copy["sealed"]
    other = DEVICES["b"]
    with pytest.raises(InvalidEnvelope):
        keys.open_sealed(_b(other["dh_secret"]), _b(copy["sealed"]), context)
    with pytest.raises(InvalidEnvelope):
        keys.open_sealed(_b(device["dh_secret"]), _b(copy["sealed"]), context[:-1] + b"\x03")


@pytest.mark.parametrize("case", MALFORMED, ids=_ids(MALFORMED))
def test_every_malformed_rotation_record_is_refused(case: dict[str, Any]) -> None:
    assert case["error"] == "MalformedRecord"
    with pytest.raises(MalformedRecord):
        rotation_record.parse(_b(case["record"]))


def test_the_malformed_records_cover_the_rules_of_the_record() -> None:
    names = set(_ids(MALFORMED))
    for name in (
        "extra-field",
        "space-of-15-bytes",
        "epoch-true",
        "epoch-2-64-minus-1",
        "epoch-2-70-as-a-float",
        "sealed-list-with-65-devices",
    ):
        assert name in names


@pytest.mark.parametrize("case", NOT_SIGNED, ids=_ids(NOT_SIGNED))
def test_a_rotation_record_that_parses_is_still_not_signed_by_the_wrong_key(
    case: dict[str, Any],
) -> None:
    raw = _b(case["record"])
    rotation_record.parse(raw)
    assert not rotation_record.signed_by(raw, _b(case["signature"]), _b(case["public"]))


def test_rotation_record_signed_by_refuses_malformed_keys_and_signatures() -> None:
    raw, signature = _b(ROTATION["record"]), _b(ROTATION["signature"])
    public = _b(ROTATION["signer_public"])
    assert not rotation_record.signed_by(raw, signature[:63], public)
    assert not rotation_record.signed_by(raw, signature, public[:31])
    assert not rotation_record.signed_by(raw, signature, b"")


# --- docs ---------------------------------------------------------------------------------------


def test_the_identity_vector_in_docs_protocol_md_is_the_committed_one() -> None:
    doc = "".join(
        (VECTORS.parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8").split()
    )
    person, cert = DATA["person"], CERTS[0]
    for value in (
        person["root"],
        person["identity_seed"],
        person["identity"],
        person["person_id"],
        cert["sign_public"],
        cert["dh_public"],
        cert["cert"],
    ):
        assert value in doc, value


def test_a_signed_message_refuses_fields_of_the_wrong_size() -> None:
    with pytest.raises(ValueError):
        identity.cert_message(b"", b"", b"")
    with pytest.raises(ValueError):
        identity.removal_message(bytes(16), LogId(bytes(15)), 0, bytes(32))
