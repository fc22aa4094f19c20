"""The version of the bfstats metadata in the target file, and the ordered migrations to the
version this code writes.

A file records its version in `_bfstats_schema` (one row per migration applied). A file without
that table but with `_bfstats_runs` was written before versions existed: version 1. Each
migration runs in one transaction of its own (all of it or nothing), and re-reads the version
inside it, so two processes opening a file at once apply each migration exactly once. A file of
a newer version than this code knows is refused: its rows may mean things this code would get
wrong.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from bfstats.sqlite_store.basics import (
    RUNS,
    SCHEMA_VERSIONS,
    database_path,
    quote,
    table_exists,
    utc_now,
)
from bfstats.sqlite_store.errors import MetadataTooNewError, SqliteTargetError
from bfstats.sqlite_store.transaction import transaction


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    script: str  # file under bfstats/sql/metadata/


MIGRATIONS = (
    Migration(1, "run ledger and load checkpoints", "v1_runs_and_checkpoints.sql"),
    Migration(
        2,
        "interrupted runs, run host/pid/updated_at, mart builds",
        "v2_interrupted_hosts_builds.sql",
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version


def _script(name: str) -> str:
    return resources.files("bfstats").joinpath("sql", "metadata", name).read_text()


def statements(script: str) -> Iterator[str]:
    """The statements of a script, one by one: `executescript` would COMMIT the migration's
    transaction first, so each statement is executed on its own inside it."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    rest = [
        line for line in buffer.splitlines() if line.strip() and not line.strip().startswith("--")
    ]
    if rest:
        raise ValueError(f"unterminated statement at the end of a metadata script: {rest[0]!r}")


def schema_version(conn: sqlite3.Connection) -> int:
    """The metadata version of the file: 0 when it has no bfstats metadata at all."""
    if table_exists(conn, SCHEMA_VERSIONS):
        row = conn.execute(f'SELECT max("version") FROM {quote(SCHEMA_VERSIONS)}').fetchone()  # noqa: S608
        if row[0] is not None:
            return int(row[0])
    return 1 if table_exists(conn, RUNS) else 0


def check_known(conn: sqlite3.Connection) -> int:
    """The file's version; raises MetadataTooNewError when this code does not know it."""
    version = schema_version(conn)
    if version > LATEST_VERSION:
        raise MetadataTooNewError(
            f"SQLite file {database_path(conn)} was written by a newer bfstats: its metadata "
            f"has schema version {version}, this bfstats knows up to {LATEST_VERSION}. Upgrade "
            "bfstats (or use another --sqlite file); this one was left unchanged"
        )
    return version


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file's metadata to LATEST_VERSION; returns the version it had before."""
    found = check_known(conn)
    if found == LATEST_VERSION:
        return found
    for migration in MIGRATIONS:
        if migration.version <= found:
            continue
        _apply(conn, migration)
    return found


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    what = f"upgrading the bfstats metadata to version {migration.version}"
    try:
        with transaction(conn, what=what):
            current = check_known(conn)  # another process may have applied it meanwhile
            if current >= migration.version:
                return
            versioned = table_exists(conn, SCHEMA_VERSIONS)
            for statement in statements(_script("schema_versions.sql")):
                conn.execute(statement)
            if current == 1 and not versioned:
                # The v1 tables were there before versions existed: say so in the history.
                _record(conn, 1, "run ledger and load checkpoints (found: written before versions)")
            for statement in statements(_script(migration.script)):
                conn.execute(statement)
            _record(conn, migration.version, migration.description)
    except sqlite3.Error as error:
        raise SqliteTargetError(
            f"SQLite file {database_path(conn)}: {what} failed ({error}); the file is unchanged. "
            "Check that it is a bfstats target file, writable, or pass another --sqlite path"
        ) from error


def _record(conn: sqlite3.Connection, version: int, description: str) -> None:
    conn.execute(
        f'INSERT INTO {quote(SCHEMA_VERSIONS)} ("version", "applied_at", "description") '  # noqa: S608
        "VALUES (?, ?, ?)",
        (version, utc_now(), description),
    )


def history(conn: sqlite3.Connection) -> list[dict]:
    """The migrations recorded in the file, oldest first."""
    if not table_exists(conn, SCHEMA_VERSIONS):
        return []
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    rows = cursor.execute(
        f'SELECT "version", "applied_at", "description" FROM {quote(SCHEMA_VERSIONS)} '  # noqa: S608
        'ORDER BY "version"'
    ).fetchall()
    return [dict(row) for row in rows]
