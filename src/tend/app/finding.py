"""Finding what a person means by the first characters of an id (as they see it printed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from tend.core.domain import events as ev
from tend.core.domain.codec import decode_event
from tend.core.errors import UserError, ValidationError
from tend.core.ids import EventId, LogId
from tend.core.journal import Journal

MIN_PREFIX = 4
P = TypeVar("P", bound=ev.Payload)


def resolve_id(prefix: str, candidates: Iterable[bytes], what: str) -> EventId:
    """The one id among `candidates` whose hex starts with `prefix`."""
    wanted = prefix.lower().strip()
    if len(wanted) < MIN_PREFIX:
        raise ValidationError(what, f"at least the first {MIN_PREFIX} characters of its id")
    found = {c for c in candidates if c.hex().startswith(wanted)}
    if not found:
        raise UserError(f"no {what} with an id starting {wanted}")
    if len(found) > 1:
        raise UserError(f"more than one {what} starts with {wanted}; give more of the id")
    return EventId(found.pop())


def own_events(journal: Journal, *types: str) -> dict[EventId, ev.Event]:
    """This person's own entries (of these types, or all), by id: what they may correct or take
    back."""
    me = journal.device.person
    found = (decode_event(i.raw) for i in journal.items() if not types or i.type in types)
    return {e.id: e for e in found if e.author == me}


def small_wins(journal: Journal) -> list[EventId]:
    return [decode_event(i.raw).id for i in journal.items() if i.type == ev.Milestone.TYPE]


def goals(journal: Journal) -> list[EventId]:
    return [goal.goal for goal in bodies(journal, ev.GoalSet)]


def care_tasks(journal: Journal) -> list[EventId]:
    return [task.task for task in bodies(journal, ev.CareTask)]


def rotates(journal: Journal, task: EventId) -> bool:
    """Whether a care task turns about weekly between the two of you, as things stand."""
    from tend.core.views import projections

    return any(row.rotate for row in projections.care_rota(journal.items()) if row.id == task.hex())


def joy_ideas(journal: Journal) -> dict[EventId, str]:
    """Every joy idea, with the week it was planned for."""
    return {idea.item: idea.week for idea in bodies(journal, ev.JoyIdea)}


def device(journal: Journal, prefix: str, *, others_only: bool = False) -> LogId:
    """A device on the roster (with `others_only`, one of someone else's)."""
    members = journal.roster().members
    me = journal.device.person
    candidates = [d for d, m in members.items() if not (others_only and m.person == me)]
    what = "device of someone else" if others_only else "device"
    return LogId(resolve_id(prefix, candidates, what))


def bodies(journal: Journal, kind: type[P]) -> list[P]:
    """The payloads of every entry of one kind that counts, in merge order."""
    found = []
    for item in journal.items():
        if item.type == kind.TYPE:
            body = decode_event(item.raw).body
            assert isinstance(body, kind)
            found.append(body)
    return found
