"""What ships: the wheel and the sdist hold the whole package, its licence and its types, and
the sdist carries what its tests need. The README's test command installs the wheel pip builds
from the checkout and runs the whole suite against it; in .ci/run a test checks that it is the
wheel that runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import tend

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def _packages_in_tree() -> set[str]:
    return {".".join(init.parent.relative_to(SRC).parts) for init in SRC.rglob("__init__.py")}


def _build(kind: str, out: Path) -> Path:
    """Build with the setuptools of this environment (no download, no isolation)."""
    call = f"from setuptools import build_meta as b; print(b.build_{kind}({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", call], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not (SRC / "tend" / "__init__.py").exists():
        pytest.skip("no checkout here to build from (the suite runs from an installed copy)")
    out = tmp_path_factory.mktemp("dist")
    return _build("wheel", out), _build("sdist", out)


def test_the_wheel_holds_every_package_of_the_tree_its_licence_and_its_types(
    built: tuple[Path, Path],
) -> None:
    wheel, _sdist = built
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {str(Path(n).parent).replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert _packages_in_tree() <= shipped, "a package of the tree is missing from the wheel"
    assert {"tend", "tend.core", "tend.sync", "tend.cli"} <= shipped
    assert "tend/py.typed" in names
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n for n in names)
    assert not any(n.startswith(("tests/", "bench/")) for n in names), "the wheel ships tests"


def test_the_wheel_carries_every_template_and_asset_of_the_page(built: tuple[Path, Path]) -> None:
    wheel, _sdist = built
    names = set(zipfile.ZipFile(wheel).namelist())
    page = SRC / "tend" / "ui"
    assets = [p for d in ("templates", "static") for p in (page / d).iterdir() if p.is_file()]
    assert len(assets) > 10
    missing = {p.relative_to(SRC).as_posix() for p in assets} - names
    assert missing == set(), "the page would be served without these"


def test_the_sdist_carries_the_tests_their_vectors_and_the_docs(built: tuple[Path, Path]) -> None:
    _wheel, sdist = built
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for needed in (
        "LICENSE",
        "pyproject.toml",
        "src/tend/__init__.py",
        "tests/conftest.py",
        "tests/vectors/entry.json",
        "docs/cli.md",
        "docs/security.md",
    ):
        assert needed in names, f"the sdist lacks {needed}"


def test_the_suite_runs_against_the_installed_wheel_when_ci_says_so() -> None:
    if os.environ.get("TEND_TEST_AGAINST_WHEEL") != "1":
        pytest.skip("set TEND_TEST_AGAINST_WHEEL=1 (as .ci/run does) where tend is a wheel")
    where = Path(tend.__file__).resolve()
    assert "site-packages" in where.parts, f"tend was imported from {where}, not the wheel"
    assert SRC not in where.parents


def test_the_wheel_asks_for_matplotlib_and_asyncpg_only_with_their_extras(
    built: tuple[Path, Path],
) -> None:
    wheel, _sdist = built
    archive = zipfile.ZipFile(wheel)
    [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [
        line.split(":", 1)[1].strip()
        for line in archive.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]

    def wanted(package: str) -> list[str]:
        return [r for r in requires if r.lower().startswith(package)]

    for package, extra in (("matplotlib", "report"), ("asyncpg", "relay-pg")):
        assert all("extra ==" in r for r in wanted(package)), f"{package} in every install"
        assert any(f'extra == "{extra}"' in r for r in wanted(package)), f"no tend[{extra}]"
    assert any("extra" not in r for r in wanted("aiohttp")), "the relay's own needs are base"


def _without(tmp_path: Path, *packages: str) -> dict[str, str]:
    """An environment in which `packages` cannot be imported, as if their extra were not
    installed: a folder first on the path whose stand-ins refuse to load."""
    from tests.conftest import tend_env

    hidden = tmp_path / "hidden"
    for package in packages:
        (hidden / package).mkdir(parents=True)
        (hidden / package / "__init__.py").write_text(f"raise ImportError('{package} hidden')\n")
    return tend_env({"PYTHONPATH": str(hidden)})


def test_without_the_report_extra_tend_report_says_so_in_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    from tests.conftest import TendCLI

    sam = TendCLI(tmp_path / "sam")
    sam.ok("init", "--name", "Sam")
    sam.ok("checkin", "--energy", "4")
    out = tmp_path / "report.html"
    env = _without(tmp_path, "matplotlib")
    done = subprocess.run(
        sam.argv("report", "--out", str(out)),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "tend[report]" in done.stderr
    assert not out.exists()
    today = subprocess.run(
        sam.argv("today"), capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert today.returncode == 0, today.stderr  # the journal itself needs no extra


def test_without_the_relay_pg_extra_a_relay_on_postgresql_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    from tests.conftest import TendCLI, free_port

    relay = TendCLI(tmp_path / "relay")
    done = subprocess.run(
        relay.argv(
            "relay", "serve", "--port", str(free_port()), "--db", "postgresql://127.0.0.1:1/x"
        ),
        capture_output=True,
        text=True,
        env=_without(tmp_path, "asyncpg"),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "tend[relay-pg]" in done.stderr
