"""Learning together: books, articles and questions the two of you want to take in, one list.

The list is shared, editable state (core/domain/shared_state.py): an item's words speak for the
person who added it, and either of you may mark it done ("read it", "talked it over") or put it
back on the list. There is no due date and nothing overdue.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tend.app import finding
from tend.app.record import Recorded
from tend.core.domain import events as ev
from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.core.views import projections

DOC = "learning"
# How a done item is said, by its kind: a book is read, a question talked over.
DONE_WORDS = {"book": "read it", "article": "read it", "question": "talked it over"}


@dataclass(frozen=True)
class LearnRow:
    id: str
    title: str
    kind: str  # book, article, question, other
    link: str | None
    status: str  # open, done
    by: str  # the person who added it (hex)


def done_word(kind: str) -> str:
    return DONE_WORDS.get(kind, "done together")


def add(
    journal: Journal, title: str, *, kind: ev.LearnKind = "other", link: str | None = None
) -> Recorded:
    """Put something on the list to learn about together."""
    added = journal.record(lambda item: ev.LearnItem(item=item, title=title, kind=kind, link=link))
    return Recorded(added, False)


def mark(journal: Journal, item_id: str, status: ev.LearnStatusWord = "done") -> LearnRow:
    """Mark an item done (or, with "open", put it back on the list); either of you may.
    Returns the item as it is now."""
    rows = {EventId(bytes.fromhex(row.id)): row for row in listing(journal)}
    item = finding.resolve_id(item_id, rows, "item on the learning list")
    journal.record(ev.LearnStatus(item=item, status=status))
    return dataclasses.replace(rows[item], status=status)


def listing(journal: Journal) -> list[LearnRow]:
    """The learning list, in the order things were added."""
    return [
        LearnRow(
            key,
            str(fields.get("title", "")),
            str(fields.get("kind", "other")),
            str(fields["link"]) if fields.get("link") else None,
            str(fields.get("status", "open")),
            str(fields.get("by", "")),
        )
        for key, fields in projections.board(journal.items(), DOC).items()
    ]
