"""The API's own SQLite schema, the authority for the backfill's target tables (SPEC section 4).

`tests/fixtures/api-schema.sql` is a byte-identical copy of the API's file (`../shared/
api-schema.sql` beside the repo; `BFSTATS_API_SCHEMA` names it elsewhere, e.g. in a worktree),
vendored so a clean clone can test against it. It creates twelve analytics tables, eight of
which the backfill writes, and EF Core's `__EFMigrationsHistory`. This module reads it into the
facts the tests compare: columns, primary key (name and columns) and indexes of each table.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "api-schema.sql"
SHARED = Path(os.environ.get("BFSTATS_API_SCHEMA") or REPO.parent / "shared" / "api-schema.sql")
HISTORY = "__EFMigrationsHistory"


@dataclass(frozen=True)
class Column:
    name: str
    declared_type: str
    not_null: bool
    pk_position: int  # 1-based; 0 when not part of the primary key
    default: str | None


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key_name: str | None
    indexes: tuple[Index, ...]  # the CREATE INDEX ones, by name

    @property
    def primary_key(self) -> tuple[str, ...]:
        keyed = sorted((c for c in self.columns if c.pk_position), key=lambda c: c.pk_position)
        return tuple(column.name for column in keyed)


def sql() -> str:
    return FIXTURE.read_text(encoding="utf-8")


def create(path: str | os.PathLike) -> None:
    """Create the API's database at `path`, as its EF Core migration does."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(sql())


def statements_by_table() -> dict[str, str]:
    """The fixture's statements grouped by the table they create, index or fill, in file order,
    each group as text that `executescript` runs; comments are left out."""
    groups: dict[str, str] = {}
    pending = ""
    for line in sql().splitlines(keepends=True):
        if line.startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            table = re.search(r'(?:TABLE(?: IF NOT EXISTS)?|ON|INTO) "([^"]+)"', pending)
            assert table, f"no table named in {pending!r}"
            groups[table.group(1)] = groups.get(table.group(1), "") + pending
            pending = ""
    assert not pending.strip(), f"unterminated statement {pending!r}"
    return groups


def table_names() -> list[str]:
    """Every table of the fixture but EF Core's history, sorted."""
    return sorted(name for name in statements_by_table() if name != HISTORY)


def read_table(conn: sqlite3.Connection, table: str) -> Table:
    """What SQLite reports for `table` in `conn` (the key's name from its CREATE text)."""
    columns = tuple(
        Column(name, declared, bool(not_null), pk, default)
        for name, declared, not_null, default, pk in conn.execute(
            'select "name", "type", "notnull", "dflt_value", "pk" '
            'from pragma_table_info(?) order by "cid"',
            (table,),
        )
    )
    (create,) = conn.execute(
        'select "sql" from "sqlite_master" where "type" = \'table\' and "name" = ?', (table,)
    ).fetchone()
    indexes = tuple(
        Index(
            name,
            tuple(
                row[0]
                for row in conn.execute(
                    'select "name" from pragma_index_info(?) order by "seqno"', (name,)
                )
            ),
            bool(unique),
        )
        for name, unique in conn.execute(
            'select "name", "unique" from pragma_index_list(?) '
            'where "origin" = \'c\' order by "name"',
            (table,),
        )
    )
    return Table(table, columns, primary_key_name(create), indexes)


def primary_key_name(create_table: str) -> str | None:
    """The name of the PRIMARY KEY constraint in a CREATE TABLE statement, inline or not."""
    parsed = sqlglot.parse_one(create_table, read="sqlite")
    for constraint in parsed.find_all(exp.Constraint):
        if any(isinstance(e, exp.PrimaryKey) for e in constraint.expressions):
            return constraint.name
    for constraint in parsed.find_all(exp.ColumnConstraint):
        if isinstance(constraint.kind, exp.PrimaryKeyColumnConstraint):
            return constraint.name or None
    return None


@functools.cache
def table(name: str) -> Table:
    """The fixture's table `name`, as SQLite reports it once the fixture has run."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(sql())
        return read_table(conn, name)
