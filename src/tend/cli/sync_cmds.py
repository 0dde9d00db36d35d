"""Commands that talk to a relay: sync, invite, join. Only these import aiohttp."""

from __future__ import annotations

import asyncio
import io
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tend.app import settings
from tend.cli.app import App
from tend.cli.next_step import said
from tend.cli.text import safe
from tend.cli.unlock import passphrase_option
from tend.core.errors import IntegrityError, NextStep, UserError
from tend.core.ids import PersonId, short
from tend.core.journal import Journal

if TYPE_CHECKING:
    from tend.app.syncing import SyncOutcome

pass_app = click.make_pass_decorator(App)
relay_option = click.option(
    "--relay",
    envvar="TEND_RELAY",
    help="Relay URL (default: the one this journal was set up with).",
)
admission_option = click.option(
    "--admission-code",
    envvar="TEND_ADMISSION_CODE",
    metavar="CODE",
    help="A code from the relay's operator, for a relay that starts new journals only with one "
    "(kept on this device until the relay has taken it).",
)


def _give_code(journal: Journal, code: str | None) -> None:
    if code:
        from tend.sync import client

        client.give_admission_code(journal, code)


def _summary(report: object) -> str:
    from tend.sync.client import SyncReport

    assert isinstance(report, SyncReport)
    parts = [f"sent {report.uploaded}", f"received {report.downloaded}"]
    if report.sealed_away:
        parts.append(f"{report.sealed_away} sealed under a key this device does not have")
    return "Synced: " + ", ".join(parts) + "."


def _notes(report: object) -> list[str]:
    """What a person should know after a sync that is not a failure."""
    from tend.sync.client import SyncReport

    assert isinstance(report, SyncReport)
    lines = []
    if report.resealed:
        lines.append(
            f"{report.resealed} entries written here before a device was removed were sealed "
            "under the new key before they left this device."
        )
    if report.removed_history:
        lines.append(
            "A device was removed from the journal; what it wrote after its removal is not shown."
        )
    if report.answered_lost:
        lines.append(
            "Someone had marked your place in the journal as lost; this device told them you are "
            "here, so only you can remove your devices."
        )
    if report.pending:
        lines.append(
            f"{report.pending} entries from a device nobody here has brought in (yet) are "
            "kept aside, not shown."
        )
    lines += [
        f"The relay now holds {r.lost} fewer entries of log {short(r.log)} than before "
        "(lost or rolled back); this device sent again what it has."
        for r in report.rolled_back
    ]
    lines += [
        f"The relay has not passed on {w.missing} entries of log {short(w.log)} that device "
        f"{short(w.seen_by)} had already seen (withheld, or lost); this device keeps working."
        for w in report.withheld
    ]
    return lines


def _fail_on_refusals(report: object) -> None:
    from tend.sync.client import SyncReport

    assert isinstance(report, SyncReport)
    for line in _notes(report):
        click.echo(line, err=True)
    if report.relay_full:
        from tend.sync.client import FULL_WORDS, RelayFullForNow

        raise RelayFullForNow(FULL_WORDS)
    for code in report.upload_refused:
        click.echo(
            f"refused by the relay: an upload from this device ({code}); it stays safe here",
            err=True,
        )
    problems = report.problems
    if problems:
        for refusal in problems:
            click.echo(f"refused: {safe(str(refusal))}", err=True)
        own = report.own_log
        hint = "; run: tend doctor" if any(r.log == own for r in problems) else ""
        raise IntegrityError(
            f"{len(problems)} problem(s) in what the relay sent; nothing "
            f"after them was applied (listed above){hint}"
        )
    if report.upload_refused:
        raise IntegrityError(
            "the relay holds something else where this device's entries belong (listed "
            "above); nothing here was lost; run: tend doctor"
        )


@click.command()
@relay_option
@click.option("--watch", is_flag=True, help="Stay connected and sync as things happen.")
@admission_option
@click.option(
    "--recreate",
    is_flag=True,
    help="Put this journal back on a relay that no longer holds it (everything here is sent).",
)
@pass_app
def sync(
    app: App, relay: str | None, watch: bool, admission_code: str | None, recreate: bool
) -> None:
    """Send what this device wrote and fetch what the others wrote."""
    from tend.app import home, syncing

    if home.still_joining(app.home):
        finished = _finish_pending(app)
        if finished is not None:
            finished.close()
        return
    journal = app.journal()
    url = settings.relay_of(journal, relay)
    _give_code(journal, admission_code)
    if recreate:
        from tend.sync import client

        client.forget_relay(journal, url)
    if watch:
        from tend.app import live

        if live.already_running(app.home):  # said before letting anyone in
            raise UserError(live.ALREADY_RUNNING, next_step=NextStep.ALREADY_KEPT_IN_SYNC)
        asyncio.run(syncing.let_in(journal, _say_let_in))
        _watch(journal, url)
        return
    outcome = asyncio.run(_sync_with_progress(journal, url))  # says who came in, as they do
    click.echo(_summary(outcome.report))
    _fail_on_refusals(outcome.report)


