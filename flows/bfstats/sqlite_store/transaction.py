"""The one transaction helper for the target file: `with transaction(conn, what=...):`.

- `BEGIN IMMEDIATE` takes the write lock up front. When another connection holds it, the wait is
  logged once (file, holder when known, how long it will wait), and after the busy timeout
  (`BFSTATS_SQLITE_BUSY_TIMEOUT`, 60 s by default) a SqliteTargetError says what to do.
- On an exception inside the block it rolls back, only when a transaction is still open (SQLite
  itself rolls back after some errors, e.g. a full disk), and the original exception propagates;
  a ROLLBACK that fails too is attached to it as a note, never raised instead of it.
- COMMIT is checked: SQLITE_BUSY is retried within the busy timeout; a full disk rolls back and
  raises DiskFullError naming the file, its free space and the space the step needs when the
  caller knows it; a read-only file raises a SqliteTargetError naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bfstats import config
from bfstats.sqlite_store.basics import database_path
from bfstats.sqlite_store.errors import DiskFullError, SqliteTargetError
from bfstats.sqlite_store.space import format_bytes, free_bytes

# A lock held this briefly is ordinary traffic (another connection committing): not logged.
QUIET_WAIT_SECONDS = 0.5
# When SQLite answers SQLITE_BUSY without waiting (it does when waiting could deadlock).
_RETRY_PAUSE_SECONDS = 0.05


@contextmanager
def transaction(
    conn: sqlite3.Connection,
    *,
    what: str | None = None,
    space_needed: int | Callable[[], int] | None = None,
    timeout: float | None = None,
) -> Iterator[sqlite3.Connection]:
    """A write transaction on `conn` (opened in autocommit mode, `isolation_level=None`).

    `what` says what the transaction does ("publishing ServerOnlineCounts"), for messages;
    `space_needed` (bytes, or a function giving them, called only for that message), when known,
    goes into the message of a full disk; `timeout` overrides
    the configured busy timeout (seconds)."""
    timeout = config.sqlite_busy_timeout() if timeout is None else timeout
    try:
        _execute_waiting(conn, "BEGIN IMMEDIATE", what=what, timeout=timeout)
    except sqlite3.Error as error:
        _raise_translated(conn, error, what, space_needed)
    try:
        yield conn
    except BaseException as error:
        _rollback(conn, error)
        _raise_translated(conn, error, what, space_needed)
    try:
        _execute_waiting(conn, "COMMIT", what=what, timeout=timeout)
    except BaseException as error:
        _rollback(conn, error)
        _raise_translated(conn, error, what, space_needed)


def _raise_translated(conn, error: BaseException, what, space_needed) -> None:
    """Raise `error` as the message a user acts on (a full disk, a lock), or as it is."""
    translated = _translate(conn, error, what, space_needed)
    if translated is error:
        raise error
    raise translated from error


def _logger():
    """Prefect's run logger inside a flow or task run, the `bfstats` logger elsewhere; Prefect
    is not imported just for this (a run has imported it already)."""
    if "prefect" not in sys.modules:
        return logging.getLogger("bfstats")
    from bfstats.progress import logger

    return logger()


def _error_code(error: BaseException) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # the primary code of an extended one


def is_busy(error: BaseException) -> bool:
    return isinstance(error, sqlite3.Error) and _error_code(error) == sqlite3.SQLITE_BUSY


def is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    if isinstance(error, sqlite3.Error):
        return _error_code(error) == sqlite3.SQLITE_FULL or "disk is full" in str(error)
    return False


def is_read_only(error: BaseException) -> bool:
    return isinstance(error, sqlite3.Error) and _error_code(error) == sqlite3.SQLITE_READONLY


def _describe(path: Path | None) -> str:
    return f"SQLite file {path}" if path else "the SQLite database"


def _doing(what: str | None) -> str:
    return f" ({what})" if what else ""


def _holder_text(path: Path | None) -> str:
    """Who holds the file's run lock, when it is another backfill: the likely lock holder."""
    if path is None:
        return "another connection"
    from bfstats.sqlite_store.run_lock import describe_holder, lock_holder

    holder = lock_holder(path)
    if holder is None or holder.get("pid") == os.getpid():
        return "another connection (another process, or another connection of this one)"
    return f"another connection, probably the backfill of {describe_holder(holder)}"


