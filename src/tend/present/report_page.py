"""A report as one self-contained HTML page, to look back with or to show a clinician.

The page opens anywhere without a network: its CSS is inline, its charts are inline SVG
(tend.present.report_charts), and it loads no script, font or image from anywhere. It holds
plaintext, so it is written with mode 0600, like an export.

It renders the report's model (tend.core.views.report) and adds only words and layout. Every
string a person wrote is HTML-escaped here, once, where it meets the page.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from tend.core.fsutil import write_private_atomic
from tend.core.views.export import ONLY_YOU
from tend.core.views.report import (
    BoundaryNote,
    PartnershipNote,
    Question,
    Report,
    SignalNote,
    SmallWin,
    ThankYou,
    Whose,
)
from tend.present.report_charts import chart_svg

Dated = TypeVar("Dated", SmallWin, ThankYou, PartnershipNote, BoundaryNote, SignalNote, Question)
REST_DAYS_LISTED = 31  # beyond this many, a person's rest is said in months, not days


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _day(day: dt.date) -> str:
    return f"{day:%-d %B %Y}"


def _name(name: str | None) -> str:
    """A name that has not reached this device yet."""
    return "someone" if name is None else name


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


def draw_charts(report: Report) -> list[str]:
    """One SVG per person, in the report's order; "" for a person with nothing to draw."""
    return [
        chart_svg(report.chart(s), f"tend-report-{n}") if s.has_values() else ""
        for n, s in enumerate(report.people)
    ]


def render_html(report: Report, made_on: dt.date, charts: Sequence[str] | None = None) -> str:
    """The whole page. `charts` (one SVG per person, as draw_charts) are drawn here unless
    given."""
    if charts is None:
        charts = draw_charts(report)
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
        *_small_wins(report),
        *_thank_yous(report),
        *_partnership(report),
        *_boundaries(report),
        *_signals(report),
        *_questions(report),
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
    return "you" if report.owner is None else report.owner


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
            "week's average of each day's values, and each mark along the bottom is a "
            "week with a small win."
        )
    else:
        how = (
            "Energy and pain from 0 to 10, each day's latest check-in that noted them. Marks "
            "along the bottom are small wins; dots along the top are rest days, kept."
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
    ]
    for s in rested:  # each person's own rest, in a paragraph of its own: never a tally
        out.append(
            f'<p class="rest"><span class="who">{esc(s.name)}</span> kept rest on '
            f"{esc(_rest_days(s.rest))}.</p>"
        )
    out.append("</section>")
    return out


def _rest_days(days: Sequence[dt.date]) -> str:
    """The days of rest themselves, or over a long stretch the months that held them."""
    if len(days) <= REST_DAYS_LISTED:
        return ", ".join(f"{d:%a %-d %b %Y}" for d in days)
    months = dict.fromkeys(f"{d:%B %Y}" for d in days)
    return "days in " + ", ".join(months)


def _by_month(entries: Sequence[Dated]) -> list[tuple[dt.date, list[Dated]]]:
    """Entries under the first day of their month, in the order given."""
    months: dict[dt.date, list[Dated]] = {}
    for entry in entries:
        months.setdefault(entry.day.replace(day=1), []).append(entry)
    return list(months.items())


def _when(day: dt.date) -> str:
    return f'<span class="when">{esc(f"{day:%a %-d %b}")}</span>'


def _monthly(
    section: str, title: str, empty: str, entries: Sequence[Dated], line: Callable[[Dated], str]
) -> list[str]:
    """A section of entries grouped under month headings, one list item each."""
    out = [f'<section id="{section}">', f"<h2>{title}</h2>"]
    if not entries:
        out.append(f'<p class="quiet">{empty}</p>')
    for month, in_month in _by_month(entries):
        out += [f"<h3>{esc(f'{month:%B %Y}')}</h3>", '<ul class="entries">']
        out += [f"<li>{line(entry)}</li>" for entry in in_month]
        out.append("</ul>")
    out.append("</section>")
    return out


def _small_wins(report: Report) -> list[str]:
    return _monthly(
        "small-wins",
        "Small wins",
        "No small wins noted in these days yet.",
        report.small_wins,
        _small_win,
    )


