"""Your recovery phrase: see it once; bring your journal back with it on a new device."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from tend.cli import jsonview
from tend.cli.app import App
from tend.cli.text import safe
from tend.cli.unlock import passphrase_option

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tend.app.recovery import Partner, Retired
    from tend.core.journal import Journal

pass_app = click.make_pass_decorator(App)


@click.group()
def recovery() -> None:
    """Your recovery phrase: see it once, or bring your journal back with it."""


@recovery.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {phrase}.")
@pass_app
def recovery_show(app: App, as_json: bool) -> None:
    """Show your recovery phrase, once. Write it down and keep it away from this device."""
    if as_json:
        from tend.app import recovery

        click.echo(jsonview.dumps({"phrase": " ".join(recovery.show_once(app.journal()))}))
        return
    print_phrase(app.journal())


def print_phrase(journal: Journal) -> None:
    """Print the phrase in numbered rows, then erase it from this device."""
    from tend.app import recovery

    words = recovery.show_once(journal)
    click.echo("Your recovery phrase, 24 words:")
    click.echo("")
    for start in range(0, len(words), 6):
        row = "  ".join(
            f"{n + 1:>2}. {w:<9}" for n, w in enumerate(words[start : start + 6], start)
        )
        click.echo("  " + row.rstrip())
    click.echo("")
    click.echo(
        "Write it down, on paper, and keep it somewhere safe: with it, and only with it, you can "
        "bring your journal back if you lose every device. This device will not show it again."
    )


def read_phrase() -> str:
    """From a terminal, asked for without echo; otherwise the first line of standard input."""
    if sys.stdin.isatty():
        entered: str = click.prompt("Your recovery phrase", hide_input=True)
        return entered
    return sys.stdin.readline()


@recovery.command("restore")
@click.option("--relay", required=True, help="The relay your journal syncs through.")
@click.option("--name-check", help="The name the journal knows you by, checked once restored.")
@click.option("--device", "label", default="", help="A label for this device, e.g. new phone.")
@passphrase_option
@pass_app
def recovery_restore(
    app: App, relay: str, name_check: str | None, label: str, use_passphrase: bool
) -> None:
    """Bring your journal back on a new device, as you, from your recovery phrase.

    The phrase is asked for on a terminal, or read from standard input. Everything comes back
    from the relay: every key, all history, your private entries."""
    import asyncio

    from tend.app import home, recovery
    from tend.cli.unlock import new_lock

    home.refuse_if_exists(app.home)
    phrase = read_phrase()
    restored = asyncio.run(
        recovery.restore(
            app.home,
            phrase,
            relay=relay,
            label=label,
            make_lock=lambda: new_lock(app.home) if use_passphrase else None,
        )
    )
    name = restored.name
    downloaded = restored.report.downloaded
    click.echo(f"Welcome back, {safe(name)}: {downloaded} entries restored from the relay.")
    if name_check and name_check.strip().lower() != name.strip().lower():
        click.echo(
            f"Note: the journal knows you as {safe(name)}, not {safe(name_check)}.", err=True
        )
    _say_retired(restored.retired)
    _say_who_else(restored.others)
    restored.journal.close()


def _say_retired(retired: Sequence[Retired]) -> None:
    if not retired:
        return
    click.echo("Your other devices were retired, so a lost one can read nothing new:")
    for device in retired:
        label = safe(device.label) if device.label else "(no label)"
        click.echo(f"  {device.device.hex()[:8]}  {label}")
    click.echo("If you still have one of them, bring it back with: tend invite --own-device")


def _say_who_else(others: Sequence[Partner]) -> None:
    """Who else is in the journal, with the safety code to compare with each in person."""
    for other in others:
        click.echo(f"In the journal with you: {safe(other.name or 'your partner')}.")
        click.echo(f"  Compare this safety code with them in person: {other.safety_code}")
    if len(others) > 1:
        click.echo(
            "More than one other person is in this journal: if you did not expect that, look "
            "at tend devices before you write anything.",
            err=True,
        )
