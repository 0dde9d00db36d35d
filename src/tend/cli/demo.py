"""`tend demo`: two partners' three weeks, told end to end in a temporary folder.

A relay runs on 127.0.0.1 inside this process; Robin (recovering from a long illness) starts a
journal and invites Sam through the relay's pairing mailbox; both record check-ins, rest days,
small wins and thank-yous, partly offline, and sync. Then the week view, a replay of the
journal exactly as it was on a past evening, and a report (written only where asked, with
--report, or into the kept folder). The same journal, sync client, relay, views and renderers as
the commands; only the clock is a story's clock, walking through the three weeks. With --ui,
the two journals are then opened in two local pages side by side (`tend ui`'s own server, each
at its own secret address), syncing live through the same relay until Ctrl-C. The relay is
stopped and the folder removed at the end (unless --keep): the demo leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tend.app import look, settings
from tend.cli import render
from tend.cli.look_cmds import show_period
from tend.core.domain import events as ev
from tend.core.domain.validate import week_of
from tend.core.errors import MissingExtra
from tend.core.ids import EventId
from tend.core.journal import Journal
from tend.core.trust import pairing
from tend.core.trust.verify import verify

WEEKS = 3
# Each week's small win, and how the gentle goal went: one tender week each.
WIN_CATEGORIES: tuple[ev.MilestoneCategory, ...] = ("movement", "meal", "laughter")
GOAL_STORY: tuple[ev.GoalOutcome, ...] = ("adapted", "paused", "met")


class StoryClock:
    """A clock the story moves: each reading is a little later than the last."""

    def __init__(self, start: dt.datetime) -> None:
        self.at = start

    def __call__(self) -> dt.datetime:
        self.at += dt.timedelta(minutes=2)
        return self.at

    def set(self, day: dt.date, hour: int) -> None:
        self.at = max(self.at, dt.datetime.combine(day, dt.time(hour, 0)).astimezone())


def say(text: str) -> None:
    click.echo(click.style("» ", fg="green") + text)


@dataclass
class Couple:
    robin: Journal
    sam: Journal
    clock: StoryClock
    url: str


ROBIN_DAYS: list[dict[str, Any]] = [
    {"day": "gentle", "energy": 3, "pain": 5, "mood": 3, "needs": ("quiet company",)},
    {"day": "rest", "energy": 2, "pain": 6, "needs": ("soup", "no visitors")},
    {"day": "gentle", "energy": 4, "pain": 4, "mood": 3, "offer": "a film together"},
    {"day": "flare", "energy": 1, "pain": 8, "needs": ("heat pad", "dim lights")},
    {"day": "rest", "energy": 2, "pain": 6, "mood": 2},
    {"day": "gentle", "energy": 4, "pain": 4, "mood": 4, "offer": "a short walk"},
    {"day": "good", "energy": 5, "pain": 3, "mood": 4},
]
SAM_DAYS: list[dict[str, Any]] = [
    {"day": "good", "energy": 6, "mood": 4, "offer": "cook dinner"},
    {"day": "gentle", "energy": 5, "mood": 3, "needs": ("an early night",)},
    {"day": "good", "energy": 7, "mood": 4, "offer": "drive to physio"},
    {"day": "gentle", "energy": 4, "mood": 3, "offer": "sit with you"},
    {"day": "rest", "energy": 3, "mood": 3, "needs": ("a quiet evening",)},
    {"day": "good", "energy": 6, "mood": 4, "offer": "a walk to the corner"},
    {"day": "good", "energy": 7, "mood": 5},
]


def _checkins(couple: Couple, day: dt.date, week: int, index: int) -> None:
    lift = week  # the weeks get gently easier; a flare still comes
    robin = dict(ROBIN_DAYS[index])
    if robin.get("energy") is not None:
        robin["energy"] = min(10, robin["energy"] + lift)
    couple.clock.set(day, 8)
    couple.robin.record(ev.CheckIn(**robin))
    if (day.toordinal() + week) % 5:  # Sam skips the odd day: nothing is "missed"
        couple.clock.set(day, 9)
        couple.sam.record(ev.CheckIn(**SAM_DAYS[index]))


def _week(couple: Couple, monday: dt.date, week: int, goal: EventId) -> None:
    days = [monday + dt.timedelta(d) for d in range(7)]
    couple.clock.set(days[0], 10)
    tea = couple.sam.record(
        lambda item: ev.JoyIdea(item=item, week=week_of(monday), title="tea on the balcony", cost=1)
    ).id
    for index, day in enumerate(days):
        _checkins(couple, day, week, index)
    couple.clock.set(days[1], 18)
    win = couple.robin.record(
        ev.Milestone(
            title=[
                "walked to the corner together",
                "cooked a meal side by side",
                "laughed at the old photos",
            ][week],
            category=WIN_CATEGORIES[week],
        )
    )
    couple.clock.set(days[2], 20)
    couple.sam.record(
        ev.Gratitude(
            text=[
                "thank you for telling me what would help",
                "I loved the film on the sofa",
                "thank you for your patience on Thursday",
            ][week]
        )
    )
    couple.robin.record(
        ev.Gratitude(
            text=[
                "I appreciated how you made coffee while I rested",
                "thank you for driving me to physio",
                "thank you for the heat pad",
            ][week]
        )
    )
    couple.clock.set(days[3], 11)
    couple.robin.record(
        ev.CalendarEntry(kind="appointment", date=days[4].isoformat(), time="10:30", title="physio")
    )
    couple.clock.set(days[5], 17)
    couple.sam.record(ev.JoyStatus(item=tea, week=week_of(monday), status="done"))
    couple.sam.record(ev.Celebration(milestone=win.id, note="so proud of us"))
    couple.clock.set(days[6], 19)
    outcome = GOAL_STORY[week]
    couple.robin.record(ev.GoalWeek(goal=goal, week=week_of(monday), outcome=outcome))


def _hard_moment(couple: Couple, day: dt.date) -> str:
    """Late on the flare day, Robin writes something hurtful: the journal holds it like any
    other entry, until Robin takes it back."""
    couple.clock.set(day, 23)
    said = couple.robin.record(ev.Gratitude(text="for nothing, you never notice when I hurt"))
    return said.id.hex()


async def _taken_back(couple: Couple, entry: str) -> None:
    """The next morning Robin takes the words back and has them forgotten everywhere."""
    from tend.app import look, record
    from tend.cli import taken_back

    couple.clock.set(couple.clock.at.date() + dt.timedelta(days=1), 8)
    record.take_back(
        couple.robin, entry, "sorry, that was the pain talking; you do notice", forget=True
    )
    await _sync(couple)
    shown = look.timeline(couple.sam)
    say("Robin takes back last night's words and has them forgotten; on Sam's phone now:")
    taken_back.echo(shown.taken_back, shown.names)


def _sunday_evening(couple: Couple, monday: dt.date) -> None:
    """The week's close: a comfort signal, a memory kept, the state of the partnership drafted
    from the week's own entries and kept as the two of them chose."""
    from tend.app import anchors, partnership

    sunday = monday + dt.timedelta(days=6)
    couple.clock.set(sunday, 18)
    couple.sam.record(
        ev.ComfortSignal(signal="yellow", note="tired tonight; a hand on the shoulder is lovely")
    )
    anchors.add(
        couple.robin, "the evening we laughed at the old photos", on=monday + dt.timedelta(1)
    )
    made = partnership.draft(couple.robin, week_of(monday))
    partnership.save(couple.robin, made, adjustment="an earlier night on Sundays")
    say("Sunday evening: Sam shares a comfort signal with a note; Robin keeps an anchor memory")
    say("for hard days, and drafts the state of the partnership from the week's own entries.")


