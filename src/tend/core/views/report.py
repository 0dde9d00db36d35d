"""A report to look back with, or to show a clinician: one self-contained HTML file.

The report is a page that opens anywhere without a network: its CSS is inline, its charts are
inline SVG drawn by matplotlib (imported only here, and only when a report is written), and it
loads no script, font or image from anywhere. It holds plaintext, so it is written with mode
0600, like an export.

What it shows, for a range of days: each person's energy and pain over time with the small wins
marked along the time axis, the rest days each person honoured (rest counts as kept), the small
wins, and the thank-yous. Nothing is scored or counted against anyone: a day with no check-in is
simply not drawn.

Over long ranges a daily line is both slow to draw and hard to read, so beyond
`DAILY_UP_TO_DAYS` each point is a week's mean and each small-win mark stands for a week that
had one or more (the page says so under each chart).

Every string a person wrote is HTML-escaped here, once, where it meets the page; the charts
carry no person's words (names and notes stay in the HTML around them).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tend.core.domain.events import CheckIn, Event, Gratitude, Milestone
from tend.core.errors import MissingExtra
from tend.core.fsutil import write_private_atomic
from tend.core.ids import EventId, PersonId
from tend.core.views import projections
from tend.core.views.read_model import Item

DAILY_UP_TO_DAYS = 731  # about two years: beyond this, charts show weekly means
DATED_TYPES = frozenset({"checkin", "milestone", "gratitude", "milestone.celebrated", "calendar"})

ENERGY_COLOUR = "#2a9d8f"
PAIN_COLOUR = "#b5838d"
WIN_COLOUR = "#e9a23b"
REST_COLOUR = "#8ab17d"


# --- what the report holds --------------------------------------------------------------------


@dataclass
class PersonSeries:
    """One person's chart: (day, value) points, their rest days, and how many they honoured."""

    person: PersonId
    name: str
    energy: list[tuple[dt.date, float]] = field(default_factory=list)
    pain: list[tuple[dt.date, float]] = field(default_factory=list)
    rest: list[dt.date] = field(default_factory=list)

    @property
    def rest_days(self) -> int:
        return len(self.rest)

    def has_values(self) -> bool:
        return bool(self.energy or self.pain)


@dataclass
class Report:
    start: dt.date
    end: dt.date
    me: PersonId
    private_only: bool
    names: dict[PersonId, str]
    people: list[PersonSeries]
    milestones: list[Event]
    celebrations: dict[EventId, list[Event]]
    gratitude: list[Event]

    @property
    def weekly(self) -> bool:
        return (self.end - self.start).days + 1 > DAILY_UP_TO_DAYS

    def win_days(self) -> list[dt.date]:
        return sorted({dt.date.fromisoformat(ev.local_date) for ev in self.milestones})


def own_items(items: Iterable[Item], me: PersonId) -> list[Item]:
    """Only the entries `me` wrote (their name, check-ins, wins, thank-yous, private ones too)."""
    return [i for i in items if i.author == me]


