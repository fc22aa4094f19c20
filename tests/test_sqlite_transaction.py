"""The one transaction helper, on real SQLite files with real other processes holding locks:
lock waits are logged and bounded, an error inside is never masked, a failed COMMIT is retried
(busy) or named (full disk, read-only)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import closing

import pytest
from bfstats.sqlite_store import (
    DiskFullError,
    SqliteTargetError,
    connect,
    transaction,
)
from lock_holders import Holder
from mounts import tmpfs


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "target.db"
    conn = connect(path)
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, payload BLOB)")
    conn.execute("INSERT INTO t VALUES (1, 'kept')")
    conn.close()
    return path


def rows(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT x FROM t ORDER BY x").fetchall()
    finally:
        conn.close()


def lock_waits(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "Waiting for the write lock" in r.getMessage()
    ]


def test_an_exception_inside_rolls_back_and_is_raised_unchanged(db):
    conn = connect(db)
    error = ValueError("boom")
    with pytest.raises(ValueError) as raised, transaction(conn):
        conn.execute("INSERT INTO t VALUES (2, 'lost')")
        raise error
    assert raised.value is error
    assert not getattr(error, "__notes__", None)
    assert not conn.in_transaction
    assert rows(db) == [(1,)]


def test_no_rollback_is_attempted_when_no_transaction_is_open(db):
    # The block ended the transaction itself: a blind ROLLBACK would fail ("no transaction is
    # active") and that failure must not replace or decorate the block's own error.
    conn = connect(db)
    with pytest.raises(KeyError) as raised, transaction(conn):
        conn.execute("INSERT INTO t VALUES (2, 'committed by the block')")
        conn.execute("COMMIT")
        raise KeyError("after commit")
    assert not getattr(raised.value, "__notes__", None)
    assert rows(db) == [(1,), (2,)]


def test_a_failing_rollback_becomes_a_note_on_the_original_error(db):
    conn = connect(db)
    with pytest.raises(ValueError, match="the original") as raised, transaction(conn):
        conn.execute("INSERT INTO t VALUES (2, 'lost')")
        conn.close()  # the connection is gone: ROLLBACK cannot run
        raise ValueError("the original")
    notes = getattr(raised.value, "__notes__", [])
    assert any("ROLLBACK" in note for note in notes), notes
    assert rows(db) == [(1,)]


def test_a_read_only_connection_is_named(db):
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(SqliteTargetError) as raised, transaction(conn, what="loading T"):
        conn.execute("INSERT INTO t VALUES (2, 'x')")
    message = str(raised.value)
    assert str(db) in message and "read-only" in message and "loading T" in message


@pytest.mark.slow
def test_a_write_lock_held_less_than_the_timeout_is_waited_out_and_logged_once(
    db, caplog, monkeypatch
):
    monkeypatch.setenv("BFSTATS_SQLITE_BUSY_TIMEOUT", "30")
    conn = connect(db)
    with Holder("write", db, 2.0), caplog.at_level(logging.INFO, logger="bfstats"):
        started = time.monotonic()
        with transaction(conn, what="loading ServerOnlineCounts"):
            conn.execute("INSERT INTO t VALUES (2, 'after the wait')")
        waited = time.monotonic() - started
    assert waited >= 1.0, "the holder kept the lock for 2 s: the transaction must have waited"
    assert rows(db) == [(1,), (2,)]
    waits = lock_waits(caplog)
    assert len(waits) == 1, [r.getMessage() for r in caplog.records]
    message = waits[0].getMessage()
    for part in (str(db), "loading ServerOnlineCounts", "30s", "BFSTATS_SQLITE_BUSY_TIMEOUT"):
        assert part in message, message


@pytest.mark.slow
def test_a_write_lock_held_longer_fails_naming_the_file_and_the_holder(db, caplog, monkeypatch):
    monkeypatch.setenv("BFSTATS_SQLITE_BUSY_TIMEOUT", "1.5")
    conn = connect(db)
    with Holder("write", db, 60, flow_run_id="flow-run-holding") as holder:
        started = time.monotonic()
        with (
            caplog.at_level(logging.WARNING, logger="bfstats"),
            pytest.raises(SqliteTargetError) as raised,
            transaction(conn, what="publishing PlayerStats"),
        ):
            conn.execute("INSERT INTO t VALUES (2, 'never')")
        waited = time.monotonic() - started
        message = str(raised.value)
        assert str(db) in message and "publishing PlayerStats" in message
        assert "1.5s" in message and "BFSTATS_SQLITE_BUSY_TIMEOUT" in message
        assert f"pid {holder.pid}" in message and "flow-run-holding" in message
    assert 1.4 <= waited < 30
    assert len(lock_waits(caplog)) == 1
    assert not conn.in_transaction
    assert rows(db) == [(1,)]


def rollback_journal(db):
    conn = sqlite3.connect(db, isolation_level=None)
    assert conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    return conn


@pytest.mark.slow
def test_a_commit_that_meets_a_reader_is_retried_within_the_timeout(db, caplog):
    # In rollback-journal mode COMMIT needs every reader gone: a reader in another process makes
    # the COMMIT itself fail with SQLITE_BUSY after the transaction began.
    conn = rollback_journal(db)
    with Holder("read", db, 2.0), caplog.at_level(logging.INFO, logger="bfstats"):
        reached_commit = False
        with transaction(conn, what="publishing T", timeout=30):
            conn.execute("INSERT INTO t VALUES (2, 'after the reader')")
            reached_commit = True
    assert reached_commit
    assert rows(db) == [(1,), (2,)]
    assert len(lock_waits(caplog)) == 1


@pytest.mark.slow
def test_a_commit_still_busy_at_the_timeout_rolls_back_and_says_so(db):
    conn = rollback_journal(db)
    with Holder("read", db, 60):
        with (
            pytest.raises(SqliteTargetError, match="could not commit") as raised,
            transaction(conn, what="publishing T", timeout=1.0),
        ):
            conn.execute("INSERT INTO t VALUES (2, 'rolled back')")
        assert str(db) in str(raised.value)
        assert not conn.in_transaction
    assert rows(db) == [(1,)]


@pytest.mark.parametrize(
    ("cache_kib", "fails_at"),
    [(16_384, "commit"), (64, "insert")],
    ids=["commit-fails", "insert-fails"],
)
def test_a_full_disk_rolls_back_and_names_the_file_and_the_space(tmp_path, cache_kib, fails_at):
    # 1.5 MB of rows on a 1 MB filesystem. With a cache larger than that the pages stay in memory
    # until COMMIT writes them, and the COMMIT fails; with a small cache they spill to the WAL
    # during the inserts, and an INSERT fails.
    with tmpfs(tmp_path / "small", "1m") as disk:
        db = disk / "full.db"
        conn = connect(db)
        conn.execute(f"PRAGMA cache_size = -{cache_kib}")
        conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, payload BLOB)")
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (1, 'published')")
        reached_commit = False
        with (
            pytest.raises(DiskFullError) as raised,
            transaction(conn, what="publishing ServerOnlineCounts", space_needed=180 * 2**20),
        ):
            for x in range(2, 8):
                conn.execute("INSERT INTO t VALUES (?, zeroblob(250000))", (x,))
            reached_commit = True
        assert reached_commit == (fails_at == "commit")
        message = str(raised.value)
        assert str(db) in message and "free on its filesystem" in message
        assert "publishing ServerOnlineCounts needs about 180.0 MB" in message
        cause = raised.value.__cause__
        assert isinstance(cause, sqlite3.Error), cause
        assert cause.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL, cause
        assert not conn.in_transaction
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
        with transaction(conn):  # the file is still usable once the big write is gone
            conn.execute("INSERT INTO t VALUES (2, 'small')")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
        conn.close()


def test_a_long_load_checkpoints_every_checkpoint_pages_so_the_wal_stays_bounded(tmp_path):
    """Many small transactions writing three times CHECKPOINT_PAGES pages: the WAL file (whose
    size is its high-water mark) grows to about CHECKPOINT_PAGES pages, is copied back into the
    database and starts again; not at SQLite's default of every 1,000 pages, not without bound."""
    from bfstats.sqlite_store.connection import CHECKPOINT_PAGES

    path = tmp_path / "target.db"
    conn = connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, payload BLOB)")
    wal = path.with_name(path.name + "-wal")
    sizes = []
    for _ in range(3 * CHECKPOINT_PAGES // 100):  # each about 100 pages of new rows
        with transaction(conn):
            conn.executemany("INSERT INTO t (payload) VALUES (?)", [(bytes(page_size),)] * 100)
        sizes.append(wal.stat().st_size // page_size)
    conn.close()

    assert max(sizes) > 2_000  # not checkpointed at SQLite's default of 1,000 pages
    assert max(sizes) < CHECKPOINT_PAGES + 500  # nor left to grow with the load


def test_the_writers_index_builds_may_sort_on_a_helper_thread(tmp_path):
    """SQLite sorts on one thread unless told otherwise (its default worker threads: 0); the
    writer's connection lets CREATE INDEX use SORTER_THREADS, and the index comes out whole."""
    from bfstats.sqlite_store.connection import SORTER_THREADS

    assert SORTER_THREADS >= 2
    with closing(sqlite3.connect(tmp_path / "plain.db")) as plain:
        assert plain.execute("PRAGMA threads").fetchone() == (0,)
    conn = connect(tmp_path / "target.db")
    assert conn.execute("PRAGMA threads").fetchone() == (SORTER_THREADS,)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    with transaction(conn):
        conn.executemany(
            "INSERT INTO t VALUES (?, ?)", ((i, f"{-i % 997:05d}") for i in range(50_000))
        )
        conn.execute("CREATE INDEX ix ON t (v)")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_a_publish_commits_without_the_checkpoint_and_a_thread_copies_the_wal_back(
    tmp_path, monkeypatch
):
    """`checkpoint_deferred`: the commit inside leaves its pages in the WAL (the database file
    does not grow), then a thread of its own copies them back; the connection's own
    autocheckpoint is restored. A block that fails starts no checkpoint."""
    from bfstats.sqlite_store import checkpoint_deferred, connection

    monkeypatch.setattr(connection, "CHECKPOINT_PAGES", 10)  # else a commit would copy them back
    path = tmp_path / "target.db"
    conn = connect(path)
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, payload BLOB)")
    checkpointed = threading.Event()
    sizes: list[int] = []

    def recording(file):
        sizes.append(path.stat().st_size)
        real_checkpoint(file)
        sizes.append(path.stat().st_size)
        checkpointed.set()

    real_checkpoint = connection._checkpoint
    monkeypatch.setattr(connection, "_checkpoint", recording)
    with pytest.raises(RuntimeError), checkpoint_deferred(conn), transaction(conn):
        conn.execute("INSERT INTO t (payload) VALUES (zeroblob(4000))")
        raise RuntimeError("the publish failed")
    assert not checkpointed.wait(0.5)
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (10,)

    with checkpoint_deferred(conn), transaction(conn):
        conn.executemany("INSERT INTO t (payload) VALUES (zeroblob(?))", [(4000,)] * 200)
    assert checkpointed.wait(10)
    before, after = sizes
    assert before < 100_000 and after > 800_000, sizes
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (10,)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (200,)
    conn.close()
