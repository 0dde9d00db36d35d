"""Key operations (sign, seal to a device, passphrase key) and the device key file at rest."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any, cast

import msgpack
import pytest

from tend.core.crypto import envelope, keys, keystore, passphrase
from tend.core.errors import CorruptStore, InvalidEnvelope, WrongPassphrase
from tend.core.ids import SpaceId

PASSPHRASE = "correct horse battery staple"
FAST = passphrase.Cost(time=1, memory_kib=64, lanes=1)  # the format, not the cost, is under test


def _lock(cost: passphrase.Cost = FAST) -> passphrase.Lock:
    return passphrase.new_lock(PASSPHRASE, cost)


def _open(path: Path, secret: str = PASSPHRASE) -> keystore.DeviceKeys:
    """What a command does: stretch what was typed with the file's salt and cost, then load."""
    return keystore.load(path, keystore.unlock(path, secret))


CONTEXT = b"tend/test/seal-to"


# --- signatures -------------------------------------------------------------------------------


def test_ed25519_matches_rfc_8032_test_1() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert keys.signing_public(seed) == public
    assert keys.sign(seed, b"") == signature
    assert keys.verify(public, b"", signature)


def test_a_signature_verifies_under_its_own_public_key() -> None:
    seed = keys.new_signing_seed()
    signature = keys.sign(seed, b"message")
    assert len(signature) == 64
    assert keys.verify(keys.signing_public(seed), b"message", signature)


def test_a_signature_does_not_verify_for_another_message() -> None:
    seed = keys.new_signing_seed()
    assert not keys.verify(keys.signing_public(seed), b"messagE", keys.sign(seed, b"message"))


def test_a_signature_does_not_verify_under_another_public_key() -> None:
    seed, other = keys.new_signing_seed(), keys.new_signing_seed()
    assert not keys.verify(keys.signing_public(other), b"message", keys.sign(seed, b"message"))


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_a_flipped_signature_byte_is_refused(index: int) -> None:
    seed = keys.new_signing_seed()
    signature = bytearray(keys.sign(seed, b"message"))
    signature[index] ^= 0x01
    assert not keys.verify(keys.signing_public(seed), b"message", bytes(signature))


@pytest.mark.parametrize("public", [b"", bytes(31), bytes(33)])
def test_a_malformed_public_key_verifies_nothing_and_does_not_raise(public: bytes) -> None:
    seed = keys.new_signing_seed()
    assert not keys.verify(public, b"message", keys.sign(seed, b"message"))


def test_a_truncated_signature_is_refused() -> None:
    seed = keys.new_signing_seed()
    assert not keys.verify(keys.signing_public(seed), b"m", keys.sign(seed, b"m")[:63])


# --- sealing to a device (X25519) --------------------------------------------------------------


def test_x25519_public_keys_match_rfc_7748() -> None:
    secret = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    public = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert keys.dh_public(secret) == public


def test_seal_to_opens_for_the_recipient() -> None:
    secret = keys.new_dh_secret()
    sealed = keys.seal_to(keys.dh_public(secret), b"the new epoch key", CONTEXT)
    assert keys.open_sealed(secret, sealed, CONTEXT) == b"the new epoch key"


def test_seal_to_does_not_open_for_another_recipient() -> None:
    recipient, other = keys.new_dh_secret(), keys.new_dh_secret()
    sealed = keys.seal_to(keys.dh_public(recipient), b"the new epoch key", CONTEXT)
    with pytest.raises(InvalidEnvelope):
        keys.open_sealed(other, sealed, CONTEXT)


def test_seal_to_does_not_open_under_another_context() -> None:
    secret = keys.new_dh_secret()
    sealed = keys.seal_to(keys.dh_public(secret), b"the new epoch key", CONTEXT)
    with pytest.raises(InvalidEnvelope):
        keys.open_sealed(secret, sealed, CONTEXT + b"!")


def test_seal_to_uses_a_fresh_ephemeral_key_each_time() -> None:
    public = keys.dh_public(keys.new_dh_secret())
    first, second = keys.seal_to(public, b"same", CONTEXT), keys.seal_to(public, b"same", CONTEXT)
    assert first[:32] != second[:32]
    assert first != second


