"""Export the journal in open formats: JSON, readable Markdown, and standard Automerge binaries.

Exports hold plaintext, so every file is written with mode 0600; where it goes is the person's
choice, and the CLI says so.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tend.core.domain import shared_state
from tend.core.domain.codec import decode_event, payload_fields
from tend.core.domain.events import Event, EventType
from tend.core.fsutil import ensure_private_dir, write_private_atomic
from tend.core.ids import EventId, PersonId
from tend.core.views import describe, projections
from tend.core.views.read_model import Item

ONLY_YOU = "(only you)"  # beside a private entry, wherever its author's views show it


def plain(value: object) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def event_record(
    ev: Event, names: dict[PersonId, str], private: frozenset[EventId] = frozenset()
) -> dict[str, Any]:
    """The stable JSON form of one event (keys documented in docs/cli.md); `private` holds the
    ids of the private entries (only their author's devices read them)."""
    moment = dt.datetime.fromtimestamp(
        ev.wall_ms / 1000, dt.timezone(dt.timedelta(minutes=ev.tz_minutes))
    )
    return {
        "id": ev.id.hex(),
        "type": ev.type,
        "author": ev.author.hex(),
        "author_name": names.get(ev.author),
        "device": ev.device.hex(),
        "date": ev.local_date,
        "recorded_at": moment.isoformat(timespec="seconds"),
        "hlc": ev.hlc,
        "supersedes": ev.supersedes.hex() if ev.supersedes else None,
        "fields": {k: plain(v) for k, v in payload_fields(ev.body).items()},
        "private": ev.id in private,
    }


def shared_docs(items: Sequence[Item]) -> list[str]:
    return sorted({i.doc for i in items if i.doc})


def to_json(items: Sequence[Item], path: Path) -> int:
    names = projections.names(items)
    events = projections.visible([decode_event(i.raw) for i in items])
    private = projections.private_ids(items)
    document = {
        "format": "tend-export",
        "version": 1,
        "people": {p.hex(): n for p, n in names.items()},
        "events": [event_record(ev, names, private) for ev in events],
        "shared": {doc: projections.board(items, doc) for doc in shared_docs(items)},
    }
    write_private_atomic(path, json.dumps(document, ensure_ascii=False, indent=2).encode())
    return len(events)


def to_markdown(items: Sequence[Item], path: Path) -> int:
    names = projections.names(items)
    events = [
        ev
        for ev in projections.visible([decode_event(i.raw) for i in items])
        if ev.type not in (EventType.DEVICE_ADDED, EventType.SEALED)
    ]
    events.sort(key=lambda ev: (ev.local_date, ev.hlc))
    private = projections.private_ids(items)
    found = describe.lookup(items, events)
    lines = ["# Our journal", ""]
    for month, in_month in itertools.groupby(events, key=lambda ev: ev.local_date[:7]):
        lines += [f"## {dt.date.fromisoformat(month + '-01'):%B %Y}", ""]
        for day, on_day in itertools.groupby(in_month, key=lambda ev: ev.local_date):
            lines += [f"### {dt.date.fromisoformat(day):%A %-d %B}", ""]
            lines += [
                f"- **{names.get(ev.author, 'someone')}**: {_markdown_line(ev, found)}"
                + (f" {ONLY_YOU}" if ev.id in private else "")
                for ev in on_day
            ]
            lines.append("")
    write_private_atomic(path, "\n".join(lines).encode())
    return len(events)


def _markdown_line(ev: Event, found: describe.Lookup) -> str:
    """Everything the entry says, with the titles and names it refers to."""
    text = describe.line(ev, found)
    note = getattr(ev.body, "note", None)
    return f"{text}. {note}" if note and note not in text else text


def to_automerge(items: Sequence[Item], folder: Path) -> list[Path]:
    """One standard Automerge binary per shared document (any Automerge implementation opens it)."""
    from tend.core.domain import automerge_export  # automerge is loaded only by this export

    ensure_private_dir(folder)
    written = []
    for doc in shared_docs(items):
        target = folder / (doc.replace("/", "-") + ".automerge")
        writes = shared_state.accepted(projections.shared_events(items, doc))
        write_private_atomic(target, automerge_export.document(writes))
        written.append(target)
    return written
