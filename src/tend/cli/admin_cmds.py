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
from tend.core.ids import LogId, PersonId, short
from tend.core.trust.engine import Ignored

if TYPE_CHECKING:
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
    from tend.cli.unlock import new_lock
    from tend.core.journal import Journal

    if Journal.exists(app.home):
        raise UserError(f"there is already a journal in {app.home}")
    lock = new_lock(app.home, context=(name,)) if use_passphrase else None
    journal = Journal.create(app.home, name, lock=lock, label=label)
    if relay:
        journal.device.settings["relay"] = relay
        journal.save_device()
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
    from tend.core.trust.verify import verify as run_verify

    journal = app.journal()
    total = journal.store.count()
    if as_json or total < 2000:
        report = run_verify(journal)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("Checking entries", total=total)
            report = run_verify(journal, lambda n: bar.advance(task, n))
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
    from tend.core.trust.verify import Report

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
    from tend.core.trust.verify import Report

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
    from tend.core.views import export

    items = app.journal().items()
    if fmt == "json":
        count = export.to_json(items, out)
        click.echo(f"Wrote {count} entries to {out}.")
    elif fmt == "markdown":
        count = export.to_markdown(items, out)
        click.echo(f"Wrote {count} entries to {out}.")
    else:
        paths = export.to_automerge(items, out)
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
    from tend.core.trust import pairing
    from tend.core.views import projections

    journal = app.journal()
    names = projections.names(journal.items())
    roster = journal.roster()
    me = journal.device
    compared = set(me.settings.get("compared", []))
    rows = [
        {
            "id": device.hex(),
            "person": member.person.hex(),
            "name": names.get(member.person),
            "label": member.label,
            "this_device": device == me.log,
            "removed": roster.removed(device),
            "lost": member.person in roster.lost,
            "brought_in_by": names.get(member.brought_in_by) if member.brought_in_by else None,
            "safety_code": None
            if member.person == me.person
            else pairing.safety_code(me.space, me.identity, member.identity),
            "compared": member.person == me.person or member.identity.hex() in compared,
        }
        for device, member in roster.members.items()
    ]
    ignored: list[dict[str, object]] = [_ignored_row(i, names) for i in roster.ignored]
    if as_json:
        click.echo(jsonview.dumps({"devices": rows, "epoch": me.epoch, "ignored": ignored}))
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
    from tend.cli.app import resolve_id

    journal = app.journal()
    roster = journal.roster()
    me = journal.device
    others = {d: m for d, m in roster.members.items() if m.person != me.person}
    if device_id is not None:
        target = LogId(resolve_id(device_id, list(others), "device of someone else"))
        others = {d: m for d, m in others.items() if d == target}
    if not others:
        raise UserError("there is nobody else's safety code to confirm yet")
    compared = set(me.settings.get("compared", [])) | {m.identity.hex() for m in others.values()}
    me.settings["compared"] = sorted(compared)
    journal.save_device()
    click.echo("Thank you. The safety code is noted as compared in person.")


@devices.command("remove")
@click.argument("device_id")
@click.option("--relay", envvar="TEND_RELAY", help="Relay to tell (default: this journal's).")
@pass_app
def devices_remove(app: App, device_id: str, relay: str | None) -> None:
    """Remove a lost or retired device of yours: it will read nothing written from now on."""
    from tend.cli.app import resolve_id
    from tend.core.trust import rotation

    journal = app.journal()
    roster = journal.roster()
    target = resolve_id(device_id, list(roster.members), "device")
    rotation.remove_device(journal, LogId(target))
    stays = len([d for d in roster.active() if bytes(d) != bytes(target)])
    click.echo(
        f"Removed {short(target)}. The journal now uses a new key (epoch "
        f"{journal.device.epoch}), sealed to the {stays} devices that stay."
    )
    url = relay or journal.device.settings.get("relay")
    if not url:
        click.echo("No relay is set; the other devices will learn of it at their next sync.")
        return
    import asyncio

    from tend.sync import client

    try:
        asyncio.run(client.sync_once(journal, str(url)))
        click.echo("The relay no longer lets the removed device in.")
    except client.RelayUnavailable as e:
        click.echo(f"{error_line(e)}. The relay will be told at the next tend sync.", err=True)


@click.command()
@click.option("--relay", envvar="TEND_RELAY", help="Relay to check (default: this journal's).")
@pass_app
def doctor(app: App, relay: str | None) -> None:
    """Check this device's log at the relay, and have the relay drop anything in it that this
    device did not write (left there by an older relay); nothing honest is ever dropped."""
    import asyncio

    from tend.sync import client

    journal = app.journal()
    url = relay or journal.device.settings.get("relay")
    if not url:
        raise UserError("no relay set; pass --relay URL")
    dropped = asyncio.run(client.repair(journal, str(url)))
    if dropped:
        click.echo(f"The relay dropped {dropped} entries from this device's log that were not its.")
        report = asyncio.run(client.sync_once(journal, str(url)))
        click.echo(f"Then synced: sent {report.uploaded}, received {report.downloaded}.")
    else:
        click.echo("The relay holds this device's log exactly as it is here.")


@click.command()
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the demo journal in this folder instead of a temporary one.",
)
def demo(keep: Path | None) -> None:
    """A short story of one partner's week, told offline in a temporary journal."""
    from tend.cli.demo import run

    run(keep)


@click.command("lock")
@pass_app
def lock_cmd(app: App) -> None:
    """Forget the unlocked passphrase now: the next command asks for it again."""
    from tend.cli import unlock_agent

    if unlock_agent.forget(app.home):
        click.echo("Locked. The next command will ask for your passphrase.")
    else:
        click.echo("Nothing was unlocked on this device.")
