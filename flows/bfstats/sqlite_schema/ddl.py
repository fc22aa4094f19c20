"""The SQLite DDL of a mart, built as sqlglot expressions and validated before anyone uses it.

The shape is the one EF Core's SQLite provider writes (tests/fixtures/api-schema.sql is the API's
own file), so a table created here and one created by the API's migration are the same table:
PascalCase columns, TEXT/INTEGER/REAL, `NOT NULL`, or an explicit `NULL` where the model column is
Nullable, a one-column key inline (`"Col" TEXT NOT NULL CONSTRAINT "PK_<Table>" PRIMARY KEY`), a
longer one as `CONSTRAINT "PK_<Table>" PRIMARY KEY (...)`, `IX_<Table>_<Col1>_<Col2>` indexes.
Validation: each statement must parse back with sqlglot's SQLite dialect to the same
text, run in an in-memory SQLite, and leave the columns, key and indexes that were intended.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from dataclasses import dataclass
from typing import NoReturn

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from bfstats.catalog import TableSpec, pascal_case
from bfstats.sqlite_schema.errors import SchemaError
from bfstats.sqlite_schema.types import SqliteType, translate

DIALECT = "sqlite"


@dataclass(frozen=True)
class SqliteColumn:
    name: str  # SQLite column (PascalCase)
    declared_type: str  # TEXT, INTEGER or REAL
    not_null: bool
    pk_position: int  # 1-based position in the primary key; 0 when not part of it
    model_column: str  # the model's snake_case column
    type: SqliteType  # carries is_instant / is_enum / as_string for the extractor


@dataclass(frozen=True)
class SqliteIndex:
    name: str
    columns: tuple[str, ...]  # SQLite column names, in index order


@dataclass(frozen=True)
class TableDDL:
    table: str
    model: str
    columns: list[SqliteColumn]
    primary_key: tuple[str, ...]  # SQLite column names, in key order
    primary_key_name: str
    indexes: list[SqliteIndex]
    create_table: str
    create_indexes: list[str]

    @property
    def statements(self) -> list[str]:
        return [self.create_table, *self.create_indexes]

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


@functools.cache
def table_ddl(
    spec: TableSpec, table_name: str | None = None, with_indexes: bool = True
) -> TableDDL:
    """The validated DDL of `spec`'s SQLite table, or of a copy named `table_name` (e.g. a staging
    table: same columns and key constraint `PK_<spec table>`, so renaming it onto the target gives
    the target's exact DDL; its indexes, if asked for, are named after `table_name`).
    Built and validated once per catalog entry and name (the catalog's specs are immutable)."""
    table = table_name or spec.sqlite_table
    columns = _columns(spec)
    by_model_column = {column.model_column: column for column in columns}
    primary_key = tuple(_key_column(spec, by_model_column, name).name for name in spec.primary_key)
    if not primary_key:
        raise SchemaError(f"model {spec.model} has no primary key; set sqlite_primary_key")
    named = dataclasses.replace(spec, sqlite_table=table)
    indexes = (
        [
            SqliteIndex(
                named.index_name(index),
                tuple(_key_column(spec, by_model_column, name).name for name in index),
            )
            for index in spec.indexes
        ]
        if with_indexes
        else []
    )
    ddl = TableDDL(
        table=table,
        model=spec.model,
        columns=columns,
        primary_key=primary_key,
        primary_key_name=spec.primary_key_name,
        indexes=indexes,
        create_table=_create_table(table, columns, spec.primary_key_name, primary_key),
        create_indexes=[_create_index(table, index) for index in indexes],
    )
    validate(ddl)
    return ddl


def staging_ddl(spec: TableSpec, table_name: str) -> str:
    """The CREATE statement of a staging table for `spec`'s rows: the same columns and types,
    no key and no index. Rows arrive in key order and are appended (inserting into one b-tree
    instead of two loads about 1.7 times faster); the key is enforced when the rows are copied
    into the real table."""
    definitions = [_column_def(column, None) for column in _columns(spec)]
    statement = exp.Create(
        kind="TABLE",
        this=exp.Schema(this=exp.Table(this=_quoted(table_name)), expressions=definitions),
    ).sql(dialect=DIALECT)
    memory = sqlite3.connect(":memory:")
    try:
        memory.execute(statement)
    except sqlite3.Error as error:
        raise SchemaError(
            f"the staging table DDL for model {spec.model} failed: {statement} ({error}); "
            "this is a bug in bfstats.sqlite_schema"
        ) from None
    finally:
        memory.close()
    return statement


def _columns(spec: TableSpec) -> list[SqliteColumn]:
    key_positions = {name: position for position, name in enumerate(spec.primary_key, start=1)}
    columns, seen = [], {}
    for column in spec.columns:
        sqlite_type = translate(column.clickhouse_type, model=spec.model, column=column.name)
        name = pascal_case(column.name)
        clash = seen.setdefault(name.lower(), column.name)
        if clash != column.name:
            raise SchemaError(
                f"model {spec.model}: columns {clash} and {column.name} both become SQLite "
                f"column {name} (SQLite names ignore case); rename one of them in the model"
            )
        position = key_positions.get(column.name, 0)
        if position and sqlite_type.nullable:
            raise SchemaError(
                f"model {spec.model}, column {column.name}: primary key columns cannot be "
                f"{column.clickhouse_type}; make it non-nullable in the model (e.g. ifNull)"
            )
        columns.append(
            SqliteColumn(
                name=name,
                declared_type=sqlite_type.declared,
                not_null=sqlite_type.not_null,
                pk_position=position,
                model_column=column.name,
                type=sqlite_type,
            )
        )
    return columns


def _key_column(spec: TableSpec, by_model_column: dict, name: str) -> SqliteColumn:
    try:
        return by_model_column[name]
    except KeyError:
        raise SchemaError(
            f"model {spec.model} has no column {name!r}, named in its sqlite_primary_key or "
            "sqlite_indexes; fix the meta in the model's YAML"
        ) from None


def _quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _create_table(
    table: str, columns: list[SqliteColumn], key_name: str, key: tuple[str, ...]
) -> str:
    # EF Core declares a one-column key on its column and a longer one as a table constraint.
    inline_key = key[0] if len(key) == 1 else None
    definitions: list[exp.Expression] = [
        _column_def(column, key_name if column.name == inline_key else None) for column in columns
    ]
    if inline_key is None:
        definitions.append(
            exp.Constraint(
                this=_quoted(key_name),
                expressions=[exp.PrimaryKey(expressions=[_quoted(name) for name in key])],
            )
        )
    statement = exp.Create(
        kind="TABLE",
        this=exp.Schema(this=exp.Table(this=_quoted(table)), expressions=definitions),
    )
    return statement.sql(dialect=DIALECT)


def _column_def(column: SqliteColumn, key_name: str | None) -> exp.ColumnDef:
    """`"Col" TYPE NOT NULL` or `"Col" TYPE NULL` (EF Core writes the NULL), plus
    `CONSTRAINT "<key_name>" PRIMARY KEY` when the column alone is the key."""
    constraints = [
        exp.ColumnConstraint(kind=exp.NotNullColumnConstraint(allow_null=not column.not_null))
    ]
    if key_name is not None:
        constraints.append(
            exp.ColumnConstraint(this=_quoted(key_name), kind=exp.PrimaryKeyColumnConstraint())
        )
    return exp.ColumnDef(
        this=_quoted(column.name),
        kind=exp.DataType.build(column.declared_type, dialect=DIALECT),
        constraints=constraints,
    )


def _create_index(table: str, index: SqliteIndex) -> str:
    statement = exp.Create(
        kind="INDEX",
        this=exp.Index(
            this=_quoted(index.name),
            table=exp.Table(this=_quoted(table)),
            params=exp.IndexParameters(columns=[_ascending(name) for name in index.columns]),
        ),
    )
    return statement.sql(dialect=DIALECT)


def _ascending(name: str) -> exp.Ordered:
    # SQLite's default order already puts NULLs first; saying so keeps sqlglot from writing
    # NULLS LAST, which SQLite rejects in an index.
    return exp.Ordered(this=exp.Column(this=_quoted(name)), nulls_first=True)


def validate(ddl: TableDDL) -> None:
    """Parse every statement back, run them in an in-memory SQLite and compare the result with
    what `ddl` describes; raise SchemaError on any mismatch."""
    for statement in ddl.statements:
        try:
            reparsed = sqlglot.parse_one(statement, read=DIALECT).sql(dialect=DIALECT)
        except SqlglotError as error:
            _invalid(ddl, f"{statement} does not parse as SQLite ({error})")
        if reparsed != statement:
            _invalid(ddl, f"{statement} reads back as {reparsed}")
    memory = sqlite3.connect(":memory:")
    try:
        for statement in ddl.statements:
            try:
                memory.execute(statement)
            except sqlite3.Error as error:
                _invalid(ddl, f"SQLite rejects {statement} ({error})")
        columns = memory.execute(
            'select "name", "type", "notnull", "pk" from pragma_table_info(?) order by "cid"',
            (ddl.table,),
        ).fetchall()
        intended = [(c.name, c.declared_type, int(c.not_null), c.pk_position) for c in ddl.columns]
        if columns != intended:
            _invalid(ddl, f"SQLite made columns {columns}, intended {intended}")
        indexes = sorted(_created_indexes(memory, ddl.table))
        intended_indexes = sorted((index.name, index.columns) for index in ddl.indexes)
        if indexes != intended_indexes:
            _invalid(ddl, f"SQLite made indexes {indexes}, intended {intended_indexes}")
    finally:
        memory.close()


def _created_indexes(conn: sqlite3.Connection, table: str) -> list[tuple[str, tuple[str, ...]]]:
    names = conn.execute(
        'select "name" from pragma_index_list(?) where "origin" = \'c\'', (table,)
    ).fetchall()
    return [
        (
            name,
            tuple(
                row[0]
                for row in conn.execute(
                    'select "name" from pragma_index_info(?) order by "seqno"', (name,)
                )
            ),
        )
        for (name,) in names
    ]


def _invalid(ddl: TableDDL, detail: str) -> NoReturn:
    raise SchemaError(
        f"the SQLite DDL generated for table {ddl.table} (model {ddl.model}) failed validation: "
        f"{detail}; check the table name, else this is a bug in bfstats.sqlite_schema"
    )
