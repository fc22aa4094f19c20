"""Replace a table by a copy built under another name, keeping the table's own definition.

The staging table is created from the target's own stored `CREATE TABLE` statement, only the
name changed, and loaded in key order; publishing drops the target and renames the staging
table onto it. The rows are written once instead of twice (a copy), and the file's schema stays
byte for byte what it was: SQLite's rename writes the target's name back into the statement, the
secondary indexes are re-created from their own stored statements, and the planner statistics
ANALYZE kept for the table (`sqlite_stat1`) are put back.

Not every table can be treated so; `rebuild_ddl` says None and the caller copies the rows:
- a table with triggers: dropping it drops them, and a copy fires its DELETE and INSERT
  triggers, which a rename would silently skip;
- AUTOINCREMENT: its counter in `sqlite_sequence` belongs to the table;
- a stored statement whose head is not `CREATE TABLE <this table's name>`, spelled as the
  caller spells it (a rename would respell it).

Views and other tables' triggers that name the table keep working: they name it, not its
storage. The rename runs with `legacy_alter_table` on, so that SQLite does not check them while
the name is briefly free (a view naming a dropped table stops a modern rename).
"""

from __future__ import annotations

import re
import sqlite3

from bfstats.sqlite_store.basics import quote

_NAME = r'"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[^\s(."`\[]+'
_HEAD = re.compile(rf"^CREATE\s+TABLE\s+(?:(?:{_NAME})\s*\.\s*)?({_NAME})\s*(?=\()", re.IGNORECASE)


def _unquoted(token: str) -> str:
    if token[0] == '"':
        return token[1:-1].replace('""', '"')
    if token[0] == "`":
        return token[1:-1].replace("``", "`")
    if token[0] == "[":
        return token[1:-1]
    return token


def _stored_sql(conn: sqlite3.Connection, kind: str, name: str) -> str | None:
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = ? AND name = ?", (kind, name)
    ).fetchone()
    return row[0] if row else None


def rebuild_ddl(conn: sqlite3.Connection, table: str, new_name: str) -> str | None:
    """`table`'s own CREATE statement naming `new_name` instead, or None when the table cannot
    be replaced by a rename (see the module's docstring)."""
    stored = _stored_sql(conn, "table", table)
    if stored is None or re.search(r"\bAUTOINCREMENT\b", stored, re.IGNORECASE):
        return None
    has_trigger = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? LIMIT 1", (table,)
    ).fetchone()
    if has_trigger:
        return None
    head = _HEAD.match(stored)
    if head is None or _unquoted(head.group(1)) != table:
        return None
    return f"CREATE TABLE {quote(new_name)} {stored[head.end() :].lstrip()}"


def is_rebuild_of(conn: sqlite3.Connection, staging: str, table: str) -> bool:
    """Whether `staging` was created by `rebuild_ddl` from `table` as it is defined now."""
    expected = rebuild_ddl(conn, table, staging)
    return expected is not None and _stored_sql(conn, "table", staging) == expected


def swap_in(conn: sqlite3.Connection, staging: str, table: str) -> None:
    """Drop `table` and rename `staging` onto it, then re-create its secondary indexes and put
    its statistics back. Inside the caller's transaction: readers see the old table or the new
    one."""
    indexes = secondary_indexes(conn, table)
    statistics = _statistics(conn, table)
    conn.execute(f"DROP TABLE {quote(table)}")
    legacy = conn.execute("PRAGMA legacy_alter_table").fetchone()[0]
    conn.execute("PRAGMA legacy_alter_table = ON")
    try:
        conn.execute(f"ALTER TABLE {quote(staging)} RENAME TO {quote(table)}")
    finally:
        conn.execute(f"PRAGMA legacy_alter_table = {'ON' if legacy else 'OFF'}")
    for _, create in indexes:
        conn.execute(create)
    if statistics:
        conn.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", statistics)


def secondary_indexes(conn: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """(name, stored CREATE statement) of the table's own indexes, not its key's."""
    return conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name",
        (table,),
    ).fetchall()


def _statistics(conn: sqlite3.Connection, table: str) -> list[tuple]:
    if _stored_sql(conn, "table", "sqlite_stat1") is None:
        return []
    return conn.execute(
        "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE tbl = ?", (table,)
    ).fetchall()
