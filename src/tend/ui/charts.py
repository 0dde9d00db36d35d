"""Energy and pain over a week or a month, as a small inline SVG drawn here (no matplotlib).

One chart per person and measure: a line through the days with a value, a dot on each, rest
days shaded as kept, small wins marked along the bottom. Colours are the report's palette; the
SVG carries a title and a text description, so a screen reader hears the values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 34, 12, 14, 34
COLOURS = {"energy": "#2f7d6d", "pain": "#b5654a"}


@dataclass(frozen=True)
class Day:
    day: dt.date
    value: int | None
    rest: bool  # a rest or flare day, kept
    win: bool  # a small win noted that day


def chart(title: str, measure: str, days: Sequence[Day], key: str = "") -> Markup:
    """An SVG line chart of `days` (values 0-10), ready to place in the page."""
    key = key or measure
    n = max(len(days), 1)
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM
    step = inner_w / n

    def x(i: int) -> float:
        return LEFT + step * (i + 0.5)

    def y(v: int) -> float:
        return TOP + inner_h * (1 - v / 10)

    parts: list[str] = []
    for i, d in enumerate(days):
        if d.rest:
            parts.append(
                f'<rect x="{LEFT + step * i:.1f}" y="{TOP}" width="{step:.1f}" '
                f'height="{inner_h}" fill="#e7efe9"><title>rest day, kept</title></rect>'
            )
    for v in (0, 5, 10):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="#ece5da" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#6b645c">{v}</text>'
        )
    colour = COLOURS.get(measure, "#2f4f4a")
    points = [(x(i), y(d.value)) for i, d in enumerate(days) if d.value is not None]
    if len(points) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5" '
            f'stroke-linejoin="round" stroke-linecap="round"/>'
        )
    for i, d in enumerate(days):
        if d.value is not None:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(d.value):.1f}" r="4" fill="{colour}">'
                f"<title>{d.day:%a %-d %b}: {measure} {d.value}</title></circle>"
            )
        if d.win:
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                f'font-size="13" fill="#8a6d1f">★<title>a small win</title></text>'
            )
        if len(days) <= 8 or i % 5 == 0:
            label = f"{d.day:%a}" if len(days) <= 8 else f"{d.day:%-d}"
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="11" '
                f'fill="#6b645c">{label}</text>'
            )
    told = "; ".join(
        f"{d.day:%a %-d %b} {d.value if d.value is not None else 'not noted'}"
        + (" (rest, kept)" if d.rest else "")
        for d in days
    )
    # Safe as markup: every piece of a person's words (the title) passes escape(); the rest is
    # numbers, dates and this module's own words.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" class="chart" aria-labelledby="c-{key}-t c-{key}-d">'
        f'<title id="c-{key}-t">{escape(title)}</title>'
        f'<desc id="c-{key}-d">{escape(told)}</desc>{"".join(parts)}</svg>'
    )
