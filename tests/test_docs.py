"""docs/cli.md is generated from the commands' own --help, and the README's commands are real.

docs/cli.md has two parts. Above the marker line: prose people write (exit codes, environment,
the JSON shapes). Below it: every command's --help, generated here by walking the click command
tree. Change a command's help in cli/*.py, then regenerate with:

    python tests/test_docs.py
"""

from __future__ import annotations

import re
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "cli.md"
MARKER = "<!-- generated from tend --help: edit cli/*.py, then run: python tests/test_docs.py -->"
HELP_WIDTH = 86  # what `tend --help` prints on a terminal 88 columns wide or wider


def render_reference() -> str:
    """The generated part of docs/cli.md: the marker, then each command's help, tree order."""
    from tend.cli.main import cli

    out = [MARKER, ""]

    def walk(command: click.Command, ctx: click.Context) -> None:
        out.extend(
            [f"## `{ctx.command_path}`", "", "```text", command.get_help(ctx).rstrip(), "```", ""]
        )
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, name
                walk(sub, click.Context(sub, info_name=name, parent=ctx))

    settings = dict(cli.context_settings, terminal_width=HELP_WIDTH)
    walk(cli, click.Context(cli, info_name="tend", **settings))
    return "\n".join(out)


def split_cli_md(text: str) -> tuple[str, str]:
    """(the prose above the marker line, the marker line and everything below it)."""
    prose, found, generated = text.partition(MARKER + "\n")
    assert found, f"{CLI_MD.name} has lost its marker line: {MARKER}"
    return prose, MARKER + "\n" + generated


def regenerate() -> None:
    prose, _old = split_cli_md(CLI_MD.read_text())
    CLI_MD.write_text(prose + render_reference())


def sh_block(readme: str, heading: str) -> str:
    """The first ```sh block under a README heading, as one line."""
    section = readme.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```sh\n(.*?)\n```", section, re.DOTALL)
    assert found, f"no sh block under {heading}"
    return found.group(1).strip()


# --- docs/cli.md -----------------------------------------------------------------------------


def test_cli_md_below_its_marker_is_exactly_the_generated_help() -> None:
    _prose, generated = split_cli_md(CLI_MD.read_text())
    assert generated == render_reference(), (
        "docs/cli.md is stale: run python tests/test_docs.py and commit the result"
    )


def test_the_reference_has_a_section_for_every_command_and_subcommand() -> None:
    from tend.cli.main import LAZY_COMMANDS

    headings = set(re.findall(r"^## `(.+)`$", render_reference(), re.MULTILINE))
    assert {f"tend {name}" for name in LAZY_COMMANDS} | {"tend"} <= headings
    for nested in ("tend joy add", "tend joy let-go", "tend goal week", "tend care swap"):
        assert nested in headings
    assert "--energy INTEGER" in render_reference()


def test_cli_md_prose_documents_exactly_the_keys_of_an_event_object() -> None:
    from tend.core.domain.events import Event, Gratitude
    from tend.core.ids import EventId, LogId, PersonId
    from tend.core.views.export import event_record

    prose, _generated = split_cli_md(CLI_MD.read_text())
    table = prose.split("### Event objects", 1)[1].split("\n\n#", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    ev = Event(
        id=EventId(bytes(16)),
        author=PersonId(bytes(16)),
        device=LogId(bytes(16)),
        hlc=1,
        wall_ms=0,
        local_date="2026-03-14",
        tz_minutes=0,
        body=Gratitude(text="thank you"),
    )
    assert documented == set(event_record(ev, {}))


def test_cli_md_prose_names_the_exit_codes_and_every_environment_variable_tend_reads() -> None:
    prose, _generated = split_cli_md(CLI_MD.read_text())
    for code in ("0", "1", "2", "3"):
        assert f"| {code} |" in prose
    source = "\n".join(
        p.read_text()
        for layer in ("cli", "core", "sync")
        for p in (ROOT / "src" / "tend" / layer).glob("*.py")
    )
    read = set(re.findall(r"\b(TEND_[A-Z_]+)\b", source))
    assert {"TEND_HOME", "TEND_PASSPHRASE"} <= read
    assert [name for name in sorted(read) if f"| `{name}` |" not in prose] == []


# --- README ----------------------------------------------------------------------------------


def test_the_readme_test_command_is_the_one_ci_runs_verbatim() -> None:
    command = sh_block((ROOT / "README.md").read_text(), "## Run the tests")
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines


def test_the_readme_try_it_command_ends_with_tend_demo() -> None:
    command = sh_block((ROOT / "README.md").read_text(), "## Try it")
    assert command.endswith("&& tend demo")


def test_the_readme_shows_the_page_right_after_the_demo() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", section, re.DOTALL)
    assert len(blocks) >= 2 and blocks[0].strip().endswith("&& tend demo")
    shown = [line.split("#")[0].strip() for line in blocks[1].splitlines()]
    assert shown[:2] == ["tend demo --ui", "tend ui"], shown


def test_every_tend_command_the_readme_shows_exists() -> None:
    from tend.cli.main import LAZY_COMMANDS

    readme = (ROOT / "README.md").read_text()
    blocks = "\n".join(re.findall(r"```sh\n(.*?)\n```", readme, re.DOTALL))
    shown = re.findall(r"(?:^|&& )tend ([a-z-]+)", blocks, re.MULTILINE)
    assert shown, "the README shows no tend commands"
    assert [name for name in shown if name not in LAZY_COMMANDS] == []


if __name__ == "__main__":
    regenerate()
    print(f"wrote {CLI_MD.relative_to(ROOT)}")


def test_every_test_the_threat_model_cites_exists() -> None:
    """A claim in docs/security.md is backed by a named test; a test that is gone is a claim
    that is gone, so this fails until the page or the test is put right."""
    import ast
    import re

    text = (ROOT / "docs" / "security.md").read_text()
    cited = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(cited) >= 30, "the threat model should cite its tests"
    missing = []
    for path, name in sorted(cited):
        source = ROOT / path
        tree = ast.parse(source.read_text() if source.exists() else "")
        defined = {
            n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []
