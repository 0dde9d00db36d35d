"""Who is who: each attack a partner's modified client can make on the trust rules, refused.

Sam is the honest person, with a laptop and a tablet; Alex is the partner, whose device runs a
modified client (tests/attacker.py): it writes any event it likes into its own log, sealed and
properly signed by its own key, or makes whole new devices. Everything reaches Sam's devices
through ingest, exactly as it would through the relay. Each test states the rule it defends and
fails if that rule breaks.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tend.core.crypto import keys
from tend.core.crypto.capability import hash_for
from tend.core.crypto.keystore import DeviceKeys
from tend.core.domain.codec import encode_event
from tend.core.domain.events import (
    JOY_STATUSES,
    Boundary,
    CheckIn,
    ComfortSignal,
    DeviceAdded,
    DeviceRemoved,
    Event,
    Gratitude,
    JoyIdea,
    JoyStatus,
    KeyRotated,
    Payload,
    PersonNamed,
    Retraction,
)
from tend.core.ids import EventId, PersonId
from tend.core.journal import Journal
from tend.core.log import rotation_record
from tend.core.log.identity import cert_message, removal_message
from tend.core.log.rotation_record import RotationRecord
from tend.core.log.store import MemoryLogStore
from tend.core.trust import engine as trust
from tend.core.trust import rotation
from tend.core.trust.engine import Issue, Reason
from tend.core.trust.ingest import ingest
from tend.core.trust.verify import verify
from tend.core.views import projections
from tests.attacker import event_in, write_own
from tests.conftest import (
    another_device_of,
    entries_of,
    gossip,
    invite,
    keys_of,
    new_person_device,
    started,
)

WEEK = "2026-W49"
OTHER_DH = keys.dh_public(keys.new_dh_secret())  # an X25519 key that is nobody's device's


@dataclass
class Trio:
    laptop: Journal  # Sam's first device
    tablet: Journal  # Sam's second device
    alex: Journal  # the partner's device, running a modified client

    @property
    def sam(self) -> bytes:
        return self.laptop.device.person


@pytest.fixture
def trio(tmp_path: Path) -> Trio:
    laptop = Journal.create(tmp_path / "laptop", "Sam", label="laptop")
    alex = invite(laptop, tmp_path / "alex", own=False, name="Alex", label="phone")
    gossip(laptop, alex)
    tablet = invite(laptop, tmp_path / "tablet", own=True, name=None, label="tablet")
    gossip(laptop, alex, tablet)
    return Trio(laptop, tablet, alex)


def deliver(entries: list[bytes], *to: Journal) -> list[trust.Refusal]:
    refused: list[trust.Refusal] = []
    for journal in to:
        refused += ingest(journal, entries).refused
    return refused


def sams_view(journal: Journal, sam: bytes) -> dict[str, object]:
    """What Sam sees of Sam: their own entries, their name, their devices, their shared words."""
    items = journal.items()
    roster = journal.roster()
    return {
        "own": [
            (e.id, e.type, e.body)
            for e in projections.timeline(items)
            if e.author == sam and not e.type.startswith(("device.", "key."))
        ],
        "name": projections.names(items).get(sam),  # type: ignore[call-overload]
        "devices": sorted(
            (d, roster.removed(d)) for d, m in roster.members.items() if m.person == sam
        ),
        "comfort": {
            k: v
            for k, v in projections.board(items, "comfort").items()
            if k == f"signal:{sam.hex()}" or v.get("by") == sam.hex()
        },
        # A joy's words are its creator's; its status is the couple's to change.
        "joys": {
            k: {f: v[f] for f in ("title", "cost", "by") if f in v}
            for k, v in projections.board(items, f"joy/{WEEK}").items()
            if v.get("by") == sam.hex()
        },
    }


def impostor(alex: Journal, tmp: Path, as_identity: bytes) -> Journal:
    """A new device made by Alex's modified client, claiming to be someone else's: its claim
    names `as_identity`, but only Alex's own identity key is at hand to sign its certificate."""
    device: DeviceKeys = new_person_device(alex.device.space, like=alex.device)
    device.identity = as_identity
    device.identity_seed = alex.device.identity_seed
    forged = Journal(tmp, device, MemoryLogStore())
    write_own(forged, event_in(forged, forged.own_claim("new phone"), author=device.person))
    return forged


