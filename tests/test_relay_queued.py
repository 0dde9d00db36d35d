"""The relay's accounting of what it holds for devices that do not read (sync/relay/queued.py),
with holders standing in for sessions: who is cut off, and who never is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tend.sync.relay.app import make_app
from tend.sync.relay.app_keys import QUEUED
from tend.sync.relay.queued import RELAY_BYTES, Queued
from tend.sync.relay.settings import load
from tend.sync.relay.store_spec import SqliteSpec


@dataclass(eq=False)
class FakeSession:
    queued: Queued
    owners: tuple[str, ...]
    waiting_since: float
    queued_bytes: int = 0
    cut: bool = False

    def hold(self, count: int) -> None:
        self.queued_bytes += count
        self.queued.hold(self, count)

    def cut_off(self) -> None:
        self.cut = True
        held, self.queued_bytes = self.queued_bytes, 0
        self.queued.release(self, held)


HOUSEHOLD, NETWORK = ("2001:db8:1:1::/64", "2001:db8:1::/48")


def test_past_its_budget_a_household_loses_its_stalest_session_and_no_other() -> None:
    queued = Queued(household=100, network=1000)
    stale = FakeSession(queued, ("192.0.2.1",), waiting_since=1.0)
    fresh = FakeSession(queued, ("192.0.2.1",), waiting_since=5.0)
    neighbour = FakeSession(queued, ("192.0.2.2",), waiting_since=0.0)  # stalest of all
    neighbour.hold(90)
    stale.hold(60)
    fresh.hold(30)  # 90 for 192.0.2.1: within
    assert not any(s.cut for s in (stale, fresh, neighbour))
    fresh.hold(20)  # 110: the household's stalest goes, even though another is staler
    assert stale.cut and not fresh.cut and not neighbour.cut
    assert queued.held_by("192.0.2.1") == 50 and queued.held_by("192.0.2.2") == 90


def test_the_households_of_one_network_share_its_budget() -> None:
    queued = Queued(household=100, network=150)
    sessions = [
        FakeSession(queued, (f"2001:db8:1:{n}::/64", NETWORK), waiting_since=float(n))
        for n in range(3)
    ]
    for session in sessions:
        session.hold(60)  # each household within its own budget; the network is not
    assert [s.cut for s in sessions] == [True, False, False]
    assert queued.held_by(NETWORK) == 120


def test_a_holder_that_releases_everything_is_forgotten() -> None:
    queued = Queued(household=100, network=100)
    session = FakeSession(queued, (HOUSEHOLD, NETWORK), waiting_since=0.0)
    session.hold(50)
    session.queued_bytes = 0
    queued.release(session, 50)
    assert queued.held_by(HOUSEHOLD) == queued.held_by(NETWORK) == 0
    assert queued._holders == {}


def test_many_households_together_are_held_to_the_relays_budget() -> None:
    """A crowd of addresses, each within its own budget, still cannot fill the relay: past its
    budget, the stalest session of all is cut off."""
    queued = Queued(household=100, network=100, relay=250)
    sessions = [
        FakeSession(queued, (f"192.0.2.{n}",), waiting_since=float(10 - n)) for n in range(1, 4)
    ]
    for session in sessions:
        session.hold(90)  # 270 in all
    assert [s.cut for s in sessions] == [False, False, True]  # 192.0.2.3 waited longest
    assert queued.total == 180


def test_the_relays_budget_is_a_setting_the_app_keeps(tmp_path: Path) -> None:
    _serve, config = load({}, {"TEND_RELAY_HELD_FOR_DEVICES": str(256 << 20)}, None)
    app = make_app(SqliteSpec(tmp_path / "relay.db"), config)
    assert app[QUEUED].relay == 256 << 20
    assert make_app(SqliteSpec(tmp_path / "other.db"))[QUEUED].relay == RELAY_BYTES
