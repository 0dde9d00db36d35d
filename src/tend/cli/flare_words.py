"""The words of a flare day: what it did to each goal, the fallbacks, and the care tasks a
partner might take. Offered, never asked."""

from __future__ import annotations

import click

from tend.app import flare, keeping, words
from tend.cli.text import safe
from tend.core.journal import Journal


def tell(journal: Journal, response: flare.FlareResponse) -> None:
    """After a flare check-in: what changed for the week, and what is on offer."""
    if response.private:
        if _has_goals(journal):
            click.echo(
                "Your check-in is private, so your shared goals are as they were; "
                "`tend goal flare` bends them for this week if you wish."
            )
    elif response.bends:
        click.echo(f"For this flare, your goals for {response.week}:")
        for line in goal_lines(response.bends):
            click.echo(safe(line))
        if response.wrote:
            click.echo(f"  To put them back as they were: {undo_command(journal, response.week)}")
    for title, fallback in response.fallbacks:
        click.echo(safe(f"If fatigue comes, for {title}: {fallback}."))
    if response.swappable:
        listed = ", ".join(f"{t.title} [{t.id[:8]}]" for t in response.swappable)
        click.echo(safe(f"If a care task feels heavy today, your partner may take it: {listed}."))
        click.echo("  tend care swap ID --to partner")
    if response.anchor is not None:
        when = f" ({response.anchor.date})" if response.anchor.date else ""
        click.echo(safe(f"A memory to hold on to: {response.anchor.text}{when}"))


def goal_lines(bends: list[flare.GoalBend]) -> list[str]:
    """What a flare did to each goal, a line each, indented under its heading."""
    return [f"  {line}" for line in words.bend_lines(bends)]


def undo_command(journal: Journal, week: str) -> str:
    same = week == keeping.current_week(journal)
    return "tend goal undo-flare" + ("" if same else f" --week {week}")


def _has_goals(journal: Journal) -> bool:
    return bool(keeping.goals(journal))
