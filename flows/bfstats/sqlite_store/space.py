"""Disk space, for the messages of a full disk: what is free beside the file, what a table takes.

A caller that knows how much a step will write passes it to `transaction(space_needed=...)`,
e.g. `table_bytes(conn, staging)` before publishing by copy (the copy needs about as much again).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def free_bytes(path: Path | None) -> int | None:
    """Space available to unprivileged writers on the filesystem of `path` (a file or folder)."""
    if path is None:
        return None
    folder = path if path.is_dir() else path.parent
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def table_bytes(conn: sqlite3.Connection, table: str) -> int | None:
    """Bytes of the pages of `table` and its indexes (SQLite's dbstat table); None where the
    SQLite library was built without it."""
    try:
        row = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = ? OR name IN "
            "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)",
            (table, table),
        ).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0] or 0)
