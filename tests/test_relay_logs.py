"""The relay's log through a real pairing and sync: one JSON object a line on stderr, with no
capability, space id, mailbox id or client address unless the operator asks for them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tend.core.crypto.capability import capability, capability_hash
from tend.core.journal import Journal
from tests.conftest import Relay, TendCLI, pair

pytestmark = pytest.mark.slow  # a relay process and the real command

HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")


def run_couple(tmp_path: Path, *flags: str) -> tuple[list[str], list[str]]:
    """Pair two devices and sync them through a relay started with `flags`; the relay's log
    lines, and the secrets and ids the devices know (capability, its hash, the space id)."""
    folder = tmp_path / "relay"
    folder.mkdir()
    relay = Relay(folder, *flags, split_log=True)
    relay.start()
    try:
        sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
        sam.ok("init", "--name", "Sam", "--relay", relay.url)
        pair(sam, alex, relay)
        sam.ok("gratitude", "for the walk")
        sam.ok("sync")
        alex.ok("sync")
    finally:
        relay.stop()
    device = Journal.open(sam.home).device
    cap = capability(device.space_key)
    known = [cap.hex(), capability_hash(cap).hex(), device.space.hex(), device.space.hex()[:8]]
    return relay.err.read_text().splitlines(), known


def parsed(lines: list[str]) -> list[dict[str, object]]:
    assert lines, "the relay logged nothing"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(r, dict) and "event" in r for r in records)
    return records


def test_by_default_the_log_holds_no_secret_id_or_address(tmp_path: Path) -> None:
    lines, known = run_couple(tmp_path)
    records = parsed(lines)
    text = "\n".join(lines)
    for secret in known:
        assert secret not in text
    assert HEX_ID.search(text) is None  # no mailbox or invitation id either
    assert "127.0.0.1" not in text
    assert not any({"space", "mailbox", "peer"} & r.keys() for r in records)
    events = {str(r["event"]) for r in records}
    assert {"session.ended", "mailbox.posted"} <= events
    assert "push.stored" not in events  # a line a push would grow the log with every entry


def test_ids_and_addresses_appear_when_asked_and_secrets_never(tmp_path: Path) -> None:
    lines, known = run_couple(tmp_path, "--log-ids", "--log-addresses")
    records = parsed(lines)
    text = "\n".join(lines)
    cap, cap_hash, space, _ = known
    assert cap not in text and cap_hash not in text
    assert any(r.get("space") == space for r in records)
    mailboxes = [r["mailbox"] for r in records if r["event"] == "mailbox.posted"]
    assert mailboxes and all(HEX_ID.fullmatch(str(m)) for m in mailboxes)
    assert any(r.get("peer") == "127.0.0.1" for r in records if r["event"] == "session.ended")