@pytest.mark.parametrize("index", [0, 31, 32, -1])
def test_a_flipped_byte_in_a_sealed_box_is_refused(index: int) -> None:
    secret = keys.new_dh_secret()
    sealed = bytearray(keys.seal_to(keys.dh_public(secret), b"key", CONTEXT))
    sealed[index] ^= 0x01
    with pytest.raises(InvalidEnvelope):
        keys.open_sealed(secret, bytes(sealed), CONTEXT)


@pytest.mark.parametrize("sealed", [b"", bytes(31), bytes(32), bytes(32 + envelope.OVERHEAD)])
def test_a_short_or_empty_sealed_box_is_refused(sealed: bytes) -> None:
    with pytest.raises(InvalidEnvelope):
        keys.open_sealed(keys.new_dh_secret(), sealed, CONTEXT)


def test_a_low_order_ephemeral_key_is_refused_as_invalid_envelope() -> None:
    # The all-zero point makes the shared secret zero; cryptography refuses it with ValueError.
    secret = keys.new_dh_secret()
    sealed = keys.seal_to(keys.dh_public(secret), b"key", CONTEXT)
    with pytest.raises(InvalidEnvelope):
        keys.open_sealed(secret, bytes(32) + sealed[32:], CONTEXT)


# --- derived keys -----------------------------------------------------------------------------


def test_derive_gives_distinct_32_byte_keys_per_label_and_salt() -> None:
    root = bytes(range(32))
    a, b = keys.derive(root, b"a"), keys.derive(root, b"b")
    assert len(a) == len(b) == 32
    assert a != b
    assert keys.derive(root, b"a") == a
    assert keys.derive(root, b"a", salt=b"s") != a


def test_a_passphrase_key_depends_on_passphrase_salt_and_every_cost_parameter() -> None:
    salt = bytes(16)
    base = passphrase.derive("pass", salt, FAST)
    assert len(base) == 32
    assert passphrase.derive("pass", salt, FAST) == base
    assert passphrase.derive("pasS", salt, FAST) != base
    assert passphrase.derive("pass", bytes(15) + b"\x01", FAST) != base
    for changed in (
        passphrase.Cost(2, FAST.memory_kib, FAST.lanes),
        passphrase.Cost(FAST.time, FAST.memory_kib * 2, FAST.lanes),
        passphrase.Cost(FAST.time, FAST.memory_kib, 2),
    ):
        assert passphrase.derive("pass", salt, changed) != base


def test_the_passphrase_key_is_argon2id_as_the_reference_implementation_computes_it() -> None:
    # The Argon2id v1.3 vector of the reference implementation's own tests (test.c:
    # t=2, m=2^16 KiB, p=1, "password", "somesalt"), so a changed binding cannot pass unseen.
    key = passphrase.stretch(b"password", b"somesalt", passphrase.Cost(2, 1 << 16, 1))
    assert key.hex() == "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"


def test_the_default_cost_is_at_least_256_mib_of_argon2id() -> None:
    assert passphrase.DEFAULT_COST.memory_kib >= 256 * 1024
    assert passphrase.DEFAULT_COST.time >= 2


@pytest.mark.parametrize(
    ("candidate", "strong"),
    [
        ("short", False),
        ("password1234", False),
        ("aaaaaaaaaaaaaaaa", False),
        ("qwertyuiopasdf", False),
        ("samsamsamsam", False),  # the person's own name, repeated
        ("maple river lantern cobalt", True),
        ("Tr0ub4dor&3xyz", True),
    ],
)
def test_a_weak_passphrase_is_refused_with_a_reason(candidate: str, strong: bool) -> None:
    problem = passphrase.weakness(candidate, context=("sam",))
    assert (problem is None) == strong
    if problem:
        assert "four random words" in problem


# --- the device file --------------------------------------------------------------------------


