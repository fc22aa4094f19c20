"""Compare a mart's validated DDL with the table of that name in a SQLite file (SPEC section 5).

The existing table (usually the API's, from its EF Core migration) is the authority on its own
shape and is never altered, so the comparison is by meaning, not by DDL text, and it sorts what
it finds in two:
- a *difference* could lose, truncate or corrupt data, or break a write: it stops the table
  (SchemaDriftError). A model column missing from the table; a different type affinity; NOT NULL
  where the model can produce NULL; an extra NOT NULL column without a default; another primary
  key (columns or order); a UNIQUE index the model's key does not cover; a view of that name.
- a *note* cannot: it is reported and the load goes on. A nullable column the model always fills;
  a declared type spelled otherwise with the same affinity (BIGINT for INTEGER); another column
  order (the backfill writes by column name); an extra nullable column or one with a default; a
  name in another case; an index of the model's meta that the table lacks, has under another
  name or on other columns; an index only in SQLite.
Types are compared by SQLite's own affinity rules (`affinity`), since the affinity, not the
spelling, decides how SQLite stores a value.
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
            "or fix the model; the backfill never alters an existing table"
        )

    def note_lines(self) -> list[str]:
        """The notes as one line each, naming the table: what the loader logs."""
        return [f"{self.table}: note: {note}" for note in self.notes]


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


def affinity(declared_type: str) -> str:
    """SQLite's type affinity of a declared column type, by its rules in order
    (https://www.sqlite.org/datatype3.html#determination_of_column_affinity)."""
    upper = declared_type.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not upper.strip() or "BLOB" in upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _constraint(not_null: bool) -> str:
    return "NOT NULL" if not_null else "nullable"


def _declared(declared_type: str) -> str:
    """The declared type, with its affinity when the spelling does not say it."""
    if not declared_type:
        return "no declared type (BLOB affinity)"
    kind = affinity(declared_type)
    return declared_type if declared_type.upper() == kind else f"{declared_type} ({kind} affinity)"


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
        _compare_type(report, label, found.declared_type, column.declared_type)
        if found.not_null and not column.not_null:
            report.differences.append(f"{label}: SQLite has NOT NULL, the model produces nullable")
        elif column.not_null and not found.not_null:
            report.notes.append(f"{label} is nullable in SQLite; the model always fills it")
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
    _compare_order(report, ddl, actual)
    actual_key = [c.name for c in sorted(actual, key=lambda c: c.pk_position) if c.pk_position]
    if [name.lower() for name in actual_key] != [name.lower() for name in ddl.primary_key]:
        report.differences.append(
            f"primary key: SQLite has ({', '.join(actual_key) or 'none'}), "
            f"the model produces ({', '.join(ddl.primary_key)})"
        )


def _compare_type(report: DriftReport, label: str, found: str, produced: str) -> None:
    if found.upper() == produced.upper():
        return
    if affinity(found) != affinity(produced):
        report.differences.append(
            f"{label}: SQLite has {_declared(found)}, the model produces {_declared(produced)}"
        )
    else:
        report.notes.append(
            f"{label} is declared {found} in SQLite, the model produces {produced}: the same "
            f"{affinity(found)} affinity, so SQLite stores the values alike"
        )


def _compare_order(report: DriftReport, ddl: TableDDL, actual: list[ExistingColumn]) -> None:
    """Only the model's columns count: an extra column anywhere is its own note."""
    modelled = {name.lower() for name in ddl.column_names}
    present = {column.name.lower() for column in actual}
    in_sqlite = [column.name for column in actual if column.name.lower() in modelled]
    in_model = [name.lower() for name in ddl.column_names if name.lower() in present]
    if [name.lower() for name in in_sqlite] != in_model:
        report.notes.append(
            f"columns are in another order in SQLite ({', '.join(in_sqlite)}); the backfill "
            "writes them by name"
        )


def _compare_indexes(report: DriftReport, ddl: TableDDL, actual: list[ExistingIndex]) -> None:
    def folded(columns) -> tuple:
        return tuple(name.lower() if name else None for name in columns)

    def listed(columns) -> str:
        return ", ".join(name or "<expression>" for name in columns)

    usable = [index for index in actual if not index.partial]
    matched: set[str] = set()
    for index in ddl.indexes:
        columns = listed(index.columns)
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
            if namesake is not None:
                matched.add(namesake.name)
                partial = " as a partial index" if namesake.partial else ""
                detail = f"SQLite has it on ({listed(namesake.columns)}){partial}"
            else:
                detail = "missing in SQLite; the backfill does not add it (reads may be slower)"
            report.notes.append(f"index `{index.name}` on ({columns}): {detail}")
    key = {name.lower() for name in ddl.primary_key}
    for other in actual:
        if other.origin == "pk":
            continue
        if other.unique and not key <= {name.lower() for name in other.columns if name}:
            # Rows unique on the model's key can still collide on these columns.
            report.differences.append(
                f"index `{other.name}` on ({listed(other.columns)}): UNIQUE in SQLite, but the "
                f"model's rows are only unique on ({', '.join(ddl.primary_key)}), so a write "
                "can fail"
            )
        elif other.origin == "c" and other.name not in matched:
            report.notes.append(
                f"index `{other.name}` on ({listed(other.columns)}): only in SQLite, kept"
            )


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
