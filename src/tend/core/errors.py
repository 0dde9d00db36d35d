"""Every error tend raises on purpose derives from `TendError`.

    TendError
    ├── UserError                 the person asked for something we cannot do (exit 1)
    │   ├── ValidationError       a value out of range or not among the allowed ones
    │   ├── NotInitialised        no journal in this home yet
    │   ├── AlreadyInitialised    a journal is already here
    │   ├── WrongPassphrase       the device keys could not be unwrapped
    │   └── StorageFull           the disk refused the write; nothing was recorded
    ├── IntegrityError            stored or received data failed a check (exit 3)
    │   ├── InvalidEnvelope       an envelope could not be opened (one opaque reason)
    │   ├── ChainError            a log's hash chain or sequence is broken
    │   ├── SignatureError        an entry was not signed by a device on the roster
    │   ├── UnreadableEntry       one entry does not open, or does not match what carries it
    │   ├── CorruptStore          the local files cannot be read as a tend store
    │   └── MalformedRecord       a signed record (a key rotation) is not one tend writes
    └── ProtocolError             sync-layer errors (see tend.sync.protocol)

The CLI maps UserError to exit 1 and IntegrityError to exit 3, printing one line each.
Third-party exceptions are translated where they are raised (`raise ... from e`).
"""

from __future__ import annotations


class TendError(Exception):
    """Root of every error tend raises on purpose."""

    exit_code = 1


class UserError(TendError):
    exit_code = 1


class MissingExtra(UserError):
    """A part of tend that needs a package installed only with an extra (`tend[report]`, say):
    the journal and the relay install without what only one command uses."""

    def __init__(self, extra: str, package: str, what: str) -> None:
        self.extra = extra
        super().__init__(
            f"{what} needs {package}, which is not installed: pip install 'tend[{extra}]'"
        )


class ValidationError(UserError):
    """A value was out of range or not one of the allowed choices.

    The message always names the field and what is allowed, so the CLI can print it as is.
    """

    def __init__(self, field: str, allowed: str, got: object = None) -> None:
        self.field = field
        self.allowed = allowed
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"{field}: must be {allowed}{shown}")


class NotInitialised(UserError):
    pass


class AlreadyInitialised(UserError):
    pass


class WrongPassphrase(UserError):
    pass


class StorageFull(UserError):
    pass


class IntegrityError(TendError):
    exit_code = 3


class InvalidEnvelope(IntegrityError):
    """One opaque error for every way an envelope can fail to open (no oracle)."""

    def __init__(self) -> None:
        super().__init__("envelope could not be opened")


class ChainError(IntegrityError):
    pass


class SignatureError(IntegrityError):
    pass


class UnreadableEntry(IntegrityError):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}; run: tend verify")
        self.where = where
        self.reason = reason


class CorruptStore(IntegrityError):
    pass


class MalformedRecord(IntegrityError):
    """A signed record (a key rotation, an invitation) is not one tend writes."""


class ProtocolError(TendError):
    pass
