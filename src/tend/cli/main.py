"""The `tend` command: a thin shell that turns every TendError into one line and an exit code.

Exit codes: 0 ok, 1 user error (one line), 2 usage, 3 integrity problem (tampered or corrupt).
Commands that do not sync import neither aiohttp nor automerge nor rich until they need them,
so recording a check-in stays quick as a whole process.
"""

from __future__ import annotations

import errno
import importlib
import sys
from pathlib import Path

import click

from tend import __version__
from tend.cli.app import App
from tend.cli.next_step import error_line
from tend.cli.text import safe
from tend.core.errors import TendError

EXIT_USAGE = 2


# Which module defines each top-level command. Commands are imported only when run (or when
# help lists them), so `tend checkin` never pays for the table, chart or export code.
LAZY_COMMANDS = {
    "init": "admin_cmds:init",
    "verify": "admin_cmds:verify",
    "export": "admin_cmds:export_cmd",
    "devices": "admin_cmds:devices",
    "demo": "admin_cmds:demo",
    "doctor": "admin_cmds:doctor",
    "lock": "admin_cmds:lock_cmd",
    "week-turns": "admin_cmds:week_turns",
    "checkin": "record_cmds:checkin",
    "milestone": "record_cmds:milestone",
    "celebrate": "record_cmds:celebrate",
    "gratitude": "record_cmds:gratitude",
    "retract": "record_cmds:retract",
    "note": "record_cmds:note",
    "share": "record_cmds:share",
    "joy": "together_cmds:joy",
    "calendar": "together_cmds:calendar",
    "goal": "together_cmds:goal",
    "ritual": "keeping_cmds:ritual",
    "partnership": "practice_cmds:partnership",
    "comfort": "record_cmds:comfort",
    "boundary": "keeping_cmds:boundary",
    "care": "together_cmds:care",
    "private-default": "record_cmds:private_default",
    "today": "look_cmds:today",
    "week": "look_cmds:week",
    "month": "look_cmds:month",
    "compare": "look_cmds:compare",
    "timeline": "look_cmds:timeline",
    "replay": "look_cmds:replay",
    "report": "report_cmd:report",
    "sync": "sync_cmds:sync",
    "invite": "sync_cmds:invite",
    "join": "sync_cmds:join",
    "relay": "relay_cmds:relay",
    "recovery": "recovery_cmds:recovery",
    "anchor": "practice_cmds:anchor",
    "learn": "practice_cmds:learn",
    "ask": "practice_cmds:ask",
    "reached-out": "practice_cmds:reached_out",
    "ui": "ui_cmd:ui",
}


class LazyGroup(click.Group):
    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0])
        if ctx.token_normalize_func is not None:
            name = ctx.token_normalize_func(name)
        if self.get_command(ctx, name) is None and not name.startswith("-"):
            import difflib  # only for a mistyped command

            close = difflib.get_close_matches(name, LAZY_COMMANDS, n=1, cutoff=0.6)
            hint = f"Did you mean 'tend {close[0]}'?" if close else "'tend --help' lists them."
            ctx.fail(f"No such command '{name}'. {hint}")
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(LAZY_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"tend.cli.{module_name}")
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={
        "help_option_names": ["-h", "--help"],
        "max_content_width": 88,
        # Words people type are not case-sensitive: `--day Rest`, `tend Today`.
        "token_normalize_func": str.lower,
    },
)
@click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="TEND_HOME",
    help="Where this device's journal lives (env TEND_HOME; default: the platform's "
    "data directory).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Let sync, pairing and recovery reach a relay on another machine over plain http:// "
    "(its capability then travels in clear): only on a network you trust.",
)
@click.version_option(__version__, prog_name="tend")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, insecure: bool) -> None:
    """tend: a private journal for two partners, kept on your own devices.

    Record small things (check-ins, small wins, thank-yous, rest days), then look back
    together. Everything is encrypted on this device; nothing needs a network.
    """
    if insecure:
        from tend.app.settings import allow_plain_relays

        allow_plain_relays()
    app = App(home)
    ctx.obj = app
    ctx.call_on_close(app.close)


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="tend", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code or 0)
    except click.UsageError as e:
        e.show()
        fix = usage_fix(e)
        if fix:
            click.echo(fix, err=True)
        return EXIT_USAGE
    except click.Abort:
        click.echo("tend: stopped; nothing was changed", err=True)
        return 1
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except TendError as e:
        click.echo(f"tend: {safe(error_line(e))}", err=True)
        return e.exit_code
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            click.echo("tend: the disk is full; nothing was recorded", err=True)
        else:
            click.echo(
                f"tend: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""), err=True
            )
        return 1
    except KeyboardInterrupt:
        click.echo("tend: interrupted", err=True)
        return 130
    return 0


def usage_fix(error: click.UsageError) -> str | None:
    """The line after Click's usage block that says how to put it right, where Click's own
    message does not already (a choice lists its words; an unknown command suggests one)."""
    command = error.ctx.command_path if error.ctx else "tend"
    if isinstance(error, click.MissingParameter):
        return f"To fix: add it; '{command} -h' shows each option with an example."
    if isinstance(error, click.NoSuchOption) and not error.possibilities:
        return f"To fix: use one of the options '{command} -h' lists."
    if "unexpected extra argument" in error.message:
        return 'To fix: put words with spaces in quotes, e.g. tend gratitude "for the soup".'
    return None


def entry_point() -> None:
    sys.exit(main())
