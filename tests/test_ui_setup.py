"""The page on a fresh home (start a journal, join with a code), a passphrase asked once in
the page, and devices: an invitation made in the page, safety codes, removal, the recovery
phrase shown once. Pairing runs through a real relay on 127.0.0.1 and the real command."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tend.app import devices, home, look
from tend.core.crypto import passphrase
from tend.core.views import projections
from tests.conftest import Relay, TendCLI, tend_env
from tests.ui_helpers import Browser, page_on

CHEAP = passphrase.Cost(time=1, memory_kib=64, lanes=1)  # the file records its own cost
WORDS = "a long walk by the river at dusk"


def names(browser: Browser) -> set[str]:
    assert browser.state.journal is not None
    return set(projections.names(browser.state.journal.items()).values())


async def test_a_fresh_home_offers_to_start_a_journal(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    async with page_on(fresh) as browser:
        answer = await browser.get("/", allow_redirects=False)
        assert (answer.status, answer.headers["Location"]) == (303, "/setup")
        page = await browser.text("/setup")
        assert "Start a journal" in page and "Join with a code" in page
        refused = await browser.post("/setup/start", {"name": ""}, page="/setup")
        assert refused.status == 400
        assert 'id="err-name"' in await refused.text()
        assert not home.exists(fresh)
        welcomed = await browser.post("/setup/start", {"name": "Sam"}, page="/setup", follow=True)
        assert "Welcome, Sam." in await welcomed.text()
        assert home.exists(fresh)
        assert names(browser) == {"Sam"}
        await browser.post("/rest", {})
        assert look.today(browser.state.journal).view.people[0][2] is not None  # type: ignore[arg-type]


async def test_a_passphrase_is_asked_once_in_the_page_and_locking_closes_it(
    tmp_path: Path,
) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam", lock=passphrase.new_lock(WORDS, CHEAP)).close()
    async with page_on(where) as browser:
        assert browser.state.journal is None
        answer = await browser.get("/", allow_redirects=False)
        assert answer.headers["Location"] == "/unlock"
        wrong = await browser.post("/unlock", {"passphrase": "not it at all"}, page="/unlock")
        assert wrong.status == 400
        assert 'id="err-passphrase"' in await wrong.text()
        assert browser.state.journal is None
        await browser.post("/unlock", {"passphrase": WORDS}, page="/unlock")
        assert names(browser) == {"Sam"}
        assert "Sam" in await browser.text("/")  # and it stays open from page to page
        assert "Sam" in await browser.text("/week")
        locked = await browser.post("/lock", {}, follow=False)
        assert locked.headers["Location"] == "/unlock"
        assert browser.state.journal is None
        again = await browser.get("/together", allow_redirects=False)
        assert again.headers["Location"] == "/unlock"


async def test_joining_with_a_code_from_the_page(tmp_path: Path, relay: Relay) -> None:
    sam = TendCLI(tmp_path / "sam")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    inviter = await asyncio.create_subprocess_exec(
        *sam.argv("invite", "--wait", "60"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=tend_env(),
    )
    assert inviter.stdout is not None
    first = (await inviter.stdout.readline()).decode()
    code = first.split(": ", 1)[1].strip()
    async with page_on(tmp_path / "alex") as browser:
        joined = await browser.post(
            "/setup/join", {"code": code, "name": "Alex"}, page="/setup", follow=True
        )
        page = await joined.text()
        assert "Joined. Safety code: " in page
        out, err = await asyncio.wait_for(inviter.communicate(), 60)
        assert inviter.returncode == 0, err
        said = re.search(r"Safety code: (.+)", out.decode())
        assert said is not None
        assert said.group(1).strip() in page  # the same code on both screens
        assert names(browser) == {"Sam", "Alex"}


async def test_a_wrong_code_is_refused_by_its_field(tmp_path: Path) -> None:
    async with page_on(tmp_path / "alex") as browser:
        answer = await browser.post("/setup/join", {"code": "not a code"}, page="/setup")
        assert answer.status == 400
        assert 'id="err-' in await answer.text() or 'data-testid="error"' in await answer.text()
        assert not home.exists(tmp_path / "alex")


async def joined_from_the_page(browser: Browser, joiner: TendCLI, *extra: str) -> str:
    """Make an invitation in the page, join with the command; what the joiner printed."""
    await browser.post("/invite", {"own": "1"} if not extra else {}, page="/devices")
    page = await browser.text("/devices")
    code = re.search(r'data-testid="invite-code">([^<]+)<', page)
    assert code is not None, page
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn here
    process = await asyncio.create_subprocess_exec(
        *joiner.argv("join", code.group(1), *extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=tend_env(),
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err
    async with asyncio.timeout(30):
        while browser.state.invitation.get("status") != "joined":
            await asyncio.sleep(0.1)
    return out.decode()


async def test_inviting_a_partner_from_the_page_and_confirming_the_safety_code(
    tmp_path: Path, relay: Relay
) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam", relay=relay.url).close()
    async with page_on(where) as browser:
        out = await joined_from_the_page(browser, TendCLI(tmp_path / "alex"), "--name", "Alex")
        safety = browser.state.invitation["safety"]
        assert safety in out  # the same code on both screens
        assert safety in await browser.text("/devices")
        journal = browser.state.journal
        assert journal is not None
        [other] = [d for d in devices.roster(journal).devices if not d.this_device]
        assert other.safety_code == safety and not other.compared
        await browser.post("/devices/confirm", {"device": other.id.hex()}, page="/devices")
        [other] = [d for d in devices.roster(journal).devices if not d.this_device]
        assert other.compared


async def test_removing_a_lost_device_of_ones_own(tmp_path: Path, relay: Relay) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam", relay=relay.url).close()
    async with page_on(where) as browser:
        await joined_from_the_page(browser, TendCLI(tmp_path / "sam-phone"))
        journal = browser.state.journal
        assert journal is not None
        [phone] = [d for d in devices.roster(journal).devices if not d.this_device]
        assert phone.person == journal.device.person
        unsure = await browser.post("/devices/remove", {"device": phone.id.hex()}, page="/devices")
        assert unsure.status == 400
        assert 'id="err-sure"' in await unsure.text()
        said = await browser.post(
            "/devices/remove", {"device": phone.id.hex(), "sure": "1"}, page="/devices", follow=True
        )
        assert "Removed." in await said.text()
        [phone] = [d for d in devices.roster(journal).devices if not d.this_device]
        assert phone.removed
        await browser.post("/checkin", {"note": "after the phone was lost"})
        await asyncio.sleep(1)  # the live connection pushes it, under the new key
        lost = TendCLI(tmp_path / "sam-phone")
        lost("sync")
        assert "after the phone was lost" not in lost("timeline").stdout


async def test_the_recovery_phrase_is_shown_once(tmp_path: Path) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam").close()
    async with page_on(where) as browser:
        shown = await browser.post("/recovery", {}, page="/devices", follow=True)
        words = re.findall(r"<li>([a-z]+)</li>", await shown.text())
        assert len(words) == 24
        again = await browser.post("/recovery", {}, page="/devices")
        assert again.status == 400
        assert "shown already" in await again.text()


async def test_a_journal_started_in_the_page_can_be_locked_with_a_passphrase(
    tmp_path: Path,
) -> None:
    fresh = tmp_path / "fresh"
    async with page_on(fresh) as browser:
        weak = await browser.post(
            "/setup/start",
            {"name": "Sam", "passphrase": "password", "passphrase_again": "password"},
            page="/setup",
        )
        assert weak.status == 400
        page = await weak.text()
        assert 'id="err-passphrase"' in page
        assert 'value="password"' not in page  # a passphrase is never written back
        assert not home.exists(fresh)
        differ = await browser.post(
            "/setup/start",
            {"name": "Sam", "passphrase": WORDS, "passphrase_again": WORDS + "!"},
            page="/setup",
        )
        assert 'id="err-passphrase_again"' in await differ.text()
        await browser.post(
            "/setup/start",
            {"name": "Sam", "passphrase": WORDS, "passphrase_again": WORDS},
            page="/setup",
        )
        assert names(browser) == {"Sam"}
    assert home.needs_passphrase(fresh)
    home.open_journal(fresh, home.unlock(fresh, WORDS)).close()


async def test_a_link_for_a_partner_who_is_not_here_from_page_to_page(
    tmp_path: Path, relay: Relay
) -> None:
    where = tmp_path / "sam"
    home.start(where, "Sam", relay=relay.url).close()
    async with page_on(where) as sam, page_on(tmp_path / "alex") as alex:
        await sam.post("/invite/link", {}, page="/devices")
        page = await sam.text("/devices")
        link = re.search(r'data-testid="invite-link">([^<]+)<', page)
        assert link is not None, page
        assert 'alt="The same link as a QR code"' in page
        nobody = await sam.post("/devices/let-in", {}, page="/devices", follow=True)
        assert "Nobody has answered an invitation link yet." in await nobody.text()
        answered = await alex.post(
            "/setup/join", {"code": link.group(1), "name": "Alex"}, page="/setup", follow=True
        )
        page = await answered.text()
        assert "You answered Sam&#39;s invitation." in page
        assert 'data-testid="waiting"' in page
        early = await alex.post("/setup/finish", {}, page="/setup", follow=True)
        assert "Still waiting for" in await early.text()
        let_in = await sam.post("/devices/let-in", {}, page="/devices", follow=True)
        said = await let_in.text()
        code = re.search(r"A device joined with your link[^.]*\. Safety code: ([0-9 ]+)", said)
        assert code is not None, said
        welcomed = await alex.post("/setup/finish", {}, page="/setup", follow=True)
        assert f"Joined. Safety code: {code.group(1)}" in await welcomed.text()
        assert names(alex) == {"Sam", "Alex"}
