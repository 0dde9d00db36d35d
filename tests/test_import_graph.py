"""The house's import rules, read from the source with `ast`, and what `tend checkin` loads.

core is the offline journal: it knows nothing of the network, the event loop or the command
line. Inside it, each wing may lean only on the wings below it (docs/architecture.md draws
them): the few shared basics at the bottom; the keyless log; crypto, the one wing that holds
keys; the domain; the views, pure over what a device can read; the trust engine and the
journal on top. Each third-party library with a say over security or format has one home.
The relay imports only the log wing and the basics, so it cannot open what it carries.
Presentation (the report's page and charts, matplotlib) lives in tend.present, outside core and
sync, and leans on no face, so the command and the local page can share it. And a check-in, run
as a process, loads neither the network stack, automerge nor the table renderer.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Relay, tend_env

ROOT = Path(__file__).resolve().parent.parent / "src" / "tend"  # the package, in its src layout
LAYERS = ("core", "sync", "app", "cli", "present", "ui")
BASICS = (
    "tend.core.errors",
    "tend.core.ids",
    "tend.core.clock",
    "tend.core.fsutil",
    "tend.core.gcpause",
)
PACKAGES = frozenset(
    {"tend", "tend.core", "tend.sync"}
    | {f"tend.core.{w}" for w in ("log", "crypto", "domain", "views", "trust", "journal")}
    | {"tend.app", "tend.ui"}
)
# What each wing of core may import from tend, besides the basics and itself.
WING_MAY_IMPORT = {
    "log": (),
    "crypto": ("tend.core.log",),
    "domain": ("tend.core.log",),
    "views": ("tend.core.log", "tend.core.crypto", "tend.core.domain"),
    "journal": (
        "tend.core.log",
        "tend.core.crypto",
        "tend.core.domain",
        "tend.core.views.read_model",
        "tend.core.trust.engine",  # only inside functions: recording loads no trust engine
    ),
    "trust": (
        "tend.core.log",
        "tend.core.crypto",
        "tend.core.domain",
        "tend.core.views",
        "tend.core.journal",
    ),
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (`from a import b` counts as a and a.b)."""
    package = (
        ["tend", *path.relative_to(ROOT).parent.parts]
        if path.is_relative_to(ROOT)
        else [
            "tend",
            path.parent.name,
        ]
    )
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


def source_files() -> dict[str, frozenset[str]]:
    """'core/trust/engine.py' -> the modules it imports, for every .py file of every layer."""
    return dict(_parsed_tree())


@functools.cache
def _parsed_tree() -> tuple[tuple[str, frozenset[str]], ...]:
    # Parsed once per run: every rule below reads the same tree (the source does not change
    # while the suite runs).
    return tuple(
        (path.relative_to(ROOT).as_posix(), frozenset(imported_modules(path)))
        for layer in LAYERS
        for path in sorted((ROOT / layer).rglob("*.py"))
    )


def under(prefix: str, module: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def importers(prefix: str, files: dict[str, frozenset[str]] | None = None) -> set[str]:
    """Files that import `prefix` or anything under it."""
    files = source_files() if files is None else files
    return {name for name, modules in files.items() if any(under(prefix, m) for m in modules)}


def tend_imports_outside(files: dict[str, frozenset[str]], allowed: tuple[str, ...]) -> set[str]:
    """'file: module' for every tend module those files import that is not among `allowed`."""
    return {
        f"{name}: {module}"
        for name, modules in files.items()
        for module in modules
        if under("tend", module)
        and module not in PACKAGES  # `from tend.core.log import header` names the package too
        and not any(under(a, module) for a in allowed)
    }


def test_the_checker_sees_every_wing_and_resolves_relative_and_from_imports(
    tmp_path: Path,
) -> None:
    files = source_files()
    assert {
        "core/journal/__init__.py",
        "core/domain/automerge_export.py",
        "cli/main.py",
        "present/report_page.py",
    } <= set(files)
    assert "tend.core.errors" in files["cli/main.py"]
    # a function-level import
    assert "tend.core.domain.automerge_export" in files["core/views/export.py"]
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
    sample_files = {"x": frozenset({"tend.core.log.header", "tend.sync.client"})}
    assert tend_imports_outside(sample_files, BASICS) == {
        "x: tend.core.log.header",
        "x: tend.sync.client",
    }


@pytest.mark.parametrize("forbidden", ["aiohttp", "asyncio", "tend.sync", "tend.cli"])
def test_core_imports_no_network_event_loop_sync_or_cli(forbidden: str) -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("core/")}
    assert importers(forbidden, files) == set()


def test_the_basics_import_nothing_else_of_tend() -> None:
    basics = {f"core/{m.rsplit('.', 1)[1]}.py" for m in BASICS}
    files = {k: v for k, v in source_files().items() if k in basics}
    assert set(files) == basics
    assert tend_imports_outside(files, BASICS) == set()


