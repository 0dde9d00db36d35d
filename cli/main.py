"""The `tend` command: a thin shell that turns every TendError into one line and an exit code.

Exit codes: 0 ok, 1 user error (one line), 2 usage, 3 integrity problem (tampered or corrupt).
Commands that do not sync import neither aiohttp nor automerge nor rich until they need them,
so recording a check-in stays quick as a whole process.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import click

from tend import __version__
from tend.cli.app import App
from tend.core.errors import TendError

EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 88})
@click.option("--home", type=click.Path(path_type=Path, file_okay=False), envvar="TEND_HOME",
              help="Where this device's journal lives (env TEND_HOME; default: the platform's "
                   "data directory).")
@click.version_option(__version__, prog_name="tend")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """tend: a private journal for two partners, kept on your own devices.

    Record small things (check-ins, small wins, thank-yous, rest days), then look back
    together. Everything is encrypted on this device; nothing needs a network.
    """
    app = App(home)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _register() -> None:
    from tend.cli import admin_cmds, look_cmds, record_cmds

    for module in (admin_cmds, record_cmds, look_cmds):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="tend", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code or 0)
    except click.UsageError as e:
        e.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("tend: stopped; nothing was changed", err=True)
        return 1
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except TendError as e:
        click.echo(f"tend: {e}", err=True)
        return e.exit_code
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            click.echo("tend: the disk is full; nothing was recorded", err=True)
        else:
            click.echo(f"tend: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""),
                       err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("tend: interrupted", err=True)
        return 130
    return 0


def entry_point() -> None:
    sys.exit(main())
