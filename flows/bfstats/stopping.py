"""Stopping a run when asked (Ctrl-C, SIGTERM, a cancel from the Prefect UI), within seconds.

The flow's main thread gets the signal (Python raises KeyboardInterrupt; Prefect turns SIGTERM
into TerminationSignal); it records the run as interrupted and calls `request()`. The steps
running in other threads look at `requested()` between batches and stop there: a batch and its
checkpoint commit together or not at all, so the next run resumes from the last checkpoint.
"""

from __future__ import annotations

import signal
import threading

from bfstats.errors import RunInterrupted

_requested = threading.Event()
_signal: list[int] = []


def signal_of(error: BaseException) -> int | None:
    """SIGINT or SIGTERM when `error` is how a signal reached the main thread, else None."""
    if isinstance(error, KeyboardInterrupt):
        return signal.SIGINT
    if isinstance(error, RunInterrupted):
        return error.signal_number
    signum = getattr(error, "signal", None)  # prefect.exceptions.TerminationSignal
    return signum if isinstance(signum, int) else None


def request(signum: int) -> None:
    if not _requested.is_set():
        _signal.append(signum)
        _requested.set()


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise RunInterrupted in a worker thread once a stop was requested."""
    if _requested.is_set():
        raise RunInterrupted(_signal[0] if _signal else signal.SIGTERM)


def reset() -> None:
    """For a process that runs several flows (tests)."""
    _requested.clear()
    _signal.clear()