def _claim_of(journal: Journal) -> DeviceAdded:
    """A log's own first entry (its claim), read from the store: an impostor's is counted by
    nobody, not even its own journal, so it is not among the items."""
    [first] = [s for s in journal.store.since(0)][:1]
    body = journal.mapper.to_readable(first.entry).event.body
    assert isinstance(body, DeviceAdded)
    return body


# --- 1. a partner cannot take over the other person ---------------------------------------------


def test_a_partner_cannot_bring_in_a_device_as_the_other_person_and_speak_for_them(
    trio: Trio, tmp_path: Path
) -> None:
    laptop, tablet, alex = trio.laptop, trio.tablet, trio.alex
    flare = laptop.record(CheckIn(day="flare", pain=8, note="a hard day"))
    gossip(laptop, tablet, alex)
    before = sams_view(laptop, trio.sam)
    fake = impostor(alex, tmp_path / "fake", laptop.device.identity)
    # Alex's own device vouches for it with an ordinary, validly signed device.added ...
    write_own(alex, event_in(alex, _claim_of(fake)))
    # ... and from it, speaks as Sam: a check-in, a new name, a retraction, a removal.
    as_sam = {"author": laptop.device.person}
    tablet_head = tablet.store.head(tablet.device.log)
    assert tablet_head is not None
    for body in (
        CheckIn(day="good", note="all fine, stop worrying"),
        PersonNamed(person=laptop.device.person, name="Eve"),
        Retraction(target=flare.id, reason="never mind"),
        DeviceRemoved(tablet.device.log, int(tablet_head[0]), tablet_head[1], bytes(64)),
    ):
        write_own(fake, event_in(fake, body, **as_sam))  # type: ignore[arg-type]

    refused = deliver([*entries_of(alex), *entries_of(fake)], laptop, tablet)

    assert refused == []  # nothing in the fake device's log was applied: it is kept aside
    for sams_device in (laptop, tablet):
        assert sams_view(sams_device, trio.sam) == before
        assert fake.device.log not in sams_device.roster().members
        assert fake.device.log not in sams_device.store.heads()
        today = projections.today(sams_device.items(), PersonId(trio.sam), dt.date.today())
        assert [ev.body for p, _n, ev in today.people if p == trio.sam and ev] == [flare.body]
        report = verify(sams_device)
        assert report.ok, report.problems
        assert [(i.issue, i.about) for i in report.ignored] == [(Issue.UNSIGNED_ADD, trio.sam)]
    # And Sam's real new entries are still accepted everywhere.
    later = tablet.record(Gratitude(text="thank you for the soup"))
    assert deliver(entries_of(tablet), laptop, alex) == []
    assert later.id in {e.id for e in laptop.events()} & {e.id for e in alex.events()}


def test_a_device_claiming_an_identity_with_a_copied_certificate_is_nobodys(
    trio: Trio, tmp_path: Path
) -> None:
    laptop, alex = trio.laptop, trio.alex
    fake = impostor(alex, tmp_path / "fake", laptop.device.identity)
    claim = _claim_of(fake)
    assert isinstance(claim, DeviceAdded)
    # Sam's real certificate of the tablet, replayed for the fake device's key.
    real = next(
        e.body
        for e in laptop.events()
        if isinstance(e.body, DeviceAdded) and e.body.device == trio.tablet.device.log
    )
    assert isinstance(real, DeviceAdded)
    copied = DeviceAdded(claim.sign_pub, claim.dh_pub, claim.identity, real.cert, "copied")
    write_own(alex, event_in(alex, copied))
    assert deliver(entries_of(alex) + entries_of(fake), laptop) == []
    assert fake.device.log not in laptop.roster().members


