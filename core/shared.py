"""Shared, editable state in small Automerge documents. The only module that imports automerge.

Why it looks like this (measured with the official binding, 1.0.0rc1; see docs/architecture.md):
* Documents stay small: one per ISO week for the joy map, one each for goals, rituals, comfort
  and the care rota. A week's document loads in about a millisecond.
* Keys are flat strings under the root ("<object>/<field>" -> scalar). Two devices that create
  the same container concurrently get two objects and one hides the other; with flat keys there
  are no containers to create, and concurrent writes to one key resolve last-writer-wins.
* The binding has no apply_changes. Loading a concatenation of change chunks works in any order
  when every dependency is present and raises a bare Exception otherwise, and a load has been
  seen to come back short, so `build` counts the changes it got and, if any are missing, adds
  them one at a time, leaving out only those whose dependencies never arrived.
"""

from __future__ import annotations

from collections.abc import Sequence

from automerge import core as am

from tend.core.errors import CorruptStore
from tend.core.events import Scalar

Fields = dict[str, dict[str, Scalar]]


def _load(chunks: bytes) -> am.Document | None:
    try:
        return am.Document.load(chunks)
    except Exception:  # the binding raises bare Exception for every load failure
        return None


def _change_count(doc: am.Document) -> int:
    return len(doc.get_changes([]))


def build(changes: Sequence[bytes]) -> am.Document:
    """A document holding every change whose dependencies are present."""
    doc = _load(b"".join(changes))
    if doc is not None and _change_count(doc) == len(changes):
        return doc
    accepted = b""
    pending = list(changes)
    progressed = True
    while pending and progressed:
        progressed = False
        for change in list(pending):
            candidate = _load(accepted + change)
            if candidate is not None:
                accepted += change
                pending.remove(change)
                progressed = True
    return _load(accepted) or am.Document()


def make_change(
    prior: Sequence[bytes], actor: bytes, puts: Sequence[tuple[str, str, Scalar]]
) -> bytes | None:
    """The Automerge change bytes that apply `puts` on top of the document made of `prior`.

    None when the document already holds every value (Automerge makes no change for puts that
    change nothing: marking a joy done twice, or the same goal week again).
    """
    doc = build(prior)
    doc.set_actor(actor)
    before = doc.get_heads()
    with doc.transaction() as tx:
        for obj, field, value in puts:
            _put(tx, f"{obj}/{field}", value)
    new = doc.get_changes(before)
    if not new:
        return None
    if len(new) != 1:
        raise CorruptStore("shared document edit produced more than one change")
    raw: bytes = new[0].bytes
    return raw


def _put(tx: am.Transaction, key: str, value: Scalar) -> None:
    if value is None:
        tx.put(am.ROOT, key, am.ScalarType.Null, None)
    elif isinstance(value, bool):
        tx.put(am.ROOT, key, am.ScalarType.Boolean, value)
    elif isinstance(value, int):
        tx.put(am.ROOT, key, am.ScalarType.Int, value)
    else:
        tx.put(am.ROOT, key, am.ScalarType.Str, value)


def read(changes: Sequence[bytes]) -> Fields:
    """The document's content as {object: {field: value}}."""
    return fields_of(build(changes))


def fields_of(doc: am.Document) -> Fields:
    out: Fields = {}
    for key in doc.keys(am.ROOT):
        obj, _, field = key.rpartition("/")
        got = doc.get(am.ROOT, key)
        if not obj or got is None or isinstance(got[0], am.ObjType):
            continue  # not something tend writes; ignore rather than guess
        _scalar_type, value = got[0]
        if value is None or isinstance(value, str | int | bool):
            out.setdefault(obj, {})[field] = value
    return out


def save(changes: Sequence[bytes]) -> bytes:
    """The standard Automerge binary of the document, openable by any Automerge implementation."""
    raw: bytes = build(changes).save()
    return raw
