"""One exception tree: every exception class tend defines derives from TendError and is drawn in
core/errors.py's docstring, under the parent it really has."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import tend
from tend.core import errors


def _tend_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(tend.__path__, "tend."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                assert found.setdefault(name, value) is value, f"two exceptions named {name}"
    return found


def _drawn() -> dict[str, str]:
    """Each name in the docstring's tree, with the name drawn as its parent."""
    assert errors.__doc__
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in errors.__doc__.splitlines():
        match = re.match(r"^(\s*)(?:[│ ]*[├└]── )?([A-Z]\w+)(?:\s|$)", line)
        if not match or not line.startswith("    "):
            continue
        depth = line.find(match.group(2))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(2)] = stack[-1][1] if stack else ""
        stack.append((depth, match.group(2)))
    return parents


def test_every_tend_exception_is_a_tend_error_drawn_under_its_real_parent() -> None:
    found = _tend_exceptions()
    drawn = _drawn()
    assert len(found) >= 30, sorted(found)
    outside = sorted(n for n, c in found.items() if not issubclass(c, errors.TendError))
    assert outside == [], f"not under TendError: {outside}"
    missing = sorted(set(found) - set(drawn))
    assert missing == [], f"not drawn in core/errors.py: {missing}"
    for name, parent in drawn.items():
        if parent:
            cls = found[name]
            tend_bases = [b.__name__ for b in cls.__bases__ if issubclass(b, errors.TendError)]
            assert tend_bases == [parent], f"{name} is drawn under {parent}, derives {tend_bases}"
