"""`tend relay serve` settings: flags over the environment over a TOML file over defaults, read
generically off the settings' dataclasses, and one line naming the key for anything wrong."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tend.sync.relay.config import RelayConfig
from tend.sync.relay.settings import ServeSettings, SettingError, all_settings, load
from tests.conftest import tend_env, tend_executable


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relay.toml"
    path.write_text(text)
    return path


def test_flags_win_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    file = toml(tmp_path, 'port = 1111\nhost = "10.0.0.1"\nquota = 5\nlog_ids = true\n')
    env = {"TEND_RELAY_PORT": "2222", "TEND_RELAY_QUOTA": "7"}
    serve, relay = load({"port": "3333"}, env, file)
    assert serve.port == 3333  # the flag
    assert relay.quota == 7  # the environment
    assert serve.host == "10.0.0.1" and serve.log_ids is True  # the file
    assert relay.escrow_cap == RelayConfig().escrow_cap  # the default


def test_without_anything_every_setting_is_its_default() -> None:
    assert load({}, {}, None) == (ServeSettings(), RelayConfig())


def test_every_relay_config_field_is_a_setting_so_new_ones_join_by_themselves() -> None:
    names = {s.name for s in all_settings()}
    assert set(RelayConfig.__dataclass_fields__) <= names
    assert {"host", "port", "db", "tls_cert", "tls_key", "log_ids", "log_addresses"} <= names


def test_trusted_proxies_come_as_a_toml_list_a_spaced_or_comma_list_or_repeated_flags(
    tmp_path: Path,
) -> None:
    file = toml(tmp_path, 'trusted_proxies = ["10.0.0.1", "fd00::/8"]\n')
    assert load({}, {}, file)[1].trusted_proxies == ("10.0.0.1", "fd00::/8")
    env = {"TEND_RELAY_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}
    assert load({}, env, file)[1].trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    flags = {"trusted_proxies": ("192.0.2.7",)}
    assert load(flags, env, file)[1].trusted_proxies == ("192.0.2.7",)


@pytest.mark.parametrize(
    ("flags", "env", "text", "named"),
    [
        ({}, {}, "quotaa = 5\n", "'quotaa'"),
        ({}, {}, 'quota = "lots"\n', "quota"),
        ({}, {"TEND_RELAY_PORT": "eighty"}, "", "port (from TEND_RELAY_PORT)"),
        ({"port": "70000"}, {}, "", "port (from --port)"),
        ({}, {"TEND_RELAY_LOG_IDS": "perhaps"}, "", "log_ids"),
        ({}, {}, 'trusted_proxies = ["proxy.example"]\n', "trusted_proxies"),
        ({}, {}, 'forwarded_header = "x-real-ip"\n', "forwarded_header"),
        ({}, {}, "escrow_cap = -1\n", "escrow_cap"),
        ({}, {}, 'tls_cert = "cert.pem"\n', "tls_key"),
        ({}, {}, "[relay]\nport = 1\n", "'relay'"),
    ],
)
def test_an_unknown_key_or_a_bad_value_is_one_line_naming_the_key(
    tmp_path: Path, flags: dict[str, object], env: dict[str, str], text: str, named: str
) -> None:
    with pytest.raises(SettingError) as refused:
        load(flags, env, toml(tmp_path, text))
    assert named in str(refused.value) and "\n" not in str(refused.value)


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [tend_executable(), "relay", "serve", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=30, env=tend_env(env), check=False
    )


@pytest.mark.slow
def test_the_command_refuses_a_bad_file_in_one_line_before_listening(tmp_path: Path) -> None:
    result = serve("--config", str(toml(tmp_path, "max_spacez = 3\n")))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "unknown key 'max_spacez'" in result.stderr and "Traceback" not in result.stderr
    result = serve(env={"TEND_RELAY_QUOTA": "a lot"})
    assert result.returncode == 1 and "relay setting quota (from TEND_RELAY_QUOTA)" in result.stderr
