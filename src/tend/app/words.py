"""The gentle words both faces use for what the views hold: a check-in's lines, and what a
flare did to each goal. One place, so the command and the page never drift apart; each face
adds only its own next steps (a command to run, or a button to press)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tend.core.domain import events as ev

if TYPE_CHECKING:  # only its types: the words stay cheap to import for a view command
    from tend.app import flare

DAY_WORDS = {
    "good": "good day",
    "gentle": "gentle day",
    "rest": "rest day (kept)",
    "flare": "flare day",
}


def checkin_lines(c: ev.CheckIn | None) -> list[str]:
    """A check-in as short lines: its day, its numbers, what would help, offers, its note."""
    if c is None:
        return ["no check-in yet, whenever it feels right"]
    lines = []
    if c.day:
        lines.append(DAY_WORDS[c.day])
    numbers = [
        f"{label} {value}"
        for label, value in (("energy", c.energy), ("pain", c.pain), ("mood", c.mood))
        if value is not None
    ]
    if numbers:
        lines.append(" · ".join(numbers))
    if c.needs:
        lines.append("would help: " + ", ".join(c.needs))
    if c.offer:
        lines.append("can offer: " + c.offer)
    if c.note:
        lines.append("note: " + c.note)
    return lines


def bend_lines(bends: list[flare.GoalBend]) -> list[str]:
    """What a flare did to each goal, a line each."""
    out = []
    for bend in bends:
        title = bend.goal.title
        if bend.did == "paused":
            out.append(f"{title}: paused for this week. Rest counts.")
        elif bend.did == "halved":
            out.append(f"{title}: {bend.target} of {bend.goal.per_week} this week.")
        elif bend.did == "kept":
            out.append(f"{title}: kept as it is.")
        elif bend.already:
            out.append(f"{title}: already {bend.already} this week; left as it is.")
        else:
            out.append(f"{title}: already bent for a flare this week; left as it is.")
    return out
