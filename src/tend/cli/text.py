"""Showing words that came from someone else: literally, never as instructions.

Text a partner wrote, and anything a relay says, reaches the terminal. Validation already
refuses control characters in what is recorded (core/domain/validate.py), but what is shown is
cleaned again here, so that an escape sequence (a window title, a clipboard write, a cleared
screen, a link) can never reach the terminal, whatever its source. For rich output, user text is
passed as `rich.text.Text`, never as markup.
"""

from __future__ import annotations

from tend.core.domain.validate import UNSAFE_TEXT


def safe(value: str) -> str:
    """`value` with every control character (but a newline) shown as a replacement mark."""
    return UNSAFE_TEXT.sub("\N{REPLACEMENT CHARACTER}", value)
