"""One backfill per SQLite file: an exclusive `flock` on a sidecar file `<db>.bfstats.lock`.

The lock is on a file of its own, never on the database: closing any descriptor of the database
file would drop the POSIX locks SQLite holds on it. The kernel releases a `flock` when its
holder dies, however it dies, so a crashed backfill never blocks the next one. The holder writes
who it is (pid, host, flow run id, start time) into the sidecar, for the message of a refused
second backfill and for `bfstats status`. The sidecar stays after the run (removing it would let
two processes lock two different files of the same name); its content is cleared on release.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from bfstats.errors import RunInProgress
from bfstats.sqlite_store.basics import utc_now
from bfstats.sqlite_store.errors import SqliteTargetError

LOCK_SUFFIX = ".bfstats.lock"
# `lock_holder` takes a shared lock for an instant to test the file: an acquirer that meets it
# tries again for this long before concluding that a backfill holds the file.
_ACQUIRE_RETRY_SECONDS = 0.25


def lock_path(sqlite_path: str | os.PathLike) -> Path:
    path = Path(sqlite_path)
    return path.with_name(path.name + LOCK_SUFFIX)


def describe_holder(holder: dict) -> str:
    """'pid 1234 on host h (flow run <id>, started <t>)', with what is known."""
    pid = holder.get("pid")
    text = f"pid {pid if pid is not None else '?'} on host {holder.get('host') or '?'}"
    details = []
    if holder.get("flow_run_id"):
        details.append(f"flow run {holder['flow_run_id']}")
    if holder.get("started_at"):
        details.append(f"started {holder['started_at']}")
    return text + (f" ({', '.join(details)})" if details else "")


def in_progress(sqlite_path: str | os.PathLike, holder: dict) -> RunInProgress:
    return RunInProgress(
        f"SQLite file {sqlite_path} is being backfilled by {describe_holder(holder)}; wait "
        f"for it to finish or stop it (lock file {lock_path(sqlite_path)})"
    )


def refuse_if_held(sqlite_path: str | os.PathLike) -> None:
    """Raise RunInProgress when a backfill holds the file now; takes no lock, creates nothing."""
    holder = lock_holder(sqlite_path)
    if holder is not None:
        raise in_progress(sqlite_path, holder)


def _read_holder(fd: int) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        holder = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        holder = {}
    return holder if isinstance(holder, dict) else {}


class RunLock:
    """`with RunLock(sqlite_path, flow_run_id):` - raises RunInProgress at once when another
    process holds it."""

    def __init__(self, sqlite_path: str | os.PathLike, flow_run_id: str | None = None):
        self.sqlite_path = Path(sqlite_path)
        self.path = lock_path(sqlite_path)
        self.flow_run_id = flow_run_id
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        try:
            # A new file may be in a folder that does not exist yet (connect creates it later).
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise SqliteTargetError(
                f"cannot create the lock file {self.path} beside SQLite file "
                f"{self.sqlite_path}: {error.strerror}; the folder must be writable (SQLite "
                "needs it too, for its -wal and -shm files), or pass another --sqlite path"
            ) from None
        deadline = time.monotonic() + _ACQUIRE_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                holder = _read_holder(fd)
                os.close(fd)
                raise in_progress(self.sqlite_path, holder) from None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "flow_run_id": self.flow_run_id,
            "started_at": utc_now(),
            "sqlite_path": str(self.sqlite_path),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):  # the lock itself goes with the descriptor
            os.ftruncate(fd, 0)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.release()


def lock_holder(sqlite_path: str | os.PathLike) -> dict | None:
    """Who holds the run lock of `sqlite_path` now (pid, host, flow_run_id, started_at), or None
    when nobody does. Creates nothing."""
    path = lock_path(sqlite_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return None  # unreadable: nothing to report
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            # The holder writes its record just after locking: give it a moment.
            for _ in range(10):
                if holder:
                    break
                time.sleep(0.01)
                holder = _read_holder(fd)
            return holder or {"pid": None, "host": None, "flow_run_id": None, "started_at": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