def _small_win(win: SmallWin) -> str:
    text = (
        f'{_when(win.day)}<span class="title">{esc(win.title)}</span>'
        f'<span class="tag">{esc(win.category)}</span>'
        f' <span class="note">· {esc(_whose(win))}</span>'
    )
    if win.note:
        text += f' <span class="note">· {esc(win.note)}</span>'
    if win.cheers:
        said = [_name(c.by) + (f": {c.note}" if c.note else "") for c in win.cheers]
        text += f' <span class="cheer">· celebrated by {esc("; ".join(said))}</span>'
    elif win.celebrated_by:
        by = ", ".join(sorted({_name(n) for n in win.celebrated_by}))
        text += f' <span class="cheer">· celebrated by {esc(by)}</span>'
    return text + _only_you(win.private)


def _only_you(private: bool) -> str:
    """Beside a private entry: who can read it matters when the page is handed on."""
    return f' <span class="note">{esc(ONLY_YOU)}</span>' if private else ""


def _whose(win: SmallWin) -> str:
    noter = _name(win.noted_by)
    if win.whose is Whose.BOTH:
        return f"together (noted by {noter})"
    if win.whose is Whose.NOTER:
        return noter
    partner = "their partner" if win.partner is None else win.partner
    return f"{partner} (noted by {noter})"


def _thank_yous(report: Report) -> list[str]:
    return _monthly(
        "thank-yous",
        "Thank-yous",
        "No thank-yous in these days yet.",
        report.thank_yous,
        _thank_you,
    )


def _thank_you(thanks: ThankYou) -> str:
    return (
        f'{_when(thanks.day)}<span class="who">{esc(_name(thanks.by))}</span>: '
        f'<span class="text">{esc(thanks.text)}</span>'
    ) + _only_you(thanks.private)


def _questions(report: Report) -> list[str]:
    """The owner's questions for the clinician: only in a report of their own entries, and
    only when there are some (questions are private by default)."""
    if not report.private_only or not report.questions:
        return []
    return _monthly(
        "questions",
        "Questions for the clinician",
        "",
        report.questions,
        lambda q: f'{_when(q.day)}<span class="text">{esc(q.text)}</span>',
    )


def _partnership(report: Report) -> list[str]:
    if not report.partnership:
        return []
    return _monthly(
        "partnership",
        "The state of the partnership",
        "",
        report.partnership,
        _partnership_note,
    )


def _partnership_note(note: PartnershipNote) -> str:
    said = []
    if note.appreciations:
        said.append("appreciated: " + "; ".join(note.appreciations))
    if note.went_well:
        said.append(f"went well: {note.went_well}")
    if note.adjustment:
        said.append(f"one adjustment: {note.adjustment}")
    return (
        f'<span class="when">{esc(f"week of {note.day:%-d %b}")}</span>'
        f'<span class="who">{esc(_name(note.by))}</span>: '
        f'<span class="text">{esc(" · ".join(said))}</span>'
    )


def _boundaries(report: Report) -> list[str]:
    if not report.boundaries:
        return []
    return _monthly("boundaries", "Boundaries", "", report.boundaries, _boundary)


def _boundary(boundary: BoundaryNote) -> str:
    said = "" if boundary.active else " (set aside)"
    return (
        f'{_when(boundary.day)}<span class="who">{esc(_name(boundary.by))}</span>{said}: '
        f'<span class="text">{esc(boundary.text)}</span>'
    )


def _signals(report: Report) -> list[str]:
    if not report.with_signals:
        return []
    return _monthly(
        "comfort-signals",
        "Comfort signals",
        "No comfort signals in these days.",
        report.signals,
        _signal,
    )


def _signal(signal: SignalNote) -> str:
    note = f' <span class="note">· {esc(signal.note)}</span>' if signal.note else ""
    return (
        f'{_when(signal.day)}<span class="who">{esc(_name(signal.by))}</span>: '
        f'<span class="text">{esc(signal.signal)}</span>{note}'
    ) + _only_you(signal.private)


def write(path: Path, page: str) -> None:
    """Write the page with mode 0600, whole or not at all."""
    write_private_atomic(path, page.encode("utf-8"))