def test_only_a_person_can_rename_or_take_back_their_own_entries(trio: Trio) -> None:
    laptop, alex = trio.laptop, trio.alex
    note = laptop.record(Gratitude(text="for the walk"))
    gossip(laptop, alex)
    # Alex's device, as itself: a retraction and a correction of Sam's entry, and a name.
    write_own(alex, event_in(alex, Retraction(target=note.id)))
    write_own(alex, event_in(alex, Gratitude(text="for nothing"), supersedes=note.id))
    refused = deliver(entries_of(alex), laptop)
    write_own(alex, event_in(alex, PersonNamed(person=laptop.device.person, name="Eve")))
    refused += deliver(entries_of(alex), laptop)

    assert [r.reason for r in refused] == [Reason.WRONG_AUTHOR]  # the rename
    texts = [e.body.text for e in laptop.events() if isinstance(e.body, Gratitude)]
    assert "for the walk" in texts
    assert projections.names(laptop.items())[laptop.device.person] == "Sam"


# --- 2. a partner cannot cut off, re-point or remove the other's devices ------------------------


def test_a_partner_cannot_re_point_or_cut_off_the_other_persons_second_device(
    trio: Trio,
) -> None:
    laptop, tablet, alex = trio.laptop, trio.tablet, trio.alex
    t = tablet.device
    # Alex certifies Sam's tablet key under Alex's own identity, with another X25519 key ...
    alex_cert = keys.sign(alex.device.identity_seed, cert_message(t.space, t.sign_public, OTHER_DH))
    write_own(
        alex, event_in(alex, DeviceAdded(t.sign_public, OTHER_DH, alex.device.identity, alex_cert))
    )
    # ... and "removes" it with a proof signed by Alex's identity, not Sam's.
    head = tablet.store.head(t.log)
    assert head is not None
    proof = keys.sign(alex.device.identity_seed, removal_message(t.space, t.log, head[0], head[1]))
    write_own(alex, event_in(alex, DeviceRemoved(t.log, int(head[0]), head[1], proof)))

    assert deliver(entries_of(alex), laptop, tablet) == []
    for journal in (laptop, tablet, alex):
        roster = journal.roster()
        assert roster.person(t.log) == t.person and not roster.removed(t.log)
        assert roster.members[t.log].dh_pub == t.dh_public
    issues = sorted(i.issue.name for i in laptop.roster().ignored)
    assert issues == ["MISMATCHED_ADD", "UNSIGNED_REMOVAL"]
    tablet.record(CheckIn(day="rest"))
    assert deliver(entries_of(tablet), laptop, alex) == []


def test_a_persons_own_signed_removal_counts_wherever_it_was_recorded(trio: Trio) -> None:
    laptop, tablet, alex = trio.laptop, trio.tablet, trio.alex
    from tend.core.trust.rotation import removal_of

    removal = removal_of(laptop, tablet.device.log)  # signed by Sam's identity key
    write_own(alex, event_in(alex, removal))  # carried by the partner: still Sam's word
    deliver(entries_of(alex), laptop)
    assert laptop.roster().removed(tablet.device.log)


# --- 3. shared state cannot be forged ------------------------------------------------------------


