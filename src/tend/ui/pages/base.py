"""What every page and form shares: rendering with the page's frame, the journal (or where
to go first), and the two shapes of a route: a page over the journal, and a form that calls
an app function and goes back with a calm line, or shows the refusal by its field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from tend.app import home as homes
from tend.core.errors import TendError, ValidationError
from tend.core.journal import Journal
from tend.ui import words
from tend.ui.guard import CSRF_FIELD, FORM, SESSION, Session, see_other
from tend.ui.state import PageState

STATE: web.AppKey[PageState] = web.AppKey("state", PageState)
Context = dict[str, Any]
Builder = Callable[[web.Request, Journal], Context]
routes = web.RouteTableDef()


def state_of(request: web.Request) -> PageState:
    return request.app[STATE]


def session_of(request: web.Request) -> Session:
    return request[SESSION]


def form_of(request: web.Request) -> Any:
    return request[FORM]


def show(
    request: web.Request,
    template: str,
    context: Context,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> web.Response:
    state = state_of(request)
    session = session_of(request)
    if request.headers.get(LIVE_READ):
        said: list[str] = []  # a background read by the script: the messages wait for the page
    else:
        said, session.flash = session.flash, []
    base: Context = {
        "csrf_field": CSRF_FIELD,
        "csrf": session.csrf,
        "said": said,
        "errors": errors or {},
        "errors_form": request.path.strip("/").replace("/", "-") if errors else "",
        "typed": typed_in(request),
        "sync_words": state.sync_words(),
        "journal_open": state.journal is not None,
        "lockable": state.journal is not None and homes.needs_passphrase(state.home),
        "path": request.path,
        "words": words,
    }
    return aiohttp_jinja2.render_template(template, request, base | context, status=status)


LIVE_READ = "X-Tend-Live"  # tend.js reads the page anew after a change
MULTI = ("need", "offer")  # chips: several values under one name


def typed_in(request: web.Request) -> dict[str, Any]:
    """What was typed in the form being shown again (after a refusal), to keep it there."""
    if request.method != "POST":
        return {}
    form = form_of(request)
    return {k: form.getall(k) if k in MULTI else form.get(k) for k in form}


def journal_or_redirect(request: web.Request) -> Journal | web.Response:
    state = state_of(request)
    if not state.has_journal():
        return see_other("/setup")
    journal = state.journal or state.open_unlocked()
    if journal is None:
        return see_other("/unlock")
    return journal


def page(template: str) -> Callable[[Builder], Callable[[web.Request], Awaitable[web.Response]]]:
    """A GET page over the open journal (to setup or unlock first, when it is not)."""

    def wrap(build: Builder) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            journal = journal_or_redirect(request)
            if isinstance(journal, web.Response):
                return journal
            try:
                context = build(request, journal)
            except TendError as e:
                return show(request, "problem.html", {"failed": words.error_line(e)}, status=400)
            return show(request, template, context)

        PAGES[template] = build
        return handler

    return wrap


PAGES: dict[str, Builder] = {}


def refused(request: web.Request, template: str, error: TendError) -> web.Response:
    """The page the form came from, again, with the refusal by the field it names."""
    field = error.field if isinstance(error, ValidationError) else "_"
    journal = state_of(request).journal
    try:
        context = PAGES[template](request, journal) if journal is not None else {}
    except TendError:  # the page itself cannot be shown for what was sent: say the refusal alone
        return show(request, "problem.html", {"failed": words.error_line(error)}, status=400)
    return show(request, template, context, status=400, errors={field: words.error_line(error)})


Action = Callable[[Journal, Any], str | list[str]]  # what to say: a line, or several


def action(
    path: str, template: str, back: str, part: str = "journal", *, new_keys: bool = False
) -> Callable[[Action], Any]:
    """A POST form: run `act` (an app call) and go back with what it says; or show why not.
    With `new_keys` (a removal rotates the space key), the live connection starts anew, so the
    relay hears of the new epoch and its capability at once."""

    def wrap(act: Action) -> Any:
        async def handler(request: web.Request) -> web.Response:
            journal = journal_or_redirect(request)
            if isinstance(journal, web.Response):
                return journal
            try:
                said = act(journal, form_of(request))
            except TendError as e:
                return refused(request, template, e)
            lines = [said] if isinstance(said, str) else said
            session_of(request).flash.extend(lines)
            state = state_of(request)
            if new_keys:
                await state.restart_live()
            else:
                state.recorded(lines[0], part)
            return see_other(back)

        routes.post(path)(handler)
        return act

    return wrap
