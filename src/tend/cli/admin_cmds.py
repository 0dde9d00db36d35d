"""Setting up, checking and exporting a journal, and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tend.cli import jsonview, text
from tend.cli.app import App, interactive
from tend.cli.next_step import error_line
from tend.cli.unlock import passphrase_option
from tend.core.errors import IntegrityError, UserError
from tend.core.ids import PersonId, short

if TYPE_CHECKING:
    from tend.app.devices import Ignored
    from tend.core.journal import Journal

pass_app = click.make_pass_decorator(App)


@click.command()
@click.option("--name", required=True, help="Your name, as your partner will see it.")
@click.option("--relay", help="Relay URL for syncing later (optional; tend works offline).")
@passphrase_option
@click.option("--device", "label", default="", help="A label for this device, e.g. phone.")
@pass_app
def init(app: App, name: str, relay: str | None, use_passphrase: bool, label: str) -> None:
    """Start a journal on this device."""
    from tend.app import home
    from tend.cli.unlock import new_lock

    home.refuse_if_exists(app.home)
    lock = new_lock(app.home, context=(name,)) if use_passphrase else None
    journal = home.start(app.home, name, lock=lock, label=label, relay=relay)
    click.echo(f"Welcome, {name}. Your journal is ready in {app.home}.")
    _offer_recovery_phrase(journal)
    journal.close()
    click.echo("Try: tend checkin --day rest   (a rest day is a whole check-in)")


def _offer_recovery_phrase(journal: Journal) -> None:
    """On a terminal, offer the phrase now; otherwise say where it is. It is shown only once."""
    from tend.cli.recovery_cmds import print_phrase

    if interactive() and click.confirm(
        "Show your recovery phrase now? It is the one way back if you lose every device",
        default=True,
    ):
        print_phrase(journal)
        return
    click.echo(
        "When you have a pen and paper: tend recovery show  (your recovery phrase, shown once)"
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")
@pass_app
def verify(app: App, as_json: bool) -> None:
    """Check every entry's chain, envelope and signature; exit 3 if any fails."""
    from tend.app import integrity

    journal = app.journal()
    total = integrity.entry_count(journal)
    if as_json or total < integrity.LARGE:
        report = integrity.verify(journal)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("Checking entries", total=total)
            report = integrity.verify(journal, lambda n: bar.advance(task, n))
    names = report.names  # not from the views: they stop at a damaged entry
    if as_json:
        click.echo(jsonview.dumps(_verify_json(report, names)))
    elif report.ok:
        click.echo(
            f"All {report.entries} entries in {report.logs} log"
            f"{'s' if report.logs != 1 else ''} check out: chains, envelopes, "
            f"signatures and who wrote them."
        )
    else:
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
    for line in _verify_notes(report, names):
        click.echo(line, err=True)
    if not report.ok:
        raise IntegrityError(
            f"{len(report.problems)} of {report.entries} entries failed verification (listed above)"
        )


def _verify_json(report: object, names: dict[PersonId, str]) -> dict[str, object]:
    from tend.app.integrity import Report

    assert isinstance(report, Report)
    return {
        "ok": report.ok,
        "entries": report.entries,
        "logs": report.logs,
        "signatures": report.signatures,
        "problems": [{"log": p.log, "seq": p.seq, "reason": p.reason} for p in report.problems],
        "ignored": [_ignored_row(i, names) for i in report.ignored],
        "removed_history": report.removed_history,
        "withheld": [
            {"log": w.log.hex(), "missing": w.missing, "seen_by": w.seen_by.hex()}
            for w in report.withheld
        ],
    }


def _verify_notes(report: object, names: dict[PersonId, str]) -> list[str]:
    from tend.app.integrity import Report

    assert isinstance(report, Report)
    lines = [f"ignored: {_ignored_row(i, names)['message']}" for i in report.ignored]
    if report.removed_history:
        lines.append(
            f"note: {report.removed_history} entries written by removed devices after their "
            "removal are kept but not shown"
        )
    lines += [
        f"withheld: {w.missing} entries of log {short(w.log)} that device {short(w.seen_by)} "
        "had seen are not here (the relay has not passed them on)"
        for w in report.withheld
    ]
    return lines


@click.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "json", "automerge"]), required=True
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="A file (markdown, json) or a folder (automerge).",
)
@pass_app
def export_cmd(app: App, fmt: str, out: Path) -> None:
    """Write the journal out in an open format. The file is readable: keep it somewhere safe."""
    from tend.app import export

    written = export.write(app.journal(), fmt, out)
    if fmt in ("json", "markdown"):
        click.echo(f"Wrote {written.entries} entries to {out}.")
    else:
        paths = written.documents
        click.echo(
            f"Wrote {len(paths)} Automerge document{'s' if len(paths) != 1 else ''} to {out}."
        )
    click.echo("This export is not encrypted; keep it somewhere only you two can reach.")


