"""Practices, when they help: anchor memories for hard days, learning together, questions for
the clinician, and the week's moments of reaching out to each other."""

from __future__ import annotations

from aiohttp import web

from tend.app import anchors, clinician, learning, reaching
from tend.core.domain import events as ev
from tend.core.journal import Journal
from tend.ui import forms
from tend.ui.pages.base import Context, action, page, routes

P = "practices.html"


@routes.get("/practices")
@page(P)
def practices_page(request: web.Request, journal: Journal) -> Context:
    shown = reaching.reached_out(journal)
    return {
        "anchors": anchors.listing(journal),
        "learning": [(row, learning.done_word(row.kind)) for row in learning.listing(journal)],
        "learn_kinds": ev.LEARN_KINDS,
        "questions": clinician.questions(journal),
        "reached": [moment_line(m) for m in shown.moments],
        "reached_from": shown.start,
    }


def moment_line(moment: reaching.Moment) -> tuple[str, str]:
    """(day, words) for one moment of reaching out, as `tend reached-out` says it."""
    who = moment.name or "someone"
    other = moment.for_name or "their partner"
    if moment.kind == "celebrated":
        note = f": {moment.note}" if moment.note else ""
        said = f"{who} celebrated a small win, {moment.text}{note}"
    elif moment.kind == "thanked":
        said = f"{who} thanked {other}: {moment.text}"
    else:
        said = f"{who} offered {moment.text}"
    return f"{moment.date:%A}", said


@action("/anchor", P, "/practices")
def anchor(journal: Journal, form: forms.Form) -> str:
    added = anchors.add(
        journal,
        forms.required(form, "text"),
        on=forms.date(form, "date"),
        private=forms.ticked(form, "private"),
    )
    return "Kept as an anchor" + (", privately." if added.private else ".")


@action("/learn", P, "/practices")
def learn(journal: Journal, form: forms.Form) -> str:
    learning.add(
        journal,
        forms.required(form, "title"),
        kind=forms.text(form, "kind") or "other",  # type: ignore[arg-type]
        link=forms.text(form, "link"),
    )
    return "On the list."


@action("/learn/done", P, "/practices")
def learn_done(journal: Journal, form: forms.Form) -> str:
    again = forms.ticked(form, "again")
    marked = learning.mark(journal, forms.required(form, "item"), "open" if again else "done")
    return "Back on the list." if again else f"{learning.done_word(marked.kind).capitalize()}."


@action("/ask", P, "/practices")
def ask(journal: Journal, form: forms.Form) -> str:
    noted = clinician.ask(journal, forms.required(form, "text"), share=forms.ticked(form, "share"))
    return "A question for the clinician, kept" + (" privately." if noted.private else ", shared.")
