"""Opening the target file: autocommit mode (transactions are explicit), WAL journal, the busy
timeout of the configuration, and the metadata brought to the version this code writes.

The WAL is copied back into the database (a checkpoint) every `CHECKPOINT_PAGES` pages rather than
SQLite's default 1,000. Each checkpoint syncs the WAL and the database file, and those syncs, not
the copying, were a third of the SQLite side of a large load: measured alone, staging
ServerOnlineCounts (4.26 M rows in 1,000-row transactions) took 16.3 s with checkpoints every
1,000 pages and 11.5 s every 10,000 (ext4 on the project machine); within a whole backfill the
difference was inside that machine's noise. The price is a WAL of up to that many pages beside the
file (about 40 MB with 4 KB pages); a publish, one transaction, passes its whole table through
the WAL anyway.

A publish (one transaction: a table's index builds, 281 MB of WAL for ServerOnlineCounts at
scale 1) commits without that checkpoint; a thread copies its pages back while the run goes on
(`checkpoint_deferred`): committing ServerOnlineCounts' indexes took 0.78 s with the checkpoint
and 0.12 s without, the checkpoint alone 0.62 s, and the table's checks, which only read, run
meanwhile.

Sorts may use `SORTER_THREADS` threads (`PRAGMA threads`; SQLite's default is none): the index
builds of a publish sort every row of the table, and ServerOnlineCounts' two indexes build in
4.7 s instead of 5.1 s (scale 1) with a helper thread.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from bfstats import config
from bfstats.sqlite_store import metadata
from bfstats.sqlite_store.basics import database_path
from bfstats.sqlite_store.errors import SqliteTargetError

CHECKPOINT_PAGES = 10_000
SORTER_THREADS = 2


def connect(path: str | Path, *, create: bool = True, migrate: bool = True) -> sqlite3.Connection:
    """Open (and create, unless `create=False`) the target file for writing."""
    path = Path(path)
    if not path.parent.exists():
        if not create:
            raise SqliteTargetError(f"SQLite database {path} does not exist")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SqliteTargetError(
                f"cannot create the folder of SQLite database {path}: {error.strerror}; "
                "pass another --sqlite path or set BFSTATS_SQLITE_PATH"
            ) from None
    if path.is_dir():
        raise SqliteTargetError(f"SQLite path {path} is a directory; pass the path of a file")
    if not create and not path.exists():
        raise SqliteTargetError(f"SQLite database {path} does not exist")

    def prepare(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA threads = {SORTER_THREADS}")
        if migrate:
            metadata.migrate(conn)

    return _opened(
        lambda: sqlite3.connect(
            path,
            isolation_level=None,
            timeout=config.sqlite_busy_timeout(),
            check_same_thread=False,
        ),
        prepare,
        lambda error: (
            f"cannot use SQLite database {path}: {error}; check that the file is an "
            "SQLite database and writable, or pass another --sqlite path"
        ),
    )


def connect_read_only(path: str | Path) -> sqlite3.Connection | None:
    """Open an existing file read-only (for status); None when it does not exist. Its metadata
    is read as it is (any known version), never migrated."""
    path = Path(path)
    if not path.exists():
        return None
    return _opened(
        lambda: sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True),
        metadata.check_known,  # also what fails on a file that is not a database
        lambda error: f"cannot read SQLite database {path}: {error}; is it a SQLite database?",
    )


def _opened(open_connection, prepare, failure) -> sqlite3.Connection:
    """`open_connection()`, then `prepare(conn)`; on an error the connection is closed and an
    SQLite error becomes a SqliteTargetError with the message `failure(error)`."""
    conn = None
    try:
        conn = open_connection()
        prepare(conn)
    except SqliteTargetError:
        if conn is not None:
            conn.close()
        raise
    except sqlite3.Error as error:
        if conn is not None:
            conn.close()
        raise SqliteTargetError(failure(error)) from None
    return conn


def ensure_metadata(conn: sqlite3.Connection) -> None:
    """Bring the metadata tables of an open connection to the current version."""
    metadata.migrate(conn)


@contextmanager
def checkpoint_deferred(conn: sqlite3.Connection) -> Iterator[None]:
    """Commits in this block do not copy the WAL back into the database; once the block ends
    without an error, a thread of its own does it (`PRAGMA wal_checkpoint(PASSIVE)` on its own
    connection), beside readers and the next writer. Not a daemon thread: the process's exit
    waits for it. A checkpoint that cannot finish leaves the pages in the WAL, where every
    reader finds them and the next checkpoint copies them."""
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        with contextlib.suppress(sqlite3.Error):  # never in place of the block's own error
            conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
    path = database_path(conn)
    if path is not None:
        threading.Thread(target=_checkpoint, args=(str(path),), name="sqlite-checkpoint").start()


def _checkpoint(path: str) -> None:
    try:
        with closing(sqlite3.connect(path, timeout=config.sqlite_busy_timeout())) as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as error:
        logging.getLogger("bfstats").warning(
            "copying the WAL of %s back into the database failed: %s; the rows are safe in the "
            "WAL and the next checkpoint copies them",
            path,
            error,
        )
