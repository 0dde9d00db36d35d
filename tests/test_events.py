"""Domain events: every payload round-trips through the codec; bad values are refused naming the
field; old schema versions are upgraded; anything else that comes off a log is CorruptStore."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tend.core.domain.codec import decode_event, encode_event
from tend.core.domain.events import (
    DAY_KINDS,
    PAYLOADS,
    AnchorMemory,
    Boundary,
    BoundaryEdit,
    CalendarEntry,
    CareEdit,
    CareSwap,
    CareTask,
    Celebration,
    CheckIn,
    ClinicianQuestion,
    ComfortSignal,
    DeviceAdded,
    DeviceRemoved,
    Event,
    GoalEdit,
    GoalSet,
    GoalWeek,
    Gratitude,
    JoyIdea,
    JoyStatus,
    Keyed,
    KeyRotated,
    LearnItem,
    LearnStatus,
    Milestone,
    Note,
    PartnershipWeek,
    Payload,
    PersonHere,
    PersonLost,
    PersonNamed,
    Retraction,
    RitualEdit,
    RitualKept,
    RitualSet,
    Sealed,
    Share,
)
from tend.core.domain.validate import MAX_CHIPS, MAX_TEXT, MAX_TITLE
from tend.core.errors import CorruptStore, ValidationError
from tend.core.ids import EventId, LogId, PersonId

ID = bytes(range(16))
EID = EventId(ID)
PERSON = PersonId(bytes(range(16, 32)))
LOG = LogId(bytes(range(32, 48)))

ONE_OF_EACH: list[Payload] = [
    PersonNamed(person=PERSON, name="Sam"),
    DeviceAdded(
        sign_pub=bytes(32),
        dh_pub=bytes([2]) * 32,
        identity=bytes([3]) * 96,
        cert=bytes([4]) * 64,
        label="phone",
    ),
    DeviceRemoved(device=LOG, upto=3, upto_hash=bytes([5]) * 32, proof=bytes([6]) * 64),
    PersonLost(person=PERSON, heads=((LOG, 4, bytes([7]) * 32),)),
    PersonHere(person=PERSON, mark=EventId(bytes([8]) * 16)),
    KeyRotated(record=b"\x87a rotation record", signature=bytes([7]) * 64),
    CheckIn(
        day="gentle",
        energy=4,
        pain=3,
        mood=2,
        needs=("a walk", "quiet"),
        offer="cook dinner",
        note="slept badly",
    ),
    Milestone(title="walked to the park", category="movement", who="both", note="slowly"),
    Celebration(milestone=EID, note="so proud"),
    Gratitude(text="I appreciated how you made coffee while I rested"),
    CalendarEntry(
        kind="appointment", date="2026-03-14", title="physio", time="09:30", who="partner"
    ),
    PartnershipWeek(
        week="2026-W11",
        appreciations=("patience",),
        went_well="talking",
        adjustment="earlier nights",
    ),
    Retraction(target=EID, reason="wrong day"),
    Sealed(box=b"\x01sealed bytes"),
    JoyIdea(item=EID, week="2026-W11", title="picnic", cost=2),
    JoyStatus(item=EID, week="2026-W11", status="let-go"),
    GoalSet(
        goal=EID,
        title="one tender-touch session a week",
        per_week=1,
        flare_rule="halve",
        active=False,
    ),
    GoalWeek(goal=EID, week="2026-W11", outcome="paused", note="flare"),
    RitualSet(ritual=EID, title="Sunday tea", cadence="weekly", active=True),
    Boundary(boundary=EID, text="ask before hugs on red days", active=True),
    ComfortSignal(signal="yellow", note="gentle today"),
    CareTask(task=EID, title="laundry", owner="partner", cadence="weekly", active=True),
    CareSwap(task=EID, to="me", note="I have energy today"),
    Keyed(kind="gratitude", box=bytes(40)),
    Note(text="the garden smelled of rain"),
    Share(entry=b"\x8aan encoded event", seq=3),
    AnchorMemory(text="the evening we laughed at the sea", date="2025-08-14"),
    LearnItem(item=EID, title="a book on pacing", kind="book", link="https://example.org/b"),
    LearnStatus(item=EID, status="done"),
    ClinicianQuestion(text="Could the tiredness be the new medicine?"),
    # lifecycles
    GoalEdit(goal=EID, per_week=2, fallback="a short call instead", active=False),
    RitualEdit(ritual=EID, cadence="daily", fallback=""),
    RitualKept(ritual=EID, date="2026-03-08"),
    BoundaryEdit(boundary=EID, text="ask first, always"),
    CareEdit(task=EID, owner="partner", rotate=True),
]
# Fields added to payloads after their first version: entries written before them still
# decode (with the defaults), and entries that use them round-trip.
WITH_LATER_FIELDS: list[Payload] = [
    CareSwap(task=EID, to="partner", week="2026-W11"),
    GoalWeek(goal=EID, week="2026-W11", outcome="adapted", target=2, flare=True),
    CareTask(task=EID, title="laundry", owner="me", rotate=True),
    GoalSet(goal=EID, title="walk", fallback="a short call instead"),
    RitualSet(ritual=EID, title="tea", fallback="tea in bed"),
    Retraction(target=EID, reason="not meant to keep", forget=True),
]


def event(body: Payload, **changes: Any) -> Event:
    fields: dict[str, Any] = dict(
        id=EventId(bytes([9]) * 16),
        author=PERSON,
        device=LOG,
        hlc=(1_773_000_000_000 << 16) | 3,
        wall_ms=1_773_000_000_000,
        local_date="2026-03-09",
        tz_minutes=-300,
        body=body,
    )
    fields.update(changes)
    return Event(**fields)


def record(kind: str, version: int, payload: object, **changes: object) -> bytes:
    """A stored event map built by hand, the way codec.encode_event lays it out."""
    fields: dict[str, object] = {
        "i": bytes([9]) * 16,
        "a": PERSON,
        "d": LOG,
        "h": 5,
        "w": 1_773_000_000_000,
        "l": "2026-03-09",
        "z": 60,
        "t": kind,
        "v": version,
        "p": payload,
    }
    fields.update(changes)
    raw: bytes = msgpack.packb(fields, use_bin_type=True)
    return raw


# --- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", WITH_LATER_FIELDS, ids=lambda b: b.TYPE)
def test_payloads_with_their_later_fields_round_trip(body: Payload) -> None:
    ev = event(body)
    assert decode_event(encode_event(ev)) == ev


def test_an_entry_written_before_the_later_fields_decodes_with_their_defaults() -> None:
    raw = record("care.swap", 1, {"task": EID, "to": "me", "note": None})
    body = decode_event(raw).body
    assert isinstance(body, CareSwap) and body.week is None
    raw = record("goal.week", 1, {"goal": EID, "week": "2026-W11", "outcome": "met", "note": None})
    body = decode_event(raw).body
    assert isinstance(body, GoalWeek) and (body.target, body.flare) == (None, False)


def test_the_examples_cover_every_payload_type() -> None:
    assert sorted(p.TYPE for p in ONE_OF_EACH) == sorted(PAYLOADS)


@pytest.mark.parametrize("body", ONE_OF_EACH, ids=lambda p: p.TYPE)
def test_every_payload_type_round_trips_through_the_codec(body: Payload) -> None:
    ev = event(body)

    decoded = decode_event(encode_event(ev))

    assert decoded == ev
    assert type(decoded.body) is type(body)
    assert decoded.type == body.TYPE


def test_supersedes_and_the_seen_vector_round_trip() -> None:
    seen = ((LogId(bytes([1]) * 16), 12), (LogId(bytes([2]) * 16), 0))
    ev = event(CheckIn(day="rest"), supersedes=EventId(bytes([7]) * 16), seen=seen)

    assert decode_event(encode_event(ev)) == ev


def test_a_device_added_names_the_device_its_key_owns_and_the_person_its_identity_is() -> None:
    from tend.core.log.header import log_id_of
    from tend.core.log.identity import person_of

    added = ONE_OF_EACH[1]
    assert isinstance(added, DeviceAdded)
    assert added.device == log_id_of(added.sign_pub)
    assert added.person == person_of(added.identity)


# Anything a person can write: every character but controls (a newline is fine) and the
# bidirectional overrides, which validation refuses (see test_control_characters_*).
WORDS = st.characters(
    blacklist_categories=("Cc", "Cs"),
    blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
) | st.just("\n")
CHECK_IN_FIELDS = st.fixed_dictionaries(
    {
        "day": st.none() | st.sampled_from(DAY_KINDS),
        "energy": st.none() | st.integers(0, 10),
        "pain": st.none() | st.integers(0, 10),
        "mood": st.none() | st.integers(1, 5),
        "needs": st.lists(
            st.text(WORDS, min_size=1, max_size=MAX_TITLE).filter(str.strip), max_size=MAX_CHIPS
        ).map(tuple),
        "offer": st.none() | st.text(WORDS, max_size=50),
        "note": st.none() | st.text(WORDS, max_size=MAX_TEXT),
    }
)


@given(
    CHECK_IN_FIELDS.filter(lambda f: any(v not in (None, ()) for v in f.values())).map(
        lambda f: CheckIn(**f)  # type: ignore[arg-type]
    )
)
@settings(max_examples=50, deadline=None)
def test_any_valid_check_in_round_trips(body: CheckIn) -> None:
    ev = event(body)
    assert decode_event(encode_event(ev)) == ev


# --- validation at construction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("energy", lambda: CheckIn(energy=11)),
        ("energy", lambda: CheckIn(energy=True)),
        ("pain", lambda: CheckIn(pain=-1)),
        ("mood", lambda: CheckIn(mood=0)),
        ("mood", lambda: CheckIn(mood=6)),
        ("day", lambda: CheckIn(day="bad")),  # type: ignore[arg-type]
        ("need", lambda: CheckIn(needs=("",))),
        ("need", lambda: CheckIn(needs=("x",) * (MAX_CHIPS + 1))),
        ("note", lambda: CheckIn(day="good", note="x" * (MAX_TEXT + 1))),
        ("cost", lambda: JoyIdea(item=EID, week="2026-W11", title="picnic", cost=4)),
        ("week", lambda: JoyIdea(item=EID, week="2026-W60", title="picnic")),
        ("week", lambda: JoyStatus(item=EID, week="2026-W00", status="done")),
        ("status", lambda: JoyStatus(item=EID, week="2026-W11", status="missed")),  # type: ignore[arg-type]
        ("outcome", lambda: GoalWeek(goal=EID, week="2026-W11", outcome="failed")),  # type: ignore[arg-type]
        ("per_week", lambda: GoalSet(goal=EID, title="walk", per_week=0)),
        ("edit", lambda: GoalEdit(goal=EID)),
        ("edit", lambda: BoundaryEdit(boundary=EID)),
        ("title", lambda: RitualEdit(ritual=EID, title="  ")),
        ("active", lambda: CareEdit(task=EID, active="no")),  # type: ignore[arg-type]
        ("rotate", lambda: CareTask(task=EID, title="dishes", owner="both", rotate=True)),
        ("rotate", lambda: CareEdit(task=EID, owner="both", rotate=True)),
        ("target", lambda: GoalWeek(goal=EID, week="2026-W11", outcome="adapted", target=0)),
        ("week", lambda: CareSwap(task=EID, to="me", week="next week")),
        ("date", lambda: RitualKept(ritual=EID, date="yesterday")),
        ("fallback", lambda: GoalSet(goal=EID, title="walk", fallback="x" * (MAX_TITLE + 1))),
        ("flare_rule", lambda: GoalSet(goal=EID, title="walk", flare_rule="push through")),  # type: ignore[arg-type]
        ("date", lambda: CalendarEntry(kind="rest", date="2026-02-30")),
        ("date", lambda: CalendarEntry(kind="rest", date="20260301")),
        ("time", lambda: CalendarEntry(kind="appointment", date="2026-03-01", time="25:00")),
        ("kind", lambda: CalendarEntry(kind="party", date="2026-03-01")),  # type: ignore[arg-type]
        ("text", lambda: Gratitude(text="x" * (MAX_TEXT + 1))),
        ("text", lambda: Gratitude(text="   ")),
        ("title", lambda: Milestone(title="x" * (MAX_TITLE + 1))),
        ("category", lambda: Milestone(title="walk", category="chores")),  # type: ignore[arg-type]
        ("who", lambda: Milestone(title="walk", who="them")),  # type: ignore[arg-type]
        ("target", lambda: Retraction(target=EventId(b"short"))),
        ("signal", lambda: ComfortSignal(signal="blue")),  # type: ignore[arg-type]
        ("date", lambda: AnchorMemory(text="the sea", date="last summer")),
        ("text", lambda: AnchorMemory(text="")),
        ("kind", lambda: LearnItem(item=EID, title="x", kind="podcast")),  # type: ignore[arg-type]
        ("link", lambda: LearnItem(item=EID, title="x", link="javascript:alert(1)")),
        ("link", lambda: LearnItem(item=EID, title="x", link="https://x.org/" + "a" * 500)),
        ("status", lambda: LearnStatus(item=EID, status="overdue")),  # type: ignore[arg-type]
        ("text", lambda: ClinicianQuestion(text=" ")),
        ("name", lambda: PersonNamed(person=PERSON, name="")),
        (
            "sign_pub",
            lambda: DeviceAdded(
                sign_pub=bytes(31), dh_pub=bytes([2]) * 32, identity=bytes(96), cert=bytes(64)
            ),
        ),
        (
            "identity",
            lambda: DeviceAdded(
                sign_pub=bytes(32), dh_pub=bytes([2]) * 32, identity=bytes(95), cert=bytes(64)
            ),
        ),
        (
            "cert",
            lambda: DeviceAdded(
                sign_pub=bytes(32), dh_pub=bytes([2]) * 32, identity=bytes(96), cert=b""
            ),
        ),
        (
            "upto",
            lambda: DeviceRemoved(device=LOG, upto=-1, upto_hash=bytes(32), proof=bytes(64)),
        ),
        (
            "proof",
            lambda: DeviceRemoved(device=LOG, upto=1, upto_hash=bytes(32), proof=bytes(63)),
        ),
        (
            "dh_pub",  # of small order: sealing to it gives a secret anyone knows
            lambda: DeviceAdded(
                sign_pub=bytes(32), dh_pub=bytes(32), identity=bytes(96), cert=bytes(64)
            ),
        ),
        ("box", lambda: Sealed(box=b"")),
        ("record", lambda: KeyRotated(record=b"", signature=bytes(64))),
        ("signature", lambda: KeyRotated(record=b"r", signature=bytes(32))),
        ("note", lambda: CheckIn(note="a window title\x1b]0;owned\x07")),
        ("note", lambda: CheckIn(note="clipboard \x1b]52;c;aGk=\x07")),
        ("text", lambda: Gratitude(text="reads backwards \u202e")),
        ("name", lambda: PersonNamed(person=PERSON, name="Sam\x9b2J")),
        (
            "label",
            lambda: DeviceAdded(
                sign_pub=bytes(32),
                dh_pub=bytes([2]) * 32,
                identity=bytes(96),
                cert=bytes(64),
                label="\x07",
            ),
        ),
        ("check-in", lambda: CheckIn()),
        ("partnership", lambda: PartnershipWeek(week="2026-W11")),
    ],
)
def test_an_invalid_value_is_refused_naming_the_field(
    field: str, make: Callable[[], Payload]
) -> None:
    with pytest.raises(ValidationError) as refused:
        make()

    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: must be ")


def test_a_goal_week_has_no_failed_state() -> None:
    with pytest.raises(ValidationError) as refused:
        GoalWeek(goal=EID, week="2026-W11", outcome="failed")  # type: ignore[arg-type]

    assert str(refused.value) == "outcome: must be one of met, adapted, paused (got 'failed')"


def test_a_rest_day_alone_is_a_whole_check_in() -> None:
    assert CheckIn(day="rest").is_empty() is False


@pytest.mark.parametrize(
    "make",
    [
        lambda: CheckIn(energy=0, pain=10, mood=1),
        lambda: CheckIn(mood=5, needs=("x" * MAX_TITLE,) * MAX_CHIPS),
        lambda: Gratitude(text="x" * MAX_TEXT),
        lambda: Milestone(title="x" * MAX_TITLE),
        lambda: JoyIdea(item=EID, week="2026-W53", title="picnic", cost=0),
        lambda: JoyIdea(item=EID, week="2026-W01", title="picnic", cost=3),
        lambda: CalendarEntry(kind="rest", date="2028-02-29", time="23:59"),
        lambda: CalendarEntry(kind="rest", date="2026-03-01", time="00:00"),
    ],
)
def test_values_at_the_edges_of_their_ranges_are_accepted(make: Callable[[], Payload]) -> None:
    body = make()
    assert decode_event(encode_event(event(body))).body == body


# --- schema upgrades ------------------------------------------------------------------------------


def test_a_v1_check_in_with_one_need_decodes_to_v2_with_that_need_as_a_chip() -> None:
    raw = record("checkin", 1, {"day": "gentle", "energy": 3, "need": "a quiet evening"})

    ev = decode_event(raw)

    assert ev == Event(
        id=EventId(bytes([9]) * 16),
        author=PERSON,
        device=LOG,
        hlc=5,
        wall_ms=1_773_000_000_000,
        local_date="2026-03-09",
        tz_minutes=60,
        body=CheckIn(day="gentle", energy=3, needs=("a quiet evening",)),
    )
    # Written again, it is a v2 record with a list of chips.
    again = msgpack.unpackb(encode_event(ev), raw=False)
    assert (again["v"], again["p"]["needs"], "need" in again["p"]) == (
        2,
        ["a quiet evening"],
        False,
    )


def test_a_v1_check_in_without_a_need_decodes_with_no_chips() -> None:
    assert decode_event(record("checkin", 1, {"day": "rest", "need": None})).body == CheckIn(
        day="rest"
    )


# --- what cannot be decoded is CorruptStore -------------------------------------------------------

DEEP = b"\x91" * 1000 + b"\xc0"  # a list nested 1000 deep, in about a kilobyte of msgpack


def _with_deep_value(kind: str, version: int, key: str) -> bytes:
    """A record whose payload field `key` is the deeply nested list (msgpack by hand)."""
    head = msgpack.unpackb(record(kind, version, {}), raw=False)
    del head["p"]
    body = b"".join(msgpack.packb(k) + msgpack.packb(x, use_bin_type=True) for k, x in head.items())
    return (
        bytes([0x80 | (len(head) + 1)])
        + body
        + msgpack.packb("p")
        + (b"\x81" + msgpack.packb(key) + DEEP)
    )


def _without(key: str) -> bytes:
    fields = msgpack.unpackb(record("gratitude", 1, {"text": "x"}), raw=False)
    del fields[key]
    raw: bytes = msgpack.packb(fields, use_bin_type=True)
    return raw


CORRUPT: dict[str, bytes] = {
    "empty": b"",
    "garbage bytes": b"\xc1\xff\x00 not msgpack",
    "truncated": record("gratitude", 1, {"text": "thank you"})[:-3],
    "trailing bytes": record("gratitude", 1, {"text": "thank you"}) + b"\x00",
    "not a map": msgpack.packb(["t", "gratitude"]),
    "integer map keys": msgpack.packb({1: "gratitude"}),
    "missing type": msgpack.packb({"v": 1, "p": {"text": "x"}}),
    "missing hlc": _without("h"),
    "hlc as nil": record("gratitude", 1, {"text": "x"}, h=None),
    "unknown type": record("hug", 1, {"text": "x"}),
    "type not a string": record(["gratitude"], 1, {"text": "x"}),  # type: ignore[arg-type]
    "future schema version": record("checkin", 3, {"day": "rest"}),
    "schema version 0": record("gratitude", 0, {"text": "x"}),
    "schema version as text": record("gratitude", "1", {"text": "x"}),  # type: ignore[arg-type]
    "payload not a map": record("gratitude", 1, 5),
    "unexpected field": record("gratitude", 1, {"text": "x", "colour": "blue"}),
    "missing required field": record("milestone", 1, {"category": "meal"}),
    "energy as text": record("checkin", 2, {"energy": "5"}),
    "needs as one string": record("checkin", 2, {"needs": "a walk"}),
    "title as a number": record("milestone", 1, {"title": 5}),
    "target as text": record("retract", 1, {"target": "0123456789abcdef"}),
    "active as text": record("ritual.set", 1, {"ritual": ID, "title": "tea", "active": "yes"}),
    "boundary active as a number": record(
        "boundary.set", 1, {"boundary": ID, "text": "ask", "active": 2}
    ),
    "care task active as a list": record(
        "care.task", 1, {"task": ID, "title": "laundry", "active": []}
    ),
    "event id as text": record("gratitude", 1, {"text": "x"}, i="id"),
    "hlc as text": record("gratitude", 1, {"text": "x"}, h="5"),
    "hlc as a boolean": record("gratitude", 1, {"text": "x"}, h=True),
    "tz as a float": record("gratitude", 1, {"text": "x"}, z=1.5),
    "local date as a number": record("gratitude", 1, {"text": "x"}, l=20260309),
    "local date not a date": record("gratitude", 1, {"text": "x"}, l="2026-02-30"),
    "supersedes as a number": record("gratitude", 1, {"text": "x"}, s=7),
    "seen as a list": record("gratitude", 1, {"text": "x"}, k=[1, 2]),
    "seen with a short log id": record("gratitude", 1, {"text": "x"}, k={b"short": 1}),
    "seen with a negative seq": record("gratitude", 1, {"text": "x"}, k={bytes(16): -1}),
    "a control character in a note": record("checkin", 2, {"note": "\x1b[2J"}),
    "an ext value": msgpack.packb({"t": msgpack.ExtType(1, b"x")}),
    "energy 11": record("checkin", 2, {"energy": 11}),
    "mood 0": record("checkin", 2, {"mood": 0}),
    "empty check-in": record("checkin", 2, {}),
    "goal outcome failed": record(
        "goal.week", 1, {"goal": ID, "week": "2026-W11", "outcome": "failed"}
    ),
    "iso week 60": record("joy.added", 1, {"item": ID, "week": "2026-W60", "title": "picnic"}),
    "date 2026-02-30": record("calendar", 1, {"kind": "rest", "date": "2026-02-30"}),
    "time 25:00": record("calendar", 1, {"kind": "rest", "date": "2026-03-01", "time": "25:00"}),
    "text over the limit": record("gratitude", 1, {"text": "x" * (MAX_TEXT + 1)}),
    "v1 need not text": record("checkin", 1, {"need": 5}),
    "deeply nested energy": _with_deep_value("checkin", 2, "energy"),
    "deeply nested title": _with_deep_value("milestone", 1, "title"),
}


@pytest.mark.parametrize("raw", list(CORRUPT.values()), ids=list(CORRUPT))
def test_anything_that_is_not_a_valid_event_raises_corrupt_store(raw: bytes) -> None:
    with pytest.raises(CorruptStore):
        decode_event(raw)


def test_corrupt_store_from_a_bad_value_names_the_field() -> None:
    with pytest.raises(CorruptStore, match=r"^invalid event: energy: must be a whole number"):
        decode_event(record("checkin", 2, {"energy": 11}))


@given(st.binary(max_size=512))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_either_decode_or_raise_corrupt_store(raw: bytes) -> None:
    with contextlib.suppress(CorruptStore):
        decode_event(raw)


MSGPACK_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
VALID: dict[str, Payload] = {body.TYPE: body for body in ONE_OF_EACH}


@given(
    kind=st.sampled_from(sorted(VALID)),
    where=st.sampled_from(["payload", "event"]),
    key=st.text(max_size=10),
    value=MSGPACK_VALUES,
    data=st.data(),
)
@settings(max_examples=300, deadline=None)
def test_any_value_in_any_field_of_a_valid_event_decodes_or_raises_corrupt_store(
    kind: str, where: str, key: str, value: object, data: st.DataObject
) -> None:
    stored = msgpack.unpackb(encode_event(event(VALID[kind])), raw=False)
    target = stored["p"] if where == "payload" else stored
    field = data.draw(st.sampled_from([key, *sorted(target)]))
    target[field] = value
    raw = msgpack.packb(stored, use_bin_type=True)

    try:
        ev = decode_event(raw)
    except CorruptStore:
        return
    # Whatever decodes is a valid event that survives being written and read again.
    assert decode_event(encode_event(ev)) == ev


@given(st.text(WORDS, min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_text_without_control_characters_is_accepted(words: str) -> None:
    assert Gratitude(text=words + "x").text.endswith("x")


@pytest.mark.parametrize(
    "char", ["\x00", "\x07", "\x1b", "\t", "\r", "\x7f", "\x85", "\x9b", "\u202e", "\u2066"]
)
def test_control_characters_and_bidi_overrides_are_refused_in_every_text(char: str) -> None:
    with pytest.raises(ValidationError):
        Gratitude(text=f"thank you{char}")
    with pytest.raises(ValidationError):
        Milestone(title=f"a walk{char}")
    with pytest.raises(ValidationError):
        PersonNamed(person=PERSON, name=f"Sam{char}")
