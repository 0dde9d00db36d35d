"""Commands that talk to a relay: sync, invite, join. Only these import aiohttp."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import click

from tend.cli.app import App, ask_passphrase
from tend.cli.text import safe
from tend.core.errors import IntegrityError, UserError
from tend.core.events import DeviceAdded
from tend.core.ids import short
from tend.core.journal import Journal
from tend.core.pairing import InviteKeys

pass_app = click.make_pass_decorator(App)
JOIN_WAIT = 15
relay_option = click.option(
    "--relay",
    envvar="TEND_RELAY",
    help="Relay URL (default: the one this journal was set up with).",
)


def relay_of(journal: Journal, relay: str | None) -> str:
    url = relay or journal.device.settings.get("relay")
    if not url:
        raise UserError("no relay set; pass --relay URL (e.g. http://127.0.0.1:8765)")
    return str(url)


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
@pass_app
def sync(app: App, relay: str | None, watch: bool) -> None:
    """Send what this device wrote and fetch what the others wrote."""

    journal = app.journal()
    url = relay_of(journal, relay)
    from tend.core import rotation

    rotation.catch_up_keys(journal)
    if watch:
        _watch(journal, url)
        return
    report = asyncio.run(_sync_with_progress(journal, url))
    click.echo(_summary(report))
    _fail_on_refusals(report)


async def _sync_with_progress(journal: Journal, url: str) -> object:
    from tend.sync import client

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
        return await client.sync_once(journal, url, progress)
    finally:
        if bar is not None:
            bar.stop()


def _watch(journal: Journal, url: str) -> None:
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

        total = await client.watch(journal, url, stop, show)
        _fail_on_refusals(total)

    asyncio.run(run())


@click.command()
@relay_option
@click.option(
    "--own-device",
    is_flag=True,
    help="Invite another device of your own (it will "
    "also read your private entries), not your partner.",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=click.IntRange(10, 600),
    default=600,
    show_default=True,
    help="How long to wait for the other device to join.",
)
@pass_app
def invite(app: App, relay: str | None, own_device: bool, wait_seconds: int) -> None:
    """Invite your partner's device (or another of yours): prints a short one-time code."""
    from tend.core import pairing
    from tend.sync import client, mailbox

    journal = app.journal()
    url = relay_of(journal, relay)
    code = pairing.new_code()
    keys_ = pairing.derive(code)
    bundle = pairing.make_bundle(journal, keys_, own_device=own_device, relay=url)
    asyncio.run(mailbox.put(url, keys_.to_joiner, bundle, ttl=wait_seconds))
    click.echo(f"Invite code: {code}")
    click.echo(
        f"On the other device: tend join {code} --relay {url}"
        + ("" if own_device else " --name THEIR-NAME")
    )
    click.echo(f"Waiting up to {wait_seconds // 60} minutes for it to join…", err=True)
    added = asyncio.run(_await_reply(journal, keys_, wait_seconds, url, own_device))
    if added is None:
        raise UserError("nobody joined with that code before it expired; run tend invite again")
    if "relay" not in journal.device.settings:
        journal.device.settings["relay"] = url
        journal.save_device()  # with the passphrase it was opened with, if any
    asyncio.run(client.sync_once(journal, url))
    code_pair = pairing.safety_code(journal.device.space, journal.device.identity, added.identity)
    click.echo(
        f"Joined. Safety code: {code_pair}  (the other device shows the same one; "
        "compare them in person)"
    )


async def _await_reply(
    journal: Journal, keys_: InviteKeys, wait_seconds: int, url: str, own_device: bool
) -> DeviceAdded | None:
    """The joiner's device, once a reply that opens with the code arrives. Anything else in
    the mailbox (someone who knows only its id) is skipped, not fatal."""
    from tend.core import pairing
    from tend.sync import mailbox

    deadline = time.monotonic() + wait_seconds
    while (left := int(deadline - time.monotonic())) > 0:
        reply = await mailbox.take(url, keys_.to_inviter, wait=min(left, mailbox.MAX_WAIT))
        if reply is None:
            continue
        try:
            return pairing.accept(journal, keys_, reply, own_device=own_device)
        except pairing.InvalidInvite:
            continue
    return None


@click.command()
@click.argument("code")
@click.option("--name", help="Your name, as your partner will see it (not for your own device).")
@click.option("--relay", envvar="TEND_RELAY", required=True, help="The relay the invite names.")
@click.option("--device", "label", default="", help="A label for this device, e.g. phone.")
@click.option(
    "--passphrase",
    "use_passphrase",
    is_flag=True,
    help="Lock this device's keys with a passphrase.",
)
@pass_app
def join(
    app: App, code: str, name: str | None, relay: str, label: str, use_passphrase: bool
) -> None:
    """Join your partner's journal (or your own, from a new device) with an invite code."""
    from tend.core import pairing
    from tend.sync import mailbox

    keys_ = pairing.derive(code)
    if Journal.exists(app.home):
        raise UserError(f"there is already a journal in {app.home}")
    bundle = asyncio.run(mailbox.take(relay, keys_.to_joiner, wait=10))
    if bundle is None:
        raise UserError("no invitation waits under that code (expired, used, or mistyped)")
    passphrase = ask_passphrase(confirm=True) if use_passphrase else None
    if use_passphrase and not passphrase:
        raise UserError("--passphrase needs a terminal to ask on, or TEND_PASSPHRASE set")
    journal, reply = pairing.join(
        Path(app.home), keys_, bundle, name=name, label=label, passphrase=passphrase
    )
    asyncio.run(mailbox.put(relay, keys_.to_inviter, reply))
    inviter_log, inviter_identity = pairing.inviter_public(bundle, keys_)
    report = asyncio.run(_join_sync(journal, relay, inviter_log))
    code_pair = pairing.safety_code(journal.device.space, journal.device.identity, inviter_identity)
    click.echo(f"Joined. {_summary(report)}")
    click.echo(f"Safety code: {code_pair}  (compare it with the inviting device, in person)")
    _fail_on_refusals(report)
    journal.close()


async def _join_sync(journal: Journal, relay: str, inviter_log: bytes) -> object:
    """Sync after joining, until the inviter's entries have arrived (it uploads them a moment
    after it receives our answer), for at most JOIN_WAIT seconds."""
    from tend.sync import client

    report = await client.sync_once(journal, relay)
    deadline = time.monotonic() + JOIN_WAIT
    while _waiting_for(journal, inviter_log) and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        report.merge(await client.sync_once(journal, relay))
    return report


def _waiting_for(journal: Journal, inviter_log: bytes) -> bool:
    """Whether the inviter's own entries, bringing this device in, have not arrived yet."""
    return inviter_log not in journal.store.heads()
