"""Writing the journal out in an open format (readable by design: the person chooses where)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tend.core.journal import Journal
from tend.core.views import export

FORMATS = ("markdown", "json", "automerge")


@dataclass(frozen=True)
class Exported:
    entries: int  # for markdown and json
    documents: list[Path]  # for automerge: one file per shared document


def write(journal: Journal, fmt: str, out: Path) -> Exported:
    items = journal.items()
    if fmt == "json":
        return Exported(export.to_json(items, out), [])
    if fmt == "markdown":
        return Exported(export.to_markdown(items, out), [])
    return Exported(0, export.to_automerge(items, out))
