"""What the command tells a person to do next, in its own words: the command to run.

Core and sync say what happened and name the next step (core.errors.NextStep) without naming
any command, since the command is only one face; here each step becomes the words a person of
the command has always read, appended to what happened.
"""

from __future__ import annotations

from tend.core.errors import NextStep, TendError

WORDS = {
    NextStep.VERIFY: "; run: tend verify",
    NextStep.INIT: "; start one with: tend init --name NAME",
    NextStep.SYNC_AGAIN: "; run tend sync again (nothing was lost)",
    NextStep.INVITE_AGAIN: ": run tend invite again",
    NextStep.REMOVE_OWN_DEVICE: (
        ": remove it with tend devices remove, or restore from your recovery phrase"
    ),
    NextStep.SYNC_LATER: ": run tend sync later",
    NextStep.INVITE_ANOTHER_PERSON: (
        ". If you both want that: tend invite --another-person (or --own-device for another "
        "device of yours)"
    ),
    NextStep.ALREADY_KEPT_IN_SYNC: " (tend ui or tend sync --watch)",
    NextStep.ADMISSION_CODE: "; then: tend sync --admission-code CODE",
    NextStep.RECREATE: "; to put it back there from this device: tend sync --recreate",
    NextStep.USE_TLS: (
        "; use its https:// address, or, only on a network you trust, run tend --insecure ..."
    ),
    NextStep.REMOVE_REPLACED_DEVICES: (
        "; their device comes in once every old device of that person is removed "
        "(tend devices remove ID), at the sync after that."
    ),
}


def said(what: str, step: NextStep | None) -> str:
    """`what` happened, then what to run next, if anything."""
    return what if step is None else what + WORDS[step]


def error_line(error: TendError) -> str:
    """An error as the command says it (without the leading "tend: ")."""
    return said(str(error), error.next_step)
