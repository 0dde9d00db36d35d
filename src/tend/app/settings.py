"""This device's settings, read and changed as use cases: each change is saved at once, with the
passphrase the journal was opened with (never asked again, never dropped)."""

from __future__ import annotations

from collections.abc import Iterable

from tend.core.errors import UserError
from tend.core.journal import Journal

# The kinds of entry a person may keep private by default on this device.
PRIVATE_KINDS = ("checkin", "comfort")


def private_by_default(journal: Journal, kind: str) -> bool:
    return kind in journal.device.settings.get("private_kinds", [])


def private_kinds(journal: Journal) -> list[str]:
    return sorted(journal.device.settings.get("private_kinds", []))


def keep_private_by_default(journal: Journal, kinds: Iterable[str], *, on: bool) -> list[str]:
    """Add (or, with on=False, remove) kinds kept private by default; what is kept now."""
    chosen = set(kinds)
    unknown = chosen - set(PRIVATE_KINDS)
    if unknown:
        raise UserError(f"only {', '.join(PRIVATE_KINDS)} can be private by default")
    current = set(private_kinds(journal))
    current = current | chosen if on else current - chosen
    journal.device.settings["private_kinds"] = sorted(current)
    journal.save_device()
    return sorted(current)


def relay_of(journal: Journal, given: str | None = None) -> str:
    """The relay to use: the one given, else the one this journal was set up with."""
    url = given or journal.device.settings.get("relay")
    if not url:
        raise UserError("no relay set; pass --relay URL (e.g. http://127.0.0.1:8765)")
    return relay_address(str(url))


def relay_address(url: str) -> str:
    """`url` if it names a web address tend can reach; else a UserError saying how to write it.

    Without this, "relay.example:8765" reaches the HTTP client as a path and is reported as a
    relay that cannot be reached, which sends people looking for a network fault."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise UserError(
            f"the relay address {url!r} needs http:// or https:// in front "
            f"(e.g. https://{rest or url})"
        )
    return url


def allow_plain_relays() -> None:
    """Let this process reach relays on other machines over plain http:// (`--insecure`):
    the person says the network is theirs, since the relay capability then travels in clear."""
    from tend.sync.clear_text import allow_clear_text  # the network stack only when asked

    allow_clear_text()


def known_relay(journal: Journal) -> str | None:
    url = journal.device.settings.get("relay")
    return str(url) if url else None


def set_relay(journal: Journal, url: str) -> None:
    journal.device.settings["relay"] = relay_address(url)
    journal.save_device()


def remember_relay(journal: Journal, url: str) -> None:
    """Keep the relay used for the first time as this journal's own."""
    if "relay" not in journal.device.settings:
        set_relay(journal, url)


def compared_identities(journal: Journal) -> set[str]:
    """The identities (hex) whose safety code this person compared in person."""
    return set(journal.device.settings.get("compared", []))


def mark_compared(journal: Journal, identities: Iterable[bytes]) -> None:
    compared = compared_identities(journal) | {i.hex() for i in identities}
    journal.device.settings["compared"] = sorted(compared)
    journal.save_device()
