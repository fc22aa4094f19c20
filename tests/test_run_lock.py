"""One backfill per SQLite file: the run lock, with real holder processes (and a SIGKILLed one)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from bfstats.errors import RunInProgress
from bfstats.sqlite_store import RunLock, connect, lock_holder, lock_path
from lock_holders import Holder


def test_the_lock_is_a_sidecar_file_and_says_who_holds_it(tmp_path):
    db = tmp_path / "api.db"
    assert lock_holder(db) is None
    assert not lock_path(db).exists(), "asking who holds it creates nothing"
    with RunLock(db, flow_run_id="run-1") as lock:
        assert lock.path == tmp_path / "api.db.bfstats.lock"
        holder = lock_holder(db)
        assert holder["pid"] == os.getpid()
        assert holder["host"] == socket.gethostname()
        assert holder["flow_run_id"] == "run-1" and holder["started_at"]
    assert lock_holder(db) is None
    assert not db.exists(), "the database itself is not created or touched"


def test_a_second_lock_in_the_same_process_is_refused(tmp_path):
    db = tmp_path / "api.db"
    with RunLock(db), pytest.raises(RunInProgress):
        RunLock(db).acquire()


@pytest.mark.slow
def test_a_second_backfill_is_refused_at_once_naming_the_holder(tmp_path):
    db = tmp_path / "api.db"
    with Holder("run-lock", db, 60, flow_run_id="0b5e-flow-run") as holder:
        started = time.monotonic()
        with pytest.raises(RunInProgress) as raised:
            RunLock(db, flow_run_id="mine").acquire()
        refused_after = time.monotonic() - started
        message = str(raised.value)
        assert f"SQLite file {db} is being backfilled by pid {holder.pid}" in message
        assert f"on host {socket.gethostname()}" in message
        assert "flow run 0b5e-flow-run" in message and "started 20" in message
        assert "wait for it to finish or stop it" in message
        assert raised.value.exit_code == 75
        assert refused_after < 5, "refused at once, not after waiting for the holder"
        assert lock_holder(db)["pid"] == holder.pid


@pytest.mark.slow
def test_a_killed_holder_does_not_block_the_next_backfill(tmp_path):
    db = tmp_path / "api.db"
    with Holder("run-lock", db, 60, flow_run_id="crashed") as holder:
        with pytest.raises(RunInProgress):
            RunLock(db).acquire()
        holder.kill()  # SIGKILL: no chance to release anything
    assert lock_holder(db) is None
    with RunLock(db, flow_run_id="next"):
        assert lock_holder(db)["flow_run_id"] == "next"


def begin_immediate_elsewhere(db) -> str:
    """Try BEGIN IMMEDIATE from another process, without waiting: `ok` or the error."""
    script = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
        "try:\n"
        "    conn.execute('BEGIN IMMEDIATE'); conn.execute('ROLLBACK'); print('ok')\n"
        "except sqlite3.OperationalError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(db)], capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip() or result.stderr


@pytest.mark.slow
def test_taking_and_releasing_the_lock_leaves_sqlites_own_locks_alone(tmp_path):
    # Closing any descriptor of the database would drop the POSIX locks SQLite holds in this
    # process, and another process could then write under our feet: the run lock must never
    # open the database file. (Only another process sees POSIX locks.)
    db = tmp_path / "api.db"
    conn = connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    assert "locked" in begin_immediate_elsewhere(db)
    with RunLock(db):
        lock_holder(db)
    lock_holder(db)
    assert "locked" in begin_immediate_elsewhere(db), "the run lock dropped SQLite's lock"
    conn.execute("COMMIT")
    assert begin_immediate_elsewhere(db) == "ok"