def _say_let_in(outcome: object) -> None:
    """Who came in with a link this device made, and what became of the links that did not."""
    from tend.app.syncing import SyncOutcome

    assert isinstance(outcome, SyncOutcome)
    for note, step in outcome.notes:
        click.echo(safe(said(note, step)), err=True)  # said once: the link is then done
    for joined in outcome.joined:
        label = f" ({joined.label})" if joined.label else ""
        click.echo(
            f"A device joined with your link{safe(label)}. Safety code: {joined.safety_code}"
        )
        _compare_hint(own_device=joined.own_device)


async def _sync_with_progress(journal: Journal, url: str) -> SyncOutcome:
    from tend.app import syncing

    bar = None
    task = None

    def progress(done: int, total: int) -> None:
        nonlocal bar, task
        if total < 500:
            return
        if bar is None:
            from rich.progress import Progress

            bar = Progress(transient=True)
            bar.start()
            task = bar.add_task("Catching up", total=total)
        assert task is not None
        bar.update(task, completed=done, total=total)

    try:
        return await syncing.sync(journal, url, progress, _say_let_in)
    finally:
        if bar is not None:
            bar.stop()


def _watch(journal: Journal, url: str) -> None:
    from tend.app import syncing
    from tend.app.live import UNREACHABLE, SyncStatus
    from tend.sync import client

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        click.echo(f"Watching {url} (Ctrl-C to stop)…")

        def show(report: client.SyncReport) -> None:
            click.echo(_summary(report))
            for refusal in report.problems:
                click.echo(f"refused: {safe(str(refusal))}", err=True)

        def arrived(arrivals: list[syncing.Arrival]) -> None:
            for arrival in arrivals:
                click.echo(safe(f"{arrival.name}: {arrival.event.body.summary()}"))

        said: list[str | None] = [None]

        def status(now: SyncStatus) -> None:
            # Said once per outage; a refusal for good is said as the command's error instead.
            if now.problem == UNREACHABLE and said[0] != UNREACHABLE:
                click.echo(f"{now.problem}; trying again…", err=True)
            said[0] = now.problem

        total = await syncing.watch(journal, url, stop, show, arrived, status)
        _fail_on_refusals(total)

    asyncio.run(run())


def waiting_words(seconds: int) -> str:
    """How long, in the words a person would use."""
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = round(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _check_who(journal: Journal, own_device: bool, another_person: bool) -> None:
    """Two by design: a third person only when both ask for it, and said plainly."""
    from tend.app import pairing

    if pairing.check_who(journal, own_device=own_device, another_person=another_person):
        click.echo(
            "Inviting a third person: they will read everything either of you shares, from the "
            "very beginning of the journal.",
            err=True,
        )


def _mark_lost(journal: Journal, device_id: str, own_device: bool) -> PersonId:
    from tend.app import pairing

    if own_device:
        raise UserError("--replacing is for someone else's lost place; not with --own-device")
    target, person = pairing.mark_replaced(journal, device_id)
    click.echo(
        f"Marked device {target.hex()[:8]}'s person as lost: either of you can now remove "
        "their old devices with tend devices remove ID. If they were not lost, their device "
        "says so at its next sync and stays theirs. The new person comes in once those old "
        "devices are removed.",
        err=True,
    )
    return person


@click.command()
@relay_option
@click.option(
    "--own-device",
    is_flag=True,
    help="Invite another device of your own (it will "
    "also read your private entries), not your partner.",
)
@click.option(
    "--link",
    "as_link",
    is_flag=True,
    help="Make a link (and QR code) your partner can use any time in the next 7 days, instead "
    "of a short code for now (not for your own devices).",
)
@click.option(
    "--another-person",
    is_flag=True,
    help="Invite a third person into a journal that has two already (they read everything).",
)
@click.option(
    "--replacing",
    "replacing",
    metavar="ID",
    help="Invite back someone who lost every device and their recovery phrase, as a new "
    "identity; ID is one of their old devices (see tend devices), then marked lost.",
)
@click.option(
    "--qr",
    "qr_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the link's QR code as SVG (default: in this journal's folder).",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=click.IntRange(10, 600),
    default=600,
    show_default=True,
    help="How long a short code waits for the other device to join.",
)
@admission_option
@pass_app
def invite(
    app: App,
    relay: str | None,
    own_device: bool,
    as_link: bool,
    another_person: bool,
    replacing: str | None,
    qr_path: Path | None,
    wait_seconds: int,
    admission_code: str | None,
) -> None:
    """Invite your partner's device (or another of yours): a short code, or a link for later."""
    journal = app.journal()
    url = settings.relay_of(journal, relay)
    _give_code(journal, admission_code)
    if as_link and own_device:
        # A link's bundle for one's own device would carry the identity key: if it leaked,
        # whoever used it would *be* this person. Both devices are at hand anyway.
        raise UserError(
            "a link is for a partner who is not here; add a device of your own with a short "
            "code, both devices in hand: tend invite --own-device"
        )
    replaced = None
    if replacing is not None:
        if not as_link:
            raise UserError(
                "--replacing works with --link: the new person comes in at a sync after the "
                "lost person's old devices are removed"
            )
        replaced = _mark_lost(journal, replacing, own_device)
    _check_who(journal, own_device, another_person)
    _be_at_relay(journal, url)
    if as_link:
        _invite_link(app, journal, url, qr_path, another_person, replaced)
    else:
        _invite_code(journal, url, own_device, wait_seconds, another_person)
    settings.remember_relay(journal, url)  # with the passphrase it was opened with, if any


def _be_at_relay(journal: Journal, url: str) -> None:
    """Before inviting: the journal is at the relay, so the partner's first sync finds it
    (on an invite-only relay, only this device holds the operator's code)."""
    from tend.app import syncing

    if syncing.at_relay(journal, url):
        return
    click.echo(_summary(asyncio.run(syncing.send_and_fetch(journal, url))), err=True)


def _invite_code(
    journal: Journal, url: str, own_device: bool, wait_seconds: int, another_person: bool
) -> None:
    from tend.app import pairing

    code, inviter = asyncio.run(pairing.open_code(url, wait_seconds))
    click.echo(f"Invite code: {code.text}")
    click.echo(
        f"On the other device: tend join {code.text}" + ("" if own_device else " --name NAME")
    )
    click.echo(f"Waiting up to {waiting_words(wait_seconds)} for it to join…", err=True)
    joined = asyncio.run(
        pairing.complete_code(
            journal,
            url,
            code,
            inviter,
            own_device=own_device,
            seconds=wait_seconds,
            another_person=another_person,
        )
    )
    click.echo(f"Joined. Safety code: {joined.safety_code}")
    _compare_hint(own_device)


def _compare_hint(own_device: bool) -> None:
    if not own_device:
        click.echo(
            "Compare it with the other screen, together; when they match: tend devices confirm"
        )


def _invite_link(
    app: App,
    journal: Journal,
    url: str,
    qr_path: Path | None,
    another_person: bool,
    replacing: PersonId | None,
) -> None:
    import segno

    from tend.app import pairing
    from tend.core.fsutil import write_private_atomic

    link = asyncio.run(
        pairing.open_link(journal, url, another_person=another_person, replacing=replacing)
    )
    qr = segno.make(link.text, error="m")
    target = qr_path or app.home / "invitation.svg"
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=6, border=2)
    write_private_atomic(target, buffer.getvalue())
    click.echo(f"Invitation link: {link.text}")
    if sys.stdout.isatty():
        qr.terminal(compact=True)
    click.echo(f"The same as a QR code: {target}")
    click.echo(
        "It works once, for 7 days. Send it somewhere only your partner reads; whoever uses it "
        "first joins. On their device: tend join LINK --name NAME"
    )
    click.echo("This device completes the pairing at its next tend sync after they join.")