def test_a_partner_cannot_change_the_other_persons_signal_boundary_or_joy(trio: Trio) -> None:
    laptop, alex = trio.laptop, trio.alex
    laptop.record(ComfortSignal(signal="red", note="I need space"))
    boundary = laptop.record(lambda b: Boundary(boundary=b, text="ask before hugs"))
    joy = laptop.record(lambda i: JoyIdea(item=i, week=WEEK, title="tea on the balcony"))
    gossip(laptop, alex)
    before = sams_view(laptop, trio.sam)
    attacks: list[tuple[Payload, dict[str, object]]] = [
        (Boundary(boundary=boundary.id, text="anything goes"), {}),
        (Boundary(boundary=boundary.id, text="ask before hugs", active=False), {}),
        (JoyIdea(item=joy.id, week=WEEK, title="do the chores", cost=3), {}),
        (ComfortSignal(signal="green", note="Alex's own signal"), {}),
        # Last: an entry claiming Sam as its author ends what Sam takes from Alex's log.
        (ComfortSignal(signal="green", note="all fine"), {"author": laptop.device.person}),
    ]
    refused = []
    for body, claim in attacks:
        write_own(alex, event_in(alex, body, **claim))  # type: ignore[arg-type]
        refused += deliver(entries_of(alex), laptop)

    assert [r.reason for r in refused] == [Reason.WRONG_AUTHOR]  # the signal "by Sam"
    assert sams_view(laptop, trio.sam) == before
    comfort = projections.board(laptop.items(), "comfort")
    assert comfort[f"signal:{laptop.device.person.hex()}"] == {
        "signal": "red",
        "note": "I need space",
    }


def test_the_partner_may_edit_what_the_couple_shares_and_the_last_edit_wins(trio: Trio) -> None:
    laptop, alex = trio.laptop, trio.alex
    joy = laptop.record(lambda i: JoyIdea(item=i, week=WEEK, title="picnic"))
    gossip(laptop, alex)
    alex.record(JoyStatus(item=joy.id, week=WEEK, status="planned"))
    gossip(laptop, alex)
    for journal in (laptop, alex):
        assert (
            projections.board(journal.items(), f"joy/{WEEK}")[joy.id.hex()]["status"] == "planned"
        )


def test_an_event_carrying_old_style_change_bytes_is_refused(trio: Trio) -> None:
    import msgpack

    from tend.core.crypto import entry
    from tend.core.domain.codec import encode_event
    from tend.core.log.header import next_header

    laptop, alex = trio.laptop, trio.alex
    body = msgpack.unpackb(encode_event(event_in(alex, ComfortSignal(signal="green"))), raw=False)
    body["c"] = b"\x85o\x4a\x83 an Automerge change setting someone else's key"
    d = alex.device
    seq, prev = alex.store.head(d.log)  # type: ignore[misc]
    raw = entry.build(
        next_header(d.space, d.log, seq + 1, d.epoch, prev),
        msgpack.packb(body, use_bin_type=True),
        d.sign_seed,
        d.space_key,
    )
    refused = deliver([raw], laptop)
    assert [r.reason for r in refused] == [Reason.UNREADABLE]


# --- 4. no crafted order can wedge a view --------------------------------------------------


def test_shared_state_ignores_crafted_order_and_orphans_and_stays_exact(trio: Trio) -> None:
    laptop, alex = trio.laptop, trio.alex
    joy = laptop.record(lambda i: JoyIdea(item=i, week=WEEK, title="picnic"))
    gossip(laptop, alex)
    statuses = JOY_STATUSES
    base = alex.last_hlc()
    for n in range(300):  # HLCs chosen in the past, descending, with an orphan every 7th
        target = joy.id if n % 7 else EventId(alex.device.log)  # an id nobody created
        hlc = base - (n + 1) * 1000
        write_own(
            alex, event_in(alex, JoyStatus(item=target, week=WEEK, status=statuses[n % 4]), hlc=hlc)
        )
    assert deliver(entries_of(alex), laptop) == []
    board = projections.board(laptop.items(), f"joy/{WEEK}")
    # The last write in merge order is the one with the highest HLC among those about the joy:
    # n = 1 (the orphans are ignored; the creation came later than all of them).
    assert list(board) == [joy.id.hex()] and board[joy.id.hex()]["status"] == "idea"


# --- the property: forged entries never change what the honest person sees of themselves ---------