def _execute_waiting(conn: sqlite3.Connection, statement: str, *, what, timeout: float) -> None:
    """Run BEGIN IMMEDIATE or COMMIT, waiting for another connection's lock up to `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    previous_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    warned = False
    try:
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            wait = remaining if warned else min(QUIET_WAIT_SECONDS, remaining)
            conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            attempt = time.monotonic()
            try:
                conn.execute(statement)
            except sqlite3.Error as error:
                if not is_busy(error):
                    raise
                if time.monotonic() >= deadline:
                    raise _lock_timeout(conn, statement, what, timeout) from error
                if not warned:
                    path = database_path(conn)
                    _logger().warning(
                        "Waiting for the write lock on %s%s: it is held by %s; waiting up to "
                        "%gs (%s)",
                        _describe(path),
                        _doing(what),
                        _holder_text(path),
                        timeout,
                        config.SQLITE_BUSY_TIMEOUT_ENV,
                    )
                    warned = True
                if time.monotonic() - attempt < _RETRY_PAUSE_SECONDS:
                    time.sleep(min(_RETRY_PAUSE_SECONDS, max(0.0, deadline - time.monotonic())))
                continue
            if warned:
                _logger().info(
                    "Got the write lock on %s after %.1fs",
                    _describe(database_path(conn)),
                    time.monotonic() - started,
                )
            return
    finally:
        # On a broken connection this fails too; the error that follows says why.
        with contextlib.suppress(sqlite3.Error):
            conn.execute(f"PRAGMA busy_timeout = {int(previous_ms)}")


def _lock_timeout(conn, statement: str, what, timeout: float) -> SqliteTargetError:
    path = database_path(conn)
    step = "start a write transaction" if statement.startswith("BEGIN") else "commit"
    return SqliteTargetError(
        f"{_describe(path)}{_doing(what)}: could not {step} - the write lock stayed held by "
        f"{_holder_text(path)} for more than {timeout:g}s ({config.SQLITE_BUSY_TIMEOUT_ENV}). "
        f"Let that process finish or stop it (`fuser {path}` lists the processes that have the "
        f"file open), or raise {config.SQLITE_BUSY_TIMEOUT_ENV}; then rerun"
    )


def _rollback(conn: sqlite3.Connection, error: BaseException) -> None:
    """Roll back when a transaction is open; a failure here becomes a note on `error`."""
    try:
        if not conn.in_transaction:
            return  # nothing open (never begun, or SQLite already rolled back)
        conn.execute("ROLLBACK")
    except Exception as rollback_error:
        error.add_note(f"(the ROLLBACK after it failed too: {rollback_error!r})")


def disk_full_error(
    path: Path | None, error: BaseException, what: str | None, space_needed: int | None
) -> DiskFullError:
    free = free_bytes(path)
    free_text = "unknown" if free is None else format_bytes(free)
    need = ""
    if space_needed is not None:
        need = f"; {what or 'this step'} needs about {format_bytes(space_needed)}"
    return DiskFullError(
        f"{_describe(path)}: the disk is full{_doing(what)} - {free_text} free on its "
        f"filesystem{need} ({error}). Nothing of the failed transaction was kept and the "
        "published tables are unchanged. Free space there (or pass another --sqlite path) and "
        "rerun: the load resumes from its last checkpoint"
    )


def _translate(
    conn: sqlite3.Connection,
    error: BaseException,
    what: str | None,
    space_needed: int | Callable[[], int] | None,
) -> BaseException:
    """The error to raise for `error`: a named one for a full disk or a read-only file, else
    `error` itself (its cause stays attached to a translated one)."""
    if isinstance(error, SqliteTargetError):
        return error
    if is_disk_full(error):
        if callable(space_needed):
            try:
                space_needed = space_needed()
            except (sqlite3.Error, OSError):
                space_needed = None
        return disk_full_error(database_path(conn), error, what, space_needed)
    if is_read_only(error):
        path = database_path(conn)
        return SqliteTargetError(
            f"{_describe(path)} is read-only for this process{_doing(what)} ({error}): check the "
            "file's and its folder's permissions, that its filesystem is mounted read-write and "
            "that the file is not immutable (lsattr), or pass another --sqlite path"
        )
    return error
