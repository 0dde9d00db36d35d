"""Questions for the clinician: noted when they come up, private unless the person shares
them, and gathered into the report the person takes to an appointment (`tend report
--only-mine`)."""

from __future__ import annotations

from dataclasses import dataclass

from tend.app import privacy
from tend.app.record import Recorded
from tend.core.domain import events as ev
from tend.core.journal import Journal
from tend.core.views import projections


@dataclass(frozen=True)
class QuestionRow:
    id: str
    text: str
    date: str  # the day it was noted
    private: bool


def ask(journal: Journal, text: str, *, share: bool = False) -> Recorded:
    """Note a question for the clinician: private to this person's devices unless shared."""
    private = not share
    return Recorded(journal.record(ev.ClinicianQuestion(text=text), private=private), private)


def questions(journal: Journal) -> list[QuestionRow]:
    """This person's own questions, in the order they were noted (taken back ones left out)."""
    items = journal.items()
    me = journal.device.person
    mine = [i for i in items if i.type == ev.ClinicianQuestion.TYPE and i.author == me]
    private = privacy.kept_private(journal, mine)
    rows = []
    for event in projections.timeline(items, types=frozenset({ev.ClinicianQuestion.TYPE})):
        body = event.body
        if event.author != me or not isinstance(body, ev.ClinicianQuestion):
            continue
        rows.append(QuestionRow(event.id.hex(), body.text, event.local_date, event.id in private))
    return rows
