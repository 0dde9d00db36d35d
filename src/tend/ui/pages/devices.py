"""Devices: the roster and its safety codes, invitations by code or link, letting in whoever
answered, removing a lost device, the recovery phrase once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from pathlib import Path

from aiohttp import web

from tend.app import devices, recovery, settings
from tend.core.errors import TendError, ValidationError
from tend.core.journal import Journal
from tend.ui import forms, words
from tend.ui.guard import see_other
from tend.ui.pages.base import (
    Context,
    action,
    form_of,
    journal_or_redirect,
    page,
    refused,
    routes,
    session_of,
    show,
    state_of,
)


@routes.get("/devices")
@page("devices.html")
def devices_page(request: web.Request, journal: Journal) -> Context:
    held = devices.roster(journal)
    invitation = state_of(request).invitation
    qr = None
    shown = invitation.get("link") or invitation.get("code")
    if shown:
        import segno

        qr = segno.make(shown, error="m").svg_data_uri(scale=5)
    return {
        "roster": held,
        "invitation": invitation,
        "qr": qr,
        "me": journal.device.person,
        "private_kinds": settings.private_kinds(journal),
        "kinds": {"checkin": "check-ins", "comfort": "comfort signals"},
        "checked": state_of(request).checked,
    }


@action("/devices/confirm", "devices.html", "/devices", "devices")
def confirm(journal: Journal, form: forms.Form) -> str:
    devices.confirm_compared(journal, forms.text(form, "device"))
    return "Safety code confirmed: you compared it in person."


@action("/devices/remove", "devices.html", "/devices", "devices", new_keys=True)
def remove_device(journal: Journal, form: forms.Form) -> str:
    if not forms.ticked(form, "sure"):
        raise ValidationError("sure", "ticked, to say you mean to remove it")
    removed = devices.remove(journal, forms.required(form, "device"))
    return f"Removed. A new key (epoch {removed.epoch}) is sealed to {removed.staying} devices."


@routes.post("/recovery")
async def recovery_show(request: web.Request) -> web.Response:
    journal = journal_or_redirect(request)
    if isinstance(journal, web.Response):
        return journal
    try:
        phrase = recovery.show_once(journal)
    except TendError as e:
        return refused(request, "devices.html", e)
    return show(request, "recovery.html", {"phrase": phrase})


@routes.post("/invite")
async def invite(request: web.Request) -> web.Response:
    journal = journal_or_redirect(request)
    if isinstance(journal, web.Response):
        return journal
    state = state_of(request)
    form = form_of(request)
    own = forms.ticked(form, "own")
    try:
        url = settings.relay_of(journal, forms.text(form, "relay"))
        from tend.app import pairing

        pairing.check_who(journal, own_device=own, another_person=False)
        code, inviter = await pairing.open_code(url, 600)
    except TendError as e:
        return refused(request, "devices.html", e)
    if settings.known_relay(journal) != url:
        settings.remember_relay(journal, url)
        await state.restart_live()  # now with the relay the invitation went through
    state.invitation = {"code": code.text, "status": "waiting for the other device to join"}

    async def wait() -> None:
        try:
            joined = await pairing.complete_code(
                journal, url, code, inviter, own_device=own, seconds=600, another_person=False
            )
        except TendError as e:
            state.invitation = {"status": words.error_line(e)}
        else:
            state.invitation = {"status": "joined", "safety": joined.safety_code}
        state.recorded("a device joined", "devices")
        await state.restart_live()  # the new device's key epoch and roster, from the start

    state.spawn(asyncio.create_task(wait()))
    return see_other("/devices")


@routes.post("/invite/link")
async def invite_link(request: web.Request) -> web.Response:
    """A link for a partner who is not here: kept by the relay for a week, used once."""
    from tend.app import pairing

    journal = journal_or_redirect(request)
    if isinstance(journal, web.Response):
        return journal
    state = state_of(request)
    try:
        url = settings.relay_of(journal, forms.text(form_of(request), "relay"))
        pairing.check_who(journal, own_device=False, another_person=False)
        link = await pairing.open_link(journal, url, another_person=False, replacing=None)
    except TendError as e:
        return refused(request, "devices.html", e)
    state.invitation = {
        "link": link.text,
        "status": "It works once, for 7 days. Send it somewhere only your partner reads; "
        "whoever uses it first joins. Once they have, let them in below.",
    }
    if settings.known_relay(journal) != url:
        settings.remember_relay(journal, url)
        await state.restart_live()
    return see_other("/devices")


@routes.post("/devices/let-in")
async def let_in(request: web.Request) -> web.Response:
    """Bring in whoever answered an invitation link this device made."""
    from tend.app import syncing

    journal = journal_or_redirect(request)
    if isinstance(journal, web.Response):
        return journal
    state = state_of(request)
    try:
        outcome = await syncing.let_in(journal)
    except TendError as e:
        return refused(request, "devices.html", e)
    session = session_of(request)
    for note, step in outcome.notes:
        session.flash.append(words.said(note, step))
    for joined in outcome.joined:
        label = f" ({joined.label})" if joined.label else ""
        session.flash.append(
            f"A device joined with your link{label}. Safety code: {joined.safety_code}"
        )
    if outcome.joined:
        state.invitation = {}
        await state.restart_live()  # the new device is on the roster: send it everything
    elif not outcome.notes:
        session.flash.append("Nobody has answered an invitation link yet.")
    return see_other("/devices")


@action("/private-default", "devices.html", "/devices", "devices")
def private_default(journal: Journal, form: forms.Form) -> str:
    """Which sensitive kinds this device keeps private by default: ticked on, the rest off."""
    ticked = forms.chosen(form, "kind")
    unticked = [k for k in settings.PRIVATE_KINDS if k not in ticked]
    settings.keep_private_by_default(journal, ticked, on=True)
    kept = settings.keep_private_by_default(journal, unticked, on=False)
    return "Private by default on this device: " + (", ".join(kept) or "nothing") + "."


@routes.post("/verify")
async def verify(request: web.Request) -> web.Response:
    """Check every entry's chain, envelope and signature, and say what was found."""
    from tend.app import integrity

    journal = journal_or_redirect(request)
    if isinstance(journal, web.Response):
        return journal
    report = integrity.verify(journal)  # in the loop: the journal's database is this thread's
    state_of(request).checked = (
        [
            f"All {report.entries} entries in {report.logs} log{'s' if report.logs != 1 else ''} "
            "check out: chains, envelopes, signatures and who wrote them."
        ]
        if report.ok
        else [f"problem: {p}" for p in report.problems]
    )
    return see_other("/devices")


EXPORTS = {"markdown": ("md", "text/markdown"), "json": ("json", "application/json")}


@routes.post("/export")
async def export_copy(request: web.Request) -> web.Response:
    """A readable copy of the journal, to download (written by the same app function as
    tend export, into a private folder that is removed at once)."""
    from tend.app import export

    journal = journal_or_redirect(request)
    if isinstance(journal, web.Response):
        return journal
    chosen = forms.text(form_of(request), "format") or "markdown"
    if chosen not in EXPORTS:
        return refused(request, "devices.html", ValidationError("format", "markdown or json"))
    suffix, kind = EXPORTS[chosen]
    with tempfile.TemporaryDirectory(prefix="tend-export-") as folder:
        out = Path(folder) / f"journal.{suffix}"
        export.write(journal, chosen, out)
        data = out.read_bytes()
    name = f"tend-journal-{dt.date.today().isoformat()}.{suffix}"
    return web.Response(
        body=data,
        content_type=kind,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
