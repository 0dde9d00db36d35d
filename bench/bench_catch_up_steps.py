"""Where a fresh device's catch-up of ten years goes, step by step, and the floor that sets.

Run from the repository root (tend installed editable, as for bench_journal.py):

    python bench/bench_catch_up_steps.py [--rounds N] [--quick] [--results PATH]

`--quick` takes bench_sync.py's 2,000-entry journal and one round, for a few seconds: what
tests/test_bench_catch_up_steps.py runs so that the script cannot rot; its figures say little.

The ten-year journal (bench_journal.py's, 36,500 entries, cached) is copied into a writer whose
device vouches for its partner, as in bench_sync.py; a new device of the same person is paired
with it in-process. The writer's stored entries and key records are exactly what the relay hands
that device during a catch-up. Each step below runs over all of them on its own, the way
`EntryMapper.to_readable` runs it, and is timed as a whole (median of the rounds); then the real
`ingest` takes them all in, in the client's batches, on fresh copies of the new device. No relay
and no network: bench_sync.py times the catch-up through the real relay.

The table gives milliseconds for all the entries and microseconds per entry (for the words'
steps, per keyed entry: the entries they run for). "Opening" is the
sum of the steps that every entry needs in this design (its envelope, its words under their key
record, both events decoded and validated); "ingest" adds the trust checks, SQLite and the view.
A pure-Python loop of ten million additions is timed beside them, so that figures from two
machines compare as ratios. Results go to bench/results/catch_up_steps.json; docs/benchmarks.md
("Where a catch-up's time goes") reads them.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

# Run as a script from the checkout: its bench/ helpers import from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import datetime as dt
import hashlib
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_journal import EVENTS, RESULTS, WORK, big_home, copy_home, machine, publish
from bench.bench_sync import join_fresh_device, small_home, writer_from
from tend.core.crypto import entry
from tend.core.domain.codec import event_of, unpack_event
from tend.core.gcpause import gc_paused
from tend.core.journal import Journal
from tend.core.log.header import Header
from tend.core.log.store import Position
from tend.core.trust.ingest import ingest
from tend.sync.client import INGEST_ENTRIES

RUN = WORK / "catch-up-steps"
TARGET_MS = 1000.0  # docs/benchmarks.md: a fresh device catches up ten years in a second
TARGET_PER_ENTRY_US = TARGET_MS * 1000 / EVENTS  # what that allows each of the ten years' entries


@dataclass
class Step:
    name: str
    samples_ms: list[float]
    entries: int
    part_of_opening: bool = False

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def per_entry_us(self) -> float:
        return self.median_ms * 1000 / self.entries

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": len(self.samples_ms),
            "median_ms": round(self.median_ms, 1),
            "per_entry_us": round(self.per_entry_us, 2),
            "part_of_opening": self.part_of_opening,
        }


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    """Milliseconds per call of `fn`, after one untimed call, with the collector paused (as
    ingest runs: core/gcpause.py)."""
    samples: list[float] = []
    for i in range(rounds + 1):
        with gc_paused():
            start = time.perf_counter()
            fn()
            took = (time.perf_counter() - start) * 1000
        if i:
            samples.append(took)
    return samples


def python_loop_ms(rounds: int) -> list[float]:
    def loop() -> int:
        total = 0
        for i in range(10_000_000):
            total += i
        return total

    return timed(loop, rounds)


def opening_steps(
    joiner: Journal, rows: Sequence[tuple[bytes, bytes | None]], rounds: int
) -> list[Step]:
    """Each step of opening an entry, over every entry, as to_readable takes them."""
    keys_of = joiner.device.space_keys.get
    mapper = joiner.mapper
    headers = [Header.decode(raw) for raw, _key in rows]
    opened = [entry.open_entry(raw, keys_of, h) for (raw, _k), h in zip(rows, headers, strict=True)]
    records = [unpack_event(o.event) for o in opened]
    keyed = [
        (o, r, key)
        for o, r, (_raw, key) in zip(opened, records, rows, strict=True)
        if key is not None and isinstance(r.get("p"), dict) and "box" in r["p"]
    ]
    words = [mapper._open_words(o, r["i"], r["p"]["box"], key) for o, r, key in keyed]
    inner = [unpack_event(w) for w in words]
    n, k = len(rows), len(keyed)
    return [
        Step("header decode and entry hash (the chain)", timed(
            lambda: [(Header.decode(raw), hashlib.sha256(raw).digest()) for raw, _k in rows],
            rounds), n, True),
        Step("envelope: HKDF, ChaCha20-Poly1305, unpad", timed(
            lambda: [entry.open_entry(raw, keys_of, h)
                     for (raw, _k), h in zip(rows, headers, strict=True)], rounds), n, True),
        Step("its event unpacked (msgpack)", timed(
            lambda: [unpack_event(o.event) for o in opened], rounds), n, True),
        Step("words: key record unwrapped, box opened", timed(
            lambda: [mapper._open_words(o, r["i"], r["p"]["box"], key) for o, r, key in keyed],
            rounds), k, True),
        Step("the words' event unpacked (msgpack)", timed(
            lambda: [unpack_event(w) for w in words], rounds), k, True),
        Step("the words' event validated and built", timed(
            lambda: [event_of(r) for r in inner], rounds), k, True),
        Step("to_readable, all of the above as one", timed(
            lambda: [mapper.to_readable(raw, key, h)
                     for (raw, key), h in zip(rows, headers, strict=True)], rounds), n),
    ]  # fmt: skip


def ingest_step(template: Path, rows: Sequence[tuple[bytes, bytes | None]], rounds: int) -> Step:
    """The real ingest of every entry into a fresh copy of the new device, in the client's
    batches (sync/client.py INGEST_ENTRIES), as a catch-up takes them in."""
    samples: list[float] = []
    for i in range(rounds + 1):
        home = copy_home(template, RUN / "ingesting")
        with Journal.open(home) as journal:
            start = time.perf_counter()
            with journal.sealing_later(), gc_paused():
                for at in range(0, len(rows), INGEST_ENTRIES):
                    batch = rows[at : at + INGEST_ENTRIES]
                    heads = [Header.decode(raw) for raw, _key in batch]
                    keys: dict[Position, bytes] = {
                        (h.log, h.seq): key
                        for h, (_raw, key) in zip(heads, batch, strict=True)
                        if key
                    }
                    report = ingest(journal, [raw for raw, _key in batch], keys=keys)
                    if report.refused:
                        raise AssertionError(f"ingest refused {report.refused[:2]}")
            took = (time.perf_counter() - start) * 1000
            if journal.store.count() < len(rows):
                raise AssertionError("not every entry was stored")
        if i:
            samples.append(took)
    return Step("ingest: opening, trust checks, SQLite, the view", samples, len(rows))


def table(steps: Sequence[Step], opening_us: float, loop_ms: float) -> str:
    head = f"{'step':<50} {'ms (all)':>9} {'us/entry':>9}"
    lines = [head, "-" * len(head)]
    for s in steps:
        lines.append(f"{s.name:<50} {s.median_ms:>9.0f} {s.per_entry_us:>9.1f}")
    lines.append("-" * len(head))
    summed = sum(s.median_ms for s in steps if s.part_of_opening)
    lines.append(f"{'opening, the steps summed':<50} {summed:>9.0f} {opening_us:>9.1f}")
    target = f"{TARGET_MS:.0f}" if steps[0].entries >= EVENTS else "-"
    lines.append(f"{'the target, per entry':<50} {target:>9} {TARGET_PER_ENTRY_US:>9.1f}")
    lines.append(f"{'10M additions in a Python loop':<50} {loop_ms:>9.0f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each step")
    parser.add_argument("--quick", action="store_true", help="2,000 entries, one round")
    parser.add_argument("--results", type=Path, default=RESULTS / "catch_up_steps.json")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    started = time.perf_counter()
    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir(parents=True)
    source = small_home() if args.quick else big_home()[0]
    writer = writer_from(source, RUN / "writer")
    template = RUN / "new-device"
    join_fresh_device(writer, template, "http://127.0.0.1:9").close()
    rows = [(s.entry, s.key) for s in writer.store.since(0)]
    writer.close()
    with Journal.open(copy_home(template, RUN / "opening")) as joiner:
        steps = opening_steps(joiner, rows, rounds)
    steps.append(ingest_step(template, rows, max(1, rounds // 2)))
    loop = statistics.median(python_loop_ms(rounds))
    # Per entry of all of them: the words' steps run for the keyed entries alone.
    opening_us = sum(s.median_ms for s in steps if s.part_of_opening) * 1000 / len(rows)
    shutil.rmtree(RUN, ignore_errors=True)
    total = time.perf_counter() - started
    report = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "entries": len(rows),
        "keyed": steps[3].entries,
        "steps": [s.as_json() for s in steps],
        "opening_per_entry_us": round(opening_us, 2),
        "target_per_entry_us": round(TARGET_PER_ENTRY_US, 2),
        "python_loop_10m_ms": round(loop, 1),
        "total_seconds": round(total, 1),
    }
    publish(table(steps, opening_us, loop), report, args.results, total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
