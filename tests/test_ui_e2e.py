"""The page as two partners use it, in a real headless Chromium: two paired journals, a real
relay on 127.0.0.1, each page served by `tend ui`'s own server at its own secret address.

A rest day in one tap, a check-in set by keyboard, the partner's entries arriving on an open
page without a reload, a small win celebrated, a past week replayed, two periods compared, two
devices paired through the page, and axe-core's accessibility check on every main view.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.browser import DESKTOP, PHONE, chromium, needs_browser, opened, origin, served
from tests.conftest import Relay, TendCLI, pair, tend_env, tend_executable

pytestmark = [pytest.mark.slow, *needs_browser]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SECONDS = 30_000  # Playwright counts in milliseconds


def demo_journals(folder: Path) -> tuple[Path, Path]:
    """Robin's and Sam's journals with three weeks behind them, as `tend demo` leaves them."""
    done = subprocess.run(
        [tend_executable(), "demo", "--keep", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=tend_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return folder / "robin", folder / "sam"


async def test_two_partners_see_each_other_live_and_celebrate(tmp_path: Path, relay: Relay) -> None:
    from playwright.async_api import expect

    sam, alex = TendCLI(tmp_path / "sam"), TendCLI(tmp_path / "alex")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    pair(sam, alex, relay)
    async with served(sam.home) as at_sam, served(alex.home) as at_alex, chromium() as browser:
        sams = await opened(browser, at_sam)
        alexs = await opened(browser, at_alex)
        for page in (sams, alexs):
            await page.get_by_text("last synced just now").wait_for(timeout=SECONDS)

        await sams.get_by_test_id("rest-day").click()  # one tap is a whole check-in
        await sams.get_by_test_id("said").first.wait_for()
        assert "rest" in await sams.get_by_test_id("person-1").inner_text()
        await sams.evaluate("window.stillTheSamePage = true")
        # ...and on Alex's page, open all along, Sam's rest day arrives by itself.
        await expect(alexs.get_by_test_id("person-2")).to_contain_text("rest", timeout=SECONDS)

        await alexs.get_by_label("A good day").check()
        energy = alexs.locator("#checkin-energy")
        await energy.focus()
        for _ in range(2):
            await energy.press("ArrowRight")  # 5 to 7, as a person with the keyboard would
        pain = alexs.locator("#checkin-pain")
        await pain.focus()
        await pain.press("Home")
        await pain.press("ArrowRight")
        await pain.press("ArrowRight")
        assert await alexs.locator("#checkin-energy-value").inner_text() == "7"
        assert await alexs.locator("#checkin-pain-value").inner_text() == "2"
        assert await alexs.locator("#checkin-energy-on").is_checked()  # moving it means "note it"
        await alexs.locator("#checkin-note").fill("a slow walk by the river")
        await alexs.get_by_test_id("checkin").click()
        await alexs.get_by_test_id("said").first.wait_for()

        # Sam's page, left open, shows Alex's check-in without being reloaded.
        today = sams.locator("#together-today")
        await today.get_by_text("a slow walk by the river").wait_for(timeout=SECONDS)
        said = await today.inner_text()
        assert "energy 7" in said and "pain 2" in said, said
        assert await sams.evaluate("window.stillTheSamePage") is True  # no reload

        # Alex keeps a small win; Sam, on the together page, sees it arrive and celebrates it.
        await sams.goto(origin(at_sam) + "/together")
        await sams.evaluate("window.stillTheSamePage = true")
        await alexs.goto(origin(at_alex) + "/together")
        await alexs.locator("#win-form").get_by_role("textbox").first.fill("made tea standing up")
        await alexs.locator("#win-form").get_by_role("button").click()
        win = sams.locator("#wins li", has_text="made tea standing up")
        await win.wait_for(timeout=SECONDS)
        assert await sams.evaluate("window.stillTheSamePage") is True  # swapped in, not reloaded
        await win.get_by_role("button", name="Celebrate").click()
        await (
            sams.locator("#wins li", has_text="made tea standing up")
            .locator(".tag", has_text="celebrated")
            .wait_for()
        )
        await (
            alexs.locator("#wins li", has_text="made tea standing up")
            .locator(".tag", has_text="celebrated")
            .wait_for(timeout=SECONDS)
        )


async def test_a_past_week_replayed_and_two_periods_side_by_side(tmp_path: Path) -> None:
    robin, _sam = demo_journals(tmp_path / "story")
    today = dt.date.today()
    first_monday = today - dt.timedelta(days=today.weekday() + 21)
    evening = first_monday + dt.timedelta(days=10)
    async with served(robin) as address, chromium() as browser:
        page = await opened(browser, address)
        await page.goto(origin(address) + "/replay")
        await page.get_by_label("Which day").fill(evening.isoformat())
        await page.get_by_role("button", name="Show it").click()
        await page.wait_for_url(re.compile(r"/replay\?at="))
        shown = await page.locator("main").inner_text()
        assert f"{evening:%A %-d %B %Y}" in shown
        robin_then, sam_then = await page.locator("article.person").all_inner_texts()
        assert "flare day" in robin_then  # that Thursday was a flare, in Robin's own words
        # Sam's days of that week were still on Sam's phone that evening.
        assert "no check-in yet" in sam_then, sam_then
        after = evening + dt.timedelta(days=1)
        said = await page.locator("main").text_content() or ""  # the charts' words, too
        assert f"{after:%a %-d %b} not noted" in said  # the next day had not come yet

        first, second = (first_monday + dt.timedelta(weeks=w) for w in (0, 2))
        weeks = [f"{d.isocalendar().year}-W{d.isocalendar().week:02d}" for d in (first, second)]
        await page.goto(origin(address) + "/compare")
        await page.get_by_label("One period").fill(weeks[0])
        await page.get_by_label("Beside").fill(weeks[1])
        await page.get_by_role("button", name="Set them side by side").click()
        table = page.get_by_test_id("compare")
        await table.wait_for()
        headers = await table.locator("thead th").all_inner_texts()
        assert len(headers) == 3, headers
        wins = await table.locator("tr", has_text="small wins").locator("td").all_inner_texts()
        assert wins == ["1", "1"], wins


async def test_two_devices_paired_through_the_page(tmp_path: Path, relay: Relay) -> None:
    sam = TendCLI(tmp_path / "sam")
    sam.ok("init", "--name", "Sam", "--relay", relay.url)
    fresh = tmp_path / "alex"  # nothing there yet: the page offers to start or to join
    async with served(sam.home) as at_sam, served(fresh) as at_alex, chromium() as browser:
        sams = await opened(browser, at_sam)
        await sams.goto(origin(at_sam) + "/devices")
        await sams.get_by_test_id("invite").click()
        code = (await sams.get_by_test_id("invite-code").inner_text()).strip()
        assert code

        alexs = await opened(browser, at_alex)
        assert alexs.url.endswith("/setup")
        await alexs.get_by_label("The code from the other device").fill(code)
        await alexs.locator("#setup-join-name").fill("Alex")
        await alexs.get_by_test_id("join").click()
        await alexs.wait_for_url(lambda url: not url.endswith("/setup"), timeout=SECONDS)
        joined = await alexs.locator("main").inner_text()
        safety = re.search(r"[Ss]afety code[^0-9]*([0-9][0-9 ]+[0-9])", joined)
        assert safety, joined

        await (
            sams.get_by_test_id("invite-status")
            .get_by_text(safety.group(1), exact=False)
            .wait_for(timeout=SECONDS)
        )
        await alexs.goto(origin(at_alex) + "/devices")
        assert "Sam" in await alexs.get_by_test_id("roster").inner_text()


VIEWS = (
    "/",
    "/together",
    "/partnership",
    "/week",
    "/month",
    "/timeline",
    "/replay?at={evening}",
    "/compare?first={month}&second={month}",
    "/devices",
    "/practices",
)


def view_paths() -> list[str]:
    today = dt.date.today()
    evening = today - dt.timedelta(days=today.weekday() + 11)
    return [v.format(evening=evening.isoformat(), month=f"{today:%Y-%m}") for v in VIEWS]


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    passes, found = await page.evaluate(
        "async () => { const r = await axe.run(document);"
        " return [r.passes.length, r.violations.map(v => ({id: v.id, impact: v.impact,"
        " help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))]; }"
    )
    assert passes > 10, "axe checked next to nothing: was it injected?"
    return [v for v in found if v["impact"] in ("serious", "critical")]


async def test_no_serious_accessibility_violation_on_any_main_view(tmp_path: Path) -> None:
    assert AXE.exists(), "axe-core is vendored in tests/vendor/axe-core"
    robin, _sam = demo_journals(tmp_path / "story")
    found: dict[str, list[dict[str, Any]]] = {}
    empty = tmp_path / "empty"
    async with served(robin) as address, served(empty) as fresh, chromium() as browser:
        # bypass_csp only in these contexts: axe is injected as a script the page's own
        # policy (script-src 'self') rightly refuses; the page is checked as served.
        page = await opened(browser, address, bypass_csp=True)
        setup = await opened(browser, fresh, bypass_csp=True)
        assert setup.url.endswith("/setup")
        for size in (DESKTOP, PHONE):
            await page.set_viewport_size(size)
            for path in view_paths():
                await page.goto(origin(address) + path)
                if bad := await axe_violations(page):
                    found[f"{path} at {size['width']} px"] = bad
            await setup.set_viewport_size(size)
            await setup.reload()
            if bad := await axe_violations(setup):
                found[f"/setup at {size['width']} px"] = bad
        # A calm line after a change, and a refusal said by its field.
        await page.goto(origin(address) + "/")
        await page.get_by_test_id("rest-day").click()
        await page.get_by_test_id("said").first.wait_for()
        if bad := await axe_violations(page):
            found["/ after a rest day"] = bad
        await setup.locator("#setup-join-code").fill("not a code")
        await setup.get_by_test_id("join").click()
        await setup.locator("#setup-join-code[aria-invalid=true], .error").first.wait_for()
        if bad := await axe_violations(setup):
            found["/setup after a wrong code"] = bad
    assert not found, json.dumps(found, indent=1)


def screenshot_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TEND_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_screenshots_of_every_main_view_are_not_blank(tmp_path: Path) -> None:
    from tests.screenshots import not_blank, shoot

    robin, _sam = demo_journals(tmp_path / "story")
    folder = screenshot_folder(tmp_path)
    names = [p.split("?")[0].strip("/") or "today" for p in view_paths()]
    written = await shoot(robin, tmp_path / "empty", folder, view_paths(), names)
    assert len(written) == 2 * (len(names) + 1)
    for picture in written:
        assert not_blank(picture), picture
