"""What ships: the wheel and the sdist hold the whole package, its licence and its types, and
the sdist carries what its tests need. .ci/run also runs the whole suite against the wheel,
installed alone in a venv of its own; there, the last test checks that it is the wheel that
runs."""

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
