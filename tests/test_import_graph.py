"""The layers' import rules, read from the source with `ast`, and what `tend checkin` loads.

core is the offline journal: it knows nothing of the network, the event loop or the command
line. Only core/automerge_export.py touches automerge; only core/envelope.py, core/keys.py and
the public-key verifier core/logsig.py touch cryptography, so what can seal or open stays two
files. sync never reaches up into cli. And a
check-in, run as a process, loads neither the network stack, automerge nor the table renderer.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tend_env

ROOT = Path(__file__).resolve().parent.parent / "src" / "tend"  # the package, in its src layout
LAYERS = ("core", "sync", "cli")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (`from a import b` counts as a and a.b)."""
    package = ["tend", path.parent.name]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def source_files() -> dict[str, set[str]]:
    """'core/shared.py' -> the modules it imports, for every .py file of every layer."""
    return {
        f"{layer}/{path.name}": imported_modules(path)
        for layer in LAYERS
        for path in sorted((ROOT / layer).glob("*.py"))
    }


def importers(prefix: str, files: dict[str, set[str]] | None = None) -> set[str]:
    """Files that import `prefix` or anything under it."""
    files = source_files() if files is None else files
    return {
        name
        for name, modules in files.items()
        if any(m == prefix or m.startswith(prefix + ".") for m in modules)
    }


def test_the_checker_sees_every_layer_and_resolves_relative_and_from_imports(
    tmp_path: Path,
) -> None:
    files = source_files()
    assert {"core/journal.py", "core/automerge_export.py", "cli/main.py"} <= set(files)
    assert "tend.core.errors" in files["cli/main.py"]
    assert "tend.core.automerge_export" in files["core/export.py"]  # a function-level import
    sample = tmp_path / "core" / "sample.py"
    sample.parent.mkdir()
    sample.write_text("from . import store\nfrom ..sync import client\nimport aiohttp.web\n")
    assert imported_modules(sample) == {
        "tend.core",
        "tend.core.store",
        "tend.sync",
        "tend.sync.client",
        "aiohttp.web",
    }


@pytest.mark.parametrize("forbidden", ["aiohttp", "asyncio", "tend.sync", "tend.cli"])
def test_core_imports_no_network_event_loop_sync_or_cli(forbidden: str) -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("core/")}
    assert importers(forbidden, files) == set()


def test_only_the_automerge_export_imports_automerge() -> None:
    assert importers("automerge") == {"core/automerge_export.py"}


def test_only_core_envelope_core_keys_and_the_verifier_import_cryptography() -> None:
    assert importers("cryptography") == {"core/envelope.py", "core/keys.py", "core/logsig.py"}


def test_the_public_key_verifier_imports_no_secret_key_or_cipher() -> None:
    # core/logsig.py is what the relay may use: Ed25519 verification, nothing that seals or opens.
    crypto = {m for m in source_files()["core/logsig.py"] if m.startswith("cryptography")}
    assert crypto <= {
        "cryptography.exceptions",
        "cryptography.exceptions.InvalidSignature",
        "cryptography.hazmat.primitives.asymmetric.ed25519",
        "cryptography.hazmat.primitives.asymmetric.ed25519.Ed25519PublicKey",
    }


def test_sync_imports_nothing_from_cli() -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("sync/")}
    assert importers("tend.cli", files) == set()


CHECKIN_IN_A_FRESH_PROCESS = """
import json, sys
from tend.cli.main import main
home = sys.argv[1]
codes = [main(["--home", home, "init", "--name", "Sam"]),
         main(["--home", home, "checkin", "--day", "rest"])]
heavy = ("aiohttp", "automerge", "rich", "asyncio", "tend.sync")
print(json.dumps({"codes": codes, "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


def test_init_and_checkin_load_no_network_automerge_or_tables(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECKIN_IN_A_FRESH_PROCESS, str(tmp_path / "home")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=tend_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"codes": [0, 0], "loaded": []}
