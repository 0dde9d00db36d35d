"""`tend report`: one self-contained HTML page to look back with, or to show a clinician."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from tend.cli.app import App, parse_date
from tend.core.errors import UserError

pass_app = click.make_pass_decorator(App)


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The HTML file to write (replaced if it exists).",
)
@click.option(
    "--from", "since", metavar="DATE", help="First day to include (default: the first entry)."
)
@click.option("--to", "until", metavar="DATE", help="Last day to include (default: today).")
@click.option(
    "--only-mine",
    is_flag=True,
    help="Only your own entries (shared and private, none of your partner's), e.g. to share "
    "with a clinician or therapist.",
)
@click.option(
    "--with-signals",
    is_flag=True,
    help="Include comfort signals and their notes (left out unless asked: a report may be "
    "handed to a clinician).",
)
@pass_app
def report(
    app: App,
    out: Path,
    since: str | None,
    until: str | None,
    only_mine: bool,
    with_signals: bool,
) -> None:
    """An HTML report to look back on, or to show a clinician.

    One page that opens in any browser with no network: energy and pain over time with small
    wins marked, rest days honoured, small wins and thank-yous, the state of the partnership
    and boundaries; only your own entries with --only-mine, comfort signals only with
    --with-signals. Your private entries are in it too. It is not encrypted, so it is
    written readable only by you (mode 0600).
    """
    first = parse_date("from", since)
    last = parse_date("to", until)
    if first is not None and last is not None and first > last:
        raise UserError(f"--from {first} is after --to {last}; give the earlier day first")
    if not out.parent.is_dir():
        raise UserError(f"there is no folder {out.parent} to write the report in")
    from tend.app import look
    from tend.present import report_page

    model = look.report(app.journal(), first, last, own_only=only_mine, with_signals=with_signals)
    start, end = model.start, model.end
    report_page.write(out, report_page.render_html(model, dt.date.today()))
    whose = " of your own entries" if only_mine else ""
    click.echo(f"Wrote the report{whose} for {start:%-d %b %Y} to {end:%-d %b %Y} to {out}.")
    kept = "" if only_mine else ", and any entries you kept private are in it"
    click.echo(
        f"It is not encrypted{kept}: only you can open it on this device (mode 0600); "
        "share it only with someone you trust."
    )