@pytest.mark.parametrize("wing", sorted(WING_MAY_IMPORT))
def test_each_wing_leans_only_on_the_wings_below_it(wing: str) -> None:
    files = {k: v for k, v in source_files().items() if k.startswith(f"core/{wing}/")}
    assert files, wing
    allowed = (*BASICS, f"tend.core.{wing}", *WING_MAY_IMPORT[wing])
    assert tend_imports_outside(files, allowed) == set()


def test_the_views_are_pure_over_items_and_never_reach_the_journal_or_trust() -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("core/views/")}
    assert importers("tend.core.journal", files) | importers("tend.core.trust", files) == set()


@pytest.mark.parametrize(
    ("part", "forbidden"),
    [
        # The mapper is pure given its keys: no store, no cache, no roster.
        ("core/journal/mapper.py", ("tend.core.log.store", "tend.core.trust", "tend.core.journal")),
        # The keyring holds keys and saves them: it neither reads entries nor asks the roster.
        ("core/journal/keyring.py", ("tend.core.domain", "tend.core.trust", "tend.core.views")),
    ],
)
def test_the_journals_mapper_and_keyring_stay_apart_from_what_they_do_not_need(
    part: str, forbidden: tuple[str, ...]
) -> None:
    modules = source_files()[part]
    assert {m for m in modules if any(under(f, m) for f in forbidden)} == set()


def test_the_relay_imports_only_the_log_wing_the_basics_and_the_protocol() -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("sync/relay/")}
    assert {"sync/relay/app.py", "sync/relay/session.py", "sync/relay/store_pg.py"} <= set(files)
    assert not [k for k in source_files() if k.startswith("sync/relay") and k not in files]
    allowed = (
        *BASICS,
        "tend.core.log",
        "tend.sync.protocol",
        "tend.sync.batching",
        "tend.sync.relay",
    )
    assert tend_imports_outside(files, allowed) == set()


@pytest.mark.parametrize("forbidden", ["asyncio", "aiohttp"])
def test_the_sync_protocol_is_sans_io(forbidden: str) -> None:
    assert forbidden not in {m.split(".")[0] for m in source_files()["sync/protocol.py"]}


@pytest.mark.parametrize(
    ("library", "homes"),
    [
        ("automerge", {"core/domain/automerge_export.py"}),
        ("spake2", {"core/crypto/pake.py"}),
        ("argon2", {"core/crypto/passphrase.py"}),
        ("matplotlib", {"present/report_charts.py"}),
    ],
)
def test_each_library_with_a_say_over_format_or_security_has_one_home(
    library: str, homes: set[str]
) -> None:
    assert importers(library) == homes


def test_only_the_crypto_wing_and_the_public_key_verifier_import_cryptography() -> None:
    outside = {f for f in importers("cryptography") if not f.startswith("core/crypto/")}
    assert outside == {"core/log/authorship.py"}


def test_the_public_key_verifier_imports_no_secret_key_or_cipher() -> None:
    # core/log/authorship.py is what the relay may use: Ed25519 verification, nothing that seals
    # or opens.
    crypto = {m for m in source_files()["core/log/authorship.py"] if m.startswith("cryptography")}
    assert crypto <= {
        "cryptography.exceptions",
        "cryptography.exceptions.InvalidSignature",
        "cryptography.hazmat.primitives.asymmetric.ed25519",
        "cryptography.hazmat.primitives.asymmetric.ed25519.Ed25519PublicKey",
    }


# What the command may use besides the application layer: the vocabulary it parses and shows,
# the view types it renders, the passphrase's lock it asks for, and the types of what sync
# reports. Never the journal's insides, the trust engine, the log or the pairing flows: what a
# person can do lives in tend/app, where the coming page finds it too.
CLI_MAY_IMPORT = (
    "tend.__version__",
    "tend.app",
    "tend.cli",
    "tend.present",
    *BASICS,
    "tend.core.domain.events",
    "tend.core.domain.validate",
    "tend.core.domain.codec",
    "tend.core.views",
    "tend.core.crypto.passphrase",
    "tend.core.crypto.keystore",  # the unlock agent reads which device file is locked
    "tend.core.journal.Journal",  # the type, to pass it on
    "tend.sync.client",  # the report of a sync and its errors, as types
    "tend.sync.relay",  # `tend relay serve`: the relay's own process set-up
    "tend.ui.server",  # `tend ui`: starts the page, which is a face of its own
)
# The demo plays both partners and a relay in one process, as a test would.
CLI_SCRIPTS = {"cli/demo.py"}


# What the page may use besides the application layer: the vocabulary it shows and the views'
# data types, the Journal type to pass on, and the basics. Never crypto, the log, the trust
# engine or the sync internals: whatever the page does, the command can do through tend.app.
UI_MAY_IMPORT = (
    "tend.app",
    "tend.ui",
    *BASICS,
    "tend.core.domain.events",
    "tend.core.views",
    "tend.core.journal.Journal",
)


def test_the_page_is_a_thin_shell_over_the_application_layer() -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("ui/")}
    assert {"ui/pages/base.py", "ui/guard.py", "ui/server.py"} <= set(files)
    assert tend_imports_outside(files, UI_MAY_IMPORT) == set()


