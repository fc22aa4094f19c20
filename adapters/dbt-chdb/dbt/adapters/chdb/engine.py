"""One embedded ClickHouse engine per process, shared by dbt and by the extractor.

chdb-core hosts a single engine bound to one data directory per process, and two processes
must not open the same directory. Every connection in this process therefore goes through
`connect()`, which opens sessions on the one engine and holds an exclusive file lock
(`<data dir>.lock`) while any session is open, so a second process fails at once with a
message that says which directory is busy instead of corrupting it.
"""

from __future__ import annotations

import fcntl
import os
import threading

import chdb


class EngineError(RuntimeError):
    """The embedded engine cannot be opened as asked."""


_guard = threading.RLock()
_path: str | None = None
_lock_file = None
_open_sessions = 0


def _acquire_directory_lock(path: str):
    os.makedirs(path, exist_ok=True)
    lock_file = open(f"{path}.lock", "a+")  # noqa: SIM115 - held open while the engine lives
    try:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise EngineError(
            f"the embedded ClickHouse data directory {path} is in use by another process; "
            "only one backfill or dbt command may use it at a time: wait for it to finish "
            "or stop it, or point BFSTATS_CHDB_PATH at another directory"
        ) from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(f"{os.getpid()}\n")
    lock_file.flush()
    return lock_file


def connect(path: str):
    """Open a new session on the process's engine for `path` (a chdb connection)."""
    global _path, _lock_file, _open_sessions
    path = os.path.abspath(path)
    with _guard:
        if _path is not None and _path != path:
            raise EngineError(
                f"this process already hosts the embedded ClickHouse at {_path}; "
                f"it cannot also open {path} (one data directory per process)"
            )
        if _path is None:
            _lock_file = _acquire_directory_lock(path)
            _path = path
        try:
            session = chdb.connect(path)
        except Exception:
            if _open_sessions == 0:
                _release()
            raise
        _open_sessions += 1
        return Session(session)


def _release() -> None:
    global _path, _lock_file
    if _lock_file is not None:
        fcntl.flock(_lock_file.fileno(), fcntl.LOCK_UN)
        _lock_file.close()
    _lock_file = None
    _path = None


class Session:
    """A chdb connection that gives its slot back to the engine registry when closed."""

    def __init__(self, connection):
        self._connection = connection
        self._closed = False

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def close(self) -> None:
        global _open_sessions
        with _guard:
            if self._closed:
                return
            self._closed = True
            self._connection.close()
            _open_sessions -= 1
            if _open_sessions == 0:
                _release()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