def _device() -> keystore.DeviceKeys:
    root = bytes(range(32))
    device = keystore.DeviceKeys.generate(
        SpaceId(bytes(range(16))), keys.PersonSecrets.from_root(root), root
    )
    device.space_keys[2] = keys.new_key()
    device.epoch = 2
    device.settings = {"relay": "https://relay.example.org", "private_kinds": ["comfort"]}
    return device


def _secrets(device: keystore.DeviceKeys) -> dict[str, bytes]:
    found = {
        "sign seed": device.sign_seed,
        "dh secret": device.dh_secret,
        "private key": device.private_key,
        "local key": device.local_key,
        "identity seed": device.identity_seed,
        "root": bytes(range(32)),
    }
    found.update({f"space key {e}": k for e, k in device.space_keys.items()})
    return found


@pytest.fixture(scope="module")
def wrapped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, keystore.DeviceKeys]:
    """One passphrase-wrapped device file."""
    device = _device()
    path = tmp_path_factory.mktemp("wrapped") / keystore.FILE_NAME
    keystore.save(path, device, _lock())
    return path, device


def test_an_unwrapped_device_file_loads_back_identical(tmp_path: Path) -> None:
    device = _device()
    path = tmp_path / keystore.FILE_NAME
    keystore.save(path, device)
    assert not keystore.is_wrapped(path)
    assert keystore.load(path) == device
    assert keystore.load(path, _lock()) == device  # a lock is ignored when none was set


def test_a_wrapped_device_file_loads_back_identical_with_its_passphrase(
    wrapped: tuple[Path, keystore.DeviceKeys],
) -> None:
    path, device = wrapped
    assert keystore.is_wrapped(path)
    loaded = _open(path)
    assert loaded == device
    assert loaded.space_key == device.space_keys[2]


def test_a_wrong_passphrase_raises_wrong_passphrase(
    wrapped: tuple[Path, keystore.DeviceKeys],
) -> None:
    with pytest.raises(WrongPassphrase, match="does not open"):
        _open(wrapped[0], PASSPHRASE + " ")


def test_a_wrapped_file_without_a_lock_raises_wrong_passphrase(
    wrapped: tuple[Path, keystore.DeviceKeys],
) -> None:
    with pytest.raises(WrongPassphrase, match="locked with a passphrase"):
        keystore.load(wrapped[0], None)


def test_a_lock_for_another_device_file_is_refused_before_any_decryption(
    wrapped: tuple[Path, keystore.DeviceKeys],
) -> None:
    # The agent may hold the lock of an older file at the same place: it must not be tried.
    with pytest.raises(WrongPassphrase, match="another device file"):
        keystore.load(wrapped[0], _lock())


def test_the_device_file_is_readable_by_its_owner_only(
    tmp_path: Path, wrapped: tuple[Path, keystore.DeviceKeys]
) -> None:
    plain = tmp_path / keystore.FILE_NAME
    keystore.save(plain, _device())
    for path in (plain, wrapped[0]):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_saving_again_keeps_mode_0600_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / keystore.FILE_NAME
    path.write_bytes(b"old")
    path.chmod(0o644)
    keystore.save(path, _device())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [keystore.FILE_NAME]


def test_a_wrapped_device_file_holds_no_secret_in_the_clear(
    wrapped: tuple[Path, keystore.DeviceKeys],
) -> None:
    path, device = wrapped
    raw = path.read_bytes()
    leaked = [name for name, secret in _secrets(device).items() if secret in raw]
    assert leaked == []
    assert PASSPHRASE.encode() not in raw


def test_an_unwrapped_device_file_does_hold_its_secrets(tmp_path: Path) -> None:
    # The control for the test above: the search would find them if they were there.
    device = _device()
    path = tmp_path / keystore.FILE_NAME
    keystore.save(path, device)
    raw = path.read_bytes()
    assert all(secret in raw for secret in _secrets(device).values())


def test_the_cost_recorded_in_the_file_is_the_cost_used_to_open_it(tmp_path: Path) -> None:
    device = _device()
    path = tmp_path / keystore.FILE_NAME
    keystore.save(path, device, _lock(passphrase.Cost(2, 128, 2)))
    outer = msgpack.unpackb(path.read_bytes(), raw=False)
    assert (outer["wrap"], outer["cost"]) == ("argon2id", [2, 128, 2])
    assert _open(path) == device


