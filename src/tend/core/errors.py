"""Every error tend raises on purpose derives from `TendError`; this is the whole tree (a test
finds every exception class in tend and checks that it is here, under TendError).

    TendError
    ├── UserError                 the person asked for something we cannot do (exit 1)
    │   ├── ValidationError       a value out of range or not among the allowed ones
    │   ├── MissingExtra          a command needs a package of an extra not installed
    │   ├── NotInitialised        no journal in this home yet
    │   ├── AlreadyInitialised    a journal is already here
    │   ├── WrongPassphrase       the device keys could not be unwrapped
    │   ├── StorageFull           the disk refused the write; nothing was recorded
    │   ├── EntryTooLarge         an event does not fit in one entry (core/crypto/entry.py)
    │   ├── WrongCode             a short code that did not match (core/crypto/pake.py)
    │   ├── InvalidPhrase         a recovery phrase that is not right (core/trust/recovery.py)
    │   ├── SettingError          a relay setting that is unknown or does not fit
    │   │                         (sync/relay/settings.py)
    │   └── InvalidInvite         an invitation or reply that does not open (core/trust/pairing.py)
    │       └── WrongCodeTried    someone answered an invitation with another code
    │                             (sync/pairing_flow.py)
    ├── IntegrityError            stored or received data failed a check (exit 3)
    │   ├── InvalidEnvelope       an envelope could not be opened (one opaque reason)
    │   ├── ChainError            a log's hash chain or sequence is broken
    │   ├── SignatureError        an entry was not signed by a device on the roster
    │   ├── UnreadableEntry       one entry does not open, or does not match what carries it
    │   ├── CorruptStore          the local files cannot be read as a tend store
    │   ├── MalformedRecord       a signed record (a key rotation) is not one tend writes
    │   └── LeftOut               a rotation left this device out without its person's
    │                             removal (sync/client.py)
    ├── RelayUnavailable          the relay cannot be reached, or went away (sync/transport.py)
    │   └── RelayFullForNow       the relay holds all its operator allows (sync/client.py)
    ├── RelayRefused              the relay answered with an error frame (sync/transport.py)
    │   ├── NotAdmitted           the relay starts journals only with its operator's code,
    │   │                         or only so many from one network (sync/client.py)
    │   └── NotAtRelay            the relay no longer holds this journal (sync/client.py)
    ├── RemovedFromSpace          this device was removed by its own person (sync/client.py)
    ├── MailboxTaken              a pairing mailbox is in use (sync/mailbox.py)
    └── ProtocolError             sync-layer errors (sync/protocol.py and the relay)
        ├── LocalProtocolError    our own caller broke the protocol
        ├── RemoteProtocolError   the peer sent something illegal
        ├── PushRefused           the relay refuses a request, naming its code
        │   │                     (sync/relay/store.py, each below the same)
        │   ├── MalformedEntry    not an entry of this space
        │   ├── MalformedRotation not a rotation record tend writes
        │   ├── OversizedEntry    an entry over the size limit
        │   ├── SeqGap            not the next seq of its log
        │   ├── LogFork           other bytes at a seq already held
        │   ├── OverQuota         the space's quota is used up
        │   ├── TooManyLogs       the space holds as many logs as it may
        │   ├── RelayFull         all spaces hold what the operator's storage cap allows
        │   ├── UnknownSpace      no space with that capability
        │   ├── BadSignature      not signed by its log's (or signer's) key
        │   ├── LogRemoved        past its log's removal
        │   ├── StaleCapability   a rotation from a capability no longer current
        │   └── ForgetRefused     a forget token that is not the entry's author's
        ├── CapReached            a relay-wide cap is reached (sync/relay/store.py)
        ├── BudgetReached         one household holds its share of invitations or escrows
        ├── AdmissionRefused      a space created without a valid one-time code
        │                         (sync/relay/limits.py, as is the next)
        ├── CreationLimited       an address created as many spaces as allowed for now
        ├── StoreFailure          the relay's database failed (sync/relay/store.py)
        ├── MailboxFull           a pairing mailbox, or all of them, is full
        │                         (sync/relay/mailboxes.py, as is the next)
        ├── MailboxInUse          a claimed mailbox is in use
        └── FloodBeforeWelcome    more came before a Welcome than a Hello
                                  (sync/relay/first_frame.py)

The CLI maps UserError to exit 1 and IntegrityError to exit 3, printing one line each.
Third-party exceptions are translated where they are raised (`raise ... from e`).

A message says what happened and names no command: the faces differ in how a person acts.
Where there is something to do next, the error carries it as a `NextStep`, and each face says
it in its own words (the command: cli/next_step.py).
"""

from __future__ import annotations

from enum import StrEnum


class NextStep(StrEnum):
    """What the person can do next, named without the words of any face."""

    VERIFY = "verify"  # check every stored entry, to learn what is damaged
    INIT = "init"  # start a journal in this home
    SYNC_AGAIN = "sync-again"  # sync again: what was sent before the break is kept
    INVITE_AGAIN = "invite-again"  # make a new invitation: the old one is closed
    REMOVE_OWN_DEVICE = "remove-own-device"  # remove one's own device, or restore from the phrase
    # A newcomer replacing a lost person: remove that person's old devices, then sync.
    REMOVE_REPLACED_DEVICES = "remove-replaced-devices"
    SYNC_LATER = "sync-later"  # a device waiting to be let in: sync again later
    # Two by design: a third person only if both ask for it (or it is one's own device).
    INVITE_ANOTHER_PERSON = "invite-another-person"
    # Nothing to run: the other process that keeps this journal in sync sends what is recorded.
    ALREADY_KEPT_IN_SYNC = "already-kept-in-sync"
    # An invite-only relay: ask its operator for a one-time code and give it at the next sync.
    ADMISSION_CODE = "admission-code"
    # The relay no longer holds this journal: put it back there from this device, if wanted.
    RECREATE = "recreate"
    # Reach the relay over TLS (https://), or say explicitly that this network is trusted.
    USE_TLS = "use-tls"


class TendError(Exception):
    """Root of every error tend raises on purpose."""

    exit_code = 1

    def __init__(self, *args: object, next_step: NextStep | None = None) -> None:
        super().__init__(*args)
        self.next_step = next_step


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
        super().__init__(f"{where}: {reason}", next_step=NextStep.VERIFY)
        self.where = where
        self.reason = reason


class CorruptStore(IntegrityError):
    pass


class MalformedRecord(IntegrityError):
    """A signed record (a key rotation, an invitation) is not one tend writes."""


class ProtocolError(TendError):
    pass
