"""`tend report`: one self-contained HTML page (the model in core/views/report.py, the page and
its charts in present/report_page.py and present/report_charts.py, the command in
cli/report_cmd.py).

In-process tests call the command through `tend.cli.main.main`; subprocess tests run the real
`tend` (tests/conftest.py). The last tests render the page in a headless Chromium and look at the
pixels; they skip, saying why, when no Chromium is installed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tend.cli.main import main
from tend.core.domain.events import Celebration, CheckIn, DayKind, Gratitude, Milestone
from tend.core.ids import PersonId
from tend.core.journal import Journal
from tend.core.trust import pairing
from tend.core.trust.ingest import ingest
from tend.core.views import report
from tend.present import report_page
from tend.present.report_charts import ENERGY_COLOUR, PAIN_COLOUR, WIN_COLOUR
from tests.conftest import TendCLI, keys_of, tend_env

D1, D2, D3 = dt.date(2026, 3, 2), dt.date(2026, 3, 9), dt.date(2026, 3, 16)
HOSTILE = "<script>alert('boo')</script> thank you for the tea"


def run(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def page_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def assert_self_contained(page: str) -> None:
    """Nothing in the page is fetched from anywhere: no remote src/href, script, font or CSS."""
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"<script", page, re.I)
    assert not re.search(r"<link\b|<iframe\b|<object\b|<embed\b", page, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", page, re.I)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


def write_story(j: Journal) -> None:
    """Three weeks of one person's small things, dated D1, D2, D3."""
    story: tuple[tuple[dt.date, int, int, DayKind], ...] = (
        (D1, 3, 6, "gentle"),
        (D2, 2, 7, "rest"),
        (D3, 6, 2, "good"),
    )
    for day, energy, pain, kind in story:
        j.record(CheckIn(day=kind, energy=energy, pain=pain), on=day)
    j.record(Milestone(title="walked to the corner together", category="movement"), on=D1)
    j.record(Milestone(title="cooked a meal <side by side>", category="meal"), on=D3)
    j.record(Gratitude(text=HOSTILE), on=D2)


@pytest.fixture
def robin(tmp_path: Path) -> Path:
    home = tmp_path / "robin"
    with Journal.create(home, "Robin & <b>Co</b>") as j:
        write_story(j)
    return home


@pytest.fixture
def couple(tmp_path: Path) -> Iterator[tuple[Journal, Journal]]:
    """Sam's journal and Alex's, paired through a real invitation (as in test_ingest.py)."""
    sam = Journal.create(tmp_path / "sam", "Sam")
    alex = pairing.pair_directly(
        sam, tmp_path / "alex", own=False, name="Alex", label="phone", relay="http://127.0.0.1:1"
    )
    yield sam, alex
    sam.close()
    alex.close()


def exchange(a: Journal, b: Journal) -> None:
    assert not ingest(b, [s.entry for s in a.store.since(0)], keys=keys_of(a)).refused
    assert not ingest(a, [s.entry for s in b.store.since(0)], keys=keys_of(b)).refused


# --- in-process --------------------------------------------------------------------------------


