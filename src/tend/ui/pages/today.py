"""Today: the two of you side by side, a rest day in one tap, a gentle check-in and its
correction, and a note of one's own.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tend.app import correcting, keeping, look, record
from tend.core.domain import events as ev
from tend.core.journal import Journal
from tend.core.views import describe
from tend.ui import forms, words
from tend.ui.pages.base import Context, action, form_of, page, routes


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
def check_in(journal: Journal, form: forms.Form) -> list[str]:
    recorded = check_in_from(journal, form)
    said = ["Checked in" + (", privately." if recorded.private else ".")]
    if recorded.flare is not None:
        said += words.flare_lines(recorded.flare, bool(keeping.goals(journal)))
    return said


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


@action("/note", "today.html", "/", "today")
def note(journal: Journal, form: forms.Form) -> str:
    recorded = record.note(journal, forms.required(form, "text"), share=forms.ticked(form, "share"))
    return "A note of your own, kept" + (" privately." if recorded.private else ", and shared.")
