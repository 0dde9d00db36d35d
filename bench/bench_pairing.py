"""What pairing, recovery and a passphrase cost a person, on a real relay on 127.0.0.1.

- unlock: one Argon2id derivation at the default cost (256 MiB), paid once a session;
- agent: a command's round trip to the unlock agent for the key, paid by every later command;
- code: a short-code pairing end to end (claim, SPAKE2, bundle, reply), both sides in-process;
- restore: `recovery.restore` and the first sync of a journal holding N entries.

Medians of rounds; machines here are shared, so read the ratios more than the milliseconds.

    python bench/bench_pairing.py [--entries N] [--rounds R]
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

# Run as a script from the checkout: its tests/ and bench/ helpers import from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tend.cli import unlock_agent
from tend.core.crypto import keys, passphrase
from tend.core.domain.events import CheckIn
from tend.core.journal import Journal
from tend.core.log import escrow
from tend.core.trust import recovery as phrases
from tend.sync import client, mailbox, pairing_flow
from tests.conftest import Relay


def _median_ms(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_unlock(rounds: int) -> float:
    return _median_ms(lambda: passphrase.new_lock("maple river lantern cobalt"), rounds)


def bench_agent(folder: Path, rounds: int) -> float:
    os.environ["XDG_RUNTIME_DIR"] = str(folder)
    home = folder / "home"
    unlock_agent.start(home, passphrase.new_lock("x", passphrase.Cost(1, 64, 1)))
    deadline = time.monotonic() + 10
    while unlock_agent.held_lock(home) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        return _median_ms(lambda: unlock_agent.held_lock(home), rounds * 20)
    finally:
        unlock_agent.forget(home)


async def _pair_once(folder: Path, url: str, n: int) -> None:
    sam = Journal.create(folder / f"sam-{n}", "Sam")
    code, inviter = await pairing_flow.open_code(url, 60)
    inviting = asyncio.create_task(
        pairing_flow.complete_code(sam, code, inviter, own_device=False, seconds=60)
    )
    await pairing_flow.join(folder / f"alex-{n}", code, name="Alex", label="", lock=None)
    assert await inviting is not None


def bench_code(folder: Path, url: str, rounds: int) -> float:
    counter = iter(range(10_000))
    return _median_ms(lambda: asyncio.run(_pair_once(folder, url, next(counter))), rounds)


def bench_restore(folder: Path, url: str, entries: int, rounds: int) -> tuple[float, int]:
    sam = Journal.create(folder / "restore-sam", "Sam")
    root = sam.device.root
    assert root is not None
    for n in range(entries):
        sam.record(CheckIn(day="gentle", energy=n % 10, note=f"day {n}"))
    asyncio.run(client.sync_once(sam, url))
    person = keys.PersonSecrets.from_root(root)
    locator = escrow.locator_of(person.identity().encode())
    blob = asyncio.run(mailbox.get_escrow(url, locator))
    assert blob is not None
    found = phrases.open_escrow(person, blob)
    counter = iter(range(10_000))
    got = 0

    def once() -> None:
        nonlocal got
        home = folder / f"restored-{next(counter)}"
        journal = phrases.restore(home, person, found, relay=url, label="new", lock=None)
        got = asyncio.run(client.sync_once(journal, url)).downloaded
        journal.restoring = None
        if phrases.retire_other_devices(journal):  # as `tend recovery restore` does
            asyncio.run(client.sync_once(journal, url))
        journal.close()

    return _median_ms(once, rounds), got


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        relay = Relay(folder)
        relay.start()
        try:
            unlock = bench_unlock(args.rounds)
            print(f"unlock (Argon2id, 256 MiB, once a session): {unlock:.0f} ms")
            agent = bench_agent(folder, args.rounds)
            print(f"agent round trip (every later command):   {agent:.2f} ms")
            code = bench_code(folder, relay.url, args.rounds)
            print(f"short-code pairing, end to end:           {code:.0f} ms")
            took, got = bench_restore(folder, relay.url, args.entries, args.rounds)
            print(f"restore + first sync of {got} entries:     {took:.0f} ms")
        finally:
            relay.stop()


if __name__ == "__main__":
    main()
