"""Everything a couple keeps together, each a form calling its app function: small wins and
celebrating them, thank-yous, the joy map, the calendar, gentle goals, rituals, boundaries,
comfort signals, the care rota, and the weekly partnership ritual.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from tend.app import flare, keeping, look, partnership, record
from tend.core.domain import events as ev
from tend.core.errors import ValidationError
from tend.core.journal import Journal
from tend.core.views import describe
from tend.ui import forms, words
from tend.ui.pages.base import Context, action, page, routes


@routes.get("/together")
@page("together.html")
def together_page(request: web.Request, journal: Journal) -> Context:
    month = look.month(journal)
    kept = keeping.boundaries(journal, everything=True)
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
        "boundaries": [(b, kept.whose(b)) for b in kept.rows if b.active],
        "set_aside": set_aside_rows(journal, kept),
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


KINDS = {"goal": "goal", "ritual": "ritual", "boundary": "boundary", "care": "care task"}


@action("/set-aside", T, "/together")
def set_aside(journal: Journal, form: forms.Form) -> str:
    """Set a goal, ritual, boundary or care task aside: it leaves the lists, and can come back."""
    kind = KINDS.get(forms.required(form, "kind"))
    if kind is None:
        raise ValidationError("kind", "goal, ritual, boundary or care")
    keeping.retire(journal, kind, forms.required(form, "id"))  # type: ignore[arg-type]
    return "Set aside. It can come back whenever you like."


@action("/goals/flare", T, "/together")
def bend_for_a_flare(journal: Journal, form: forms.Form) -> list[str]:
    """Bend this week's goals for a flare, as a flare check-in does (by each goal's rule)."""
    bends = flare.bend_goals(journal, keeping.current_week(journal))
    return words.bend_lines(bends) or ["No gentle goals to bend."]


@action("/goals/unflare", T, "/together")
def undo_a_flare(journal: Journal, form: forms.Form) -> str:
    titles = flare.undo(journal)
    return "Put back as they were: " + ", ".join(titles) + "."


def set_aside_rows(journal: Journal, kept: keeping.Boundaries) -> list[tuple[str, str, str]]:
    """(kind, id, title) of what was set aside and may come back (one's own boundaries only)."""
    goals = keeping.goals(journal, everything=True)
    rows = [("goal", g.id, g.title) for g in goals if not g.active]
    rows += [
        ("ritual", r.id, r.title) for r in keeping.rituals(journal, everything=True) if not r.active
    ]
    rows += [
        ("boundary", b.id, b.text) for b in kept.rows if not b.active and kept.whose(b) == "yours"
    ]
    duties, _names = look.care_duties(journal, everything=True)
    rows += [("care", d.task.id, d.task.title) for d in duties if not d.task.active]
    return rows


@action("/bring-back", T, "/together")
def bring_back(journal: Journal, form: forms.Form) -> str:
    kind = KINDS.get(forms.required(form, "kind"))
    if kind is None:
        raise ValidationError("kind", "goal, ritual, boundary or care")
    keeping.bring_back(journal, kind, forms.required(form, "id"))  # type: ignore[arg-type]
    return "Brought back."