def test_the_report_is_one_self_contained_page_with_charts_wins_and_thank_yous(
    robin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert run(robin, "report", "--out", str(out)) == 0
    page = page_of(out)
    assert page.startswith("<!DOCTYPE html>")
    assert_self_contained(page)
    assert "default-src 'none'" in page  # the page itself forbids fetching anything
    assert len(re.findall(r"<svg\b", page)) == 1 and "</svg>" in page
    assert ENERGY_COLOUR in page and PAIN_COLOUR in page
    assert "walked to the corner together" in page
    assert "cooked a meal &lt;side by side&gt;" in page
    assert "Looking back together" in page
    assert re.search(r'<span class="who">[^<]+</span> kept rest on \w{3} \d+ \w{3} 2026\.', page)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 2 and str(out) in printed[0]
    assert "not encrypted" in printed[1] and "0600" in printed[1]


def test_every_string_a_person_wrote_is_escaped(robin: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert run(robin, "report", "--out", str(out)) == 0
    page = page_of(out)
    assert "&lt;script&gt;alert(&#x27;boo&#x27;)&lt;/script&gt; thank you for the tea" in page
    assert "<script" not in page.lower()
    assert "Robin &amp; &lt;b&gt;Co&lt;/b&gt;" in page
    assert "<b>Co</b>" not in page


def test_the_file_is_written_readable_only_by_its_owner(robin: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("an older report")
    out.chmod(0o644)
    assert run(robin, "report", "--out", str(out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "<svg" in page_of(out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_from_and_to_choose_the_days(robin: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert run(robin, "report", "--out", str(out), "--from", str(D2), "--to", str(D2)) == 0
    page = page_of(out)
    assert "9 March 2026 to 9 March 2026" in page
    assert "walked to the corner together" not in page  # D1
    assert "cooked a meal" not in page  # D3
    assert "thank you for the tea" in page  # D2
    assert run(robin, "report", "--out", str(out), "--from", str(D3)) == 0
    page = page_of(out)
    assert "cooked a meal" in page and "thank you for the tea" not in page


def test_a_report_with_nothing_in_its_days_is_still_gentle(robin: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert (
        run(robin, "report", "--out", str(out), "--from", "2025-01-01", "--to", "2025-01-31") == 0
    )
    page = page_of(out)
    assert "<svg" not in page
    assert "No small wins noted in these days yet." in page
    assert_self_contained(page)
    for word in ("missed", "streak", "score:", "failed"):
        assert word not in page.lower()


def test_private_only_keeps_only_the_authors_own_entries(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    sam, alex = couple
    sam.record(CheckIn(day="flare", energy=2, pain=8), on=D1)
    sam.record(CheckIn(energy=9, pain=1, note="only mine"), on=D2, private=True)
    sam.record(Milestone(title="sat in the garden", category="outing"), on=D1)
    sam.record(Gratitude(text="thank you for the blanket"), on=D1)
    alex.record(CheckIn(day="good", energy=7, pain=1), on=D1)
    alex.record(Gratitude(text="alex-thanks-for-soup"), on=D1)
    alex.record(Milestone(title="alex-first-swim", category="movement"), on=D2)
    exchange(sam, alex)
    everything = report.gather(sam.items(), sam.device.person, D1, D3, private_only=False)
    assert [p.name for p in everything.people] == ["Sam", "Alex"]  # the author first
    mine = report.gather(sam.items(), sam.device.person, D1, D3, private_only=True)
    assert [p.name for p in mine.people] == ["Sam"]
    assert mine.people[0].energy == ((D1, 2.0), (D2, 9.0))  # one's own private entry counts
    assert mine.people[0].rest == (D1,)
    home = sam.home
    sam.close()

    both, own = tmp_path / "both.html", tmp_path / "own.html"
    assert run(home, "report", "--out", str(both), "--from", str(D1), "--to", str(D3)) == 0
    assert (
        run(home, "report", "--out", str(own), "--from", str(D1), "--to", str(D3), "--only-mine")
        == 0
    )
    full = page_of(both)
    assert "alex-thanks-for-soup" in full and "alex-first-swim" in full
    assert len(re.findall(r"<svg\b", full)) == 2
    private = page_of(own)
    assert_self_contained(private)
    assert "sat in the garden" in private and "thank you for the blanket" in private
    assert "alex" not in private.lower()
    assert len(re.findall(r"<svg\b", private)) == 1
    assert "Sam&#x27;s journal" in private and "clinician" in private
    assert stat.S_IMODE(own.stat().st_mode) == 0o600


def test_long_ranges_draw_weekly_means() -> None:
    points = [(dt.date(2026, 3, 2) + dt.timedelta(d), float(d % 2) * 4) for d in range(14)]
    assert report.weekly_means(points) == [
        (dt.date(2026, 3, 5), 12 / 7),
        (dt.date(2026, 3, 12), 16 / 7),
    ]

    def spanning(days: int) -> report.Report:
        return report.Report(D1, D1 + dt.timedelta(days - 1), False, None, (), (), ())

    short = spanning(report.DAILY_UP_TO_DAYS)
    assert not short.weekly
    long = spanning(report.DAILY_UP_TO_DAYS + 1)
    assert long.weekly


def test_the_model_says_what_the_report_shows_without_any_words_of_the_page(
    couple: tuple[Journal, Journal],
) -> None:
    sam, alex = couple
    win = sam.record(Milestone(title="sat in the garden", category="outing", who="partner"), on=D1)
    sam.record(Gratitude(text="thank you for the blanket"), on=D2)
    alex.record(CheckIn(day="flare", energy=3), on=D2)
    exchange(sam, alex)
    alex.record(Celebration(milestone=win.id), on=D2)
    exchange(sam, alex)
    said = report.gather(sam.items(), sam.device.person, D1, D3, private_only=False)
    assert (said.start, said.end, said.owner, said.private_only) == (D1, D3, "Sam", False)
    assert [(p.name, p.energy, p.rest) for p in said.people] == [
        ("Sam", (), ()),
        ("Alex", ((D2, 3.0),), (D2,)),
    ]
    assert said.small_wins == (
        report.SmallWin(
            day=D1,
            title="sat in the garden",
            category="outing",
            note=None,
            noted_by="Sam",
            whose=report.Whose.PARTNER,
            partner="Alex",
            celebrated_by=("Alex",),
            cheers=(report.Cheer("Alex", None),),
        ),
    )
    assert said.thank_yous == (report.ThankYou(D2, "Sam", "thank you for the blanket"),)
    own = report.gather(sam.items(), sam.device.person, D1, D3, private_only=True)
    assert own.small_wins[0].partner is None and own.small_wins[0].celebrated_by == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        said.owner = "someone else"  # type: ignore[misc]


def test_a_weekly_chart_shows_weekly_means_a_mark_per_week_with_a_win_and_no_rest_days() -> None:
    sam = report.PersonSeries(
        PersonId(b"s"), "Sam", energy=((D1, 2.0), (D1 + dt.timedelta(1), 4.0)), rest=(D1,)
    )
    win = report.SmallWin(D1, "walked", "movement", None, "Sam", report.Whose.NOTER, None, ())
    day_by_day = report.Report(D1, D3, False, "Sam", (sam,), (win,), ())
    assert day_by_day.chart(sam) == report.Chart(D1, D3, False, sam.energy, (), (D1,), (D1,))
    long = report.Report(
        D3 - dt.timedelta(report.DAILY_UP_TO_DAYS), D3, False, "Sam", (sam,), (win,), ()
    )
    thursday = D1 + dt.timedelta(3)
    assert long.chart(sam) == report.Chart(
        long.start, D3, True, ((thursday, 3.0),), (), (thursday,), ()
    )


def test_a_long_report_says_its_points_are_weekly(robin: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert run(robin, "report", "--out", str(out), "--from", "2023-01-01", "--to", str(D3)) == 0
    page = page_of(out)
    assert "week&#x27;s average" in page or "week's average" in page
    assert "<svg" in page


# --- the real command, as a process -----------------------------------------------------------


@pytest.mark.slow
def test_the_command_writes_the_report_and_says_it_is_private(
    tend: TendCLI, tmp_path: Path
) -> None:
    tend.ok("init", "--name", "Robin")
    tend.ok("checkin", "--day", "gentle", "--energy", "4", "--pain", "3", "--date", "yesterday")
    tend.ok("checkin", "--day", "rest", "--energy", "2")
    tend.ok("milestone", "walked to the corner together", "--category", "movement")
    tend.ok("gratitude", HOSTILE)
    out = tmp_path / "ours.html"
    printed = tend.ok("report", "--out", str(out)).strip().splitlines()
    assert len(printed) == 2 and "mode 0600" in printed[1]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    page = page_of(out)
    assert_self_contained(page)
    assert "walked to the corner together" in page and "&lt;script&gt;" in page
    assert "<svg" in page


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--from", "last tuesday"), "from: must be a date"),
        (("--to", "2026-02-30"), "to: must be a date"),
        (("--from", "2026-03-10", "--to", "2026-03-01"), "after --to"),
    ],
)
def test_bad_dates_exit_1_with_one_line(
    tend: TendCLI, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    tend.ok("init", "--name", "Robin")
    out = tmp_path / "never.html"
    result = tend("report", "--out", str(out), *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tend: ") and says in lines[0], lines
    assert not out.exists()


def test_help_lists_report(tend: TendCLI) -> None:
    assert "report" in tend.ok("--help")
    assert "--only-mine" in tend.ok("report", "--help")
    assert "--private-only" not in tend.ok("report", "--help")  # it meant only mine: renamed


# --- what a browser draws ---------------------------------------------------------------------

WINDOW = (1200, 1600)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


needs_chromium = pytest.mark.skipif(
    chromium() is None,
    reason="no headless browser: none of chromium, chromium-browser, google-chrome is on PATH "
    "(Debian: apt-get install chromium)",
)


def screenshot(page: Path, png: Path, size: tuple[int, int] = WINDOW) -> None:
    browser = chromium()
    assert browser is not None
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]


def pixels(png: Path) -> tuple[tuple[int, int], list[tuple[int, int, int]]]:
    from PIL import Image  # Pillow comes with matplotlib

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        data = rgb.tobytes()
    return rgb.size, list(zip(data[0::3], data[1::3], data[2::3], strict=True))


def near(colour: str, pixels_: list[tuple[int, int, int]], tolerance: int = 20) -> int:
    """How many pixels are within `tolerance` (per channel) of `colour` ('#rrggbb').

    Kept tight: with a looser one the anti-aliased edges of grey text pass for the pain colour.
    """
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return sum(
        1 for p in pixels_ if all(abs(a - b) <= tolerance for a, b in zip(p, want, strict=True))
    )


def not_white(pixels_: list[tuple[int, int, int]]) -> int:
    return sum(1 for r, g, b in pixels_ if min(r, g, b) < 235)


@needs_chromium
def test_chromium_draws_the_report_with_its_charts(robin: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert run(robin, "report", "--out", str(out), "--from", str(D1), "--to", str(D3)) == 0
    png = tmp_path / "report.png"
    screenshot(out, png)
    size, seen = pixels(png)
    assert size == WINDOW
    # The charts come first on the page, so their lines are inside the first screen.
    assert near(ENERGY_COLOUR, seen) > 500
    assert near(PAIN_COLOUR, seen) > 500
    assert near(WIN_COLOUR, seen) > 30


@needs_chromium
def test_chromium_draws_each_chart_on_its_own(
    couple: tuple[Journal, Journal], tmp_path: Path
) -> None:
    sam, alex = couple
    for n, day in enumerate((D1, D2, D3)):
        sam.record(CheckIn(day="gentle", energy=2 + n, pain=7 - n), on=day)
        alex.record(CheckIn(day="rest", energy=6 - n, pain=2 + n), on=day)
    sam.record(Milestone(title="sat in the garden", category="outing"), on=D2)
    exchange(sam, alex)
    view = report.gather(sam.items(), sam.device.person, D1, D3, private_only=False)
    page = report_page.render_html(view, D3)
    charts = re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)
    assert len(charts) == 2
    for n, svg in enumerate(charts):
        alone = tmp_path / f"chart-{n}.html"
        alone.write_text(
            '<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;'
            f"background:#fff}} svg{{width:1000px;height:auto}}</style></head><body>{svg}"
            "</body></html>"
        )
        png = tmp_path / f"chart-{n}.png"
        screenshot(alone, png, (1000, 400))
        size, seen = pixels(png)
        assert size == (1000, 400)
        assert not_white(seen) > 0.02 * len(seen), f"chart {n} looks empty"
        assert near(ENERGY_COLOUR, seen) > 500, f"chart {n} has no energy line"
        assert near(PAIN_COLOUR, seen) > 500, f"chart {n} has no pain line"
        assert near(WIN_COLOUR, seen) > 30, f"chart {n} has no small-win mark"


LOADS = """
import json, sys
from tend.cli.main import main
import tend.core.views.report, tend.present.report_page, tend.present.report_charts
code = main(["--help"])
print(json.dumps({"code": code, "matplotlib": "matplotlib" in sys.modules}))
"""


def test_matplotlib_is_loaded_only_when_a_report_is_drawn() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOADS],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=tend_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"code": 0, "matplotlib": False}


def test_a_missing_folder_is_one_line(tend: TendCLI, tmp_path: Path) -> None:
    tend.ok("init", "--name", "Robin")
    result = tend("report", "--out", str(tmp_path / "no-such-folder" / "r.html"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"tend: there is no folder {tmp_path / 'no-such-folder'} to write the report in"
    ]
