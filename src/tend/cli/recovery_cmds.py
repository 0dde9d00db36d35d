"""Your recovery phrase: see it once; bring your journal back with it on a new device."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from tend.cli import jsonview
from tend.cli.app import App
from tend.cli.text import safe
from tend.cli.unlock import passphrase_option
from tend.core.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

    from tend.core.ids import LogId
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
        from tend.core.trust import recovery as phrases

        click.echo(jsonview.dumps({"phrase": phrases.show_once(app.journal())}))
        return
    print_phrase(app.journal())


def print_phrase(journal: Journal) -> None:
    """Print the phrase in numbered rows, then erase it from this device."""
    from tend.core.trust import recovery as phrases

    words = phrases.show_once(journal).split()
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

    from tend.core.crypto import keys
    from tend.core.journal import Journal
    from tend.core.log import escrow
    from tend.core.trust import recovery as phrases
    from tend.core.views import projections
    from tend.sync import client, mailbox

    if Journal.exists(app.home):
        raise UserError(f"there is already a journal in {app.home}")
    person = keys.PersonSecrets.from_root(phrases.root_of(read_phrase()))
    locator = escrow.locator_of(person.identity().encode())
    blob = asyncio.run(mailbox.get_escrow(relay, locator))
    if blob is None:
        raise UserError(
            f"the relay at {relay} holds no recovery record for that phrase (another relay, or "
            "your devices never synced there)"
        )
    found = phrases.open_escrow(person, blob)
    from tend.cli.unlock import new_lock

    lock = new_lock(app.home) if use_passphrase else None
    journal = phrases.restore(app.home, person, found, relay=relay, label=label, lock=lock)
    try:
        report = asyncio.run(client.sync_once(journal, relay))
        journal.restoring = None
        retired = phrases.retire_other_devices(journal)
    except BaseException:
        # The phrase's key for following rotations lives only in this process: a restore that
        # did not finish its first sync and the retirement is undone whole, to be run again.
        journal.close()
        _undo_restore(app.home)
        raise
    if retired:
        asyncio.run(client.sync_once(journal, relay))  # the others learn it now, not later
    name = projections.names(journal.items()).get(journal.device.person, "you")
    click.echo(f"Welcome back, {safe(name)}: {report.downloaded} entries restored from the relay.")
    if name_check and name_check.strip().lower() != name.strip().lower():
        click.echo(
            f"Note: the journal knows you as {safe(name)}, not {safe(name_check)}.", err=True
        )
    _say_retired(journal, retired)
    _say_who_else(journal)


def _undo_restore(home: Path) -> None:
    from tend.core.crypto import keystore
    from tend.core.journal import DB_NAME

    for name in (keystore.FILE_NAME, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        (home / name).unlink(missing_ok=True)


def _say_retired(journal: Journal, retired: list[LogId]) -> None:
    if not retired:
        return
    roster = journal.roster()
    click.echo("Your other devices were retired, so a lost one can read nothing new:")
    for device in retired:
        member = roster.members.get(device)
        label = safe(member.label) if member and member.label else "(no label)"
        click.echo(f"  {device.hex()[:8]}  {label}")
    click.echo("If you still have one of them, bring it back with: tend invite --own-device")


def _say_who_else(journal: Journal) -> None:
    """Who else is in the journal, with the safety code to compare with each in person."""
    from tend.core.log.identity import person_of
    from tend.core.trust import lost, pairing
    from tend.core.views import projections

    people = lost.people_present(journal)
    names = projections.names(journal.items())
    for identity in people:
        person = person_of(identity)
        code = pairing.safety_code(journal.device.space, journal.device.identity, identity)
        click.echo(f"In the journal with you: {safe(names.get(person, 'your partner'))}.")
        click.echo(f"  Compare this safety code with them in person: {code}")
    if len(people) > 1:
        click.echo(
            "More than one other person is in this journal: if you did not expect that, look "
            "at tend devices before you write anything.",
            err=True,
        )
