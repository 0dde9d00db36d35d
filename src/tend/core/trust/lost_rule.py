"""The rule for a person marked lost, as the trust engine (core/trust/engine.py) applies it.

A `person.lost` (a *mark*) counts when someone other than the person wrote it in an entry that
counts. It names each of the person's devices as the marker held it (log, seq, hash). Another
person's removal of one of those devices counts only when all of these hold:

- it is signed by the remover's identity key under the lost-removal label, naming the mark;
- the mark counts, is about the device's person, and names the device;
- it cuts no earlier than the mark's head for the device (and at that head, at that very
  entry), nor earlier than what the marker and the remover had signed as held of that log in
  their own entries before (their seen-vectors), so no history they had acknowledged can be
  erased;
- the entry it cuts at is not known here to be another one (a remover cannot fork a log);
- the removed device did not answer the mark (`person.here` naming it) at or before the cut.

The last condition looks only at the removed device's own entries up to the cut, which every
device that applies the removal holds: so the outcome depends on the set of entries, never on
the order they arrive in, nor on the clocks their writers chose. What it cannot do is tell a
remover who never received the answer from one who pretends not to have: a remover who cuts
before the answer wins that race, visibly (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from tend.core.domain.events import DeviceRemoved, PersonHere, PersonLost
from tend.core.ids import EventId, LogId, PersonId, SpaceId, event_id_at
from tend.core.log.identity import lost_removal_valid

if TYPE_CHECKING:
    from tend.core.trust.engine import Fact, Member

Counts = Callable[["Fact"], bool]
HashAt = Callable[[LogId, int], bytes | None]
# The highest seq of `target` that the entries of `log` up to `seq` signed as seen (each event's
# seen-vector): what a writer had acknowledged holding of another device's log.
Acked = Callable[[LogId, int, LogId], int]


def nothing_acked(_log: LogId, _seq: int, _target: LogId) -> int:
    return 0


class Held(NamedTuple):
    """What the rule may look up beyond the membership facts: both are functions of entries
    that are held wherever the fact is (a log's prefix up to a fact comes with it)."""

    hash_at: HashAt
    acked: Acked = nothing_acked


@dataclass
class Marks:
    """Every mark and answer held, whether or not it counts (that depends on the roster)."""

    marks: dict[EventId, Fact] = field(default_factory=dict)
    answers: dict[tuple[LogId, EventId], list[Fact]] = field(default_factory=dict)

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> Marks:
        out = cls()
        for fact in facts:
            if isinstance(fact.body, PersonLost):
                out.marks[EventId(event_id_at(fact.writer, fact.seq))] = fact
            elif isinstance(fact.body, PersonHere):
                key = (fact.writer, EventId(fact.body.mark))
                out.answers.setdefault(key, []).append(fact)
        return out


def mark_counts(fact: Fact, counts: Counts) -> bool:
    body = fact.body
    return isinstance(body, PersonLost) and body.person != fact.author and counts(fact)


def answer_counts(fact: Fact, counts: Counts) -> bool:
    body = fact.body
    return isinstance(body, PersonHere) and body.person == fact.author and counts(fact)


def removal_allowed(
    space: SpaceId,
    marks: Marks,
    removal: Fact,
    target: Member,
    writer: Member,
    counts: Counts,
    held: Held,
) -> bool:
    """Whether another person's removal of `target`'s device counts under the mark it names."""
    body = removal.body
    assert isinstance(body, DeviceRemoved)
    mark = marks.marks.get(EventId(body.mark)) if body.mark else None
    if mark is None or writer.person == target.person or not mark_counts(mark, counts):
        return False
    named = mark.body
    assert isinstance(named, PersonLost)
    heads = {log: (seq, digest) for log, seq, digest in named.heads}
    if named.person != target.person or body.device not in heads:
        return False
    seq, digest = heads[body.device]
    if body.upto < seq or (body.upto == seq and body.upto_hash != digest):
        return False
    # Nor below what the marker or the remover had signed, in their own earlier entries, as
    # held of that log: a mark's heads are its writer's word, but their earlier words stand.
    floor = max(
        held.acked(mark.writer, mark.seq, body.device),
        held.acked(removal.writer, removal.seq, body.device),
    )
    if body.upto < floor:
        return False
    if held.hash_at(body.device, body.upto) not in (None, body.upto_hash):
        return False
    answered = marks.answers.get((body.device, EventId(body.mark)), [])
    if any(a.seq <= body.upto and answer_counts(a, counts) for a in answered):
        return False
    fields = (space, body.device, body.upto, body.upto_hash, body.mark, body.proof)
    return lost_removal_valid(writer.identity, *fields)


def signed_as_lost_removal(space: SpaceId, body: DeviceRemoved, writer: Member) -> bool:
    """Whether a removal is signed as another person's removal of a lost device (for reports)."""
    fields = (space, body.device, body.upto, body.upto_hash, body.mark, body.proof)
    return bool(body.mark) and lost_removal_valid(writer.identity, *fields)


@dataclass(frozen=True)
class Standing:
    """What the marks say now: for `tend devices`, for answering, and for removing."""

    marks: dict[EventId, PersonLost]  # every mark that counts
    answered: set[tuple[LogId, EventId]]  # (device, mark) answers that count
    answered_by_person: set[EventId]  # marks some device of their person answered

    @property
    def lost(self) -> set[PersonId]:
        """Persons with a mark none of their devices has answered."""
        return {
            PersonId(m.person)
            for mark_id, m in self.marks.items()
            if mark_id not in self.answered_by_person
        }


def standing(marks: Marks, counts: Counts) -> Standing:
    counted = {i: f.body for i, f in marks.marks.items() if mark_counts(f, counts)}
    answered = {
        key for key, facts in marks.answers.items() if any(answer_counts(a, counts) for a in facts)
    }
    found = {i: b for i, b in counted.items() if isinstance(b, PersonLost)}
    by_person = {
        mark_id
        for (_log, mark_id), facts in marks.answers.items()
        if mark_id in found
        and any(answer_counts(a, counts) and a.author == found[mark_id].person for a in facts)
    }
    return Standing(found, answered, by_person)
