"""Stopping a run when asked (Ctrl-C, SIGTERM, a cancel from the Prefect UI), within seconds.

The flow's main thread gets the signal (Python raises KeyboardInterrupt; Prefect turns SIGTERM
into TerminationSignal); it records the run as interrupted and calls `request()`. The steps
running in other threads look at `requested()` between batches and stop there: a batch and its
checkpoint commit together or not at all, so the next run resumes from the last checkpoint.

The exception a signal raises lands wherever the main thread happens to be, which may be library
code that swallows it (seen once in CI: a Ctrl-C was lost and the run completed with exit 0). So
the signal handler itself records the request, before the exception: for a whole `bfstats
backfill` (`install_handlers()`) and, in front of Prefect's own SIGTERM handler, while the steps
run (`requested_on_signals()`). The step loop polls the request, the flow raises RunInterrupted
from it, and the CLI reports a stop rather than the error it caused.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


def requested_signal() -> int | None:
    return _signal[0] if _signal else None


def install_handlers() -> None:
    """For a whole `bfstats backfill` (main thread): SIGINT and SIGTERM record the stop request,
    then raise KeyboardInterrupt or RunInterrupted. dbt, run in this process, turns a
    KeyboardInterrupt during its parse into a failed parse (or, seen once, carries on): the
    recorded request is what the CLI trusts."""
    handler = _requesting({})
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def _requesting(previous: dict[int, object]):
    """A handler that records the stop request, then calls the handler that was there for the
    signal (`previous`) or, without one, raises KeyboardInterrupt (SIGINT) or RunInterrupted."""

    def handler(signum, frame):
        request(signum)
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise RunInterrupted(signum)

    return handler


def check() -> None:
    """Raise RunInterrupted in a worker thread once a stop was requested."""
    if _requested.is_set():
        raise RunInterrupted(requested_signal() or signal.SIGTERM)


@contextmanager
def requested_on_signals() -> Iterator[None]:
    """While inside: SIGINT and SIGTERM call `request()`, then the handler that was there
    (Python's KeyboardInterrupt, Prefect's TerminationSignal, the CLI's own). Only the main
    thread can set handlers; elsewhere this does nothing."""
    previous: dict[int, object] = {}
    handler = _requesting(previous)
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


def reset() -> None:
    """For a process that runs several flows (tests)."""
    _requested.clear()
    _signal.clear()
