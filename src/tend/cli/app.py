"""What every command shares: where the journal lives, opening it, and reading dates."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tend.core.errors import NextStep, TendError, UserError, ValidationError

if TYPE_CHECKING:
    from tend.core.journal import Journal


_UNKNOWN = object()  # the head could not be read: whether anything was written is not known


class App:
    def __init__(self, home: Path | None) -> None:
        self._home = home
        self._journal: Journal | None = None
        self._own_head: object = None  # this device's log head when opened

    @property
    def home(self) -> Path:
        if self._home is None:
            import platformdirs  # only when no --home or TEND_HOME was given

            self._home = Path(platformdirs.user_data_dir("tend", appauthor=False))
        return self._home

    def journal(self) -> Journal:
        """This home's journal, opened once (the passphrase asked for once, if it has one)."""
        if self._journal is None:
            from tend.app import home
            from tend.cli.unlock import open_lock

            if home.still_joining(self.home):
                raise UserError(home.STILL_JOINING, next_step=NextStep.SYNC_LATER)
            journal = home.open_journal(self.home, open_lock(self.home))
            try:
                self._own_head = journal.store.head(journal.device.log)
            except TendError:
                self._own_head = _UNKNOWN  # a damaged store: the command itself says so
            self._journal = journal
        return self._journal

    def close(self) -> None:
        journal = self._journal
        if journal is not None:
            # Written: tell a running `tend ui` or `tend sync --watch` at once, so it sends
            # the entry now (app/poke.py; silent and quick when nothing listens).
            try:
                wrote = journal.store.head(journal.device.log) != self._own_head
            except TendError:
                wrote = True  # cannot tell (a damaged store says so elsewhere); a poke is harmless
            journal.close()
            if wrote:
                from tend.app.poke import poke

                poke(self.home)


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def parse_date(field: str, value: str | None, *, ahead: bool = False) -> dt.date | None:
    """A day as a person wrote it (app/dates.py); a weekday looks back, or with `ahead`
    forward."""
    from tend.app.dates import day_of

    return None if value is None else day_of(field, value, ahead=ahead)


def parse_moment(field: str, value: str) -> dt.datetime:
    """A moment to replay at: a date (or a word for one) means the end of that day; a time may
    be given too."""
    from tend.app.dates import day_of, is_word

    if is_word(value):
        value = day_of(field, value).isoformat()
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            moment = dt.datetime.combine(day, dt.time(23, 59, 59, 999000))
        else:
            moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            field, "a date like 2026-03-14 or a moment like 2026-03-14T18:30", value
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def needed(replaces: str | None, **given: object) -> None:
    """What a command needs unless it corrects an entry (`--replaces`): one left out is a usage
    error, as for any required option, so the line after it says how to put it right."""
    if replaces:
        return
    import click

    ctx = click.get_current_context()
    for name, value in given.items():
        if value is None:
            param = next(p for p in ctx.command.params if p.name == name)
            raise click.MissingParameter(ctx=ctx, param=param)
