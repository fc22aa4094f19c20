"""The root error type of bfstats and the CLI's exit codes, in one place.

Every error the project raises on purpose derives from `BfstatsError`; its message says what
failed and what to do, and its `exit_code` is what the CLI exits with.
"""


class BfstatsError(Exception):
    """An expected failure with an actionable message (the CLI exits with `exit_code`)."""

    exit_code = 1
    kind = "error"  # a few words for summaries: "5 of 6 services completed; x failed: <kind>"


class UsageError(BfstatsError):
    """Bad input from the user; the message says what to do (the CLI exits with 2)."""

    exit_code = 2
