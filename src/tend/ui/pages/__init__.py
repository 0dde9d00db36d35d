"""The page's routes: each page renders an app view, each form calls the app function the
command calls, then goes back to the page it came from with a calm line saying what was kept.

A refusal (a value out of range, an unknown id) shows the app's one-line message by the field
it names, on the same page, with what was typed kept in the form. Each module registers its
routes on `routes` as it is imported.
"""

from tend.ui.pages import devices, looking, practices, starting, stream, today, together
from tend.ui.pages.base import STATE, routes

__all__ = [
    "STATE",
    "devices",
    "looking",
    "practices",
    "routes",
    "starting",
    "stream",
    "today",
    "together",
]
