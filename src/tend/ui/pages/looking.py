"""Looking back: week and month with their charts, the timeline with its filters, a day as it
was, two periods side by side; and from the timeline, sharing later and taking back.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from tend.app import look, record
from tend.core.domain import events as ev
from tend.core.errors import ValidationError
from tend.core.journal import Journal
from tend.core.views import describe
from tend.ui import charts, forms, words
from tend.ui.pages.base import Context, action, page, routes

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
            "keyed": e.type in ev.KEYED_KINDS,  # words of its own, which forgetting erases
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


@action("/share", "timeline.html", "/timeline")
def share(journal: Journal, form: forms.Form) -> str:
    record.share(journal, forms.required(form, "entry"))
    return "Shared with your partner, as it was written, on its own day."


@action("/take-back", "timeline.html", "/timeline")
def take_back(journal: Journal, form: forms.Form) -> str:
    forget = forms.ticked(form, "forget")
    record.take_back(
        journal, forms.required(form, "entry"), forms.text(form, "reason"), forget=forget
    )
    if forget:
        return (
            "Taken back, and its words forgotten here: they go from your partner's devices "
            "and from the relay as they sync."
        )
    return "Taken back. Nothing is rewritten: a note of it is kept."