@click.command()
@click.argument("code")
@click.option("--name", help="Your name, as your partner will see it (not for your own device).")
@click.option("--device", "label", default="", help="A label for this device, e.g. phone.")
@passphrase_option
@pass_app
def join(app: App, code: str, name: str | None, label: str, use_passphrase: bool) -> None:
    """Join your partner's journal (or your own, from a new device) with their code or link."""
    from tend.app import home, pairing

    parsed = pairing.parse_code(code)
    if home.still_joining(app.home):
        finished = _finish_pending(app)  # joined with a link before: see if it is let in now
        if finished is not None:
            finished.close()
        return
    home.refuse_if_exists(app.home)
    from tend.cli.unlock import new_lock

    lock = new_lock(app.home, context=(name,) if name else ()) if use_passphrase else None
    joined = asyncio.run(pairing.join(Path(app.home), parsed, name=name, label=label, lock=lock))
    if isinstance(joined, pairing.Waiting):
        inviter = safe(joined.inviter_name) or "your partner"
        click.echo(
            f"Joined {inviter}'s invitation. Waiting for {inviter}'s device to let you in at "
            "its next sync: run tend sync later."
        )
        return
    _welcome(joined)
    joined.journal.close()


def _welcome(joined: object, *, later: bool = False) -> None:
    """Once the device is in (and synced): say so, and show the safety code."""
    from tend.app.pairing import Welcome

    assert isinstance(joined, Welcome)
    if later:
        inviter = safe(joined.inviter_name) or "Your partner"
        click.echo(f"{inviter}'s device let you in. Joined. {_summary(joined.report)}")
    else:
        click.echo(f"Joined. {_summary(joined.report)}")
    click.echo(f"Safety code: {joined.safety_code}")
    _compare_hint(own_device=joined.own_device)
    _fail_on_refusals(joined.report)


def _finish_pending(app: App) -> Journal | None:
    """A device that joined with a link: its journal if the inviter let it in by now (synced,
    with the safety code shown), else None after one line saying what it waits for."""
    from tend.app import home, pairing
    from tend.cli.unlock import open_lock

    lock = open_lock(app.home, file=home.PENDING_FILE)
    joined = asyncio.run(pairing.finish_joining(Path(app.home), lock))
    if isinstance(joined, pairing.Waiting):
        inviter = safe(joined.inviter_name) or "your partner"
        click.echo(f"Waiting for {inviter}'s device to let you in: run tend sync later.")
        return None
    _welcome(joined, later=True)
    return joined.journal
