"""The text of `bfstats schema [--sqlite PATH] [--sql]`: what the backfill would do to each table.

Each table's differences (`- ...`, the table would not be loaded) and notes (`note: ...`, it
would be loaded) are listed under it; a table that only has notes still `matches`. It only reads:
the SQLite file is opened read-only, and a missing file is not created (every table then "will be
created").
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path

from bfstats.catalog import Catalog, TableSpec
from bfstats.sqlite_schema.drift import check
from bfstats.sqlite_schema.errors import SchemaError

MATCHES = "matches"
WILL_BE_CREATED = "will be created"
DRIFT = "DRIFT"
ERROR = "ERROR"


def render(catalog: Catalog, sqlite_path: str | os.PathLike, show_sql: bool) -> tuple[str, bool]:
    """(text, True when no table drifts or fails); missing tables are not a failure."""
    path = Path(sqlite_path).resolve()
    lines = [f"SQLite file {path}"]
    if path.exists():
        try:
            conn = _open_read_only(path)
        except sqlite3.Error as error:
            return f"{lines[0]}: cannot read it ({error}); is it a SQLite database?", False
    else:
        lines.append("  (no such file yet: every table will be created)")
        conn = sqlite3.connect(":memory:")
    counts: Counter[str] = Counter()
    with closing(conn):
        for service in catalog.services():
            lines.append(f"{service.name}")
            for spec in service.tables:
                state, notes, details = _table(conn, spec, show_sql)
                counts[state] += 1
                noted = f" ({notes} note{'s' if notes > 1 else ''})" if notes else ""
                lines.append(f"  {spec.sqlite_table} (model {spec.model}): {state}{noted}")
                lines.extend(f"    {line}" for line in details)
    summary = ", ".join(
        f"{counts[state]} {state}" for state in (MATCHES, WILL_BE_CREATED, DRIFT, ERROR)
    )
    lines.append(f"{sum(counts.values())} tables: {summary}")
    return "\n".join(lines), counts[DRIFT] == 0 and counts[ERROR] == 0


def _open_read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        # connect() is lazy: reading the schema is what fails on a file that is not a database.
        conn.execute('select count(*) from "main"."sqlite_master"').fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _table(conn: sqlite3.Connection, spec: TableSpec, show_sql: bool) -> tuple[str, int, list[str]]:
    """(state, number of notes, lines to print under the table)."""
    try:
        report = check(conn, spec)
    except (SchemaError, sqlite3.Error) as error:
        return ERROR, 0, [str(error)]
    details = [f"- {difference}" for difference in report.differences]
    details += [f"note: {note}" for note in report.notes]
    if show_sql:
        details += [f"{statement};" for statement in report.ddl.statements]
    if not report.exists:
        return WILL_BE_CREATED, 0, details
    return (MATCHES if report.ok else DRIFT), len(report.notes), details
