"""The page's words for what the views hold: the same gentle words the command prints."""

from __future__ import annotations

from tend.app import flare
from tend.app import words as shared_words
from tend.core.domain import events as ev
from tend.core.errors import NextStep, TendError
from tend.core.views.projections import Comfort

checkin_lines = shared_words.checkin_lines  # the command's lines for a check-in, as they are

JOY_WORDS = {"idea": "an idea", "planned": "planned", "done": "done", "let-go": "let go"}
GOAL_WORDS = {"met": "met", "adapted": "adapted", "paused": "paused for rest"}
SIGNAL_WORDS = {
    "green": "green: all good",
    "yellow": "yellow: go gently",
    "red": "red: not now, please",
    "pause": "pause: a pause for now",
}
NEEDS = ("rest", "quiet", "company", "a hug", "a meal made", "help with chores", "a walk", "space")
OFFERS = ("a hug", "cooking", "company", "listening", "errands", "a walk", "quiet time")
CATEGORIES = ev.MilestoneCategory.__args__  # type: ignore[attr-defined]
WHO_WORDS = {"me": "me", "partner": "my partner", "both": "both of us"}
ENTRY_KINDS = {
    ev.CheckIn.TYPE: "check-ins",
    ev.Milestone.TYPE: "small wins",
    ev.Gratitude.TYPE: "thank-yous",
    ev.CalendarEntry.TYPE: "calendar",
    ev.ComfortSignal.TYPE: "comfort signals",
    ev.PartnershipWeek.TYPE: "partnership",
    ev.Celebration.TYPE: "celebrations",
}


def comfort_words(comfort: Comfort) -> str:
    return f"comfort: {comfort.signal}" + (f" ({comfort.note})" if comfort.note else "")


# What to do next, in the page's words (the command names its commands instead).
NEXT_STEPS = {
    NextStep.VERIFY: "; run tend verify in a terminal to see what is damaged",
    NextStep.INIT: "; start a journal on this page",
    NextStep.SYNC_AGAIN: "; it will try again by itself (nothing was lost)",
    NextStep.INVITE_AGAIN: ": make a new invitation",
    NextStep.REMOVE_OWN_DEVICE: (": remove it under Devices, or restore from your recovery phrase"),
    NextStep.SYNC_LATER: ": check again later",
    NextStep.INVITE_ANOTHER_PERSON: (
        ". If you both want that, run tend invite --another-person in a terminal"
    ),
    NextStep.ALREADY_KEPT_IN_SYNC: " (another page, or tend sync --watch in a terminal)",
    NextStep.ADMISSION_CODE: "; then run tend sync --admission-code CODE in a terminal",
    NextStep.RECREATE: (
        "; to put it back there from this device, run tend sync --recreate in a terminal"
    ),
    NextStep.USE_TLS: (
        "; use its https:// address, or, only on a network you trust, start tend --insecure ui"
    ),
    NextStep.REMOVE_REPLACED_DEVICES: (
        "; their device comes in once every old device of that person is removed, under Devices"
    ),
}


def said(what: str, step: NextStep | None) -> str:
    return what if step is None else what + NEXT_STEPS[step]


def error_line(error: TendError) -> str:
    """A refusal as the page says it: what happened, then what to do next, if anything."""
    return said(str(error), error.next_step)


def flare_lines(response: flare.FlareResponse, has_goals: bool) -> list[str]:
    """After a flare check-in: what it did to the week's goals, and what is on offer (the
    command's words, with the page's ways to act)."""
    out: list[str] = []
    if response.private:
        if has_goals:
            out.append(
                "Your check-in is private, so your shared goals are as they were; you can bend "
                "them for this week under Together."
            )
    elif response.bends:
        out.append(f"For this flare, your goals for {response.week}:")
        out += bend_lines(response.bends)
    for title, fallback in response.fallbacks:
        out.append(f"If fatigue comes, for {title}: {fallback}.")
    if response.swappable:
        listed = ", ".join(t.title for t in response.swappable)
        out.append(
            f"If a care task feels heavy today, your partner may take it: {listed} "
            "(swap it under Together)."
        )
    if response.anchor is not None:
        when = f" ({response.anchor.date})" if response.anchor.date else ""
        out.append(f"A memory to hold on to: {response.anchor.text}{when}")
    return out


def bend_lines(bends: list[flare.GoalBend]) -> list[str]:
    """What a flare did to each goal, and where the page puts them back."""
    out = shared_words.bend_lines(bends)
    if any(b.did in ("paused", "halved") for b in bends):
        out.append("To put them back as they were: the button under Gentle goals.")
    return out
