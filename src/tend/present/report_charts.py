"""A report's charts: one person's energy and pain as inline SVG, drawn by matplotlib.

matplotlib (the `tend[report]` extra) is imported here and nowhere else, inside the function
that draws, on the Agg canvas (no display is ever needed); without it, drawing raises
MissingExtra, one line naming the install. The charts carry no person's words: names and notes
stay in the page around them.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tend.core.errors import MissingExtra
from tend.core.views.report import Chart

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes

ENERGY_COLOUR = "#2a9d8f"
PAIN_COLOUR = "#b5838d"
WIN_COLOUR = "#e9a23b"
REST_COLOUR = "#8ab17d"
MARKED_UP_TO = 240  # more points than this and a line reads better without a dot on each


def chart_svg(chart: Chart, salt: str) -> str:
    """One person's energy and pain as an inline SVG, small wins marked on the time axis.

    `salt` keeps the SVG's internal ids apart from those of the other charts on the same page.
    """
    try:
        import matplotlib as mpl
        import matplotlib.dates
        import numpy  # noqa: F401  (used by the helpers below: checked here, once)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtra("report", "matplotlib", "drawing the report's charts") from None

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
        _axes(ax, chart)
        _lines(ax, chart)
        _marks(ax, chart)
        _time_axis(ax)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    return inline_svg(out.getvalue())


def _x(days: Sequence[dt.date]) -> np.typing.NDArray[np.float64]:
    """Days as matplotlib's date numbers."""
    import matplotlib.dates as mdates
    import numpy as np

    as_dates = np.array(days, dtype="datetime64[D]")
    return np.asarray(mdates.date2num(as_dates), dtype=np.float64)  # type: ignore[no-untyped-call]


def _axes(ax: Axes, chart: Chart) -> None:
    """The whole range of days across, 0 to 10 up, with room below for wins, above for rest."""
    ax.set_xlim(float(_x([chart.start])[0]) - 0.5, float(_x([chart.end])[0]) + 0.5)
    ax.set_ylim(-1.2, 11.2)
    ax.set_yticks([0, 5, 10])
    ax.grid(axis="y", color="#eee8df", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)


def _lines(ax: Axes, chart: Chart) -> None:
    dotted = not chart.weekly and len(chart.energy) + len(chart.pain) <= MARKED_UP_TO
    for points, colour, label in (
        (chart.energy, ENERGY_COLOUR, "energy"),
        (chart.pain, PAIN_COLOUR, "pain"),
    ):
        if points:
            days, values = zip(*points, strict=True)
            ax.plot(
                _x(days),
                values,
                color=colour,
                linewidth=1.6 if not chart.weekly else 1.3,
                marker="o" if dotted else "",
                markersize=3.5,
                label=label,
            )


def _marks(ax: Axes, chart: Chart) -> None:
    """Small wins along the bottom, rest days along the top."""
    import numpy as np

    if chart.wins:
        # Every mark in one path (segments split by NaN): one SVG element, however many.
        xs = np.repeat(_x(chart.wins), 3)
        xs[2::3] = np.nan
        ys = np.tile(np.array([-1.2, -0.3, np.nan]), len(chart.wins))
        ax.plot(xs, ys, color=WIN_COLOUR, linewidth=2.0, label="small win")
    if chart.rest:
        rest_x = _x(chart.rest)
        ax.plot(
            rest_x,
            np.full(len(rest_x), 10.7),
            linestyle="none",
            marker="o",
            markersize=3.5,
            color=REST_COLOUR,
            label="rest day (kept)",
        )


def _time_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)


_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def inline_svg(svg: str) -> str:
    """SVG ready to sit inside HTML: no XML prologue or DOCTYPE, no metadata block."""
    svg = _PROLOGUE.sub("", svg, count=1)
    svg = _METADATA.sub("", svg, count=1)
    return svg.replace("<svg ", '<svg role="img" aria-hidden="true" ', 1)
