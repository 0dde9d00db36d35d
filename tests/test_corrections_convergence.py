"""Corrections and shares delivered in any order converge: two devices of one person show the
same views, two devices of the partner show the same views, and on every day the partner can
read all of, the partner's devices show the author's values exactly.

Real SQLite journals paired through real invitations; entries are handed over with the same
ingest sync uses, shuffled and in batches, with views read between batches (so the view cache
folds them in as they come)."""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tend.app import look, record
from tend.core.errors import UserError
from tend.core.journal import Journal, shredding
from tend.core.trust.ingest import ingest
from tests.conftest import entries_of, gossip, invite, keys_of

TODAY = dt.date.today()

CHECKIN = st.tuples(
    st.just("checkin"),
    st.booleans(),  # private
    st.one_of(st.none(), st.integers(0, 10)),  # energy
    st.one_of(st.none(), st.integers(0, 10)),  # pain
    st.sampled_from([0, 0, 0, 1]),  # days ago: mostly today, so entries share their day
)
CORRECT = st.tuples(st.just("correct"), st.integers(0, 50), st.integers(0, 10))
SHARE = st.tuples(st.just("share"), st.integers(0, 50))
NOTE = st.tuples(st.just("note"), st.booleans())
FORGET = st.tuples(st.just("forget"), st.integers(0, 50))
STEPS = st.lists(st.one_of(CHECKIN, CORRECT, SHARE, NOTE, FORGET), min_size=1, max_size=12)


def write(sam: Journal, alex: Journal, steps: list[tuple[object, ...]]) -> None:
    written: list[str] = []  # ids of Sam's check-ins and notes, to correct or share
    for step in steps:
        kind = step[0]
        try:
            if kind == "checkin":
                _k, private, energy, pain, ago = step
                assert isinstance(ago, int)
                values = dict(energy=energy, pain=pain) if energy or pain else dict(day="rest")
                on = TODAY - dt.timedelta(days=ago)
                done = record.check_in(sam, private=bool(private), on=on, **values)
                written.append(done.id.hex())
            elif kind == "correct" and written:
                pick, pain = step[1], step[2]
                assert isinstance(pick, int)
                record.check_in(sam, pain=pain, replaces=written[pick % len(written)])  # type: ignore[arg-type]
            elif kind == "share" and written:
                pick = step[1]
                assert isinstance(pick, int)
                record.share(sam, written[pick % len(written)])
            elif kind == "forget" and written:
                pick = step[1]
                assert isinstance(pick, int)
                record.take_back(sam, written[pick % len(written)], forget=True)
            elif kind == "note":
                record.note(sam, "a few words", share=not step[1])
                record.check_in(alex, energy=5)
        except UserError:
            pass  # e.g. correcting a note as a check-in, sharing what is shared already, or
            # anything of what is forgotten


def deliver(target: Journal, sources: list[Journal], rng: random.Random) -> None:
    """Every entry of `sources`, shuffled and in batches, then all again (what could not be
    taken before its log's earlier entries arrived)."""
    entries = [raw for source in sources for raw in entries_of(source)]
    keys = {p: k for source in sources for p, k in keys_of(source).items()}  # beside them
    rng.shuffle(entries)
    cuts = sorted(rng.sample(range(len(entries) + 1), k=3))
    for lo, hi in zip([0, *cuts], [*cuts, len(entries)], strict=True):
        ingest(target, entries[lo:hi], keys=keys)
        look.week(target)  # fold in what came so far
    ingest(target, entries, keys=keys)
    ingest(target, entries, keys=keys)


def views(journal: Journal) -> tuple[object, ...]:
    week = look.week(journal).view
    shown = look.timeline(journal)
    return (
        week,
        shown.events,
        shown.private,
        look.today(journal).view,
        shown.taken_back,
        shown.unavailable,
    )


@given(steps=STEPS, seed=st.integers(0, 2**32))
@example(  # a private check-in, a later shared one, the first corrected, then shared
    steps=[
        ("checkin", True, 2, None, 0),
        ("checkin", False, 5, None, 0),
        ("correct", 0, 7),
        ("correct", 0, 3),
        ("share", 0),
    ],
    seed=1,
)
@example(  # the same, then the first version forgotten: every version and the share go
    steps=[
        ("checkin", True, 2, None, 0),
        ("checkin", False, 5, None, 0),
        ("correct", 0, 7),
        ("share", 0),
        ("forget", 0),
    ],
    seed=2,
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_corrections_and_shares_in_any_order_converge(
    steps: list[tuple[object, ...]], seed: int
) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        sam = Journal.create(home / "sam", "Sam")
        phone = invite(sam, home / "phone", own=True, name=None)
        alex = invite(sam, home / "alex", own=False, name="Alex")
        tablet = invite(alex, home / "tablet", own=True, name=None)
        everyone = [sam, phone, alex, tablet]
        gossip(*everyone)
        write(sam, alex, steps)
        for target in everyone:
            deliver(target, [j for j in everyone if j is not target], rng)

        assert views(phone) == views(sam)
        assert views(tablet) == views(alex)
        mine = look.week(sam).view
        theirs = look.week(alex).view
        for person, days in mine.people.items():
            for day, values in days.checkins.items():
                if day not in days.private_days:
                    assert theirs.people[person].checkins.get(day) == values, day
        for journal in everyone:  # nothing forgotten keeps a key record anywhere
            gone = shredding.forgotten(journal.all_items(), journal.items())
            assert all(journal.store.key_at(i.log, i.seq) is None for i in gone)
            assert len(gone) == len(shredding.forgotten(sam.all_items(), sam.items()))
        for journal in (sam, phone, alex, tablet):
            journal.close()