def test_re_saving_with_the_same_lock_keeps_the_file_openable_by_the_same_passphrase(
    tmp_path: Path,
) -> None:
    # What private-default, a rotation or a setting does: save with the lock it was opened with.
    path = tmp_path / keystore.FILE_NAME
    keystore.save(path, _device(), _lock())
    lock = keystore.unlock(path, PASSPHRASE)
    changed = keystore.load(path, lock)
    changed.settings["private_kinds"] = ["checkin"]
    keystore.save(path, changed, lock)
    assert _open(path).settings["private_kinds"] == ["checkin"]
    with pytest.raises(WrongPassphrase):
        _open(path, PASSPHRASE + "x")


_DROP = object()


def _rewrite(path: Path, **changes: Any) -> None:
    outer = msgpack.unpackb(path.read_bytes(), raw=False)
    for name, value in changes.items():
        if value is _DROP:
            outer.pop(name, None)
        else:
            outer[name] = value
    path.write_bytes(msgpack.packb(outer, use_bin_type=True))


@pytest.mark.parametrize(
    "changes",
    [
        {"cost": [0, 64, 1]},
        {"cost": [1, 4, 1]},
        {"cost": [1, 64, 0]},
        {"cost": [1, 1 << 30, 1]},
        {"cost": [100, 64, 1]},
        {"cost": [1, 64]},
        {"cost": ["1", 64, 1]},
        {"cost": [True, 64, 1]},
        {"cost": _DROP},
        {"salt": None},
        {"salt": b"short"},
        {"salt": _DROP},
        {"body": None},
        {"body": _DROP},
    ],
    ids=[
        "time-zero",
        "memory-tiny",
        "lanes-zero",
        "memory-huge",
        "time-huge",
        "cost-short",
        "cost-text",
        "cost-bool",
        "cost-missing",
        "salt-none",
        "salt-short",
        "salt-missing",
        "body-none",
        "body-missing",
    ],
)
def test_a_damaged_wrapped_device_file_raises_corrupt_store(
    tmp_path: Path, changes: dict[str, Any]
) -> None:
    path = tmp_path / keystore.FILE_NAME
    keystore.save(path, _device(), _lock())
    _rewrite(path, **changes)
    with pytest.raises(CorruptStore):
        _open(path)


def test_a_tampered_wrapped_body_reads_as_a_wrong_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The envelope cannot tell a wrong key from a damaged body, so neither can the keystore.
    path = tmp_path / keystore.FILE_NAME
    keystore.save(path, _device(), _lock())
    body = bytearray(msgpack.unpackb(path.read_bytes(), raw=False)["body"])
    body[-1] ^= 0x01
    _rewrite(path, body=bytes(body))
    with pytest.raises(WrongPassphrase):
        _open(path)


@pytest.mark.parametrize(
    "content", [b"", b"\xc1", msgpack.packb({"tend": "other"}), msgpack.packb([1, 2])]
)
def test_a_file_that_is_not_a_device_file_raises_corrupt_store(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / keystore.FILE_NAME
    path.write_bytes(content)
    with pytest.raises(CorruptStore):
        keystore.load(path)


def test_an_unwrapped_file_with_a_damaged_record_raises_corrupt_store(tmp_path: Path) -> None:
    path = tmp_path / keystore.FILE_NAME
    keystore.save(path, _device())
    _rewrite(path, body=msgpack.packb({"space": b"x"}), sum=_DROP)  # no checksum to catch it
    with pytest.raises(CorruptStore, match="damaged"):
        keystore.load(path)


def test_a_device_setting_of_the_wrong_type_is_never_saved(tmp_path: Path) -> None:
    # What load would refuse (a setting of the wrong type) is refused before it is written.
    device = _device()
    device.settings = cast(keystore.DeviceSettings, {"relay": 7})
    path = tmp_path / keystore.FILE_NAME
    with pytest.raises(CorruptStore, match="the device setting relay has the wrong type"):
        keystore.prepare(path, device, None)
    assert not path.exists()
