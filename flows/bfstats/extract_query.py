"""The two ClickHouse queries the loader runs against a materialized mart.

They are generated from the catalog (column names and types of the model contract), so they are
built here with sqlglot expressions rather than written in a macro: identifiers are quoted by
sqlglot and every value is a typed server-side parameter (`{k0:String}`), never inlined.

- `rows_query`: the mart's columns in primary-key order, instants formatted as the SQLite text
  `YYYY-MM-DDTHH:MM:SSZ` and enums as their names, optionally only the rows after a key (resume).
- `count_query`: the number of rows, recorded as the run's expected row count.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from bfstats.catalog import TableSpec
from bfstats.sqlite_schema.types import translate

INSTANT_FORMAT = "%Y-%m-%dT%H:%i:%SZ"


@dataclass(frozen=True)
class Query:
    name: str  # for logs, errors and telemetry
    sql: str
    parameters: dict


SOURCE_ALIAS = "mart"


def _column(name: str) -> exp.Column:
    # Qualified, because ClickHouse resolves a bare name in WHERE and ORDER BY to a SELECT alias
    # first, and the formatted instants are aliased to their column's own name.
    return exp.column(name, table=SOURCE_ALIAS, quoted=True)


def _relation(spec: TableSpec) -> exp.Table:
    return exp.table_(spec.model, db=spec.database, quoted=True, alias=SOURCE_ALIAS)


def _select_expression(spec: TableSpec, name: str) -> exp.Expression:
    sqlite_type = translate(spec.column(name).clickhouse_type, model=spec.model, column=name)
    if sqlite_type.is_instant:
        value = exp.func(
            "formatDateTime",
            _column(name),
            exp.Literal.string(INSTANT_FORMAT),
            exp.Literal.string("UTC"),
        )
    elif sqlite_type.as_string:
        value = exp.func("toString", _column(name))
    else:
        value = _column(name)
    return exp.alias_(value, name, quoted=True)


def _key_parameter(spec: TableSpec, position: int, name: str) -> exp.Placeholder:
    clickhouse_type = exp.DataType.build(spec.column(name).clickhouse_type, dialect="clickhouse")
    if clickhouse_type.is_type(exp.DataType.Type.LOWCARDINALITY):
        clickhouse_type = clickhouse_type.expressions[0]
    return exp.Placeholder(this=f"k{position}", kind=clickhouse_type)


def key_parameter_value(spec: TableSpec, name: str, value):
    """A key value as read back from the extracted row, in the text ClickHouse parses."""
    sqlite_type = translate(spec.column(name).clickhouse_type, model=spec.model, column=name)
    if sqlite_type.is_instant and isinstance(value, str):
        return value.replace("T", " ").rstrip("Z")
    return value


def rows_query(
    spec: TableSpec, after_key: list | None = None, settings: dict | None = None
) -> Query:
    """`settings`: ClickHouse settings of the query (constants of the source, never input)."""
    select = exp.select(*(_select_expression(spec, c.name) for c in spec.columns))
    select = select.from_(_relation(spec))
    parameters = {}
    if after_key is not None:
        keys = [_column(name) for name in spec.primary_key]
        params = [_key_parameter(spec, i, name) for i, name in enumerate(spec.primary_key)]
        select = select.where(
            exp.GT(this=exp.Tuple(expressions=keys), expression=exp.Tuple(expressions=params))
        )
        parameters = {
            f"k{i}": key_parameter_value(spec, name, value)
            for i, (name, value) in enumerate(zip(spec.primary_key, after_key, strict=True))
        }
    select = select.order_by(*(_column(name) for name in spec.primary_key))
    if settings:
        select.set(
            "settings",
            [
                exp.EQ(this=exp.var(name), expression=exp.Literal.number(value))
                for name, value in settings.items()
            ],
        )
    return Query(f"extract {spec.model}", select.sql(dialect="clickhouse"), parameters)


def count_query(spec: TableSpec) -> Query:
    select = exp.select(exp.Count(this=exp.Star())).from_(_relation(spec))
    return Query(f"count {spec.model}", select.sql(dialect="clickhouse"), {})


def key_positions(spec: TableSpec) -> list[int]:
    """Where the primary key columns stand in a row of `rows_query`."""
    names = [column.name for column in spec.columns]
    return [names.index(name) for name in spec.primary_key]