FORGERIES = st.sampled_from(
    [
        "checkin as sam",
        "rename sam",
        "retract sam",
        "supersede sam",
        "unsigned add as sam",
        "mismatched add of tablet",
        "unsigned removal of tablet",
        "boundary edit",
        "joy edit",
        "signal as sam",
        "own checkin",
        "own joy status",
    ]
)


def forge(kind: str, trio: Trio, targets: list[Event], n: int) -> tuple[Payload, dict[str, object]]:
    laptop, tablet = trio.laptop, trio.tablet
    target = targets[n % len(targets)]
    sam_id: dict[str, object] = {"author": laptop.device.person}
    t = tablet.device
    if kind == "checkin as sam":
        return CheckIn(day="good", note=f"forged {n}"), sam_id
    if kind == "rename sam":
        return PersonNamed(person=laptop.device.person, name=f"Eve {n}"), {}
    if kind == "retract sam":
        return Retraction(target=target.id), {}
    if kind == "supersede sam":
        return CheckIn(energy=n % 10), {"supersedes": target.id}
    if kind == "unsigned add as sam":
        pub = keys.signing_public(bytes([n % 256]) * 32)
        return DeviceAdded(pub, OTHER_DH, laptop.device.identity, bytes(64)), {}
    if kind == "mismatched add of tablet":
        return DeviceAdded(t.sign_public, OTHER_DH, t.identity, t.cert()), {}
    if kind == "unsigned removal of tablet":
        return DeviceRemoved(t.log, n, bytes(32), bytes(64)), {}
    if kind == "boundary edit":
        return Boundary(boundary=targets[0].id, text=f"overwritten {n}"), {}
    if kind == "joy edit":
        return JoyIdea(item=targets[1].id, week=WEEK, title=f"chores {n}"), {}
    if kind == "signal as sam":
        return ComfortSignal(signal="green", note="fine"), sam_id
    if kind == "own joy status":
        return JoyStatus(item=targets[1].id, week=WEEK, status="let-go"), {}
    return CheckIn(day="rest", note=f"alex {n}"), {}


