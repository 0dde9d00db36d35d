"""The page's routes: each page renders an app view, each form calls the app function the
command calls, then goes back to the page it came from with a calm line saying what was kept.

A refusal (a value out of range, an unknown id) shows the app's one-line message by the field
it names, on the same page, with what was typed kept in the form.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from tend.app import correcting, devices, keeping, look, partnership, record, recovery, settings
from tend.app import home as homes
from tend.core.domain import events as ev
from tend.core.errors import TendError, ValidationError
from tend.core.journal import Journal
from tend.core.views import describe
from tend.ui import charts, forms, words
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
        "has_relay": bool(state.relay()),
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
    context = PAGES[template](request, journal) if journal is not None else {}
    return show(request, template, context, status=400, errors={field: words.error_line(error)})


Action = Callable[[Journal, Any], str]


def action(path: str, template: str, back: str, part: str = "journal") -> Callable[[Action], Any]:
    """A POST form: run `act` (an app call) and go back with what it says; or show why not."""

    def wrap(act: Action) -> Any:
        async def handler(request: web.Request) -> web.Response:
            journal = journal_or_redirect(request)
            if isinstance(journal, web.Response):
                return journal
            try:
                said = act(journal, form_of(request))
            except TendError as e:
                return refused(request, template, e)
            session_of(request).flash.append(said)
            state_of(request).recorded(said, part)
            return see_other(back)

        routes.post(path)(handler)
        return act

    return wrap


# --- today ----------------------------------------------------------------------------------------


@routes.get("/")
@page("today.html")
def today_page(request: web.Request, journal: Journal) -> Context:
    shown = look.today(journal)
    view = shown.view
    names = {p: n for p, n, _e in view.people}
    people = []
    for i, (person, name, event) in enumerate(view.people):
        body = event.body if event is not None and isinstance(event.body, ev.CheckIn) else None
        people.append(
            {
                "name": name,
                "you": i == 0,
                "lines": words.checkin_lines(body),
                "earlier": event.local_date
                if event is not None and event.local_date != view.on.isoformat()
                else None,
                "comfort": words.comfort_words(view.comfort[person])
                if person in view.comfort
                else None,
            }
        )
    return {
        "on": view.on,
        "people": people,
        "paused": [n for _p, n in view.paused()],
        "calendar": [describe.calendar_line(e, names) for e in view.calendar],
        "needs": words.NEEDS,
        "offers": words.OFFERS,
    }


@action("/rest", "today.html", "/", "today")
def rest_day(journal: Journal, form: forms.Form) -> str:
    record.check_in(journal, day="rest", private=forms.ticked(form, "private"))
    return "Rest day kept. Rest counts."


@action("/checkin", "today.html", "/", "today")
def check_in(journal: Journal, form: forms.Form) -> str:
    recorded = check_in_from(journal, form)
    return "Checked in" + (", privately." if recorded.private else ".")


@routes.get("/correct")
@page("correct.html")
def correct_page(request: web.Request, journal: Journal) -> Context:
    given = form_of(request).get("replaces") if request.method == "POST" else None
    chosen = correcting.current(
        journal, given or request.query.get("entry", ""), CHECKIN_ONLY, "check-in"
    )
    c = chosen.event.body
    assert isinstance(c, ev.CheckIn)
    shown = {
        "day": c.day,
        "energy_on": "1" if c.energy is not None else None,
        "energy": str(c.energy if c.energy is not None else 5),
        "pain_on": "1" if c.pain is not None else None,
        "pain": str(c.pain if c.pain is not None else 5),
        "mood": None if c.mood is None else str(c.mood),
        "need": [n for n in c.needs if n in words.NEEDS],
        "need_more": ", ".join(n for n in c.needs if n not in words.NEEDS),
        "offer": [],
        "offer_more": c.offer or "",
        "note": c.note or "",
    }
    context: Context = {
        "replaces": chosen.event.id.hex(),
        "private": chosen.private,
        "day": chosen.event.local_date,
        "needs": words.NEEDS,
        "offers": words.OFFERS,
    }
    if request.method != "POST":
        context["typed"] = shown
    return context


@action("/correct", "correct.html", "/timeline")
def correct(journal: Journal, form: forms.Form) -> str:
    check_in_from(journal, form, replaces=forms.required(form, "replaces", "entry"))
    return "Corrected. Nothing is rewritten: the timeline keeps both."


CHECKIN_ONLY = frozenset({ev.CheckIn.TYPE})


def check_in_from(
    journal: Journal, form: forms.Form, replaces: str | None = None
) -> record.Recorded:
    """A check-in from the form; with `replaces`, a correction. The correction form shows the
    whole check-in as it stands, so a field left empty there is one the person cleared."""
    values: dict[str, Any] = {
        "day": forms.text(form, "day"),
        "energy": forms.number(form, "energy") if forms.ticked(form, "energy_on") else None,
        "pain": forms.number(form, "pain") if forms.ticked(form, "pain_on") else None,
        "mood": forms.number(form, "mood"),
        "needs": tuple(forms.chosen(form, "need")),
        "offer": ", ".join(forms.chosen(form, "offer")) or None,
        "note": forms.text(form, "note"),
    }
    if replaces is None:
        return record.check_in(journal, private=forms.ticked(form, "private"), **values)
    current = correcting.current(journal, replaces, CHECKIN_ONLY, "check-in").event.body
    cleared = [
        "need" if name == "needs" else name
        for name, value in values.items()
        if value in (None, ()) and getattr(current, name) not in (None, ())
    ]
    return record.check_in(journal, replaces=replaces, clear=cleared, **values)


# --- what you record together ----------------------------------------------------------------


@routes.get("/together")
@page("together.html")
def together_page(request: web.Request, journal: Journal) -> Context:
    month = look.month(journal)
    me = journal.device.person
    wins = [
        {
            "id": e.id.hex(),
            "title": e.body.title if isinstance(e.body, ev.Milestone) else "",
            "by": month.names.get(e.author, "someone"),
            "mine": e.author == me,
            "cheers": len(month.view.celebrations.get(e.id, [])),
        }
        for e in reversed(month.view.milestones)
    ]
    thanks = [
        {
            "by": month.names.get(e.author, "someone"),
            "text": e.body.text if isinstance(e.body, ev.Gratitude) else e.body.summary(),
        }
        for e in reversed(month.view.gratitude)
    ]
    duties, names = look.care_duties(journal)
    return {
        "wins": wins,
        "thanks": thanks,
        "categories": words.CATEGORIES,
        "who_words": words.WHO_WORDS,
        "joys": look.joy_map(journal),
        "goals": keeping.goals(journal),
        "rituals": keeping.rituals(journal),
        "boundaries": [
            (b, keeping.boundaries(journal).whose(b)) for b in keeping.boundaries(journal).rows
        ],
        "care": [
            {
                "id": d.task.id,
                "title": d.task.title,
                "who": "both of you" if d.person is None else names.get(d.person, "someone"),
                "rotate": d.task.rotate,
            }
            for d in duties
        ],
        "calendar": [
            (e.id.hex(), describe.calendar_line(e, names))
            for e in look.calendar(journal).events
            if isinstance(e.body, ev.CalendarEntry) and e.body.date >= dt.date.today().isoformat()
        ],
        "signals": words.SIGNAL_WORDS,
        "week": keeping.current_week(journal),
    }


T = "together.html"


@action("/win", T, "/together")
def small_win(journal: Journal, form: forms.Form) -> str:
    record.small_win(
        journal,
        forms.required(form, "title"),
        category=forms.text(form, "category") or "other",  # type: ignore[arg-type]
        who=forms.text(form, "who") or "both",  # type: ignore[arg-type]
        note=forms.text(form, "note"),
        private=forms.ticked(form, "private"),
    )
    return "A small win, noted."


@action("/celebrate", T, "/together")
def celebrate(journal: Journal, form: forms.Form) -> str:
    record.celebrate(journal, forms.required(form, "win"), forms.text(form, "note"))
    return "Celebrated."


@action("/thanks", T, "/together")
def thank(journal: Journal, form: forms.Form) -> str:
    record.thank(journal, forms.required(form, "text"), private=forms.ticked(form, "private"))
    return "Thank-you kept."


@action("/joy", T, "/together")
def joy(journal: Journal, form: forms.Form) -> str:
    cost = forms.number(form, "cost")
    record.joy_idea(journal, forms.required(form, "title"), cost=1 if cost is None else cost)
    return "A small joy on the map."


@action("/joy/status", T, "/together")
def joy_status(journal: Journal, form: forms.Form) -> str:
    status = forms.required(form, "status")
    record.joy_status(journal, forms.required(form, "joy"), status)  # type: ignore[arg-type]
    return {"planned": "Planned.", "done": "Done: a small joy.", "let-go": "Let go, gently."}.get(
        status, "Kept."
    )


@action("/calendar", T, "/together")
def calendar(journal: Journal, form: forms.Form) -> str:
    on = forms.date(form, "date")
    if on is None:
        raise ValidationError("date", "given (which day?)")
    record.calendar_entry(
        journal,
        forms.text(form, "kind") or "appointment",  # type: ignore[arg-type]
        on,
        at=forms.text(form, "time"),
        title=forms.text(form, "title"),
        who=forms.text(form, "who") or "me",  # type: ignore[arg-type]
    )
    return "On the calendar."


@action("/goal", T, "/together")
def goal(journal: Journal, form: forms.Form) -> str:
    per_week = forms.number(form, "per_week")
    record.gentle_goal(
        journal,
        forms.required(form, "title"),
        per_week=1 if per_week is None else per_week,
        flare_rule=forms.text(form, "flare_rule") or "pause",  # type: ignore[arg-type]
        fallback=forms.text(form, "fallback"),
    )
    return "A gentle goal, set."


@action("/goal/week", T, "/together")
def goal_week(journal: Journal, form: forms.Form) -> str:
    outcome = forms.required(form, "outcome")
    record.goal_week(
        journal,
        forms.required(form, "goal"),
        outcome,  # type: ignore[arg-type]
        note=forms.text(form, "note"),
    )
    return f"This week: {words.GOAL_WORDS.get(outcome, outcome)}."


@action("/ritual", T, "/together")
def ritual(journal: Journal, form: forms.Form) -> str:
    record.ritual(
        journal,
        forms.required(form, "title"),
        cadence=forms.text(form, "cadence") or "weekly",  # type: ignore[arg-type]
        fallback=forms.text(form, "fallback"),
    )
    return "A ritual to keep."


@action("/ritual/keep", T, "/together")
def keep_ritual(journal: Journal, form: forms.Form) -> str:
    keeping.keep_ritual(journal, forms.required(form, "ritual"))
    return "Kept, together."


@action("/boundary", T, "/together")
def boundary(journal: Journal, form: forms.Form) -> str:
    record.boundary(journal, forms.required(form, "text"))
    return "Boundary kept."


@action("/comfort", T, "/together")
def comfort(journal: Journal, form: forms.Form) -> str:
    sharing = forms.text(form, "sharing")
    recorded = record.comfort_signal(
        journal,
        forms.required(form, "signal"),  # type: ignore[arg-type]
        note=forms.text(form, "note"),
        private=sharing == "private",
        share=sharing == "shared",
    )
    return "Comfort signal set" + (", privately." if recorded.private else ".")


@action("/care", T, "/together")
def care(journal: Journal, form: forms.Form) -> str:
    record.care_task(
        journal,
        forms.required(form, "title"),
        owner=forms.text(form, "owner") or "me",  # type: ignore[arg-type]
        cadence=forms.text(form, "cadence") or "weekly",  # type: ignore[arg-type]
        rotate=forms.ticked(form, "rotate"),
    )
    return "A care task on the rota."


@action("/care/swap", T, "/together")
def care_swap(journal: Journal, form: forms.Form) -> str:
    record.care_swap(
        journal,
        forms.required(form, "task"),
        forms.text(form, "to") or "partner",  # type: ignore[arg-type]
        note=forms.text(form, "note"),
    )
    return "Swapped."


@action("/share", "timeline.html", "/timeline")
def share(journal: Journal, form: forms.Form) -> str:
    record.share(journal, forms.required(form, "entry"))
    return "Shared with your partner, as it was written, on its own day."


@action("/note", "today.html", "/", "today")
def note(journal: Journal, form: forms.Form) -> str:
    recorded = record.note(journal, forms.required(form, "text"), share=forms.ticked(form, "share"))
    return "A note of your own, kept" + (" privately." if recorded.private else ", and shared.")


@action("/take-back", "timeline.html", "/timeline")
def take_back(journal: Journal, form: forms.Form) -> str:
    record.take_back(journal, forms.required(form, "entry"), forms.text(form, "reason"))
    return "Taken back. Nothing is rewritten: a note of it is kept."


# --- the weekly partnership ritual ------------------------------------------------------------


@routes.get("/partnership")
@page("partnership.html")
def partnership_page(request: web.Request, journal: Journal) -> Context:
    return {"draft": partnership.draft(journal, request.query.get("week") or None)}


@action("/partnership", "partnership.html", "/partnership")
def partnership_save(journal: Journal, form: forms.Form) -> str:
    made = partnership.draft(journal, forms.text(form, "week"))
    keep = {int(k.removeprefix("keep_")) for k in form if k.startswith("keep_")}
    drop = [s.number for s in made.suggestions if s.number not in keep]
    partnership.save(journal, made, drop=drop, adjustment=forms.text(form, "adjustment"))
    return "This week's partnership, kept."


# --- looking back -----------------------------------------------------------------------------


MEASURES = {"energy": "Energy (0 to 10)", "pain": "Pain (0 to 10)"}


def period_context(shown: look.Period, title: str) -> Context:
    view = shown.view
    win_days = {e.local_date for e in view.milestones}
    people = []
    for person, days in view.people.items():
        rows = shown.series.get(person, [])
        rest = {k for k, c in days.checkins.items() if c.day in ("rest", "flare")}
        people.append(
            {
                "name": days.name,
                "charts": [
                    (
                        MEASURES[measure],
                        charts.chart(
                            f"{days.name}: {measure}",
                            measure,
                            [
                                charts.Day(
                                    d,
                                    e if measure == "energy" else p,
                                    d.isoformat() in rest,
                                    d.isoformat() in win_days,
                                )
                                for d, e, p in rows
                            ],
                            key=f"{person.hex()[:8]}-{measure}",
                        ),
                    )
                    for measure in MEASURES
                ],
                "rest_days": sorted(rest),
            }
        )
    found = shown.lookup or describe.Lookup(shown.names, {})
    return {
        "title": title,
        "people": people,
        "wins": [
            (
                e.body.title if isinstance(e.body, ev.Milestone) else e.body.summary(),
                shown.names.get(e.author, "someone"),
                len(view.celebrations.get(e.id, [])),
            )
            for e in view.milestones
        ],
        "thanks": [
            (
                e.body.text if isinstance(e.body, ev.Gratitude) else e.body.summary(),
                shown.names.get(e.author, "someone"),
            )
            for e in view.gratitude
        ],
        "joys_done": [j.title for j in shown.joys if j.status == "done"],
        "goals": [
            (
                g.title,
                ", ".join(f"{w}: {words.GOAL_WORDS.get(o, o)}" for w, o in sorted(g.weeks.items())),
            )
            for g in shown.goals
        ],
        "calendar": [describe.calendar_line(e, shown.names) for e in view.calendar],
        "swaps": [describe.line(e, found) for e in view.care_swaps],
    }


@routes.get("/week")
@page("period.html")
def week_page(request: web.Request, journal: Journal) -> Context:
    at = forms.date(request.query, "at")
    shown = look.week(journal, at)
    v = shown.view
    title = f"The week of {v.start:%-d %B}"
    return {
        "title": title,
        "period": period_context(shown, title),
        "kind": "week",
        "before": v.start - dt.timedelta(days=7),
        "after": v.start + dt.timedelta(days=7),
    }


@routes.get("/month")
@page("period.html")
def month_page(request: web.Request, journal: Journal) -> Context:
    at = forms.date(request.query, "at")
    shown = look.month(journal, at)
    v = shown.view
    title = f"{v.start:%B %Y}"
    return {
        "title": title,
        "period": period_context(shown, title),
        "kind": "month",
        "before": v.start - dt.timedelta(days=1),
        "after": v.end + dt.timedelta(days=1),
    }


@routes.get("/timeline")
@page("timeline.html")
def timeline_page(request: web.Request, journal: Journal) -> Context:
    q = request.query
    kind = q.get("kind") or ""
    whose = q.get("whose") or None
    if whose not in (None, "me", "partner"):
        raise ValidationError("whose", "me or partner", whose)
    shown = look.timeline(
        journal,
        forms.date(q, "since"),
        forms.date(q, "until"),
        [kind] if kind else (),
        whose,  # type: ignore[arg-type]  # checked just above
    )
    found = shown.lookup or describe.Lookup(shown.names, {})
    me = journal.device.person
    rows = [
        {
            "id": e.id.hex(),
            "date": e.local_date,
            "who": shown.names.get(e.author, "someone"),
            "text": describe.line(e, found),
            "mine": e.author == me,
            "checkin": isinstance(e.body, ev.CheckIn),
            "private": e.id in shown.private,
            "shareable": e.id in shown.private and e.type in ev.SHAREABLE_TYPES,
        }
        for e in reversed(shown.events)
    ]
    return {
        "rows": rows,
        "kinds": words.ENTRY_KINDS,
        "q": dict(q),
    }


@routes.get("/replay")
@page("replay.html")
def replay_page(request: web.Request, journal: Journal) -> Context:
    when = forms.date(request.query, "at")
    if when is None:
        return {"replay": None}
    moment = dt.datetime.combine(when, dt.time(23, 59, 59)).astimezone()
    shown = look.replay(journal, moment)
    view = shown.today.view
    people = [
        {
            "name": name,
            "lines": words.checkin_lines(
                e.body if e is not None and isinstance(e.body, ev.CheckIn) else None
            ),
        }
        for _p, name, e in view.people
    ]
    return {
        "replay": shown,
        "people": people,
        "week": period_context(shown.week, f"The week of {shown.week.view.start:%-d %B}"),
        "at": when,
    }


@routes.get("/compare")
@page("compare.html")
def compare_page(request: web.Request, journal: Journal) -> Context:
    first, second = request.query.get("first", ""), request.query.get("second", "")
    if not (first and second):
        return {"summaries": None, "first": first, "second": second}
    summaries = sorted(look.compare(journal, [first, second]), key=lambda s: s.period.start)
    return {"summaries": summaries, "first": first, "second": second}


# --- devices, pairing, recovery, sync ----------------------------------------------------------


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
    return {"roster": held, "invitation": invitation, "qr": qr, "me": journal.device.person}


@action("/devices/confirm", "devices.html", "/devices", "devices")
def confirm(journal: Journal, form: forms.Form) -> str:
    devices.confirm_compared(journal, forms.text(form, "device"))
    return "Safety code confirmed: you compared it in person."


@action("/devices/remove", "devices.html", "/devices", "devices")
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


# --- a fresh home, a locked journal ------------------------------------------------------------


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


def setup_refused(request: web.Request, error: TendError) -> web.Response:
    field = error.field if isinstance(error, ValidationError) else "_"
    return show(
        request,
        "setup.html",
        setup_context(request),
        status=400,
        errors={field: words.error_line(error)},
    )


class WeakPassphrase(ValidationError):
    """A passphrase refused as too easy to guess, said by its field."""

    def __init__(self, why: str) -> None:
        super().__init__("passphrase", "harder to guess")
        self.args = (why,)


async def chosen_lock(form: forms.Form, name: str | None) -> Any:
    """The lock for a device file made from the page, if a passphrase was chosen (checked for
    strength and typed twice alike); None without one."""
    typed = form.get("passphrase")
    if not isinstance(typed, str) or not typed:
        return None
    if typed != form.get("passphrase_again"):
        raise ValidationError("passphrase_again", "the same passphrase, typed again")
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(
            None, functools.partial(homes.new_lock, typed, context=(name,) if name else ())
        )
    except TendError as e:
        raise WeakPassphrase(str(e)) from None


@routes.post("/setup/start")
async def start(request: web.Request) -> web.Response:
    state = state_of(request)
    form = form_of(request)
    try:
        name = forms.required(form, "name")
        relay = forms.text(form, "relay")
        homes.refuse_if_exists(state.home)
        lock = await chosen_lock(form, name)
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
    try:
        parsed = pairing.parse_code(forms.required(form, "code"))
        homes.refuse_if_exists(state.home)
        name = forms.text(form, "name")
        lock = await chosen_lock(form, name)
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


# --- live updates ------------------------------------------------------------------------------


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one `change` for each thing the open page should show anew."""
    state = state_of(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    await response.write(b"retry: 5000\n\n")
    with state.feed.listen() as queue, contextlib.suppress(ConnectionResetError):
        while not state.stopping.is_set():
            try:
                change = await asyncio.wait_for(queue.get(), timeout=15)
            except TimeoutError:
                await response.write(b": still here\n\n")  # keeps proxies and the browser calm
                continue
            await response.write(f"event: change\ndata: {change.part}\n\n".encode())
    return response
