"""Core and sync say what happened; the command adds what to run next (cli/next_step.py).

No string in core/ or sync/ names a `tend` command (read with `ast`: docstrings and comments
may), and an error that carries a next step reads, in the command, word for word as it did
when core named the command itself.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tend.app import home, pairing
from tend.cli.main import LAZY_COMMANDS, main
from tend.cli.next_step import WORDS, error_line, said
from tend.core.errors import NextStep, TendError, UnreadableEntry, UserError
from tend.core.journal import Journal
from tend.core.trust.lost import declare_lost
from tend.sync.client import RelayUnavailable
from tend.sync.pairing_flow import WrongCodeTried

SRC = Path(__file__).resolve().parent.parent / "src" / "tend"
NAMES = "|".join(map(re.escape, sorted(LAZY_COMMANDS)))
COMMAND = re.compile(rf"\btend (?:{NAMES})\b")  # "tend sync", not "tend writes"


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string nodes that are docstrings (of a module, class or function)."""
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, owners) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def commands_named(path: Path) -> list[str]:
    """'file:line: text' for each string in `path`, not a docstring, that names a command."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    return [
        f"{path.name}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and COMMAND.search(node.value)
    ]


def test_the_checker_finds_a_command_in_a_string_but_not_in_a_docstring_or_comment(
    tmp_path: Path,
) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""`tend sync` in the module docstring."""\n'
        "def f(url: str) -> str:\n"
        '    """Like `tend verify`."""\n'
        "    # run: tend verify\n"
        '    told = f"the relay at {url} went away; run tend sync again"\n'
        '    return told + "; start one with: tend init --name NAME" + "tend writes it"\n'
    )
    assert [line.split(": ", 1)[0] for line in commands_named(sample)] == [
        "sample.py:5",
        "sample.py:6",
    ]


@pytest.mark.parametrize("layer", ["core", "sync", "app"])
def test_no_message_below_the_command_names_a_tend_command(layer: str) -> None:
    files = sorted((SRC / layer).rglob("*.py"))
    assert files
    assert [found for path in files for found in commands_named(path)] == []


def test_the_command_has_words_for_every_next_step() -> None:
    assert set(WORDS) == set(NextStep)
    assert said("what happened", None) == "what happened"


def test_no_journal_yet_reads_in_the_command_as_it_always_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "nobody"
    assert main(["--home", str(home), "today"]) == 1
    assert capsys.readouterr().err == (
        f"tend: no journal in {home} yet; start one with: tend init --name NAME\n"
    )


def test_marking_ones_own_device_lost_reads_as_it_always_has(tmp_path: Path) -> None:
    with Journal.create(tmp_path / "sam", "Sam") as sam, pytest.raises(UserError) as raised:
        declare_lost(sam, sam.device.log)
    assert str(raised.value) == "that device is yours"
    assert error_line(raised.value) == (
        "that device is yours: remove it with tend devices remove, or restore from your "
        "recovery phrase"
    )


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            UnreadableEntry("log 1a2b3c4d seq 4", "cannot be opened"),
            "log 1a2b3c4d seq 4: cannot be opened; run: tend verify",
        ),
        (
            RelayUnavailable(
                "the relay at http://r went away mid-sync", next_step=NextStep.SYNC_AGAIN
            ),
            "the relay at http://r went away mid-sync; run tend sync again (nothing was lost)",
        ),
        (
            WrongCodeTried(
                "someone tried to join with a different code; the invitation is closed and "
                "nothing was shared",
                next_step=NextStep.INVITE_AGAIN,
            ),
            "someone tried to join with a different code; the invitation is closed and nothing "
            "was shared: run tend invite again",
        ),
        (
            UserError(pairing.THIRD_PERSON, next_step=NextStep.INVITE_ANOTHER_PERSON),
            "this journal already has two people in it; a third would read everything either "
            "of you shares, from the very beginning. If you both want that: tend invite "
            "--another-person (or --own-device for another device of yours)",
        ),
        (
            UserError(home.STILL_JOINING, next_step=NextStep.SYNC_LATER),
            "this device joined with a link and waits for the inviting device to let it in "
            "(nothing can be written here before that): run tend sync later",
        ),
    ],
)
def test_each_next_step_reads_in_the_command_as_it_always_has(error: TendError, line: str) -> None:
    assert COMMAND.search(str(error)) is None
    assert error_line(error) == line


def test_a_held_link_note_reads_as_it_always_has() -> None:
    note = said(
        "Someone answered your link (phone) to replace a lost person",
        NextStep.REMOVE_REPLACED_DEVICES,
    )
    assert note == (
        "Someone answered your link (phone) to replace a lost person; their device comes in "
        "once every old device of that person is removed (tend devices remove ID), at the "
        "sync after that."
    )