@pytest.mark.slow
@given(forgeries=st.lists(FORGERIES, min_size=1, max_size=12), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_set_of_forged_entries_changes_what_sam_sees_of_sam(
    forgeries: list[str], seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("p")
    laptop = Journal.create(tmp / "laptop", "Sam")
    alex = invite(laptop, tmp / "alex", own=False, name="Alex")
    tablet = invite(laptop, tmp / "tablet", own=True, name=None)
    gossip(laptop, alex, tablet)
    trio = Trio(laptop, tablet, alex)
    targets = [
        laptop.record(lambda b: Boundary(boundary=b, text="ask first")),
        laptop.record(lambda i: JoyIdea(item=i, week=WEEK, title="tea")),
        laptop.record(CheckIn(day="flare", pain=7)),
        tablet.record(Gratitude(text="thank you")),
    ]
    laptop.record(ComfortSignal(signal="red", note="space please"))
    honest = [*entries_of(laptop), *entries_of(tablet), *entries_of(alex)]
    # What Sam's fresh device sees from the honest entries alone ...
    clean = Journal(tmp / "c", laptop.device, MemoryLogStore())
    ingest(clean, honest)
    expected = sams_view(clean, trio.sam)
    # ... and with every forgery too, delivered in a random order, in random batches. Claims to
    # be Sam come last: the first one ends what Sam's devices take from Alex's log.
    as_sam = {"checkin as sam", "rename sam", "signal as sam"}
    for n, kind in enumerate(sorted(forgeries, key=lambda k: k in as_sam)):
        body, claim = forge(kind, trio, targets, n)
        write_own(alex, event_in(alex, body, **claim))  # type: ignore[arg-type]
    everything = list({*honest, *entries_of(alex)})
    random.Random(seed).shuffle(everything)
    reader = Journal(tmp / "r", laptop.device, MemoryLogStore())
    for _pass in range(len(everything)):  # what came before its predecessor comes again
        held = reader.store.count()
        for start in range(0, len(everything), 5):
            ingest(reader, everything[start : start + 5])
        if reader.store.count() == held:
            break

    assert sams_view(reader, trio.sam) == expected


# --- found by an internal review: each was a break before it was fixed --------------------------


@pytest.fixture
def four(tmp_path: Path) -> tuple[Journal, Journal, Journal, Journal]:
    laptop = Journal.create(tmp_path / "laptop", "Sam", label="laptop")
    alex = invite(laptop, tmp_path / "alex", own=False, name="Alex")
    tablet = invite(laptop, tmp_path / "tablet", own=True, name=None)
    phone = invite(laptop, tmp_path / "phone", own=True, name=None)
    gossip(laptop, alex, tablet, phone)
    return laptop, tablet, phone, alex


def device_made_on(of: Journal, home: Path) -> Journal:
    return started(Journal(home, another_device_of(of.device), MemoryLogStore()), label="new")


def test_what_a_device_no_longer_brought_in_wrote_is_not_shown(
    four: tuple[Journal, Journal, Journal, Journal], tmp_path: Path
) -> None:
    laptop, tablet, phone, _alex = four
    sam = laptop.device.person
    y = device_made_on(phone, tmp_path / "y")  # made on the (stolen) phone
    phone.record(y.own_claim("y"))
    y.record(PersonNamed(person=sam, name="Eve"))
    ingest(tablet, entries_of(phone) + entries_of(y), keys=keys_of(phone) | keys_of(y))
    assert projections.names(tablet.items())[sam] == "Eve"  # while the phone still counted
    rotation.remove_device(laptop, phone.device.log)  # the laptop had not seen Y brought in
    ingest(tablet, entries_of(laptop), keys=keys_of(laptop))
    assert y.device.log not in tablet.roster().members
    assert projections.names(tablet.items())[sam] == "Sam"
    assert y.device.log not in {i.log for i in tablet.items()}


def test_a_partner_cannot_stop_sam_removing_a_lost_device_with_a_weak_device_key(
    four: tuple[Journal, Journal, Journal, Journal], tmp_path: Path
) -> None:
    laptop, _tablet, phone, alex = four
    d = another_device_of(alex.device)
    evil = Journal(tmp_path / "evil", d, MemoryLogStore())
    cert = keys.sign(d.identity_seed, cert_message(d.space, d.sign_public, bytes(32)))
    raw = encode_event(event_in(evil, DeviceAdded(d.sign_public, OTHER_DH, d.identity, cert)))
    # A modified client writes the small-order X25519 key straight into the bytes.
    body = msgpack.unpackb(raw, raw=False)
    body["p"]["dh_pub"] = bytes(32)
    write_raw(evil, msgpack.packb(body, use_bin_type=True))
    write_raw(alex, _reencoded(event_in(alex, PersonNamed(alex.device.person, "Alex")), body))
    ingest(laptop, entries_of(alex) + entries_of(evil), keys=keys_of(alex) | keys_of(evil))
    assert d.log not in laptop.roster().members

    rotated = rotation.remove_device(laptop, phone.device.log)
    assert laptop.device.epoch == 2 and rotation_record.parse(rotated.record).epoch == 2


def _reencoded(carrier: Event, claim_body: dict[str, object]) -> bytes:
    """`carrier`'s position and author, with the hostile device.added body in it."""
    body = msgpack.unpackb(encode_event(carrier), raw=False)
    body.update(t=claim_body["t"], v=claim_body["v"], p=claim_body["p"])
    return msgpack.packb(body, use_bin_type=True)


def write_raw(journal: Journal, event_bytes: bytes) -> None:
    from tend.core.crypto import entry
    from tend.core.log.header import first_header, next_header

    d = journal.device
    head = journal.store.head(d.log)
    header = (
        next_header(d.space, d.log, head[0] + 1, d.epoch, head[1])
        if head
        else first_header(d.space, d.sign_public, d.epoch)
    )
    journal.store.append([(entry.build(header, event_bytes, d.sign_seed, d.space_key), 0)])


def partners_rotation(
    by: Journal, epoch: int, key: bytes, *, previous: bytes | None = None
) -> KeyRotated:
    d, roster = by.device, by.roster()
    context = b"tend/epoch-key/v1" + d.space + epoch.to_bytes(4, "big")
    record = RotationRecord(
        d.space,
        epoch,
        previous or hash_for(d.space_keys[max(d.space_keys)]),
        hash_for(keys.new_key()),
        tuple(
            (m, keys.seal_to(roster.members[m].dh_pub, key, context))
            for m in roster.active()
            if roster.members[m].dh_pub
        ),
        (),
        d.log,
    ).encode()
    return KeyRotated(record, keys.sign(d.sign_seed, rotation_record.signing_input(record)))


@pytest.mark.parametrize("trick", ["a 31-byte key", "the last epoch there is", "a branch"])
def test_a_partners_rotation_cannot_break_sams_device_file(
    four: tuple[Journal, Journal, Journal, Journal], tmp_path: Path, trick: str
) -> None:
    laptop, _tablet, phone, alex = four
    if trick == "a 31-byte key":
        rotated = partners_rotation(alex, 2, b"k" * 31)
    elif trick == "the last epoch there is":
        rotated = partners_rotation(alex, rotation_record.MAX_EPOCH, keys.new_key())
    else:
        rotated = partners_rotation(alex, 2, keys.new_key(), previous=bytes(32))
    write_own(alex, event_in(alex, rotated))
    ingest(laptop, entries_of(alex), keys=keys_of(alex))
    assert laptop.device.epoch == 1 and set(laptop.device.space_keys) == {1}
    rotation.remove_device(laptop, phone.device.log)  # and removing still works
    laptop.close()
    assert Journal.open(tmp_path / "laptop").device.epoch == 2


def test_a_roster_with_a_crafted_removal_paradox_settles_and_does_not_flip(
    four: tuple[Journal, Journal, Journal, Journal], tmp_path: Path
) -> None:
    laptop, _tablet, _phone, alex = four
    alex.record(CheckIn(day="good"))
    seq, digest = alex.store.head(alex.device.log)  # type: ignore[misc]
    y = device_made_on(alex, tmp_path / "y")
    alex.record(y.own_claim("y"))  # Alex's device brings Y in after `seq` ...
    alex.record(CheckIn(day="rest"))
    proof = keys.sign(
        alex.device.identity_seed, removal_message(alex.device.space, alex.device.log, seq, digest)
    )
    y.record(DeviceRemoved(alex.device.log, seq, digest, proof))  # ... and Y cuts it off before
    for _ in range(3):
        ingest(laptop, entries_of(alex) + entries_of(y), keys=keys_of(alex) | keys_of(y))
    views = []
    for _ in range(3):
        laptop.record(laptop.own_claim("laptop"))  # a harmless membership fact each time
        roster = laptop.roster()
        views.append((sorted(roster.cutoffs), sorted(roster.members)))
    assert views[0] == views[1] == views[2]


def test_a_device_keeps_the_recovery_phrase_only_until_it_has_been_shown_once(
    four: tuple[Journal, Journal, Journal, Journal],
) -> None:
    from tend.core.trust import recovery

    laptop, tablet, phone, alex = four
    # Another device of the same person never receives it; the first keeps it until shown.
    assert (tablet.device.root, phone.device.root) == (None, None)
    assert laptop.device.root is not None and alex.device.root is not None
    identity = laptop.device.identity
    phrase = recovery.show_once(laptop)
    assert keys.PersonSecrets.from_root(recovery.root_of(phrase)).identity().encode() == identity
    assert laptop.device.root is None
    assert Journal.open(laptop.home).device.root is None
