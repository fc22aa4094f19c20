"""What every statement on the target file needs: the names of the metadata tables, identifier
quoting, the file behind a connection, and timestamps."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

RUNS = "_bfstats_runs"
CHECKPOINTS = "_bfstats_checkpoints"
BUILDS = "_bfstats_builds"
SCHEMA_VERSIONS = "_bfstats_schema"
STAGING_PREFIX = "_bfstats_staging_"


def quote(identifier: str) -> str:
    """Quote an SQLite identifier (doubling embedded quotes). The one quoting function of the
    project: every table, column and index name that reaches SQLite text goes through it."""
    return '"' + identifier.replace('"', '""') + '"'


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def database_path(conn: sqlite3.Connection) -> Path | None:
    """The file of the connection's main database (None for an in-memory one), for messages."""
    try:
        for row in conn.execute("PRAGMA database_list").fetchall():
            if row[1] == "main":
                return Path(row[2]) if row[2] else None
    except sqlite3.Error:
        pass
    return None
