"""Compare a mart's validated DDL with the table of that name in a SQLite file (SPEC 5).

The table usually comes from the API's EF Core migration, so the comparison is by meaning, not
by DDL text: columns by name (SQLite names ignore case; column order is free), declared types
(ignoring case), nullability, primary key columns and order, and indexes by column list (an
index with the intended columns under another name serves as well). An extra column only
matters when it is NOT NULL without a default, because the backfill's inserts would fail.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from bfstats.catalog import TableSpec
from bfstats.sqlite_schema.ddl import TableDDL, table_ddl
from bfstats.sqlite_schema.errors import SchemaError


@dataclass(frozen=True)
class ExistingColumn:
    name: str
    declared_type: str
    not_null: bool
    default: str | None  # the default's SQL text, None when there is none
    pk_position: int  # 1-based; 0 when not part of the primary key


@dataclass(frozen=True)
class ExistingIndex:
    name: str
    columns: tuple[str | None, ...]  # None stands for an expression
    unique: bool
    partial: bool
    origin: str  # 'c' CREATE INDEX, 'u' UNIQUE constraint, 'pk' PRIMARY KEY


@dataclass
class DriftReport:
    table: str
    model: str
    exists: bool
    ddl: TableDDL
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created: bool = False  # set by ensure_table when it created the table

    @property
    def ok(self) -> bool:
        """True when the table matches or does not exist yet (it will be created)."""
        return not self.differences

    def message(self) -> str:
        return (
            f"SQLite table {self.table} does not match the model {self.model}: "
            f"{'; '.join(self.differences)}; fix the table (or drop it to have it recreated) "
            "or fix the model"
        )


class SchemaDriftError(SchemaError):
    """An existing SQLite table differs from its model; `.report` holds the differences."""

    kind = "schema drift"

    def __init__(self, report: DriftReport):
        super().__init__(report.message())
        self.report = report


def existing_columns(conn: sqlite3.Connection, table: str) -> list[ExistingColumn]:
    """The columns of `table` in `conn`'s main database, in table order (empty if no table)."""
    rows = conn.execute(
        'select "name", "type", "notnull", "dflt_value", "pk" '
        "from pragma_table_info(?, 'main') order by \"cid\"",
        (table,),
    ).fetchall()
    return [
        ExistingColumn(name, declared, bool(not_null), default, pk)
        for name, declared, not_null, default, pk in rows
    ]


def existing_indexes(conn: sqlite3.Connection, table: str) -> list[ExistingIndex]:
    indexes = conn.execute(
        'select "name", "unique", "origin", "partial" from pragma_index_list(?, \'main\')',
        (table,),
    ).fetchall()
    return [
        ExistingIndex(
            name,
            tuple(
                row[0]
                for row in conn.execute(
                    'select "name" from pragma_index_info(?, \'main\') order by "seqno"', (name,)
                )
            ),
            bool(unique),
            bool(partial),
            origin,
        )
        for name, unique, origin, partial in indexes
    ]


def _schema_object(conn: sqlite3.Connection, name: str) -> tuple[str, str] | None:
    """(type, stored name) of the main-database object called `name`, ignoring case as SQLite
    does; None when there is none."""
    return conn.execute(
        'select "type", "name" from "main"."sqlite_master" '
        "where \"name\" = ? collate nocase and \"type\" in ('table', 'view')",
        (name,),
    ).fetchone()


def check(conn: sqlite3.Connection, spec: TableSpec) -> DriftReport:
    """Compare `spec`'s DDL with the table of that name in `conn`; reads only."""
    ddl = table_ddl(spec)
    found = _schema_object(conn, ddl.table)
    report = DriftReport(table=ddl.table, model=ddl.model, exists=found is not None, ddl=ddl)
    if found is None:
        return report
    kind, stored_name = found
    if kind != "table":
        report.differences.append(f"`{stored_name}` is a {kind}, not a table")
        return report
    if stored_name != ddl.table:
        report.notes.append(f"the table is spelled `{stored_name}` in SQLite")
    _compare_columns(report, ddl, existing_columns(conn, stored_name))
    _compare_indexes(report, ddl, existing_indexes(conn, stored_name))
    return report


