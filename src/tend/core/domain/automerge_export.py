"""Shared state as a standard Automerge document, for export. The only module that imports
automerge.

tend derives its shared state from validated payloads (core/domain/shared_state.py); this replays
the same accepted writes, in merge order, as one Automerge change per event whose actor is the
writing device, with flat keys under the root ("<object>/<field>" -> scalar). Any Automerge
implementation can open the result, and its content equals `shared_state.board`.
"""

from __future__ import annotations

from collections.abc import Iterable

from automerge import core as am

from tend.core.domain.events import Scalar
from tend.core.domain.shared_state import Fields, Write


def document(writes: Iterable[Write]) -> bytes:
    doc = am.Document()
    for write in writes:
        doc.set_actor(bytes(write.event.device))
        with doc.transaction() as tx:
            for obj, field, value in write.puts:
                _put(tx, f"{obj}/{field}", value)
    saved: bytes = doc.save()
    return saved


def _put(tx: am.Transaction, key: str, value: Scalar) -> None:
    if value is None:
        tx.put(am.ROOT, key, am.ScalarType.Null, None)
    elif isinstance(value, bool):
        tx.put(am.ROOT, key, am.ScalarType.Boolean, value)
    elif isinstance(value, int):
        tx.put(am.ROOT, key, am.ScalarType.Int, value)
    else:
        tx.put(am.ROOT, key, am.ScalarType.Str, value)


def read(saved: bytes) -> Fields:
    """An exported document's content as {object: {field: value}} (for checks and importers)."""
    doc = am.Document.load(saved)
    out: Fields = {}
    for key in doc.keys(am.ROOT):
        obj, _, field = key.rpartition("/")
        got = doc.get(am.ROOT, key)
        if not obj or got is None or isinstance(got[0], am.ObjType):
            continue
        _scalar_type, value = got[0]
        if value is None or isinstance(value, str | int | bool):
            out.setdefault(obj, {})[field] = value
    return out
