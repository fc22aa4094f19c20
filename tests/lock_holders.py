"""Other processes holding locks on a SQLite file, for tests of waiting and exclusion.

Run as a script: `python lock_holders.py KIND DB SECONDS [FLOW_RUN_ID]`; prints `ready` once it
holds the lock, then holds it for SECONDS (or until killed) and exits 0:
- `write`: a SQLite write transaction (BEGIN IMMEDIATE), also holding the bfstats run lock when
  FLOW_RUN_ID is given;
- `read`: a read transaction in rollback-journal mode (a SHARED lock, which blocks COMMIT);
- `run-lock`: only the bfstats run lock (`RunLock`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


class Holder:
    """The script in a child process; `with Holder(...)` waits for `ready`, kills at the end."""

    def __init__(self, kind: str, db: Path, seconds: float, flow_run_id: str | None = None):
        command = [sys.executable, str(HERE), kind, str(db), str(seconds)]
        if flow_run_id:
            command.append(flow_run_id)
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.process.kill()
            raise AssertionError(f"lock holder did not start: {line} {self.process.stderr.read()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        self.process.stdout.close()
        self.process.stderr.close()


def _main(kind: str, db: str, seconds: str, flow_run_id: str | None = None) -> None:
    import sqlite3

    lock = None
    if kind == "run-lock" or flow_run_id:
        from bfstats.sqlite_store import RunLock

        lock = RunLock(db, flow_run_id=flow_run_id).acquire()
    conn = None
    if kind == "write":
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    elif kind == "read":
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    print("ready", flush=True)
    time.sleep(float(seconds))
    if conn is not None:
        conn.execute("COMMIT")
        conn.close()
    if lock is not None:
        lock.release()


if __name__ == "__main__":
    _main(*sys.argv[1:])