async def _sync(couple: Couple) -> int:
    from tend.sync import client

    moved = 0
    for journal in (couple.robin, couple.sam, couple.robin):
        report = await client.sync_once(journal, couple.url)
        moved += report.uploaded
    return moved


async def _pair(robin: Journal, folder: Path, url: str, clock: StoryClock) -> Journal:
    """The real short-code exchange, both sides in this process, through the embedded relay."""
    import asyncio

    from tend.sync import pairing_flow

    code, inviter = await pairing_flow.open_code(url, 600)
    say(f"Robin invites Sam with the code {code.text}")
    say("(it carries the relay, works once, for ten minutes; a wrong guess closes it).")
    inviting = asyncio.create_task(
        pairing_flow.complete_code(robin, code, inviter, own_device=False, seconds=60)
    )
    joined = await pairing_flow.join(
        folder / "sam", code, name="Sam", label="phone", lock=None, clock=clock
    )
    added = await inviting
    assert isinstance(added, ev.DeviceAdded) and joined.journal is not None
    shown = pairing.safety_code(robin.device.space, robin.device.identity, added.identity)
    say(f"Sam joins; both devices show the safety code {shown},")
    say("to compare in person (then: tend devices confirm).")
    return joined.journal


async def _pages(folder: Path, browser: bool) -> None:
    """Robin's and Sam's journals in two pages, served on 127.0.0.1 until Ctrl-C (or SIGTERM)."""
    from tend.cli.ui_cmd import side_by_side

    click.echo()
    say("Both journals, each in its own page: what one records appears on the other's.")
    await side_by_side(
        [(name, folder / name.lower()) for name in ("Robin", "Sam")],
        browser=browser,
        say=say,
        ready="Keep these addresses to yourself. Ctrl-C stops the pages and the relay.",
    )
    say("The pages have stopped.")


