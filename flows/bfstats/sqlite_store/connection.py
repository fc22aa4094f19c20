"""Opening the target file: autocommit mode (transactions are explicit), WAL journal, the busy
timeout of the configuration, and the metadata brought to the version this code writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bfstats import config
from bfstats.sqlite_store import metadata
from bfstats.sqlite_store.errors import SqliteTargetError


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
    conn = None
    try:
        conn = sqlite3.connect(
            path,
            isolation_level=None,
            timeout=config.sqlite_busy_timeout(),
            check_same_thread=False,
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrate:
            metadata.migrate(conn)
    except SqliteTargetError:
        if conn is not None:
            conn.close()
        raise
    except sqlite3.Error as error:
        if conn is not None:
            conn.close()
        raise SqliteTargetError(
            f"cannot use SQLite database {path}: {error}; check that the file is an SQLite "
            "database and writable, or pass another --sqlite path"
        ) from None
    return conn


def connect_read_only(path: str | Path) -> sqlite3.Connection | None:
    """Open an existing file read-only (for status); None when it does not exist. Its metadata
    is read as it is (any known version), never migrated."""
    path = Path(path)
    if not path.exists():
        return None
    conn = None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        metadata.check_known(conn)  # also what fails on a file that is not a database
    except SqliteTargetError:
        conn.close()
        raise
    except sqlite3.Error as error:
        if conn is not None:
            conn.close()
        raise SqliteTargetError(
            f"cannot read SQLite database {path}: {error}; is it a SQLite database?"
        ) from None
    return conn


def ensure_metadata(conn: sqlite3.Connection) -> None:
    """Bring the metadata tables of an open connection to the current version."""
    metadata.migrate(conn)
