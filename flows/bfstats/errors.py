"""The root of the errors bfstats raises on purpose, and the CLI's exit code for each.

Every error here carries a message that names the thing that failed and what to do; the CLI
prints it on one line and exits with the error's `exit_code` (README, Usage: exit codes).
"""

from __future__ import annotations

import signal

# sysexits.h EX_TEMPFAIL: "try again later" - the file is busy, nothing is wrong with the input.
RUN_IN_PROGRESS_EXIT_CODE = 75


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an error's message (its type's name when it has none), for a log line
    that says why an optimisation was skipped."""
    lines = str(error).splitlines()
    return lines[0][:limit] if lines else type(error).__name__


class BfstatsError(Exception):
    """A failure bfstats can explain; `exit_code` is what the CLI exits with."""

    exit_code: int = 1
    kind = "error"  # a few words for summaries: "5 of 6 services completed; x failed: <kind>"


class UsageError(BfstatsError):
    """Bad input from the user; the message says what to do (the CLI exits with 2)."""

    exit_code = 2


class RunInProgress(BfstatsError):
    """Another backfill holds the SQLite file; the message names it (pid, host, flow run)."""

    exit_code = RUN_IN_PROGRESS_EXIT_CODE
    kind = "another backfill holds the file"


class RunInterrupted(BfstatsError):
    """The run was stopped by a signal; exits 128 + the signal's number (130 SIGINT, 143 SIGTERM),
    as a shell reports a process killed by that signal."""

    kind = "interrupted"

    def __init__(self, signal_number: int, message: str | None = None):
        self.signal_number = int(signal_number)
        self.exit_code = 128 + self.signal_number
        name = signal.Signals(self.signal_number).name
        super().__init__(message or f"interrupted by {name}")

    def __reduce__(self):
        # Rebuilt from its own arguments when pickled (Prefect may pickle a task's exception).
        return type(self), (self.signal_number, str(self))