async def _story(
    folder: Path, report_to: Path | None, ui: bool = False, browser: bool = True
) -> None:
    from aiohttp import web

    from tend.sync.relay.app import make_app
    from tend.sync.relay.store_spec import SqliteSpec

    runner = web.AppRunner(make_app(SqliteSpec(folder / "relay.db")), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    try:
        await _tell(folder, url, report_to)
        if ui:
            await _pages(folder, browser)
    finally:
        await runner.cleanup()
        say("The relay is stopped; nothing is left running.")


async def _tell(folder: Path, url: str, report_to: Path | None) -> None:
    today = dt.date.today()
    first_monday = today - dt.timedelta(days=today.weekday() + 7 * WEEKS)
    clock = StoryClock(dt.datetime.combine(first_monday, dt.time(7, 0)).astimezone())
    say(f"A relay runs on {url}; it only ever holds sealed entries.")
    robin = Journal.create(folder / "robin", "Robin", label="laptop", now=clock)
    settings.remember_relay(robin, url)  # as Sam's journal learns it from the code
    say("Robin starts a journal.")
    sam = await _pair(robin, folder, url, clock)
    couple = Couple(robin, sam, clock, url)
    await _sync(couple)
    goal = robin.record(
        lambda gid: ev.GoalSet(
            goal=gid, title="one tender-touch session a week", flare_rule="pause"
        )
    ).id
    say("Weeks 1-2, both offline: rest days are one tap; a flare comes and goes.")
    for week in range(2):
        _week(couple, first_monday + dt.timedelta(weeks=week), week, goal)
    hard = _hard_moment(couple, first_monday + dt.timedelta(weeks=1, days=3))
    sent = await _sync(couple)
    say(f"They sync: {sent} sealed entries pass through the relay, verified on arrival.")
    await _taken_back(couple, hard)
    _week(couple, first_monday + dt.timedelta(weeks=2), 2, goal)
    _sunday_evening(couple, first_monday + dt.timedelta(weeks=2))
    await _sync(couple)
    _look_back(couple, first_monday)
    _report(couple, first_monday, report_to)
    report = verify(robin)
    say(
        f"tend verify on Robin's laptop: {report.entries} entries in {report.logs} logs, "
        f"{'all check out' if report.ok else 'with problems'}."
    )
    robin.close()
    sam.close()


def _look_back(couple: Couple, first_monday: dt.date) -> None:
    last_monday = first_monday + dt.timedelta(weeks=WEEKS - 1)
    click.echo()
    say("Today, side by side, on Robin's laptop:")
    render.today(look.today(couple.robin, last_monday + dt.timedelta(6)).view)
    click.echo()
    show_period(look.week(couple.robin, last_monday), f"The week of {last_monday:%-d %B}", False)
    evening = dt.datetime.combine(first_monday + dt.timedelta(days=10), dt.time(21, 0))
    then = look.replay(couple.robin, evening.astimezone())
    click.echo()
    say(f"Replay: Robin's journal exactly as it was on {evening:%A %-d %B}, {evening:%H:%M},")
    say(
        f"with the {then.entries_known} entries it held then (Sam's week was still on Sam's phone):"
    )
    render.today(then.today.view)


def _report(couple: Couple, first_monday: dt.date, report_to: Path | None) -> None:
    """Write the three weeks as a report where asked; otherwise say how to have one."""
    if report_to is None:
        say("The three weeks as a report, charts too: tend demo --report demo-report.html")
        return
    from tend.core.views import report as build
    from tend.present import report_page

    items = couple.robin.items()
    end = first_monday + dt.timedelta(weeks=WEEKS) - dt.timedelta(days=1)
    try:
        page = report_page.render_html(
            build.gather(items, couple.robin.device.person, first_monday, end, private_only=False),
            end,
        )
    except MissingExtra as missing:
        say(f"The three weeks as a report would come next: {missing}")
        return
    report_page.write(report_to, page)
    say(f"The three weeks as a report, charts too, for any browser:\n  {report_to}")


def run(
    keep: Path | None, report_to: Path | None = None, ui: bool = False, browser: bool = True
) -> None:
    folder = keep or Path(tempfile.mkdtemp(prefix="tend-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    if report_to is None and keep is not None:
        report_to = keep / "report.html"
    try:
        asyncio.run(_story(folder, report_to, ui, browser))
        say("Start your own: tend init --name YOU, then tend checkin --day rest.")
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
