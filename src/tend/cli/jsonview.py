"""The stable JSON shapes of every read command (documented in docs/cli.md).

Ids are lowercase hex. Dates are ISO 8601. Keys are only ever added, never renamed or removed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tend.core.domain.codec import payload_fields
from tend.core.domain.events import CalendarEntry, Event
from tend.core.ids import EventId, PersonId
from tend.core.views import describe
from tend.core.views.export import event_record, plain
from tend.core.views.projections import Comfort, PeriodView, TodayView

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from tend.app import devices, look
    from tend.core.views.compare import PeriodSummary  # only `tend compare` loads it

JSONValue = Any


def rows(found: Sequence[DataclassInstance]) -> list[dict[str, JSONValue]]:
    """Typed view rows (dataclasses of plain values), as JSON objects with the same keys."""
    return [dataclasses.asdict(row) for row in found]


def dumps(value: JSONValue) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


event = event_record


def described(
    ev: Event, found: describe.Lookup, private: frozenset[EventId] = frozenset()
) -> dict[str, JSONValue]:
    """An event object with `summary`: the line the text output shows for it."""
    return dict(event(ev, found.names, private), summary=describe.line(ev, found))


def calendar_event(
    ev: Event, names: dict[PersonId, str], private: frozenset[EventId] = frozenset()
) -> dict[str, JSONValue]:
    """A calendar entry with `for`: whose day it is (`person` and `name` null for both)."""
    body = ev.body
    assert isinstance(body, CalendarEntry)
    person = describe.whose_person(body.who, ev.author, names)
    return dict(
        event(ev, names, private),
        summary=describe.calendar_line(ev, names),
        **{
            "for": {
                "both": body.who == "both",
                "person": person.hex() if person else None,
                "name": names.get(person) if person else None,
            }
        },
    )


def timeline_event(ev: Event, shown: look.Timeline) -> dict[str, JSONValue]:
    """An event of the timeline, with `summary` (and `for`, for a calendar entry)."""
    if isinstance(ev.body, CalendarEntry):
        return calendar_event(ev, shown.names, shown.private)
    return described(ev, shown.lookup or describe.Lookup(shown.names, {}), shown.private)


def comfort(signal: Comfort | None) -> dict[str, JSONValue] | None:
    if signal is None:
        return None
    return {
        "signal": signal.signal,
        "note": signal.note,
        "pause": signal.pause,
        "private": signal.private,
    }


def today(view: TodayView, names: dict[PersonId, str]) -> dict[str, JSONValue]:
    return {
        "date": view.on.isoformat(),
        "people": [
            {
                "person": p.hex(),
                "name": name,
                "checkin": event(ev, names, view.private) if ev is not None else None,
                "comfort": comfort(view.comfort.get(p)),
            }
            for p, name, ev in view.people
        ],
        "calendar": [calendar_event(e, names) for e in view.calendar],
    }


def period(
    view: PeriodView,
    names: dict[PersonId, str],
    shared: dict[str, JSONValue],
    lookup: describe.Lookup | None = None,
) -> dict[str, JSONValue]:
    found = lookup or describe.Lookup(names, {})
    return {
        "start": view.start.isoformat(),
        "end": view.end.isoformat(),
        "people": [
            {
                "person": p.hex(),
                "name": days.name,
                "rest_days_honoured": view.rest_days_honoured(p),
                "private_days": sorted(days.private_days),
                "days": {
                    d: {k: plain(v) for k, v in payload_fields(c).items()}
                    for d, c in sorted(days.checkins.items())
                },
            }
            for p, days in view.people.items()
        ],
        "milestones": [
            dict(
                event(e, names, view.private),
                celebrations=[event(c, names) for c in view.celebrations.get(e.id, [])],
            )
            for e in view.milestones
        ],
        "gratitude": [event(e, names, view.private) for e in view.gratitude],
        "calendar": [calendar_event(e, names, view.private) for e in view.calendar],
        "partnership": [described(e, found, view.private) for e in view.partnership],
        "goal_weeks": [event(e, names, view.private) for e in view.goal_weeks],
        "comfort": [described(e, found, view.private) for e in view.comfort],
        "boundaries": [described(e, found, view.private) for e in view.boundaries],
        "care_swaps": [described(e, found, view.private) for e in view.care_swaps],
        **shared,
    }


def series(shown: look.Period) -> list[dict[str, JSONValue]]:
    """Each person's energy and pain on every day of the period (null: nothing noted)."""
    return [
        {
            "person": person.hex(),
            "name": shown.view.people[person].name,
            "days": [{"date": d.isoformat(), "energy": e, "pain": p} for d, e, p in rows],
        }
        for person, rows in shown.series.items()
    ]


def replay(then: look.Replay) -> dict[str, JSONValue]:
    """The journal as it was: that day, and its week (with the joys and goals of that week)."""
    week = then.week
    return {
        "at": then.at.isoformat(timespec="seconds"),
        "entries_known": then.entries_known,
        "today": today(then.today.view, then.today.names),
        "week": period(
            week.view,
            week.names,
            {"joys": rows(week.joys), "goals": rows(week.goals)},
            week.lookup,
        ),
    }


def device(row: devices.DeviceRow) -> dict[str, JSONValue]:
    """One device on the roster (`tend devices --json`)."""
    return {
        "id": row.id.hex(),
        "person": row.person.hex(),
        "name": row.name,
        "label": row.label,
        "this_device": row.this_device,
        "removed": row.removed,
        "lost": row.lost,
        "brought_in_by": row.brought_in_by,
        "safety_code": row.safety_code,
        "compared": row.compared,
    }


def compare(summaries: Sequence[PeriodSummary]) -> dict[str, JSONValue]:
    """`tend compare`: each period's counts, then each person's averages as noted."""
    return {
        "periods": [
            {
                "period": s.period.text,
                "kind": s.period.kind,
                "label": s.period.label,
                "start": s.period.start.isoformat(),
                "end": s.period.end.isoformat(),
                "weeks": s.period.weeks(),
                "milestones": s.milestones,
                "celebrations": s.celebrations,
                "gratitude": s.gratitude,
                "joys_done": s.joys_done,
                "rest_days_honoured": s.rest_days_honoured,
                "goals_met": s.goals_met,
                "goals_adapted": s.goals_adapted,
                "goals_paused": s.goals_paused,
                "people": [
                    {
                        "person": p.person.hex(),
                        "name": p.name,
                        "rest_days_honoured": p.rest_days_honoured,
                        "energy_average": p.energy_average,
                        "energy_days": len(p.energy),
                        "pain_average": p.pain_average,
                        "pain_days": len(p.pain),
                    }
                    for p in s.people
                ],
            }
            for s in summaries
        ]
    }