def default_range(
    items: Sequence[Item], since: dt.date | None, until: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """[since, until], filling a missing end with the first recorded day or today."""
    end = until or today
    if since is None:
        days = [i.local_date for i in items if i.type in DATED_TYPES]
        first = dt.date.fromisoformat(min(days)) if days else end
        since = min(first, end)
    return since, end


def gather(
    items: Sequence[Item], me: PersonId, start: dt.date, end: dt.date, *, private_only: bool
) -> Report:
    """Everything the report shows, from the items this device can read."""
    if private_only:
        items = own_items(items, me)
    view = projections.period(items, start, end)
    names = projections.names(items)
    order = sorted(view.people, key=lambda p: (p != me, view.people[p].name))
    people = []
    for person in order:
        series = PersonSeries(person, view.people[person].name)
        for day_iso, checkin in sorted(view.people[person].checkins.items()):
            _add_day(series, dt.date.fromisoformat(day_iso), checkin)
        people.append(series)
    by_date = lambda ev: (ev.local_date, ev.hlc)  # noqa: E731
    return Report(
        start=start,
        end=end,
        me=me,
        private_only=private_only,
        names=names,
        people=people,
        milestones=sorted(view.milestones, key=by_date),
        celebrations=view.celebrations,
        gratitude=sorted(view.gratitude, key=by_date),
    )


def _add_day(series: PersonSeries, day: dt.date, checkin: CheckIn) -> None:
    if checkin.energy is not None:
        series.energy.append((day, float(checkin.energy)))
    if checkin.pain is not None:
        series.pain.append((day, float(checkin.pain)))
    if checkin.day in ("rest", "flare"):
        series.rest.append(day)


def weekly_means(points: Sequence[tuple[dt.date, float]]) -> list[tuple[dt.date, float]]:
    """One point per week that has values: the mean, placed mid-week (Thursday)."""
    weeks: dict[dt.date, list[float]] = {}
    for day, value in points:
        weeks.setdefault(day - dt.timedelta(days=day.weekday()), []).append(value)
    return [
        (monday + dt.timedelta(days=3), statistics.fmean(values))
        for monday, values in sorted(weeks.items())
    ]


def weeks_of(days: Iterable[dt.date]) -> list[dt.date]:
    return sorted({d - dt.timedelta(days=d.weekday()) + dt.timedelta(days=3) for d in days})


# --- charts -------------------------------------------------------------------------------------


def chart_svg(series: PersonSeries, report: Report, salt: str) -> str:
    """One person's energy and pain as an inline SVG, small wins marked on the time axis.

    matplotlib is imported here and nowhere else, on the Agg canvas (no display is ever needed),
    and the figure is saved as SVG. `salt` keeps the SVG's internal ids apart from those of the
    other charts on the same page.
    """
    try:
        import matplotlib as mpl
        import matplotlib.dates as mdates
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtra("report", "matplotlib", "drawing the report's charts") from None

    weekly = report.weekly
    energy = weekly_means(series.energy) if weekly else series.energy
    pain = weekly_means(series.pain) if weekly else series.pain
    wins = weeks_of(report.win_days()) if weekly else report.win_days()

    def x_of(days: Sequence[dt.date]) -> np.typing.NDArray[np.float64]:
        as_dates = np.array(days, dtype="datetime64[D]")
        return np.asarray(mdates.date2num(as_dates), dtype=np.float64)  # type: ignore[no-untyped-call]

    with mpl.rc_context(
        {
            "svg.fonttype": "none",  # text stays text: smaller, and searchable in the page
            "svg.hashsalt": salt,
            "font.family": "sans-serif",
            "font.size": 10,
            "axes.edgecolor": "#c9c2b8",
            "axes.labelcolor": "#4a4540",
            "xtick.color": "#6b645c",
            "ytick.color": "#6b645c",
        }
    ):
        fig = Figure(figsize=(10, 3.3), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        lo = float(x_of([report.start])[0]) - 0.5
        hi = float(x_of([report.end])[0]) + 0.5
        ax.set_xlim(lo, hi)
        ax.set_ylim(-1.2, 11.2)
        ax.set_yticks([0, 5, 10])
        ax.grid(axis="y", color="#eee8df", linewidth=0.8)
        ax.spines[["top", "right"]].set_visible(False)
        marker = "o" if not weekly and len(energy) + len(pain) <= 240 else ""
        for points, colour, label in (
            (energy, ENERGY_COLOUR, "energy"),
            (pain, PAIN_COLOUR, "pain"),
        ):
            if points:
                days, values = zip(*points, strict=True)
                ax.plot(
                    x_of(days),
                    values,
                    color=colour,
                    linewidth=1.6 if not weekly else 1.3,
                    marker=marker,
                    markersize=3.5,
                    label=label,
                )
        if wins:
            # Every mark in one path (segments split by NaN): one SVG element, however many.
            xs = np.repeat(x_of(wins), 3)
            xs[2::3] = np.nan
            ys = np.tile(np.array([-1.2, -0.3, np.nan]), len(wins))
            ax.plot(xs, ys, color=WIN_COLOUR, linewidth=2.0, label="small win")
        if series.rest and not weekly:
            rest_x = x_of(series.rest)
            ax.plot(
                rest_x,
                np.full(len(rest_x), 10.7),
                linestyle="none",
                marker="o",
                markersize=3.5,
                color=REST_COLOUR,
                label="rest day (kept)",
            )
        locator = mdates.AutoDateLocator(minticks=3, maxticks=10)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(formatter)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    return _inline_svg(out.getvalue())


_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _inline_svg(svg: str) -> str:
    """SVG ready to sit inside HTML: no XML prologue or DOCTYPE, no metadata block."""
    svg = _PROLOGUE.sub("", svg, count=1)
    svg = _METADATA.sub("", svg, count=1)
    return svg.replace("<svg ", '<svg role="img" aria-hidden="true" ', 1)


# --- the page -----------------------------------------------------------------------------------


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _day(day: dt.date) -> str:
    return f"{day:%-d %B %Y}"


def _month_heading(month: str) -> str:
    return f"{dt.date.fromisoformat(month + '-01'):%B %Y}"


CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #fbf8f3; color: #3d3934;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 32px 28px 48px; }
header h1 { font-weight: 600; font-size: 1.9rem; margin: 0 0 4px; color: #2f4f4a; }
header .range { margin: 0 0 12px; color: #6b645c; }
header .lede { margin: 0; max-width: 46rem; }
section { margin-top: 34px; }
h2 { font-size: 1.3rem; font-weight: 600; color: #2f4f4a; margin: 0 0 10px; }
h3 { font-size: 1.02rem; font-weight: 600; margin: 18px 0 6px; color: #5a534b; }
figure { margin: 0 0 22px; background: #fff; border: 1px solid #ece5da; border-radius: 10px;
  padding: 12px 14px 8px; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { font-size: 0.9rem; color: #6b645c; margin-top: 4px; }
ul.entries { list-style: none; padding: 0; margin: 0; }
ul.entries li { padding: 6px 0; border-bottom: 1px solid #efe9e0; }
.when { color: #8a8279; font-size: 0.9rem; margin-right: 8px; white-space: nowrap; }
.who { color: #2f4f4a; font-weight: 600; }
.tag { display: inline-block; font-size: 0.8rem; color: #6b645c; background: #f1ebe2;
  border-radius: 8px; padding: 0 7px; margin-left: 6px; }
.note, .cheer { color: #6b645c; }
.rest li { padding: 3px 0; }
.quiet { color: #8a8279; }
footer { margin-top: 40px; font-size: 0.85rem; color: #8a8279; }
@media print { body { background: #fff; } figure { break-inside: avoid; } }
"""


def render_html(report: Report, made_on: dt.date, charts: Sequence[str] | None = None) -> str:
    """The whole page. `charts` (one SVG per person) are drawn here unless given."""
    if charts is None:
        charts = [
            chart_svg(s, report, f"tend-report-{n}") if s.has_values() else ""
            for n, s in enumerate(report.people)
        ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing on this page may be fetched from anywhere, even by accident.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="referrer" content="no-referrer">',
        f"<title>{esc(_title(report))}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        *_header(report),
        *_charts(report, charts),
        *_rest(report),
        *_milestones(report),
        *_gratitude(report),
        "<footer><p>Made with tend on {}. This page is not encrypted: keep it somewhere only "
        "{} can reach.</p></footer>".format(
            esc(_day(made_on)), "you" if report.private_only else "you two"
        ),
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _my_name(report: Report) -> str:
    return report.names.get(report.me, "you")


def _title(report: Report) -> str:
    if report.private_only:
        return f"{_my_name(report)}'s journal, {_day(report.start)} to {_day(report.end)}"
    return f"Looking back together, {_day(report.start)} to {_day(report.end)}"


def _header(report: Report) -> list[str]:
    span = f"{_day(report.start)} to {_day(report.end)}"
    if report.private_only:
        heading = f"{esc(_my_name(report))}'s journal"
        lede = (
            f"Only {esc(_my_name(report))}'s own entries, gathered to share with someone you "
            "trust, such as a clinician or therapist. Rest and flare days are shown as rest "
            "kept. There are no scores here: just what was noticed along the way."
        )
    else:
        heading = "Looking back together"
        lede = (
            "A gentle look at what you two noticed and shared. Rest and flare days are shown "
            "as rest kept, and there are no scores here: every small thing counts."
        )
    return [
        "<header>",
        f"<h1>{heading}</h1>",
        f'<p class="range">{esc(span)}</p>',
        f'<p class="lede">{lede}</p>',
        "</header>",
    ]


def _charts(report: Report, charts: Sequence[str]) -> list[str]:
    out = ['<section id="energy-and-pain">', "<h2>Energy and pain</h2>"]
    if report.weekly:
        how = (
            "Energy and pain from 0 to 10. This is a long stretch of time, so each point is a "
            "week's average of each day's last check-in, and each mark along the bottom is a "
            "week with a small win."
        )
    else:
        how = (
            "Energy and pain from 0 to 10, from each day's last check-in. Marks along the "
            "bottom are small wins; dots along the top are rest days, kept."
        )
    shown = 0
    for series, svg in zip(report.people, charts, strict=True):
        if not svg:
            continue
        shown += 1
        out += [
            f'<figure class="chart" aria-label="Energy and pain for {esc(series.name)}">',
            f"<h3>{esc(series.name)}</h3>",
            svg,
            f"<figcaption>{how}</figcaption>",
            "</figure>",
        ]
    if not shown:
        out.append('<p class="quiet">No energy or pain was noted in these days.</p>')
    out.append("</section>")
    return out


def _rest(report: Report) -> list[str]:
    rested = [s for s in report.people if s.rest_days]
    if not rested:
        return []
    out = [
        '<section id="rest">',
        "<h2>Rest days honoured</h2>",
        "<p>Rest and flare days count as kept: resting is part of getting better.</p>",
        '<ul class="rest">',
    ]
    for s in rested:
        days = "rest day" if s.rest_days == 1 else "rest days"
        out.append(
            f'<li><span class="who">{esc(s.name)}</span> honoured {s.rest_days} {days}.</li>'
        )
    out += ["</ul>", "</section>"]
    return out


def _by_month(events: Sequence[Event]) -> list[tuple[str, list[Event]]]:
    months: dict[str, list[Event]] = {}
    for ev in events:
        months.setdefault(ev.local_date[:7], []).append(ev)
    return list(months.items())


def _when(ev: Event) -> str:
    return f'<span class="when">{esc(f"{dt.date.fromisoformat(ev.local_date):%a %-d %b}")}</span>'


def _monthly(
    section: str, title: str, empty: str, events: Sequence[Event], line: Callable[[Event], str]
) -> list[str]:
    """A section of entries grouped under month headings, one list item each."""
    out = [f'<section id="{section}">', f"<h2>{title}</h2>"]
    if not events:
        out.append(f'<p class="quiet">{empty}</p>')
    for month, in_month in _by_month(events):
        out += [f"<h3>{esc(_month_heading(month))}</h3>", '<ul class="entries">']
        out += [f"<li>{line(ev)}</li>" for ev in in_month]
        out.append("</ul>")
    out.append("</section>")
    return out


def _milestones(report: Report) -> list[str]:
    def line(ev: Event) -> str:
        body = ev.body
        assert isinstance(body, Milestone)
        text = (
            f'{_when(ev)}<span class="title">{esc(body.title)}</span>'
            f'<span class="tag">{esc(body.category)}</span>'
            f' <span class="note">· {esc(_who(report, ev, body.who))}</span>'
        )
        if body.note:
            text += f' <span class="note">· {esc(body.note)}</span>'
        cheers = report.celebrations.get(ev.id, [])
        if cheers:
            by = ", ".join(sorted({report.names.get(c.author, "someone") for c in cheers}))
            text += f' <span class="cheer">· celebrated by {esc(by)}</span>'
        return text

    return _monthly(
        "small-wins",
        "Small wins",
        "No small wins noted in these days yet.",
        report.milestones,
        line,
    )


def _who(report: Report, ev: Event, who: str) -> str:
    author = report.names.get(ev.author, "someone")
    if who == "both":
        return f"together (noted by {author})"
    if who == "me":
        return author
    others = sorted({n for p, n in report.names.items() if p != ev.author})
    partner = others[0] if len(others) == 1 else "their partner"
    return f"{partner} (noted by {author})"


def _gratitude(report: Report) -> list[str]:
    def line(ev: Event) -> str:
        body = ev.body
        assert isinstance(body, Gratitude)
        author = report.names.get(ev.author, "someone")
        return (
            f'{_when(ev)}<span class="who">{esc(author)}</span>: '
            f'<span class="text">{esc(body.text)}</span>'
        )

    return _monthly(
        "thank-yous", "Thank-yous", "No thank-yous in these days yet.", report.gratitude, line
    )


def write(path: Path, page: str) -> None:
    """Write the page with mode 0600, whole or not at all."""
    write_private_atomic(path, page.encode("utf-8"))
