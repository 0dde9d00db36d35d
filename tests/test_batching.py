"""Cutting entries into frames (sync/batching.py), the one rule the device's pushes and the
relay's catch-up and live frames share: nothing lost, reordered or repeated, no frame over the
protocol's count or the caller's byte budget (but for a lone entry larger than the budget), and
no frame cut short while the next entry would still have fitted."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from tend.sync.batching import batches
from tend.sync.protocol import MAX_ENTRIES_PER_FRAME


def test_no_entries_make_no_batch() -> None:
    assert list(batches([], 100)) == []


def test_a_batch_holds_at_most_the_protocols_count_of_entries() -> None:
    entries = [bytes([n % 256]) for n in range(2 * MAX_ENTRIES_PER_FRAME + 1)]
    sizes = [len(batch) for batch in batches(entries, 1 << 20)]
    assert sizes == [MAX_ENTRIES_PER_FRAME, MAX_ENTRIES_PER_FRAME, 1]


def test_an_entry_over_the_byte_budget_goes_alone() -> None:
    small, large = b"s" * 10, b"L" * 500
    assert list(batches([small, large, small], 100)) == [[small], [large], [small]]


@given(
    st.lists(st.binary(min_size=1, max_size=300), max_size=600),
    st.integers(min_value=1, max_value=2000),
)
def test_batches_keep_every_entry_in_order_within_the_bounds_and_full(
    entries: list[bytes], max_bytes: int
) -> None:
    cut = list(batches(entries, max_bytes))
    assert [raw for batch in cut for raw in batch] == entries
    for batch in cut:
        assert 1 <= len(batch) <= MAX_ENTRIES_PER_FRAME
        assert len(batch) == 1 or sum(map(len, batch)) <= max_bytes
    for batch, following in pairwise(cut):  # the next entry did not fit
        full = len(batch) == MAX_ENTRIES_PER_FRAME
        assert full or sum(map(len, batch)) + len(following[0]) > max_bytes