@click.group(invoke_without_command=True)
@click.pass_context
def devices(ctx: click.Context) -> None:
    """The devices that write to this journal."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(devices_list)


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys).")
@pass_app
def devices_list(app: App, as_json: bool) -> None:
    """List devices on the roster, each with the safety code to compare in person."""
    from tend.app import devices as on_roster

    roster = on_roster.roster(app.journal())
    rows = [jsonview.device(row) for row in roster.devices]
    ignored: list[dict[str, object]] = [_ignored_row(i, roster.names) for i in roster.ignored]
    if as_json:
        click.echo(jsonview.dumps({"devices": rows, "epoch": roster.epoch, "ignored": ignored}))
        return
    for row in rows:
        notes = [str(row["label"])] if row["label"] else []
        if row["this_device"]:
            notes.append("this device")
        elif row["removed"]:
            notes.append("removed")
        elif row["lost"]:
            notes.append("lost: either of you can remove it with tend devices remove ID")
        elif row["safety_code"]:
            how = "compared in person" if row["compared"] else "not yet compared in person"
            notes.append(f"safety code {row['safety_code']}, {how}")
        name = text.safe(str(row["name"] or "?"))
        click.echo(f"{str(row['id'])[:8]}  {name}  ({text.safe(', '.join(notes))})")
    for claim in ignored:
        click.echo(f"ignored: {claim['message']}", err=True)


def _ignored_row(item: Ignored, names: dict[PersonId, str]) -> dict[str, object]:
    about = names.get(item.about) if item.about else None
    message = f"{short(item.writer)} {item.issue.value}" + (f" ({about})" if about else "")
    return {
        "writer": item.writer.hex(),
        "seq": item.seq,
        "issue": item.issue.name.lower(),
        "device": item.device.hex(),
        "about": item.about.hex() if item.about else None,
        "message": text.safe(message),
    }


@devices.command("confirm")
@click.argument("device_id", required=False)
@pass_app
def devices_confirm(app: App, device_id: str | None) -> None:
    """Record that you compared the safety code with your partner, in person, and it matched.

    With no ID, every other person's code shown by tend devices; with one, that device's person."""
    from tend.app import devices as on_roster

    on_roster.confirm_compared(app.journal(), device_id)
    click.echo("Thank you. The safety code is noted as compared in person.")


@devices.command("remove")
@click.argument("device_id")
@click.option("--relay", envvar="TEND_RELAY", help="Relay to tell (default: this journal's).")
@pass_app
def devices_remove(app: App, device_id: str, relay: str | None) -> None:
    """Remove a lost or retired device of yours: it will read nothing written from now on."""
    from tend.app import devices as on_roster
    from tend.app import settings

    journal = app.journal()
    removal = on_roster.remove(journal, device_id)
    click.echo(
        f"Removed {short(removal.removed)}. The journal now uses a new key (epoch "
        f"{removal.epoch}), sealed to the {removal.staying} devices that stay."
    )
    url = settings.relay_address(relay) if relay else settings.known_relay(journal)
    if not url:
        click.echo("No relay is set; the other devices will learn of it at their next sync.")
        return
    import asyncio

    from tend.app import syncing

    try:
        asyncio.run(syncing.send_and_fetch(journal, url))
        click.echo("The relay no longer lets the removed device in.")
    except syncing.RelayUnavailable as e:
        click.echo(f"{error_line(e)}. The relay will be told at the next tend sync.", err=True)


@click.command()
@click.option("--relay", envvar="TEND_RELAY", help="Relay to check (default: this journal's).")
@pass_app
def doctor(app: App, relay: str | None) -> None:
    """Check this device's log at the relay, and have the relay drop anything in it that this
    device did not write (left there by an older relay); nothing honest is ever dropped."""
    import asyncio

    from tend.app import settings, syncing

    journal = app.journal()
    url = settings.relay_address(relay) if relay else settings.known_relay(journal)
    if not url:
        raise UserError("no relay set; pass --relay URL")

    def say_dropped(dropped: int) -> None:  # said before the sync that follows, which may fail
        click.echo(f"The relay dropped {dropped} entries from this device's log that were not its.")

    _dropped, report = asyncio.run(syncing.repair(journal, url, say_dropped))
    if report is not None:
        click.echo(f"Then synced: sent {report.uploaded}, received {report.downloaded}.")
    else:
        click.echo("The relay holds this device's log exactly as it is here.")
    from tend.app import integrity

    missing = len(integrity.without_words(journal))
    if missing:
        entries = "1 entry" if missing == 1 else f"{missing} entries"
        click.echo(
            f"{entries} here came without the words: the relay withheld or damaged the key "
            "that opens them (tend timeline lists them)."
        )


@click.command()
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the two demo journals (and report.html) in this folder instead of a temporary one.",
)
@click.option(
    "--report",
    "report_to",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the three weeks as an HTML report to this file.",
)
@click.option(
    "--ui",
    is_flag=True,
    help="Then open the two journals in two local pages side by side, until Ctrl-C.",
)
@click.option("--no-browser", is_flag=True, help="With --ui: print the addresses only.")
def demo(keep: Path | None, report_to: Path | None, ui: bool, no_browser: bool) -> None:
    """Two partners' three weeks, told on this machine: pairing, offline days, sync, looking back.

    Runs its own relay on 127.0.0.1 and two journals in a temporary folder; nothing is left
    behind (unless --keep or --report). With --ui, the two journals then open as two pages
    (as tend ui shows them), syncing live through the demo's relay until Ctrl-C."""
    from tend.cli.demo import run

    run(keep, report_to, ui=ui, browser=not no_browser)


@click.command("lock")
@pass_app
def lock_cmd(app: App) -> None:
    """Forget the unlocked passphrase now: the next command asks for it again."""
    from tend.cli import unlock_agent

    if unlock_agent.forget(app.home):
        click.echo("Locked. The next command will ask for your passphrase.")
    else:
        click.echo("Nothing was unlocked on this device.")


@click.command("week-turns")
@click.argument("at", required=False, metavar="HH:MM")
@pass_app
def week_turns(app: App, at: str | None) -> None:
    """When, on Sunday, planning starts looking at the coming week (shown with no time).

    From then on, joy ideas and the joy map are for the week ahead; goal outcomes and the
    state of the partnership stay with the week that is ending."""
    from tend.app import weeks

    journal = app.journal()
    turn = weeks.set_turn(journal, at) if at else weeks.turn_of(journal)
    click.echo(
        f"The week turns on Sunday at {turn:%H:%M}: from then on, plans are for the coming week."
    )