@pytest.mark.parametrize("layer", ["core/", "sync/", "app/", "present/"])
def test_nothing_below_the_faces_imports_the_page(layer: str) -> None:
    files = {k: v for k, v in source_files().items() if k.startswith(layer)}
    assert importers("tend.ui", files) == set()


def test_only_the_ui_command_starts_the_page() -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("cli/")}
    assert importers("tend.ui", files) == {"cli/ui_cmd.py"}


def test_the_command_is_a_thin_shell_over_the_application_layer() -> None:
    files = {
        k: v for k, v in source_files().items() if k.startswith("cli/") and k not in CLI_SCRIPTS
    }
    assert tend_imports_outside(files, CLI_MAY_IMPORT) == set()


@pytest.mark.parametrize("forbidden", ["tend.cli", "click", "rich"])
def test_the_application_layer_knows_no_interface(forbidden: str) -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("app/")}
    assert files
    assert importers(forbidden, files) == set()


@pytest.mark.parametrize("forbidden", ["tend.present", "matplotlib"])
def test_core_and_sync_import_no_presentation(forbidden: str) -> None:
    files = {k: v for k, v in source_files().items() if k.startswith(("core/", "sync/"))}
    assert files
    assert importers(forbidden, files) == set()


@pytest.mark.parametrize("layer", ["core/", "sync/", "present/"])
def test_nothing_below_the_application_layer_reaches_up_into_it(layer: str) -> None:
    files = {k: v for k, v in source_files().items() if k.startswith(layer)}
    assert importers("tend.app", files) == set()


def test_presentation_leans_on_no_face() -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("present/")}
    assert files
    assert importers("tend.cli", files) == set()


def test_sync_imports_nothing_from_cli() -> None:
    files = {k: v for k, v in source_files().items() if k.startswith("sync/")}
    assert importers("tend.cli", files) == set()


RUN_IN_A_FRESH_PROCESS = """
import json, sys
from tend.cli.main import main
home, commands, watched = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
codes = [main(["--home", home, *command]) for command in commands]
print(json.dumps({"codes": codes, "loaded": sorted(m for m in watched if m in sys.modules)}))
"""


def run_fresh(home: Path, commands: list[list[str]], watched: tuple[str, ...]) -> dict[str, object]:
    """Run commands in one new Python process: their exit codes, and which watched modules
    they loaded."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_IN_A_FRESH_PROCESS, str(home), json.dumps(commands), *watched],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=tend_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


INIT = ["init", "--name", "Sam"]
CHECKIN = ["checkin", "--day", "rest"]


def test_init_and_checkin_load_no_network_automerge_or_tables(tmp_path: Path) -> None:
    heavy = ("aiohttp", "automerge", "rich", "asyncio", "tend.sync")
    assert run_fresh(tmp_path / "home", [INIT, CHECKIN], heavy) == {"codes": [0, 0], "loaded": []}


def test_a_checkin_records_without_loading_the_trust_engine(tmp_path: Path) -> None:
    # Recording needs the keyring and the mapper, never the read side's roster: the journal
    # imports the trust engine only inside the functions that read (core/journal/reading.py).
    home, watched = tmp_path / "home", ("tend.core.trust.engine",)
    assert run_fresh(home, [INIT], watched)["codes"] == [0]
    assert run_fresh(home, [CHECKIN], watched) == {"codes": [0], "loaded": []}


def test_today_loads_no_network_comparison_report_or_charts(tmp_path: Path) -> None:
    heavy = (
        "aiohttp",
        "automerge",
        "matplotlib",
        "tend.sync",
        "tend.present",
        "tend.core.views.compare",
        "tend.core.views.report",
    )
    found = run_fresh(tmp_path / "home", [INIT, ["today"]], heavy)
    assert found == {"codes": [0, 0], "loaded": []}


def test_a_sync_with_nothing_new_loads_no_aiohttp_pairing_views_or_unused_helpers(
    tmp_path: Path, relay: Relay
) -> None:
    # Every `tend sync` is a new process: what it imports is most of what it takes.
    home, sync = tmp_path / "home", ["sync", "--relay", relay.url]
    assert run_fresh(home, [INIT, sync], ())["codes"] == [0, 0]
    watched = (
        "aiohttp",
        "automerge",
        "rich",
        "difflib",
        "tend.core.trust.pairing",
        "tend.core.views.projections",
        "tend.sync.pairing_flow",
        "tend.cli.unlock_agent",
        "tend.ui",
    )
    assert run_fresh(home, [sync], watched) == {"codes": [0], "loaded": []}


def test_a_sync_with_no_link_pending_loads_no_pairing_code(tmp_path: Path) -> None:
    # Every `tend sync` starts a process: the pairing exchange (spake2) is for a link pending.
    watched = ("spake2", "tend.sync.pairing_flow", "tend.core.crypto.pake")
    found = run_fresh(tmp_path / "home", [INIT, ["sync", "--relay", "http://127.0.0.1:9"]], watched)
    assert found["codes"] == [0, 1] and found["loaded"] == [], found  # 1: no relay there
