"""A fresh home (start a journal, join with a code or a link, wait to be let in), and a
passphrase-locked journal: unlocked once in the page, locked again from it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from aiohttp import web

from tend.app import home as homes
from tend.core.errors import TendError, ValidationError
from tend.ui import forms, words
from tend.ui.guard import see_other
from tend.ui.pages.base import Context, form_of, routes, session_of, show, state_of


@routes.get("/setup")
async def setup_page(request: web.Request) -> web.Response:
    if state_of(request).has_journal():
        return see_other("/")
    return show(request, "setup.html", setup_context(request))


def setup_context(request: web.Request) -> Context:
    """A fresh home; or one that answered an invitation link and waits to be let in."""
    state = state_of(request)
    waiting = homes.still_joining(state.home)
    return {
        "waiting": waiting,
        "waiting_locked": waiting
        and state.pending_lock is None
        and homes.needs_passphrase(state.home, homes.PENDING_FILE),
    }


@routes.post("/setup/finish")
async def finish_joining(request: web.Request) -> web.Response:
    """A device that answered a link: in, if the inviter let it in by now."""
    from tend.app import pairing

    state = state_of(request)
    if not homes.still_joining(state.home):
        return see_other("/")
    form = form_of(request)
    try:
        lock = state.pending_lock
        typed = forms.text(form, "passphrase")
        if lock is None and typed:
            loop = asyncio.get_running_loop()
            lock = await loop.run_in_executor(
                None, homes.unlock, state.home, typed, homes.PENDING_FILE
            )
        joined = await pairing.finish_joining(state.home, lock)
    except TendError as e:
        field = "passphrase" if form.get("passphrase") else "_"
        return show(
            request,
            "setup.html",
            setup_context(request),
            status=400,
            errors={field: words.error_line(e)},
        )
    if isinstance(joined, pairing.Waiting):
        inviter = joined.inviter_name or "your partner"
        session_of(request).flash.append(
            f"Still waiting for {inviter}'s device to let this one in."
        )
        return see_other("/setup")
    state.pending_lock = None
    return await welcomed(request, joined)


def setup_refused(request: web.Request, error: TendError, field: str | None = None) -> web.Response:
    """The set-up page again, with the refusal by its field (`field`, or the one it names)."""
    if field is None:
        field = error.field if isinstance(error, ValidationError) else "_"
    return show(
        request,
        "setup.html",
        setup_context(request),
        status=400,
        errors={field: words.error_line(error)},
    )


def chosen_passphrase(form: forms.Form) -> str | None:
    """The passphrase chosen for a device file made from the page (typed twice alike), or
    None for none."""
    typed = form.get("passphrase")
    if not isinstance(typed, str) or not typed:
        return None
    if typed != form.get("passphrase_again"):
        raise ValidationError("passphrase_again", "the same passphrase, typed again")
    return typed


async def lock_of(typed: str | None, name: str | None) -> Any:
    """The lock a chosen passphrase gives, checked for strength off the event loop."""
    if typed is None:
        return None
    loop = asyncio.get_running_loop()
    context = (name,) if name else ()
    return await loop.run_in_executor(
        None, functools.partial(homes.new_lock, typed, context=context)
    )


@routes.post("/setup/start")
async def start(request: web.Request) -> web.Response:
    state = state_of(request)
    form = form_of(request)
    try:
        name = forms.required(form, "name")
        relay = forms.text(form, "relay")
        homes.refuse_if_exists(state.home)
        typed = chosen_passphrase(form)
    except TendError as e:
        return setup_refused(request, e)
    try:
        lock = await lock_of(typed, name)
    except TendError as e:  # too easy to guess: said by its field
        return setup_refused(request, e, "passphrase")
    try:
        state.journal = homes.start(state.home, name, relay=relay, lock=lock)
    except TendError as e:
        return setup_refused(request, e)
    await state.start_live()
    session_of(request).flash.append(f"Welcome, {name}. Your journal is here, on this device.")
    return see_other("/")


@routes.post("/setup/join")
async def join(request: web.Request) -> web.Response:
    from tend.app import pairing

    state = state_of(request)
    form = form_of(request)
    name = forms.text(form, "name")
    try:
        parsed = pairing.parse_code(forms.required(form, "code"))
        homes.refuse_if_exists(state.home)
        typed = chosen_passphrase(form)
    except TendError as e:
        return setup_refused(request, e)
    try:
        lock = await lock_of(typed, name)
    except TendError as e:
        return setup_refused(request, e, "passphrase")
    try:
        joined = await pairing.join(state.home, parsed, name=name, label="", lock=lock)
    except TendError as e:
        return setup_refused(request, e)
    inviter = joined.inviter_name or "your partner"
    if isinstance(joined, pairing.Waiting):
        state.pending_lock = lock  # to finish joining in this run without asking again
        session_of(request).flash.append(
            f"You answered {inviter}'s invitation. {inviter}'s device lets this one in at its "
            "next sync: check again here in a while."
        )
        return see_other("/setup")
    return await welcomed(request, joined)


async def welcomed(request: web.Request, joined: Any) -> web.Response:
    """This device is in: the journal open, its sync live, the safety code said."""
    state = state_of(request)
    state.journal = joined.journal
    await state.start_live()
    session_of(request).flash.append(
        f"Joined. Safety code: {joined.safety_code}. Compare it with the other screen, together"
        + ("." if joined.own_device else "; when they match, say so below.")
    )
    return see_other("/devices")


@routes.get("/unlock")
async def unlock_page(request: web.Request) -> web.Response:
    if not state_of(request).locked():
        return see_other("/")
    return show(request, "unlock.html", {})


@routes.post("/unlock")
async def unlock(request: web.Request) -> web.Response:
    state = state_of(request)
    if not state.locked():
        return see_other("/")
    try:
        await state.unlock(forms.required(form_of(request), "passphrase"))
    except TendError as e:
        return show(
            request, "unlock.html", {}, status=400, errors={"passphrase": words.error_line(e)}
        )
    await state.start_live()
    return see_other("/")


@routes.post("/lock")
async def lock(request: web.Request) -> web.Response:
    state = state_of(request)
    if homes.needs_passphrase(state.home):
        await state.lock()
        return see_other("/unlock")
    session_of(request).flash.append("This journal has no passphrase to lock it with.")
    return see_other("/")
