"""Domain events: what a person records, as frozen, validated, typed values.

An `Event` is the envelope every record shares (who, which device, when) around a `Payload`
that says what happened. Payloads validate themselves on construction, so an invalid value can
never reach the log, and a hostile partner's entry that decodes to one is refused the same way.

Shared payloads (joy map, goals, rituals, comfort, care rota) also say what they write to the
shared state: `doc_name()` names the small document, `subject()` the object (an object's id is
the id of the event that created it), and `puts()` the flat (object, field, value) writes. The
state is derived from these validated payloads on every device (core/domain/shared_state.py), so
nothing but what a payload says can ever be written, and only by whom it may be.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import ClassVar, Literal, get_args

from tend.core.domain import validate as v
from tend.core.errors import ValidationError
from tend.core.ids import EventId, LogId, PersonId
from tend.core.log.header import MAX_RECORD, log_id_of
from tend.core.log.identity import IDENTITY_LEN, dh_key_ok, person_of

MAX_LOST_HEADS = 64  # devices one `person.lost` can name (as many as a rotation removes)

# The words each choice allows, as types (what a payload field may hold) and as tuples (what
# an interface offers, and what validation checks a decoded entry against).
DayKind = Literal["good", "gentle", "rest", "flare"]
MilestoneCategory = Literal[
    "movement", "meal", "touch", "laughter", "outing", "conversation", "medical", "other"
]
Who = Literal["me", "partner", "both"]
JoyStatusWord = Literal["idea", "planned", "done", "let-go"]
CalendarKind = Literal["rest", "appointment"]
FlareRule = Literal["pause", "halve", "keep"]
GoalOutcome = Literal["met", "adapted", "paused"]  # never "failed": a paused week is rest honoured
Cadence = Literal["daily", "weekly", "monthly"]
Signal = Literal["green", "yellow", "red", "pause"]

DAY_KINDS: tuple[DayKind, ...] = get_args(DayKind)
MILESTONE_CATEGORIES: tuple[MilestoneCategory, ...] = get_args(MilestoneCategory)
WHO: tuple[Who, ...] = get_args(Who)
JOY_STATUSES: tuple[JoyStatusWord, ...] = get_args(JoyStatusWord)
CALENDAR_KINDS: tuple[CalendarKind, ...] = get_args(CalendarKind)
FLARE_RULES: tuple[FlareRule, ...] = get_args(FlareRule)
GOAL_OUTCOMES: tuple[GoalOutcome, ...] = get_args(GoalOutcome)
CADENCES: tuple[Cadence, ...] = get_args(Cadence)
SIGNALS: tuple[Signal, ...] = get_args(Signal)

Scalar = str | int | bool | None


class EventType(StrEnum):
    """Every kind of event, as stored (the codec's `t`). Members compare equal to their text."""

    PERSON_NAMED = "person.named"
    DEVICE_ADDED = "device.added"
    DEVICE_REMOVED = "device.removed"
    PERSON_LOST = "person.lost"
    PERSON_HERE = "person.here"
    KEY_ROTATED = "key.rotated"
    CHECKIN = "checkin"
    MILESTONE = "milestone"
    MILESTONE_CELEBRATED = "milestone.celebrated"
    GRATITUDE = "gratitude"
    CALENDAR = "calendar"
    PARTNERSHIP_WEEK = "partnership.week"
    RETRACT = "retract"
    SEALED = "sealed"
    JOY_ADDED = "joy.added"
    JOY_STATUS = "joy.status"
    GOAL_SET = "goal.set"
    GOAL_WEEK = "goal.week"
    RITUAL_SET = "ritual.set"
    BOUNDARY_SET = "boundary.set"
    COMFORT_SIGNAL = "comfort.signal"
    CARE_TASK = "care.task"
    CARE_SWAP = "care.swap"
    NOTE = "note"
    SHARE = "share"
    ANCHOR = "anchor"
    LEARN_ADDED = "learn.added"
    LEARN_STATUS = "learn.status"
    CLINICIAN_QUESTION = "clinician.question"
    # lifecycles: editing, retiring and keeping what the two of you share
    GOAL_EDIT = "goal.edit"
    RITUAL_EDIT = "ritual.edit"
    RITUAL_KEPT = "ritual.kept"
    BOUNDARY_EDIT = "boundary.edit"
    CARE_EDIT = "care.edit"
    # forgetting (crypto-shredding)
    KEYED = "keyed"


class Payload:
    """Base of every event body: frozen dataclasses that validate in __post_init__."""

    TYPE: ClassVar[EventType]
    SCHEMA: ClassVar[int] = 1
    SHARED: ClassVar[bool] = False
    # For shared payloads: whether an event whose id is subject() creates that object, and who
    # may change an object once it exists: "anyone" in the space, or only its "creator".
    CREATES: ClassVar[bool] = False
    EDITS: ClassVar[str] = "anyone"

    def validate(self) -> None:
        """Raise ValidationError naming the first bad field."""

    def __post_init__(self) -> None:
        self.validate()

    def summary(self) -> str:
        """One human line for timelines."""
        return self.TYPE

    def doc_name(self, ev: Event) -> str:
        raise NotImplementedError

    def subject(self) -> EventId | None:
        """The object this shared write is about; None when it is keyed by its author."""
        return None

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        raise NotImplementedError


# --- membership and devices -------------------------------------------------------------------


@dataclass(frozen=True)
class PersonNamed(Payload):
    TYPE: ClassVar[EventType] = EventType.PERSON_NAMED
    person: PersonId
    name: str

    def validate(self) -> None:
        v.raw_id("person", self.person)
        v.text("name", self.name, limit=80, required=True)

    def summary(self) -> str:
        return f"joined as {self.name}"


@dataclass(frozen=True)
class DeviceAdded(Payload):
    """A device of the person whose identity signed `cert` (see core/log/identity.py).

    Every device's first entry is its own `device.added`; the device that brought it in records
    one too. Both must agree, and only the person's own identity key can make `cert`, so nobody
    can add, describe or re-point a device of someone else (core/trust/engine.py has the rule).
    """

    TYPE: ClassVar[EventType] = EventType.DEVICE_ADDED
    SCHEMA: ClassVar[int] = 2
    sign_pub: bytes
    dh_pub: bytes
    identity: bytes
    cert: bytes
    label: str = ""
    recovery: bytes = b""  # a proof by the person's recovery key, for a device restored from it

    def validate(self) -> None:
        v.raw_id("sign_pub", self.sign_pub, 32)
        v.raw_id("dh_pub", self.dh_pub, 32)
        if not dh_key_ok(self.dh_pub):
            raise ValidationError("dh_pub", "an X25519 public key that is not of small order")
        v.raw_id("identity", self.identity, IDENTITY_LEN)
        v.raw_id("cert", self.cert, 64)
        v.text("label", self.label, limit=80)
        if self.recovery:
            v.raw_id("recovery", self.recovery, 64)

    @property
    def device(self) -> LogId:
        return log_id_of(self.sign_pub)

    @property
    def person(self) -> PersonId:
        return person_of(self.identity)

    def summary(self) -> str:
        return "brought a new device in" + (f" ({self.label})" if self.label else "")


@dataclass(frozen=True)
class DeviceRemoved(Payload):
    """A device taken off the journal, after its entry `upto`.

    `proof` is the device's own person's identity signature over (space, device, upto,
    upto_hash), so a removal counts only when that person made it; or, for a person declared
    lost (`person.lost`), the remover's identity signature under a label of its own. Entries of
    the device up to `upto` (whose hash is `upto_hash`) stay history; anything after it is
    refused everywhere.
    """

    TYPE: ClassVar[EventType] = EventType.DEVICE_REMOVED
    SCHEMA: ClassVar[int] = 2
    device: LogId
    upto: int
    upto_hash: bytes
    proof: bytes
    mark: bytes = b""  # a lost person's device: the id of the `person.lost` it relies on

    def validate(self) -> None:
        v.raw_id("device", self.device)
        v.int_range("upto", self.upto, 0, (1 << 63) - 1)
        v.raw_id("upto_hash", self.upto_hash, 32)
        v.raw_id("proof", self.proof, 64)
        if self.mark:
            v.raw_id("mark", self.mark)

    def summary(self) -> str:
        return "retired one of their devices"


@dataclass(frozen=True)
class PersonLost(Payload):
    """Another person's place declared lost: every device gone and no recovery phrase.

    Written by someone else (usually when inviting the lost person back as a new identity). While
    it stands, either person may remove the lost person's devices (core/trust/engine.py); it stops
    standing when the lost person answers with `person.here` from one of their devices.
    """

    TYPE: ClassVar[EventType] = EventType.PERSON_LOST
    person: PersonId
    # Each of their devices, as the marker held it: (log id, seq, that entry's hash). A removal
    # relying on this mark cuts no earlier, so no history before the mark can be erased.
    heads: tuple[tuple[LogId, int, bytes], ...]

    def validate(self) -> None:
        v.raw_id("person", self.person)
        if not isinstance(self.heads, tuple) or not 0 < len(self.heads) <= MAX_LOST_HEADS:
            raise ValidationError("heads", f"1 to {MAX_LOST_HEADS} devices")
        for head in self.heads:
            if not isinstance(head, tuple) or len(head) != 3:
                raise ValidationError("heads", "(device, seq, hash) for each device")
            v.raw_id("heads", head[0])
            v.int_range("heads", head[1], 1, (1 << 63) - 1)
            v.raw_id("heads", head[2], 32)

    def summary(self) -> str:
        return "marked an old place in the journal as lost"


@dataclass(frozen=True)
class PersonHere(Payload):
    """The answer of a person marked lost who was not: their devices stay theirs to remove."""

    TYPE: ClassVar[EventType] = EventType.PERSON_HERE
    person: PersonId
    mark: EventId  # the `person.lost` this answers

    def validate(self) -> None:
        v.raw_id("person", self.person)
        v.raw_id("mark", self.mark)

    def summary(self) -> str:
        return "said they are still here"


@dataclass(frozen=True)
class KeyRotated(Payload):
    """A new space key epoch: a rotation record (core/log/rotation_record.py) and its signature by
    the rotating device's log key, the same signed bytes the relay is given.

    It is written under the old epoch, so the devices that stay can read it; the removed
    device can read it too, but finds no copy of the new key sealed to itself.
    """

    TYPE: ClassVar[EventType] = EventType.KEY_ROTATED
    SCHEMA: ClassVar[int] = 2
    record: bytes
    signature: bytes

    def validate(self) -> None:
        if not isinstance(self.record, bytes) or not 0 < len(self.record) <= MAX_RECORD:
            raise ValidationError("record", "a signed rotation record")
        v.raw_id("signature", self.signature, 64)

    def summary(self) -> str:
        return "renewed the journal's key"


# --- everyday records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckIn(Payload):
    TYPE: ClassVar[EventType] = EventType.CHECKIN
    # v1 carried one "need" string; v2 carries chips ("needs"). See codec.UPGRADES.
    SCHEMA: ClassVar[int] = 2
    day: DayKind | None = None
    energy: int | None = None
    pain: int | None = None
    mood: int | None = None
    needs: tuple[str, ...] = ()
    offer: str | None = None
    note: str | None = None

    def validate(self) -> None:
        v.choice("day", self.day, DAY_KINDS)
        v.int_range("energy", self.energy, 0, 10)
        v.int_range("pain", self.pain, 0, 10)
        v.int_range("mood", self.mood, 1, 5)
        v.chips("need", self.needs)
        v.text("offer", self.offer)
        v.text("note", self.note)
        if self.is_empty():
            raise ValidationError(
                "check-in",
                "at least one of day, energy, pain, mood, need, "
                "offer or note (a rest day alone is a whole check-in)",
            )

    def is_empty(self) -> bool:
        values = (self.day, self.energy, self.pain, self.mood, self.offer, self.note)
        return all(x is None for x in values) and not self.needs

    def summary(self) -> str:
        parts = [f"{self.day} day" if self.day else "check-in"]
        for label, value in (("energy", self.energy), ("pain", self.pain), ("mood", self.mood)):
            if value is not None:
                parts.append(f"{label} {value}")
        if self.needs:
            parts.append("would help: " + ", ".join(self.needs))
        if self.offer:
            parts.append(f"can offer: {self.offer}")
        if self.note:
            parts.append(f"note: {self.note}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Milestone(Payload):
    TYPE: ClassVar[EventType] = EventType.MILESTONE
    title: str
    category: MilestoneCategory = "other"
    who: Who = "both"
    note: str | None = None

    def validate(self) -> None:
        v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.choice("category", self.category, MILESTONE_CATEGORIES, required=True)
        v.choice("who", self.who, WHO, required=True)
        v.text("note", self.note)

    def summary(self) -> str:
        return f"small win: {self.title}"


@dataclass(frozen=True)
class Celebration(Payload):
    TYPE: ClassVar[EventType] = EventType.MILESTONE_CELEBRATED
    milestone: EventId
    note: str | None = None

    def validate(self) -> None:
        v.raw_id("milestone", self.milestone)
        v.text("note", self.note)

    def summary(self) -> str:
        return "celebrated a small win" + (f": {self.note}" if self.note else "")


@dataclass(frozen=True)
class Gratitude(Payload):
    TYPE: ClassVar[EventType] = EventType.GRATITUDE
    text: str

    def validate(self) -> None:
        v.text("text", self.text, required=True)

    def summary(self) -> str:
        return f"thank you: {self.text}"


@dataclass(frozen=True)
class CalendarEntry(Payload):
    TYPE: ClassVar[EventType] = EventType.CALENDAR
    kind: CalendarKind
    date: str
    title: str | None = None
    time: str | None = None
    who: Who = "me"

    def validate(self) -> None:
        v.choice("kind", self.kind, CALENDAR_KINDS, required=True)
        v.iso_date("date", self.date)
        v.text("title", self.title, limit=v.MAX_TITLE)
        v.clock_time("time", self.time)
        v.choice("who", self.who, WHO, required=True)

    def summary(self) -> str:
        if self.kind == "rest":
            what = "rest day" + (f" ({self.title})" if self.title else "")
        else:
            what = self.title or "appointment"
        return f"{what} on {self.date}" + (f" at {self.time}" if self.time else "")


@dataclass(frozen=True)
class PartnershipWeek(Payload):
    """The weekly 'state of the partnership': appreciations, what went well, one adjustment."""

    TYPE: ClassVar[EventType] = EventType.PARTNERSHIP_WEEK
    week: str
    appreciations: tuple[str, ...] = ()
    went_well: str | None = None
    adjustment: str | None = None

    def validate(self) -> None:
        v.iso_week("week", self.week)
        v.chips("appreciation", self.appreciations)
        v.text("went_well", self.went_well)
        v.text("adjustment", self.adjustment)
        if not (self.appreciations or self.went_well or self.adjustment):
            raise ValidationError(
                "partnership", "at least one appreciation, what went well, or one adjustment"
            )

    def summary(self) -> str:
        parts = []
        if self.appreciations:
            parts.append("appreciated: " + "; ".join(self.appreciations))
        if self.went_well:
            parts.append(f"went well: {self.went_well}")
        if self.adjustment:
            parts.append(f"one adjustment: {self.adjustment}")
        return f"state of the partnership for {self.week}: " + " · ".join(parts)


MAX_VERSIONS = 256  # entries one forget names beside its target


@dataclass(frozen=True)
class Retraction(Payload):
    """Takes back one of the author's own entries. Nothing is rewritten: this is a new event."""

    TYPE: ClassVar[EventType] = EventType.RETRACT
    target: EventId
    reason: str | None = None
    # Also forget the words: every honest device erases the target's content key (see Keyed).
    forget: bool = False
    # With `forget`: the other entries of the author's whose words go with the target's, named
    # as they are on the log (every version under its chain of corrections, and the shares that
    # carry any of them), so a device that cannot read them, or no longer can, erases them too.
    versions: tuple[EventId, ...] = ()

    def validate(self) -> None:
        v.raw_id("target", self.target)
        v.text("reason", self.reason)
        if not isinstance(self.forget, bool):
            raise ValidationError("forget", "must be true or false")
        if not isinstance(self.versions, tuple) or len(self.versions) > MAX_VERSIONS:
            raise ValidationError("versions", f"at most {MAX_VERSIONS} entries")
        for version in self.versions:
            v.raw_id("versions", version)
        if self.versions and not self.forget:
            raise ValidationError("versions", "named only when forgetting")

    def summary(self) -> str:
        return "took back an entry"


@dataclass(frozen=True)
class Sealed(Payload):
    """A private entry: an inner event sealed with a key only the author's own devices hold."""

    TYPE: ClassVar[EventType] = EventType.SEALED
    box: bytes

    def validate(self) -> None:
        if not isinstance(self.box, bytes) or not self.box:
            raise ValidationError("box", "sealed bytes")

    def summary(self) -> str:
        return "a private entry"


# --- shared, editable state (Automerge) ----------------------------------------------------------


def _goal_doc(_ev: Event) -> str:
    return "goals"


@dataclass(frozen=True)
class JoyIdea(Payload):
    TYPE: ClassVar[EventType] = EventType.JOY_ADDED
    SHARED: ClassVar[bool] = True
    CREATES: ClassVar[bool] = True
    EDITS: ClassVar[str] = "creator"
    item: EventId
    week: str
    title: str
    cost: int = 1

    def validate(self) -> None:
        v.raw_id("item", self.item)
        v.iso_week("week", self.week)
        v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.int_range("cost", self.cost, 0, 3)

    def doc_name(self, ev: Event) -> str:
        return f"joy/{self.week}"

    def subject(self) -> EventId:
        return self.item

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = self.item.hex()
        writes: list[tuple[str, str, Scalar]] = [
            (key, "title", self.title),
            (key, "cost", self.cost),
        ]
        if ev.id == self.item:  # the idea itself; a later one with its id edits the words only
            writes += [(key, "status", "idea"), (key, "by", ev.author.hex())]
        return writes

    def summary(self) -> str:
        return f"joy idea: {self.title} (energy cost {self.cost})"


@dataclass(frozen=True)
class JoyStatus(Payload):
    TYPE: ClassVar[EventType] = EventType.JOY_STATUS
    SHARED: ClassVar[bool] = True
    item: EventId
    week: str
    status: JoyStatusWord

    def validate(self) -> None:
        v.raw_id("item", self.item)
        v.iso_week("week", self.week)
        v.choice("status", self.status, JOY_STATUSES, required=True)

    def doc_name(self, ev: Event) -> str:
        return f"joy/{self.week}"

    def subject(self) -> EventId:
        return self.item

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        return [(self.item.hex(), "status", self.status)]

    def summary(self) -> str:
        return f"joy {self.status}"


@dataclass(frozen=True)
class GoalSet(Payload):
    """A gentle goal, e.g. 'one tender-touch session a week', and what a flare does to it."""

    TYPE: ClassVar[EventType] = EventType.GOAL_SET
    SHARED: ClassVar[bool] = True
    CREATES: ClassVar[bool] = True
    goal: EventId
    title: str
    per_week: int = 1
    flare_rule: FlareRule = "pause"
    active: bool = True
    fallback: str | None = None  # "if fatigue comes, then ...", offered on a flare day

    def validate(self) -> None:
        v.raw_id("goal", self.goal)
        v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.int_range("per_week", self.per_week, 1, 14)
        v.choice("flare_rule", self.flare_rule, FLARE_RULES, required=True)
        if not isinstance(self.active, bool):
            raise ValidationError("active", "true or false", self.active)
        v.text("fallback", self.fallback, limit=v.MAX_TITLE)

    def doc_name(self, ev: Event) -> str:
        return _goal_doc(ev)

    def subject(self) -> EventId:
        return self.goal

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = self.goal.hex()
        return [
            (key, "title", self.title),
            (key, "per_week", self.per_week),
            (key, "flare_rule", self.flare_rule),
            (key, "active", self.active),
            (key, "fallback", self.fallback or None),
        ]

    def summary(self) -> str:
        return f"gentle goal: {self.title} ({self.per_week}/week, on a flare: {self.flare_rule})"


@dataclass(frozen=True)
class GoalWeek(Payload):
    TYPE: ClassVar[EventType] = EventType.GOAL_WEEK
    SHARED: ClassVar[bool] = True
    goal: EventId
    week: str
    outcome: GoalOutcome
    note: str | None = None
    target: int | None = None  # an adapted week's own target ("2 of 4 this week")
    flare: bool = False  # written by the goal's flare rule (what `tend goal undo-flare` takes back)

    def validate(self) -> None:
        v.raw_id("goal", self.goal)
        v.iso_week("week", self.week)
        v.choice("outcome", self.outcome, GOAL_OUTCOMES, required=True)
        v.text("note", self.note)
        v.int_range("target", self.target, 1, 14)
        if not isinstance(self.flare, bool):
            raise ValidationError("flare", "true or false", self.flare)

    def doc_name(self, ev: Event) -> str:
        return _goal_doc(ev)

    def subject(self) -> EventId:
        return self.goal

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        # One flat key per (goal, week): two partners marking the same week write one key, and
        # the later write (in merge order) wins.
        key = f"{self.goal.hex()}@{self.week}"
        return [(key, "outcome", self.outcome), (key, "target", self.target)]

    def summary(self) -> str:
        word = {"met": "met", "adapted": "adapted", "paused": "paused for rest"}[self.outcome]
        target = f", {self.target} this week" if self.target else ""
        flare = " (a flare)" if self.flare else ""
        return f"goal {word} for {self.week}{target}{flare}" + (
            f" ({self.note})" if self.note else ""
        )


@dataclass(frozen=True)
class RitualSet(Payload):
    TYPE: ClassVar[EventType] = EventType.RITUAL_SET
    SHARED: ClassVar[bool] = True
    CREATES: ClassVar[bool] = True
    ritual: EventId
    title: str
    cadence: Cadence = "weekly"
    active: bool = True
    fallback: str | None = None  # "if fatigue comes, then ...", offered on a flare day

    def validate(self) -> None:
        v.raw_id("ritual", self.ritual)
        v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.choice("cadence", self.cadence, CADENCES, required=True)
        if not isinstance(self.active, bool):
            raise ValidationError("active", "true or false", self.active)
        v.text("fallback", self.fallback, limit=v.MAX_TITLE)

    def doc_name(self, ev: Event) -> str:
        return "rituals"

    def subject(self) -> EventId:
        return self.ritual

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = self.ritual.hex()
        return [
            (key, "title", self.title),
            (key, "cadence", self.cadence),
            (key, "active", self.active),
            (key, "fallback", self.fallback or None),
        ]

    def summary(self) -> str:
        return f"ritual: {self.title} ({self.cadence})"


@dataclass(frozen=True)
class Boundary(Payload):
    TYPE: ClassVar[EventType] = EventType.BOUNDARY_SET
    SHARED: ClassVar[bool] = True
    CREATES: ClassVar[bool] = True
    EDITS: ClassVar[str] = "creator"  # a boundary speaks for the person who set it
    boundary: EventId
    text: str
    active: bool = True

    def validate(self) -> None:
        v.raw_id("boundary", self.boundary)
        v.text("text", self.text, required=True)
        if not isinstance(self.active, bool):
            raise ValidationError("active", "true or false", self.active)

    def doc_name(self, ev: Event) -> str:
        return "comfort"

    def subject(self) -> EventId:
        return self.boundary

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = self.boundary.hex()
        return [
            (key, "text", self.text),
            (key, "active", self.active),
            (key, "by", ev.author.hex()),
        ]

    def summary(self) -> str:
        said = "shared a boundary" if self.active else "set a boundary aside"
        return f"{said}: {self.text}"


@dataclass(frozen=True)
class ComfortSignal(Payload):
    """Green / yellow / red / pause: how touch and closeness feel right now."""

    TYPE: ClassVar[EventType] = EventType.COMFORT_SIGNAL
    SHARED: ClassVar[bool] = True
    signal: Signal
    note: str | None = None

    def validate(self) -> None:
        v.choice("signal", self.signal, SIGNALS, required=True)
        v.text("note", self.note)

    def doc_name(self, ev: Event) -> str:
        return "comfort"

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = f"signal:{ev.author.hex()}"
        return [(key, "signal", self.signal), (key, "note", self.note)]

    def summary(self) -> str:
        return f"comfort signal: {self.signal}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class CareTask(Payload):
    TYPE: ClassVar[EventType] = EventType.CARE_TASK
    SHARED: ClassVar[bool] = True
    CREATES: ClassVar[bool] = True
    task: EventId
    title: str
    owner: Who = "me"
    cadence: Cadence = "weekly"
    active: bool = True
    rotate: bool = False  # turn about weekly: `owner` this ISO week, the other one the next

    def validate(self) -> None:
        v.raw_id("task", self.task)
        v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.choice("owner", self.owner, WHO, required=True)
        v.choice("cadence", self.cadence, CADENCES, required=True)
        if not isinstance(self.active, bool):
            raise ValidationError("active", "true or false", self.active)
        _rotation_ok(self.rotate, self.owner)

    def doc_name(self, ev: Event) -> str:
        return "care"

    def subject(self) -> EventId:
        return self.task

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = self.task.hex()
        # "me"/"partner" are relative to the author; store who it is absolutely.
        return [
            (key, "title", self.title),
            (key, "owner", _absolute(self.owner, ev)),
            (key, "cadence", self.cadence),
            (key, "active", self.active),
            (key, "rotate", self.rotate),
            (key, "since", _week_of(ev)),  # the week `owner` has it, when it rotates
        ]

    def summary(self) -> str:
        return f"care task: {self.title}" + (" (turn about weekly)" if self.rotate else "")


@dataclass(frozen=True)
class CareSwap(Payload):
    TYPE: ClassVar[EventType] = EventType.CARE_SWAP
    SHARED: ClassVar[bool] = True
    task: EventId
    to: Who
    note: str | None = None
    week: str | None = None  # a swap for this ISO week only; without it, from then on

    def validate(self) -> None:
        v.raw_id("task", self.task)
        v.choice("to", self.to, WHO, required=True)
        v.text("note", self.note)
        if self.week is not None:
            v.iso_week("week", self.week)

    def doc_name(self, ev: Event) -> str:
        return "care"

    def subject(self) -> EventId:
        return self.task

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = self.task.hex() + (f"@{self.week}" if self.week else "")
        return [(key, "owner", _absolute(self.to, ev))]

    def summary(self) -> str:
        return "swapped a care task" + (f": {self.note}" if self.note else "")


# --- forgetting: the words of an entry under a content key kept beside the log ------------------


@dataclass(frozen=True)
class Keyed(Payload):
    """The body of an entry a person writes, as its entry carries it: its kind, and the event
    sealed under the entry's own content key (core/crypto/shred.py), whose wrapped copy travels
    beside the entry. When that key is erased (forgotten) or missing, this is what remains."""

    TYPE: ClassVar[EventType] = EventType.KEYED
    kind: str
    box: bytes

    def validate(self) -> None:
        if self.kind not in KEYED_KINDS:
            raise ValidationError("kind", "not a kind of entry a person writes")
        if not isinstance(self.box, bytes) or not self.box:
            raise ValidationError("box", "must be non-empty bytes")

    def summary(self) -> str:
        return "words not available here"


def _absolute(who: str, ev: Event) -> str:
    return ev.author.hex() if who == "me" else f"{who}-of:{ev.author.hex()}"


# --- private notes, and sharing a private entry later --------------------------------------------

# The kinds of entry that may be private, so the kinds that may be shared later.
SHAREABLE_TYPES: frozenset[str] = frozenset(
    {
        EventType.CHECKIN,
        EventType.MILESTONE,
        EventType.GRATITUDE,
        EventType.COMFORT_SIGNAL,
        EventType.NOTE,
        EventType.ANCHOR,
        EventType.CLINICIAN_QUESTION,
    }
)


@dataclass(frozen=True)
class Note(Payload):
    """A few words of one's own about a day: never a check-in, so it never touches its values."""

    TYPE: ClassVar[EventType] = EventType.NOTE
    text: str

    def validate(self) -> None:
        v.text("text", self.text, required=True)

    def summary(self) -> str:
        return f"note: {self.text}"


@dataclass(frozen=True)
class Share(Payload):
    """A private entry of the author's, shared later: `entry` is that event's own encoding.

    Every device reads it as the original event itself (the same id, day, clock and content;
    core/journal/mapper.py), so sharing changes nothing of what the day says. One that carries
    someone else's entry, or a kind that cannot be private, is never shown.
    """

    TYPE: ClassVar[EventType] = EventType.SHARE
    entry: bytes
    seq: int  # where the entry stands in the log of the device that wrote it (its id says so)
    # For a correction: the clock of the entry it corrects, first of all, so that it stands in
    # its day where that one stood even on a device that never read the private versions
    # between (0: where the entry itself stands).
    place: int = 0

    def validate(self) -> None:
        if not isinstance(self.entry, bytes) or not 0 < len(self.entry) <= MAX_RECORD:
            raise ValidationError("entry", "an encoded entry")
        v.int_range("seq", self.seq, 1, (1 << 63) - 1)
        v.int_range("place", self.place, 0, (1 << 64) - 1)

    def summary(self) -> str:
        return "shared an entry"


# --- practices: anchor memories, learning together, questions for the clinician ---------------

LearnKind = Literal["book", "article", "question", "other"]
LearnStatusWord = Literal["open", "done"]  # "done": read it, or talked it over
LEARN_KINDS: tuple[LearnKind, ...] = get_args(LearnKind)
LEARN_STATUSES: tuple[LearnStatusWord, ...] = get_args(LearnStatusWord)


@dataclass(frozen=True)
class AnchorMemory(Payload):
    """A memory to hold on to on a hard day ("the evening we laughed at the sea"), and, if the
    person wants, the day it happened."""

    TYPE: ClassVar[EventType] = EventType.ANCHOR
    text: str
    date: str | None = None

    def validate(self) -> None:
        v.text("text", self.text, required=True)
        v.iso_date("date", self.date, required=False)

    def summary(self) -> str:
        return f"an anchor memory: {self.text}" + (f" ({self.date})" if self.date else "")


@dataclass(frozen=True)
class LearnItem(Payload):
    """Something to learn about together: a book, an article, a question, with an optional link.

    Its words speak for the person who added it; whether it is done is the couple's to say
    (LearnStatus), so either partner may mark it."""

    TYPE: ClassVar[EventType] = EventType.LEARN_ADDED
    SHARED: ClassVar[bool] = True
    CREATES: ClassVar[bool] = True
    EDITS: ClassVar[str] = "creator"
    item: EventId
    title: str
    kind: LearnKind = "other"
    link: str | None = None

    def validate(self) -> None:
        v.raw_id("item", self.item)
        v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.choice("kind", self.kind, LEARN_KINDS, required=True)
        v.link("link", self.link)

    def doc_name(self, ev: Event) -> str:
        return "learning"

    def subject(self) -> EventId:
        return self.item

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = self.item.hex()
        writes: list[tuple[str, str, Scalar]] = [
            (key, "title", self.title),
            (key, "kind", self.kind),
            (key, "link", self.link),
        ]
        if ev.id == self.item:  # the item itself; a later one with its id edits the words only
            writes += [(key, "status", "open"), (key, "by", ev.author.hex())]
        return writes

    def summary(self) -> str:
        return f"to learn together: {self.title} ({self.kind})"


@dataclass(frozen=True)
class LearnStatus(Payload):
    TYPE: ClassVar[EventType] = EventType.LEARN_STATUS
    SHARED: ClassVar[bool] = True
    item: EventId
    status: LearnStatusWord

    def validate(self) -> None:
        v.raw_id("item", self.item)
        v.choice("status", self.status, LEARN_STATUSES, required=True)

    def doc_name(self, ev: Event) -> str:
        return "learning"

    def subject(self) -> EventId:
        return self.item

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        return [(self.item.hex(), "status", self.status)]

    def summary(self) -> str:
        return "learned something together" if self.status == "done" else "back on the list"


@dataclass(frozen=True)
class ClinicianQuestion(Payload):
    """A question to ask at the next appointment; private unless the person shares it."""

    TYPE: ClassVar[EventType] = EventType.CLINICIAN_QUESTION
    text: str

    def validate(self) -> None:
        v.text("text", self.text, required=True)

    def summary(self) -> str:
        return f"a question for the clinician: {self.text}"


def _week_of(ev: Event) -> str:
    return v.week_of(dt.date.fromisoformat(ev.local_date))


def _rotation_ok(rotate: object, owner: object) -> None:
    if not isinstance(rotate, bool):
        raise ValidationError("rotate", "true or false", rotate)
    if rotate and owner == "both":
        raise ValidationError("rotate", "a task one of you does at a time (not owner both)")


# --- lifecycles: editing, retiring and keeping what the two of you share --------------------------
#
# An edit names the object it changes and only the fields it changes (None: left as it is), so
# two partners changing different fields at the same time both keep their change. Retiring is an
# edit setting `active` to false; bringing back, to true. Who may edit is the object's rule, as
# for the payload that made it: a boundary only by the person who set it (EDITS = "creator").


def _changes(named: dict[str, Scalar]) -> dict[str, Scalar]:
    """The fields an edit changes; an edit that changes nothing is refused."""
    changed: dict[str, Scalar] = {k: value for k, value in named.items() if value is not None}
    if not changed:
        raise ValidationError("edit", "at least one thing to change")
    return changed


def _active_ok(active: object) -> None:
    if active is not None and not isinstance(active, bool):
        raise ValidationError("active", "true or false", active)


def _edit_puts(key: str, changed: dict[str, Scalar]) -> list[tuple[str, str, Scalar]]:
    # An empty fallback takes it away: stored as no fallback.
    return [
        (key, f, None if f == "fallback" and value == "" else value) for f, value in changed.items()
    ]


class _Edit(Payload):
    """An edit of a shared object: its first field names the object (and is its subject); every
    other field is a change, or None to leave that field as it is."""

    SHARED: ClassVar[bool] = True
    DOC: ClassVar[str]  # the shared document the object lives in
    WHAT: ClassVar[str]  # the object, in words, for the timeline

    def changed(self) -> dict[str, Scalar]:
        return _changes({f.name: getattr(self, f.name) for f in fields(self)[1:]})  # type: ignore[arg-type]

    def doc_name(self, ev: Event) -> str:
        return self.DOC

    def subject(self) -> EventId:
        subject: EventId = getattr(self, fields(self)[0].name)  # type: ignore[arg-type]
        return subject

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        return _edit_puts(self.subject().hex(), self.changed())

    def summary(self) -> str:
        return _edit_summary(self.WHAT, getattr(self, "active", None))


@dataclass(frozen=True)
class GoalEdit(_Edit):
    """A gentle goal's title, target, flare rule, fallback, or whether it is still kept."""

    TYPE: ClassVar[EventType] = EventType.GOAL_EDIT
    DOC: ClassVar[str] = "goals"
    WHAT: ClassVar[str] = "gentle goal"
    goal: EventId
    title: str | None = None
    per_week: int | None = None
    flare_rule: FlareRule | None = None
    fallback: str | None = None  # "" takes the fallback away
    active: bool | None = None

    def validate(self) -> None:
        v.raw_id("goal", self.goal)
        if self.title is not None:
            v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.int_range("per_week", self.per_week, 1, 14)
        v.choice("flare_rule", self.flare_rule, FLARE_RULES)
        v.text("fallback", self.fallback, limit=v.MAX_TITLE)
        _active_ok(self.active)
        self.changed()


@dataclass(frozen=True)
class RitualEdit(_Edit):
    """A ritual's title, cadence, fallback, or whether it is still kept."""

    TYPE: ClassVar[EventType] = EventType.RITUAL_EDIT
    DOC: ClassVar[str] = "rituals"
    WHAT: ClassVar[str] = "ritual"
    ritual: EventId
    title: str | None = None
    cadence: Cadence | None = None
    fallback: str | None = None  # "" takes the fallback away
    active: bool | None = None

    def validate(self) -> None:
        v.raw_id("ritual", self.ritual)
        if self.title is not None:
            v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.choice("cadence", self.cadence, CADENCES)
        v.text("fallback", self.fallback, limit=v.MAX_TITLE)
        _active_ok(self.active)
        self.changed()


@dataclass(frozen=True)
class RitualKept(Payload):
    """A ritual kept on a day ("we did it"). Lists show the last day, never a count."""

    TYPE: ClassVar[EventType] = EventType.RITUAL_KEPT
    SHARED: ClassVar[bool] = True
    ritual: EventId
    date: str

    def validate(self) -> None:
        v.raw_id("ritual", self.ritual)
        v.iso_date("date", self.date)

    def doc_name(self, ev: Event) -> str:
        return "rituals"

    def subject(self) -> EventId:
        return self.ritual

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        # One key per (ritual, day): keeps from both devices add up to the same set of days,
        # in any order, and the last day kept is the latest of them.
        return [(f"{self.ritual.hex()}@{self.date}", "kept", True)]

    def summary(self) -> str:
        return f"kept a ritual on {self.date}"


@dataclass(frozen=True)
class BoundaryEdit(_Edit):
    """A boundary's words, or whether it still stands: only the person who set it may."""

    TYPE: ClassVar[EventType] = EventType.BOUNDARY_EDIT
    DOC: ClassVar[str] = "comfort"
    WHAT: ClassVar[str] = "boundary"
    EDITS: ClassVar[str] = "creator"  # a boundary speaks for the person who set it
    boundary: EventId
    text: str | None = None
    active: bool | None = None

    def validate(self) -> None:
        v.raw_id("boundary", self.boundary)
        if self.text is not None:
            v.text("text", self.text, required=True)
        _active_ok(self.active)
        self.changed()


@dataclass(frozen=True)
class CareEdit(_Edit):
    """A care task's title, owner, cadence, rotation, or whether it is still on the rota.

    A new owner, or turning the rotation on or off, counts from the week of the edit: the owner
    named has it that week (and, when it rotates, every other week from there)."""

    TYPE: ClassVar[EventType] = EventType.CARE_EDIT
    DOC: ClassVar[str] = "care"
    WHAT: ClassVar[str] = "care task"
    task: EventId
    title: str | None = None
    owner: Who | None = None
    cadence: Cadence | None = None
    rotate: bool | None = None
    active: bool | None = None

    def validate(self) -> None:
        v.raw_id("task", self.task)
        if self.title is not None:
            v.text("title", self.title, limit=v.MAX_TITLE, required=True)
        v.choice("owner", self.owner, WHO)
        v.choice("cadence", self.cadence, CADENCES)
        if self.rotate is not None:
            _rotation_ok(self.rotate, self.owner)
        _active_ok(self.active)
        self.changed()

    def puts(self, ev: Event) -> list[tuple[str, str, Scalar]]:
        key = self.task.hex()
        changed = self.changed()
        if self.owner is not None:
            changed["owner"] = _absolute(self.owner, ev)
        if self.owner is not None or self.rotate is not None:
            changed["since"] = _week_of(ev)
        return _edit_puts(key, changed)


def _edit_summary(what: str, active: bool | None) -> str:
    if active is False:
        return f"set a {what} aside"
    return f"brought a {what} back" if active else f"changed a {what}"


PAYLOADS: dict[str, type[Payload]] = {
    cls.TYPE: cls
    for cls in (
        PersonNamed,
        DeviceAdded,
        DeviceRemoved,
        PersonLost,
        PersonHere,
        KeyRotated,
        CheckIn,
        Milestone,
        Celebration,
        Gratitude,
        CalendarEntry,
        PartnershipWeek,
        Retraction,
        Sealed,
        JoyIdea,
        JoyStatus,
        GoalSet,
        GoalWeek,
        RitualSet,
        Boundary,
        ComfortSignal,
        CareTask,
        CareSwap,
        Note,
        Share,
        AnchorMemory,
        LearnItem,
        LearnStatus,
        ClinicianQuestion,
        GoalEdit,
        RitualEdit,
        RitualKept,
        BoundaryEdit,
        CareEdit,
        Keyed,
    )
}

# Kinds whose words are kept under a content key: all but membership (who is here, their keys)
# and retractions, whose reason must stay readable once what they take back is forgotten.
OPEN_KINDS = frozenset(
    {
        EventType.PERSON_NAMED,
        EventType.DEVICE_ADDED,
        EventType.DEVICE_REMOVED,
        EventType.PERSON_LOST,
        EventType.PERSON_HERE,
        EventType.KEY_ROTATED,
        EventType.RETRACT,
        EventType.KEYED,
    }
)
KEYED_KINDS = frozenset(PAYLOADS) - OPEN_KINDS


@dataclass(frozen=True)
class Event:
    """One record in a device's log. `hlc` orders events across devices (see clock.py)."""

    id: EventId
    author: PersonId
    device: LogId
    hlc: int
    wall_ms: int
    local_date: str
    tz_minutes: int
    body: Payload
    supersedes: EventId | None = None
    # What this device held of every other log when it wrote this (log id, highest seq), signed
    # with the event: lets another device see entries a relay withheld (core/trust/witness.py).
    seen: tuple[tuple[LogId, int], ...] = ()

    @property
    def type(self) -> str:
        return self.body.TYPE
