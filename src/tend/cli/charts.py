"""Energy and pain across a week or a month, drawn in the terminal with plotext.

Charts fit 80 columns whatever the terminal (narrower ones get narrower charts) and are in
colour only when the caller says so (render.colour_wanted: a terminal, no NO_COLOR, TERM not
"dumb"); otherwise every escape code is taken out. plotext is imported here, inside the function
that draws, so only `tend week`, `tend month` and `tend replay` ever load it.

A day with nothing noted is simply left blank: no line is drawn across it and nothing marks it.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Sequence

MAX_WIDTH = 80
MIN_WIDTH = 40
HEIGHT = 15  # title, frame and axis take 4 rows: 11 rows left, one for each value 0-10
ENERGY = ("●", "cyan", "energy")  # (marker, colour, word)
PAIN = ("x", "magenta", "pain")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def width() -> int:
    """The chart width: the terminal's (COLUMNS first), at most 80, 80 when there is none."""
    columns = shutil.get_terminal_size((MAX_WIDTH, 24)).columns
    return max(MIN_WIDTH, min(MAX_WIDTH, columns))


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def legend() -> str:
    marks = f"{ENERGY[0]} {ENERGY[2]}   {PAIN[0]} {PAIN[2]}"
    return f"{marks}   (0 to 10; a day with nothing noted is left blank)"


def _runs(xs: Sequence[int], values: Sequence[int | None]) -> list[list[tuple[int, int]]]:
    """Consecutive days that have a value, so no line is drawn across a day without one."""
    runs: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for x, value in zip(xs, values, strict=True):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((x, value))
    if current:
        runs.append(current)
    return runs


def _ticks(days: Sequence[dt.date]) -> tuple[list[int], list[str]]:
    xs = list(range(1, len(days) + 1))
    if len(days) <= 7:
        return xs, [f"{d:%a} {d.day}" for d in days]
    chosen = [x for x, d in zip(xs, days, strict=True) if d.day == 1 or d.day % 5 == 0]
    if chosen[-1] != xs[-1] and xs[-1] - chosen[-1] >= 2:
        chosen.append(xs[-1])
    return chosen, [str(days[x - 1].day) for x in chosen]


def energy_pain(
    title: str,
    days: Sequence[dt.date],
    energy: Sequence[int | None],
    pain: Sequence[int | None],
    *,
    colour: bool,
    columns: int,
) -> str:
    """One person's energy and pain, one point per day, as lines of text `columns` wide."""
    import plotext as plt  # type: ignore[import-untyped]  # loaded only by commands that draw

    plt.clear_figure()
    plt.plotsize(columns, HEIGHT)
    plt.theme("clear")
    xs = list(range(1, len(days) + 1))
    for values, (marker, colour_name, _word) in ((energy, ENERGY), (pain, PAIN)):
        for run in _runs(xs, values):
            if len(run) > 1:
                plt.plot(
                    [x for x, _v in run], [v for _x, v in run], marker="braille", color=colour_name
                )
            plt.scatter(
                [x for x, _v in run], [v for _x, v in run], marker=marker, color=colour_name
            )
    plt.xlim(0.5, len(days) + 0.5)
    plt.ylim(0, 10)
    plt.yticks([0, 5, 10])
    plt.xticks(*_ticks(days))
    plt.title(title)
    drawn: str = plt.build()
    plt.clear_figure()
    if not colour:
        drawn = strip_ansi(drawn)
    return "\n".join(line.rstrip() for line in drawn.splitlines()).strip("\n")