def _constraint(not_null: bool) -> str:
    return "NOT NULL" if not_null else "nullable"


def _compare_columns(report: DriftReport, ddl: TableDDL, actual: list[ExistingColumn]) -> None:
    by_name = {column.name.lower(): column for column in actual}
    for column in ddl.columns:
        found = by_name.pop(column.name.lower(), None)
        label = f"column `{column.name}`"
        if found is None:
            report.differences.append(
                f"{label}: missing in SQLite, the model produces "
                f"{column.declared_type} {_constraint(column.not_null)}"
            )
            continue
        if found.name != column.name:
            report.notes.append(f"{label} is spelled `{found.name}` in SQLite")
        if found.declared_type.upper() != column.declared_type.upper():
            report.differences.append(
                f"{label}: SQLite has {found.declared_type or 'no declared type'}, "
                f"the model produces {column.declared_type}"
            )
        if found.not_null != column.not_null:
            report.differences.append(
                f"{label}: SQLite has {_constraint(found.not_null)}, "
                f"the model produces {_constraint(column.not_null)}"
            )
    for extra in by_name.values():
        label = f"column `{extra.name}`"
        if extra.not_null and extra.default is None:
            report.differences.append(
                f"{label}: only in SQLite, NOT NULL without a default, so the model's rows "
                "cannot be inserted"
            )
        else:
            state = "nullable" if not extra.not_null else f"default {extra.default}"
            report.notes.append(f"{label}: only in SQLite ({state}); the backfill leaves it so")
    actual_key = [c.name for c in sorted(actual, key=lambda c: c.pk_position) if c.pk_position]
    if [name.lower() for name in actual_key] != [name.lower() for name in ddl.primary_key]:
        report.differences.append(
            f"primary key: SQLite has ({', '.join(actual_key) or 'none'}), "
            f"the model produces ({', '.join(ddl.primary_key)})"
        )


def _compare_indexes(report: DriftReport, ddl: TableDDL, actual: list[ExistingIndex]) -> None:
    def folded(columns) -> tuple:
        return tuple(name.lower() if name else None for name in columns)

    usable = [index for index in actual if not index.partial]
    matched: set[str] = set()
    for index in ddl.indexes:
        columns = ", ".join(index.columns)
        same = [other for other in usable if folded(other.columns) == folded(index.columns)]
        by_name = next((i for i in same if i.name.lower() == index.name.lower()), None)
        if by_name is not None:
            matched.add(by_name.name)
        elif same:
            matched.add(same[0].name)
            report.notes.append(
                f"index `{index.name}` on ({columns}) is present as `{same[0].name}`"
            )
        else:
            namesake = next((i for i in actual if i.name.lower() == index.name.lower()), None)
            detail = "missing in SQLite"
            if namesake is not None:
                has = ", ".join(name or "<expression>" for name in namesake.columns)
                partial = " as a partial index" if namesake.partial else ""
                detail = f"SQLite has it on ({has}){partial}"
            report.differences.append(f"index `{index.name}` on ({columns}): {detail}")
    for other in actual:
        if other.origin == "c" and other.name not in matched:
            has = ", ".join(name or "<expression>" for name in other.columns)
            report.notes.append(f"index `{other.name}` on ({has}): only in SQLite, kept")


def ensure_table(conn: sqlite3.Connection, spec: TableSpec) -> DriftReport:
    """Create `spec`'s table and indexes when missing, inside whatever transaction the caller has
    open (nothing is committed here); raise SchemaDriftError when the existing table differs."""
    report = check(conn, spec)
    if not report.exists:
        for statement in report.ddl.statements:
            try:
                conn.execute(statement)
            except sqlite3.Error as error:
                raise SchemaError(
                    f"cannot create SQLite table {report.table} for model {report.model}: "
                    f"{statement} failed ({error}); remove the object in the way or rename it"
                ) from error
        report.created = True
        return report
    if not report.ok:
        raise SchemaDriftError(report)
    return report
